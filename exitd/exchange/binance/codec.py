"""Binance REST payloads → port values (binance-usdm.md §4, §5, §6, §12).

Decimals come straight from the wire's strings (never through float); a payload that lacks a
field or carries the wrong type raises `BadPayload`, which the caller turns into a logged,
skipped frame (streams) or an unknown answer (REST). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from exitd.engine.model import OrderSide, SymbolFilters
from exitd.exchange.port import MarkPrice, OrderState, OrderView, PositionView

_ZERO = Decimal(0)
Payload = Mapping[str, Any]


class BadPayload(ValueError):
    """A payload that is not what Binance documents; the message says which field."""


# What decoding a payload of the wrong shape can raise: callers catch these, never more.
DECODE_ERRORS = (ValueError, TypeError, AttributeError, KeyError)


# --- fields -----------------------------------------------------------------------------------


def field(payload: Payload, name: str) -> Any:
    try:
        return payload[name]
    except (KeyError, TypeError) as exc:
        raise BadPayload(f"missing field {name!r}") from exc


def text(payload: Payload, name: str) -> str:
    value = field(payload, name)
    if not isinstance(value, str):
        raise BadPayload(f"{name!r} must be a string, got {value!r}")
    return value


def integer(payload: Payload, name: str) -> int:
    """Ids and times: JSON numbers, or digit strings (listenKeyExpired's `E`, `ai`)."""
    value = field(payload, name)
    if isinstance(value, bool):
        raise BadPayload(f"{name!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise BadPayload(f"{name!r} must be an integer, got {value!r}")


def decimal(payload: Payload, name: str, default: Decimal | None = None) -> Decimal:
    """A decimal from its string (ints accepted; floats refused: they already lost digits)."""
    value = payload.get(name) if default is not None else field(payload, name)
    if value is None or value == "":
        if default is None:
            raise BadPayload(f"{name!r} is empty")
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadPayload(f"{name!r} must be a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise BadPayload(f"{name!r} is not a decimal: {value!r}") from exc
    if not number.is_finite():
        raise BadPayload(f"{name!r} is not finite: {value!r}")
    return number


def nonzero(payload: Payload, name: str) -> Decimal | None:
    """A price or quantity where Binance writes "0" or "" for "none" (the stop price of a
    LIMIT, the quantity of a close-position stop)."""
    value = decimal(payload, name, _ZERO)
    return value or None


def flag(payload: Payload, name: str) -> bool:
    value = payload.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadPayload(f"{name!r} must be a boolean, got {value!r}")


def side(payload: Payload, name: str) -> OrderSide:
    try:
        return OrderSide(field(payload, name))
    except ValueError as exc:
        raise BadPayload(f"{name!r} is not BUY or SELL") from exc


# --- states -----------------------------------------------------------------------------------

_STATES = {state.value: state for state in OrderState}


def order_state(status: str, filled: Decimal, quantity: Decimal | None) -> OrderState:
    """A regular or algo status as the port's state.

    EXPIRED_IN_MATCH (self-trade prevention) is an expiry; the liquidation statuses
    NEW_INSURANCE / NEW_ADL (§9.2 samples) carry their fill, so they read as filled."""
    if status in _STATES:
        return _STATES[status]
    if status == "EXPIRED_IN_MATCH":
        return OrderState.EXPIRED
    if status.startswith("NEW_"):
        complete = quantity is not None and filled >= quantity
        return OrderState.FILLED if complete else OrderState.PARTIALLY_FILLED
    raise BadPayload(f"unknown order status {status!r}")


# --- orders -----------------------------------------------------------------------------------


def regular_order(payload: Payload) -> OrderView:
    """An order object of /fapi/v1/order (new, cancel, query) or openOrders (§12.1)."""
    quantity = decimal(payload, "origQty")
    filled = decimal(payload, "executedQty", _ZERO)
    return OrderView(
        symbol=text(payload, "symbol"),
        client_order_id=text(payload, "clientOrderId"),
        exchange_id=str(integer(payload, "orderId")),
        side=side(payload, "side"),
        type=text(payload, "type"),
        state=order_state(text(payload, "status"), filled, quantity),
        conditional=False,
        quantity=quantity,
        filled_qty=filled,
        price=nonzero(payload, "price"),
        trigger_price=nonzero(payload, "stopPrice"),
        reduce_only=flag(payload, "reduceOnly"),
        close_position=flag(payload, "closePosition"),
        update_ms=integer(payload, "updateTime"),
    )


def algo_order(payload: Payload, filled: Decimal = _ZERO) -> OrderView:
    """An algo order of /fapi/v1/algoOrder or openAlgoOrders (§12.2, §14: `orderType`).

    An algo record carries no executed quantity: `filled` is its child's, when known."""
    kind = payload.get("orderType") or payload.get("type")
    if not isinstance(kind, str):
        raise BadPayload("missing field 'orderType'")
    quantity = nonzero(payload, "quantity")  # "0"/"" on a close-position order
    return OrderView(
        symbol=text(payload, "symbol"),
        client_order_id=text(payload, "clientAlgoId"),
        exchange_id=str(integer(payload, "algoId")),
        side=side(payload, "side"),
        type=kind,
        state=order_state(text(payload, "algoStatus"), filled, quantity),
        conditional=True,
        quantity=quantity,
        filled_qty=filled,
        price=nonzero(payload, "price"),
        trigger_price=nonzero(payload, "triggerPrice") or nonzero(payload, "activatePrice"),
        reduce_only=flag(payload, "reduceOnly"),
        close_position=flag(payload, "closePosition"),
        update_ms=integer(payload, "updateTime"),
    )


# --- account and market -----------------------------------------------------------------------


def position(payload: Payload) -> PositionView:
    """A /fapi/v2 or /fapi/v3 positionRisk entry (§12.10)."""
    return PositionView(
        symbol=text(payload, "symbol"),
        amount=decimal(payload, "positionAmt"),
        entry_price=decimal(payload, "entryPrice"),
        update_ms=integer(payload, "updateTime"),
    )


def symbol_filters(payload: Payload) -> dict[str, SymbolFilters]:
    """exchangeInfo → filters per symbol: PRICE_FILTER tickSize, LOT_SIZE stepSize and
    minQty, MIN_NOTIONAL notional (0 when the symbol has none)."""
    out: dict[str, SymbolFilters] = {}
    symbols = field(payload, "symbols")
    if not isinstance(symbols, list):
        raise BadPayload("'symbols' must be a list")
    for entry in symbols:
        filters = {f.get("filterType"): f for f in field(entry, "filters") if isinstance(f, dict)}
        try:
            tick, lot = filters["PRICE_FILTER"], filters["LOT_SIZE"]
        except KeyError as exc:
            raise BadPayload(f"{entry.get('symbol')!r} lacks filter {exc}") from exc
        notional = filters.get("MIN_NOTIONAL", {})
        out[text(entry, "symbol")] = SymbolFilters(
            tick_size=decimal(tick, "tickSize"),
            step_size=decimal(lot, "stepSize"),
            min_qty=decimal(lot, "minQty"),
            min_notional=decimal(notional, "notional", _ZERO),
        )
    return out


def premium_index(payload: Payload) -> MarkPrice:
    """GET /fapi/v1/premiumIndex?symbol= (§12.11)."""
    return MarkPrice(
        symbol=text(payload, "symbol"),
        price=decimal(payload, "markPrice"),
        time_ms=integer(payload, "time"),
    )


def mark_price_update(payload: Payload) -> MarkPrice:
    """A `markPriceUpdate` stream payload (§12.7)."""
    return MarkPrice(
        symbol=text(payload, "s"), price=decimal(payload, "p"), time_ms=integer(payload, "E")
    )


__all__ = [
    "DECODE_ERRORS",
    "BadPayload",
    "algo_order",
    "mark_price_update",
    "order_state",
    "position",
    "premium_index",
    "regular_order",
    "symbol_filters",
]
