"""The real gateway and symbol actor against the in-memory fake exchange (RELIABILITY.md §3,
layer 2).

One symbol, one profile (hard stop, two take-profits, breakeven, trail). Hypothesis moves the
mark price (the fake matches resting stops and take-profits at it), fills take-profits in
part, resolves the fake's parked calls with the fates it likes (delivered, executed but the
answer lost, lost before executing, 429, clock error, refused), delivers, delays, drops and
duplicates the user-stream events the fake emits (order updates, position changes, in any
order), changes the position by hand (add, reduce, flip, close), reconciles, lets simulated
time pass, crashes the symbol actor (the supervisor runs it again, or a fresh one starts) and
restarts the daemon (gateway and actor fresh; exchange and snapshots kept).

symbol_harness.py runs it deterministically on simulated time, so a failure shrinks. The
per-step invariants are I1, I2, I5 and I8 (where the engine could know the position);
`settle` heals everything, runs until quiet, and checks Q1, Q3, Q4, I4, I8 and that the
gateway's in-flight table is empty.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from exitd.actors.reconcile_view import is_own
from exitd.engine import (
    Leg,
    parse_client_order_id,
)
from exitd.engine.rounding import round_qty_down
from exitd.exchange.port import (
    MarkPrice,
    RejectKind,
)
from tests.actors.fake_exchange import Fate, Method
from tests.actors.symbol_harness import (
    FILTERS,
    REFUSALS,
    SYMBOL,
    D,
    PlanKey,
    SymbolHarness,
    Timers,
    closing_side,
    leg_label,
    plan_key,
    sign_of,
)

_SETTLE_ROUNDS = 150


class SymbolMachine(SymbolHarness):
    """Hypothesis's hands on the harness, and what must hold after each step."""

    # --- rules: the market ----------------------------------------------------------------------

    @initialize(short=st.booleans())
    def open_position(self, short: bool) -> None:
        self.fake.set_position(SYMBOL, D(-1) if short else D(1), D(100))
        self.step(self._start_actor)

    @rule(tenths=st.integers(-45, 45))
    def tick(self, tenths: int) -> None:
        """A new mark price: the exchange matches at it, then the actor hears the price as
        the price feed hands it over (a quiet tick taken without waking the actor)."""
        price = D(100) + D(tenths) / 10
        self.fake.marks[SYMBOL] = price
        self._match(price)

        def post() -> None:
            if self.actor is not None and self._actor_live():
                self.actor.deliver_price(MarkPrice(SYMBOL, price, self.fake.now_ms))

        self.step(post)

    @rule(data=st.data(), whole=st.booleans())
    def fill_take_profit(self, data: st.DataObject, whole: bool) -> None:
        """A resting limit fills at its price, whole or in part."""
        held = self.fake.position(SYMBOL)
        limits = [
            o
            for o in self._open_orders()
            if o.type == "LIMIT" and held and o.side is closing_side(held)
        ]
        if not limits:
            return
        order = data.draw(st.sampled_from(limits), label="take-profit")
        self.advance(50)  # between two mark prices
        left = (order.quantity or D(0)) - order.filled_qty
        qty = left if whole else round_qty_down(left / 2, FILTERS.step_size)
        if qty <= 0:
            return
        self.fake.fill(order.client_order_id, False, qty)
        self._expire_what_cannot_reduce()
        self._publish(order.price)
        self.step(lambda: None)

    @rule(change=st.sampled_from(("add", "reduce", "flip", "close")))
    def change_by_hand(self, change: str) -> None:
        """The trader (or an entry bot) changes the position: the stream says so."""
        held = self.fake.position(SYMBOL)
        mark = self.fake.marks[SYMBOL]
        view = self.fake.position_view(SYMBOL)
        entry = view.entry_price if view is not None and held else mark
        if change == "add":
            add = D("0.5") * (sign_of(held) if held else 1)
            amount = held + add
            entry = ((abs(held) * entry + abs(add) * mark) / abs(amount)).quantize(D("0.0001"))
        elif change == "reduce":
            amount = held - round_qty_down(held / 2, FILTERS.step_size) * 1
        elif change == "flip":
            amount, entry = (D("-0.8") if held > 0 else D("0.8")), mark
        else:
            amount = D(0)
        if amount == held:
            return
        event(f"by hand: {change}")
        self.fake.set_position(SYMBOL, amount, entry if amount else D(0))
        if held and (amount == 0 or sign_of(amount) != sign_of(held)):
            self._expire_what_cannot_reduce(closing_side(held))  # the old position's
        self._publish()
        self.step(lambda: None)

    # --- rules: the user stream -----------------------------------------------------------------

    @precondition(lambda self: self.stream)
    @rule(data=st.data(), keep=st.booleans())
    def deliver(self, data: st.DataObject, keep: bool) -> None:
        """Deliver one pending event (any of them: delays and reordering); `keep` delivers it
        again later (a duplicate)."""
        i = data.draw(st.integers(0, len(self.stream) - 1), label="event")
        message = self.stream[i] if keep else self.stream.pop(i)
        self.step(lambda: self._route(message))

    @precondition(lambda self: self.stream)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        """An event lost for good (a stream gap): only reconciliation tells."""
        i = data.draw(st.integers(0, len(self.stream) - 1), label="event")
        self.stream.pop(i)

    @rule()
    def reconcile(self) -> None:
        """The account reads the exchange (periodically, or after a stream reset)."""
        self.step(self._reconcile)

    # --- rules: the gateway's calls -------------------------------------------------------------

    @precondition(lambda self: self.fake.pending)
    @rule(data=st.data(), fate=st.sampled_from(list(Fate)), refusal=st.sampled_from(REFUSALS))
    def resolve(
        self, data: st.DataObject, fate: Fate, refusal: tuple[RejectKind, float | None]
    ) -> None:
        i = data.draw(st.integers(0, len(self.fake.pending) - 1), label="pending call")
        kind, retry_after_s = refusal
        call = self.fake.pending[i]
        self.step(lambda: self.fake.resolve(i, fate, kind, retry_after_s))
        self._check_take_profit_sum(call)

    @rule(dt_ms=st.sampled_from((100, 300, 1000, 2500, 7000)))
    def advance_clock(self, dt_ms: int) -> None:
        self.advance(dt_ms)

    # --- rules: crashes and restarts ------------------------------------------------------------

    @precondition(lambda self: self._actor_live())
    @rule(fresh=st.booleans())
    def crash_actor(self, fresh: bool) -> None:
        """The symbol actor dies at an await; the supervisor runs it again (the same object,
        its mailbox kept) or, `fresh`, a new one starts. The gateway keeps its in-flight.
        A fresh one starts only when none of its writes is in flight: their answers would go
        to the dead actor's mailbox, and a market close in flight would then block the new
        plan for good (a known gap; the supervisor always runs the same object again)."""
        self._stop(self.actor_task)
        fresh = fresh and not self.gateway.inflight(SYMBOL)
        actor = None if fresh else self.actor
        self.step(lambda: self._start_actor(actor))

    @rule()
    def restart_daemon(self) -> None:
        """Everything in the process goes; the exchange and the snapshot folder stay. Calls
        on their way stay on their way; the stream's undelivered events are lost."""
        self._stop(self.actor_task)
        self._stop(self.gateway_task)
        self.actor = None
        self.actor_task = None
        self.stream.clear()
        self.timers = Timers(lambda: self.fake.now_ms)
        self._start_gateway()
        self.step(self._reconcile)

    # --- settle: heal everything and check what must hold at rest -------------------------------

    @rule()
    def settle(self) -> None:
        quiet = 0
        for _ in range(_SETTLE_ROUNDS):
            if self.fake.pending:
                self.step(lambda: self.fake.deliver(0))
                quiet = 0
            elif self.stream:
                self.step(lambda: self._route(self.stream.pop(0)))
                quiet = 0
            else:
                calls = len(self.fake.calls)
                self.advance(1000)
                self.step(self._reconcile)
                quiet = quiet + 1 if len(self.fake.calls) == calls and self._at_rest() else 0
                if quiet >= 3:
                    break
        else:
            raise AssertionError(f"no rest after {_SETTLE_ROUNDS} rounds: {self._describe()}")
        self._check_at_rest()

    def _at_rest(self) -> bool:
        if self.fake.pending or self.stream or self.gateway._inflight or len(self.gateway._queue):
            return False
        return self.actor is None or not self._actor_live() or not self.actor.pending

    def _describe(self) -> str:
        state = self.actor.state if self.actor is not None else None
        return (
            f"position {self.fake.position(SYMBOL)}, open {self._open_orders()}, "
            f"in flight {list(self.gateway._inflight)}, engine {state}"
        )

    def _check_at_rest(self) -> None:
        held = self.fake.position(SYMBOL)
        own = [o for o in self._open_orders() if is_own(o.client_order_id)]
        if held == 0:  # Q3
            assert not own, f"flat, yet exit orders rest: {own}"
            event("settled flat")
            return
        event("settled with a position")
        assert self.actor is not None and self._actor_live(), "a position with no symbol actor"
        state = self.actor.state
        assert state is not None, "a position with no plan"
        view = self.fake.position_view(SYMBOL)
        plan = state.plan
        assert view is not None and plan.entry_price == view.entry_price, (plan, view)
        assert plan.side.sign == sign_of(held), (plan, held)
        assert state.qty == abs(held), (state.qty, held)
        # Q1: the hard stop, close-position, on the closing side, at the plan's price.
        hard = [
            o
            for o in own
            if o.type == "STOP_MARKET" and o.close_position and o.side is closing_side(held)
        ]
        assert len(hard) == 1, f"Q1: hard stops {hard} for {held}"
        if hard[0].trigger_price != plan.hard_sl_price:
            # `resume` keeps a resting hard stop whatever its price, even one an earlier
            # adoption placed (the position grew while the daemon was down): never one of
            # this adoption's at another price.
            assert self.plan_of.get(hard[0].client_order_id) != plan_key(state), (hard, plan)
            event("Q1: a restart kept an earlier adoption's hard stop")
        # Q4: the engine's orders are the exchange's.
        tracked = {o.intent.client_order_id: o for o in state.orders}
        assert set(tracked) == {o.client_order_id for o in own}, (tracked, own)
        for order in own:
            mine = tracked[order.client_order_id]
            if order.quantity is not None:
                assert mine.open_qty == order.quantity - order.filled_qty, (mine, order)
        # I4: one order per leg at rest.
        legs = [leg_label(o.client_order_id) for o in own]
        assert len(legs) == len(set(legs)), f"I4: {legs}"
        # I8 on the exchange.
        assert self._open_take_profits(held) <= abs(held), own
        assert not self.gateway._inflight and not self.gateway.inflight(SYMBOL)

    def _open_take_profits(self, held: Decimal, among: set[str] | None = None) -> Decimal:
        return sum(
            (
                (o.quantity or D(0)) - o.filled_qty
                for o in self._open_orders()
                if o.type == "LIMIT"
                and is_own(o.client_order_id)
                and o.side is closing_side(held)
                and (among is None or o.client_order_id in among)
            ),
            D(0),
        )

    def _check_take_profit_sum(self, call: object) -> None:
        """I8 where the engine could know: a take-profit the exchange took, issued while the
        engine's size was the exchange's and the position has not shrunk since, fits in it
        with the others the engine tracks (not with a dead process's landing late, which it
        cancels when it hears of them)."""
        order = getattr(call, "order", None)
        state = self.actor.state if self.actor is not None and self._actor_live() else None
        if order is None or order.type != "LIMIT" or not state:
            return
        held = self.fake.position(SYMBOL)
        sizes = self.sizes_at_issue.get(order.client_order_id)
        if sizes is None or held == 0 or not sizes[0] == sizes[1] == abs(held):
            return
        tracked = {o.intent.client_order_id for o in state.orders}
        if order.client_order_id not in tracked:
            return
        event("I8 checked at a take-profit's creation")
        assert self._open_take_profits(held, tracked) <= abs(held), self._open_orders()

    # --- invariants after every step ------------------------------------------------------------

    @invariant()
    def exits_only_reduce(self) -> None:  # I1
        for call in self.fake.calls:
            order = call.order
            if order is not None:
                assert order.reduce_only or order.close_position, order

    @invariant()
    def no_client_id_created_twice(self) -> None:  # I5
        created = self.fake.created
        assert len(created) == len(set(created)), created

    @invariant()
    def one_sequence_number_one_intent(self) -> None:  # I5: distinct intents, distinct ids
        issued: dict[int, str] = {}
        for call in self.fake.calls:
            ref = parse_client_order_id(call.client_order_id)
            if call.method is Method.PLACE and ref is not None:
                cid = issued.setdefault(ref.seq, call.client_order_id)
                assert cid == call.client_order_id, f"{cid} and {call.client_order_id}"

    @invariant()
    def working_stops_never_loosen(self) -> None:  # I2
        last: dict[PlanKey, Decimal] = {}
        for i, cid in enumerate(self.fake.created):
            if i in self.fresh_from:
                last.clear()
            if leg_label(cid) != Leg.WORKING_STOP.value:
                continue
            key = self.plan_of.get(cid)
            assert key is not None, f"{cid} was created, yet no plan issued it"
            trigger = self.fake.orders(cid)[0].trigger_price
            if trigger is None:
                continue  # the leg's market close after the exchange refused it (-2021)
            sign = 1 if key[0] == "LONG" else -1
            before = last.get(key)
            assert before is None or sign * (trigger - before) >= 0, (
                f"I2: working stop {cid} at {trigger} after {before}"
            )
            last[key] = trigger


