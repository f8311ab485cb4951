"""SPEC-exits.md "Position changes, refusals and market orders", event by event.

A long of 1 at E = 100 (tick 0.1, step 0.001) is the running example: its HARD_SL is 98.0 (2 %),
its take-profits 101.0 and 102.0 for 0.5 each. Expected prices are worked out in comments.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exitd.engine import (
    BreakevenSpec,
    CancelOrder,
    Decision,
    ExitProfile,
    Fill,
    Leg,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderSide,
    OrderType,
    PlaceOrder,
    Position,
    PositionChanged,
    RejectReason,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    Timer,
    TrailSpec,
    adopt,
    build_plan,
    decide,
    decide_all,
    position_change,
    readopt,
)
from exitd.engine.state import FILL_GRACE_MS, NEVER_MS

SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))
TWO_TPS = (TakeProfitSpec(D(1), D("0.5")), TakeProfitSpec(D(2), D("0.5")))
BREAKEVEN = BreakevenSpec(offset_pct=D("0.5"), trigger_pct=D(1))
TRAIL = TrailSpec(callback_pct=D("0.5"), activation_pct=D(1))


def plan_for(profile, qty="1", entry="100", price=None, side=Side.LONG):
    position = Position(SYMBOL, side, D(qty), D(entry))
    return build_plan(position, FILTERS, profile, D(entry if price is None else price))


def places(requests, leg=None):
    return [
        r.intent
        for r in requests
        if isinstance(r, PlaceOrder) and (leg is None or r.intent.leg is leg)
    ]


def cancels(requests):
    return [r.client_order_id for r in requests if isinstance(r, CancelOrder)]


def events_of(decision):
    return [n.event for n in decision.notices]


def only(items):
    assert len(items) == 1, items
    return items[0]


class Run:
    """The engine's state and a clock; `settle` answers like an exchange that accepts all."""

    def __init__(self, profile, **plan_args):
        self.plan = plan_for(profile, **plan_args)
        self.t = 0
        self.last: Decision = adopt(self.plan, Tick(0, self.plan.adoption_price))
        self.state = self.last.state

    def send(self, *events) -> Decision:
        self.last = (
            decide(self.state, events[0]) if len(events) == 1 else decide_all(self.state, events)
        )
        self.state = self.last.state
        return self.last

    def at(self, dt=1_000) -> int:
        self.t += dt
        return self.t

    def tick(self, price) -> Decision:
        return self.send(Tick(self.at(), D(price)))

    def settle(self, decision=None) -> list:
        """Ack every place and confirm every cancel until quiet; all requests sent."""
        pending = list((decision or self.last).requests)
        sent = list(pending)
        while pending:
            request = pending.pop(0)
            if isinstance(request, PlaceOrder):
                event = OrderAccepted(request.intent.client_order_id, self.t)
            else:
                event = OrderCancelled(request.client_order_id, self.t)
            more = self.send(event).requests
            pending.extend(more)
            sent.extend(more)
        return sent

    def ids(self, leg, tp_number=0):
        return [o.intent.client_order_id for o in self.state.orders_of(leg, tp_number)]


# --- what a position update is ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "amount", "change"),
    [
        (Side.LONG, "1", "same"),
        (Side.LONG, "1.5", "increase"),
        (Side.LONG, "0.4", "decrease"),
        (Side.LONG, "0", "flat"),
        (Side.LONG, "-0.3", "flip"),
        (Side.SHORT, "-1", "same"),
        (Side.SHORT, "-2", "increase"),
        (Side.SHORT, "-0.5", "decrease"),
        (Side.SHORT, "0", "flat"),
        (Side.SHORT, "0.1", "flip"),
    ],
)
def test_position_change_names_what_an_update_is(side, amount, change):
    state = adopt(plan_for(ExitProfile(D(2)), side=side), Tick(0, D(100))).state
    assert position_change(state, D(amount)) == change


# --- an increase is a new adoption --------------------------------------------------------------


