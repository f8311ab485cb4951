"""Events between ticks: fills, position updates, acks, refusals, cancels, timers.

Pure, like the rest of the engine. Each event is folded into the state; reconcile then asks
for what the plan wants. Orders an earlier adoption left (`ExitState.inherited`) are tracked
until they are gone, but their fills and refusals count for no leg of the current plan.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exitd.engine.model import (
    Event,
    Fill,
    Leg,
    Notice,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderType,
    PositionChanged,
    RejectReason,
    Request,
    Timer,
)
from exitd.engine.plan import ExitPlan
from exitd.engine.reconcile import OrderChanges
from exitd.engine.state import NEVER_MS, ExitState, OrderStatus, Retry, TrackedOrder, replace_state

_ZERO = Decimal(0)
_RETRY_BASE_MS = 1_000
_RETRY_MAX_MS = 60_000
# Refusals that waiting cannot cure (SPEC-exits.md "A refused request").
_FINAL = (RejectReason.FINAL, RejectReason.REDUCE_ONLY)

Absorbed = tuple[ExitState, tuple[Request, ...], tuple[Notice, ...]]


def absorb(state: ExitState, event: Event) -> Absorbed:
    if isinstance(event, Fill):
        return _on_fill(state, event), (), ()
    if isinstance(event, PositionChanged):
        return _on_position(state, event), (), ()
    if isinstance(event, OrderAccepted):
        return _on_accepted(state, event), (), ()
    if isinstance(event, OrderCancelled):
        orders = tuple(o for o in state.orders if o.intent.client_order_id != event.client_order_id)
        return _replace(state, orders=orders, wake=True), (), ()
    if isinstance(event, OrderRejected):
        return _on_rejected(state, event)
    assert isinstance(event, Timer)
    return _replace(state, wake=True), (), ()


def _on_position(state: ExitState, event: PositionChanged) -> ExitState:
    """Q follows the exchange. A shrink starts the fill grace; any change lifts final refusals."""
    if event.amount == state.plan.side.sign * state.qty:
        return _replace(state, wake=True)
    qty = abs(event.amount) if event.amount * state.plan.side.sign > 0 else _ZERO
    shrunk = event.time_ms if _ZERO < qty < state.qty else state.shrunk_ms
    retries = tuple(r for r in state.retries if not r.final)
    return _replace(state, qty=qty, shrunk_ms=shrunk, retries=retries, wake=True)


def _on_fill(state: ExitState, fill: Fill) -> ExitState:
    order = state.order(fill.client_order_id)
    if order is None:
        return _replace(state, wake=True)  # a foreign order, or one already forgotten
    intent = order.intent
    filled = order.filled_qty + fill.qty
    complete = intent.quantity is None or filled >= intent.quantity
    # A fill proves the order rests (or rested): an ack still in flight changes nothing.
    status = OrderStatus.LIVE if order.status is OrderStatus.PENDING_NEW else order.status
    orders = tuple(
        o if o is not order else TrackedOrder(o.intent, status, filled)
        for o in state.orders
        if not (o is order and complete)
    )
    tp_filled = state.tp_filled
    tps_done = state.tps_done
    # A close-position stop that fills closes everything, whatever the position update says
    # and whenever it comes: the HARD_SL must not be placed again meanwhile.
    qty = _ZERO if intent.close_position else state.qty
    if intent.leg is Leg.TAKE_PROFIT and intent.client_order_id not in state.inherited:
        index = _tp_index(state.plan, intent.tp_number)
        tp_filled = tuple(q + fill.qty if i == index else q for i, q in enumerate(state.tp_filled))
        if complete:
            tps_done = tps_done | {intent.tp_number}
    return _replace(
        state, qty=qty, orders=orders, tp_filled=tp_filled, tps_done=tps_done, wake=True
    )


def _on_accepted(state: ExitState, event: OrderAccepted) -> ExitState:
    order = state.order(event.client_order_id)
    if order is None:
        return _replace(state, wake=True)
    orders = tuple(
        TrackedOrder(o.intent, OrderStatus.LIVE, o.filled_qty)
        if o is order and o.status is OrderStatus.PENDING_NEW
        else o
        for o in state.orders
    )
    if event.client_order_id in state.inherited:
        return _replace(state, orders=orders, wake=True)
    retries = tuple(r for r in state.retries if r.label != order.intent.label)
    floor = None if order.intent.leg is Leg.WORKING_STOP else state.stop_floor
    return _replace(state, orders=orders, retries=retries, stop_floor=floor, wake=True)


def _on_rejected(state: ExitState, event: OrderRejected) -> Absorbed:
    order = state.order(event.client_order_id)
    if order is None:
        return _replace(state, wake=True), (), ()
    intent = order.intent
    orders = tuple(o for o in state.orders if o is not order)
    notice = Notice(
        "exit_brain.order_rejected",
        (("leg", intent.label), ("reason", event.reason.value), ("message", event.message)),
    )
    if intent.client_order_id in state.inherited:
        return _replace(state, orders=orders, wake=True), (), (notice,)
    if _breaks_before_make(state, intent, event.reason):
        state = _replace(state, orders=orders, break_first=True, wake=True)
        return state, (), (notice, Notice("working_stop.break_before_make"))
    state = _replace(
        state,
        orders=orders,
        retries=_with_retry(state.retries, intent.label, event),
        time_fired=state.time_fired and intent.leg is not Leg.TIME,
        wake=True,
    )
    covered = state.qty if intent.quantity is None else min(intent.quantity, state.qty)
    if (
        event.reason is not RejectReason.WOULD_TRIGGER
        or not intent.type.conditional
        or state.closing  # a close on its way covers what this order did
        or covered <= 0
    ):
        return state, (), (notice, *_hard_stop_refused(intent, event))
    return _through_the_stop(state, intent, covered, notice)


def _breaks_before_make(state: ExitState, intent: OrderIntent, reason: RejectReason) -> bool:
    """A new working stop refused by the reduce-only check while an older one rests: the
    exchange counts both against the position, so make-before-break cannot work here."""
    return (
        reason is RejectReason.REDUCE_ONLY
        and intent.leg is Leg.WORKING_STOP
        and intent.type is OrderType.STOP_MARKET
        and any(
            o.active and o.intent.client_order_id != intent.client_order_id
            for o in state.orders_of(Leg.WORKING_STOP)
        )
    )


def _with_retry(retries: tuple[Retry, ...], label: str, event: OrderRejected) -> tuple[Retry, ...]:
    """1 s, doubling, at most 60 s; a refusal no retry can cure waits for the position."""
    previous = next((r for r in retries if r.label == label), None)
    attempts = 1 if previous is None else previous.attempts + 1
    final = event.reason in _FINAL
    delay = min(_RETRY_BASE_MS * 2 ** (attempts - 1), _RETRY_MAX_MS)
    not_before = NEVER_MS if final else event.time_ms + delay
    return (*(r for r in retries if r.label != label), Retry(label, not_before, attempts, final))


def _hard_stop_refused(intent: OrderIntent, event: OrderRejected) -> tuple[Notice, ...]:
    """The safety net is missing: the actor logs this at error level."""
    if intent.leg is not Leg.HARD_SL:
        return ()
    detail = (
        ("reason", event.reason.value),
        ("message", event.message),
        ("retry", "after_position_change" if event.reason in _FINAL else "backoff"),
    )
    return (Notice("hard_sl.refused", detail),)


def _through_the_stop(
    state: ExitState, intent: OrderIntent, covered: Decimal, notice: Notice
) -> Absorbed:
    changes = OrderChanges(state)
    if intent.type is OrderType.TRAILING_STOP_MARKET:
        # The price passed the activation price in the position's favour: the trail is due
        # to be active already, so it goes on activating at the latest price.
        changes.place(intent.leg, intent.type, covered, callback=intent.callback_rate)
        notices: tuple[Notice, ...] = (notice,)
    else:
        # The price went through the stop before the exchange had it: close what the stop
        # covers at market, as the stop would have done (SPEC-exits.md, "Rounding").
        changes.place(intent.leg, OrderType.MARKET, covered, tp_number=intent.tp_number)
        notices = (
            notice,
            Notice(
                "exit_brain.stop_through_market_close",
                (("leg", intent.label), ("qty", str(covered))),
            ),
        )
    state, requests = changes.result()
    return state, requests, notices


def _tp_index(plan: ExitPlan, number: int) -> int:
    for index, leg in enumerate(plan.take_profits):
        if leg.number == number:
            return index
    raise KeyError(number)


def _replace(state: ExitState, **changes: Any) -> ExitState:
    return replace_state(state, **changes)
