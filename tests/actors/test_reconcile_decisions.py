"""The symbol actor's reconciliation decisions, without a loop: a start adopts or resumes,
fills the events lost are found in the exchange's totals and counted once, an order no
longer listed is read before it is called missing, and a late own order is told apart."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from exitd.actors.reconcile_view import (
    counted,
    diff_orders,
    ended_unseen,
    landed_late,
    leftovers,
    missed_fills,
    not_yet_counted,
    position_move,
    progress_of,
    start_decision,
)
from exitd.engine import (
    ExitProfile,
    ExitState,
    Fill,
    Leg,
    OrderAccepted,
    OrderCancelled,
    OrderSide,
    PlaceOrder,
    Position,
    PositionChanged,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    adopt,
    build_plan,
    decide_all,
    make_client_order_id,
    parse_client_order_id,
    progress,
)
from exitd.exchange.port import (
    MarkPrice,
    NotFound,
    OrderState,
    OrderUpdate,
    OrderView,
    PositionView,
    Unknown,
)

SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))
PROFILE = ExitProfile(hard_sl_pct=D(2), take_profits=(TakeProfitSpec(D(1), D("0.5")),))
MARK = MarkPrice(SYMBOL, D("100.5"), 50)


def plan():
    return build_plan(Position(SYMBOL, Side.LONG, D(1), D(100)), FILTERS, PROFILE, D(100))


def adopted() -> tuple[ExitState, str, str]:
    """A long of 1 at 100 with its HARD_SL and TP1 (0.5 at 101) resting."""
    decision = adopt(plan(), Tick(0, D(100)), first_seq=10)
    places = [r for r in decision.requests if isinstance(r, PlaceOrder)]
    by_leg = {p.intent.leg: p.intent.client_order_id for p in places}
    accepted = [OrderAccepted(cid, 1) for cid in by_leg.values()]
    return decide_all(decision.state, accepted).state, by_leg[Leg.HARD_SL], by_leg[Leg.TAKE_PROFIT]


def view(
    cid: str,
    *,
    filled: str = "0",
    qty: str | None = "0.5",
    state: OrderState = OrderState.NEW,
    price: str | None = "101",
) -> OrderView:
    return OrderView(
        SYMBOL, cid, "1", OrderSide.SELL, "LIMIT", state, False, None if qty is None else D(qty),
        D(filled), None if price is None else D(price), None, True, False, 40,
    )  # fmt: skip


def stop_view(cid: str, state: OrderState, filled: str = "0") -> OrderView:
    return OrderView(
        SYMBOL, cid, "2", OrderSide.SELL, "STOP_MARKET", state, True, None, D(filled), None,
        D(98), False, True, 40,
    )  # fmt: skip


def test_only_own_orders_of_a_closed_position_are_cancelled_at_start() -> None:
    own, foreign = view("xd.eb.BTCUSDT.TP1.3"), view("manual-tp")
    assert leftovers([own, foreign, view("xd.pm.BTCUSDT.SL.4")]) == (own,)


def test_a_snapshot_resumes_only_the_position_it_was_taken_of() -> None:
    saved = progress(adopted()[0])
    assert progress_of(saved, PositionView(SYMBOL, D("0.5"), D(100), 0)) is saved
    assert progress_of(saved, PositionView(SYMBOL, D(1), D("100.1"), 0)) is None
    assert progress_of(saved, PositionView(SYMBOL, D(-1), D(100), 0)) is None
    assert progress_of(None, PositionView(SYMBOL, D(1), D(100), 0)) is None


def test_a_start_with_nothing_left_adopts_and_places_every_leg_from_the_first_id() -> None:
    position = PositionView(SYMBOL, D(1), D(100), 0)
    decision = start_decision(plan(), None, (), position, Tick(5, D(100)), first_seq=700)
    places = [r for r in decision.requests if isinstance(r, PlaceOrder)]
    assert sorted(p.intent.leg.value for p in places) == ["HARD_SL", "TP"]
    seqs = [ref.seq for p in places if (ref := parse_client_order_id(p.intent.client_order_id))]
    assert sorted(seqs) == [700, 701]
    assert decision.state.next_seq == 702


def test_a_start_re_attaches_what_rests_and_hands_out_ids_above_earlier_lives() -> None:
    state, _, _ = adopted()
    position = PositionView(SYMBOL, D(1), D(100), 0)
    resting = [o.intent for o in state.orders]
    saved = replace(progress(state), next_seq=3)
    decision = start_decision(plan(), saved, resting, position, Tick(5, D(100)), first_seq=900)
    assert not [r for r in decision.requests if isinstance(r, PlaceOrder)]
    assert {o.intent.client_order_id for o in decision.state.orders} == {
        i.client_order_id for i in resting
    }
    assert decision.state.next_seq == 900


def test_a_position_at_another_entry_is_adopted_anew_whatever_its_size() -> None:
    state, _, _ = adopted()
    at = PositionView(SYMBOL, D(1), D(100), 0)
    assert position_move(state, at) == "same"
    assert position_move(state, replace(at, amount=D("0.5"))) == "decrease"
    assert position_move(state, replace(at, amount=D(2))) == "increase"
    assert position_move(state, replace(at, amount=D(0))) == "flat"
    assert position_move(state, replace(at, amount=D(-1))) == "flip"
    assert position_move(state, replace(at, entry_price=D(105))) == "increase"
    assert position_move(state, replace(at, amount=D("0.5"), entry_price=D(105))) == "increase"
    assert position_move(state, replace(at, amount=D(0), entry_price=D(0))) == "flat"


def test_what_the_engine_counts_is_in_the_exchanges_cumulative_terms() -> None:
    state, hard_sl, tp = adopted()
    assert counted(view("manual-tp"), (state,), ()) is None
    assert counted(stop_view(hard_sl, OrderState.NEW), (state,), ()) is None  # no quantity
    assert counted(view(tp), (None, state), ()) == D(0)
    held = (Fill(tp, D("0.2"), D(101), 30), Fill("other", D(1), D(1), 30), PositionChanged(D(1), 9))
    assert counted(view(tp), (state,), held) == D("0.2")
    # A resumed order's intent is what was open: the exchange's total counts from its quantity.
    assert counted(view(tp, qty="0.8"), (state,), held) == D("0.5")


def test_a_fill_reconciliation_counted_already_counts_once() -> None:
    state, _, tp = adopted()
    update = OrderUpdate(view(tp, filled="0.3"), D("0.3"), D(101), 77, 60)
    assert not_yet_counted(update, D("0.2")).last_fill_qty == D("0.1")
    assert not_yet_counted(update, D("0.3")).last_fill_qty == D(0)
    assert not_yet_counted(update, D("0.4")).last_fill_qty == D(0)
    assert not_yet_counted(update, None) is update
    assert not_yet_counted(replace(update, last_fill_qty=D(0)), D("0.1")).last_fill_qty == D(0)
    assert counted(view(tp), (state,), ()) == D(0)


def test_fills_with_their_events_lost_are_found_in_the_exchanges_totals() -> None:
    state, hard_sl, tp = adopted()
    orders = [view(tp, filled="0.3"), stop_view(hard_sl, OrderState.NEW), view("manual-tp")]
    assert missed_fills(orders, (state,), (), MARK, 90) == (Fill(tp, D("0.3"), D(101), 90),)
    held = (Fill(tp, D("0.1"), D(101), 20),)
    assert missed_fills(orders, (state,), held, MARK, 90) == (Fill(tp, D("0.2"), D(101), 90),)
    all_held = (Fill(tp, D("0.3"), D(1), 1),)
    assert missed_fills([view(tp, filled="0.3")], (state,), all_held, MARK, 9) == ()
    # The same order listed twice counts its fill once; with no price, the mark's.
    twice = [view(tp, filled="0.3", price=None)] * 2
    assert missed_fills(twice, (state,), (), MARK, 90) == (Fill(tp, D("0.3"), MARK.price, 90),)
    assert missed_fills(twice, (state,), (), None, 90) == (Fill(tp, D("0.3"), D(0), 90),)


def test_an_order_no_longer_listed_counts_as_ended_only_when_the_read_shows_it() -> None:
    state, hard_sl, tp = adopted()
    tracked_tp, tracked_sl = state.order(tp), state.order(hard_sl)
    assert tracked_tp is not None and tracked_sl is not None
    assert ended_unseen(tracked_tp, NotFound(), MARK) is None
    assert ended_unseen(tracked_tp, Unknown("timeout"), MARK) is None
    assert ended_unseen(tracked_tp, view(tp, filled="0.2"), MARK) is None  # still open
    filled = view(tp, filled="0.5", state=OrderState.FILLED)
    update = ended_unseen(tracked_tp, filled, MARK)
    assert update == OrderUpdate(filled, D("0.5"), D(101), None, 40)
    fired = stop_view(hard_sl, OrderState.FINISHED)
    assert ended_unseen(tracked_sl, fired, MARK) == OrderUpdate(fired, D(0), D(98), None, 40)
    cancelled = view(tp, state=OrderState.CANCELED, price=None)
    assert ended_unseen(tracked_tp, cancelled, None) == OrderUpdate(cancelled, D(0), D(0), None, 40)


def test_an_own_order_an_earlier_run_sent_and_this_plan_does_not_track_landed_late() -> None:
    state, hard_sl, _ = adopted()
    earlier, later = (make_client_order_id("eb", SYMBOL, Leg.WORKING_STOP, n) for n in (9, 10))
    assert landed_late(earlier, state, (), earlier_lives_below=10)
    assert not landed_late(later, state, (), earlier_lives_below=10)
    assert not landed_late(hard_sl, state, (), earlier_lives_below=100)
    assert not landed_late(earlier, None, (), earlier_lives_below=10)
    assert not landed_late("xd.pm.BTCUSDT.SL.4", state, (), earlier_lives_below=10)
    assert not landed_late("manual-1", state, (), earlier_lives_below=10)
    retiring = replace(state, orders=())
    assert not landed_late(hard_sl, retiring, (state,), earlier_lives_below=100)


def test_orders_not_listed_are_read_first_and_those_found_ended_are_not_missing() -> None:
    state, hard_sl, tp = adopted()
    first = diff_orders(state, [], [], frozenset(), 10)
    assert first.absent == {hard_sl, tp} and first.missing(frozenset()) == []
    second = diff_orders(state, [], [], frozenset({hard_sl, tp}), 20)
    assert second.absent == {hard_sl, tp}
    assert second.missing(frozenset({tp})) == [OrderCancelled(hard_sl, 20)]
    assert second.missing(frozenset()) == [OrderCancelled(hard_sl, 20), OrderCancelled(tp, 20)]