class TestReadoption:
    def _armed(self):
        run = Run(ExitProfile(D(2), take_profits=TWO_TPS, breakeven=BREAKEVEN))
        run.settle()
        run.tick("101.0")  # breakeven armed: the working stop at 100.5
        run.settle()
        assert run.state.working_stop.intent.trigger_price == D("100.5")
        return run

    def test_increase_replaces_the_old_orders_by_the_new_plans(self):
        run = self._armed()
        old = run.state
        old_ids = {o.intent.client_order_id for o in old.orders}
        (old_hard,) = run.ids(Leg.HARD_SL)
        old_tps = run.ids(Leg.TAKE_PROFIT, 1) + run.ids(Leg.TAKE_PROFIT, 2)
        (old_stop,) = run.ids(Leg.WORKING_STOP)
        # one more at 101: E = (100 + 101) / 2 = 100.5, Q0 = 2. HARD_SL 98.49 -> 98.5; TP1
        # 101.505 -> 101.5 and TP2 102.51 -> 102.5 for 1.0 each; breakeven arms at 101.505
        plan = plan_for(old.plan.profile, qty="2", entry="100.5", price="101.0")
        decision = readopt(old, plan, Tick(run.at(), D("101.0")))
        run.state, run.last = decision.state, decision
        assert events_of(decision)[0] == "plan.readopted"
        assert dict(decision.notices[0].detail)["old_entry"] == "100"
        assert dict(decision.notices[0].detail)["new_entry"] == "100.5"
        assert run.state.qty == D(2)
        assert not run.state.breakeven_armed  # every leg starts again
        # the old take-profits and the moved HARD_SL go at once; the old working stop stays
        assert sorted(cancels(decision.requests)) == sorted([old_hard, *old_tps])
        # TP1 fits beside the old targets still on their way out (1.0 + 1.0 <= 2), TP2 not yet
        tp1 = only(places(decision.requests))
        assert (tp1.label, tp1.price, tp1.quantity) == ("TP1", D("101.5"), D("1.0"))
        assert tp1.client_order_id not in old_ids
        # the new HARD_SL only once the old one is gone (-4130)
        hard = only(places(run.send(OrderCancelled(old_hard, run.t)).requests))
        assert (hard.leg, hard.trigger_price, hard.close_position) == (
            Leg.HARD_SL,
            D("98.5"),
            True,
        )
        assert places(run.send(OrderCancelled(old_tps[0], run.t)).requests) == []
        tp2 = only(places(run.send(OrderCancelled(old_tps[1], run.t)).requests))
        assert (tp2.label, tp2.quantity) == ("TP2", D("1.0"))
        # the old working stop covers the gap until the new HARD_SL rests
        assert cancels(run.send(OrderAccepted(tp1.client_order_id, run.t)).requests) == []
        assert cancels(run.send(OrderAccepted(hard.client_order_id, run.t)).requests) == [old_stop]
        seqs = [o.intent.client_order_id for o in run.state.orders]
        assert len(seqs) == len(set(seqs))

    def test_same_hard_stop_price_keeps_the_resting_hard_stop(self):
        run = Run(ExitProfile(D(2), take_profits=TWO_TPS))
        run.settle()
        (hard,) = run.ids(Leg.HARD_SL)
        plan = plan_for(run.plan.profile, qty="2", entry="100")  # the same E: HARD_SL 98.0
        decision = readopt(run.state, plan, Tick(run.at(), D(100)))
        assert hard not in cancels(decision.requests)
        assert places(decision.requests, Leg.HARD_SL) == []
        assert dict(decision.notices[0].detail)["hard_sl"] == "kept"
        assert run.state.next_seq <= decision.state.next_seq

    def test_new_working_stop_is_made_before_the_old_one_is_broken(self):
        profile = ExitProfile(D(2), breakeven=BreakevenSpec(D("-0.5"), trigger_pct=D(0)))
        run = Run(profile)  # working stop 99.5 at once
        run.settle()
        (old_stop,) = run.ids(Leg.WORKING_STOP)
        (old_hard,) = run.ids(Leg.HARD_SL)
        # E = 100.5, Q0 = 2: breakeven 100.5 * 0.995 = 99.9975 -> 100.0, armed at once
        plan = plan_for(profile, qty="2", entry="100.5", price="101")
        decision = readopt(run.state, plan, Tick(run.at(), D(101)))
        run.state, run.last = decision.state, decision
        stop = only(places(decision.requests, Leg.WORKING_STOP))
        assert (stop.trigger_price, stop.quantity) == (D("100.0"), D(2))
        assert cancels(decision.requests) == [old_hard]
        assert cancels(run.send(OrderAccepted(stop.client_order_id, run.t)).requests) == []
        hard = only(places(run.send(OrderCancelled(old_hard, run.t)).requests))
        assert cancels(run.send(OrderAccepted(hard.client_order_id, run.t)).requests) == [old_stop]

    def test_a_fill_of_an_old_take_profit_counts_for_no_new_target(self):
        run = Run(ExitProfile(D(2), take_profits=TWO_TPS))
        run.settle()
        (old_tp1,) = run.ids(Leg.TAKE_PROFIT, 1)
        plan = plan_for(run.plan.profile, qty="2", entry="100.5", price="101")
        decision = readopt(run.state, plan, Tick(run.at(), D(101)))
        run.state = decision.state
        run.send(Fill(old_tp1, D("0.5"), D("101.0"), run.at()))
        assert run.state.tps_done == frozenset()
        assert run.state.tp_filled == (D(0), D(0))
        assert run.state.order(old_tp1) is None


