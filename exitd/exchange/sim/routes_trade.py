"""Regular-order endpoints (binance-usdm.md §4): place, query, cancel, lists and batches.

Only LIMIT and MARKET live here since 2025-12-09; conditional types are refused with -4120
by the parser. Algo orders are invisible to these endpoints (their own id space, §11 item
4). Every write publishes what it caused to the stream hub before answering, so a client
never sees the REST answer of an order whose user-data events are still unsent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from exitd.exchange.sim import book, errors, params
from exitd.exchange.sim.account import Accepted, Rejected
from exitd.exchange.sim.book import Refusal, TimeInForce
from exitd.exchange.sim.endpoints import Call, Endpoint, Security
from exitd.exchange.sim.payloads import CANCEL_ALL_DONE, order_ack, order_answer, order_query

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange

_REFUSALS: dict[Refusal, errors.ErrorSpec] = {
    Refusal.WOULD_TRIGGER: errors.WOULD_TRIGGER,
    Refusal.REDUCE_ONLY: errors.REDUCE_ONLY_REJECTED,
    Refusal.REDUCE_ONLY_EXCEEDS: errors.REDUCE_ONLY_FAILED,
    Refusal.GTE_NO_POSITION: errors.GTE_NO_POSITION,
    # A MARKET order with no price yet: no counterparty; Binance's nearest answer.
    Refusal.NO_PRICE: errors.MARKET_PERCENT_PRICE,
    Refusal.DUPLICATE_CLIENT_ID: errors.DUPLICATE_CLIENT_ID,
    Refusal.UNKNOWN_ORDER: errors.UNKNOWN_ORDER,
    Refusal.POST_ONLY: errors.GTX_REJECTED,
    Refusal.FOK_UNFILLED: errors.FOK_REJECTED,
    Refusal.USE_ALGO_ENDPOINT: errors.USE_ALGO_ENDPOINT,
    Refusal.NOT_CONDITIONAL: errors.INVALID_ORDER_TYPE,
    Refusal.MAX_STOP_ORDERS: errors.MAX_STOP_ORDERS,
    Refusal.CLOSE_POSITION_EXISTS: errors.CLOSE_POSITION_EXISTS,
    Refusal.UNKNOWN_SYMBOL: errors.INVALID_SYMBOL,
}
DEFAULT_LIST_LIMIT = 500
MAX_LIST_LIMIT = 1000
MAX_BATCH_CANCEL = 10


def refusal_error(refusal: Refusal) -> errors.BinanceError:
    """The exchange's answer to a refusal of matching or the account."""
    spec = _REFUSALS.get(refusal)
    if spec is None:  # BAD_PARAMETERS: the parser lets nothing through that lands here
        return errors.MANDATORY_PARAM.error("quantity")
    return spec.error(*(("5.0",) if "%s" in spec.template else ()))


def list_limit(p: Mapping[str, str]) -> int:
    limit = params.integer(p, "limit") or DEFAULT_LIST_LIMIT
    return min(limit, MAX_LIST_LIMIT)


def place(ex: SimExchange, order: params.NewOrder, now: int) -> dict[str, Any]:
    """One accepted LIMIT/MARKET order, or the refusal as a BinanceError."""
    result = ex.account.place_order(
        order.symbol,
        order.side,
        order.type,
        order.quantity,
        now,
        price=order.price,
        time_in_force=order.time_in_force or TimeInForce.GTC,
        reduce_only=order.reduce_only,
        client_order_id=order.client_order_id,
        stp_mode=order.stp_mode,
        good_till_date=order.good_till_date,
    )
    if isinstance(result, Rejected):
        raise refusal_error(result.refusal)
    ex.faults.accepted((order.symbol, result.order.order_id), now)
    ex.publish(result.events, now)
    spec = ex.spec(order.symbol)
    if order.resp_type is params.RespType.ACK:
        return order_ack(spec, result.order)
    return order_answer(spec, result.order)


def new_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    mark = ex.mark_price(call.params.get("symbol", ""))
    order = params.parse_new_order(call.params, mark_price=mark, now_ms=call.now_ms)
    ex.spec(order.symbol)
    return place(ex, order, call.now_ms)


