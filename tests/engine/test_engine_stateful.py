"""The exit engine against a small model exchange, step by step (RELIABILITY.md §3, layer 1).

Hypothesis adopts one position with a random profile and filters, then moves the price, lets
the model exchange answer the engine's requests in any order (ack, reject, or leave them
waiting), fills take-profits, triggers stops on ticks, changes the position by hand and lets
time pass. An increase of the position is a re-adoption (`readopt`; "never loosen" holds within
one adoption); a take-profit's fill and its position update also arrive one at a time, in either
order; and the daemon restarts (`progress` saved as JSON, then `resume` from what rests).
The SPEC's invariants are checked after every step.

The model exchange follows SPEC-exits.md's tick-synchronous matching: on a tick, stops first
(most protective first, the HARD_SL first on a tie), then take-profits in number order, and what
is left with nothing to reduce is cancelled. Fills and position changes reach the engine at
once, together with the tick they happened on; acks, rejections and cancel confirmations wait
in an inbox until a rule delivers them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from exitd.engine import (
    BreakevenSpec,
    CancelOrder,
    Decision,
    Event,
    ExitProfile,
    ExitState,
    Fill,
    Leg,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderStatus,
    OrderType,
    PlaceOrder,
    PlanProgress,
    PlanRefused,
    Position,
    PositionChanged,
    RejectReason,
    Request,
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
    intent_from_resting,
    parse_client_order_id,
    position_change,
    progress,
    readopt,
    resume,
)
from exitd.engine.rounding import round_qty_down

CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
HUNDRED = Decimal(100)
ZERO = Decimal(0)
# Fields of ExitState that only cache when the next tick may take the fast path.
_CACHE_FIELDS = {"quiet_low", "quiet_high", "wake", "deadline_ms"}


# --- scenarios ----------------------------------------------------------------------------------


def _pct(hundredths: int) -> Decimal:
    return Decimal(hundredths) / 100


@st.composite
def profiles(draw) -> ExitProfile:
    # 0.05 % to 10 %, a third of them tight enough to sit within a few ticks
    hard_sl = _pct(
        draw(st.one_of(st.integers(5, 60), st.integers(60, 1000), st.integers(100, 1000)))
    )
    tp_count = draw(st.integers(0, 3))
    tp_pcts = sorted(draw(st.sets(st.integers(5, 800), min_size=tp_count, max_size=tp_count)))
    budget = 85  # leave some of the position to the stops, most of the time
    take_profits = []
    for pct in tp_pcts:
        fraction = draw(st.integers(1, max(1, min(budget, 70))))
        budget -= fraction
        take_profits.append(TakeProfitSpec(_pct(pct), _pct(fraction)))
        if budget <= 0:
            break
    take_profits = tuple(take_profits)
    tp_count = len(take_profits)

    breakeven = None
    if draw(st.booleans()):
        trigger = draw(st.one_of(st.none(), st.integers(0, 200).map(_pct)))
        after_tp = draw(st.one_of(st.none(), st.integers(1, tp_count))) if tp_count else None
        if trigger is None and after_tp is None:
            trigger = _pct(draw(st.integers(0, 200)))
        limits = [trigger] if trigger is not None else []
        if after_tp is not None:
            limits.append(take_profits[after_tp - 1].pct)
        offset = min(limits) - _pct(draw(st.integers(1, 250)))
        breakeven = BreakevenSpec(offset, trigger_pct=trigger, after_tp=after_tp)

    trail = None
    if draw(st.integers(0, 2)):  # two profiles in three trail
        mode = draw(st.sampled_from(TrailMode))
        if mode is TrailMode.EXCHANGE:
            callback = Decimal(draw(st.integers(1, 50))) / 10  # 0.1 .. 5.0, Binance's grid
        else:
            callback = _pct(draw(st.integers(1, 500)))  # any distance, even under a tick
        kinds = ["activation"] + (["after_tp"] if tp_count else [])
        if tp_count and mode is TrailMode.DAEMON:
            kinds.append("both")
        kind = draw(st.sampled_from(kinds))
        activation = _pct(draw(st.integers(0, 200))) if kind != "after_tp" else None
        after_tp = draw(st.integers(1, tp_count)) if kind != "activation" else None
        min_step = draw(st.sampled_from([ZERO, Decimal("0.05"), Decimal("0.2"), Decimal(1)]))
        trail = TrailSpec(callback, activation, after_tp, min_step, mode)

    time_limit = draw(st.one_of(st.none(), st.none(), st.integers(1, 900)))
    return ExitProfile(hard_sl, take_profits, breakeven, trail, time_limit)


@st.composite
def scenarios(draw):
    tick = draw(st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal("0.5"), Decimal(1)]))
    step = draw(st.sampled_from([Decimal("0.001"), Decimal("0.01"), Decimal(1)]))
    min_qty = step * draw(st.sampled_from([1, 2, 5]))
    min_notional = Decimal(draw(st.sampled_from([0, 5, 50])))
    filters = SymbolFilters(tick, step, min_qty, min_notional)
    # An entry price is an average of fills: it need not sit on the tick grid.
    entry = tick * (draw(st.integers(500, 100_000)) + Decimal(draw(st.integers(0, 99))) / 100)
    qty = step * draw(st.integers(1, 3_000))
    side = draw(st.sampled_from(Side))
    adoption_bp = draw(st.integers(-150, 150))
    adoption_price = _quantize(entry * (1 + Decimal(adoption_bp) / 10_000), tick / 10)
    return side, filters, entry, qty, draw(profiles()), adoption_price


def _quantize(price: Decimal, unit: Decimal) -> Decimal:
    return (price / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP) * unit


# --- the model exchange -------------------------------------------------------------------------


@dataclass
class Resting:
    """An order resting on the model exchange."""

    intent: OrderIntent
    filled: Decimal = ZERO
    activated: bool = False  # a trailing stop
    extreme: Decimal | None = None

    @property
    def open_qty(self) -> Decimal | None:
        return None if self.intent.quantity is None else self.intent.quantity - self.filled


_OUTCOMES = ("accept", "accept", "accept", "other", "reduce_only", "would_trigger", "final")
_REASONS = {
    "final": RejectReason.FINAL,
    "other": RejectReason.OTHER,
    "reduce_only": RejectReason.REDUCE_ONLY,
    "would_trigger": RejectReason.WOULD_TRIGGER,
}


class ExitEngineMachine(RuleBasedStateMachine):
    """One adopted position, the engine's state, and a model exchange."""

    # --- set-up --------------------------------------------------------------------------------

    @initialize(scenario=scenarios())
    def adopt_a_position(self, scenario):
        side, filters, entry, qty, profile, price = scenario
        try:
            plan = build_plan(Position("BTCUSDT", side, qty, entry), filters, profile, price)
        except PlanRefused as refused:  # the scenarios are valid by construction
            raise AssertionError(f"a valid profile was refused: {refused}") from refused
        self.plan = plan
        self.s = side.sign
        self.tick_size = filters.tick_size
        self.price = price
        self.now = 0
        self.amount = side.sign * qty  # the exchange's signed position
        self.resting: dict[str, Resting] = {}
        self.outbox: list[Request] = []  # engine -> exchange, not yet processed
        self.inbox: list[Event] = []  # exchange -> engine answers, not yet delivered
        self.sent_ids: set[str] = set()
        self.created_ids: set[str] = set()
        self.last_accepted_stop: Decimal | None = None  # the working stop's accepted triggers
        self.last_requests: tuple[Request, ...] = ()
        decision = adopt(plan, Tick(0, price))
        self.state = decision.state
        self._check_decision(None, decision)
        self.outbox.extend(decision.requests)

    # --- helpers ------------------------------------------------------------------------------

    @property
    def closable(self) -> Decimal:
        """What a reduce-only order of this position's closing side can still reduce."""
        return max(ZERO, self.s * self.amount)

    def _current(self, client_order_id: str) -> bool:
        """The order belongs to the current adoption, not to one an increase or a restart
        retired (the engine's `inherited`)."""
        return client_order_id not in self.state.inherited

    def _better(self, a: Decimal, b: Decimal) -> bool:
        """`a` is strictly more protective than `b` (higher for a long)."""
        return self.s * (a - b) > 0

    def _feed(self, events: list[Event]) -> None:
        before = self.state
        if len(events) == 1:
            decision = decide(before, events[0])
            if type(events[0]) is Tick:
                self._check_fast_path(before, events[0], decision)
        else:
            decision = decide_all(before, events)
        self.state = decision.state
        self.last_requests = decision.requests
        self._check_decision(before, decision, events)
        self.outbox.extend(decision.requests)

    def _fill(self, order: Resting, qty: Decimal, price: Decimal) -> Fill:
        event(f"fill: {order.intent.label} {order.intent.type.value}")
        order.filled += qty
        self.amount -= self.s * qty
        if order.intent.quantity is None or order.filled >= order.intent.quantity:
            del self.resting[order.intent.client_order_id]
        if order.intent.leg is Leg.WORKING_STOP and self._current(order.intent.client_order_id):
            # a working stop that executed: the next one protects what is left, from scratch
            self.last_accepted_stop = None
        return Fill(order.intent.client_order_id, qty, price, self.now)

    def _cancel_what_cannot_reduce(self) -> list[Event]:
        """SPEC step 1: once flat, what is left with nothing to reduce is cancelled."""
        if self.closable > 0:
            return []
        gone = list(self.resting)
        self.resting.clear()
        return [OrderCancelled(cid, self.now) for cid in gone]

    def _stop_level(self, order: Resting, price: Decimal) -> Decimal | None:
        intent = order.intent
        if intent.type is OrderType.STOP_MARKET:
            return intent.trigger_price
        # TRAILING_STOP_MARKET: activate, follow the extreme, trigger at the callback
        if not order.activated:
            activation = intent.activation_price
            if activation is None or self.s * (price - activation) >= 0:
                order.activated, order.extreme = True, price
            return None
        assert order.extreme is not None
        if self.s * (price - order.extreme) > 0:
            order.extreme = price
        return order.extreme * (1 - self.s * intent.callback_rate / HUNDRED)

    def _match(self, price: Decimal) -> list[Event]:
        """Step 1 of a tick at `price`."""
        events: list[Event] = []
        triggered = []
        for order in list(self.resting.values()):
            if not order.intent.type.conditional:
                continue
            level = self._stop_level(order, price)
            if level is not None and self.s * (price - level) <= 0:
                tie = 0 if order.intent.leg is Leg.HARD_SL else 1
                triggered.append((-self.s * level, tie, order))
        for _, _, order in sorted(triggered, key=lambda t: (t[0], t[1])):
            if self.closable == 0:
                break
            open_qty = order.open_qty
            qty = self.closable if open_qty is None else min(open_qty, self.closable)
            events.append(self._fill(order, qty, price))
        take_profits = sorted(
            (o for o in self.resting.values() if o.intent.leg is Leg.TAKE_PROFIT),
            key=lambda o: o.intent.tp_number,
        )
        for order in take_profits:
            limit = order.intent.price
            assert limit is not None and order.open_qty is not None
            if self.closable > 0 and self.s * (price - limit) >= 0:
                events.append(self._fill(order, min(order.open_qty, self.closable), limit))
        return events

    def _tick(self, price: Decimal, dt: int) -> None:
        self.now += dt
        self.price = price
        amount = self.amount
        events = self._match(price)
        if events:  # this tick's fills may have flattened the position
            events += self._cancel_what_cannot_reduce()
        if self.amount != amount:
            events.append(PositionChanged(self.amount, self.now))
        events.append(Tick(self.now, price))
        self._feed(events)

    def _refusal(self, intent: OrderIntent) -> RejectReason | None:
        """What a real exchange refuses whatever the rule asked for."""
        if intent.reduce_only and self.closable == 0:
            return RejectReason.REDUCE_ONLY
        if intent.type is OrderType.STOP_MARKET:
            assert intent.trigger_price is not None
            if self.s * (self.price - intent.trigger_price) <= 0:
                return RejectReason.WOULD_TRIGGER
        activation = intent.activation_price
        if (
            intent.type is OrderType.TRAILING_STOP_MARKET
            and activation is not None
            and self.s * (self.price - activation) >= 0
        ):
            return RejectReason.WOULD_TRIGGER
        return None

    def _eligible(self) -> list[int]:
        """Requests the exchange may process next: a cancel never overtakes its own place."""
        waiting: set[str] = set()
        out = []
        for i, request in enumerate(self.outbox):
            if isinstance(request, PlaceOrder):
                waiting.add(request.intent.client_order_id)
                out.append(i)
            elif request.client_order_id not in waiting:
                out.append(i)
        return out

    def _process(self, index: int, outcome: str) -> None:
        request = self.outbox.pop(index)
        if isinstance(request, CancelOrder):
            self.resting.pop(request.client_order_id, None)
            self.inbox.append(OrderCancelled(request.client_order_id, self.now))
            return
        intent = request.intent
        cid = intent.client_order_id
        reason = self._refusal(intent)
        if reason is None and outcome != "accept":
            reason = _REASONS[outcome]
            if reason is RejectReason.WOULD_TRIGGER and not intent.type.conditional:
                reason = RejectReason.OTHER
        if reason is not None:
            event(f"reject: {intent.label} {reason.value}")
            self.inbox.append(OrderRejected(cid, reason, self.now))
            return
        assert cid not in self.created_ids, f"{cid} created twice"
        if intent.close_position:  # Binance refuses a second one in the direction (-4130)
            assert not any(o.intent.close_position for o in self.resting.values()), cid
        self.created_ids.add(cid)
        self.inbox.append(OrderAccepted(cid, self.now))
        order = Resting(intent)
        if intent.type is OrderType.MARKET:
            assert intent.quantity is not None
            self.resting[cid] = order
            amount = self.amount
            qty = min(intent.quantity, self.closable)
            events: list[Event] = [self._fill(order, qty, self.price)]
            if qty < intent.quantity:  # reduce-only: the rest expires
                self.resting.pop(cid, None)
                self.inbox.append(OrderCancelled(cid, self.now))
            events += self._cancel_what_cannot_reduce()
            if self.amount != amount:
                events.append(PositionChanged(self.amount, self.now))
            self._feed(events)
            return
        if intent.leg is Leg.WORKING_STOP and self._current(cid):
            self._check_accepted_working_stop(intent)
        if intent.type is OrderType.TRAILING_STOP_MARKET and intent.activation_price is None:
            order.activated, order.extreme = True, self.price
        self.resting[cid] = order

    # --- rules --------------------------------------------------------------------------------

    @rule(
        favour_bp=st.one_of(st.integers(-30, 40), st.integers(-350, 450)),
        dt=st.one_of(st.integers(0, 3_000), st.integers(3_000, 70_000)),
    )
    def tick(self, favour_bp, dt):
        """The mark price moves, in basis points in the position's favour: small steps with a
        slight drift to profit (so the legs arm), and jumps through several levels at once."""
        raw = self.price * (1 + self.s * Decimal(favour_bp) / 10_000)
        entry = self.plan.entry_price
        raw = min(max(raw, entry * Decimal("0.3")), entry * 3)
        self._tick(_quantize(raw, self.tick_size / 10), dt)

    @rule(
        favour_bp=st.lists(st.integers(-15, 60), min_size=2, max_size=8),
        dt=st.integers(1, 2_000),
    )
    def trend(self, favour_bp, dt):
        """A run of ticks, the exchange answering everything in between: where breakeven and
        trail arm and the working stop is replaced again and again."""
        for move in favour_bp:
            self.tick(move, dt)
            self.settle()

    def _levels(self) -> list[Resting]:
        # the HARD_SL is left out: ordinary ticks cross it often enough, and it ends the run
        return sorted(
            (o for o in self.resting.values() if o.intent.leg is not Leg.HARD_SL), key=_cid
        )

    @precondition(lambda self: self._levels())
    @rule(data=st.data(), ticks_away=st.integers(-1, 1), dt=st.integers(0, 3_000))
    def tick_at_an_order_price(self, data, ticks_away, dt):
        """The price lands exactly on (or a tick beside) a resting order's level."""
        order = data.draw(st.sampled_from(self._levels()))
        intent = order.intent
        level = intent.trigger_price or intent.price or intent.activation_price or self.price
        price = level + ticks_away * self.tick_size
        if price > 0:
            self._tick(price, dt)

    @precondition(lambda self: self._eligible())
    @rule(data=st.data(), outcome=st.sampled_from(_OUTCOMES))
    def exchange_processes_a_request(self, data, outcome):
        self._process(data.draw(st.sampled_from(self._eligible())), outcome)

    def _deliver(self, index: int) -> None:
        # the actor stamps an answer with its own clock when it arrives
        self._feed([dataclasses.replace(self.inbox.pop(index), time_ms=self.now)])

    @precondition(lambda self: self.inbox)
    @rule(data=st.data())
    def deliver_an_answer(self, data):
        self._deliver(data.draw(st.integers(0, len(self.inbox) - 1)))

    @rule()
    def settle(self):
        """The exchange accepts what it can and every answer arrives, until all is quiet."""
        for _ in range(200):
            eligible = self._eligible()
            if eligible:
                self._process(eligible[0], "accept")
            elif self.inbox:
                self._deliver(0)
            else:
                return
        raise AssertionError("the engine keeps asking for orders with no new event")

    @precondition(
        lambda self: (
            self.closable > 0
            and any(o.intent.leg is Leg.TAKE_PROFIT for o in self.resting.values())
        )
    )
    @rule(data=st.data(), share=st.integers(1, 100))
    def fill_a_take_profit(self, data, share):
        """A resting take-profit fills, fully or partly, between ticks."""
        tps = sorted(
            (o for o in self.resting.values() if o.intent.leg is Leg.TAKE_PROFIT), key=_cid
        )
        order = data.draw(st.sampled_from(tps))
        assert order.open_qty is not None and order.intent.price is not None
        step = self.plan.filters.step_size
        qty = max(step, round_qty_down(order.open_qty * share / HUNDRED, step))
        qty = min(qty, order.open_qty, self.closable)
        amount = self.amount
        events: list[Event] = [self._fill(order, qty, order.intent.price)]
        events += self._cancel_what_cannot_reduce()
        if self.amount != amount:
            events.append(PositionChanged(self.amount, self.now))
        self._feed(events)

    @precondition(lambda self: self.closable > 0)
    @rule(share=st.integers(-60, 60), roll=st.integers(0, 40))
    def change_the_position_by_hand(self, share, roll):
        """A manual reduce or add (in percent of the position), made outside exitd; now and
        then a close or a flip to the other side, which end what this plan protects."""
        if roll in (17, 23):  # mid-range values: Hypothesis favours the ends of a range
            share = -100 if roll == 17 else -150
        step = self.plan.filters.step_size
        delta = round_qty_down(self.closable * abs(share) / HUNDRED, step) or step
        held = self.closable
        self.amount += self.s * delta * (1 if share > 0 else -1)
        change = position_change(self.state, self.amount)
        if share > 0:
            assert change == "increase", change
        else:
            assert change == ("flat" if delta == held else "decrease" if delta < held else "flip")
        if change == "increase":
            self._scale_in(held, delta)
        else:
            self._feed([PositionChanged(self.amount, self.now)])

    def _scale_in(self, held: Decimal, added: Decimal) -> None:
        """The actor's answer to an increase: a new plan on the new entry price and size."""
        event("position: scaled in")
        qty = held + added
        average = (self.plan.entry_price * held + self.price * added) / qty
        entry = _quantize(average, Decimal("0.00000001"))
        position = Position(self.plan.symbol, self.plan.side, qty, entry)
        try:
            plan = build_plan(position, self.plan.filters, self.plan.profile, self.price)
        except PlanRefused:
            # a stop price at or below zero after a crash: the actor keeps the old plan
            self._feed([PositionChanged(self.amount, self.now)])
            return
        before = self.state
        self.plan = plan
        self.last_accepted_stop = None
        decision = readopt(before, plan, Tick(self.now, self.price))
        self.state = decision.state
        assert decision.notices[0].event == "plan.readopted"
        self._check_decision(before, decision)
        self.outbox.extend(decision.requests)

    @precondition(
        lambda self: (
            self.closable > 0
            and any(o.intent.leg is Leg.TAKE_PROFIT for o in self.resting.values())
        )
    )
    @rule(data=st.data(), share=st.integers(1, 100), position_first=st.booleans())
    def take_profit_fill_and_position_apart(self, data, share, position_first):
        """A take-profit fills and the exchange reports the fill and the position one at a
        time, in either order: no other take-profit is cancelled for it (SPEC)."""
        tps = sorted(
            (o for o in self.resting.values() if o.intent.leg is Leg.TAKE_PROFIT), key=_cid
        )
        order = data.draw(st.sampled_from(tps))
        assert order.open_qty is not None and order.intent.price is not None
        step = self.plan.filters.step_size
        qty = max(step, round_qty_down(order.open_qty * share / HUNDRED, step))
        qty = min(qty, order.open_qty, self.closable)
        fill = self._fill(order, qty, order.intent.price)
        events: list[Event] = [fill, PositionChanged(self.amount, self.now)]
        if position_first:
            events.reverse()
        events += self._cancel_what_cannot_reduce()
        for one in events:
            before = self.state
            self._feed([one])
            if self.closable > 0:
                cancelled = [
                    r
                    for r in self.last_requests
                    if isinstance(r, CancelOrder)
                    and r.leg is Leg.TAKE_PROFIT
                    and r.client_order_id != order.intent.client_order_id
                    and r.client_order_id not in before.inherited
                ]
                assert not cancelled, f"a fill cancelled other take-profits: {cancelled}"

    @precondition(lambda self: not self.outbox)
    @rule()
    def restart(self):
        """The daemon restarts: answers in flight are lost, the plan's progress comes back
        from its JSON snapshot, and `resume` adopts what rests on the exchange."""
        event("restart")
        saved = PlanProgress.from_json(progress(self.state).to_json())
        assert saved == progress(self.state)
        plan = build_plan(
            Position(self.plan.symbol, saved.side, saved.initial_qty, saved.entry_price),
            self.plan.filters,
            self.plan.profile,
            saved.adoption_price,
        )
        assert plan == self.plan
        resting = []
        for order in self.resting.values():
            intent = order.intent
            resting.append(
                intent_from_resting(
                    intent.client_order_id,
                    symbol=intent.symbol,
                    side=intent.side,
                    type=intent.type,
                    quantity=order.open_qty,
                    price=intent.price,
                    trigger=intent.trigger_price,
                    reduce_only=intent.reduce_only,
                    close_position=intent.close_position,
                    activation=intent.activation_price,
                    callback=intent.callback_rate,
                )
            )
        self.inbox.clear()
        before = self.state
        decision = resume(plan, saved, resting, self.closable, Tick(self.now, self.price))
        self.state = decision.state
        # a resting working stop is the floor
        kept = self.state.working_stop
        if kept is not None:
            self.last_accepted_stop = kept.intent.trigger_price
        assert self.state.next_seq >= before.next_seq
        placed = {r.intent.label for r in decision.requests if isinstance(r, PlaceOrder)}
        resting_labels = {o.intent.label for o in self.resting.values()}
        assert not (placed & resting_labels) - {Leg.WORKING_STOP.value}, placed
        self._check_decision(None, decision)
        self.outbox.extend(decision.requests)

    @rule(dt=st.one_of(st.integers(1, 5_000), st.integers(5_000, 120_000)))
    def time_passes(self, dt):
        """Time passes with no price (a stale feed): the TIME leg and retries still fire."""
        self.now += dt
        self._feed([Timer(self.now)])

    # --- checks on each decision ----------------------------------------------------------------

    def _check_fast_path(self, before: ExitState, tick: Tick, decision: Decision) -> None:
        """decide()'s quiet-tick fast path must be indistinguishable from the full path."""
        full = decide_all(before, (tick,))
        self._check_target_on_tick(full.state, tick)
        if decision.state is before:  # `--hypothesis-show-statistics` counts these
            event("tick: fast path")
            if full.state.target_stop != before.target_stop:
                event("tick: fast path kept a stale working-stop target")
        assert decision.requests == full.requests
        assert _semantic(decision.state) == _semantic(full.state)

    def _check_decision(
        self, before: ExitState | None, decision: Decision, events: Sequence[Event] = ()
    ) -> None:
        state = decision.state
        plan = self.plan
        filters = plan.filters
        placed = [r.intent for r in decision.requests if isinstance(r, PlaceOrder)]
        new_ids = {i.client_order_id for i in placed}
        for request in decision.requests:
            if isinstance(request, CancelOrder):
                self._check_cancel(state, request)
        # W "as computed on this tick", when the tick took the full path
        ticks = [e for e in events if type(e) is Tick]
        if ticks and state is not before:
            self._check_target_on_tick(state, ticks[-1])
        if state.flat:
            assert not placed, "an order was placed while flat"
        if before is not None and before.closing and placed:
            # Nothing new while a market close is on its way; once it has ended (in this
            # decision: filled short of a position grown meanwhile), the next may go.
            open_closes = [
                o
                for o in state.orders
                if o.intent.type is OrderType.MARKET and o.intent.client_order_id not in new_ids
            ]
            assert not open_closes, "placed during a market close"
        for intent in placed:
            cid = intent.client_order_id
            assert CLIENT_ID.match(cid), cid
            assert cid not in self.sent_ids, f"client id {cid} reused"
            self.sent_ids.add(cid)
            assert intent.symbol == plan.symbol
            assert intent.side is plan.side.closing_side
            assert intent.reduce_only != intent.close_position  # exactly one of them
            for price in (intent.price, intent.trigger_price, intent.activation_price):
                assert price is None or (price > 0 and price % filters.tick_size == 0), intent
            if intent.close_position:
                assert intent.quantity is None and intent.leg is Leg.HARD_SL
            else:
                assert intent.quantity is not None and intent.quantity > 0
                assert intent.quantity % filters.step_size == 0, intent
            if intent.leg is Leg.HARD_SL and intent.type is OrderType.STOP_MARKET:
                assert intent.trigger_price == plan.hard_sl_price
            if intent.leg is Leg.TAKE_PROFIT:
                assert intent.type is OrderType.LIMIT
                assert intent.quantity >= filters.min_qty
                assert intent.quantity * intent.price >= filters.min_notional
            if intent.type is OrderType.MARKET:
                assert intent.quantity <= state.qty
            if intent.leg is Leg.WORKING_STOP and intent.type is OrderType.STOP_MARKET:
                self._check_new_working_stop(state, intent, new_ids)
        if any(i.leg is Leg.TAKE_PROFIT for i in placed):
            on_exchange = sum(
                (o.open_qty for o in state.orders if o.intent.leg is Leg.TAKE_PROFIT), ZERO
            )
            assert on_exchange <= state.qty, "take-profits placed beyond Q"

    def _check_target_on_tick(self, state: ExitState, tick: Tick) -> None:
        """W as computed on a tick: on the grid, strictly on the stop's side of its price."""
        target = state.target_stop
        if target is not None:
            assert self.s * (tick.price - target) > 0, (tick, target)
            assert target % self.plan.filters.tick_size == 0

    def _check_cancel(self, state: ExitState, request: CancelOrder) -> None:
        """Nothing protective is cancelled while the position is open, but an old working stop
        once a newer one, at least as protective, has been accepted (make-before-break), or
        first, once the exchange refused that (the floor is kept); what an earlier adoption
        left goes: a HARD_SL at another price at once, other stops once the HARD_SL rests."""
        if state.flat:
            return
        assert request.leg is not Leg.TIME, request
        cancelled = state.order(request.client_order_id)
        assert cancelled is not None
        if request.client_order_id in state.inherited:
            event(f"cancel: inherited {request.leg.value}")
            if request.leg is Leg.HARD_SL:
                assert cancelled.intent.trigger_price != self.plan.hard_sl_price
            elif request.leg is not Leg.TAKE_PROFIT:
                assert any(
                    o.status is OrderStatus.LIVE for o in state.own_orders_of(Leg.HARD_SL)
                ), "an inherited stop cancelled before the new HARD_SL rests"
            return
        assert request.leg not in (Leg.HARD_SL, Leg.TRAILING_STOP), request
        if request.leg is not Leg.WORKING_STOP:
            return
        stops = [
            o
            for o in state.own_orders_of(Leg.WORKING_STOP)
            if o.intent.type is OrderType.STOP_MARKET
        ]
        ids = [o.intent.client_order_id for o in stops]
        old = stops[ids.index(request.client_order_id)]
        if state.break_first and old is stops[-1]:
            event("cancel: working stop, break before make")
            assert state.stop_floor == old.intent.trigger_price
            return
        assert any(
            o.status is OrderStatus.LIVE
            and not self._better(old.intent.trigger_price, o.intent.trigger_price)
            for o in stops[ids.index(request.client_order_id) + 1 :]
        ), "a working stop cancelled before its replacement was accepted"

    def _check_new_working_stop(self, state, intent, new_ids) -> None:
        trigger = intent.trigger_price
        assert self._better(trigger, self.plan.hard_sl_price), "W not inside the HARD_SL"
        assert intent.quantity == state.qty
        resting = [
            o
            for o in state.own_orders_of(Leg.WORKING_STOP)
            if o.active
            and o.intent.type is OrderType.STOP_MARKET
            and o.intent.client_order_id not in new_ids
        ]
        if not resting:
            floor = state.stop_floor
            assert floor is None or not self._better(floor, trigger), "loosened below the floor"
            return
        previous = resting[-1].intent
        assert previous.trigger_price is not None
        assert not self._better(previous.trigger_price, trigger), "the working stop loosened"
        if trigger == previous.trigger_price:
            assert intent.quantity != previous.quantity, "a replacement that changes nothing"
        else:
            self._check_min_step(previous.trigger_price, trigger)

    def _check_min_step(self, resting: Decimal, new: Decimal) -> None:
        trail = self.plan.profile.trail
        min_step = ZERO if trail is None else trail.min_step_pct
        gain = self.s * (new - resting)
        assert gain > 0
        assert gain * HUNDRED >= resting * min_step, f"{resting} -> {new} under min_step"

    def _check_accepted_working_stop(self, intent: OrderIntent) -> None:
        """I2: the accepted triggers are monotone, and each change is a real step."""
        trigger = intent.trigger_price
        assert trigger is not None
        last = self.last_accepted_stop
        event(
            "working stop: "
            + ("first" if last is None else "moved" if trigger != last else "resized")
        )
        if last is not None and trigger != last:
            self._check_min_step(last, trigger)
        self.last_accepted_stop = trigger

    # --- invariants after every step ------------------------------------------------------------

    @invariant()
    def the_engine_sees_the_exchanges_position(self):
        assert self.state.qty == self.closable

    @invariant()
    def a_hard_stop_protects_every_open_position(self):
        state = self.state
        if state.flat or state.closing:
            return
        if state.orders_of(Leg.HARD_SL):
            return
        waiting = [r for r in state.retries if r.label == Leg.HARD_SL.value]
        assert waiting and waiting[0].not_before_ms > self.now, "no HARD_SL and no retry due"

    @invariant()
    def working_stops_sit_inside_the_hard_stop(self):
        for order in self.state.own_orders_of(Leg.WORKING_STOP):
            if order.intent.type is OrderType.STOP_MARKET:
                assert self._better(order.intent.trigger_price, self.plan.hard_sl_price)

    @invariant()
    def one_active_order_per_leg(self):
        """Of this adoption's orders; and never two close-position stops (-4130)."""
        state = self.state
        hard_stops = [o for o in state.orders_of(Leg.HARD_SL) if o.active]
        assert sum(o.intent.close_position for o in hard_stops) <= 1
        by_leg: dict[str, list] = {}
        for order in state.orders:
            if order.active and order.intent.client_order_id not in state.inherited:
                by_leg.setdefault(order.intent.label, []).append(order)
        for label, orders in by_leg.items():
            if label != Leg.WORKING_STOP.value:
                assert len(orders) <= 1, f"{len(orders)} active {label} orders"
        stops = [
            o
            for o in by_leg.get(Leg.WORKING_STOP.value, [])
            if o.intent.type is not OrderType.MARKET
        ]
        assert len(stops) <= 2
        if len(stops) == 2:
            older, newer = stops
            assert not self._better(older.intent.trigger_price, newer.intent.trigger_price)
            if not state.closing:
                # two only between the new one being placed and the old one being cancelled
                assert newer.status is OrderStatus.PENDING_NEW

    @invariant()
    def every_tracked_order_is_reduce_only_or_close_position(self):
        for order in self.state.orders:
            assert order.intent.reduce_only or order.intent.close_position

    @invariant()
    def the_exchange_holds_one_order_per_leg_but_during_a_replacement(self):
        cancelling = {r.client_order_id for r in self.outbox if isinstance(r, CancelOrder)}
        by_label: dict[str, list[Resting]] = {}
        for cid, order in sorted(self.resting.items()):
            if cid not in cancelling and self._current(cid):
                by_label.setdefault(order.intent.label, []).append(order)
        for label, orders in by_label.items():
            assert len(orders) <= (2 if label == Leg.WORKING_STOP.value else 1), label
        stops = sorted(by_label.get(Leg.WORKING_STOP.value, []), key=_seq)
        if len(stops) == 2:
            older, newer = (o.intent.trigger_price for o in stops)
            assert not self._better(older, newer), "the newer working stop is the looser"

    @invariant()
    def when_quiet_the_exchange_matches_the_engine(self):
        if self.outbox or self.inbox:
            return
        state = self.state
        engine = {o.intent.client_order_id: o for o in state.orders}
        assert set(engine) == set(self.resting)
        for cid, order in engine.items():
            assert order.status is OrderStatus.LIVE
            assert order.open_qty == self.resting[cid].open_qty  # a restart forgets fills
        if self.closable == 0:
            assert not self.resting, "exit orders left behind on a flat position"
            return
        tps = sum(
            (o.open_qty for o in self.resting.values() if o.intent.leg is Leg.TAKE_PROFIT), ZERO
        )
        # a shrink waits FILL_GRACE_MS for a take-profit's fill before the targets are cut
        assert tps <= self.closable or state.shrunk_ms is not None
        if not state.closing and not any(
            o.intent.leg is Leg.HARD_SL for o in self.resting.values()
        ):
            waiting = [r for r in state.retries if r.label == Leg.HARD_SL.value]
            assert waiting and waiting[0].not_before_ms > self.now, "open and unprotected"


