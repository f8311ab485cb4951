"""The exit brain, event by event, against SPEC-exits.md.

A long of 1 at E = 100 (tick 0.1, step 0.001) is the running example unless a test says
otherwise: its HARD_SL is 98.0 (2 %). Every expected price is worked out by hand in a comment.
The engine never assumes an order placed until OrderAccepted, so the tests ack explicitly.
"""

from __future__ import annotations

import re
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
    OrderStatus,
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
    TrailMode,
    TrailSpec,
    adopt,
    build_plan,
    decide,
    decide_all,
)
from exitd.engine.state import FILL_GRACE_MS

SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

BREAKEVEN = BreakevenSpec(offset_pct=D("0.5"), trigger_pct=D(1))
TRAIL = TrailSpec(callback_pct=D("0.5"), activation_pct=D(1))
TWO_TPS = (TakeProfitSpec(D(1), D("0.5")), TakeProfitSpec(D(2), D("0.5")))


def places(requests, leg=None):
    return [
        r.intent
        for r in requests
        if isinstance(r, PlaceOrder) and (leg is None or r.intent.leg is leg)
    ]


def cancels(requests):
    return [r.client_order_id for r in requests if isinstance(r, CancelOrder)]


class Driver:
    """Feeds events to the engine and keeps its state; `t` is the clock in ms."""

    def __init__(self, profile, *, side=Side.LONG, qty="1", entry="100", price=None, t=0):
        price = D(entry if price is None else price)
        position = Position(SYMBOL, side, D(qty), D(entry))
        self.plan = build_plan(position, FILTERS, profile, price)
        self.t = t
        self.adoption = adopt(self.plan, Tick(t, price))
        self.state = self.adoption.state
        self.last: Decision = self.adoption

    def send(self, *events) -> Decision:
        if len(events) == 1:
            decision = decide(self.state, events[0])
        else:
            decision = decide_all(self.state, events)
        self.state = decision.state
        self.last = decision
        return decision

    def at(self, t=None) -> int:
        self.t = self.t + 1000 if t is None else t
        return self.t

    def tick(self, price, t=None) -> Decision:
        return self.send(Tick(self.at(t), D(price)))

    def timer(self, t) -> Decision:
        return self.send(Timer(self.at(t)))

    def ack(self, decision=None) -> tuple:
        """Accept every order `decision` (default: the last one) placed; all requests that
        follow from the acks, in order."""
        decision = self.last if decision is None else decision
        out = []
        for intent in places(decision.requests):
            out.extend(self.send(OrderAccepted(intent.client_order_id, self.t)).requests)
        return tuple(out)

    def settle(self) -> None:
        """Ack every place and confirm every cancel until the engine asks for nothing more."""
        pending = list(self.last.requests)
        while pending:
            request = pending.pop(0)
            if isinstance(request, PlaceOrder):
                event = OrderAccepted(request.intent.client_order_id, self.t)
            else:
                event = OrderCancelled(request.client_order_id, self.t)
            pending.extend(self.send(event).requests)

    def fill(self, intent, qty, price, position, t=None) -> Decision:
        """A fill of `intent` reported with the position after it and the tick it happened on
        (SPEC: the brain sees the tick's fills and its price together)."""
        t = self.at(t)
        sign = self.plan.side.sign
        return self.send(
            Fill(intent.client_order_id, D(qty), D(price), t),
            PositionChanged(sign * D(position), t),
            Tick(t, D(price)),
        )

    def live(self, leg, tp_number=0):
        return [o for o in self.state.orders_of(leg, tp_number) if o.active]

    def working_stop_trigger(self):
        stop = self.state.working_stop
        return None if stop is None else stop.intent.trigger_price


def only(intents):
    assert len(intents) == 1, intents
    return intents[0]


# --- adoption -----------------------------------------------------------------------------------


class TestAdoption:
    def test_long_adoption_places_a_close_position_hard_stop_at_pct_price(self):
        run = Driver(ExitProfile(D(2)))
        stop = only(places(run.adoption.requests))
        assert stop.leg is Leg.HARD_SL
        assert stop.type is OrderType.STOP_MARKET
        assert stop.side is OrderSide.SELL
        assert stop.close_position is True
        assert stop.quantity is None
        assert stop.trigger_price == D("98.0")
        assert CLIENT_ID.match(stop.client_order_id)

    def test_short_adoption_places_a_buy_hard_stop_above_the_entry(self):
        run = Driver(ExitProfile(D(2)), side=Side.SHORT)
        stop = only(places(run.adoption.requests))
        assert (stop.side, stop.trigger_price, stop.close_position) == (
            OrderSide.BUY,
            D("102.0"),
            True,
        )

    def test_adoption_places_each_take_profit_as_a_reduce_only_limit(self):
        run = Driver(ExitProfile(D(2), take_profits=TWO_TPS))
        tps = places(run.adoption.requests, Leg.TAKE_PROFIT)
        assert [(t.label, t.type, t.side, t.price, t.quantity, t.reduce_only) for t in tps] == [
            ("TP1", OrderType.LIMIT, OrderSide.SELL, D("101.0"), D("0.5"), True),
            ("TP2", OrderType.LIMIT, OrderSide.SELL, D("102.0"), D("0.5"), True),
        ]

    def test_orders_are_pending_until_accepted_and_never_sent_twice(self):
        run = Driver(ExitProfile(D(2), take_profits=TWO_TPS))
        assert {o.status for o in run.state.orders} == {OrderStatus.PENDING_NEW}
        assert run.tick("100.2").requests == ()
        assert run.tick("99.5").requests == ()
        run.ack(run.adoption)
        assert {o.status for o in run.state.orders} == {OrderStatus.LIVE}

    def test_adoption_reports_the_plans_own_notices(self):
        profile = ExitProfile(
            D(2), take_profits=(TakeProfitSpec(D(1), D("0.0004")), TakeProfitSpec(D(2), D("0.5")))
        )
        run = Driver(profile)  # 0.0004 * 1 = 0.0004 -> 0 < minQty: merged into TP2
        assert "exit_plan.take_profit_merged" in [n.event for n in run.adoption.notices]
        assert [t.label for t in places(run.adoption.requests, Leg.TAKE_PROFIT)] == ["TP2"]