# --- a decrease no exit caused ------------------------------------------------------------------


def test_manual_reduce_cuts_the_farther_targets_so_their_sum_stays_within_q():
    run = Run(ExitProfile(D(2), take_profits=TWO_TPS))
    run.settle()
    (tp1,) = run.ids(Leg.TAKE_PROFIT, 1)
    (tp2,) = run.ids(Leg.TAKE_PROFIT, 2)
    assert cancels(run.send(PositionChanged(D("0.6"), run.at(1))).requests) == []
    decision = run.send(Timer(run.at(FILL_GRACE_MS)))  # no fill explained it
    assert cancels(decision.requests) == [tp2]  # TP1 keeps 0.5, TP2 only 0.1 of what is left
    again = only(places(run.send(OrderCancelled(tp2, run.t)).requests))
    assert (again.label, again.quantity) == ("TP2", D("0.1"))
    open_tps = sum(o.open_qty for o in run.state.orders if o.intent.leg is Leg.TAKE_PROFIT)
    assert open_tps == run.state.qty == D("0.6")
    assert run.state.order(tp1) is not None


# --- a flip closes the old position ---------------------------------------------------------------


def test_flip_leaves_the_old_plan_flat_and_the_new_side_is_adopted_with_fresh_ids():
    run = Run(ExitProfile(D(2), take_profits=TWO_TPS))
    run.settle()
    old_ids = {o.intent.client_order_id for o in run.state.orders}
    assert position_change(run.state, D("-0.4")) == "flip"
    decision = run.send(PositionChanged(D("-0.4"), run.at()))
    assert run.state.flat
    assert places(decision.requests) == []
    assert set(cancels(decision.requests)) == old_ids
    run.settle()
    assert run.state.done
    short = plan_for(ExitProfile(D(2), take_profits=TWO_TPS), qty="0.4", side=Side.SHORT)
    adopted = adopt(short, Tick(run.t, D(100)), first_seq=run.state.next_seq)
    new = places(adopted.requests)
    assert {i.side for i in new} == {OrderSide.BUY}
    assert not {i.client_order_id for i in new} & old_ids


# --- adopted past its own hard stop -------------------------------------------------------------


class TestBreachedAtAdoption:
    @pytest.mark.parametrize(
        ("side", "price"),
        [(Side.LONG, "97.9"), (Side.LONG, "98.0"), (Side.SHORT, "102.0"), (Side.SHORT, "103")],
    )
    def test_live_adoption_past_the_hard_stop_closes_at_market(self, side, price):
        plan = plan_for(ExitProfile(D(2), take_profits=TWO_TPS), side=side, price=price)
        decision = adopt(plan, Tick(0, D(price)), live=True)
        close = only(places(decision.requests))
        assert (close.leg, close.type, close.quantity, close.reduce_only) == (
            Leg.HARD_SL,
            OrderType.MARKET,
            D(1),
            True,
        )
        assert close.side is side.closing_side
        assert "hard_sl.breached_at_adoption" in events_of(decision)
        state = decide(decision.state, OrderAccepted(close.client_order_id, 1)).state
        amount = D(0)
        state = decide_all(
            state,
            (Fill(close.client_order_id, D(1), D(price), 2), PositionChanged(amount, 2)),
        ).state
        assert state.done

    def test_live_adoption_inside_the_hard_stop_places_the_stop(self):
        plan = plan_for(ExitProfile(D(2)), price="98.1")
        decision = adopt(plan, Tick(0, D("98.1")), live=True)
        assert only(places(decision.requests)).type is OrderType.STOP_MARKET

    def test_replay_adoption_never_closes_at_market(self):
        plan = plan_for(ExitProfile(D(2)), price="97.9")
        stop = only(places(adopt(plan, Tick(0, D("97.9"))).requests))
        assert (stop.type, stop.trigger_price) == (OrderType.STOP_MARKET, D("97.8"))