def _cid(order: Resting) -> str:
    return order.intent.client_order_id


def _seq(order: Resting) -> int:
    ref = parse_client_order_id(order.intent.client_order_id)
    assert ref is not None
    return ref.seq


def _semantic(state: ExitState) -> dict:
    return {
        f.name: getattr(state, f.name)
        for f in dataclasses.fields(state)
        if f.name not in _CACHE_FIELDS
    }


ExitEngineMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestExitEngine = ExitEngineMachine.TestCase


# --- the quiet-tick fast path -------------------------------------------------------------------


_ANSWERS = ("ack", "ack", "reject", "wait")


@st.composite
def histories(draw):
    """A position adopted, then ticks; before each tick the engine's requests are acked,
    rejected (so retries wait for their backoff) or left waiting."""
    side, filters, entry, qty, profile, price = draw(scenarios())
    plan = build_plan(Position("ETHUSDT", side, qty, entry), filters, profile, price)
    steps = draw(
        st.lists(
            st.tuples(
                st.integers(-200, 250),  # basis points in the position's favour
                st.one_of(st.integers(0, 500), st.integers(500, 70_000)),  # ms to the tick
                st.sampled_from(_ANSWERS),
            ),
            min_size=1,
            max_size=30,
        )
    )
    return plan, price, steps


def _answer(state: ExitState, pending: list[Request], answer: str, now: int) -> ExitState:
    for request in pending:
        if isinstance(request, CancelOrder):
            event: Event = OrderCancelled(request.client_order_id, now)
        elif answer == "ack":
            event = OrderAccepted(request.intent.client_order_id, now)
        else:
            event = OrderRejected(request.intent.client_order_id, RejectReason.OTHER, now)
        state = decide(state, event).state
    return state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
def test_quiet_tick_fast_path_answers_like_the_full_path(history):
    plan, price, steps = history
    decision = adopt(plan, Tick(0, price))
    state = decision.state
    pending = list(decision.requests)
    unit = plan.filters.tick_size / 10
    now = 0
    for favour_bp, dt, answer in steps:
        if answer != "wait":
            state = _answer(state, pending, answer, now)
            pending = []
        now += dt
        move = plan.side.sign * Decimal(favour_bp) / 10_000
        price = max(unit, _quantize(price * (1 + move), unit))
        tick = Tick(now, price)
        fast = decide(state, tick)
        full = decide_all(state, (tick,))
        assert fast.requests == full.requests
        assert fast.notices == full.notices
        assert _semantic(fast.state) == _semantic(full.state)
        state = full.state
        pending += list(full.requests)
