"""Between the engine's values and the exchange port's: pure, so the symbol actor stays thin.

The engine speaks of legs, intents and events; the port of orders, outcomes and updates.
Every mapping between the two lives here once, tested without a loop or a socket.
"""

from __future__ import annotations

from exitd.actors.messages import CancelWrite, NotSent, NotSentReason, PlaceWrite, WriteAnswer
from exitd.engine import (
    CancelOrder,
    Event,
    ExitState,
    Fill,
    Leg,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectReason,
    Request,
)
from exitd.exchange.port import (
    Accepted,
    OrderRequest,
    OrderState,
    OrderUpdate,
    Rejected,
    RejectKind,
    Unknown,
)
from exitd.ops.metrics import OrderKind
from exitd.ownership import EXIT_BRAIN

_PROTECTIVE = (Leg.HARD_SL, Leg.WORKING_STOP, Leg.TRAILING_STOP)


def order_request(intent: OrderIntent) -> OrderRequest:
    time_in_force = "GTC" if intent.type is OrderType.LIMIT else None
    return OrderRequest(
        symbol=intent.symbol,
        client_order_id=intent.client_order_id,
        side=intent.side,
        type=intent.type.value,
        quantity=intent.quantity,
        price=intent.price,
        trigger_price=intent.trigger_price,
        reduce_only=intent.reduce_only and not intent.close_position,
        close_position=intent.close_position,
        time_in_force=time_in_force,
        activation_price=intent.activation_price,
        callback_rate=intent.callback_rate,
    )


def order_kind(leg: Leg, state: ExitState) -> OrderKind:
    """The seed system's kind of an exit leg: what the metrics count it as."""
    if leg is Leg.HARD_SL:
        return OrderKind.SL
    if leg is Leg.TAKE_PROFIT:
        return OrderKind.PARTIAL_TP
    if leg is Leg.TIME:
        return OrderKind.TIME
    if leg is Leg.WORKING_STOP and not state.trail_armed:
        return OrderKind.BREAKEVEN
    return OrderKind.TRAILING


def gateway_write(
    request: Request, state: ExitState, module: str = EXIT_BRAIN
) -> PlaceWrite | CancelWrite:
    if isinstance(request, PlaceOrder):
        intent = request.intent
        return PlaceWrite(
            module=module,
            order=order_request(intent),
            kind=order_kind(intent.leg, state),
            leg=intent.label,
            protective=intent.leg in _PROTECTIVE or intent.type is OrderType.MARKET,
        )
    assert isinstance(request, CancelOrder)
    return CancelWrite(
        module=module,
        symbol=request.symbol,
        client_order_id=request.client_order_id,
        conditional=request.conditional,
        kind=order_kind(request.leg, state),
        leg=request.leg.value,
    )


def reject_reason(kind: RejectKind) -> RejectReason:
    if kind is RejectKind.WOULD_TRIGGER:
        return RejectReason.WOULD_TRIGGER
    if kind is RejectKind.REDUCE_ONLY:
        return RejectReason.REDUCE_ONLY
    if not kind.retriable:
        return RejectReason.FINAL
    return RejectReason.OTHER


def answer_events(answer: WriteAnswer, time_ms: int) -> tuple[Event, ...]:
    """What the engine learns from the gateway's answer to one of its writes."""
    write, outcome = answer.write, answer.outcome
    cid = write.client_order_id
    if isinstance(write, PlaceWrite):
        if isinstance(outcome, Accepted):
            events: list[Event] = [OrderAccepted(cid, time_ms)]
            if not outcome.order.state.open and outcome.order.filled_qty == 0:
                events.append(OrderCancelled(cid, time_ms))  # e.g. expired at once
            return tuple(events)
        if isinstance(outcome, Rejected):
            return (OrderRejected(cid, reject_reason(outcome.kind), time_ms, outcome.reason),)
        if isinstance(outcome, NotSent):
            if outcome.reason is NotSentReason.SHADOW:
                return (OrderAccepted(cid, time_ms),)  # the shadow plan goes on as if placed
            if outcome.reason is NotSentReason.SUPERSEDED:
                return (OrderCancelled(cid, time_ms),)
            return (OrderRejected(cid, RejectReason.FINAL, time_ms, outcome.message),)
        assert isinstance(outcome, Unknown)
        return ()
    # A cancel: the order is gone when the exchange says so, or says it has no such order
    # (filled or cancelled already: a fill, if any, arrives on the stream by itself).
    if isinstance(outcome, Accepted) or (
        isinstance(outcome, Rejected) and outcome.kind is RejectKind.NOT_FOUND
    ):
        return (OrderCancelled(cid, time_ms),)
    if isinstance(outcome, NotSent) and outcome.reason is NotSentReason.SHADOW:
        return (OrderCancelled(cid, time_ms),)
    return ()


def update_events(update: OrderUpdate) -> tuple[Event, ...]:
    """What the engine learns from one order update on the user stream."""
    order = update.order
    cid = order.client_order_id
    events: list[Event] = []
    if order.state is OrderState.NEW or (
        order.state is OrderState.PARTIALLY_FILLED and not order.conditional
    ):
        events.append(OrderAccepted(cid, update.time_ms))
    if update.last_fill_qty > 0:
        events.append(Fill(cid, update.last_fill_qty, update.last_fill_price, update.time_ms))
    if order.conditional and order.state is OrderState.REJECTED:
        # The stop triggered and the exchange refused to execute it (ALGO_UPDATE with a reject
        # reason): the price is through it, so the engine closes at market what it covered,
        # as the stop would have done; a stop placed again there would be looser.
        reason = update.reject_reason or "rejected when triggered"
        events.append(OrderRejected(cid, RejectReason.WOULD_TRIGGER, update.time_ms, reason))
    elif order.state in (OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED):
        events.append(OrderCancelled(cid, update.time_ms))  # gone without (further) fills
    return tuple(events)
