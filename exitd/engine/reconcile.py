"""Reconcile: what the plan wants on the exchange against what the state believes is there.

Pure, like the rest of the engine. `reconcile` asks for the difference as place and cancel
requests, protective stops first; it never loosens a stop, keeps one working stop resting and
at most one on its way (make-before-break, or cancel-then-place once the exchange refused that),
and keeps the take-profits inside the position. Orders an earlier adoption left are replaced:
take-profits and a moved HARD_SL at once (a second close-position stop is refused, -4130),
working and trailing stops once the new HARD_SL rests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exitd.engine.client_ids import EXIT_BRAIN_CODE, make_client_order_id
from exitd.engine.model import (
    CancelOrder,
    Leg,
    Notice,
    OrderIntent,
    OrderType,
    PlaceOrder,
    Request,
)
from exitd.engine.plan import ExitPlan
from exitd.engine.profile import HUNDRED, TrailMode
from exitd.engine.rounding import round_qty_down
from exitd.engine.state import FILL_GRACE_MS, ExitState, OrderStatus, TrackedOrder, replace_state

_ZERO = Decimal(0)
# Retry labels, looked up once: Enum's `.value` is a descriptor call on every use.
_HARD_SL = Leg.HARD_SL.value
_TIME = Leg.TIME.value
_WORKING_STOP = Leg.WORKING_STOP.value
_TRAILING_STOP = Leg.TRAILING_STOP.value


class OrderChanges:
    """Accumulates the orders one reconcile places and cancels; local to a single call."""

    def __init__(self, state: ExitState) -> None:
        self.state = state
        self.orders = list(state.orders)
        self.requests: list[Request] = []
        self.seq = state.next_seq
        self.updates: dict[str, Any] = {}

    def place(
        self,
        leg: Leg,
        order_type: OrderType,
        qty: Decimal | None,
        *,
        price: Decimal | None = None,
        trigger: Decimal | None = None,
        tp_number: int = 0,
        activation: Decimal | None = None,
        callback: Decimal | None = None,
    ) -> None:
        plan = self.state.plan
        close_position = qty is None
        intent = OrderIntent(
            client_order_id=make_client_order_id(
                EXIT_BRAIN_CODE, plan.symbol, leg, self.seq, tp_number
            ),
            symbol=plan.symbol,
            leg=leg,
            side=plan.side.closing_side,
            type=order_type,
            quantity=qty,
            price=price,
            trigger_price=trigger,
            reduce_only=not close_position,
            close_position=close_position,
            activation_price=activation,
            callback_rate=callback,
            tp_number=tp_number,
        )
        self.seq += 1
        self.orders.append(TrackedOrder(intent, OrderStatus.PENDING_NEW))
        self.requests.append(PlaceOrder(intent))

    def cancel(self, order: TrackedOrder) -> None:
        intent = order.intent
        self.orders = [
            TrackedOrder(o.intent, OrderStatus.PENDING_CANCEL, o.filled_qty) if o is order else o
            for o in self.orders
        ]
        self.requests.append(
            CancelOrder(intent.client_order_id, intent.symbol, intent.leg, intent.type.conditional)
        )

    def result(self) -> tuple[ExitState, tuple[Request, ...]]:
        """The state with these orders and what to send; the same state when nothing changed."""
        if not self.requests:
            return self.state, ()
        state = replace_state(
            self.state, orders=tuple(self.orders), next_seq=self.seq, **self.updates
        )
        return state, tuple(self.requests)


def reconcile(
    state: ExitState, now_ms: int
) -> tuple[ExitState, tuple[Request, ...], tuple[Notice, ...]]:
    if state.shrunk_ms is not None and (state.flat or now_ms >= state.shrunk_ms + FILL_GRACE_MS):
        state = replace_state(state, shrunk_ms=None)
    changes = OrderChanges(state)
    if state.flat:
        for order in state.orders:
            if order.active and order.intent.type is not OrderType.MARKET:
                changes.cancel(order)
        return (*changes.result(), ())
    if state.closing:
        return state, (), ()
    plan = state.plan
    _reconcile_inherited(state, changes)
    if not state.orders_of(Leg.HARD_SL) and _may_place(state, _HARD_SL, now_ms):
        changes.place(Leg.HARD_SL, OrderType.STOP_MARKET, None, trigger=plan.hard_sl_price)
    limit_s = plan.profile.time_limit_s
    if (
        limit_s is not None
        and not state.time_fired
        and now_ms >= state.adopted_ms + limit_s * 1000
        and _may_place(state, _TIME, now_ms)
    ):
        changes.place(Leg.TIME, OrderType.MARKET, state.qty)
        new_state, requests = changes.result()
        new_state = replace_state(new_state, time_fired=True)
        return new_state, requests, (Notice("exit_brain.time_limit", (("qty", str(state.qty)),)),)
    _reconcile_working_stop(state, changes, now_ms)
    _reconcile_take_profits(state, changes, now_ms)
    _reconcile_exchange_trail(state, changes, now_ms)
    return (*changes.result(), ())


def _may_place(state: ExitState, label: str, now_ms: int) -> bool:
    retries = state.retries
    return not retries or all(r.label != label or now_ms >= r.not_before_ms for r in retries)


def _reconcile_working_stop(state: ExitState, changes: OrderChanges, now_ms: int) -> None:
    """Make-before-break: place the better stop, cancel the old one once the new one rests.
    Once the exchange refused that (`break_first`): cancel, then place when the cancel is
    confirmed, never below the cancelled stop; the HARD_SL covers the gap."""
    plan = state.plan
    stops = state.own_orders_of(Leg.WORKING_STOP)
    active = [o for o in stops if o.active]
    newest = active[-1] if active else None
    floor = state.stop_floor if newest is None else _trigger(newest)
    target = state.target_stop
    if target is not None and (floor is None or _improves(plan, target, floor)):
        desired: Decimal | None = target
    else:
        desired = floor  # the stop follows Q at the price it already has
    wanted = (
        desired is not None
        and state.qty >= plan.filters.min_qty
        and _may_place(state, _WORKING_STOP, now_ms)
        and (newest is None or desired != _trigger(newest) or newest.intent.quantity != state.qty)
    )
    # One stop resting and one on its way at most: a replacement waits until the stop before
    # it is accepted and the one before that is gone (the account's 200 conditional slots).
    settled = not stops or (len(stops) == 1 and stops[0].status is OrderStatus.LIVE)
    if wanted and state.break_first:
        if newest is None and not state.orders_of(Leg.WORKING_STOP):
            changes.place(Leg.WORKING_STOP, OrderType.STOP_MARKET, state.qty, trigger=desired)
        elif newest is not None and settled:
            changes.cancel(newest)
            changes.updates["stop_floor"] = _trigger(newest)
    elif wanted and settled:
        changes.place(Leg.WORKING_STOP, OrderType.STOP_MARKET, state.qty, trigger=desired)
    if newest is not None and newest.status is OrderStatus.LIVE:
        for older in active[:-1]:
            changes.cancel(older)


def _reconcile_inherited(state: ExitState, changes: OrderChanges) -> None:
    """Replace what an earlier adoption left: its take-profits and a HARD_SL at another price
    go at once (the new HARD_SL follows the confirmed cancel, -4130); its working and trailing
    stops stay until the new HARD_SL rests and no successor of theirs is on its way."""
    if not state.inherited:
        return
    hard_stop_rests = any(
        o.status is OrderStatus.LIVE and o.intent.type is OrderType.STOP_MARKET
        for o in state.own_orders_of(Leg.HARD_SL)
    )
    for order in state.orders:
        intent = order.intent
        if (
            intent.client_order_id not in state.inherited
            or not order.active
            or intent.type is OrderType.MARKET
        ):
            continue
        if intent.leg in (Leg.HARD_SL, Leg.TAKE_PROFIT) or (
            hard_stop_rests
            and not any(
                o.status is OrderStatus.PENDING_NEW for o in state.own_orders_of(intent.leg)
            )
        ):
            changes.cancel(order)


def _trigger(order: TrackedOrder) -> Decimal:
    trigger = order.intent.trigger_price
    assert trigger is not None
    return trigger


def _improves(plan: ExitPlan, new: Decimal, resting: Decimal) -> bool:
    """Tighter by more than zero and by at least `min_step_pct` of the resting stop's price."""
    gain = (new - resting) * plan.side.sign
    trail = plan.profile.trail
    min_step = _ZERO if trail is None else trail.min_step_pct
    return gain > 0 and gain * HUNDRED >= resting * min_step


