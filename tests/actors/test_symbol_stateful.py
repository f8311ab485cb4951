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

Everything runs on one anyio loop in a portal thread. Each step does one thing on it and then
lets the loop run until every actor is parked (on its mailbox, or on a call the fake holds).
Time is simulated: the fake's clock is the wall clock, the gateway's clock and ticks are
driven by the test, and the symbol actor's waits are cancel scopes the test fires when its
clock passes them, so a run is deterministic and shrinks. The per-step invariants are I1, I2,
I5 and I8 (where the engine could know the position); `settle` heals everything, runs until
quiet, and checks Q1, Q3, Q4, I4, I8 and that the gateway's in-flight table is empty.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from exitd.actors.gateway import Gateway, OwnershipRules
from exitd.actors.messages import (
    ConditionalOrderGone,
    ConditionalOrdersOpen,
    ExchangeState,
    SymbolMessage,
)
from exitd.actors.reconcile_view import is_own
from exitd.actors.runtime import Pulse
from exitd.actors.snapshots import SnapshotStore
from exitd.actors.symbol import SymbolActor, SymbolContext
from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    ExitRouter,
    ExitState,
    Leg,
    OrderSide,
    SymbolFilters,
    TakeProfitSpec,
    TrailSpec,
    parse_client_order_id,
)
from exitd.engine.rounding import round_qty_down
from exitd.exchange.port import (
    MarkPrice,
    OrderState,
    OrderUpdate,
    OrderView,
    PositionView,
    QueryOutcome,
    RejectKind,
)
from exitd.ownership import Guard, Mode
from tests.actors.fake_exchange import FakeExchange, Fate, Method

D = Decimal
SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))
PROFILE = ExitProfile(
    hard_sl_pct=D(2),
    take_profits=(TakeProfitSpec(D(1), D("0.3")), TakeProfitSpec(D(2), D("0.3"))),
    breakeven=BreakevenSpec(offset_pct=D("0.1"), trigger_pct=D("0.5")),
    trail=TrailSpec(callback_pct=D("0.5"), activation_pct=D("1.2")),
)
ROUTER = ExitRouter({"default": PROFILE}, {}, D(5))
BASE_MS = 1_800_000_000_000
REFUSALS = (
    (RejectKind.RATE_LIMITED, None),
    (RejectKind.RATE_LIMITED, 2.0),
    (RejectKind.CLOCK, None),
    (RejectKind.OTHER, None),
)
_REAL_TIMEOUT_S = 10.0
_SETTLE_ROUNDS = 150
PlanKey = tuple[object, ...]