# --- refusals -----------------------------------------------------------------------------------


class TestRefusals:
    @pytest.mark.parametrize("reason", [RejectReason.FINAL, RejectReason.REDUCE_ONLY])
    def test_a_final_refusal_waits_for_the_position_to_change(self, reason):
        run = Run(ExitProfile(D(2), take_profits=TWO_TPS))
        tp1 = places(run.last.requests, Leg.TAKE_PROFIT)[0]
        decision = run.send(OrderRejected(tp1.client_order_id, reason, run.t, "-4164"))
        assert "exit_brain.order_rejected" in events_of(decision)
        assert run.state.deadline_ms == NEVER_MS
        assert places(run.send(Timer(run.at(600_000))).requests) == []
        assert places(run.send(PositionChanged(D(1), run.at())).requests) == []  # same Q
        # any other amount lifts it (a smaller one would leave TP1 no room beside TP2)
        again = only(places(run.send(PositionChanged(D("1.2"), run.at())).requests))
        assert again.label == "TP1"
        assert again.client_order_id != tp1.client_order_id

    def test_a_first_working_stop_refused_reduce_only_is_final_not_break_first(self):
        run = Run(ExitProfile(D(2), breakeven=BREAKEVEN))
        run.settle()
        stop = only(places(run.tick("101.0").requests))
        decision = run.send(OrderRejected(stop.client_order_id, RejectReason.REDUCE_ONLY, run.t))
        assert "working_stop.break_before_make" not in events_of(decision)
        assert not run.state.break_first
        assert places(run.send(Timer(run.at(120_000))).requests) == []

    def test_a_refused_hard_stop_says_so_at_once(self):
        run = Run(ExitProfile(D(2)))
        hard = only(places(run.last.requests))
        decision = run.send(OrderRejected(hard.client_order_id, RejectReason.FINAL, 5, "-1121"))
        refused = only([n for n in decision.notices if n.event == "hard_sl.refused"])
        assert dict(refused.detail) == {
            "reason": "final",
            "message": "-1121",
            "retry": "after_position_change",
        }
        again = only(places(run.send(PositionChanged(D("0.5"), run.at())).requests))
        decision = run.send(OrderRejected(again.client_order_id, RejectReason.OTHER, run.t))
        assert dict(decision.notices[-1].detail)["retry"] == "backoff"

    def test_a_hard_stop_through_the_price_closes_at_market_without_hard_sl_refused(self):
        run = Run(ExitProfile(D(2)))
        hard = only(places(run.last.requests))
        decision = run.send(OrderRejected(hard.client_order_id, RejectReason.WOULD_TRIGGER, 5))
        assert only(places(decision.requests)).type is OrderType.MARKET
        assert "hard_sl.refused" not in events_of(decision)


# --- make-before-break refused: cancel, then place ----------------------------------------------


