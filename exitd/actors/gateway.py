"""The exit gateway: the only actor that writes to the exchange.

Per write: validate, decide ownership (exitd.ownership), log and count, queue (per-symbol
order, protective first, superseded amendments dropped), respect the rate budget and the
conditional-order slots, send, resolve the outcome, answer the requester. It owns the
in-flight table, so a restarted symbol actor never places again what is still pending
(RELIABILITY.md §0 finding 8). An unknown outcome is never taken for a failure: the order is
looked up by its client id before anything is sent for it again (finding 2); no write is
retried blindly (finding 3).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import anyio
import structlog
from anyio.abc import TaskGroup

from exitd.actors.liveness import Liveness
from exitd.actors.messages import (
    CancelWrite,
    ConditionalOrderGone,
    ConditionalOrdersOpen,
    ForeignExitSeen,
    GatewayMessage,
    InflightQuery,
    NotSent,
    NotSentReason,
    PlaceWrite,
    Submit,
    WriteAnswer,
)
from exitd.actors.outcome_lookup import (
    InFlight,
    LookAgain,
    SendAgain,
    after_lookup,
    after_restart,
    duplicate_id,
    looked_up_as_conditional,
    lookup_due,
    unknown_outcome,
)
from exitd.actors.runtime import Mailbox, Pulse
from exitd.actors.write_lines import order_fields, write_action, write_log, write_submit_lines
from exitd.actors.write_queue import RateBudget, WriteQueue, slot_allows
from exitd.actors.write_rules import write_problem
from exitd.exchange.port import (
    Accepted,
    Exchange,
    OrderRequest,
    Rejected,
    RejectKind,
    Unknown,
    WriteOutcome,
)
from exitd.ops.latency import GatewayLatency
from exitd.ops.metrics import OrderMetrics, OrderOutcome
from exitd.ownership import Guard, Mode, check_write
from exitd.ownership import WriteOutcome as Verdict

log = structlog.get_logger("exitd.gateway")

_MAX_CONCURRENT_SENDS = 16
_RATE_PAUSE_S = 1.0
_CLOCK_RESENDS = 3
# Legacy writes already counted as conflicts at submit, remembered so that reconciliation,
# which later finds them resting, does not count them again (oldest forgotten first).
_COUNTED_CONFLICTS = 4096


@dataclass(frozen=True, slots=True)
class OwnershipRules:
    """The ownership settings the gateway enforces; replaced whole on a mode change."""

    mode: Mode
    guard: Guard
    legacy_modules: tuple[str, ...]


class Gateway:
    """Serialises every exchange write. Its entrances: `mailbox`, and `submit` for writes."""

    def __init__(
        self,
        exchange: Exchange,
        ownership: OwnershipRules,
        *,
        recv_window_ms: int = 5000,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float | None = 0.1,
        activity: Pulse | None = None,
    ) -> None:
        """`tick_s` is how often `run` calls `tick`; None leaves the ticking to the owner (a
        test driving a fake clock)."""
        self.mailbox: Mailbox[GatewayMessage] = Mailbox.create(8192)
        self._exchange = exchange
        self._ownership = ownership
        self._recv_window_s = recv_window_ms / 1000
        self._clock = clock
        self._tick_s = tick_s
        self._activity = activity or Pulse()
        self.liveness = Liveness(clock)
        self._queue = WriteQueue()
        self._inflight: dict[str, InFlight] = {}
        self._conditional: set[str] = set()
        self._budget = RateBudget()
        self._paused_until = 0.0
        self._rate_pauses = 0
        self._clock_resends: dict[str, int] = {}
        self._sending = 0
        self._submit_lines: list[PlaceWrite | CancelWrite] = []
        self._counted_conflicts: dict[str, None] = {}  # insertion-ordered: a bounded set
        self._tasks: TaskGroup | None = None
        self.metrics = OrderMetrics()
        self.latency = GatewayLatency.create()

    # --- the actor ----------------------------------------------------------------------------

    async def run(self, incarnation: int) -> None:
        now = self._clock()
        for cid, entry in self._inflight.items():
            self._inflight[cid] = after_restart(entry, now)
        self._sending = 0
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                if self._tick_s is not None:
                    tasks.start_soon(self._timer, self._tick_s)
                self._dispatch()  # what was submitted while it was down
                async for message in self.mailbox.receive:
                    self._take(message)
                tasks.cancel_scope.cancel()
        finally:
            self._tasks = None  # nothing may start in a task group that is gone

    def submit(self, submit: Submit) -> None:
        """Take a write in the caller's step, as the mailbox would once read: the symbol
        actors' door, so that an amendment's send starts without waiting for the
        gateway's turn in the loop. The gateway's state changes only inside such a call
        or its own task's, never across an await, so writes stay serialised. While the
        gateway is down (restarting), writes wait in its queue."""
        self._take(submit)

    def _take(self, message: GatewayMessage) -> None:
        self._on(message)
        self._dispatch()
        if self._submit_lines and self._tasks is not None:
            # After the sends just started, not before them.
            self._tasks.start_soon(write_submit_lines, self._submit_lines)
            self._submit_lines = []
        self._activity.notify()

    def set_ownership(self, ownership: OwnershipRules) -> None:
        self._ownership = ownership

    @property
    def mode(self) -> Mode:
        return self._ownership.mode

    def rate_budget_use(self) -> float:
        """The largest share of any exchange rate limit in use now, 0..1+."""
        return self._budget.use(self._clock())

    def conditional_slots_used(self) -> int:
        """Conditional orders open or on their way, of the account's 200 (counted without
        copying the open ones: every conditional place asks, on a stop's way out)."""
        open_ = self._conditional
        return len(open_) + sum(1 for cid in self._conditional_in_flight() if cid not in open_)

    @property
    def ownership(self) -> OwnershipRules:
        return self._ownership

    def _on(self, message: GatewayMessage) -> None:
        if isinstance(message, Submit):
            self._submit(message)
        elif isinstance(message, InflightQuery):
            message.reply(self.inflight(message.symbol))
        elif isinstance(message, ConditionalOrdersOpen):
            self._conditional = set(message.client_order_ids) | self._conditional_in_flight()
        elif isinstance(message, ForeignExitSeen):
            self._count_conflict(message.module, message.client_order_id)
        else:
            assert isinstance(message, ConditionalOrderGone)
            self._conditional.discard(message.client_order_id)

    def inflight(self, symbol: str) -> tuple[OrderRequest, ...]:
        """Places of `symbol` with no outcome yet: queued, being sent, or unknown."""
        queued = [s.write for s in self._queue.waiting(symbol)]
        sent = [e.submit.write for e in self._inflight.values()]
        return tuple(
            w.order for w in (*queued, *sent) if isinstance(w, PlaceWrite) and w.symbol == symbol
        )

    # --- arrival: validation and ownership ----------------------------------------------------

    def _submit(self, submit: Submit) -> None:
        write = submit.write
        problem = write_problem(submit)
        ownership = self._ownership
        verdict = check_write(
            ownership.mode, ownership.guard, write.module, ownership.legacy_modules
        )
        if problem is None and verdict.forwarded and not verdict.ownership_conflict:
            # The usual write: its line is bound and written once the request is on its
            # way, so rendering it never delays the stop (a seventh of a tick's latency).
            self._submit_lines.append(write)
        else:
            write_log(write).info("exit_gateway.submit", action=write_action(write))
        if problem is not None:
            self._not_sent(submit, NotSentReason.REFUSED, problem, OrderOutcome.REFUSED, "invalid")
            return
        if verdict.ownership_conflict:
            self._count_conflict(write.module, write.client_order_id)
            write_log(write).warning("exit_guard.ownership_conflict", reason=verdict.reason)
        if verdict.outcome is Verdict.SHADOW:
            self._not_sent(submit, NotSentReason.SHADOW, verdict.reason, OrderOutcome.SHADOW)
            return
        if not verdict.forwarded:
            code = _refusal_code(verdict.ownership_conflict)
            self._not_sent(
                submit, NotSentReason.REFUSED, verdict.reason, OrderOutcome.REFUSED, code
            )
            return
        superseded = self._queue.push(submit)
        if superseded is not None:
            self._not_sent(
                superseded,
                NotSentReason.SUPERSEDED,
                f"replaced in the queue by {write.client_order_id}",
                OrderOutcome.SUPERSEDED,
            )

    def _count_conflict(self, module: str, client_order_id: str) -> None:
        """Once per order, however often it is sent again or seen resting (by reconciliation,
        or by a restarted symbol actor)."""
        if client_order_id in self._counted_conflicts:
            return
        self.metrics = self.metrics.record_conflict(module)
        self._counted_conflicts[client_order_id] = None
        if len(self._counted_conflicts) > _COUNTED_CONFLICTS:
            del self._counted_conflicts[next(iter(self._counted_conflicts))]

    def _not_sent(
        self,
        submit: Submit,
        reason: NotSentReason,
        message: str,
        outcome: OrderOutcome,
        code: str | None = None,
    ) -> None:
        write = submit.write
        self.metrics = self.metrics.record_order(write.module, write.kind, outcome, code)
        level = "info" if reason is NotSentReason.SHADOW else "warning"
        getattr(log, level)(
            f"exit_gateway.{reason.value}",
            module=write.module,
            symbol=write.symbol,
            kind=write.kind.value,
            leg=write.leg,
            client_order_id=write.client_order_id,
            reason=message,
            **order_fields(submit),
        )
        submit.reply(WriteAnswer(write, NotSent(reason, message)))

    # --- sending ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if self._tasks is None or self._clock() < self._paused_until:
            return
        while self._dispatch_ready():
            pass

    def _dispatch_ready(self) -> bool:
        """Send the heads that may go; True when one was dropped, uncovering the next."""
        assert self._tasks is not None
        dropped = False
        for submit in self._queue.ready():
            if self._sending >= _MAX_CONCURRENT_SENDS:
                break
            if self._dropped_by_ownership(submit):
                dropped = True
                continue
            if submit.write.client_order_id in self._inflight:
                continue  # an earlier write of this id has no outcome yet: it must have one first
            if not self._budget.allows(submit, self._clock()) or not self._slot_allows(submit):
                continue
            self._queue.take(submit)
            self._sending += 1
            self._inflight[submit.write.client_order_id] = InFlight(submit, self._clock())
            if submit.tick_at is not None:
                self.latency.tick_to_request.observe(time.monotonic() - submit.tick_at)
            self._tasks.start_soon(self._send, submit, self._start_send(submit.write))
        return dropped

    def _start_send(self, write: PlaceWrite | CancelWrite) -> Awaitable[WriteOutcome]:
        """The request, started in this step: the adapter puts it on the wire before it
        returns where it can, so a stop never waits for a new task's first turn in the loop
        (Python 3.11 has no eager tasks); the task only waits for the answer."""
        try:
            if isinstance(write, PlaceWrite):
                return self._exchange.place(write.order)
            return self._exchange.cancel(write.symbol, write.client_order_id, write.conditional)
        except Exception as exc:  # an adapter bug must not lose the write: it may have left
            return _already(_send_failed(exc))

    def _conditional_in_flight(self) -> set[str]:
        """Conditional places with no answer yet: they may be open already, or will be."""
        return {
            cid
            for cid, e in self._inflight.items()
            if isinstance(e.submit.write, PlaceWrite) and e.submit.write.order.conditional
        }

    def _slot_allows(self, submit: Submit) -> bool:
        """The slot check, counting the slots (a set of every open conditional order) only
        for a conditional place: the only write it can hold back."""
        write = submit.write
        if not isinstance(write, PlaceWrite) or not write.order.conditional:
            return True
        return slot_allows(submit, self.conditional_slots_used())

    def _dropped_by_ownership(self, submit: Submit) -> bool:
        """A mode or guard change since `submit` was queued may forbid it now: answer it."""
        write = submit.write
        rules = self._ownership
        verdict = check_write(rules.mode, rules.guard, write.module, rules.legacy_modules)
        if verdict.forwarded:
            return False
        self._queue.take(submit)
        self._queue.done(write.symbol)
        if verdict.outcome is Verdict.SHADOW:
            self._not_sent(submit, NotSentReason.SHADOW, verdict.reason, OrderOutcome.SHADOW)
        else:
            code = _refusal_code(verdict.ownership_conflict)
            self._not_sent(
                submit, NotSentReason.REFUSED, verdict.reason, OrderOutcome.REFUSED, code
            )
        return True

    async def _send(self, submit: Submit, sending: Awaitable[WriteOutcome]) -> None:
        write = submit.write
        try:
            with self.liveness.working():
                outcome = await sending
        except Exception as exc:  # an adapter bug must not lose the write: it may have left
            outcome = _send_failed(exc)
        finally:
            self._sending -= 1
            self._queue.done(write.symbol)
        self._settle(submit, outcome)
        self._dispatch()

    def _settle(self, submit: Submit, outcome: WriteOutcome) -> None:
        write = submit.write
        cid = write.client_order_id
        if outcome.usage is not None:
            self._budget = RateBudget(outcome.usage, self._clock())
        if isinstance(outcome, Unknown):
            self._inflight[cid] = unknown_outcome(self._inflight[cid], self._clock())
            self._record(write, OrderOutcome.UNKNOWN)
            write_log(write).warning("exit_gateway.unknown", reason=outcome.reason)
            return
        if isinstance(outcome, Rejected) and self._resend(submit, outcome):
            return
        if isinstance(outcome, Rejected) and outcome.kind is RejectKind.DUPLICATE_ID:
            self._inflight[cid] = duplicate_id(self._inflight[cid], self._clock())
            write_log(write).info("exit_gateway.duplicate_id")
            return
        sent = self._inflight.pop(cid, None)
        self._clock_resends.pop(cid, None)
        self._rate_pauses = 0
        self._answer(submit, outcome, None if sent is None else sent.sent_at)

    def _resend(self, submit: Submit, outcome: Rejected) -> bool:
        """A refusal that proves nothing happened and will pass later: queue it again first."""
        cid = submit.write.client_order_id
        if outcome.kind is RejectKind.CLOCK:
            count = self._clock_resends.get(cid, 0) + 1
            if count > _CLOCK_RESENDS:
                return False
            self._clock_resends[cid] = count
        elif not self._rate_limited(submit.write.symbol, cid, outcome):
            return False
        self._inflight.pop(cid, None)
        # Its tick-to-request latency was counted when it first left; once is enough.
        self._queue.push_front(replace(submit, tick_at=None))
        return True

    def _rate_limited(self, symbol: str, cid: str, outcome: Rejected) -> bool:
        """A 429 or a ban: nothing at all (writes or lookups) goes out for a while."""
        if outcome.kind not in (RejectKind.RATE_LIMITED, RejectKind.BANNED):
            return False
        self._rate_pauses += 1
        pause = outcome.retry_after_s or min(_RATE_PAUSE_S * 2 ** (self._rate_pauses - 1), 60)
        self._paused_until = max(self._paused_until, self._clock() + pause)
        log.warning(
            "exit_gateway.rate_limited",
            symbol=symbol,
            client_order_id=cid,
            pause_s=pause,
            reason=outcome.reason,
        )
        return True

    def _answer(self, submit: Submit, outcome: WriteOutcome, sent_at: float | None) -> None:
        write = submit.write
        cid = write.client_order_id
        if sent_at is not None:
            self.latency.round_trip.observe(self._clock() - sent_at)
        bound = write_log(write)
        if isinstance(outcome, Accepted):
            self._record(write, OrderOutcome.ACCEPTED)
            if isinstance(write, PlaceWrite):
                if write.order.conditional and outcome.order.state.open:
                    self._conditional.add(cid)
                bound.info("exit_gateway.placed", **order_fields(submit))
            else:
                self._conditional.discard(cid)
                bound.info("exit_gateway.cancelled")
        elif isinstance(outcome, Rejected):
            self._record(write, OrderOutcome.REJECTED, outcome.kind.value)
            if isinstance(write, CancelWrite) and outcome.kind is RejectKind.NOT_FOUND:
                self._conditional.discard(cid)
            bound.warning(
                "exit_gateway.refused",
                reject=outcome.kind.value,
                code=outcome.code,
                reason=outcome.reason,
                **order_fields(submit),
            )
        submit.reply(WriteAnswer(write, outcome))
        self._activity.notify()

    def _record(
        self, write: PlaceWrite | CancelWrite, outcome: OrderOutcome, code: str | None = None
    ) -> None:
        self.metrics = self.metrics.record_order(write.module, write.kind, outcome, code)

    # --- unknown outcomes: look before sending again --------------------------------------------

    async def _timer(self, interval_s: float) -> None:
        while True:
            await anyio.sleep(interval_s)
            self.tick()

    def tick(self) -> None:
        """Start the lookups that are due and send what a pause or the budget held back."""
        now = self._clock()
        if self._tasks is None or now < self._paused_until:
            return
        for cid, entry in list(self._inflight.items()):
            if lookup_due(entry, now):
                self._inflight[cid] = replace(entry, looking=True)
                self._tasks.start_soon(self._look_up, cid)
        self._dispatch()

    async def _look_up(self, cid: str) -> None:
        entry = self._inflight[cid]
        write = entry.submit.write
        try:
            with self.liveness.working():
                found = await self._exchange.query(
                    write.symbol, cid, looked_up_as_conditional(write)
                )
        except Exception as exc:
            log.error("exit_gateway.lookup_failed", error=repr(exc), exc_info=True)
            found = Unknown("lookup failed")
        log.info(
            "exit_gateway.lookup",
            symbol=write.symbol,
            client_order_id=cid,
            found=type(found).__name__,
        )
        if isinstance(found, Rejected):
            self._rate_limited(write.symbol, cid, found)
        settled = after_lookup(entry, found, self._clock(), self._recv_window_s)
        if isinstance(settled, LookAgain):
            self._inflight[cid] = settled.entry
        elif isinstance(settled, SendAgain):
            self._inflight.pop(cid)
            # The cancel goes out again (its latency counted once already).
            self._queue.push_front(replace(entry.submit, tick_at=None))
        else:
            self._inflight.pop(cid)
            self._answer(entry.submit, settled.outcome, entry.sent_at)
        self._dispatch()


def _send_failed(exc: Exception) -> Unknown:
    log.error("exit_gateway.send_failed", error=repr(exc), exc_info=exc)
    return Unknown(f"{type(exc).__name__} while sending")


async def _already(outcome: WriteOutcome) -> WriteOutcome:
    """An outcome known before any await, in the shape of one still to come."""
    return outcome


def _refusal_code(ownership_conflict: bool) -> str:
    """The metrics' code for the gateway's own ownership refusal."""
    return "hard_guard" if ownership_conflict else "unknown_module"
