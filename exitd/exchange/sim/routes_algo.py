"""Conditional-order endpoints (binance-usdm.md §5.2): `/fapi/v1/algoOrder` and its siblings.

Their own id space (`algoId`, `clientAlgoId`); no symbol needed to cancel or query one, and
ccxt's extra `symbol` and `newClientOrderId` are tolerated (§5.5). An untriggered order can
only be cancelled, never modified; a triggered one answers -2011 to a cancel, as observed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exitd.exchange.sim import errors, params
from exitd.exchange.sim.account import Rejected
from exitd.exchange.sim.book import BookOrder
from exitd.exchange.sim.endpoints import Call, Endpoint, Security
from exitd.exchange.sim.payloads import (
    CANCEL_ALL_DONE,
    algo_answer,
    algo_cancelled,
    algo_listed,
    algo_query,
)
from exitd.exchange.sim.routes_trade import list_limit, refusal_error

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange


def new_algo_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    mark = ex.mark_price(call.params.get("symbol", ""))
    req = params.parse_new_algo_order(call.params, mark_price=mark)
    spec = ex.spec(req.symbol)
    result = ex.account.place_algo_order(
        req.symbol,
        req.side,
        req.type,
        req.quantity,
        call.now_ms,
        params=req.conditions,
        client_algo_id=req.client_algo_id,
        check_reduce_only=ex.faults.plan.reduce_only_at_placement,
    )
    if isinstance(result, Rejected):
        raise refusal_error(result.refusal)
    ex.faults.accepted(("algo", result.order.order_id), call.now_ms)
    ex.publish(result.events, call.now_ms)
    return algo_answer(spec, result.order)


def _ids(call: Call) -> tuple[int | None, str | None]:
    algo_id = params.integer(call.params, "algoId")
    client_id = call.params.get("clientAlgoId") or None
    if algo_id is None and client_id is None:
        raise errors.EITHER_PARAM.error("algoId", "clientAlgoId")
    return algo_id, client_id


def cancel_algo_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    req = params.parse_cancel_algo_order(call.params)
    found = ex.account.query_algo_order(algo_id=req.algo_id, client_algo_id=req.client_algo_id)
    if found is not None and ex.faults.lost(("algo", found[1].order_id), call.now_ms):
        raise errors.UNKNOWN_ORDER.error()
    result = ex.account.cancel_algo_order(
        call.now_ms, algo_id=req.algo_id, client_algo_id=req.client_algo_id
    )
    if isinstance(result, Rejected):
        raise refusal_error(result.refusal)
    ex.publish(result.events, call.now_ms)
    return algo_cancelled(result.order)


def get_algo_order(ex: SimExchange, call: Call) -> dict[str, Any]:
    algo_id, client_id = _ids(call)
    found = ex.account.query_algo_order(algo_id=algo_id, client_algo_id=client_id)
    if found is None or ex.faults.lost(("algo", found[1].order_id), call.now_ms):
        raise errors.NO_SUCH_ORDER.error()
    symbol, order = found
    return algo_query(ex.spec(symbol), order, _child(ex, symbol, order))


def _child(ex: SimExchange, symbol: str, algo: BookOrder) -> BookOrder | None:
    """The order a triggered algo order placed, None before it triggers."""
    if algo.actual_order_id is None:
        return None
    return ex.account.query_order(symbol, order_id=algo.actual_order_id)


def _listed(ex: SimExchange, symbol: str, orders: list[BookOrder]) -> list[dict[str, Any]]:
    spec = ex.spec(symbol)
    return [algo_listed(spec, o, _child(ex, symbol, o)) for o in orders]


def open_algo_orders(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    symbol = call.params.get("symbol") or None
    algo_id = params.integer(call.params, "algoId")
    symbols = [ex.check(symbol)] if symbol is not None else list(ex.account.markets)
    out: list[dict[str, Any]] = []
    for s in symbols:
        orders = ex.account.open_algo_orders(s)
        out.extend(_listed(ex, s, [o for o in orders if algo_id in (None, o.order_id)]))
    return out


def all_algo_orders(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    """Every algo order of `symbol` (the 7-day window is not enforced), `algoId` and up."""
    symbol = ex.check(params.mandatory(call.params, "symbol"))
    from_id = params.integer(call.params, "algoId") or 0
    orders = [o for o in ex.account.all_algo_orders(symbol) if o.order_id >= from_id]
    return _listed(ex, symbol, orders[: list_limit(call.params)])


def cancel_all_algo_orders(ex: SimExchange, call: Call) -> dict[str, Any]:
    symbol = ex.check(params.mandatory(call.params, "symbol"))
    ex.publish(ex.account.cancel_all_algo_orders(symbol, call.now_ms), call.now_ms)
    return dict(CANCEL_ALL_DONE)


_S = Security.SIGNED
ENDPOINTS = (
    Endpoint("POST", "/fapi/v1/algoOrder", _S, new_algo_order),
    Endpoint("DELETE", "/fapi/v1/algoOrder", _S, cancel_algo_order),
    Endpoint("GET", "/fapi/v1/algoOrder", _S, get_algo_order),
    Endpoint("GET", "/fapi/v1/openAlgoOrders", _S, open_algo_orders),
    Endpoint("GET", "/fapi/v1/allAlgoOrders", _S, all_algo_orders),
    Endpoint("DELETE", "/fapi/v1/algoOpenOrders", _S, cancel_all_algo_orders),
)