class TestBreakBeforeMake:
    def _refused(self):
        run = Run(ExitProfile(D(2), trail=TRAIL))
        run.settle()
        first = only(places(run.tick("101.0").requests))  # 101 * 0.995 = 100.495 -> 100.5
        run.settle()
        second = only(places(run.tick("102.0").requests))  # 101.49 -> 101.5
        decision = run.send(
            OrderRejected(second.client_order_id, RejectReason.REDUCE_ONLY, run.t, "-2022")
        )
        return run, first, decision

    def test_a_refused_replacement_cancels_the_old_stop_first(self):
        run, first, decision = self._refused()
        assert "working_stop.break_before_make" in events_of(decision)
        assert cancels(decision.requests) == [first.client_order_id]
        assert places(decision.requests) == []
        assert run.state.stop_floor == D("100.5")
        new = only(places(run.send(OrderCancelled(first.client_order_id, run.t)).requests))
        assert (new.leg, new.trigger_price, new.quantity) == (Leg.WORKING_STOP, D("101.5"), D(1))

    def test_the_replacement_never_goes_below_the_cancelled_stop(self):
        run, first, _ = self._refused()
        # at 100.5 the trail's 101.5 would clamp to 100.4, below the cancelled 100.5
        run.tick("100.5")
        new = only(places(run.send(OrderCancelled(first.client_order_id, run.t)).requests))
        assert new.trigger_price == D("100.5")

    def test_later_moves_cancel_then_place_and_leave_the_hard_stop(self):
        run, _, _ = self._refused()
        sent = run.settle()
        (hard,) = run.ids(Leg.HARD_SL)
        current = run.state.working_stop.intent
        assert run.state.stop_floor is None  # the successor rests
        decision = run.tick("103.0")  # 102.485 -> 102.5
        assert cancels(decision.requests) == [current.client_order_id]
        assert places(decision.requests) == []
        sent += run.settle()
        assert run.state.working_stop.intent.trigger_price == D("102.5")
        assert hard not in cancels(sent)


# --- fills and position updates in either order -------------------------------------------------


def _take_profit_filled(events_in_order, together):
    run = Run(
        ExitProfile(D(2), take_profits=TWO_TPS, breakeven=BreakevenSpec(D(-1), trigger_pct=D(0)))
    )
    run.settle()
    requests = []
    for events in [events_in_order(run)] if together else [[e] for e in events_in_order(run)]:
        requests.extend(run.send(*events).requests)
    return run, requests


@pytest.mark.parametrize("fill_qty", ["0.5", "0.2"], ids=["full", "partial"])
def test_a_take_profit_fill_gives_the_same_requests_whichever_event_comes_first(fill_qty):
    def fill_first(run):
        (tp1,) = run.ids(Leg.TAKE_PROFIT, 1)
        t = run.at()
        return [Fill(tp1, D(fill_qty), D(101), t), PositionChanged(1 - D(fill_qty), t)]

    def position_first(run):
        return list(reversed(fill_first(run)))

    outcomes = [
        _take_profit_filled(order, together)
        for order in (fill_first, position_first)
        for together in (False, True)
    ]
    requests = [r for _, r in outcomes]
    assert all(r == requests[0] for r in requests), requests
    # the working stop follows Q; no take-profit is cancelled or placed
    assert [(r.intent.leg, r.intent.quantity) for r in requests[0]] == [
        (Leg.WORKING_STOP, 1 - D(fill_qty))
    ]
    states = [run.state for run, _ in outcomes]
    for state in states:
        assert state.orders == states[0].orders
        assert (state.qty, state.tp_filled, state.tps_done) == (
            states[0].qty,
            states[0].tp_filled,
            states[0].tps_done,
        )
    # and after the fill grace nothing is cut either
    for run, _ in outcomes:
        assert cancels(run.send(Timer(run.at(FILL_GRACE_MS))).requests) == []


def test_a_position_grown_during_a_time_close_has_the_rest_closed_once_that_close_fills():
    """The TIME leg's MARKET close covers the size it saw; an entry bot adds before it fills
    (a new adoption, its own time limit). Nothing more goes while that close is on its way;
    once it has filled, what is left is closed at market too."""
    profile = ExitProfile(hard_sl_pct=D(2), time_limit_s=1)
    start = adopt(plan_for(profile, qty="1"), Tick(0, D(100)))
    [hard_sl] = places(start.requests)
    state = decide(start.state, OrderAccepted(hard_sl.client_order_id, 0)).state
    timed = decide(state, Timer(1000))
    [close] = places(timed.requests, Leg.TIME)
    assert close.type is OrderType.MARKET and close.quantity == D(1)
    grown = readopt(timed.state, plan_for(profile, qty="2"), Tick(1000, D(100)))
    assert not places(grown.requests, Leg.TIME)  # its own close is on its way
    later = decide(grown.state, Timer(2000))  # the new adoption's limit, the close still out
    assert not places(later.requests)
    filled = decide_all(
        later.state,
        [Fill(close.client_order_id, D(1), D(100), 2000), PositionChanged(D(1), 2000)],
    )
    [rest] = places(filled.requests)
    assert rest.leg is Leg.TIME and rest.type is OrderType.MARKET and rest.quantity == D(1)
