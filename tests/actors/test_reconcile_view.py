"""Reconciliation of one symbol: re-attach own orders, cancel stale ones, flag foreign ones,
and call an order missing only after two reconciliations in a row miss it."""

from __future__ import annotations

from decimal import Decimal as D

from exitd.actors.reconcile_view import diff_orders, is_own, resting_intents
from exitd.actors.safety_net import emergency_stop, is_naked
from exitd.engine import (
    ExitProfile,
    Leg,
    OrderAccepted,
    OrderCancelled,
    OrderSide,
    PlaceOrder,
    Position,
    Side,
    SymbolFilters,
    Tick,
    adopt,
    build_plan,
    decide_all,
)
from exitd.exchange.port import OrderRequest, OrderState, OrderView, PositionView

SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))


def view(
    cid: str, *, type_: str = "STOP_MARKET", close: bool = True, symbol: str = SYMBOL
) -> OrderView:
    return OrderView(
        symbol=symbol,
        client_order_id=cid,
        exchange_id="1",
        side=OrderSide.SELL,
        type=type_,
        state=OrderState.NEW,
        conditional=type_ != "LIMIT",
        quantity=None if close else D("0.5"),
        filled_qty=D(0),
        price=D("101") if type_ == "LIMIT" else None,
        trigger_price=None if type_ == "LIMIT" else D("98"),
        reduce_only=not close,
        close_position=close,
        update_ms=0,
    )


def adopted_state():
    plan = build_plan(
        Position(SYMBOL, Side.LONG, D(1), D(100)), FILTERS, ExitProfile(hard_sl_pct=D(2)), D(100)
    )
    decision = adopt(plan, Tick(0, D(100)))
    (place,) = decision.requests
    assert isinstance(place, PlaceOrder)
    cid = place.intent.client_order_id
    return decide_all(decision.state, (OrderAccepted(cid, 1),)).state, cid


def test_own_orders_are_told_from_foreign_and_other_modules_by_client_id() -> None:
    assert is_own("xd.eb.BTCUSDT.SL.1")
    assert not is_own("xd.pm.BTCUSDT.SL.1")
    assert not is_own("web_abc123")


def test_resting_own_orders_become_intents_and_foreign_ones_do_not() -> None:
    inflight = OrderRequest(
        SYMBOL, "xd.eb.BTCUSDT.TP1.3", OrderSide.SELL, "LIMIT", D("0.5"), D("101"), reduce_only=True
    )
    intents = resting_intents(SYMBOL, [view("xd.eb.BTCUSDT.SL.2"), view("manual-1")], [inflight])
    assert [(i.leg, i.tp_number, i.close_position) for i in intents] == [
        (Leg.HARD_SL, 0, True),
        (Leg.TAKE_PROFIT, 1, False),
    ]


def test_an_untracked_own_order_is_stale_and_a_foreign_exit_is_a_conflict() -> None:
    state, cid = adopted_state()
    stale = view("xd.eb.BTCUSDT.WS.9", close=False)
    foreign = view("legacy-stop-1")
    diff = diff_orders(state, [view(cid), stale, foreign], [], frozenset(), 10)
    assert diff.stale == (stale,)
    assert diff.foreign == (foreign,)
    assert diff.missing_events == ()


def test_an_order_is_missing_only_when_two_reconciliations_in_a_row_miss_it() -> None:
    state, cid = adopted_state()
    first = diff_orders(state, [], [], frozenset(), 10)
    assert first.suspects == {cid}
    assert first.missing_events == ()
    second = diff_orders(state, [], [], first.suspects, 20)
    assert second.missing_events == (OrderCancelled(cid, 20),)
    seen_again = diff_orders(state, [view(cid)], [], first.suspects, 20)
    assert seen_again.suspects == frozenset() and seen_again.missing_events == ()


def test_an_order_still_in_the_gateway_is_neither_stale_nor_missing() -> None:
    state, cid = adopted_state()
    pending = OrderRequest(
        SYMBOL, cid, OrderSide.SELL, "STOP_MARKET", trigger_price=D(98), close_position=True
    )
    diff = diff_orders(state, [], [pending], frozenset({cid}), 10)
    assert diff.missing_events == () and diff.suspects == frozenset()


def test_a_position_without_a_closing_stop_is_naked() -> None:
    position = PositionView(SYMBOL, D("0.5"), D(100), 0)
    assert is_naked(position, [])
    assert is_naked(position, [view("tp", type_="LIMIT", close=False)])
    assert not is_naked(position, [view("someone-elses-stop")])
    short = PositionView(SYMBOL, D("-0.5"), D(100), 0)
    assert is_naked(short, [view("a-sell-stop")])  # a SELL stop does not close a short


def test_the_emergency_stop_rests_on_the_stop_side_of_the_mark() -> None:
    long = PositionView(SYMBOL, D("0.5"), D(100), 0)
    order = emergency_stop(long, FILTERS, D(2), D(100), 1_700_000_000_000)
    assert (order.type, order.side, order.trigger_price, order.close_position) == (
        "STOP_MARKET",
        OrderSide.SELL,
        D("98.0"),
        True,
    )
    past = emergency_stop(long, FILTERS, D(2), D("97.5"), 1)  # already through: one tick below
    assert past.trigger_price == D("97.4")
    short = emergency_stop(PositionView(SYMBOL, D(-1), D(100), 0), FILTERS, D(2), D(100), 2)
    assert (short.side, short.trigger_price) == (OrderSide.BUY, D("102.0"))
    assert order.client_order_id.startswith("xd.sn.BTCUSDT.SL.")
