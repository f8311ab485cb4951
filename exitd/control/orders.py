"""A legacy module's order as Binance's own parameters, read strictly; orders as JSON.

Pure. Legacy code builds `{"side": "SELL", "type": "STOP_MARKET", "stopPrice": "39000",
"closePosition": "true", …}` for Binance; `submit` takes exactly that. Prices and quantities
are read as Decimal from their text; booleans as JSON booleans or Binance's "true"/"false".
The order type alone decides the endpoint: conditional types go to the algo endpoints.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitd.actors.reconcile_view import leg_label, module_of
from exitd.control.protocol import Code, CommandError
from exitd.engine import OrderSide
from exitd.exchange.port import ORDER_TYPES, OrderRequest, OrderView
from exitd.numbers import NumberError, parse_decimal, sane_decimal
from exitd.ops.metrics import OrderKind

ORDER_KEYS = (
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "stopPrice",
    "triggerPrice",
    "reduceOnly",
    "closePosition",
    "timeInForce",
    "newClientOrderId",
    "workingType",
    "activationPrice",
    "callbackRate",
)
_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
_WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE")
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:/_-")


def _bad(message: str) -> CommandError:
    return CommandError(Code.BAD_ARGS, f"order: {message}")


def parse_kind(text: object) -> OrderKind:
    kinds = ", ".join(k.value for k in OrderKind)
    if not isinstance(text, str):
        raise CommandError(Code.BAD_ARGS, f"kind: one of {kinds}")
    try:
        return OrderKind(text.lower())
    except ValueError:
        raise CommandError(Code.BAD_ARGS, f"kind {text!r}: one of {kinds}") from None


def _decimal(order: Mapping[str, Any], key: str) -> Decimal | None:
    value = order.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise _bad(f"{key}: a number, as text or JSON number")
    try:
        number = parse_decimal(value) if isinstance(value, str) else sane_decimal(Decimal(value))
    except NumberError as exc:
        raise _bad(f"{key}: {exc}") from None
    if number <= 0:
        raise _bad(f"{key} {value}: a positive number")
    return number


def _flag(order: Mapping[str, Any], key: str) -> bool:
    value = order.get(key, False)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise _bad(f"{key}: true or false")


def _choice(order: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = order.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise _bad(f"{key} {value!r}: one of {', '.join(allowed)}")
    assert isinstance(value, str)
    return value


def parse_order(symbol: str, order: Mapping[str, Any]) -> OrderRequest:
    """The OrderRequest Binance's parameters describe, or CommandError(BAD_ARGS)."""
    unknown = sorted(set(order) - set(ORDER_KEYS))
    if unknown:
        raise _bad(f"unknown parameters {unknown}: allowed {', '.join(ORDER_KEYS)}")
    if order.get("symbol") not in (None, symbol):
        raise _bad(f"symbol {order.get('symbol')!r} differs from the request's {symbol}")
    side = _choice(order, "side", ("BUY", "SELL"))
    if side is None:
        raise _bad("side: BUY or SELL")
    order_type = _choice(order, "type", tuple(sorted(ORDER_TYPES)))
    if order_type is None:
        raise _bad(f"type: one of {', '.join(sorted(ORDER_TYPES))}")
    stop, trigger = _decimal(order, "stopPrice"), _decimal(order, "triggerPrice")
    if stop is not None and trigger is not None and stop != trigger:
        raise _bad("stopPrice and triggerPrice differ: give one")
    return OrderRequest(
        symbol=symbol,
        client_order_id=_client_id(order.get("newClientOrderId")),
        side=OrderSide(side),
        type=order_type,
        quantity=_decimal(order, "quantity"),
        price=_decimal(order, "price"),
        trigger_price=stop or trigger,
        reduce_only=_flag(order, "reduceOnly"),
        close_position=_flag(order, "closePosition"),
        time_in_force=_choice(order, "timeInForce", _TIME_IN_FORCE),
        working_type=_choice(order, "workingType", _WORKING_TYPES) or "MARK_PRICE",
        activation_price=_decimal(order, "activationPrice"),
        callback_rate=_decimal(order, "callbackRate"),
    )


def _client_id(value: object) -> str:
    """The caller's id, or a fresh random one (Binance's own rule: 1 to 36 of its characters)."""
    if value is None:
        return "ctl-" + secrets.token_hex(12)
    if not isinstance(value, str) or not 1 <= len(value) <= 36 or set(value) - _ID_CHARS:
        raise _bad("newClientOrderId: 1 to 36 characters of A-Z a-z 0-9 . : / _ -")
    return value


def order_json(order: OrderView) -> dict[str, object]:
    """An exchange order as the control socket shows it, with the module and leg its id names."""
    return {
        "symbol": order.symbol,
        "clientOrderId": order.client_order_id,
        "orderId": order.exchange_id,
        "side": order.side.value,
        "type": order.type,
        "status": order.state.value,
        "conditional": order.conditional,
        "quantity": order.quantity,
        "filledQty": order.filled_qty,
        "price": order.price,
        "triggerPrice": order.trigger_price,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "updateTime": order.update_ms,
        "module": module_of(order.client_order_id, default="foreign"),
        "leg": leg_label(order.client_order_id),
    }