def batch_orders(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    """Up to 5 orders, each answered on its own (an order object or `{"code","msg"}`)."""
    out: list[dict[str, Any]] = []
    items = params.parse_batch_orders(call.params, mark_price_of=ex.mark_price, now_ms=call.now_ms)
    for item in items:
        try:
            if isinstance(item, errors.BinanceError):
                raise item
            ex.spec(item.symbol)
            out.append(place(ex, item, call.now_ms))
        except errors.BinanceError as e:
            out.append(errors.error_body(e))
    return out


def _find(ex: SimExchange, call: Call) -> book.BookOrder:
    symbol = params.mandatory(call.params, "symbol")
    ex.spec(symbol)
    order_id = params.integer(call.params, "orderId")
    client_id = call.params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise errors.EITHER_PARAM.error("orderId", "origClientOrderId")
    found = ex.account.query_order(symbol, order_id=order_id, client_order_id=client_id)
    if found is None or ex.faults.lost((symbol, found.order_id), call.now_ms):
        raise errors.NO_SUCH_ORDER.error()
    return found


def _view(ex: SimExchange, symbol: str, order: book.BookOrder) -> dict[str, Any]:
    """The query body; a triggered order's child shows its parent's type and trigger."""
    parent = None
    if order.algo_id is not None:
        found = ex.account.query_algo_order(algo_id=order.algo_id)
        parent = found[1] if found else None
    return order_query(ex.spec(symbol), order, parent)


def get_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    order = _find(ex, call)
    return _view(ex, call.params["symbol"], order)


def get_open_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    order = _find(ex, call)
    if not order.state.open:
        raise errors.NO_SUCH_ORDER.error()
    return _view(ex, call.params["symbol"], order)


def open_orders(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    symbol = call.params.get("symbol") or None
    symbols = [symbol] if symbol is not None else list(ex.account.markets)
    return [_view(ex, s, o) for s in symbols for o in ex.account.open_orders(ex.check(s))]


def all_orders(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    symbol = params.mandatory(call.params, "symbol")
    spec = ex.spec(symbol)
    from_id = params.integer(call.params, "orderId") or 0
    orders = [o for o in ex.account.all_orders(symbol) if o.order_id >= from_id]
    return [_view(ex, spec.symbol, o) for o in orders[: list_limit(call.params)]]


def cancel_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    req = params.parse_cancel_order(call.params)
    spec = ex.spec(req.symbol)
    client_id = None if req.order_id is not None else req.orig_client_order_id
    found = ex.account.query_order(req.symbol, order_id=req.order_id, client_order_id=client_id)
    if found is not None and ex.faults.lost((req.symbol, found.order_id), call.now_ms):
        raise errors.UNKNOWN_ORDER.error()
    result = ex.account.cancel_order(
        req.symbol, call.now_ms, order_id=req.order_id, client_order_id=client_id
    )
    if isinstance(result, Rejected):
        raise refusal_error(result.refusal)
    assert isinstance(result, Accepted)
    ex.publish(result.events, call.now_ms)
    return order_answer(spec, result.order)


def cancel_all_orders(ex: SimExchange, call: Call) -> dict[str, Any]:
    symbol = params.mandatory(call.params, "symbol")
    ex.spec(symbol)
    ex.publish(ex.account.cancel_all_orders(symbol, call.now_ms), call.now_ms)
    return dict(CANCEL_ALL_DONE)


def _id_list(p: Mapping[str, str], name: str) -> list[Any] | None:
    """A JSON array parameter; ccxt sends the names lower-cased (§5.5), so any case is read."""
    raw = next((v for k, v in p.items() if k.lower() == name.lower() and v), None)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
        raise errors.MANDATORY_PARAM.error(name) from exc
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_BATCH_CANCEL:
        raise errors.MANDATORY_PARAM.error(name)
    return value


def cancel_batch(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    """DELETE /fapi/v1/batchOrders: per-item order objects or errors, in the order sent."""
    symbol = params.mandatory(call.params, "symbol")
    ex.spec(symbol)
    ids = _id_list(call.params, "orderIdList")
    client_ids = None if ids is not None else _id_list(call.params, "origClientOrderIdList")
    if ids is None and client_ids is None:
        raise errors.EITHER_PARAM.error("orderIdList", "origClientOrderIdList")
    out: list[dict[str, Any]] = []
    for item in ids or client_ids or []:
        fields = {"symbol": symbol}
        fields["orderId" if ids is not None else "origClientOrderId"] = str(item)
        try:
            out.append(cancel_order(ex, Call(fields, call.now_ms, call.api_key)))
        except errors.BinanceError as e:
            out.append(errors.error_body(e))
    return out


_S = Security.SIGNED
ENDPOINTS = (
    Endpoint("POST", "/fapi/v1/order", _S, new_order),
    Endpoint("GET", "/fapi/v1/order", _S, get_order),
    Endpoint("DELETE", "/fapi/v1/order", _S, cancel_order),
    Endpoint("GET", "/fapi/v1/openOrder", _S, get_open_order),
    Endpoint("GET", "/fapi/v1/openOrders", _S, open_orders),
    Endpoint("GET", "/fapi/v1/allOrders", _S, all_orders),
    Endpoint("DELETE", "/fapi/v1/allOpenOrders", _S, cancel_all_orders),
    Endpoint("POST", "/fapi/v1/batchOrders", _S, batch_orders),
    Endpoint("DELETE", "/fapi/v1/batchOrders", _S, cancel_batch),
)
