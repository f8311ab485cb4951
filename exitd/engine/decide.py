"""The exit brain: `decide(state, event) -> (state, requests, notices)`.

Pure: no I/O, no clock, no globals; time and prices arrive in events. Each call absorbs events
into the state, then reconciles what the plan wants on the exchange with the orders the state
believes are there, and asks for the difference (SPEC-exits.md is the contract).
Arming, the trail's extreme and the working stop `W` move only on ticks, as the spec's
tick-synchronous step 2 says; fills, acks and position changes are absorbed in between.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from exitd.engine.model import (
    Event,
    Fill,
    Leg,
    Notice,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderType,
    PositionChanged,
    RejectReason,
    Request,
    Side,
    Tick,
    Timer,
)
from exitd.engine.plan import ExitPlan
from exitd.engine.profile import HUNDRED, TrailMode
from exitd.engine.reconcile import OrderChanges, reconcile
from exitd.engine.rounding import round_price, tick_above, tick_below
from exitd.engine.state import NEVER_MS, ExitState, OrderStatus, Retry, TrackedOrder

_ZERO = Decimal(0)
_INFINITY = Decimal("Infinity")
_RETRY_BASE_MS = 1_000
_RETRY_MAX_MS = 60_000


class Decision(NamedTuple):
    state: ExitState
    requests: tuple[Request, ...]
    notices: tuple[Notice, ...]


def adopt(plan: ExitPlan, tick: Tick, first_seq: int = 1) -> Decision:
    """Adopt a position on `tick` (its price is the adoption price `p`): step 2 of that tick."""
    state = ExitState(
        plan=plan,
        qty=plan.initial_qty,
        adopted_ms=tick.time_ms,
        best_price=tick.price,
        next_seq=first_seq,
        tp_filled=(_ZERO,) * len(plan.take_profits),
    )
    state = _advance(state, tick)
    state, requests, notices = reconcile(state, tick.time_ms)
    return Decision(_settle(state), requests, plan.notices + notices)


def decide(state: ExitState, event: Event) -> Decision:
    """The new state and the orders to send after one event."""
    if (
        type(event) is Tick
        and not state.wake
        and event.time_ms < state.deadline_ms
        and (
            state.quiet_low < event.price <= state.quiet_high
            if state.plan.side is Side.LONG
            else state.quiet_low <= event.price < state.quiet_high
        )
    ):
        return Decision(state, (), ())  # the hot path: this tick cannot change anything
    return decide_all(state, (event,))


def decide_all(state: ExitState, events: Iterable[Event]) -> Decision:
    """Absorb several events, then reconcile once: what the brain does at step 2 of a tick,
    seeing the tick's fills and its price together."""
    requests: list[Request] = []
    notices: list[Notice] = []
    now = 0
    for event in events:
        now = event.time_ms
        if type(event) is Tick:
            state = _advance(state, event)
        else:
            state, absorbed_requests, absorbed_notices = _absorb(state, event)
            requests.extend(absorbed_requests)
            notices.extend(absorbed_notices)
    state, reconciled, reconcile_notices = reconcile(state, now)
    return Decision(_settle(state), (*requests, *reconciled), (*notices, *reconcile_notices))


# --- step 2 of a tick: excursion, arming, extreme, working-stop target -------------------------


def _advance(state: ExitState, tick: Tick) -> ExitState:
    plan = state.plan
    profile = plan.profile
    price = tick.price
    long = plan.side is Side.LONG
    best = state.best_price
    if price > best if long else price < best:
        best = price

    be = profile.breakeven
    breakeven_armed = state.breakeven_armed or (
        be is not None
        and (
            _reached(plan.breakeven_level, best, long)
            or (be.after_tp is not None and _tp_reached(state, be.after_tp))
        )
    )
    trail = profile.trail
    trail_armed = state.trail_armed
    extreme = state.extreme
    if trail is not None and not trail_armed:
        by_take_profit = trail.after_tp is not None and _tp_reached(state, trail.after_tp)
        if trail.mode is TrailMode.EXCHANGE:
            # The exchange watches the activation price itself: the order goes on at once.
            trail_armed = trail.activation_pct is not None or by_take_profit
        else:
            trail_armed = _reached(plan.trail_level, best, long) or by_take_profit
        if trail_armed and trail.mode is TrailMode.DAEMON:  # the exchange tracks its own
            extreme = price  # "the best price since arming, the arming tick included"
    elif trail_armed and extreme is not None and (price > extreme if long else price < extreme):
        extreme = price

    daemon_trail = trail is not None and trail.mode is TrailMode.DAEMON and trail_armed
    target, clamped = _working_stop_target(
        plan,
        plan.breakeven_price if breakeven_armed else None,
        extreme if daemon_trail else None,
        price,
    )
    # A later tick changes nothing while it sets no new best or extreme and stays on the
    # position's side of W (past W, W would be recomputed against that price).
    favourable = best
    if daemon_trail and extreme is not None:
        favourable = min(best, extreme) if long else max(best, extreme)
    if long:
        quiet_low, quiet_high = (_ZERO if target is None else target), favourable
    else:
        quiet_low, quiet_high = favourable, (_INFINITY if target is None else target)
    return _replace(
        state,
        best_price=best,
        breakeven_armed=breakeven_armed,
        trail_armed=trail_armed,
        extreme=extreme,
        target_stop=target,
        quiet_low=quiet_low,
        quiet_high=quiet_high,
        wake=clamped,
    )


