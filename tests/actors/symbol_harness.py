"""The harness of the symbol actor's state machine (RELIABILITY.md §3, layer 2): the real
gateway and symbol actor on an anyio loop in a portal thread, the in-memory fake exchange, and
the user stream the fake's changes make.

Each step does one thing on the loop and then lets it run until every actor is parked (on its
mailbox, or on a call the fake holds). Time is simulated: the fake's clock is the wall clock,
the gateway's clock and ticks are driven by the harness, and the symbol actor's waits are
cancel scopes the harness fires when its clock passes them, so a run is deterministic.
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
from hypothesis.stateful import RuleBasedStateMachine

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
from exitd.exchange.port import (
    OrderState,
    OrderUpdate,
    OrderView,
    PositionView,
    QueryOutcome,
    RejectKind,
)
from exitd.ownership import Guard, Mode
from tests.actors.fake_exchange import FakeExchange, Method

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


def closing_side(amount: Decimal) -> OrderSide:
    return OrderSide.SELL if amount > 0 else OrderSide.BUY


def sign_of(amount: Decimal) -> int:
    return 1 if amount > 0 else -1


class SymbolHarness(RuleBasedStateMachine):
    """The daemon's pieces on a portal's loop, the fake exchange and its user stream; the
    rules and invariants are the test's."""

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
        self.actor_lookups: list[int] = []  # indexes in fake.calls of the actor's own queries
        self.plan_of: dict[str, PlanKey] = {}  # client id -> the adoption that issued it
        self.last_key: PlanKey | None = None
        # Counts of created orders when the position was flat or a working stop executed:
        # "never loosen" starts afresh there, as in the engine's state machine.
        self.fresh_from: set[int] = set()
        # client id -> (the exchange's size, the engine's) when the engine issued it
        self.sizes_at_issue: dict[str, tuple[Decimal, Decimal]] = {}
        self.actor: SymbolActor | None = None
        self.actor_task: Running | None = None
        self.gateway_task: Running | None = None
        self.incarnation = 0
        self.snapshots: SnapshotStore | None = None
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
        assert self.snapshots is not None
        self.snapshots.close()
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    # --- the daemon's pieces --------------------------------------------------------------------

    def _start_gateway(self) -> None:
        """A process (re)starts: the last one's queued snapshots are on disk, as its
        reservations always are; a new store starts on the same folder."""
        if self.snapshots is not None:
            self.snapshots.close()
        self.snapshots = SnapshotStore(self.snapshot_dir)
        rules = OwnershipRules(Mode.EXIT_BRAIN_V3, Guard.SOFT, ())
        self.gateway = Gateway(self.fake, rules, clock=lambda: self.fake.now_ms / 1000, tick_s=None)
        self.activity = self.portal.call(Pulse)
        self.context = SymbolContext(
            router=ROUTER,
            filters=lambda symbol: FILTERS if symbol == SYMBOL else None,
            gateway=self.gateway.mailbox,
            submit=self.gateway.submit,
            snapshots=self.snapshots,
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

    async def _fetch_state(self, symbol: str, fresh: bool = False) -> ExchangeState:
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
            key = plan_key(each)
            for order in each.orders:
                cid = order.intent.client_order_id
                if cid not in self.plan_of:
                    self.sizes_at_issue[cid] = (abs(self.fake.position(SYMBOL)), each.qty)
                # Inherited in the step that issued it: the adoption before this one's.
                issuer = self.last_key if cid in each.inherited else key
                self.plan_of.setdefault(cid, issuer or key)
            self.last_key = key

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
            if qty > 0 and leg_label(view.client_order_id) == Leg.WORKING_STOP.value:
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
        s = sign_of(held)
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
            if order.side is not closing_side(held):
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

    def advance(self, dt_ms: int) -> None:
        """Time passes; every wait due on the way fires at its time."""
        target = self.fake.now_ms + dt_ms
        while self.fake.now_ms < target:
            due = self.timers.next_due()
            self.fake.now_ms = min(target, due) if due is not None else target
            self.step(self.gateway.tick)


def plan_key(state: ExitState) -> PlanKey:
    plan = state.plan
    return (plan.side.name, plan.entry_price, plan.initial_qty, plan.adoption_price)


def leg_label(cid: str) -> str:
    ref = parse_client_order_id(cid)
    if ref is None or ref.leg is None:
        return cid
    return f"TP{ref.tp_number}" if ref.leg is Leg.TAKE_PROFIT else ref.leg.value