# --- breakeven ----------------------------------------------------------------------------------


class TestBreakeven:
    def test_breakeven_arms_when_the_excursion_reaches_its_trigger(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN))
        run.ack(run.adoption)
        assert run.tick("100.9").requests == ()  # mfe 0.9 % < 1 %
        stop = only(places(run.tick("101.0").requests))  # mfe 1 %: armed
        assert stop.leg is Leg.WORKING_STOP
        assert stop.type is OrderType.STOP_MARKET
        assert (stop.side, stop.trigger_price, stop.quantity) == (OrderSide.SELL, D("100.5"), D(1))
        assert stop.reduce_only is True
        assert stop.close_position is False

    def test_short_breakeven_arms_below_the_entry(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN), side=Side.SHORT)
        run.ack(run.adoption)
        assert run.tick("99.1").requests == ()
        stop = only(places(run.tick("99.0").requests))
        assert (stop.side, stop.trigger_price, stop.quantity) == (OrderSide.BUY, D("99.5"), D(1))

    def test_breakeven_arms_once_and_stays_when_the_price_falls_back(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN))
        run.ack(run.adoption)
        run.tick("101.2")
        run.ack()
        for price in ("100.7", "100.6", "100.9", "101.1"):
            assert run.tick(price).requests == ()
        assert run.state.breakeven_armed
        assert run.working_stop_trigger() == D("100.5")

    def test_breakeven_arms_when_its_take_profit_has_filled(self):
        profile = ExitProfile(
            D(2), take_profits=TWO_TPS, breakeven=BreakevenSpec(D("0.5"), after_tp=1)
        )
        run = Driver(profile)
        run.ack(run.adoption)
        assert places(run.tick("100.9").requests) == []
        tp1 = run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent
        decision = run.fill(tp1, "0.5", "101.0", position="0.5")
        stop = only(places(decision.requests))
        # the working stop covers what is left: Q = 0.5
        assert (stop.leg, stop.trigger_price, stop.quantity) == (
            Leg.WORKING_STOP,
            D("100.5"),
            D("0.5"),
        )

    def test_breakeven_by_take_profit_arms_when_a_farther_target_absorbed_it(self):
        # TP1's 0.0004 cannot stand (minQty 0.001) and goes to TP2: TP2's fill arms after_tp=1.
        profile = ExitProfile(
            D(2),
            take_profits=(TakeProfitSpec(D(1), D("0.0004")), TakeProfitSpec(D(2), D("0.5"))),
            breakeven=BreakevenSpec(D("0.5"), after_tp=1),
        )
        run = Driver(profile)
        run.ack(run.adoption)
        tp2 = run.state.orders_of(Leg.TAKE_PROFIT, 2)[0].intent
        assert tp2.quantity == D("0.5")  # round_down(0.5004 * 1, 0.001)
        stop = only(places(run.fill(tp2, "0.5", "102.0", position="0.5").requests))
        assert stop.trigger_price == D("100.5")

    def test_breakeven_with_zero_trigger_arms_on_the_adoption_tick(self):
        run = Driver(ExitProfile(D(2), breakeven=BreakevenSpec(D("-0.5"), trigger_pct=D(0))))
        stops = places(run.adoption.requests)
        assert [(s.leg, s.trigger_price) for s in stops] == [
            (Leg.HARD_SL, D("98.0")),
            (Leg.WORKING_STOP, D("99.5")),
        ]

    def test_breakeven_price_rounds_half_a_tick_away_from_zero(self):
        # E = 123.45: offset 0.3 % -> 123.82035 -> 123.8; trigger 1 % -> 124.6845
        profile = ExitProfile(D(2), breakeven=BreakevenSpec(D("0.3"), trigger_pct=D(1)))
        run = Driver(profile, entry="123.45")
        run.ack(run.adoption)
        assert run.tick("124.6").requests == ()
        assert only(places(run.tick("124.7").requests)).trigger_price == D("123.8")

    def test_long_breakeven_rounding_onto_the_tick_price_moves_one_tick_below_it(self):
        # offset 0.96 % -> 100.96 -> 101.0, which is p = 101.0 on the arming tick -> 100.9
        profile = ExitProfile(D(2), breakeven=BreakevenSpec(D("0.96"), trigger_pct=D(1)))
        run = Driver(profile)
        run.ack(run.adoption)
        assert only(places(run.tick("101.0").requests)).trigger_price == D("100.9")

    def test_short_breakeven_rounding_onto_the_tick_price_moves_one_tick_above_it(self):
        # offset 0.96 % -> 99.04 -> 99.0 = p -> 99.1
        profile = ExitProfile(D(2), breakeven=BreakevenSpec(D("0.96"), trigger_pct=D(1)))
        run = Driver(profile, side=Side.SHORT)
        run.ack(run.adoption)
        assert only(places(run.tick("99.0").requests)).trigger_price == D("99.1")

    def test_breakeven_below_the_hard_stop_never_places_a_working_stop(self):
        # offset -3 % -> 97.0, looser than the HARD_SL at 98.0
        run = Driver(ExitProfile(D(2), breakeven=BreakevenSpec(D(-3), trigger_pct=D(0))))
        assert places(run.adoption.requests, Leg.WORKING_STOP) == []
        run.ack(run.adoption)
        for price in ("101", "105", "99"):
            assert places(run.tick(price).requests) == []
        assert run.state.breakeven_armed


