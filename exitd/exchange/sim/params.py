"""Parameters of the order endpoints, parsed into small typed requests or refused as Binance does.

Covers `POST /fapi/v1/order`, `POST /fapi/v1/batchOrders` items, `POST /fapi/v1/algoOrder`,
`DELETE /fapi/v1/order` and `DELETE /fapi/v1/algoOrder` (binance-usdm.md §4–§5). Numbers go
from the wire string straight to Decimal, never through float. Checks that need the book or
the position (-2021, -2022, -4116, -4130, -4045) belong to the account, not here; the
PERCENT_PRICE and MARKET notional checks run only when the caller passes a mark price.
Unknown parameters are ignored, as Binance ignores them (ccxt sends extras, §5.5).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TypeVar

import orjson

from exitd.engine.model import OrderSide
from exitd.exchange.sim import errors, params_echo
from exitd.exchange.sim.book import AlgoParams, SimOrderType, TimeInForce, WorkingType
from exitd.exchange.sim.numbers import parse_decimal, parse_integer
from exitd.exchange.sim.symbols import (
    SymbolSpec,
    check_notional,
    check_percent_price,
    check_price,
    check_quantity,
    symbol_spec,
)

CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
# Trailing callbackRate range on /fapi/v1/algoOrder: max 10 → 20 from 2026-10-23 [CL].
CALLBACK_RATE_MIN = Decimal("0.1")
CALLBACK_RATE_MAX = Decimal("20")
MAX_BATCH_ORDERS = 5
GTD_MIN_AHEAD_MS = 600_000
GTD_MAX_MS = 253402300799000
_E = TypeVar("_E", bound=Enum)


class RespType(Enum):
    ACK = "ACK"
    RESULT = "RESULT"


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A LIMIT or MARKET order for `POST /fapi/v1/order` (or one batchOrders item)."""

    symbol: str
    side: OrderSide
    type: SimOrderType
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    reduce_only: bool = False
    client_order_id: str | None = None
    resp_type: RespType = RespType.ACK
    good_till_date: int | None = None
    stp_mode: str | None = None  # selfTradePreventionMode as sent


@dataclass(frozen=True, slots=True)
class NewAlgoOrder:
    """A conditional order for `POST /fapi/v1/algoOrder` (`algoType=CONDITIONAL`)."""

    symbol: str
    side: OrderSide
    type: SimOrderType
    quantity: Decimal | None  # None with close_position
    conditions: AlgoParams
    price_protect: bool = False
    client_algo_id: str | None = None
    resp_type: RespType = RespType.ACK


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """`DELETE /fapi/v1/order`: `orderId` wins when both ids are sent."""

    symbol: str
    order_id: int | None
    orig_client_order_id: str | None


@dataclass(frozen=True, slots=True)
class CancelAlgoOrder:
    """`DELETE /fapi/v1/algoOrder`: by `algoId` or `clientAlgoId`; no symbol needed."""

    algo_id: int | None
    client_algo_id: str | None


# --- single values --------------------------------------------------------------------------


def mandatory(params: Mapping[str, str], name: str) -> str:
    """The parameter's value; -1102 naming it when it is missing or empty."""
    value = params.get(name)
    if value is None or value == "":
        raise errors.MANDATORY_PARAM.error(name)
    return value


def _decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_decimal(raw)
    if value is None:
        raise errors.ILLEGAL_CHARS.error()
    return value


def integer(
    params: Mapping[str, str], name: str, *, malformed: errors.ErrorSpec = errors.ILLEGAL_CHARS
) -> int | None:
    """A whole number, None when not sent; anything but ASCII digits is refused with
    `malformed` (-1100 by default)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_integer(raw)
    if value is None:
        raise malformed.error(name) if "%s" in malformed.template else malformed.error()
    return value


def _flag(params: Mapping[str, str], name: str, spec: errors.ErrorSpec) -> bool:
    """`"true"`/`"false"` (reduceOnly, closePosition) and `"TRUE"`/`"FALSE"` (priceProtect).

    Binance documents the two spellings; whether it refuses the other case is UNCONFIRMED,
    so any case is accepted and anything else is refused with `spec`.
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise spec.error(name) if "%s" in spec.template else spec.error()
    return lowered == "true"


def _enum(kind: type[_E], raw: str, spec: errors.ErrorSpec, *args: object) -> _E:
    try:
        return kind(raw)
    except ValueError as exc:
        raise spec.error(*args) from exc