class Timers:
    """The symbol actor's `move_on_after`: a scope the test cancels once its clock is due."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self._now_ms = now_ms
        self._waiting: list[tuple[int, anyio.CancelScope]] = []

    def move_on_after(self, delay_s: float) -> anyio.CancelScope:
        scope = anyio.CancelScope()
        due = self._now_ms() + round(delay_s * 1000)
        if due <= self._now_ms():
            scope.cancel()
        else:
            self._waiting.append((due, scope))
        return scope

    def next_due(self) -> int | None:
        return min((due for due, _ in self._waiting), default=None)

    def fire(self) -> bool:
        """Cancel the scopes that are due; whether there were any."""
        now = self._now_ms()
        due = [scope for at, scope in self._waiting if at <= now]
        self._waiting = [(at, scope) for at, scope in self._waiting if at > now]
        for scope in due:
            scope.cancel()
        return bool(due)


@dataclass(eq=False)
class Running:
    """A task the test started on the loop: the scope that cancels it, and how it ended."""

    scope: anyio.CancelScope
    finished: bool = False
    error: BaseException | None = None


def _closing(amount: Decimal) -> OrderSide:
    return OrderSide.SELL if amount > 0 else OrderSide.BUY


def _sign(amount: Decimal) -> int:
    return 1 if amount > 0 else -1


class SymbolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeExchange(filters={SYMBOL: FILTERS}, marks={SYMBOL: D(100)})
        self.fake.now_ms = BASE_MS
        self.snapshot_dir = Path(tempfile.mkdtemp(prefix="exitd-sm-"))
        self.timers = Timers(lambda: self.fake.now_ms)
        self.stream: list[SymbolMessage] = []  # user-stream events not yet delivered
        self.trade_ids = 0
        self.seen: dict[int, tuple[OrderState, Decimal]] = {}  # the book as last published
        self.seen_position = (D(0), D(0))
        self.calls_seen = 0
        self.actor_lookups: list[int] = []  # indexes in fake.calls of the actor's own queries
        self.plan_of: dict[str, PlanKey] = {}  # client id -> the adoption that issued it
        self.last_key: PlanKey | None = None
        # Counts of created orders when the position was flat or a working stop executed:
        # "never loosen" starts afresh there, as in the engine's state machine.
        self.fresh_from: set[int] = set()
        self.views_at_send: dict[int, tuple[Decimal, Decimal | None]] = {}
        self.actor: SymbolActor | None = None
        self.actor_task: Running | None = None
        self.gateway_task: Running | None = None
        self.incarnation = 0
        self._exit = ExitStack()
        self.portal: BlockingPortal = self._exit.enter_context(start_blocking_portal())
        self.host, self.tasks = self.portal.start_task(self._host)
        self._start_gateway()

    def teardown(self) -> None:
        self._stop(self.actor_task)
        self._stop(self.gateway_task)
        self.portal.call(self.tasks.cancel_scope.cancel)
        self.host.result(timeout=_REAL_TIMEOUT_S)
        self._exit.close()
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    # --- the daemon's pieces --------------------------------------------------------------------

    def _start_gateway(self) -> None:
        rules = OwnershipRules(Mode.EXIT_BRAIN_V3, Guard.SOFT, ())
        self.gateway = Gateway(self.fake, rules, clock=lambda: self.fake.now_ms / 1000, tick_s=None)
        self.activity = self.portal.call(Pulse)
        self.context = SymbolContext(
            router=ROUTER,
            filters=lambda symbol: FILTERS if symbol == SYMBOL else None,
            gateway=self.gateway.mailbox,
            snapshots=SnapshotStore(self.snapshot_dir),
            fetch_state=self._fetch_state,
            query_order=self._query_order,
            mode=lambda: Mode.EXIT_BRAIN_V3,
            new_position_grace_s=5.0,
            emergency_sl_pct=D(5),
            activity=self.activity,
            wall_ms=lambda: self.fake.now_ms,
            move_on_after=self.timers.move_on_after,
            monotonic=lambda: self.fake.now_ms / 1000,
        )
        self.gateway_task = self.portal.call(self._start, self.gateway.run, 0)

    async def _host(self, *, task_status: anyio.abc.TaskStatus[anyio.abc.TaskGroup]) -> None:
        async with anyio.create_task_group() as tasks:
            task_status.started(tasks)
            await anyio.sleep_forever()

    def _start(self, run: Callable[[int], Awaitable[None]], incarnation: int) -> Running:
        """Run `run(incarnation)` in the host task group (on the loop); a crash is kept."""
        running = Running(anyio.CancelScope())

        async def task() -> None:
            try:
                with running.scope:
                    await run(incarnation)
            except Exception as exc:
                running.error = exc
            finally:
                running.finished = True

        self.tasks.start_soon(task)
        return running

    def _stop(self, running: Running | None) -> None:
        """Cancel a task, as a crash or the supervisor does, and wait for it."""
        if running is not None:
            self.portal.call(self._cancel, running)

    async def _cancel(self, running: Running) -> None:
        running.scope.cancel()
        with anyio.fail_after(_REAL_TIMEOUT_S):
            while not running.finished:
                await anyio.lowlevel.checkpoint()

    def _start_actor(self, actor: SymbolActor | None = None) -> None:
        self.actor = actor or SymbolActor(SYMBOL, self.context)
        self.incarnation += 1
        self.actor_task = self._start(self.actor.run, self.incarnation)

    def _actor_live(self) -> bool:
        return self.actor_task is not None and not self.actor_task.finished

    async def _fetch_state(self, symbol: str) -> ExchangeState:
        """The account's read for a starting actor: position, open orders, mark price."""
        held = self.fake.position(symbol)
        position = await self.fake.positions()
        orders = tuple(o for o in await self.fake.open_orders() if o.symbol == symbol)
        view = next((p for p in position if p.symbol == symbol), None)
        assert view is None or view.amount == held
        mark = await self.fake.mark_price(symbol)
        return ExchangeState(view, orders, mark.price, self.fake.now_ms)

    async def _query_order(self, symbol: str, cid: str, conditional: bool) -> QueryOutcome:
        self.actor_lookups.append(len(self.fake.calls))  # the call about to arrive
        return await self.fake.query(symbol, cid, conditional)

    # --- driving the loop -----------------------------------------------------------------------

    def step(self, action: Callable[[], object]) -> None:
        """Do `action` on the loop, then let it run until every actor is parked."""
        self.portal.call(self._step, action)
        self._after_step()

    async def _step(self, action: Callable[[], object]) -> None:
        action()
        deadline = time.monotonic() + _REAL_TIMEOUT_S
        spins = 0
        while True:
            await anyio.lowlevel.checkpoint()
            if self._idle():
                if not self.timers.fire():
                    return
                continue
            spins += 1
            if spins > 50:  # a snapshot being written in a worker thread
                await anyio.sleep(0.0005)
            assert time.monotonic() < deadline, "the actors did not come to rest"

    def _idle(self) -> bool:
        return self._gateway_idle() and self._actor_idle()

    def _gateway_idle(self) -> bool:
        stats = self.gateway.mailbox.receive.statistics()
        if stats.current_buffer_used or stats.tasks_waiting_receive != 1:
            return False
        if any(c.resolved is not None and not c.returned for c in self.fake.calls):
            return False
        parked = {(c.method, c.client_order_id) for c in self.fake.pending if not c.returned}
        for cid, entry in self.gateway._inflight.items():
            method = Method.PLACE if hasattr(entry.submit.write, "order") else Method.CANCEL
            if not entry.unknown and (method, cid) not in parked:
                return False
            if entry.unknown and entry.looking and (Method.QUERY, cid) not in parked:
                return False
        return True

    def _actor_idle(self) -> bool:
        if self.actor is None or not self._actor_live():
            return True
        stats = self.actor.mailbox.receive.statistics()
        if stats.tasks_waiting_receive == 1 and not stats.current_buffer_used:
            return True
        calls = self.fake.calls
        return any(
            i < len(calls) and calls[i].resolved is None and not calls[i].returned
            for i in self.actor_lookups
        )

    def _after_step(self) -> None:
        """Publish what the exchange did; note which adoption issued which id."""
        for running in (self.gateway_task, self.actor_task):
            if running is not None and running.error is not None:
                raise AssertionError("an actor crashed") from running.error
        self._expire_what_cannot_reduce()
        self._publish()
        live = self.actor is not None and self._actor_live()
        state = self.actor.state if self.actor is not None and live else None
        states = [] if self.actor is None or not live else [*self.actor._retiring, state]
        for each in states:
            if each is None:
                continue
            key = _plan_key(each)
            for order in each.orders:
                cid = order.intent.client_order_id
                # Inherited in the step that issued it: the adoption before this one's.
                issuer = self.last_key if cid in each.inherited else key
                self.plan_of.setdefault(cid, issuer or key)
            self.last_key = key
        held = self.fake.position(SYMBOL)
        engine_qty = None if state is None else state.qty
        for i in range(self.calls_seen, len(self.fake.calls)):
            self.views_at_send[i] = (abs(held), engine_qty)
        self.calls_seen = len(self.fake.calls)

    # --- the exchange's events ------------------------------------------------------------------

    def _publish(self, price: Decimal | None = None) -> None:
        """Every change of the book since the last call, as the user stream reports it: one
        order update per changed order (a fill at `price`, or the mark), then the position."""
        for i, view in enumerate(self.fake.book()):
            before = self.seen.get(i)
            if before == (view.state, view.filled_qty):
                continue
            self.seen[i] = (view.state, view.filled_qty)
            qty = view.filled_qty - (before[1] if before is not None else D(0))
            if qty > 0 and _label(view.client_order_id) == Leg.WORKING_STOP.value:
                self.fresh_from.add(len(self.fake.created))  # it did its job
            trade_id = None
            if qty > 0:
                self.trade_ids += 1
                trade_id = self.trade_ids
            at = price or self.fake.marks[SYMBOL]
            self.stream.append(OrderUpdate(view, qty, at, trade_id, self.fake.now_ms))
        held = self.fake.position_view(SYMBOL)
        position = (
            (D(0), D(0)) if held is None or not held.amount else (held.amount, held.entry_price)
        )
        if not position[0]:
            self.fresh_from.add(len(self.fake.created))
        if position != self.seen_position:
            self.seen_position = position
            self.stream.append(PositionView(SYMBOL, *position, self.fake.now_ms))

    def _open_orders(self) -> list[OrderView]:
        return [o for o in self.fake.book() if o.symbol == SYMBOL and o.state.open]

    def _expire_what_cannot_reduce(self, side: OrderSide | None = None) -> None:
        """Close-position stops are good till the position closes (GTE_GTC); plain reduce-only
        orders stay, the daemon must cancel its leftovers (binance-usdm.md)."""
        if side is None and self.fake.position(SYMBOL) != 0:
            return
        for order in self._open_orders():
            if order.close_position and (side is None or order.side is side):
                self.fake.expire(order.client_order_id, order.conditional)

    def _match(self, price: Decimal) -> None:
        """The exchange matches resting orders at `price`: stops first, the most protective
        first, then take-profits at their limit; a reduce-only order the position cannot take
        expires instead."""
        held = self.fake.position(SYMBOL)
        if held == 0:
            return
        s = _sign(held)
        orders = self._open_orders()
        stops = sorted(
            (
                o
                for o in orders
                if o.type == "STOP_MARKET"
                and o.trigger_price is not None
                and s * (price - o.trigger_price) <= 0
            ),
            key=lambda o: (-s * (o.trigger_price or 0), not o.close_position),
        )
        limits = sorted(
            (
                o
                for o in orders
                if o.type == "LIMIT" and o.price is not None and s * (price - o.price) >= 0
            ),
            key=lambda o: o.client_order_id,
        )
        for order, at in [*((o, price) for o in stops), *((o, o.price or price) for o in limits)]:
            held = self.fake.position(SYMBOL)
            if held == 0:
                break
            if not self.fake.orders(order.client_order_id)[-1].state.open:
                continue
            if order.side is not _closing(held):
                self.fake.expire(order.client_order_id, order.conditional)
            else:
                self.fake.fill(order.client_order_id, order.conditional)
            self._expire_what_cannot_reduce()
            self._publish(at)

    def _route(self, message: SymbolMessage) -> None:
        """What the account does with a stream event: to the live actor, or start one."""
        if isinstance(message, OrderUpdate):
            order = message.order
            if order.conditional and not order.state.open:
                self.gateway.mailbox.post(ConditionalOrderGone(order.client_order_id))
            starts = is_own(order.client_order_id) and order.state.open
        else:
            assert isinstance(message, PositionView)
            starts = message.amount != 0
        if self._actor_live():
            assert self.actor is not None
            self.actor.mailbox.post(message)
        elif starts:
            self._start_actor()

    # --- rules: the market ----------------------------------------------------------------------

    @initialize(short=st.booleans())
    def open_position(self, short: bool) -> None:
        self.fake.set_position(SYMBOL, D(-1) if short else D(1), D(100))
        self.step(self._start_actor)

    @rule(tenths=st.integers(-45, 45))
    def tick(self, tenths: int) -> None:
        """A new mark price: the exchange matches at it, then the actor hears the price."""
        price = D(100) + D(tenths) / 10
        self.fake.marks[SYMBOL] = price
        self._match(price)

        def post() -> None:
            if self.actor is not None and self._actor_live():
                self.actor.mailbox.post(MarkPrice(SYMBOL, price, self.fake.now_ms))

        self.step(post)

    @rule(data=st.data(), whole=st.booleans())
    def fill_take_profit(self, data: st.DataObject, whole: bool) -> None:
        """A resting limit fills at its price, whole or in part."""
        held = self.fake.position(SYMBOL)
        limits = [
            o
            for o in self._open_orders()
            if o.type == "LIMIT" and held and o.side is _closing(held)
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
            add = D("0.5") * (_sign(held) if held else 1)
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
        if held and (amount == 0 or _sign(amount) != _sign(held)):
            self._expire_what_cannot_reduce(_closing(held))  # the old position's
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

    def _reconcile(self) -> None:
        views = tuple(o for o in self.fake.book() if o.state.open)
        self.gateway.mailbox.post(
            ConditionalOrdersOpen(frozenset(v.client_order_id for v in views if v.conditional))
        )
        held = self.fake.position(SYMBOL)
        position = self.fake.position_view(SYMBOL) if held else None
        mine = tuple(v for v in views if v.symbol == SYMBOL)
        if self._actor_live():
            assert self.actor is not None
            self.actor.mailbox.post(ExchangeState(position, mine, None, self.fake.now_ms))
        elif held or any(is_own(v.client_order_id) for v in mine):
            self._start_actor()

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

    def advance(self, dt_ms: int) -> None:
        """Time passes; every wait due on the way fires at its time."""
        target = self.fake.now_ms + dt_ms
        while self.fake.now_ms < target:
            due = self.timers.next_due()
            self.fake.now_ms = min(target, due) if due is not None else target
            self.step(self.gateway.tick)

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
        assert plan.side.sign == _sign(held), (plan, held)
        assert state.qty == abs(held), (state.qty, held)
        # Q1: the hard stop, close-position, on the closing side, at the plan's price.
        hard = [
            o
            for o in own
            if o.type == "STOP_MARKET" and o.close_position and o.side is _closing(held)
        ]
        assert len(hard) == 1, f"Q1: hard stops {hard} for {held}"
        if hard[0].trigger_price != plan.hard_sl_price:
            # `resume` keeps a resting hard stop whatever its price, even one an earlier
            # adoption placed (the position grew while the daemon was down): never one of
            # this adoption's at another price.
            assert self.plan_of.get(hard[0].client_order_id) != _plan_key(state), (hard, plan)
            event("Q1: a restart kept an earlier adoption's hard stop")
        # Q4: the engine's orders are the exchange's.
        tracked = {o.intent.client_order_id: o for o in state.orders}
        assert set(tracked) == {o.client_order_id for o in own}, (tracked, own)
        for order in own:
            mine = tracked[order.client_order_id]
            if order.quantity is not None:
                assert mine.open_qty == order.quantity - order.filled_qty, (mine, order)
        # I4: one order per leg at rest.
        legs = [_label(o.client_order_id) for o in own]
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
                and o.side is _closing(held)
                and (among is None or o.client_order_id in among)
            ),
            D(0),
        )

    def _check_take_profit_sum(self, call: object) -> None:
        """I8 where the engine could know: a take-profit the exchange took, sent while the
        engine's size was the exchange's and the position has not shrunk since, fits in it
        with the others the engine tracks (not with a dead process's landing late, which it
        cancels when it hears of them)."""
        index = self.fake.calls.index(call)  # type: ignore[arg-type]
        order = getattr(call, "order", None)
        state = self.actor.state if self.actor is not None and self._actor_live() else None
        if order is None or order.type != "LIMIT" or index not in self.views_at_send:
            return
        held = self.fake.position(SYMBOL)
        exchange_qty, engine_qty = self.views_at_send[index]
        if held == 0 or engine_qty != exchange_qty or abs(held) != exchange_qty or not state:
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
            if _label(cid) != Leg.WORKING_STOP.value:
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


def _plan_key(state: ExitState) -> PlanKey:
    plan = state.plan
    return (plan.side.name, plan.entry_price, plan.initial_qty, plan.adoption_price)


def _label(cid: str) -> str:
    ref = parse_client_order_id(cid)
    if ref is None or ref.leg is None:
        return cid
    return f"TP{ref.tp_number}" if ref.leg is Leg.TAKE_PROFIT else ref.leg.value


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
        tp1 = next(o for o in machine._open_orders() if _label(o.client_order_id) == "TP1")
        machine.fake.cancel_by_hand(tp1.client_order_id, conditional=False)
        machine.reconcile()
        machine.stream.clear()  # the cancel's event is lost
        machine.reconcile()
        lookups = [c for c in machine.fake.pending if c.method is Method.QUERY]
        assert [c.client_order_id for c in lookups] == [tp1.client_order_id]
        machine.advance(2000)  # the actor's wait runs out while the lookup is on its way
        machine.step(lambda: machine.fake.deliver(machine.fake.pending.index(lookups[0])))
        places = [c.client_order_id for c in machine.fake.pending if c.method is Method.PLACE]
        assert [_label(cid) for cid in places] == ["TP1"], places
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
