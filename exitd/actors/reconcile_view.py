"""Reconciliation of one symbol: the exchange's open orders against the exit state.

Pure. Own orders are recognised by client id and re-attached, never replaced; an own order
the state does not know is stale and cancelled; a foreign exit order is an ownership
conflict; an order the state believes live but the exchange no longer lists is called
missing only when two reconciliations in a row miss it (a fresh order may not be visible
yet, RELIABILITY.md §0 finding 7), and then the engine is told it is gone so it places it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exitd.engine import (
    Event,
    ExitState,
    Leg,
    OrderCancelled,
    OrderIntent,
    OrderStatus,
    OrderType,
    intent_from_resting,
    parse_client_order_id,
)
from exitd.engine.client_ids import EXIT_BRAIN_CODE
from exitd.exchange.port import OrderRequest, OrderView
from exitd.ownership import EXIT_BRAIN, KNOWN_MODULE_CODES

_ENGINE_TYPES = {t.value: t for t in OrderType}
_MODULES_BY_CODE = {code: module for module, code in KNOWN_MODULE_CODES.items()}


def module_of(client_order_id: str, default: str = EXIT_BRAIN) -> str:
    """The module an exitd client id names; `default` for anyone else's."""
    ref = parse_client_order_id(client_order_id)
    module = None if ref is None else _MODULES_BY_CODE.get(ref.module_code)
    return module or default


def leg_label(client_order_id: str) -> str | None:
    """The leg an exitd id names as traders read it (HARD_SL, TP1, WORKING_STOP, …)."""
    ref = parse_client_order_id(client_order_id)
    if ref is None or ref.leg is None:
        return None
    return f"TP{ref.tp_number}" if ref.leg is Leg.TAKE_PROFIT else ref.leg.value


def is_own(client_order_id: str) -> bool:
    """Placed by the exit brain (its client-id code), in this run or an earlier one."""
    ref = parse_client_order_id(client_order_id)
    return ref is not None and ref.module_code == EXIT_BRAIN_CODE


def resting_intents(
    symbol: str, orders: Iterable[OrderView], inflight: Iterable[OrderRequest]
) -> tuple[OrderIntent, ...]:
    """The exit brain's orders on the exchange or still in the gateway, as engine intents."""
    intents: dict[str, OrderIntent] = {}
    candidates: list[OrderView | OrderRequest] = [*orders, *inflight]
    for order in candidates:
        order_type = _ENGINE_TYPES.get(order.type)
        if order.symbol != symbol or order.client_order_id in intents or order_type is None:
            continue
        quantity = order.quantity
        if isinstance(order, OrderView) and quantity is not None:
            quantity -= order.filled_qty  # what is still open
        intent = intent_from_resting(
            order.client_order_id,
            symbol=symbol,
            side=order.side,
            type=order_type,
            quantity=quantity,
            price=order.price,
            trigger=order.trigger_price,
            reduce_only=order.reduce_only,
            close_position=order.close_position,
        )
        if intent is not None:
            intents[order.client_order_id] = intent
    return tuple(intents.values())


@dataclass(frozen=True, slots=True)
class ExchangeDiff:
    stale: tuple[OrderView, ...]
    foreign: tuple[OrderView, ...]
    suspects: frozenset[str]
    missing_events: tuple[Event, ...]


def diff_orders(
    state: ExitState,
    orders: Sequence[OrderView],
    inflight: Sequence[OrderRequest],
    suspects: frozenset[str],
    now_ms: int,
) -> ExchangeDiff:
    on_exchange = {o.client_order_id for o in orders}
    pending = {o.client_order_id for o in inflight}
    tracked = {o.intent.client_order_id for o in state.orders}
    stale = tuple(
        o
        for o in orders
        if is_own(o.client_order_id)
        and o.client_order_id not in tracked
        and o.client_order_id not in pending
    )
    foreign = tuple(
        o for o in orders if not is_own(o.client_order_id) and (o.reduce_only or o.close_position)
    )
    absent = frozenset(
        o.intent.client_order_id
        for o in state.orders
        if o.status is OrderStatus.LIVE
        and o.intent.type is not OrderType.MARKET
        and o.intent.client_order_id not in on_exchange
        and o.intent.client_order_id not in pending
    )
    missing = absent & suspects
    return ExchangeDiff(
        stale=stale,
        foreign=foreign,
        suspects=absent - missing,
        missing_events=tuple(OrderCancelled(cid, now_ms) for cid in sorted(missing)),
    )