# --- trail --------------------------------------------------------------------------------------


class TestTrail:
    def test_trail_arms_at_activation_with_the_arming_tick_as_the_extreme(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL))
        run.ack(run.adoption)
        assert run.tick("100.9").requests == ()
        # extreme 101.0: 101 * 0.995 = 100.495 -> 100.5 (half a tick away from zero)
        stop = only(places(run.tick("101.0").requests))
        assert (stop.leg, stop.trigger_price, stop.quantity) == (
            Leg.WORKING_STOP,
            D("100.5"),
            D(1),
        )

    def test_trail_extreme_is_the_arming_tick_even_when_it_jumps_past_activation(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL))
        run.ack(run.adoption)
        # the extreme is 103.0, not the activation level 101: 103 * 0.995 = 102.485 -> 102.5
        assert only(places(run.tick("103.0").requests)).trigger_price == D("102.5")

    def test_trail_ratchets_with_the_extreme(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL))
        run.ack(run.adoption)
        run.tick("101.0")
        run.ack()
        # 102 * 0.995 = 101.49 -> 101.5
        assert only(places(run.tick("102.0").requests)).trigger_price == D("101.5")
        run.settle()
        # 102.7 * 0.995 = 102.1865 -> 102.2
        assert only(places(run.tick("102.7").requests)).trigger_price == D("102.2")

    def test_short_trail_ratchets_down(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL), side=Side.SHORT)
        run.ack(run.adoption)
        # 99 * 1.005 = 99.495 -> 99.5; then 98 * 1.005 = 98.49 -> 98.5
        assert only(places(run.tick("99.0").requests)).trigger_price == D("99.5")
        run.settle()
        assert only(places(run.tick("98.0").requests)).trigger_price == D("98.5")

    def test_working_stop_never_loosens_when_price_falls_back(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL))
        run.ack(run.adoption)
        run.tick("102.0")
        run.settle()
        assert run.working_stop_trigger() == D("101.5")
        for price in ("101.9", "101.6", "101.0", "100.0", "98.5", "101.99"):
            assert run.tick(price).requests == ()
            assert run.working_stop_trigger() == D("101.5")

    def test_short_working_stop_never_loosens_when_price_rises_back(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL), side=Side.SHORT)
        run.ack(run.adoption)
        run.tick("98.0")
        run.settle()
        for price in ("98.1", "98.4", "99.5", "101"):
            assert run.tick(price).requests == ()
        assert run.working_stop_trigger() == D("98.5")

    def test_trail_with_zero_activation_arms_at_adoption_from_the_adoption_price(self):
        trail = TrailSpec(D("0.5"), activation_pct=D(0))
        run = Driver(ExitProfile(D(2), trail=trail))
        # extreme = 100: 99.5
        assert [s.trigger_price for s in places(run.adoption.requests, Leg.WORKING_STOP)] == [
            D("99.5")
        ]

    def test_trail_arms_after_its_take_profit_with_that_tick_as_extreme(self):
        profile = ExitProfile(D(2), take_profits=TWO_TPS, trail=TrailSpec(D("0.5"), after_tp=1))
        run = Driver(profile)
        run.ack(run.adoption)
        assert run.tick("101.5").requests == ()  # TP1 not filled yet
        tp1 = run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent
        # 101.2 * 0.995 = 100.694 -> 100.7, for Q = 0.5
        stop = only(places(run.fill(tp1, "0.5", "101.2", position="0.5").requests))
        assert (stop.trigger_price, stop.quantity) == (D("100.7"), D("0.5"))

    def test_replacement_below_min_step_is_not_sent(self):
        # callback 1 %, min_step 1 %: the first stop is 101 * 0.99 = 99.99 -> 100.0
        trail = TrailSpec(D(1), activation_pct=D(1), min_step_pct=D(1))
        run = Driver(ExitProfile(D(2), trail=trail))
        run.ack(run.adoption)
        assert only(places(run.tick("101.0").requests)).trigger_price == D("100.0")
        run.ack()
        # 101.96 * 0.99 = 100.9404 -> 100.9: +0.9 < 1 % of 100.0
        assert run.tick("101.96").requests == ()
        # 101.97 * 0.99 = 100.9503 -> 101.0: +1.0, exactly 1 % of 100.0: sent
        assert only(places(run.tick("101.97").requests)).trigger_price == D("101.0")

    def test_breakeven_arming_replaces_the_stop_only_by_min_step(self):
        # trail armed at adoption: 100 * 0.99 = 99.0. Breakeven -0.5 % = 99.5 arms at 0.5 %:
        # +0.5 is under 1 % of 99.0, so the resting stop stays.
        profile = ExitProfile(
            D(2),
            breakeven=BreakevenSpec(D("-0.5"), trigger_pct=D("0.5")),
            trail=TrailSpec(D(1), activation_pct=D(0), min_step_pct=D(1)),
        )
        run = Driver(profile)
        assert places(run.adoption.requests, Leg.WORKING_STOP)[0].trigger_price == D("99.0")
        run.ack(run.adoption)
        assert run.tick("100.5").requests == ()
        assert run.state.breakeven_armed
        assert run.working_stop_trigger() == D("99.0")

    def test_long_trail_tighter_than_a_tick_stays_strictly_below_the_price(self):
        trail = TrailSpec(D("0.01"), activation_pct=D(1))
        run = Driver(ExitProfile(D(2), trail=trail))
        run.ack(run.adoption)
        # on grid: 101 * 0.9999 = 100.9899 -> 101.0 = p -> 100.9
        assert only(places(run.tick("101.0").requests)).trigger_price == D("100.9")
        run.ack()
        # off grid: 101.07 * 0.9999 = 101.059893 -> 101.1 > p -> the tick below 101.07: 101.0
        assert only(places(run.tick("101.07").requests)).trigger_price == D("101.0")

    def test_short_trail_tighter_than_a_tick_stays_strictly_above_the_price(self):
        trail = TrailSpec(D("0.01"), activation_pct=D(1))
        run = Driver(ExitProfile(D(2), trail=trail), side=Side.SHORT)
        run.ack(run.adoption)
        # 99 * 1.0001 = 99.0099 -> 99.0 = p -> 99.1
        assert only(places(run.tick("99.0").requests)).trigger_price == D("99.1")
        run.ack()
        # 98.93 * 1.0001 = 98.939893 -> 98.9 < p -> the tick above 98.93: 99.0
        assert only(places(run.tick("98.93").requests)).trigger_price == D("99.0")

    def test_trail_stop_exists_only_while_more_protective_than_the_hard_stop(self):
        # callback 2 %, armed at adoption: 100 * 0.98 = 98.0, equal to the HARD_SL: no stop.
        trail = TrailSpec(D(2), activation_pct=D(0))
        run = Driver(ExitProfile(D(2), trail=trail))
        assert places(run.adoption.requests, Leg.WORKING_STOP) == []
        run.ack(run.adoption)
        # 100.1 * 0.98 = 98.098 -> 98.1 > 98.0: now it is placed
        assert only(places(run.tick("100.1").requests)).trigger_price == D("98.1")

    def test_short_trail_stop_exists_only_while_more_protective_than_the_hard_stop(self):
        trail = TrailSpec(D(2), activation_pct=D(0))
        run = Driver(ExitProfile(D(2), trail=trail), side=Side.SHORT)
        assert places(run.adoption.requests, Leg.WORKING_STOP) == []
        run.ack(run.adoption)
        # 99.9 * 1.02 = 101.898 -> 101.9 < 102.0
        assert only(places(run.tick("99.9").requests)).trigger_price == D("101.9")

    def test_working_stop_is_the_more_protective_of_breakeven_and_trail(self):
        profile = ExitProfile(D(2), breakeven=BREAKEVEN, trail=TrailSpec(D(2), activation_pct=D(1)))
        run = Driver(profile)
        run.ack(run.adoption)
        # at 101: breakeven 100.5, trail 101 * 0.98 = 98.98 -> breakeven wins
        assert only(places(run.tick("101.0").requests)).trigger_price == D("100.5")
        run.settle()
        # at 103: trail 103 * 0.98 = 100.94 -> 100.9, now above the breakeven's 100.5
        assert only(places(run.tick("103.0").requests)).trigger_price == D("100.9")


