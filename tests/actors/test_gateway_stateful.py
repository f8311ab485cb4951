"""The real gateway actor against the in-memory fake exchange (RELIABILITY.md §3, layer 2).

Hypothesis submits places and cancels (hard stops, working stops, take-profits, from the exit
brain, legacy modules and the safety net), resolves the fake's parked calls in the order and
with the fates it likes (delivered, executed but the answer lost, lost before executing, 429,
clock error, refused), moves the gateway's clock, changes mode and guard, fills or cancels
orders by hand, asks again for a resting order (-4116), loads the rate budget, fills the
account's conditional slots and restarts the gateway as its supervisor would. The gateway
runs on an anyio loop in a portal thread; each step does one thing on that loop and then lets
the loop run until the gateway is idle (every task parked on the fake or on its mailbox), so a
run is deterministic and shrinks. The invariants are checked on the fake's log after every step;
`quiesce` answers everything and checks that every write got exactly one answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exitd.actors.gateway import Gateway, OwnershipRules
from exitd.actors.messages import (
    CancelWrite,
    ConditionalOrdersOpen,
    NotSent,
    NotSentReason,
    PlaceWrite,
    Submit,
    Write,
    WriteAnswer,
)
from exitd.actors.write_queue import (
    CONDITIONAL_CAP,
    HARD_STOP_RESERVE,
    ORDERS_1M_LIMIT,
    ORDERS_10S_LIMIT,
    WEIGHT_1M_LIMIT,
)
from exitd.engine.model import OrderSide
from exitd.exchange.port import (
    Accepted,
    NotFound,
    OrderRequest,
    OrderView,
    RateUsage,
    Rejected,
    RejectKind,
)
from exitd.ops.metrics import OrderKind
from exitd.ownership import EXIT_BRAIN, SAFETY_NET, Guard, Mode
from tests.actors.fake_exchange import FakeExchange, Fate, Method, PendingCall

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
LEGACY = ("position_monitor", "hybrid_tpsl")
MODULES = (EXIT_BRAIN, EXIT_BRAIN, *LEGACY, SAFETY_NET)
LEGS = ("HARD_SL", "WORKING_STOP", "TP1", "TP2")
_KINDS = {"HARD_SL": OrderKind.SL, "WORKING_STOP": OrderKind.TRAILING}
REFUSALS = (
    (RejectKind.RATE_LIMITED, None),
    (RejectKind.RATE_LIMITED, 2.0),
    (RejectKind.BANNED, 5.0),
    (RejectKind.CLOCK, None),
    (RejectKind.OTHER, None),
)
# Loop iterations a step may take to reach idle; a chain of hops is a handful at most.
_SETTLE_ROUNDS = 200


@dataclass(eq=False)
class Record:
    """One write the test submitted, and what the gateway answered, stamped on the fake."""

    write: Write
    submitted: int
    answers: list[tuple[int, WriteAnswer]] = field(default_factory=list)

    @property
    def method(self) -> Method:
        return Method.PLACE if isinstance(self.write, PlaceWrite) else Method.CANCEL

    def answered_at(self) -> int | None:
        return self.answers[0][0] if self.answers else None

    def outcome(self) -> object:
        return self.answers[0][1].outcome if self.answers else None


def order_for(cid: str, symbol: str, leg: str, valid: bool) -> OrderRequest:
    """An exit of a long position: a close-position hard stop, a reduce-only working stop, a
    reduce-only limit take-profit; `valid=False` drops reduce-only (the gateway refuses it)."""
    if leg == "HARD_SL":
        order = OrderRequest(
            symbol,
            cid,
            OrderSide.SELL,
            "STOP_MARKET",
            trigger_price=Decimal(90),
            close_position=valid,
        )
    elif leg == "WORKING_STOP":
        order = OrderRequest(
            symbol,
            cid,
            OrderSide.SELL,
            "STOP_MARKET",
            quantity=Decimal("0.5"),
            trigger_price=Decimal(95),
            reduce_only=valid,
        )
    else:
        order = OrderRequest(
            symbol,
            cid,
            OrderSide.SELL,
            "LIMIT",
            quantity=Decimal("0.3"),
            price=Decimal(110),
            reduce_only=valid,
            time_in_force="GTC",
        )
    return order


def _definite(outcome: object) -> bool:
    return isinstance(outcome, Accepted | Rejected)


def _looked_up(call: PendingCall) -> bool:
    """A query that told the gateway something: the order, or that there is none."""
    outcome = call.outcome
    return isinstance(outcome, OrderView | NotFound) or (
        isinstance(outcome, Rejected) and outcome.kind is RejectKind.NOT_FOUND
    )


class GatewayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.fake = FakeExchange()
        for symbol in SYMBOLS:
            self.fake.set_position(symbol, Decimal(1))
        self.ownership = OwnershipRules(Mode.EXIT_BRAIN_V3, Guard.SOFT, LEGACY)
        self.gateway = Gateway(self.fake, self.ownership, clock=lambda: self.now, tick_s=None)
        self.records: list[Record] = []
        self.by_cid: dict[str, list[Record]] = {}
        self.module_of: dict[str, str] = {}
        self.checked_calls = 0
        self.kept: set[str] = set()  # ids asked for again: never filled or cancelled by hand
        self.quiet_until = 0.0  # after a 429 or a ban, nothing may reach the exchange
        self.incarnation = 0
        self._exit = ExitStack()
        self.portal: BlockingPortal = self._exit.enter_context(start_blocking_portal())
        self.running, self.scope = self.portal.start_task(self._run_gateway, 0)
        self.step(lambda: None)

    def teardown(self) -> None:
        self.stop_gateway()
        self._exit.close()

    async def _run_gateway(
        self, incarnation: int, *, task_status: anyio.abc.TaskStatus[anyio.CancelScope]
    ) -> None:
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            await self.gateway.run(incarnation)

    def stop_gateway(self) -> None:
        """Cancel the gateway's task group, as its supervisor does on a crash, and wait."""
        self.portal.call(self.scope.cancel)
        self.running.result(timeout=10)

    # --- driving the loop ---------------------------------------------------------------------

    def step(self, action: Callable[[], object]) -> None:
        """Do `action` on the gateway's loop, then let the loop run until the gateway idles."""
        self.portal.call(self._step, action)
        self._check_new_calls()

    async def _step(self, action: Callable[[], object]) -> None:
        action()
        for _ in range(_SETTLE_ROUNDS):
            await anyio.lowlevel.checkpoint()
            if self._idle():
                return
        raise AssertionError("the gateway did not come to rest")

    def _idle(self) -> bool:
        """Every gateway task is parked: on its mailbox, or on a call the fake holds."""
        stats = self.gateway.mailbox.receive.statistics()
        if stats.current_buffer_used or stats.tasks_waiting_receive != 1:
            return False
        if any(c.resolved is not None and not c.returned for c in self.fake.calls):
            return False
        parked = {(c.method, c.client_order_id) for c in self.fake.pending if not c.returned}
        for cid, entry in self.gateway._inflight.items():
            if not entry.unknown:
                method = (
                    Method.PLACE if isinstance(entry.submit.write, PlaceWrite) else Method.CANCEL
                )
                if (method, cid) not in parked:
                    return False
            elif entry.looking and (Method.QUERY, cid) not in parked:
                return False
        return True

    def _check_new_calls(self) -> None:
        """On the calls that reached the fake during the last step: none while rate limited;
        I9 and shadow mode for the writes."""
        rules = self.ownership
        for call in self.fake.calls[self.checked_calls :]:
            assert self.now >= self.quiet_until, (
                f"{call.method.value} {call.client_order_id} sent while rate limited"
            )
            if call.method is Method.QUERY:
                continue
            if call.method is Method.PLACE and call.conditional:
                self._check_slots(call)
            module = self.module_of[call.client_order_id]
            assert not (module == EXIT_BRAIN and rules.mode is Mode.LEGACY), (
                f"mode LEGACY: the exit brain's {call.method.value} {call.client_order_id} "
                "reached the exchange"
            )
            assert not (
                module in LEGACY and rules.mode is Mode.EXIT_BRAIN_V3 and rules.guard is Guard.HARD
            ), f"guard hard: legacy {module}'s {call.method.value} reached the exchange"
        self.checked_calls = len(self.fake.calls)

    def _check_slots(self, call: PendingCall) -> None:
        """The account's 200 conditional orders: the last 10 are kept for hard stops. Open
        ones, and places that reached the exchange with no answer yet, count."""
        sending = sum(
            1
            for c in self.fake.pending
            if c.method is Method.PLACE and c.conditional and c.arrived <= call.arrived
        )
        used = self.fake.open_conditional() + sending
        hard_stop = call.order is not None and call.order.close_position
        cap = CONDITIONAL_CAP if hard_stop else CONDITIONAL_CAP - HARD_STOP_RESERVE
        assert used <= cap, f"{call.client_order_id}: {used} conditional orders, cap {cap}"

    def _submit(self, write: Write) -> None:
        record = Record(write, self.fake.stamp())
        self.records.append(record)
        self.by_cid.setdefault(write.client_order_id, []).append(record)

        def reply(answer: WriteAnswer) -> None:
            record.answers.append((self.fake.stamp(), answer))

        self.step(lambda: self.gateway.mailbox.post(Submit(write, reply)))

    # --- rules --------------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        module=st.sampled_from(MODULES),
        leg=st.sampled_from(LEGS),
        valid=st.integers(0, 9).map(bool),
    )
    def submit_place(self, symbol: str, module: str, leg: str, valid: bool) -> None:
        if module == SAFETY_NET:
            leg = "HARD_SL"
        cid = f"t{len(self.records)}{leg[:2]}{symbol[:3]}"
        self.module_of[cid] = module
        order = order_for(cid, symbol, leg, valid)
        kind = _KINDS.get(leg, OrderKind.TP)
        protective = leg in _KINDS
        self._submit(PlaceWrite(module, order, kind, leg, protective))

    @rule(data=st.data())
    def submit_cancel(self, data: st.DataObject) -> None:
        places = [r for r in self.records if isinstance(r.write, PlaceWrite)]
        of_a_place = data.draw(st.booleans(), label="of a placed order") if places else False
        if of_a_place:
            place = data.draw(st.sampled_from(places), label="place")
            assert isinstance(place.write, PlaceWrite)
            order = place.write.order
            write = CancelWrite(
                place.write.module,
                order.symbol,
                order.client_order_id,
                order.conditional,
                place.write.kind,
                place.write.leg,
                place.write.protective,
            )
        else:
            module = data.draw(st.sampled_from(MODULES), label="module")
            cid = f"t{len(self.records)}xxCAN"
            self.module_of[cid] = module
            symbol = data.draw(st.sampled_from(SYMBOLS), label="symbol")
            write = CancelWrite(module, symbol, cid, data.draw(st.booleans()), OrderKind.TP, "TP1")
        self._submit(write)

    @precondition(lambda self: self.fake.pending)
    @rule(
        data=st.data(),
        fate=st.sampled_from(list(Fate)),
        refusal=st.sampled_from(REFUSALS),
    )
    def resolve(
        self, data: st.DataObject, fate: Fate, refusal: tuple[RejectKind, float | None]
    ) -> None:
        i = data.draw(st.integers(0, len(self.fake.pending) - 1), label="pending call")
        kind, retry_after_s = refusal
        limited = fate is Fate.REFUSE and kind in (RejectKind.RATE_LIMITED, RejectKind.BANNED)
        if limited and not self.fake.pending[i].returned:
            # The gateway hears it and waits at least this long (its first back-off is 1 s).
            self.quiet_until = max(self.quiet_until, self.now + (retry_after_s or 1.0))
        self.step(lambda: self.fake.resolve(i, fate, kind, retry_after_s))

    @rule(dt=st.sampled_from((0.1, 0.5, 1.0, 2.5, 7.0)))
    def advance_clock(self, dt: float) -> None:
        self.advance(dt)

    def advance(self, dt: float) -> None:
        self.now += dt
        self.fake.now_ms += round(dt * 1000)
        self.step(self.gateway.tick)

    @rule(mode=st.sampled_from(list(Mode)), guard=st.sampled_from(list(Guard)))
    def set_ownership(self, mode: Mode, guard: Guard) -> None:
        self.ownership = OwnershipRules(mode, guard, LEGACY)
        self.step(lambda: self.gateway.set_ownership(self.ownership))

    @rule(data=st.data(), fill=st.booleans())
    def by_hand(self, data: st.DataObject, fill: bool) -> None:
        """The order is filled (a new position opens right after) or cancelled in the app."""
        open_orders = [
            o for o in self.portal.call(self.fake.open_orders) if o.client_order_id not in self.kept
        ]
        if not open_orders:
            return
        order = data.draw(st.sampled_from(open_orders), label="order")
        cid, conditional = order.client_order_id, order.conditional
        if fill:
            self.step(lambda: self.fake.fill(cid, conditional))
            self.step(lambda: self.fake.set_position(order.symbol, Decimal(1)))
        else:
            self.step(lambda: self.fake.cancel_by_hand(cid, conditional))

    @rule(data=st.data())
    def ask_again_for_a_resting_order(self, data: st.DataObject) -> None:
        """A restarted symbol actor asks again for an order that rests on the exchange: -4116,
        the gateway reads it and adopts it, and never creates a second (RELIABILITY.md §2, 5).
        The order is then kept open, so the id stays a duplicate."""
        resting = {o.client_order_id for o in self.portal.call(self.fake.open_orders)}
        settled = [
            r
            for r in self.records
            if isinstance(r.write, PlaceWrite)
            and r.write.client_order_id in resting
            and all(x.answers for x in self.by_cid[r.write.client_order_id])
        ]
        if not settled:
            return
        record = data.draw(st.sampled_from(settled), label="place")
        self.kept.add(record.write.client_order_id)
        self._submit(record.write)

    @rule(share=st.sampled_from((0.0, 0.5, 0.85, 0.97)))
    def exchange_load(self, share: float) -> None:
        """The usage the exchange reports from now on (its X-MBX-* headers), as a share of
        every limit: above 80 % only protective writes leave, above 95 % only hard stops."""
        self.fake.usage = RateUsage(
            round(WEIGHT_1M_LIMIT * share),
            round(ORDERS_10S_LIMIT * share),
            round(ORDERS_1M_LIMIT * share),
        )

    @rule(foreign=st.sampled_from((0, 189, 199)))
    def crowd(self, foreign: int) -> None:
        """Other orders take the account's conditional slots; reconciliation tells the
        gateway which conditional orders are open."""
        for view in self.portal.call(self.fake.open_orders):
            if view.client_order_id.startswith("foreign"):
                self.fake.cancel_by_hand(view.client_order_id, view.conditional)
        for _ in range(foreign):
            cid = f"foreign{len(self.fake.calls)}-{self.fake.stamp()}"
            self.fake.rest(order_for(cid, "XRPUSDT", "WORKING_STOP", valid=True))
        open_ids = frozenset(
            o.client_order_id for o in self.portal.call(self.fake.open_orders) if o.conditional
        )
        self.step(lambda: self.gateway.mailbox.post(ConditionalOrdersOpen(open_ids)))

    @rule()
    def restart(self) -> None:
        """The supervisor restarts the gateway: its task group is cancelled mid-flight."""
        self.stop_gateway()
        self.incarnation += 1
        self.running, self.scope = self.portal.start_task(self._run_gateway, self.incarnation)
        self.step(lambda: None)

    @rule()
    def quiesce(self) -> None:
        """The exchange heals; deliver everything and let lookups run out: every write then
        has exactly one answer (liveness, RELIABILITY.md Q7)."""
        self.fake.usage = RateUsage(0, 0, 0)
        self.crowd(0)
        for _ in range(500):
            if self.fake.pending:
                self.step(lambda: self.fake.deliver(0))
            elif self.gateway._inflight or len(self.gateway._queue):
                self.advance(1.0)
            else:
                break
        assert not self.gateway._inflight, self.gateway._inflight
        assert len(self.gateway._queue) == 0
        for record in self.records:
            assert len(record.answers) == 1, (record.write, record.answers)
            outcome = record.outcome()
            detail = outcome.kind.value if isinstance(outcome, Rejected) else ""
            detail = outcome.reason.value if isinstance(outcome, NotSent) else detail
            event(f"{record.method.value} answered {type(outcome).__name__} {detail}")
        for entry in self.fake.log:
            if isinstance(entry.outcome, Rejected):
                event(f"the exchange said {entry.outcome.kind.value}")
            elif entry.call.method is Method.QUERY:
                event(f"lookup found {type(entry.outcome).__name__}")

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def no_client_id_created_twice(self) -> None:  # I5
        created = self.fake.created
        assert len(created) == len(set(created)), created

    @invariant()
    def unanswered_places_are_in_flight(self) -> None:
        """What a restarted symbol actor reads so as not to place again (finding 8)."""
        for symbol in SYMBOLS:
            held = {o.client_order_id for o in self.gateway.inflight(symbol)}  # loop idle
            waiting = {
                r.write.client_order_id
                for r in self.records
                if isinstance(r.write, PlaceWrite) and r.write.symbol == symbol and not r.answers
            }
            assert held == waiting, (symbol, held, waiting)

    @invariant()
    def answered_at_most_once_never_unknown(self) -> None:
        for record in self.records:
            assert len(record.answers) <= 1, record.answers
            outcome = record.outcome()
            assert outcome is None or isinstance(outcome, Accepted | Rejected | NotSent)

    @invariant()
    def look_before_sending_again(self) -> None:  # I6
        writes: dict[str, list[PendingCall]] = {}
        queries: dict[str, list[PendingCall]] = {}
        for call in self.fake.calls:
            into = queries if call.method is Method.QUERY else writes
            into.setdefault(call.client_order_id, []).append(call)
        for cid, calls in writes.items():
            for first, then in itertools.pairwise(calls):
                known = first.resolved is not None and first.resolved < then.arrived
                if known and _definite(first.outcome):
                    continue
                assert any(
                    q.arrived > first.arrived
                    and q.resolved is not None
                    and q.resolved < then.arrived
                    and _looked_up(q)
                    for q in queries.get(cid, ())
                ), f"{then.method.value} {cid} sent again without a lookup"

    @invariant()
    def unknown_is_never_answered_rejected_without_a_lookup(self) -> None:
        for record in self.records:
            outcome, at = record.outcome(), record.answered_at()
            if not isinstance(outcome, Rejected) or at is None:
                continue
            cid = record.write.client_order_id
            for call in self.fake.calls:
                if call.client_order_id != cid or call.method is not record.method:
                    continue
                if call.arrived > at or (_definite(call.outcome) and call.returned):
                    continue
                assert any(
                    q.method is Method.QUERY
                    and q.client_order_id == cid
                    and q.arrived > call.arrived
                    and q.resolved is not None
                    and q.resolved < at
                    and _looked_up(q)
                    for q in self.fake.calls
                ), f"{cid}: an unknown outcome answered {outcome.kind.value} without a lookup"

    @invariant()
    def answers_agree_with_the_exchange(self) -> None:
        for record in self.records:
            outcome = record.outcome()
            cid = record.write.client_order_id
            if isinstance(record.write, PlaceWrite):
                if isinstance(outcome, Accepted):
                    ids = [o.exchange_id for o in self.fake.orders(cid)]
                    assert outcome.order.exchange_id in ids, (cid, outcome)
                elif isinstance(outcome, Rejected):
                    accepted = sum(isinstance(r.outcome(), Accepted) for r in self.by_cid[cid])
                    assert self.fake.created.count(cid) <= accepted, f"{cid} exists: rejected?"
            elif isinstance(outcome, Accepted):
                assert not outcome.order.state.open, f"cancel of {cid} answered while open"

    @invariant()
    def writes_not_sent_never_reach_the_exchange(self) -> None:
        """Refused, shadow and superseded places stay home; one the exchange refused (a 429)
        and that was superseded or forbidden while queued again reached it only that once. A
        cancel may have gone out before (its outcome unknown, the order found still open), but
        never after its answer."""
        for cid, records in self.by_cid.items():
            for method in (Method.PLACE, Method.CANCEL):
                mine = [r for r in records if r.method is method]
                if not mine or not all(isinstance(r.outcome(), NotSent) for r in mine):
                    continue
                last = max(r.answered_at() or 0 for r in mine)
                for call in self.fake.calls:
                    if call.client_order_id != cid or call.method is not method:
                        continue
                    assert call.arrived < last, f"{method.value} {cid} sent after NotSent"
                    if method is Method.PLACE:
                        assert call.resolved is not None and call.resolved < last, call
                        assert isinstance(call.outcome, Rejected), call
                        assert not self.fake.orders(cid), f"place {cid} was not to be sent"

    @invariant()
    def a_cancel_never_overtakes_its_place(self) -> None:
        for cid, records in self.by_cid.items():
            place = next((r for r in records if isinstance(r.write, PlaceWrite)), None)
            if place is None:
                continue
            place_calls = [
                c.arrived
                for c in self.fake.calls
                if c.client_order_id == cid and c.method is Method.PLACE
            ]
            for call in self.fake.calls:
                if call.client_order_id != cid or call.method is not Method.CANCEL:
                    continue
                at = place.answered_at()
                dropped = isinstance(place.outcome(), NotSent) and at is not None
                if dropped and at is not None and at < call.arrived:
                    continue
                assert any(a < call.arrived for a in place_calls), (
                    f"cancel {cid} reached the exchange before its place"
                )

    @invariant()
    def superseded_only_by_a_newer_place_of_the_same_leg(self) -> None:
        for record in self.records:
            outcome = record.outcome()
            if isinstance(outcome, NotSent) and outcome.reason is NotSentReason.SUPERSEDED:
                write = record.write
                assert isinstance(write, PlaceWrite)
                assert write.leg not in ("HARD_SL", "TIME")
                assert any(
                    isinstance(r.write, PlaceWrite)
                    and r.write.leg == write.leg
                    and r.write.symbol == write.symbol
                    and r.submitted > record.submitted
                    for r in self.records
                )


GatewayMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGateway = GatewayMachine.TestCase
