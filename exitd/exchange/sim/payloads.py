"""REST answer bodies of the simulator, shaped exactly as Binance sends them.

Field names, and which values are JSON strings and which numbers, follow binance-usdm.md §12
and the payload fixtures (tests/fixtures/payloads): prices and quantities are strings at
the symbol's precision, ids and times are numbers, flags are booleans. Where two sources
disagree on the key set (the new-order answer lost `avgPrice`/`cumQuote` in the 2026-07 SDK
spec; the query answer has `time` but no `cumQty`) we send what live recordings show: new and
cancel answers as ccxt's recorded batchOrders answer, query answers as order_response.json.
Pure: every value it needs is an argument; account-level bodies are in payloads_account.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exitd.exchange.sim import numbers
from exitd.exchange.sim.book import ALGO_STP_DEFAULT, ORDER_STP_DEFAULT, AlgoStatus, BookOrder
from exitd.exchange.sim.ledger import LedgerFill
from exitd.exchange.sim.symbols import SymbolSpec

_ZERO = Decimal(0)
QUOTE_PLACES = 5  # cumQuote, quoteQty: "0.00000" in the recordings


def price_str(spec: SymbolSpec, value: Decimal | None) -> str:
    return numbers.price(spec.symbol, value)


def qty_str(spec: SymbolSpec, value: Decimal | None) -> str:
    return numbers.qty(spec.symbol, value)


# --- regular orders ---------------------------------------------------------------------------


def _order_core(spec: SymbolSpec, o: BookOrder) -> dict[str, Any]:
    return {
        "orderId": o.order_id,
        "symbol": spec.symbol,
        "status": o.state.value,
        "clientOrderId": o.client_order_id,
        "price": price_str(spec, o.price),
        "avgPrice": price_str(spec, o.avg_price),
        "origQty": qty_str(spec, o.quantity),
        "executedQty": qty_str(spec, o.executed_qty),
    }


def _order_tail(spec: SymbolSpec, o: BookOrder, parent: BookOrder | None) -> dict[str, Any]:
    """A triggered order's child shows its parent's type and trigger, as its stream events do
    (`ot`, `sp`); parameters are echoed as sent."""
    return {
        "timeInForce": o.time_in_force.value,
        "type": o.type.value,
        "reduceOnly": o.reduce_only,
        "closePosition": o.close_position,
        "side": o.side.value,
        "positionSide": "BOTH",
        "stopPrice": price_str(spec, parent.trigger_price if parent else None),
        "workingType": o.working_type.value,
        "priceProtect": o.price_protect,
        "origType": (parent or o).type.value,
        "priceMatch": "NONE",
        "selfTradePreventionMode": o.stp_mode or ORDER_STP_DEFAULT,
        "goodTillDate": o.good_till_date or 0,
    }


def _cum_quote(o: BookOrder) -> str:
    return numbers.fixed(o.avg_price * o.executed_qty, QUOTE_PLACES)


def order_answer(spec: SymbolSpec, o: BookOrder, parent: BookOrder | None = None) -> dict[str, Any]:
    """POST/DELETE /fapi/v1/order and batchOrders items (§12.1 plus avgPrice and cumQuote)."""
    body = _order_core(spec, o)
    body["cumQty"] = qty_str(spec, o.executed_qty)
    body["cumQuote"] = _cum_quote(o)
    body.update(_order_tail(spec, o, parent))
    body["updateTime"] = o.updated_ms
    return body


def order_ack(spec: SymbolSpec, o: BookOrder) -> dict[str, Any]:
    """newOrderRespType=ACK: the order as accepted, before matching touched it."""
    body = order_answer(spec, o)
    zero_qty = qty_str(spec, _ZERO)
    body.update(
        status="NEW",
        executedQty=zero_qty,
        cumQty=zero_qty,
        avgPrice=price_str(spec, _ZERO),
        cumQuote=numbers.fixed(_ZERO, QUOTE_PLACES),
        updateTime=o.created_ms,
    )
    return body


def order_query(spec: SymbolSpec, o: BookOrder, parent: BookOrder | None = None) -> dict[str, Any]:
    """GET order / openOrder / openOrders / allOrders items (order_response.json's keys)."""
    body = _order_core(spec, o)
    body["cumQuote"] = _cum_quote(o)
    body.update(_order_tail(spec, o, parent))
    body["time"] = o.created_ms
    body["updateTime"] = o.updated_ms
    return body


# --- conditional (algo) orders ----------------------------------------------------------------


def _opt_price(spec: SymbolSpec, value: Decimal | None) -> str:
    return "" if value is None else price_str(spec, value)


def algo_answer(spec: SymbolSpec, o: BookOrder) -> dict[str, Any]:
    """POST /fapi/v1/algoOrder (§12.2): the algo record, `icebergQuantity` null."""
    status = o.algo_status or AlgoStatus.NEW
    return {
        "algoId": o.order_id,
        "clientAlgoId": o.client_order_id,
        "algoType": "CONDITIONAL",
        "orderType": o.type.value,
        "symbol": spec.symbol,
        "side": o.side.value,
        "positionSide": "BOTH",
        "timeInForce": o.time_in_force.value,
        "quantity": qty_str(spec, o.quantity),
        "algoStatus": status.value,
        "triggerPrice": price_str(spec, o.trigger_price),
        "price": price_str(spec, o.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": o.stp_mode or ALGO_STP_DEFAULT,
        "workingType": o.working_type.value,
        "priceMatch": "NONE",
        "closePosition": o.close_position,
        "priceProtect": o.price_protect,
        "reduceOnly": o.reduce_only,
        "activatePrice": _opt_price(spec, o.activation_price),
        "callbackRate": "" if o.callback_rate is None else format(o.callback_rate, "f"),
        "createTime": o.created_ms,
        "updateTime": o.updated_ms,
        "triggerTime": o.trigger_ms,
        "goodTillDate": 0,
    }


def algo_query(spec: SymbolSpec, o: BookOrder, child: BookOrder | None = None) -> dict[str, Any]:
    """GET /fapi/v1/algoOrder: the record plus the triggered child (`actual*`), §12.2; a
    close-position order's quantity is the child's (the record's is 0)."""
    body = algo_answer(spec, o)
    body["actualOrderId"] = "" if o.actual_order_id is None else str(o.actual_order_id)
    body["actualPrice"] = price_str(spec, o.avg_price)
    body["actualType"] = o.type.child_type.value
    body["actualQty"] = qty_str(spec, o.quantity if child is None else child.quantity)
    body["tpOrderType"] = ""
    return body


def algo_listed(spec: SymbolSpec, o: BookOrder, child: BookOrder | None = None) -> dict[str, Any]:
    """openAlgoOrders / allAlgoOrders items: the query body plus the tp/sl fields (§12.2)."""
    body = algo_query(spec, o, child)
    body.update(tpTriggerPrice="0", tpPrice="0", slTriggerPrice="0", slPrice="0")
    return body


def algo_cancelled(o: BookOrder) -> dict[str, Any]:
    """DELETE /fapi/v1/algoOrder: `code` is the STRING "200" here (§5.2, §12.2)."""
    return {
        "algoId": o.order_id,
        "clientAlgoId": o.client_order_id,
        "code": "200",
        "msg": "success",
    }


CANCEL_ALL_DONE: dict[str, Any] = {
    "code": 200,
    "msg": "The operation of cancel all open order is done.",
}


# --- trades, market data ----------------------------------------------------------------------


def user_trade(spec: SymbolSpec, f: LedgerFill) -> dict[str, Any]:
    """One GET /fapi/v1/userTrades item (recorded ETHUSDT 2022-02-27 answer's keys)."""
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "side": f.side.value,
        "price": price_str(spec, f.price),
        "qty": qty_str(spec, f.qty),
        "realizedPnl": numbers.fixed(f.realized_pnl, numbers.MONEY_PLACES),
        "marginAsset": "USDT",
        "quoteQty": numbers.fixed(f.price * f.qty, QUOTE_PLACES),
        "commission": numbers.fixed(f.commission, numbers.MONEY_PLACES),
        "commissionAsset": "USDT",
        "time": f.time_ms,
        "positionSide": "BOTH",
        "buyer": f.side.value == "BUY",
        "maker": f.maker,
    }


def premium_index(symbol: str, mark: Decimal | None, now_ms: int) -> dict[str, Any]:
    """GET /fapi/v1/premiumIndex item (§12.11); index and settle price = mark in the simulator."""
    mark_text = numbers.fixed(mark, numbers.MARK_PLACES)
    return {
        "symbol": symbol,
        "markPrice": mark_text,
        "indexPrice": mark_text,
        "estimatedSettlePrice": mark_text,
        "lastFundingRate": numbers.fixed(numbers.FUNDING_RATE, 8),
        "interestRate": numbers.fixed(numbers.FUNDING_RATE, 8),
        "nextFundingTime": numbers.next_funding_ms(now_ms),
        "time": now_ms,
    }


def leverage_bracket(symbol: str) -> dict[str, Any]:
    """GET /fapi/v1/leverageBracket item: one bracket (the simulator has no tiers).

    Binance's real tiers per symbol are UNCONFIRMED here; the first BTCUSDT tier is used.
    """
    return {
        "symbol": symbol,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": 1,
                "initialLeverage": 125,
                "notionalCap": 50000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.004,
                "cum": 0.0,
            }
        ],
    }


def ticker_price(spec: SymbolSpec, mark: Decimal | None, now_ms: int) -> dict[str, Any]:
    return {"symbol": spec.symbol, "price": price_str(spec, mark), "time": now_ms}


def book_ticker(spec: SymbolSpec, mark: Decimal | None, now_ms: int) -> dict[str, Any]:
    """Best bid = best ask = the one price (the simulator has no book depth)."""
    price = price_str(spec, mark)
    return {
        "symbol": spec.symbol,
        "bidPrice": price,
        "bidQty": qty_str(spec, Decimal(1)),
        "askPrice": price,
        "askQty": qty_str(spec, Decimal(1)),
        "time": now_ms,
        "lastUpdateId": now_ms,
    }