# --- make-before-break --------------------------------------------------------------------------


class TestMakeBeforeBreak:
    def _trailing(self):
        run = Driver(ExitProfile(D(2), trail=TRAIL))
        run.ack(run.adoption)
        first = only(places(run.tick("101.0").requests))  # 100.5
        run.ack()
        return run, first

    def test_new_stop_is_placed_before_the_old_one_is_cancelled(self):
        run, first = self._trailing()
        decision = run.tick("102.0")
        second = only(places(decision.requests))
        assert cancels(decision.requests) == []
        assert [o.intent.client_order_id for o in run.live(Leg.WORKING_STOP)] == [
            first.client_order_id,
            second.client_order_id,
        ]
        # only once the new stop is accepted is the old one cancelled
        assert run.ack() == (
            CancelOrder(first.client_order_id, SYMBOL, Leg.WORKING_STOP, conditional=True),
        )
        assert run.send(OrderCancelled(first.client_order_id, run.t)).requests == ()
        assert [o.intent.client_order_id for o in run.live(Leg.WORKING_STOP)] == [
            second.client_order_id
        ]

    def test_no_further_replacement_while_the_new_stop_awaits_its_ack(self):
        run, first = self._trailing()
        second = only(places(run.tick("102.0").requests))
        assert run.tick("103.0").requests == ()
        assert run.tick("103.5").requests == ()
        # the ack of the second cancels the first. A third, at 103.5 * 0.995 = 102.9825 ->
        # 103.0, comes with that ack or once the first is gone (the SPEC leaves when open;
        # the engine waits, to hold one spare conditional slot at most)
        on_ack = run.send(OrderAccepted(second.client_order_id, run.t)).requests
        assert cancels(on_ack) == [first.client_order_id]
        on_cancel = run.send(OrderCancelled(first.client_order_id, run.t)).requests
        third = only(places(on_ack + on_cancel))
        assert third.trigger_price == D("103.0")
        # and the second stays until the third is accepted
        assert cancels(on_cancel) == []
        assert second.client_order_id in [
            o.intent.client_order_id for o in run.live(Leg.WORKING_STOP)
        ]
        assert cancels(run.send(OrderAccepted(third.client_order_id, run.t)).requests) == [
            second.client_order_id
        ]

    def test_rejected_replacement_leaves_the_old_stop_in_place(self):
        run, first = self._trailing()
        second = only(places(run.tick("102.0").requests))
        rejected = run.send(OrderRejected(second.client_order_id, RejectReason.OTHER, run.t))
        assert rejected.requests == ()
        assert [o.intent.client_order_id for o in run.live(Leg.WORKING_STOP)] == [
            first.client_order_id
        ]
        assert run.state.working_stop.status is OrderStatus.LIVE

    def test_hard_stop_is_never_cancelled_by_working_stop_replacements(self):
        run, _ = self._trailing()
        sent = []
        for price in ("101.5", "102", "102.5", "103", "104", "103", "105"):
            sent.extend(run.tick(price).requests)
            run.settle()
            sent.extend(run.last.requests)
        hard = run.state.orders_of(Leg.HARD_SL)[0].intent.client_order_id
        assert hard not in cancels(sent)
        assert len(run.state.orders_of(Leg.HARD_SL)) == 1


