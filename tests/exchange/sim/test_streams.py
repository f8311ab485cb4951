"""The simulator's websockets against a real client: routed paths, both forms, the request
protocol with its answers and errors, limits, user data and the stream faults."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import anyio
import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim.account import Accepted, AlgoParams, SimAccount
from exitd.exchange.sim.book import SimOrderType
from exitd.exchange.sim.errors import BinanceError
from exitd.exchange.sim.stream_requests import Subscriptions
from exitd.exchange.sim.streams import OUTBOX_SIZE, Route, StreamHub, _Client

pytestmark = pytest.mark.anyio
T0 = 1_765_431_097_000
WAIT_S = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Sim:
    hub: StreamHub
    url: str
    now: list[int]

    def connect(self, path: str) -> Any:
        return connect(self.url + path)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    now = [T0]
    hub = StreamHub(lambda: now[0], ["BTCUSDT", "ETHUSDT"])
    app = web.Application()
    app.add_routes(hub.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Sim(hub, f"ws://127.0.0.1:{port}", now)
    finally:
        await hub.close()
        await runner.cleanup()


async def receive(ws: ClientConnection) -> Any:
    with anyio.fail_after(WAIT_S):
        return json.loads(await ws.recv())


async def request(ws: ClientConnection, message: dict[str, Any] | str) -> Any:
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    return await receive(ws)


async def until_closed(ws: ClientConnection) -> ConnectionClosed:
    with anyio.fail_after(WAIT_S):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed


# --- market streams ---------------------------------------------------------------------------


async def test_a_raw_connection_receives_the_bare_mark_price(sim: Sim) -> None:
    async with sim.connect("/market/ws/btcusdt@markPrice") as ws:
        sim.hub.publish_price("BTCUSDT", D("65000.1"), T0)
        update = await receive(ws)
    assert (update["e"], update["s"], update["p"], update["E"]) == (
        "markPriceUpdate",
        "BTCUSDT",
        "65000.10000000",
        T0,
    )


async def test_a_combined_connection_receives_wrapped_payloads(sim: Sim) -> None:
    async with sim.connect("/market/stream?streams=btcusdt@markPrice@1s/btcusdt@aggTrade") as ws:
        sim.hub.publish_price("BTCUSDT", D(65000), T0)
        first, second = await receive(ws), await receive(ws)
    assert [first["stream"], second["stream"]] == ["btcusdt@markPrice@1s", "btcusdt@aggTrade"]
    assert (first["data"]["e"], second["data"]["e"]) == ("markPriceUpdate", "aggTrade")


async def test_subscribe_then_receive_and_list_then_unsubscribe(sim: Sim) -> None:
    async with sim.connect("/public/stream") as ws:
        ack = await request(
            ws, {"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": "a-uuid"}
        )
        assert ack == {"result": None, "id": "a-uuid"}  # the SDK's string ids are accepted
        sim.hub.publish_price("BTCUSDT", D(65000), T0)
        ticker = await receive(ws)
        assert ticker["stream"] == "btcusdt@bookTicker" and ticker["data"]["b"] == "65000.00"
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 3})
        assert listed == {"result": ["btcusdt@bookTicker"], "id": 3}
        ack = await request(
            ws, {"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 4}
        )
        assert ack == {"result": None, "id": 4}
        sim.hub.publish_price("BTCUSDT", D(65001), T0 + 1)
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 5})
        assert listed == {"result": [], "id": 5}  # and no ticker came before this answer


async def test_properties_switch_a_raw_connection_to_combined(sim: Sim) -> None:
    async with sim.connect("/market/ws/ethusdt@markPrice") as ws:
        assert await request(ws, {"method": "GET_PROPERTY", "params": ["combined"], "id": 1}) == {
            "result": False,
            "id": 1,
        }
        ack = await request(ws, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 2})
        assert ack == {"result": None, "id": 2}
        sim.hub.publish_price("ETHUSDT", D(3000), T0)
        assert (await receive(ws))["stream"] == "ethusdt@markPrice"


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        (
            {"method": "GET_PROPERTY", "params": ["merged"], "id": 1},
            {"error": {"code": 0, "msg": "Unknown property"}, "id": 1},
        ),
        (
            {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 2},
            {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 2},
        ),
        (
            {"method": "GET_PROPERTY", "params": [1], "id": 3},
            {
                "error": {"code": 2, "msg": "Invalid request: property name must be a string"},
                "id": 3,
            },
        ),
        (
            {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": -1},
            {
                "error": {
                    "code": 2,
                    "msg": "Invalid request: request ID must be an unsigned integer",
                },
                "id": None,
            },
        ),
        (
            '{"method": "SUBSCRIB", "params": [], "id": 7}',
            {
                "error": {
                    "code": 2,
                    "msg": "Invalid request: unknown variant `SUBSCRIB`, expected one of "
                    "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                    "`GET_PROPERTY` at line 1 column 21",
                },
                "id": 7,
            },
        ),
    ],
)
async def test_malformed_requests_get_binances_errors(
    sim: Sim, message: dict[str, Any] | str, answer: dict[str, Any]
) -> None:
    async with sim.connect("/market/stream") as ws:
        assert await request(ws, message) == answer


async def test_more_than_1024_streams_are_refused(sim: Sim) -> None:
    names = [f"s{i}usdt@aggTrade" for i in range(1024)]
    async with sim.connect("/market/stream") as ws:
        ack = await request(ws, {"method": "SUBSCRIBE", "params": names, "id": 1})
        assert ack == {"result": None, "id": 1}
        refused = await request(ws, {"method": "SUBSCRIBE", "params": ["x@aggTrade"], "id": 2})
        assert refused == {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 2}


async def test_more_than_ten_messages_a_second_disconnects(sim: Sim) -> None:
    async with sim.connect("/market/stream") as ws:
        for i in range(11):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        closed = await until_closed(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1008


async def test_a_stream_is_delivered_only_on_its_route(sim: Sim) -> None:
    paths = (
        "/public/ws/btcusdt@markPrice",
        "/ws/btcusdt@markPrice",
        "/market/ws/btcusdt@markPrice",
    )
    async with (
        sim.connect(paths[0]) as public,
        sim.connect(paths[1]) as legacy,
        sim.connect(paths[2]) as market,
    ):
        sim.hub.publish_price("BTCUSDT", D(65000), T0)
        assert (await receive(market))["e"] == "markPriceUpdate"
        for ws in (public, legacy):  # the answer comes first: nothing was queued before it
            assert (await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}))["id"] == 1


async def test_client_pings_are_answered(sim: Sim) -> None:
    async with sim.connect("/market/ws/btcusdt@markPrice") as ws:
        with anyio.fail_after(WAIT_S):
            await (await ws.ping(b"hello"))


# --- user data --------------------------------------------------------------------------------


def stopped_out(publish: Callable[..., None]) -> SimAccount:
    """A long with a close-position stop, then a tick through it; every step published."""
    account = SimAccount(["BTCUSDT"])
    account.set_price("BTCUSDT", D(65000), T0)
    publish(account.open_position("BTCUSDT", Side.LONG, D("0.010"), D(65000), T0), account, T0)
    placed = account.place_algo_order(
        "BTCUSDT",
        OrderSide.SELL,
        SimOrderType.STOP_MARKET,
        None,
        T0 + 1,
        params=AlgoParams(trigger_price=D(64000), close_position=True),
    )
    assert isinstance(placed, Accepted)
    publish(placed.events, account, T0 + 1)
    publish(account.set_price("BTCUSDT", D(63990), T0 + 2), account, T0 + 2)
    return account


async def drain(ws: ClientConnection) -> list[Any]:
    """Everything sent before the answer to a LIST_SUBSCRIPTIONS sent now."""
    await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 999}))
    received = []
    while (message := await receive(ws)).get("id") != 999:
        received.append(message)
    return received


async def test_user_data_on_the_private_ws_form(sim: Sim) -> None:
    key = sim.hub.listen_keys.create("api-key")
    events = "ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/ALGO_UPDATE"
    async with sim.connect(f"/private/ws?listenKey={key}&events={events}") as ws:
        stopped_out(sim.hub.publish_account)
        received = await drain(ws)
    kinds = [(m["e"], m["o"]["X"] if "o" in m else "") for m in received]
    assert kinds == [  # the order live logs show: position before the fill's order update
        ("ORDER_TRADE_UPDATE", "NEW"),  # the entry
        ("ACCOUNT_UPDATE", ""),
        ("ORDER_TRADE_UPDATE", "FILLED"),
        ("ALGO_UPDATE", "NEW"),  # the stop
        ("ALGO_UPDATE", "TRIGGERING"),
        ("ORDER_TRADE_UPDATE", "NEW"),  # its child, before TRIGGERED (nautilus_trader#3664)
        ("ACCOUNT_UPDATE", ""),
        ("ORDER_TRADE_UPDATE", "FILLED"),
        ("ALGO_UPDATE", "TRIGGERED"),
        ("ALGO_UPDATE", "FINISHED"),
    ]
    times = [m["E"] for m in received]
    assert times == sorted(times)
    assert received[-4]["a"]["P"][0]["pa"] == "0"


async def test_user_data_on_the_private_stream_form_as_the_sdk_subscribes(sim: Sim) -> None:
    key = sim.hub.listen_keys.create("api-key")
    assert sim.hub.listen_keys.create("api-key") == key  # the same key while it is active
    async with sim.connect("/private/stream") as ws:
        assert await request(ws, {"method": "SUBSCRIBE", "params": [key], "id": "u"}) == {
            "result": None,
            "id": "u",
        }
        stopped_out(sim.hub.publish_account)
        received = await drain(ws)
    assert {m["stream"] for m in received} == {key}
    assert "TRADE_LITE" in {m["data"]["e"] for m in received}  # no events= filter: all of them


async def test_events_filter_keeps_only_the_named_events(sim: Sim) -> None:
    key = sim.hub.listen_keys.create("api-key")
    async with sim.connect(f"/private/ws?listenKey={key}&events=ALGO_UPDATE") as ws:
        stopped_out(sim.hub.publish_account)
        received = await drain(ws)
    assert [m["o"]["X"] for m in received] == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    assert {m["e"] for m in received} == {"ALGO_UPDATE"}


async def test_expired_listen_key_is_announced_then_unknown(sim: Sim) -> None:
    key = sim.hub.listen_keys.create("api-key")
    async with sim.connect(f"/ws/{key}") as ws:
        sim.hub.expire_listen_keys()
        expired = await receive(ws)
        assert expired == {"e": "listenKeyExpired", "E": T0, "listenKey": key}
        stopped_out(sim.hub.publish_account)
        assert await drain(ws) == []  # no more events for that key
    with pytest.raises(BinanceError) as refused:
        sim.hub.listen_keys.keepalive(key)
    assert (refused.value.code, refused.value.msg) == (-1125, "This listenKey does not exist.")
    assert sim.hub.listen_keys.create("api-key") != key


async def test_listen_key_lapses_an_hour_after_its_last_keepalive(sim: Sim) -> None:
    key = sim.hub.listen_keys.create("api-key")
    sim.now[0] += 59 * 60_000
    sim.hub.listen_keys.keepalive(key)
    sim.now[0] += 60 * 60_000
    with pytest.raises(BinanceError):
        sim.hub.listen_keys.keepalive(key)


def test_account_events_are_not_encoded_when_nobody_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = StreamHub(lambda: T0, ["BTCUSDT"])
    encoded: list[object] = []
    monkeypatch.setattr(hub._feed, "encode", lambda *batch: encoded.append(batch) or [])
    stopped_out(hub.publish_account)  # no listen key
    hub.listen_keys.create("api-key")
    stopped_out(hub.publish_account)  # a key, but no stream on it
    assert encoded == []


# --- faults -----------------------------------------------------------------------------------


async def test_drop_all_closes_every_client(sim: Sim) -> None:
    async with sim.connect("/market/ws/btcusdt@markPrice") as a, sim.connect("/public/stream") as b:
        await sim.hub.drop_all()
        closed = [await until_closed(a), await until_closed(b)]
    assert [c.rcvd.code for c in closed if c.rcvd] == [1001, 1001]


async def test_connections_are_refused_until_the_given_time(sim: Sim) -> None:
    sim.hub.refuse_connections_until(T0 + 10_000)
    with pytest.raises(InvalidStatus) as refused:
        async with sim.connect("/market/ws/btcusdt@markPrice"):
            pass
    assert refused.value.response.status_code == 503
    sim.now[0] = T0 + 10_000
    async with sim.connect("/market/ws/btcusdt@markPrice") as ws:
        assert (await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}))["id"] == 1


async def test_a_deleted_listen_key_stops_its_events_silently(sim: Sim) -> None:
    key = sim.hub.listen_keys.create("api-key")
    async with sim.connect(f"/private/ws?listenKey={key}&events=ACCOUNT_UPDATE") as ws:
        sim.hub.listen_keys.delete(key)
        stopped_out(sim.hub.publish_account)
        assert await drain(ws) == []
    with pytest.raises(BinanceError):
        sim.hub.listen_keys.keepalive(key)


def test_a_client_that_stops_reading_is_dropped_not_waited_for() -> None:
    client = _Client(web.WebSocketResponse(), Route.MARKET, Subscriptions(combined=False))
    for _ in range(OUTBOX_SIZE + 1):
        client.push(b"{}")
    assert client.outbox.qsize() == 1 and client.outbox.get_nowait() is None  # close it


# --- a client that stops reading --------------------------------------------------------------

_BIG_FRAME = b'"' + b"x" * 512 * 1024 + b'"'


async def _stalled(sim: Sim) -> socket.socket:
    """A connection whose client reads nothing, with the server's socket buffers full."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", int(sim.url.rsplit(":", 1)[1])))
    handshake = (
        "GET /public/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, handshake.encode())
    with anyio.fail_after(WAIT_S):
        while not sim.hub._clients:
            await anyio.sleep(0.01)
    (client,) = sim.hub._clients
    for _ in range(64):  # 32 MB: far more than the kernel buffers of both ends hold
        client.push(_BIG_FRAME)
    await anyio.sleep(0.5)  # the writer is now blocked on the full socket
    return sock


async def test_drop_all_does_not_wait_for_a_client_that_stopped_reading(sim: Sim) -> None:
    stalled = await _stalled(sim)
    async with sim.connect("/public/ws") as reading:
        with anyio.fail_after(WAIT_S):
            await sim.hub.drop_all()
        assert (await until_closed(reading)).rcvd.code == 1001  # type: ignore[union-attr]
    stalled.close()


async def test_a_writer_blocked_on_a_client_that_stopped_reading_drops_it(sim: Sim) -> None:
    stalled = await _stalled(sim)
    with anyio.fail_after(WAIT_S):
        while sim.hub._clients:  # the connection ended: its handler forgot the client
            await anyio.sleep(0.05)
    stalled.close()
