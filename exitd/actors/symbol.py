"""The symbol actor: one per position, the only writer of that symbol's exit state.

A thin shell around the pure engine: it turns ticks, order updates, position changes and the
gateway's answers into engine events, runs `decide_all` once per batch (one moment's events
together, as replay does; a lone tick takes `decide`'s quiet-tick fast path), sends the
requests to the gateway and logs the notices. It starts from the exchange's state and the
gateway's in-flight writes, so a restart re-attaches what rests and places nothing twice; it
snapshots its progress so the trail resumes where it was.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Iterable
from decimal import Decimal

import anyio
import structlog

from exitd.actors.messages import (
    CancelWrite,
    ExchangeState,
    ForeignExitSeen,
    InflightQuery,
    Pause,
    PlanOverride,
    Submit,
    SymbolMessage,
    Woken,
    WriteAnswer,
)
from exitd.actors.overrides import OverrideRefused, overridden
from exitd.actors.plan_journal import PlanJournal
from exitd.actors.planning import plan_for
from exitd.actors.readiness import stop_rests
from exitd.actors.reconcile_view import (
    counted,
    diff_orders,
    ended_unseen,
    is_own,
    landed_late,
    leftovers,
    leg_label,
    missed_fills,
    module_of,
    not_yet_counted,
    position_move,
    progress_of,
    resting_intents,
    start_decision,
)
from exitd.actors.runtime import Mailbox
from exitd.actors.safety_net import NakedWatch, emergency_write
from exitd.actors.symbol_context import SymbolContext
from exitd.actors.symbol_view import SymbolView
from exitd.actors.translate import answer_events, gateway_write, update_events
from exitd.engine import (
    Decision,
    Event,
    ExitPlan,
    ExitState,
    Fill,
    Notice,
    OrderCancelled,
    PlaceOrder,
    PlanProgress,
    PositionChanged,
    Tick,
    Timer,
    adopt,
    decide,
    decide_all,
    is_quiet,
    readopt,
)
from exitd.engine.state import NEVER_MS
from exitd.exchange.port import (
    MarkPrice,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrderView,
    PositionView,
)
from exitd.ops.metrics import Corrections, OrderKind
from exitd.ownership import Mode

__all__ = ["SymbolActor", "SymbolContext"]

log = structlog.get_logger("exitd.symbol")

_WAKE_S = 1.0
# How long fills and position changes wait for the mark price of their moment.
_HOLD_S = 0.3
_ERROR_NOTICES = frozenset({"hard_sl.refused", "hard_sl.breached_at_adoption"})
_SEEN_TRADES = 512
_RESTART_EVERY_S = 5.0


class SymbolActor:
    """`run(incarnation)` protects the symbol's position until it is flat and clean."""

    def __init__(self, symbol: str, context: SymbolContext) -> None:
        self.symbol = symbol
        self.mailbox: Mailbox[SymbolMessage] = Mailbox.create(1024)
        self._ctx = context
        self._log = log.bind(symbol=symbol)
        self.state: ExitState | None = None
        self._retiring: list[ExitState] = []
        self._open: dict[str, OrderView] = {}
        self._position: PositionView | None = None
        self._last_mark: MarkPrice | None = None
        self._paused = False
        self._journal = PlanJournal(symbol, context.snapshots, context.monotonic)
        self._earlier_lives_below = 0  # ids under this seq were issued before this start
        self._trades: deque[tuple[str, int]] = deque(maxlen=_SEEN_TRADES)
        self._naked = NakedWatch(
            context.new_position_grace_s, context.emergency_sl_pct, context.monotonic
        )
        self._suspects: frozenset[str] = frozenset()
        self._held: list[Fill | PositionChanged | OrderCancelled] = []
        self._leftovers: set[str] = set()
        self._conflicts: set[str] = set()
        self._woken_ms = 0
        self._started_again_at = float("-inf")
        self._incarnation = 0
        self.started_at: float | None = None  # monotonic; protection latency is measured from it
        self.corrections = Corrections()
        # Monotonic: when the oldest mark price not yet taken from the mailbox was handed over,
        # and while a tick is decided, when that tick was (the writes it causes carry it).
        self._handed_at: float | None = None
        self._tick_at: float | None = None
        self._view = SymbolView(symbol, None, None, False, None, ())

    @property
    def pending(self) -> bool:
        """Fills or position changes wait for the mark price of their moment."""
        return bool(self._held)

    @property
    def protected(self) -> bool:
        """A stop rests for its position (exitd.actors.readiness): READY=1 waits for it."""
        return stop_rests(self._position, self.state, self._open.values(), self._ctx.mode())

    @property
    def last_mark(self) -> MarkPrice | None:
        return self._last_mark

    def naked_s(self) -> float:
        """How long the position has been seen with no stop, as the safety net watches it."""
        return self._naked.naked_s()

    @property
    def done(self) -> bool:
        live = self.state is not None and not self.state.done
        return (
            not live
            and not self._retiring
            and not self._leftovers
            and (self._position is None or self._position.amount == 0)
        )

    def deliver_price(self, mark: MarkPrice) -> bool:
        """Hand the actor a mark price; False when its mailbox is full (the tick is lost)."""
        if self._decided_now(mark):
            return True
        if self._handed_at is None:  # a tick the actor decides: its writes carry this time
            self._handed_at = time.monotonic()
        return self.mailbox.post(mark)

    def _decided_now(self, mark: MarkPrice) -> bool:
        """Decide `mark` in the caller's step (the price feed's) when the actor's own step
        would do nothing else: it is parked on its empty mailbox with nothing held, not
        paused, not in LEGACY, and the decision hands out no id above the reservation on
        disk. A tick that moves the trail then sends its amendment at once instead of
        waiting for the actor's turn in the loop, and a quiet tick (nearly every tick at 200
        symbols) costs a check instead of a wake-up. What is left for the actor's own step (a
        snapshot due, a new deadline, an error) wakes it with `Woken`."""
        state = self.state
        if (
            state is None
            or self._paused
            or self._held
            or not self.mailbox.receive.reader_waiting
            or self._ctx.mode() is Mode.LEGACY
        ):
            return False
        self._last_mark = mark
        if not is_quiet(state, mark.time_ms, mark.price):
            try:
                decision = decide(state, Tick(mark.time_ms, mark.price))
                if decision.state.next_seq >= self._journal.seq_reserved:
                    return False  # its ids go to disk first, in the actor's step
                self._tick_at = time.monotonic()
                self._apply_now(decision)
            except Exception as exc:  # the actor's crash, not the feed's: its supervisor's
                self.mailbox.post(Woken(exc))
                return True
            finally:
                self._tick_at = None
        after = self.state
        if after is not None:
            self._journal.note(after)
            if after.deadline_ms != state.deadline_ms:
                self.mailbox.post(Woken())
        if after is not state:
            self._publish()
        self._ctx.activity.notify()
        return True

    # --- the loop -----------------------------------------------------------------------------

    async def run(self, incarnation: int) -> None:
        self._incarnation = incarnation
        self.started_at = self._ctx.monotonic()
        self._log.info("symbol.started", incarnation=incarnation)
        await self._start()
        self._publish()
        self._ctx.activity.notify()
        while not self.done:
            batch = await self._next_batch(self._wait_s())
            if batch is not None:
                await self._handle(batch)
                continue
            if self._held:  # the tick of their moment never came: use the latest price
                await self._release_held()
            self._woken_ms = self._ctx.wall_ms()
            await self._decide([Timer(self._woken_ms)])
            self._check_safety_net()
            self._publish()
            self._ctx.activity.notify()
        # The next position may open at the same entry price: it must not resume this one.
        self.state = None
        self._journal.forget_progress()
        self._log.info("symbol.flat_and_clean")
        self._publish()
        self._ctx.activity.notify()  # observers waiting for the end see it

    def _wait_s(self) -> float | None:
        """Until the next thing due: held events' tick, the engine's deadline (a TIME leg, a
        retry, the end of a fill's grace), the safety net's next look; None when nothing is
        due, so a busy actor arms no timer per message."""
        waits = []
        if self._held:
            waits.append(_HOLD_S)
        if self._ctx.mode() is Mode.LEGACY:
            waits.append(_WAKE_S)
        state = self.state
        # A deadline the engine was already woken for (a retry still waiting for its answer)
        # must not wake it again and again.
        if state is not None and self._woken_ms < state.deadline_ms < NEVER_MS:
            waits.append(max((state.deadline_ms - self._ctx.wall_ms()) / 1000, 0.0))
        return min(waits, default=None)

    async def _next_batch(self, wait_s: float | None) -> list[SymbolMessage] | None:
        """The next messages, or None after `wait_s` without any. Only the wait is timed: a
        batch being handled (orders half sent, a snapshot half written) is never cut short.
        A timer is armed only when something is due (a third of the loop's CPU at 200
        symbols went to arming and disarming one per message)."""
        if wait_s is None:
            first = await self.mailbox.receive.receive()
            return self.mailbox.drain(first)
        with self._ctx.move_on_after(wait_s):
            first = await self.mailbox.receive.receive()
            return self.mailbox.drain(first)
        return None

    async def _start(self) -> None:
        # After a crash, orders this symbol placed since the last account read rest already:
        # a cached read would miss them and the plan would place them twice.
        exchange = await self._ctx.fetch_state(self.symbol, self._incarnation > 0)
        inflight = await self._ask_inflight()
        self._open = {o.client_order_id: o for o in exchange.orders}
        self._position = exchange.position
        self.state = None
        self._retiring = []
        # What an earlier life held or suspected is in the exchange's state read just now.
        self._held = []
        self._suspects = frozenset()
        if exchange.mark_price is not None:
            self._last_mark = MarkPrice(self.symbol, exchange.mark_price, exchange.time_ms)
        resting = resting_intents(self.symbol, exchange.orders, inflight)
        saved = self._journal.load()
        self._earlier_lives_below = self._journal.seq_reserved
        position = exchange.position
        if position is None or position.amount == 0:
            for order in leftovers(exchange.orders):  # of a closed position
                self._log.info("symbol.leftover_cancelled", client_order_id=order.client_order_id)
                self._leftovers.add(order.client_order_id)
                self._corrected(Corrections(cancelled=1))
                self._send_cancel(order)
            return
        tick = self._tick(exchange.time_ms)
        if tick is None:
            self._log.warning("symbol.no_mark_price", reason="adopting on the first mark price")
            return
        saved = progress_of(saved, position)
        plan = self._plan(position, tick.price if saved is None else saved.adoption_price, saved)
        if plan is None:
            return
        first_seq = self._journal.first_seq(self._ctx.wall_ms())
        decision = start_decision(plan, saved, resting, position, tick, first_seq=first_seq)
        self._log.info(
            "plan.adopted",
            side=plan.side.name,
            entry_price=str(plan.entry_price),
            qty=str(abs(position.amount)),
            profile=plan.profile_name,
            hard_sl=str(plan.hard_sl_price),
            resumed=saved is not None,
            reattached=len(resting),
        )
        await self._apply(decision, into_retiring=None)

    async def _start_again(self) -> None:
        """Adopt a position that could not be planned at start (no price, no filters yet),
        at most every few seconds: each try reads the exchange."""
        now = self._ctx.monotonic()
        if now - self._started_again_at >= _RESTART_EVERY_S:
            self._started_again_at = now
            await self._start()

    async def _ask_inflight(self) -> tuple[OrderRequest, ...]:
        answer: Mailbox[tuple[OrderRequest, ...]] = Mailbox.create(1)
        await self._ctx.gateway.send.send(InflightQuery(self.symbol, answer.post))
        with anyio.fail_after(5):
            return await answer.receive.receive()

    # --- one batch of messages ----------------------------------------------------------------

    async def _handle(self, batch: list[SymbolMessage]) -> None:
        """Fills and position changes wait for the mark price of their moment, so the engine
        sees them and that price together, as replay's step 2 does (a take-profit's fill arms
        an `after_tp` leg on the same tick); everything else is decided at once."""
        events: list[Event] = []
        handed_at, self._handed_at = self._handed_at, None
        for message in batch:
            if isinstance(message, MarkPrice):
                events = await self._on_mark(message, events, handed_at)
            elif isinstance(message, OrderUpdate):
                # An expiry is the exchange's answer to a position change (a close-position
                # stop goes with its position): it waits with the change, or the engine would
                # see the stop gone from a position still open and place it again.
                expired = message.order.state is OrderState.EXPIRED
                for event in await self._on_update(message):
                    if isinstance(event, Fill) or (expired and isinstance(event, OrderCancelled)):
                        self._held.append(event)
                    else:
                        events.append(event)
            elif isinstance(message, WriteAnswer):
                self._leftovers.discard(message.write.client_order_id)
                await self._route(answer_events(message, self._ctx.wall_ms()), events)
            elif isinstance(message, PositionView):
                await self._decide(events)
                events = []
                await self._on_position(message)
            elif isinstance(message, ExchangeState):
                await self._decide(events)
                events = []
                await self._release_held()
                await self._on_exchange_state(message)
            elif isinstance(message, Pause):
                self._paused = message.paused
                self._log.info("symbol.paused" if message.paused else "symbol.resumed")
            elif isinstance(message, PlanOverride):
                await self._decide(events)
                events = []
                await self._override(message)
            elif isinstance(message, Woken) and message.error is not None:
                raise message.error
        await self._decide(events)
        mark = self._last_mark
        if self._held and mark is not None and all(e.time_ms <= mark.time_ms for e in self._held):
            await self._release_held()
        self._check_safety_net()
        self._publish()
        self._ctx.activity.notify()

    async def _on_mark(
        self, mark: MarkPrice, events: list[Event], handed_at: float | None
    ) -> list[Event]:
        """Decide the tick with the events before it and the held ones of its moment; the
        events still to decide."""
        self._last_mark = mark
        if self.state is None and self._position is not None and not self._retiring:
            await self._start_again()  # a position seen before any price
            return events
        if self._paused:
            return events
        tick = Tick(mark.time_ms, mark.price)
        due = [e for e in self._held if e.time_ms <= tick.time_ms]
        self._held = [e for e in self._held if e.time_ms > tick.time_ms]
        self._tick_at = handed_at
        try:
            await self._decide([*events, *due, tick])
        finally:
            self._tick_at = None
        return []

    def _publish(self) -> None:
        """The frozen view readers (the control socket) see, after the batch is handled."""
        self._view = SymbolView(
            self.symbol,
            self.state,
            self._last_mark,
            self._paused,
            self._position,
            tuple(self._open.values()),
        )

    @property
    def view(self) -> SymbolView:
        """The last published view, with the latest mark: a quiet tick taken in the feed's
        step changes nothing else, so it publishes nothing (a view per tick was a twentieth
        of the daemon's CPU at 200 symbols)."""
        view = self._view
        if view.last_mark is not self._last_mark:
            view = self._view = dataclasses.replace(view, last_mark=self._last_mark)
        return view

    async def _route(self, events: Iterable[Event], into: list[Event]) -> None:
        """Events about an order of a retiring (flipped) state go to that state."""
        for event in events:
            cid = getattr(event, "client_order_id", None)
            owner = next((s for s in self._retiring if cid and s.order(cid)), None)
            if owner is None:
                into.append(event)
            else:
                await self._apply(decide_all(owner, (event,)), into_retiring=owner)

    async def _on_update(self, update: OrderUpdate) -> list[Event]:
        order = update.order
        if order.state.open and landed_late(
            order.client_order_id, self.state, self._retiring, self._earlier_lives_below
        ):
            # Sent by an earlier life just before it died, taken by the exchange after this
            # one adopted the position: this plan has placed what it needs (§2 row 27).
            self._log.warning(
                "reconcile.stale_order",
                client_order_id=order.client_order_id,
                reason="placed by an earlier run, landed after the restart",
            )
            self._corrected(Corrections(cancelled=1))
            self._send_cancel(order)
            return []
        if order.state.open:
            self._open[order.client_order_id] = order
        else:
            self._open.pop(order.client_order_id, None)
        if update.trade_id is not None:
            key = (order.client_order_id, update.trade_id)
            if key in self._trades:
                return []  # a duplicate delivery: fills count once (RELIABILITY I11)
            self._trades.append(key)
        update = not_yet_counted(update, counted(order, (self.state, *self._retiring), self._held))
        if update.last_fill_qty > 0:
            self._log.info(
                "exit.filled" if is_own(order.client_order_id) else "order.filled",
                leg=leg_label(order.client_order_id),
                client_order_id=order.client_order_id,
                qty=str(update.last_fill_qty),
                price=str(update.last_fill_price),
                state=order.state.value,
            )
        events: list[Event] = []
        await self._route(update_events(update), events)
        return events

    async def _release_held(self) -> None:
        """Held fills and position changes, with the latest price as their tick."""
        held: list[Event] = [*self._held]
        self._held = []
        mark = self._last_mark
        if held and mark is not None and not self._paused:
            latest = max(mark.time_ms, *(e.time_ms for e in held))
            held.append(Tick(latest, mark.price))
        await self._decide(held)

    async def _decide(self, events: list[Event]) -> None:
        state = self.state
        if state is not None and events:
            decision = decide(state, events[0]) if len(events) == 1 else decide_all(state, events)
            await self._apply(decision, into_retiring=None)

    async def _on_position(self, position: PositionView) -> None:
        previous = self._position
        self._position = position
        state = self.state
        now = position.update_ms
        if state is None:
            if position.amount != 0:
                await self._start_again()  # a position where there was none: adopt it
            return
        change = position_move(state, position)
        if change == "same":
            return
        if change in ("decrease", "flat"):
            self._held.append(PositionChanged(position.amount, now))
            return
        await self._release_held()
        # The held events moved the state on (orders placed, ids handed out): go on from there.
        state = self.state or state
        tick = self._tick(now)
        if tick is None:
            return
        if change == "flip":
            await self._apply(decide_all(state, (PositionChanged(position.amount, now),)), None)
            old = self.state
            if old is not None and not old.done:
                self._retiring.append(old)
            self.state = None
            plan = self._plan(position, tick.price, None)
            if plan is not None:
                first = old.next_seq if old is not None else self._journal.seq_reserved
                await self._apply(adopt(plan, tick, first, live=True), None)
                self._log.info("plan.flipped", entry_price=str(position.entry_price))
            return
        plan = self._plan(position, tick.price, None)
        if plan is not None:
            self._log.info(
                "plan.readopted",
                old_entry=str(previous.entry_price if previous else state.plan.entry_price),
                new_entry=str(position.entry_price),
                qty=str(abs(position.amount)),
            )
            await self._apply(readopt(state, plan, tick), None)

    async def _override(self, override: PlanOverride) -> None:
        """`set-plan`: the same position under a changed profile, its progress kept."""
        state, tick = self.state, self._tick(self._ctx.wall_ms())
        filters = self._ctx.filters(self.symbol)
        if state is None or tick is None or filters is None:
            self._log.warning("plan.override_refused", reason="no plan to change yet")
            return
        try:
            decision = overridden(state, filters, override.overrides, tick)
        except OverrideRefused as refused:
            self._log.warning("plan.override_refused", reason=str(refused))
            return
        self._log.info("plan.overridden", overrides=dict(override.overrides))
        await self._apply(decision, into_retiring=None)

    async def _on_exchange_state(self, exchange: ExchangeState) -> None:
        self._open = {o.client_order_id: o for o in exchange.orders}
        if exchange.position is not None or self._position is not None:
            await self._on_position(
                exchange.position
                or PositionView(self.symbol, Decimal(0), Decimal(0), exchange.time_ms)
            )
        state = self.state
        if state is None or self._ctx.mode() is Mode.LEGACY:
            return  # in LEGACY the brain's orders are shadows: nothing to compare
        inflight = await self._ask_inflight()
        diff = diff_orders(state, exchange.orders, inflight, self._suspects, exchange.time_ms)
        ended = await self._look_up_ended(state, diff.absent)
        self._suspects = diff.suspects - ended
        for order in diff.stale:
            self._log.warning("reconcile.stale_order", client_order_id=order.client_order_id)
            self._corrected(Corrections(cancelled=1))
            self._send_cancel(order)
        for order in diff.foreign:
            if order.client_order_id in self._conflicts:
                continue  # counted when first seen
            self._conflicts.add(order.client_order_id)
            module = module_of(order.client_order_id, default="foreign")
            self._ctx.gateway.post(ForeignExitSeen(module, self.symbol, order.client_order_id))
            self._log.warning(
                "exit_guard.ownership_conflict",
                client_order_id=order.client_order_id,
                type=order.type,
                reason="a foreign exit order on a symbol the exit brain owns",
            )
        states = (self.state, *self._retiring)
        for fill in missed_fills(
            exchange.orders, states, self._held, self._last_mark, exchange.time_ms
        ):
            self._log.warning(
                "reconcile.missed_fill", client_order_id=fill.client_order_id, qty=str(fill.qty)
            )
            self._corrected(Corrections(missed_fills=1))
            self._held.append(fill)
        missing = diff.missing(ended)
        if missing and self.state is not None:
            self._log.warning("reconcile.missing_orders", count=len(missing))
            decision = decide_all(self.state, missing)
            placed = sum(isinstance(r, PlaceOrder) for r in decision.requests)
            self._corrected(Corrections(placed=placed))
            await self._apply(decision, into_retiring=None)

    async def _look_up_ended(self, state: ExitState, absent: Iterable[str]) -> frozenset[str]:
        """Orders the exchange no longer lists, read by client id: one that filled while the
        user stream was down (its events lost for good) counts as filled, never as cancelled
        and placed again (RELIABILITY.md §2 rows 19-20). Returns the ids found ended."""
        ended: set[str] = set()
        for cid in sorted(absent):
            tracked = state.order(cid)
            if tracked is None:
                continue
            found = await self._ctx.query_order(self.symbol, cid, tracked.intent.type.conditional)
            update = ended_unseen(tracked, found, self._last_mark)
            if update is None:
                continue
            ended.add(cid)
            if update.last_fill_qty > 0:
                self._corrected(Corrections(missed_fills=1))
            self._log.warning(
                "reconcile.ended_unseen", client_order_id=cid, state=update.order.state.value,
                filled=str(update.last_fill_qty),
            )  # fmt: skip
            events = update_events(update)
            fills = [e for e in events if isinstance(e, Fill)]
            if len(fills) == len(events):
                self._held.extend(fills)  # with the position change, as the stream's would be
            else:
                await self._decide([*events])  # e.g. a partial fill, then cancelled: in order
        return frozenset(ended)

    # --- out: requests, notices, snapshots ----------------------------------------------------

    async def _apply(self, decision: Decision, into_retiring: ExitState | None) -> None:
        state = decision.state
        if into_retiring is not None:
            index = self._retiring.index(into_retiring)
            if state.done:
                del self._retiring[index]
            else:
                self._retiring[index] = state
            await self._journal.reserve(state.next_seq, self.state)
            self._send_and_log(decision)
        else:
            await self._journal.reserve(state.next_seq, state)
            self._apply_now(decision)
        if self.state is not None:
            self._journal.note(self.state)

    def _apply_now(self, decision: Decision) -> None:
        """The decision's state becomes the plan's; its requests leave, then its notices are
        logged (a line is rendered after the stop it reports has gone, never before)."""
        self.state = decision.state
        self._send_and_log(decision)

    def _send_and_log(self, decision: Decision) -> None:
        for request in decision.requests:
            write = gateway_write(request, decision.state)
            self._ctx.submit(Submit(write, self.mailbox.post, self._tick_at))
        for notice in decision.notices:
            self._notice(notice)

    def _corrected(self, correction: Corrections) -> None:
        self.corrections += correction

    def _notice(self, notice: Notice) -> None:
        level = "error" if notice.event in _ERROR_NOTICES else "info"
        getattr(self._log, level)(notice.event, **dict(notice.detail))

    def _send_cancel(self, order: OrderView) -> None:
        write = CancelWrite(
            module=module_of(order.client_order_id),
            symbol=self.symbol,
            client_order_id=order.client_order_id,
            conditional=order.conditional,
            kind=OrderKind.SL if order.conditional else OrderKind.TP,
            leg="stale",
        )
        self._ctx.submit(Submit(write, self.mailbox.post))

    # --- the safety net (LEGACY: the brain places nothing, yet nothing stays naked) -----------

    def _check_safety_net(self) -> None:
        if self._ctx.mode() is not Mode.LEGACY:
            return
        mark = None if self._last_mark is None else self._last_mark.price
        filters = self._ctx.filters(self.symbol)
        alert = self._naked.look(
            self._position, self._open.values(), filters, mark, self._ctx.wall_ms()
        )
        if alert is None:
            return
        self._log.warning(
            "safety.naked_position",
            naked_s=round(alert.naked_s, 1),
            emergency_stop=str(alert.stop.trigger_price),
        )
        self._ctx.submit(Submit(emergency_write(alert.stop), self._naked.answered))

    # --- plans ----------------------------------------------------------------------------------

    def _tick(self, time_ms: int) -> Tick | None:
        mark = self._last_mark
        return None if mark is None else Tick(max(time_ms, mark.time_ms), mark.price)

    def _plan(
        self, position: PositionView, adoption_price: Decimal, saved: PlanProgress | None
    ) -> ExitPlan | None:
        route = self._ctx.router.route(self.symbol)
        if route.delegation_gap:
            self._log.warning(
                "plan.delegation_gap", emergency_sl_pct=str(self._ctx.emergency_sl_pct)
            )
        planned = plan_for(position, self._ctx.filters(self.symbol), route, adoption_price, saved)
        if isinstance(planned, str):
            self._log.error("plan.refused", reason=planned)
            return None
        return planned