def test_a_lookup_outlasting_the_wait_is_finished() -> None:
    """The actor's timed wait covers waiting for a message only: a batch whose handling
    outlasts it (here a lookup by client id, after two reconciliations missed a take-profit)
    is finished, not cancelled half-way with its outcome lost."""
    machine = SymbolMachine()
    try:
        machine.fake.set_position(SYMBOL, D(1), D(100))
        machine.step(machine._start_actor)
        while machine.fake.pending:
            machine.step(lambda: machine.fake.deliver(0))
        tp1 = next(o for o in machine._open_orders() if leg_label(o.client_order_id) == "TP1")
        machine.fake.cancel_by_hand(tp1.client_order_id, conditional=False)
        machine.reconcile()
        machine.stream.clear()  # the cancel's event is lost
        machine.reconcile()
        lookups = [c for c in machine.fake.pending if c.method is Method.QUERY]
        assert [c.client_order_id for c in lookups] == [tp1.client_order_id]
        machine.advance(2000)  # the actor's wait runs out while the lookup is on its way
        machine.step(lambda: machine.fake.deliver(machine.fake.pending.index(lookups[0])))
        places = [c.client_order_id for c in machine.fake.pending if c.method is Method.PLACE]
        assert [leg_label(cid) for cid in places] == ["TP1"], places
    finally:
        machine.teardown()


SymbolMachine.TestCase.settings = settings(
    max_examples=400,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSymbol = SymbolMachine.TestCase