def _reconcile_take_profits(state: ExitState, changes: OrderChanges, now_ms: int) -> None:
    """Each target for what is left of it, within what the nearer targets leave of `Q`; a new
    order only while everything that may still fill, cancels in flight included, fits in `Q`."""
    plan = state.plan
    if not plan.take_profits:
        return
    filters = plan.filters
    allowance = state.qty
    # A shrink a take-profit's fill may explain waits for that fill before anything is cut.
    holding = state.shrunk_ms is not None
    on_exchange = sum(
        (o.open_qty or _ZERO for o in state.orders if o.intent.leg is Leg.TAKE_PROFIT), _ZERO
    )
    for index, leg in enumerate(plan.take_profits):
        if leg.number in state.tps_done:
            continue
        wanted = round_qty_down(min(leg.qty - state.tp_filled[index], allowance), filters.step_size)
        if wanted < filters.min_qty or wanted * leg.price < filters.min_notional:
            wanted = _ZERO
        allowance -= wanted
        orders = state.own_orders_of(Leg.TAKE_PROFIT, leg.number)
        for order in orders:
            if not holding and order.active and (order.open_qty or _ZERO) > wanted:
                changes.cancel(order)  # the position shrank under it: cancel, then place smaller
        if (
            not orders
            and wanted > 0
            and on_exchange + wanted <= state.qty
            and _may_place(state, f"TP{leg.number}", now_ms)
        ):
            changes.place(
                Leg.TAKE_PROFIT, OrderType.LIMIT, wanted, price=leg.price, tp_number=leg.number
            )
            on_exchange += wanted


def _reconcile_exchange_trail(state: ExitState, changes: OrderChanges, now_ms: int) -> None:
    """Mode `exchange`: one native TRAILING_STOP_MARKET, placed once armed, then only watched."""
    plan = state.plan
    trail = plan.profile.trail
    if (
        trail is None
        or trail.mode is not TrailMode.EXCHANGE
        or not state.trail_armed
        or state.orders_of(Leg.TRAILING_STOP)
        or state.qty < plan.filters.min_qty
        or not _may_place(state, _TRAILING_STOP, now_ms)
    ):
        return
    changes.place(
        Leg.TRAILING_STOP,
        OrderType.TRAILING_STOP_MARKET,
        state.qty,
        activation=plan.trail_activation_price,
        callback=trail.callback_pct,
    )