def _client_id(params: Mapping[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > 36:
        raise errors.CLIENT_ID_TOO_LONG.error()
    if not CLIENT_ID.match(raw):
        raise errors.CLIENT_ID_INVALID.error()
    return raw


def _not_sent(params: Mapping[str, str], *names: str) -> None:
    for name in names:
        if params.get(name, "") != "":
            raise errors.PARAM_NOT_REQUIRED.error(name)


# --- requests -------------------------------------------------------------------------------


def _common(params: Mapping[str, str]) -> tuple[SymbolSpec, OrderSide, SimOrderType]:
    """symbol, side, type — in that order of refusal (-1102, -1121, -1117, -1116)."""
    spec = symbol_spec(mandatory(params, "symbol"))
    side = _enum(OrderSide, mandatory(params, "side"), errors.INVALID_SIDE)
    kind = _enum(SimOrderType, mandatory(params, "type"), errors.INVALID_ORDER_TYPE)
    position_side = params.get("positionSide", "BOTH") or "BOTH"
    if position_side in ("LONG", "SHORT"):
        raise errors.POSITION_SIDE_MISMATCH.error()  # the simulator is one-way mode only
    if position_side != "BOTH":
        raise errors.INVALID_POSITION_SIDE.error()
    return spec, side, kind


def _resp_type(params: Mapping[str, str]) -> RespType:
    return _enum(RespType, params.get("newOrderRespType") or "ACK", errors.INVALID_RESP_TYPE)


def _good_till_date(
    params: Mapping[str, str], tif: TimeInForce | None, now_ms: int | None
) -> int | None:
    if tif is not TimeInForce.GTD:
        return None
    gtd = integer(params, "goodTillDate")
    if gtd is None:
        raise errors.MANDATORY_PARAM.error("goodTillDate")
    if gtd >= GTD_MAX_MS or (now_ms is not None and gtd <= now_ms + GTD_MIN_AHEAD_MS):
        raise errors.BAD_GOOD_TILL_DATE.error()
    return gtd


def parse_new_order(
    params: Mapping[str, str], *, mark_price: Decimal | None = None, now_ms: int | None = None
) -> NewOrder:
    """`POST /fapi/v1/order`: LIMIT needs timeInForce, quantity, price; MARKET quantity only."""
    spec, side, kind = _common(params)
    if kind.conditional:
        raise errors.USE_ALGO_ENDPOINT.error()
    market = kind is SimOrderType.MARKET
    tif: TimeInForce | None = None
    if market:
        _not_sent(params, "price")
    else:
        tif = _enum(TimeInForce, mandatory(params, "timeInForce"), errors.INVALID_TIF)
        mandatory(params, "price")
    mandatory(params, "quantity")
    reduce_only = _flag(params, "reduceOnly", errors.REDUCE_ONLY_CONFLICT)
    client_id = _client_id(params, "newClientOrderId")
    qty = _decimal(params, "quantity")
    price = _decimal(params, "price")
    assert qty is not None
    check_quantity(spec, qty, market=market)
    if price is not None:
        check_price(spec, price)
        if mark_price is not None:
            check_percent_price(spec, side, price, mark_price)
    notional_price = price if price is not None else mark_price
    if notional_price is not None:
        check_notional(spec, qty, notional_price, reduce_only=reduce_only)
    return NewOrder(
        symbol=spec.symbol, side=side, type=kind, quantity=qty, price=price,
        time_in_force=tif, reduce_only=reduce_only, client_order_id=client_id,
        resp_type=_resp_type(params), good_till_date=_good_till_date(params, tif, now_ms),
        stp_mode=params_echo.stp_mode(params),
    )  # fmt: skip


def parse_batch_orders(
    params: Mapping[str, str],
    *,
    mark_price_of: Callable[[str], Decimal | None] | None = None,
    now_ms: int | None = None,
) -> list[NewOrder | errors.BinanceError]:
    """`POST /fapi/v1/batchOrders`: a JSON list of at most 5; each item refused on its own,
    with the same PERCENT_PRICE and MARKET notional checks as a single order (items may
    name different symbols, so each is checked against its own symbol's mark)."""
    raw = mandatory(params, "batchOrders")
    try:
        items = orjson.loads(raw)  # refuses NaN, Infinity and nesting deeper than 1024
    except ValueError as exc:
        raise errors.MANDATORY_PARAM.error("batchOrders") from exc
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise errors.MANDATORY_PARAM.error("batchOrders")
    if not 1 <= len(items) <= MAX_BATCH_ORDERS:
        raise errors.BATCH_SIZE.error()
    results: list[NewOrder | errors.BinanceError] = []
    for item in items:
        # Clients send strings; a JSON number or boolean is taken as its text.
        fields = {str(k): _json_text(v) for k, v in item.items()}
        mark = mark_price_of(fields.get("symbol", "")) if mark_price_of else None
        try:
            results.append(parse_new_order(fields, mark_price=mark, now_ms=now_ms))
        except errors.BinanceError as refusal:
            results.append(refusal)
    return results


def _json_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


_WITH_LIMIT_PRICE = (SimOrderType.STOP, SimOrderType.TAKE_PROFIT)
_CLOSE_POSITION_TYPES = (SimOrderType.STOP_MARKET, SimOrderType.TAKE_PROFIT_MARKET)
_ALGO_TIF = (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)


def _algo_shape(params: Mapping[str, str], kind: SimOrderType) -> bool:
    """Which parameters the conditional type takes (§5.3); returns closePosition."""
    trailing = kind is SimOrderType.TRAILING_STOP_MARKET
    if trailing:
        _not_sent(params, "triggerPrice", "price")
        mandatory(params, "callbackRate")
    else:
        mandatory(params, "triggerPrice")
        _not_sent(params, "activatePrice", "callbackRate")
        if kind in _WITH_LIMIT_PRICE:
            mandatory(params, "price")
        else:
            _not_sent(params, "price")
    close_position = _flag(params, "closePosition", errors.INVALID_PARAMETER)
    if not close_position:
        mandatory(params, "quantity")
        return False
    if kind not in _CLOSE_POSITION_TYPES:
        raise errors.PARAM_NOT_REQUIRED.error("closePosition")
    if params.get("quantity", "") != "":
        raise errors.QTY_WITH_CLOSE_POSITION.error()
    if _flag(params, "reduceOnly", errors.REDUCE_ONLY_CONFLICT):
        raise errors.REDUCE_ONLY_WITH_CLOSE_POSITION.error()
    return True


def _callback_rate(params: Mapping[str, str]) -> Decimal | None:
    rate = _decimal(params, "callbackRate")
    if rate is not None and not CALLBACK_RATE_MIN <= rate <= CALLBACK_RATE_MAX:
        raise errors.INVALID_CALLBACK_RATE.error()
    return rate


def parse_new_algo_order(
    params: Mapping[str, str], *, mark_price: Decimal | None = None
) -> NewAlgoOrder:
    """`POST /fapi/v1/algoOrder`; ccxt's `newClientOrderId` stands in for `clientAlgoId`."""
    if mandatory(params, "algoType") != "CONDITIONAL":
        raise errors.INVALID_PARAMETER.error("algoType")
    spec, side, kind = _common(params)
    if not kind.conditional:
        raise errors.INVALID_ORDER_TYPE.error()
    params_echo.refuse_activation_price(params)
    close_position = _algo_shape(params, kind)
    tif = _enum(TimeInForce, params.get("timeInForce") or "GTC", errors.INVALID_TIF)
    if tif not in _ALGO_TIF:
        raise errors.INVALID_TIF.error()
    working = params.get("workingType") or "CONTRACT_PRICE"
    working_type = _enum(WorkingType, working, errors.INVALID_WORKING_TYPE)
    reduce_only = _flag(params, "reduceOnly", errors.REDUCE_ONLY_CONFLICT)
    price_protect = _flag(params, "priceProtect", errors.INVALID_PARAMETER)
    client_id = _client_id(params, "clientAlgoId") or _client_id(params, "newClientOrderId")
    qty, trigger, price = (_decimal(params, n) for n in ("quantity", "triggerPrice", "price"))
    activate = _decimal(params, "activatePrice")
    rate = _callback_rate(params)
    for value in (trigger, price, activate):
        if value is not None:
            check_price(spec, value)
    if qty is not None:
        check_quantity(spec, qty, market=kind not in _WITH_LIMIT_PRICE)
        # Notional of a conditional order at its limit, trigger or activation price (which
        # one Binance uses is UNCONFIRMED); a trailing stop without one uses the mark.
        at = price or trigger or activate or mark_price
        if at is not None:
            check_notional(spec, qty, at, reduce_only=reduce_only)
    conditions = AlgoParams(
        trigger_price=trigger, price=price, close_position=close_position,
        reduce_only=reduce_only, activation_price=activate, callback_rate=rate,
        time_in_force=tif, working_type=working_type, price_protect=price_protect,
        stp_mode=params_echo.stp_mode(params),
    )  # fmt: skip
    return NewAlgoOrder(
        symbol=spec.symbol, side=side, type=kind, quantity=qty, conditions=conditions,
        price_protect=price_protect, client_algo_id=client_id, resp_type=_resp_type(params),
    )  # fmt: skip


def parse_cancel_order(params: Mapping[str, str]) -> CancelOrder:
    """`DELETE /fapi/v1/order`: symbol plus orderId or origClientOrderId."""
    spec = symbol_spec(mandatory(params, "symbol"))
    order_id = integer(params, "orderId")
    client_id = params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise errors.EITHER_PARAM.error("orderId", "origClientOrderId")
    return CancelOrder(spec.symbol, order_id, client_id)


def parse_cancel_algo_order(params: Mapping[str, str]) -> CancelAlgoOrder:
    """`DELETE /fapi/v1/algoOrder`: algoId or clientAlgoId; ccxt's extra `symbol` is ignored."""
    algo_id = integer(params, "algoId")
    client_id = params.get("clientAlgoId") or None
    if algo_id is None and client_id is None:
        raise errors.EITHER_PARAM.error("algoId", "clientAlgoId")
    return CancelAlgoOrder(algo_id, client_id)