# --- quantity follows Q -------------------------------------------------------------------------


class TestQuantityFollowsPosition:
    PROFILE = ExitProfile(
        D(2), take_profits=TWO_TPS, breakeven=BreakevenSpec(D("-0.5"), trigger_pct=D(0))
    )

    def _run(self):
        run = Driver(self.PROFILE)
        run.settle()
        assert run.working_stop_trigger() == D("99.5")
        return run

    def test_working_stop_quantity_follows_q_after_a_take_profit_fill(self):
        run = self._run()
        old = run.state.working_stop.intent
        tp1 = run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent
        decision = run.fill(tp1, "0.5", "101.0", position="0.5")
        new = only(places(decision.requests))
        assert (new.leg, new.trigger_price, new.quantity) == (Leg.WORKING_STOP, D("99.5"), D("0.5"))
        assert cancels(decision.requests) == []
        assert cancels(run.ack()) == [old.client_order_id]

    def test_working_stop_quantity_follows_a_manual_reduce(self):
        run = self._run()
        decision = run.send(PositionChanged(D("0.3"), run.at()))
        stop = only(places(decision.requests, Leg.WORKING_STOP))
        assert (stop.trigger_price, stop.quantity) == (D("99.5"), D("0.3"))

    def test_working_stop_quantity_follows_a_manual_add(self):
        run = self._run()
        decision = run.send(PositionChanged(D("1.5"), run.at()))
        stop = only(places(decision.requests, Leg.WORKING_STOP))
        assert (stop.trigger_price, stop.quantity) == (D("99.5"), D("1.5"))
        assert places(decision.requests, Leg.TAKE_PROFIT) == []  # TPs stay sized on Q0

    def test_take_profits_shrink_to_fit_q_after_a_manual_reduce(self):
        run = self._run()
        tp1, tp2 = (run.state.orders_of(Leg.TAKE_PROFIT, n)[0].intent for n in (1, 2))
        decision = run.send(PositionChanged(D("0.3"), run.at()))
        # a take-profit's fill may explain the shrink: nothing is cut for the fill grace
        assert cancels(decision.requests) == []
        assert run.timer(run.t + FILL_GRACE_MS - 1).requests == ()
        decision = run.timer(run.t + 1)
        # TP1 may keep 0.3 of Q = 0.3, TP2 nothing: both are cancelled, nothing placed yet
        assert sorted(cancels(decision.requests)) == sorted(
            [tp1.client_order_id, tp2.client_order_id]
        )
        assert places(decision.requests, Leg.TAKE_PROFIT) == []
        # TP1 comes back at 0.3 only once nothing else can still fill beyond Q
        assert places(run.send(OrderCancelled(tp1.client_order_id, run.t)).requests) == []
        again = only(places(run.send(OrderCancelled(tp2.client_order_id, run.t)).requests))
        assert (again.label, again.quantity, again.price) == ("TP1", D("0.3"), D("101.0"))

    def test_partly_filled_take_profit_keeps_only_its_remainder(self):
        run = self._run()
        tp1 = run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent
        decision = run.fill(tp1, "0.2", "101.0", position="0.8")
        assert places(decision.requests, Leg.TAKE_PROFIT) == []
        assert run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].open_qty == D("0.3")
        # and the working stop follows Q = 0.8
        assert only(places(decision.requests, Leg.WORKING_STOP)).quantity == D("0.8")


# --- flat ---------------------------------------------------------------------------------------


