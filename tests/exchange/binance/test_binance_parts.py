"""The adapter's small parts: base URLs, backoff, frame decoding that never raises, and
logs that never carry a secret, a signature or the listen key."""

from __future__ import annotations

import anyio
import pytest
from binance_harness import D, pump, pump_market, rig
from structlog.testing import capture_logs

from exitd.engine.model import OrderSide
from exitd.exchange.binance import BinanceMarketStream, endpoints
from exitd.exchange.binance.backoff import Backoff
from exitd.exchange.binance.user_stream import _decode
from exitd.exchange.port import Accepted, OrderRequest, PositionUpdate, Rejected, StreamReset
from tests.exchange.sim.server_harness import API_SECRET


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_endpoints_presets_and_given_urls() -> None:
    assert endpoints("binance") == ("https://fapi.binance.com", "wss://fstream.binance.com")
    assert endpoints("binance-testnet") == (
        "https://demo-fapi.binance.com",
        "wss://fstream.binancefuture.com",
    )
    assert endpoints("sim", "http://127.0.0.1:1/", "ws://127.0.0.1:1") == (
        "http://127.0.0.1:1",
        "ws://127.0.0.1:1",
    )
    with pytest.raises(ValueError, match="must be given"):
        endpoints("sim")


def test_backoff_grows_with_jitter_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial_s=1.0, cap_s=30.0, jitter=0.25)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 1.0 <= delays[0] <= 1.25 and 2.0 <= delays[1] <= 2.5
    assert all(d <= 30.0 for d in delays) and delays[-1] >= 30.0 * 0.999
    backoff.reset()
    assert backoff.next_delay() <= 1.25


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        "{}",
        '{"e": "NEW_THING", "E": 1}',
        '{"e": "ACCOUNT_UPDATE"}',
        '{"e": "ACCOUNT_UPDATE", "E": 1, "a": 5}',
        '{"e": "ACCOUNT_UPDATE", "E": 1, "a": {"P": [1]}}',
        '{"e": "ALGO_UPDATE", "E": 1, "T": 1, "o": []}',
        '{"e": "ORDER_TRADE_UPDATE", "E": 1, "o": {"s": "X", "q": 1.5}}',
        '{"stream": "k", "data": "x"}',
    ],
)
def test_bad_user_frames_are_logged_and_skipped(frame: str) -> None:
    with capture_logs() as logs:
        assert _decode(frame) == []
    assert [entry["event"] for entry in logs] == ["exchange.bad_frame"]


def test_bad_market_frames_are_logged_and_skipped() -> None:
    stream = BinanceMarketStream("ws://127.0.0.1:1")
    with capture_logs() as logs:
        frames = ("nope", '{"e": "aggTrade"}', '{"e": "markPriceUpdate"}', "[]", '{"data": 1}')
        for frame in frames:
            assert stream._decode(frame) is None
    assert [entry["event"] for entry in logs] == ["exchange.bad_frame"] * len(frames)


@pytest.mark.anyio
async def test_logs_carry_no_secret_signature_or_listen_key() -> None:
    with capture_logs() as logs:
        async with rig() as r, anyio.create_task_group() as tasks:
            events = pump(tasks, r.exchange.user_events())
            assert isinstance(await events.next(), StreamReset)
            key = r.sim.hub.listen_keys.active
            assert key
            await r.position("BTCUSDT", "LONG", "0.010", "60000")
            await events.next(lambda e: isinstance(e, PositionUpdate))
            # A short storm: the client then waits out its Retry-After before the listen key.
            await r.faults({"rate_limit_storm_s": 1})
            order = OrderRequest("BTCUSDT", "xd-log", OrderSide.BUY, "LIMIT", D("1"), D("1"))
            assert isinstance(await r.exchange.place(order), Rejected)  # logged refusal
            await r.admin("DELETE", "/sim/faults")
            await r.faults({"expire_listen_key": True})
            await events.next(lambda e: isinstance(e, StreamReset))
            tasks.cancel_scope.cancel()
    text = repr(logs)
    assert logs  # something was logged, so the check below can fail
    for secret in (API_SECRET, key, "signature"):
        assert secret not in text


@pytest.mark.anyio
async def test_market_stream_ends_when_the_exchange_closes() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        stream = r.exchange.market_stream()
        events = pump_market(tasks, stream)
        assert isinstance(await events.next(), StreamReset)
        await r.exchange.aclose()
        assert (await events.until_end()) == []
        await r.price("BTCUSDT", "60000")  # the exchange opens a new session when used again
        order = OrderRequest("BTCUSDT", "xd-after", OrderSide.BUY, "LIMIT", D("0.002"), D("59000"))
        assert isinstance(await r.exchange.place(order), Accepted)