def _reached(level: Decimal | None, best: Decimal, long: bool) -> bool:
    """`mfe >= x`, with `level` the price x percent in favour: exact, no division."""
    if level is None:
        return False
    return best >= level if long else best <= level


def _tp_reached(state: ExitState, number: int) -> bool:
    """Take-profit `number` has filled, or a farther one that absorbed its fraction."""
    return any(done >= number for done in state.tps_done)


def _working_stop_target(
    plan: ExitPlan, breakeven: Decimal | None, extreme: Decimal | None, price: Decimal
) -> tuple[Decimal | None, bool]:
    """W on the tick grid and strictly on the stop's side of `price`, or None while it is not
    more protective than the HARD_SL; and whether it had to be moved off `price`."""
    long = plan.side is Side.LONG
    candidates = []
    if breakeven is not None:
        candidates.append(breakeven)
    if extreme is not None:
        trail = plan.profile.trail
        assert trail is not None
        candidates.append(extreme * (1 - plan.side.sign * trail.callback_pct / HUNDRED))
    if not candidates:
        return None, False
    tick = plan.filters.tick_size
    stop = round_price(max(candidates) if long else min(candidates), tick)
    clamped = stop >= price if long else stop <= price
    if clamped:
        stop = tick_below(price, tick) if long else tick_above(price, tick)
    if stop <= plan.hard_sl_price if long else stop >= plan.hard_sl_price:
        return None, clamped
    return stop, clamped


# --- events between ticks ----------------------------------------------------------------------


def _absorb(
    state: ExitState, event: Event
) -> tuple[ExitState, tuple[Request, ...], tuple[Notice, ...]]:
    if isinstance(event, Fill):
        return _on_fill(state, event), (), ()
    if isinstance(event, PositionChanged):
        side = state.plan.side
        same_side = event.amount * side.sign > 0
        return _replace(state, qty=abs(event.amount) if same_side else _ZERO, wake=True), (), ()
    if isinstance(event, OrderAccepted):
        return _on_accepted(state, event), (), ()
    if isinstance(event, OrderCancelled):
        orders = tuple(o for o in state.orders if o.intent.client_order_id != event.client_order_id)
        return _replace(state, orders=orders, wake=True), (), ()
    if isinstance(event, OrderRejected):
        return _on_rejected(state, event)
    assert isinstance(event, Timer)
    return _replace(state, wake=True), (), ()


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
    if intent.leg is Leg.TAKE_PROFIT:
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
    retries = tuple(r for r in state.retries if r.label != order.intent.label)
    return _replace(state, orders=orders, retries=retries, wake=True)


def _on_rejected(
    state: ExitState, event: OrderRejected
) -> tuple[ExitState, tuple[Request, ...], tuple[Notice, ...]]:
    order = state.order(event.client_order_id)
    if order is None:
        return _replace(state, wake=True), (), ()
    intent = order.intent
    orders = tuple(o for o in state.orders if o is not order)
    previous = next((r for r in state.retries if r.label == intent.label), None)
    attempts = 1 if previous is None else previous.attempts + 1
    delay = min(_RETRY_BASE_MS * 2 ** (attempts - 1), _RETRY_MAX_MS)
    retries = (
        *(r for r in state.retries if r.label != intent.label),
        Retry(intent.label, event.time_ms + delay, attempts),
    )
    state = _replace(
        state,
        orders=orders,
        retries=retries,
        time_fired=state.time_fired and intent.leg is not Leg.TIME,
        wake=True,
    )
    notice = Notice(
        "exit_brain.order_rejected",
        (("leg", intent.label), ("reason", event.reason.value), ("message", event.message)),
    )
    covered = state.qty if intent.quantity is None else min(intent.quantity, state.qty)
    if (
        event.reason is not RejectReason.WOULD_TRIGGER
        or not intent.type.conditional
        or state.closing  # a close on its way covers what this order did
        or covered <= 0
    ):
        return state, (), (notice,)
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


# --- helpers -----------------------------------------------------------------------------------


def _tp_index(plan: ExitPlan, number: int) -> int:
    for index, leg in enumerate(plan.take_profits):
        if leg.number == number:
            return index
    raise KeyError(number)


def _settle(state: ExitState) -> ExitState:
    """Recompute when the next tick must take the full path: the TIME leg, retries."""
    deadline = NEVER_MS
    limit_s = state.plan.profile.time_limit_s
    if limit_s is not None and not state.time_fired:
        deadline = state.adopted_ms + limit_s * 1000
    for retry in state.retries:
        deadline = min(deadline, retry.not_before_ms)
    if deadline == state.deadline_ms:
        return state
    return _replace(state, deadline_ms=deadline)


def _replace(state: ExitState, **changes: Any) -> ExitState:
    return dataclasses.replace(state, **changes)