class TestFlat:
    PROFILE = ExitProfile(D(2), take_profits=TWO_TPS, breakeven=BREAKEVEN)

    def _armed(self, side=Side.LONG):
        run = Driver(self.PROFILE, side=side)
        run.settle()
        run.tick("101.0" if side is Side.LONG else "99.0")
        run.settle()
        assert run.state.working_stop is not None
        return run

    @pytest.mark.parametrize(
        ("side", "amount"),
        [(Side.LONG, "0"), (Side.LONG, "-0.5"), (Side.SHORT, "0"), (Side.SHORT, "0.5")],
        ids=["long-flat", "long-flipped", "short-flat", "short-flipped"],
    )
    def test_flat_or_flipped_position_cancels_every_exit_order_and_places_nothing(
        self, side, amount
    ):
        run = self._armed(side)
        open_orders = {o.intent.client_order_id: o.intent for o in run.state.orders}
        assert len(open_orders) == 4  # HARD_SL, TP1, TP2, working stop
        decision = run.send(PositionChanged(D(amount), run.at()))
        assert places(decision.requests) == []
        assert sorted(cancels(decision.requests)) == sorted(open_orders)
        for request in decision.requests:
            assert request.conditional is open_orders[request.client_order_id].type.conditional
        assert run.state.flat
        for event in (Tick(run.at(), D(105)), Tick(run.at(), D(90)), Timer(run.at())):
            assert run.send(event).requests == ()
        for cid in open_orders:
            assert run.send(OrderCancelled(cid, run.t)).requests == ()
        assert run.state.done

    def test_orders_awaiting_their_ack_are_cancelled_when_flat_and_stay_cancelled(self):
        run = Driver(self.PROFILE)
        sent = {i.client_order_id for i in places(run.adoption.requests)}
        decision = run.send(PositionChanged(D(0), run.at()))
        assert set(cancels(decision.requests)) == sent
        for cid in sent:  # the acks cross the cancels on the wire
            assert run.send(OrderAccepted(cid, run.t)).requests == ()
        assert all(o.status is OrderStatus.PENDING_CANCEL for o in run.state.orders)

    def test_a_rejection_while_flat_places_nothing(self):
        run = Driver(self.PROFILE)
        hard = places(run.adoption.requests, Leg.HARD_SL)[0]
        run.send(PositionChanged(D(0), run.at()))
        decision = run.send(OrderRejected(hard.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        assert places(decision.requests) == []
        assert run.timer(run.t + 120_000).requests == ()

    def test_a_stop_fill_that_flattens_cancels_what_is_left(self):
        run = self._armed()
        stop = run.state.working_stop.intent
        decision = run.fill(stop, "1", "100.4", position="0")
        assert places(decision.requests) == []
        assert len(cancels(decision.requests)) == 3  # HARD_SL, TP1, TP2


# --- time ---------------------------------------------------------------------------------------


class TestTimeLeg:
    PROFILE = ExitProfile(D(2), take_profits=TWO_TPS, breakeven=BREAKEVEN, time_limit_s=60)

    def test_time_leg_closes_q_at_market_once_the_limit_has_passed(self):
        run = Driver(self.PROFILE)
        run.settle()
        assert run.timer(59_999).requests == ()
        decision = run.timer(60_000)
        close = only(places(decision.requests))
        assert (close.leg, close.type, close.side, close.quantity, close.reduce_only) == (
            Leg.TIME,
            OrderType.MARKET,
            OrderSide.SELL,
            D(1),
            True,
        )
        assert "exit_brain.time_limit" in [n.event for n in decision.notices]
        assert cancels(decision.requests) == []

    def test_time_leg_fires_on_a_quiet_tick_at_the_deadline(self):
        run = Driver(self.PROFILE)
        run.settle()
        assert run.tick("100.0", t=30_000).requests == ()
        assert run.tick("99.9", t=59_000).requests == ()
        close = only(places(run.tick("99.9", t=60_000).requests))
        assert close.leg is Leg.TIME

    def test_time_leg_closes_only_what_is_left(self):
        run = Driver(self.PROFILE)
        run.settle()
        tp1 = run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent
        run.fill(tp1, "0.5", "101.0", position="0.5", t=10_000)
        run.settle()
        assert only(places(run.timer(61_000).requests, Leg.TIME)).quantity == D("0.5")

    def test_nothing_new_is_placed_while_the_market_close_is_in_flight(self):
        run = Driver(self.PROFILE)
        run.settle()
        run.timer(60_000)
        assert run.tick("101.5", t=60_500).requests == ()  # would arm the breakeven
        assert run.send(PositionChanged(D("0.4"), 60_600)).requests == ()
        assert len(run.state.orders_of(Leg.HARD_SL)) == 1

    def test_time_leg_fires_once(self):
        run = Driver(self.PROFILE)
        run.settle()
        close = only(places(run.timer(60_000).requests))
        run.send(OrderAccepted(close.client_order_id, 60_001))
        decision = run.fill(close, "1", "100.0", position="0", t=60_002)
        assert places(decision.requests) == []
        assert len(cancels(decision.requests)) == 3
        assert places(run.timer(200_000).requests) == []

    def test_rejected_time_leg_is_retried_after_the_backoff(self):
        run = Driver(self.PROFILE)
        run.settle()
        close = only(places(run.timer(60_000).requests))
        assert (
            run.send(OrderRejected(close.client_order_id, RejectReason.OTHER, 60_000)).requests
            == ()
        )
        assert places(run.timer(60_999).requests) == []
        again = only(places(run.timer(61_000).requests))
        assert again.leg is Leg.TIME
        assert again.client_order_id != close.client_order_id


# --- a stop the price went through before the exchange had it (-2021) ---------------------------


class TestWouldTrigger:
    def test_refused_working_stop_is_closed_at_market_for_what_it_covered(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN))
        run.settle()
        stop = only(places(run.tick("101.0").requests))
        decision = run.send(OrderRejected(stop.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        close = only(places(decision.requests))
        assert (close.type, close.side, close.quantity, close.reduce_only) == (
            OrderType.MARKET,
            OrderSide.SELL,
            D(1),
            True,
        )
        assert "exit_brain.stop_through_market_close" in [n.event for n in decision.notices]

    def test_refused_hard_stop_closes_the_whole_remaining_position_at_market(self):
        run = Driver(ExitProfile(D(2)), side=Side.SHORT)
        hard = only(places(run.adoption.requests))
        run.send(PositionChanged(D("-0.7"), run.at()))  # a manual reduce meanwhile
        decision = run.send(OrderRejected(hard.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        close = only(places(decision.requests))
        assert (close.type, close.side, close.quantity) == (
            OrderType.MARKET,
            OrderSide.BUY,
            D("0.7"),
        )

    def test_market_close_covers_no_more_than_the_position(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN))
        run.settle()
        stop = only(places(run.tick("101.0").requests))  # for Q = 1, still pending
        run.send(PositionChanged(D("0.4"), run.at()))
        decision = run.send(OrderRejected(stop.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        assert only(places(decision.requests)).quantity == D("0.4")

    def test_refused_take_profit_is_not_closed_at_market(self):
        run = Driver(ExitProfile(D(2), take_profits=TWO_TPS))
        tp1 = places(run.adoption.requests, Leg.TAKE_PROFIT)[0]
        decision = run.send(OrderRejected(tp1.client_order_id, RejectReason.WOULD_TRIGGER, 5))
        assert places(decision.requests) == []

    def test_nothing_is_placed_and_nothing_cancelled_while_the_close_is_in_flight(self):
        run = Driver(ExitProfile(D(2), take_profits=TWO_TPS, breakeven=BREAKEVEN))
        run.settle()
        stop = only(places(run.tick("101.0").requests))
        run.send(OrderRejected(stop.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        assert run.state.closing
        for price in ("100.2", "103", "99"):
            assert run.tick(price).requests == ()
        assert len(run.state.orders_of(Leg.HARD_SL)) == 1

    def test_a_second_stop_refused_during_a_market_close_sends_no_second_close(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN))
        hard = only(places(run.adoption.requests))
        stop = only(places(run.tick("101.0").requests))  # 100.5, pending like the HARD_SL
        run.tick("97.0")  # the price crashes through both before the exchange has either
        first = run.send(OrderRejected(hard.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        assert only(places(first.requests)).quantity == D(1)
        second = run.send(OrderRejected(stop.client_order_id, RejectReason.WOULD_TRIGGER, run.t))
        assert places(second.requests) == []

    def test_exchange_trail_refused_because_its_activation_passed_is_not_closed_at_market(self):
        trail = TrailSpec(D("0.5"), activation_pct=D(1), mode=TrailMode.EXCHANGE)
        run = Driver(ExitProfile(D(2), trail=trail))
        trailing = only(places(run.adoption.requests, Leg.TRAILING_STOP))
        run.tick("101.5")  # through the activation price 101.0 before the order landed
        decision = run.send(
            OrderRejected(trailing.client_order_id, RejectReason.WOULD_TRIGGER, run.t)
        )
        assert [i.type for i in places(decision.requests)] != [OrderType.MARKET]
        assert not run.state.closing


# --- retries ------------------------------------------------------------------------------------


class TestRetryBackoff:
    def test_rejected_hard_stop_is_retried_with_doubling_backoff_capped_at_a_minute(self):
        run = Driver(ExitProfile(D(2)), t=0)
        cid = only(places(run.adoption.requests)).client_order_id
        t = 10
        seen = set()
        for delay in (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000):
            seen.add(cid)
            assert run.send(OrderRejected(cid, RejectReason.OTHER, t)).requests == ()
            assert places(run.timer(t + delay - 1).requests) == []
            again = only(places(run.timer(t + delay).requests))
            assert again.leg is Leg.HARD_SL
            cid = again.client_order_id
            t += delay
        assert cid not in seen

    def test_an_accepted_order_resets_its_backoff(self):
        run = Driver(ExitProfile(D(2)), t=0)
        cid = only(places(run.adoption.requests)).client_order_id
        run.send(OrderRejected(cid, RejectReason.OTHER, 0))
        cid = only(places(run.timer(1_000).requests)).client_order_id
        run.send(OrderRejected(cid, RejectReason.OTHER, 1_000))
        cid = only(places(run.timer(3_000).requests)).client_order_id
        run.send(OrderAccepted(cid, 3_001))
        # the stop is cancelled behind the engine's back: re-placed at once, and a rejection
        # of that one waits 1 s again, not 4 s
        cid = only(places(run.send(OrderCancelled(cid, 5_000)).requests)).client_order_id
        run.send(OrderRejected(cid, RejectReason.OTHER, 5_000))
        assert only(places(run.timer(6_000).requests)).leg is Leg.HARD_SL

    def test_a_quiet_tick_after_the_retry_deadline_places_the_leg(self):
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN), t=0)
        run.settle()
        stop = only(places(run.tick("101.0", t=100).requests))
        run.send(OrderRejected(stop.client_order_id, RejectReason.OTHER, 200))
        assert run.tick("101.0", t=300).requests == ()
        assert run.tick("100.9", t=1_199).requests == ()  # quiet, before the deadline
        again = only(places(run.tick("100.9", t=1_200).requests))  # quiet, at the deadline
        assert (again.leg, again.trigger_price) == (Leg.WORKING_STOP, D("100.5"))

    def test_backoff_of_one_leg_does_not_hold_back_another(self):
        run = Driver(ExitProfile(D(2), take_profits=TWO_TPS), t=0)
        tp1 = places(run.adoption.requests, Leg.TAKE_PROFIT)[0]
        run.send(OrderRejected(tp1.client_order_id, RejectReason.OTHER, 0))
        hard = places(run.adoption.requests, Leg.HARD_SL)[0]
        # the HARD_SL is cancelled by someone else: it comes back at once
        again = places(run.send(OrderCancelled(hard.client_order_id, 10)).requests)
        assert [i.leg for i in again] == [Leg.HARD_SL]


# --- exchange-native trail ----------------------------------------------------------------------


class TestExchangeTrail:
    def test_exchange_trail_is_one_trailing_stop_market_placed_at_adoption(self):
        trail = TrailSpec(D("0.5"), activation_pct=D(1), mode=TrailMode.EXCHANGE)
        run = Driver(ExitProfile(D(2), trail=trail))
        trailing = only(places(run.adoption.requests, Leg.TRAILING_STOP))
        assert (
            trailing.type,
            trailing.side,
            trailing.quantity,
            trailing.activation_price,
            trailing.callback_rate,
            trailing.reduce_only,
        ) == (OrderType.TRAILING_STOP_MARKET, OrderSide.SELL, D(1), D("101.0"), D("0.5"), True)
        run.settle()
        for price in ("101.0", "102", "103.5", "101"):
            assert run.tick(price).requests == ()
        assert places(run.last.requests, Leg.WORKING_STOP) == []

    def test_exchange_trail_after_a_take_profit_activates_at_the_latest_price(self):
        trail = TrailSpec(D("0.5"), after_tp=1, mode=TrailMode.EXCHANGE)
        run = Driver(ExitProfile(D(2), take_profits=TWO_TPS, trail=trail))
        assert places(run.adoption.requests, Leg.TRAILING_STOP) == []
        run.settle()
        tp1 = run.state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent
        trailing = only(places(run.fill(tp1, "0.5", "101.0", position="0.5").requests))
        assert (trailing.type, trailing.quantity, trailing.activation_price) == (
            OrderType.TRAILING_STOP_MARKET,
            D("0.5"),
            None,
        )

    def test_short_exchange_trail_buys(self):
        trail = TrailSpec(D("1.5"), activation_pct=D(2), mode=TrailMode.EXCHANGE)
        run = Driver(ExitProfile(D(3), trail=trail), side=Side.SHORT)
        trailing = only(places(run.adoption.requests, Leg.TRAILING_STOP))
        assert (trailing.side, trailing.activation_price, trailing.callback_rate) == (
            OrderSide.BUY,
            D("98.0"),
            D("1.5"),
        )

    def test_breakeven_still_makes_a_working_stop_beside_the_exchange_trail(self):
        trail = TrailSpec(D("0.5"), activation_pct=D(1), mode=TrailMode.EXCHANGE)
        run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN, trail=trail))
        run.settle()
        assert only(places(run.tick("101.0").requests)).trigger_price == D("100.5")
        assert len(run.state.orders_of(Leg.TRAILING_STOP)) == 1


# --- odds and ends ------------------------------------------------------------------------------


def test_fill_of_a_foreign_order_changes_nothing():
    run = Driver(ExitProfile(D(2), take_profits=TWO_TPS))
    run.settle()
    before = run.state.orders
    assert run.send(Fill("web_123", D("0.3"), D(101), run.at())).requests == ()
    assert run.state.orders == before


def test_acks_and_cancels_of_unknown_orders_change_nothing():
    run = Driver(ExitProfile(D(2)))
    run.settle()
    before = run.state.orders
    assert run.send(OrderAccepted("xd.eb.BTCUSDT.SL.999", run.at())).requests == ()
    assert run.send(OrderCancelled("xd.eb.BTCUSDT.SL.998", run.at())).requests == ()
    assert run.send(OrderRejected("web_1", RejectReason.OTHER, run.at())).requests == ()
    assert run.state.orders == before


def test_client_order_ids_are_unique_across_a_run():
    run = Driver(ExitProfile(D(2), take_profits=TWO_TPS, trail=TRAIL))
    ids = [i.client_order_id for i in places(run.adoption.requests)]
    run.settle()
    for price in ("101", "102", "103", "104", "105"):
        decision = run.tick(price)
        ids += [i.client_order_id for i in places(decision.requests)]
        run.settle()
    assert len(ids) == len(set(ids)) > 5
    assert all(CLIENT_ID.match(cid) for cid in ids)


def test_working_stop_placed_after_a_quiet_fall_is_strictly_below_the_latest_tick():
    run = Driver(ExitProfile(D(2), breakeven=BREAKEVEN), t=0)
    run.settle()
    stop = only(places(run.tick("101.0", t=100).requests))  # breakeven 100.5
    run.send(OrderRejected(stop.client_order_id, RejectReason.OTHER, 200))  # retry at 1 200
    assert run.tick("101.0", t=300).requests == ()  # full path: wake was set by the rejection
    assert run.tick("100.2", t=400).requests == ()  # quiet: below the best price
    # on the tick at 100.2 the spec's W is the tick below it, 100.1: the retry must not send 100.5
    again = only(places(run.timer(1_200).requests))
    assert again.trigger_price < D("100.2")
