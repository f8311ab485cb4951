"""The adapter's websockets against the simulator over loopback: mark prices with
subscribe/unsubscribe, stale detection, reconnects with StreamReset, and the user stream's
fills, positions, algo updates and listen-key renewal (RELIABILITY.md §2 rows 19-22)."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import pytest
from binance_harness import D, fast_backoff, pump, pump_market, rig

from exitd.engine.model import OrderSide
from exitd.exchange.binance.rest import RestClient
from exitd.exchange.binance.user_stream import UserStream
from exitd.exchange.port import (
    Accepted,
    MarkPrice,
    OrderRequest,
    OrderState,
    OrderUpdate,
    PositionUpdate,
    StreamReset,
    StreamStale,
)
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, running

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def is_mark(symbol: str, price: str | None = None) -> Any:
    return lambda e: (
        isinstance(e, MarkPrice) and e.symbol == symbol and (price is None or e.price == D(price))
    )


def is_reset(e: Any) -> bool:
    return isinstance(e, StreamReset)


async def test_mark_prices_follow_subscriptions_and_survive_a_drop() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        stream = r.exchange.market_stream()
        events = pump_market(tasks, stream)
        assert (await events.next()) == StreamReset("connected")
        await stream.subscribe(["BTCUSDT"])
        await r.price("BTCUSDT", "60000")
        tick = await events.next()
        assert tick == MarkPrice("BTCUSDT", D("60000"), tick.time_ms) and tick.time_ms > 0
        await stream.unsubscribe(["BTCUSDT"])
        await stream.subscribe(["ETHUSDT"])
        await r.price("BTCUSDT", "60100")
        await r.price("ETHUSDT", "3000")
        assert is_mark("ETHUSDT", "3000")(await events.next())  # no BTCUSDT in between
        await r.faults({"drop_websockets": True})
        reset = await events.next()
        assert isinstance(reset, StreamReset) and reset.reason != "connected"
        await r.price("ETHUSDT", "3001")
        await r.price("BTCUSDT", "60200")
        assert is_mark("ETHUSDT", "3001")(await events.next())  # re-subscribed, BTC still not
        tasks.cancel_scope.cancel()


async def test_a_silent_symbol_is_reported_stale_once_until_it_ticks() -> None:
    async with rig(stale_after_s=0.3) as r, anyio.create_task_group() as tasks:
        stream = r.exchange.market_stream()
        events = pump_market(tasks, stream)
        assert is_reset(await events.next())
        await stream.subscribe(["BTCUSDT"])
        stale = await events.next()
        assert isinstance(stale, StreamStale) and stale.symbols == ("BTCUSDT",)
        assert stale.silent_ms >= 300
        await r.price("BTCUSDT", "60000")
        assert is_mark("BTCUSDT", "60000")(await events.next())  # no second stale before it
        again = await events.next()
        assert isinstance(again, StreamStale) and again.symbols == ("BTCUSDT",)
        tasks.cancel_scope.cancel()


async def test_a_silent_symbol_is_reported_while_another_keeps_ticking() -> None:
    async with rig(stale_after_s=0.3) as r, anyio.create_task_group() as tasks:
        stream = r.exchange.market_stream()
        events = pump_market(tasks, stream)
        assert is_reset(await events.next())
        await stream.subscribe(["BTCUSDT", "ETHUSDT"])
        await r.price("ETHUSDT", "3000")
        assert is_mark("ETHUSDT", "3000")(await events.next())
        price = 60000
        with anyio.fail_after(5):
            while True:
                price += 1
                await r.price("BTCUSDT", str(price))
                event = await events.next()
                if not is_mark("BTCUSDT")(event):
                    break
        assert isinstance(event, StreamStale) and event.symbols == ("ETHUSDT",)
        assert event.silent_ms >= 300
        tasks.cancel_scope.cancel()


async def test_market_stream_reconnects_after_refused_handshakes() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        stream = r.exchange.market_stream()
        events = pump_market(tasks, stream)
        assert is_reset(await events.next())
        await stream.subscribe(["BTCUSDT"])
        await r.faults({"drop_websockets": True, "refuse_websockets_s": 0.5})
        assert is_reset(await events.next())
        await r.price("BTCUSDT", "60000")
        assert is_mark("BTCUSDT", "60000")(await events.next())
        tasks.cancel_scope.cancel()


def order_update(cid: str, state: OrderState) -> Any:
    return lambda e: (
        isinstance(e, OrderUpdate) and e.order.client_order_id == cid and e.order.state is state
    )


def position_update(amount: str) -> Any:
    return lambda e: isinstance(e, PositionUpdate) and e.position.amount == D(amount)


async def test_user_stream_reports_positions_and_a_stop_life() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        events = pump(tasks, r.exchange.user_events())
        assert (await events.next()) == StreamReset("connected")
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        opened = await events.next(lambda e: isinstance(e, PositionUpdate))
        assert opened.position.symbol == "BTCUSDT"
        assert (opened.position.amount, opened.position.entry_price) == (D("0.01"), D("60000"))
        stop = OrderRequest(
            "BTCUSDT", "xd-us-sl", OrderSide.SELL, "STOP_MARKET", D("0.010"),
            trigger_price=D("59000"), reduce_only=True,
        )  # fmt: skip
        assert isinstance(await r.exchange.place(stop), Accepted)
        new = await events.next(order_update("xd-us-sl", OrderState.NEW))
        assert new.order.conditional and new.order.trigger_price == D("59000")
        await r.price("BTCUSDT", "58900")
        # Binance does not promise the order of one moment's events (the child's fill may
        # come before its parent's TRIGGERED): all of them, in any order, up to FINISHED.
        seen = []
        while not (seen and order_update("xd-us-sl", OrderState.FINISHED)(seen[-1])):
            seen.append(await events.next())
        assert any(order_update("xd-us-sl", OrderState.TRIGGERED)(e) for e in seen)
        (fill,) = [e for e in seen if order_update("xd-us-sl", OrderState.FILLED)(e)]
        assert not fill.order.conditional  # the child, under the algo order's client id
        assert fill.last_fill_qty == D("0.010") and fill.trade_id is not None
        assert any(position_update("0")(e) for e in seen)
        assert seen[-1].order.conditional and seen[-1].order.filled_qty == D("0.010")
        tasks.cancel_scope.cancel()


async def test_listen_key_expiry_renews_the_key_and_resets() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        events = pump(tasks, r.exchange.user_events())
        assert is_reset(await events.next())
        await r.faults({"expire_listen_key": True})
        reset = await events.next()
        assert reset == StreamReset("listen key expired, created again")
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        assert position_update("0.01")(await events.next(lambda e: isinstance(e, PositionUpdate)))
        tasks.cancel_scope.cancel()


async def test_user_stream_reconnects_after_a_drop() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        events = pump(tasks, r.exchange.user_events())
        assert is_reset(await events.next())
        await r.faults({"drop_websockets": True})
        reset = await events.next()
        assert reset == StreamReset("reconnected after the user stream closed")
        await r.position("ETHUSDT", "SHORT", "0.500", "3000")
        assert position_update("-0.5")(await events.next(lambda e: isinstance(e, PositionUpdate)))
        tasks.cancel_scope.cancel()


async def test_keepalive_finding_the_key_gone_creates_a_new_one() -> None:
    async with (
        running() as (_sim, client),
        aiohttp.ClientSession() as session,
        anyio.create_task_group() as tasks,
    ):
        rest = RestClient(session, client.base, API_KEY, API_SECRET)
        stream = UserStream(session, rest, _sim.ws_url, keepalive_s=0.2, backoff=fast_backoff())
        events = pump(tasks, stream.events())
        assert (await events.next()) == StreamReset("connected")
        # The key is deleted behind the stream's back: its socket goes silent, no event says so.
        deleted = await client.call("DELETE", "/fapi/v1/listenKey", signed=False)
        assert deleted.status == 200
        assert (await events.next()) == StreamReset("listen key lost, created again")
        answer = await client.admin(
            "POST", "/sim/position", {"symbol": "BTCUSDT", "side": "LONG", "qty": "0.010",
                                      "price": "60000"},
        )  # fmt: skip
        assert answer.status == 200
        assert position_update("0.01")(await events.next(lambda e: isinstance(e, PositionUpdate)))
        tasks.cancel_scope.cancel()
