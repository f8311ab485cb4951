"""The adapter's REST side against the simulator over loopback: orders of both kinds,
lists, positions, filters, mark price, and the faults of RELIABILITY.md §2."""

from __future__ import annotations

import pytest
from binance_harness import D, rig

from exitd.engine.model import OrderSide, SymbolFilters
from exitd.exchange.binance.rest import wall_clock_ms
from exitd.exchange.port import (
    Accepted,
    ExchangeUnavailable,
    NotFound,
    OrderRequest,
    OrderState,
    OrderView,
    Rejected,
    RejectKind,
    Unknown,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def limit(cid: str, price: str = "59000") -> OrderRequest:
    return OrderRequest("BTCUSDT", cid, OrderSide.BUY, "LIMIT", D("0.002"), D(price))


def stop(cid: str, trigger: str, qty: str = "0.010") -> OrderRequest:
    return OrderRequest(
        "BTCUSDT", cid, OrderSide.SELL, "STOP_MARKET", D(qty), trigger_price=D(trigger),
        reduce_only=True,
    )  # fmt: skip


async def test_regular_order_place_query_cancel() -> None:
    async with rig() as r:
        await r.price("BTCUSDT", "60000")
        placed = await r.exchange.place(limit("xd-lim-1"))
        assert isinstance(placed, Accepted), placed
        assert placed.order.state is OrderState.NEW and not placed.order.conditional
        assert placed.order.price == D("59000") and placed.order.quantity == D("0.002")
        assert placed.usage is not None and placed.usage.orders_10s == 1
        assert r.exchange.usage == placed.usage
        found = await r.exchange.query("BTCUSDT", "xd-lim-1", conditional=False)
        assert isinstance(found, OrderView) and found.exchange_id == placed.order.exchange_id
        cancelled = await r.exchange.cancel("BTCUSDT", "xd-lim-1", conditional=False)
        assert isinstance(cancelled, Accepted) and cancelled.order.state is OrderState.CANCELED
        again = await r.exchange.cancel("BTCUSDT", "xd-lim-1", conditional=False)
        assert isinstance(again, Rejected) and again.kind is RejectKind.NOT_FOUND
        missing = await r.exchange.query("BTCUSDT", "xd-nobody", conditional=False)
        assert missing == NotFound()


async def test_conditional_order_goes_to_the_algo_endpoints() -> None:
    async with rig() as r:
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        placed = await r.exchange.place(stop("xd-sl-1", "58000"))
        assert isinstance(placed, Accepted), placed
        view = placed.order
        assert view.conditional and view.type == "STOP_MARKET" and view.reduce_only
        assert (view.state, view.trigger_price) == (OrderState.NEW, D("58000"))
        ledger = await r.admin("GET", "/sim/ledger")
        orders = ledger["symbols"]["BTCUSDT"]["orders"]
        assert any(o["client_order_id"] == "xd-sl-1" for o in orders)
        found = await r.exchange.query("BTCUSDT", "xd-sl-1", conditional=True)
        assert isinstance(found, OrderView) and found.exchange_id == view.exchange_id
        cancelled = await r.exchange.cancel("BTCUSDT", "xd-sl-1", conditional=True)
        assert isinstance(cancelled, Accepted) and cancelled.order.state is OrderState.CANCELED
        assert cancelled.order.conditional
        gone = await r.exchange.cancel("BTCUSDT", "xd-sl-1", conditional=True)
        assert isinstance(gone, Rejected) and gone.kind is RejectKind.NOT_FOUND
        assert await r.exchange.query("BTCUSDT", "xd-none", conditional=True) == NotFound()


async def test_close_position_stop_and_its_duplicate() -> None:
    async with rig() as r:
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        hard = OrderRequest(
            "BTCUSDT", "xd-hard-1", OrderSide.SELL, "STOP_MARKET", trigger_price=D("55000"),
            close_position=True,
        )  # fmt: skip
        placed = await r.exchange.place(hard)
        assert isinstance(placed, Accepted), placed
        assert placed.order.close_position and placed.order.quantity is None
        duplicate = OrderRequest(
            "BTCUSDT", "xd-hard-2", OrderSide.SELL, "STOP_MARKET", trigger_price=D("54000"),
            close_position=True,
        )  # fmt: skip
        second = await r.exchange.place(duplicate)
        assert isinstance(second, Rejected) and second.kind is RejectKind.CLOSE_POSITION_EXISTS


async def test_triggered_stop_query_reports_the_child_fill() -> None:
    async with rig() as r:
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        assert isinstance(await r.exchange.place(stop("xd-sl-2", "59000")), Accepted)
        await r.price("BTCUSDT", "58900")
        found = await r.exchange.query("BTCUSDT", "xd-sl-2", conditional=True)
        assert isinstance(found, OrderView), found
        assert found.conditional and found.state is OrderState.FINISHED
        assert found.filled_qty == D("0.010")
        assert await r.exchange.positions() == []


async def test_stop_through_the_price_would_trigger() -> None:
    async with rig() as r:
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        outcome = await r.exchange.place(stop("xd-sl-3", "61000"))
        assert isinstance(outcome, Rejected) and outcome.kind is RejectKind.WOULD_TRIGGER
        assert outcome.kind.retriable


async def test_open_orders_merge_regular_and_algo() -> None:
    async with rig() as r:
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        assert isinstance(await r.exchange.place(limit("xd-lim-2")), Accepted)
        assert isinstance(await r.exchange.place(stop("xd-sl-4", "57000")), Accepted)
        listed = {(o.client_order_id, o.conditional) for o in await r.exchange.open_orders()}
        assert listed == {("xd-lim-2", False), ("xd-sl-4", True)}


async def test_positions_filters_and_mark_price() -> None:
    async with rig() as r:
        assert await r.exchange.positions() == []
        await r.position("ETHUSDT", "SHORT", "0.500", "3000")
        (position,) = await r.exchange.positions()
        assert (position.symbol, position.amount, position.entry_price) == (
            "ETHUSDT",
            D("-0.5"),
            D("3000"),
        )
        filters = await r.exchange.symbol_filters()
        assert filters["BTCUSDT"] == SymbolFilters(D("0.1"), D("0.001"), D("0.001"), D("10"))
        assert set(filters) == {"BTCUSDT", "ETHUSDT"}
        with pytest.raises(ExchangeUnavailable):
            await r.exchange.mark_price("BTCUSDT")  # no price yet: zeros on the wire
        await r.price("BTCUSDT", "61234.5")
        mark = await r.exchange.mark_price("BTCUSDT")
        assert (mark.symbol, mark.price) == ("BTCUSDT", D("61234.5"))


async def test_unknown_status_is_unknown_and_the_order_exists() -> None:
    async with rig() as r:
        await r.price("BTCUSDT", "60000")
        fault = {"POST /fapi/v1/order": {"rate": 1.0, "answer": "unknown_error"}}
        await r.faults({"unknown_status": fault})
        outcome = await r.exchange.place(limit("xd-unk-1"))
        assert isinstance(outcome, Unknown), outcome
        found = await r.exchange.query("BTCUSDT", "xd-unk-1", conditional=False)
        assert isinstance(found, OrderView) and found.state is OrderState.NEW
        await r.faults({"unknown_status": {"/fapi/v1/algoOrder": {"answer": "timeout"}}})
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        assert isinstance(await r.exchange.place(stop("xd-unk-2", "58000")), Unknown)


async def test_service_unavailable_is_a_retriable_rejection() -> None:
    async with rig() as r:
        await r.price("BTCUSDT", "60000")
        fault = {"POST /fapi/v1/order": {"rate": 1.0, "kind": "service_unavailable"}}
        await r.faults({"errors": fault})
        outcome = await r.exchange.place(limit("xd-503"))
        assert isinstance(outcome, Rejected), outcome
        assert outcome.kind is RejectKind.OTHER and outcome.kind.retriable
        await r.admin("DELETE", "/sim/faults")
        assert isinstance(await r.exchange.place(limit("xd-503")), Accepted)


async def test_rate_limit_storm_is_rate_limited_with_retry_after() -> None:
    async with rig() as r:
        await r.faults({"rate_limit_storm_s": 30})
        outcome = await r.exchange.place(limit("xd-429"))
        assert isinstance(outcome, Rejected), outcome
        assert outcome.kind is RejectKind.RATE_LIMITED and outcome.retry_after_s is not None
        assert outcome.retry_after_s > 0


async def test_nothing_is_sent_inside_a_retry_after_so_no_418_ban() -> None:
    async with rig() as r:
        await r.faults({"rate_limit_storm_s": 30})
        assert isinstance(await r.exchange.place(limit("xd-429")), Rejected)
        for _ in range(3):  # the exchange would ban the IP for any of these
            with pytest.raises(ExchangeUnavailable, match="Retry-After"):
                await r.exchange.positions()
            held = await r.exchange.place(limit("xd-held"))
            assert isinstance(held, Rejected) and held.kind is RejectKind.RATE_LIMITED
            assert held.retry_after_s is not None and 0 < held.retry_after_s <= 30
        assert all(state.bans == 0 for state in r.sim.limiter._ips.values())
        assert not r.sim.account.ledger.orders


async def test_reads_without_an_answer_raise_exchange_unavailable() -> None:
    async with rig() as r:
        await r.faults({"unknown_status": {"GET /fapi/v1/openOrders": {"rate": 1.0}}})
        with pytest.raises(ExchangeUnavailable):
            await r.exchange.open_orders()
        assert await r.exchange.positions() == []  # other reads unaffected


async def test_clock_rejection_resyncs_and_the_same_id_goes_through() -> None:
    skew = [0]
    async with rig(clock=lambda: wall_clock_ms() + skew[0]) as r:
        await r.price("BTCUSDT", "60000")
        skew[0] = 10_000  # the local clock jumps 10 s ahead after the start-up sync
        first = await r.exchange.place(limit("xd-clk"))
        assert isinstance(first, Rejected) and first.kind is RejectKind.CLOCK
        again = await r.exchange.place(limit("xd-clk"))
        assert isinstance(again, Accepted), again


async def test_start_up_sync_absorbs_a_skewed_clock() -> None:
    async with rig(clock=lambda: wall_clock_ms() - 60_000) as r:
        await r.price("BTCUSDT", "60000")
        assert isinstance(await r.exchange.place(limit("xd-skew")), Accepted)


async def test_cancel_of_a_triggered_stop_cancels_its_working_child() -> None:
    async with rig() as r:
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        stop_limit = OrderRequest(
            "BTCUSDT", "xd-stl", OrderSide.SELL, "STOP", D("0.010"), price=D("59500"),
            trigger_price=D("59000"), reduce_only=True, time_in_force="GTC",
        )  # fmt: skip
        assert isinstance(await r.exchange.place(stop_limit), Accepted)
        await r.price("BTCUSDT", "58900")  # triggers; the SELL LIMIT at 59500 rests
        found = await r.exchange.query("BTCUSDT", "xd-stl", conditional=True)
        assert isinstance(found, OrderView) and found.state is OrderState.TRIGGERED
        assert found.filled_qty == 0
        cancelled = await r.exchange.cancel("BTCUSDT", "xd-stl", conditional=True)
        assert isinstance(cancelled, Accepted), cancelled
        child = cancelled.order
        assert (child.conditional, child.type, child.state) == (
            False,
            "LIMIT",
            OrderState.CANCELED,
        )
        assert child.client_order_id == "xd-stl"
        assert [o.client_order_id for o in await r.exchange.open_orders()] == []
