"""The market stream on its sans-I/O connection against a scripted websocket server on
127.0.0.1: order of prices, answered (un)subscriptions, reconnects that subscribe the whole
set again, the heartbeat finding a dead peer, bad frames, and an exception from `deliver`."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import anyio
import pytest
from aiohttp import WSMsgType
from binance_harness import D, fast_backoff, pump_market
from structlog.testing import capture_logs
from ws_peer import Peer, serving

from exitd.exchange.binance.market_stream import BinanceMarketStream
from exitd.exchange.binance.ws_connection import MAX_SIZE
from exitd.exchange.port import MarketEvent, MarkPrice, StreamReset

pytestmark = pytest.mark.anyio
RECONNECTED = StreamReset("reconnected after the market stream closed")


@pytest.fixture(params=["asyncio", ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param  # the daemon runs on uvloop, whose transports differ


def market(ws_url: str, **kwargs: Any) -> BinanceMarketStream:
    kwargs.setdefault("backoff", fast_backoff())
    return BinanceMarketStream(ws_url, **kwargs)


def closed_reasons(logs: list[MutableMapping[str, Any]]) -> list[str]:
    return [entry["reason"] for entry in logs if entry["event"] == "exchange.stream_closed"]


async def test_prices_are_delivered_in_the_order_sent() -> None:
    prices = [str(60000 + i) for i in range(200)]

    async def script(peer: Peer) -> None:
        await peer.answer_next()
        for i, price in enumerate(prices):  # sent back to back: many frames per read
            await peer.price("BTCUSDT", price, time_ms=i + 1)
        await peer.drain()

    async with serving(script) as served, anyio.create_task_group() as tasks:
        stream = market(served.ws_url)
        await stream.subscribe(["BTCUSDT"])  # before run: the connection subscribes it
        events = pump_market(tasks, stream)
        assert (await events.next()) == StreamReset("connected")
        got = [await events.next() for _ in prices]
        assert got == [MarkPrice("BTCUSDT", D(p), i + 1) for i, p in enumerate(prices)]
        assert served.peers[0].requests == [
            {"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}
        ]
        tasks.cancel_scope.cancel()


async def test_subscribe_and_unsubscribe_return_once_answered() -> None:
    asked = anyio.Event()
    release = anyio.Event()

    async def script(peer: Peer) -> None:
        request = await peer.request()
        asked.set()
        await release.wait()
        await peer.answer(request)
        await peer.drain()

    async with serving(script) as served, anyio.create_task_group() as tasks:
        stream = market(served.ws_url)
        events = pump_market(tasks, stream)
        assert (await events.next()) == StreamReset("connected")
        done = anyio.Event()

        async def subscribe() -> None:
            await stream.subscribe(["BTCUSDT", "ETHUSDT"])
            done.set()

        tasks.start_soon(subscribe)
        with anyio.fail_after(5):
            await asked.wait()
        assert not done.is_set()  # the answer is held back: subscribe still waits for it
        release.set()
        with anyio.fail_after(5):
            await done.wait()
        await stream.unsubscribe(["ETHUSDT"])
        peer = served.peers[0]
        assert [(r["method"], r["params"]) for r in peer.requests] == [
            ("SUBSCRIBE", ["btcusdt@markPrice@1s", "ethusdt@markPrice@1s"]),
            ("UNSUBSCRIBE", ["ethusdt@markPrice@1s"]),
        ]
        tasks.cancel_scope.cancel()


async def test_a_dropped_socket_resets_and_subscribes_the_whole_set_again() -> None:
    async def script(peer: Peer) -> None:
        if peer.number == 1:
            await peer.answer_next()
            await peer.answer_next()
            return  # the server drops the socket
        await peer.answer_next()
        await peer.price("ETHUSDT", "3000")
        await peer.drain()

    async with serving(script) as served, anyio.create_task_group() as tasks:
        stream = market(served.ws_url)
        events = pump_market(tasks, stream)
        assert (await events.next()) == StreamReset("connected")
        await stream.subscribe(["BTCUSDT"])
        await stream.subscribe(["ETHUSDT"])
        assert (await events.next()) == RECONNECTED
        assert (await events.next()) == MarkPrice("ETHUSDT", D("3000"), 1)
        second = await served.connected(2)
        assert second.requests[0]["params"] == ["btcusdt@markPrice@1s", "ethusdt@markPrice@1s"]
        tasks.cancel_scope.cancel()


async def test_the_heartbeat_finds_a_peer_that_never_answers_a_ping() -> None:
    async def script(peer: Peer) -> None:
        await peer.request()  # counts pings, answers none (autoping off)

    with capture_logs() as logs:
        async with (
            serving(script, autoping=False) as served,
            anyio.create_task_group() as tasks,
        ):
            stream = market(served.ws_url, heartbeat_s=0.1)
            events = pump_market(tasks, stream)
            assert (await events.next()) == StreamReset("connected")
            assert (await events.next()) == RECONNECTED
            assert served.peers[0].pings == 1  # one ping, then the wait for its answer
            tasks.cancel_scope.cancel()
    assert closed_reasons(logs)[0] == "no answer to a ping in 0.1 s"


async def test_a_peer_answering_pings_keeps_its_connection() -> None:
    async def script(peer: Peer) -> None:
        peer.answer_pings = True
        await peer.request()

    with capture_logs() as logs:
        async with (
            serving(script, autoping=False) as served,
            anyio.create_task_group() as tasks,
        ):
            stream = market(served.ws_url, heartbeat_s=0.3)
            events = pump_market(tasks, stream)
            assert (await events.next()) == StreamReset("connected")
            peer = await served.connected(1)
            with anyio.fail_after(5):
                while peer.pings < 2:
                    await peer.pinged.wait()
            assert len(served.peers) == 1
            tasks.cancel_scope.cancel()
    assert closed_reasons(logs) == []


async def test_malformed_frames_are_logged_and_the_stream_goes_on() -> None:
    async def script(peer: Peer) -> None:
        await peer.answer_next()
        for frame in ("nope", '{"e": "aggTrade"}', '{"stream": "x", "data": 1}', "[]"):
            await peer.ws.send_str(frame)
        await peer.ws.send_bytes(b"binary frames are not the stream's")
        await peer.price("BTCUSDT", "60000")
        await peer.drain()

    with capture_logs() as logs:
        async with serving(script) as served, anyio.create_task_group() as tasks:
            stream = market(served.ws_url)
            await stream.subscribe(["BTCUSDT"])
            events = pump_market(tasks, stream)
            assert (await events.next()) == StreamReset("connected")
            assert (await events.next()) == MarkPrice("BTCUSDT", D("60000"), 1)
            assert len(served.peers) == 1
            tasks.cancel_scope.cancel()
    assert [e["event"] for e in logs if e["event"] == "exchange.bad_frame"] == [
        "exchange.bad_frame"
    ] * 4


@pytest.mark.parametrize(
    ("frame", "cause"),
    [(b"x" * (MAX_SIZE + 1), "PayloadTooBig"), (b"\xff\xfe not UTF-8", "not UTF-8")],
)
async def test_an_oversized_or_undecodable_frame_ends_the_connection(
    frame: bytes, cause: str
) -> None:
    async def script(peer: Peer) -> None:
        await peer.answer_next()
        if peer.number == 1:
            await peer.ws.send_frame(frame, WSMsgType.TEXT)
        else:
            await peer.price("BTCUSDT", "60001")
        await peer.drain()

    with capture_logs() as logs:
        async with serving(script) as served, anyio.create_task_group() as tasks:
            stream = market(served.ws_url)
            await stream.subscribe(["BTCUSDT"])
            events = pump_market(tasks, stream)
            assert (await events.next()) == StreamReset("connected")
            assert (await events.next()) == RECONNECTED
            assert (await events.next()) == MarkPrice("BTCUSDT", D("60001"), 1)
            tasks.cancel_scope.cancel()
    assert cause in closed_reasons(logs)[0]


class Boom(Exception):
    pass


@pytest.mark.parametrize("failing", [MarkPrice, StreamReset])
async def test_an_exception_from_deliver_ends_run_with_it(failing: type) -> None:
    gone = anyio.Event()

    async def script(peer: Peer) -> None:
        await peer.answer_next()
        await peer.price("BTCUSDT", "60000")
        await peer.price("BTCUSDT", "60001")
        await peer.drain()
        gone.set()

    delivered: list[MarketEvent] = []

    def deliver(event: MarketEvent) -> None:
        delivered.append(event)
        if isinstance(event, failing):
            raise Boom(type(event).__name__)

    async with serving(script) as served:
        stream = market(served.ws_url)
        await stream.subscribe(["BTCUSDT"])
        with anyio.fail_after(5):
            with pytest.raises(Boom, match=failing.__name__):
                await stream.run(deliver)
            await gone.wait()  # and the connection was closed
        assert isinstance(delivered[-1], failing)
        assert len(delivered) == (2 if failing is MarkPrice else 1)  # nothing after it
        assert len(served.peers) == 1
