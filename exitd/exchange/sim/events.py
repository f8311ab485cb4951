"""The simulator's stream payloads, shaped field for field like Binance's (binance-usdm.md §8.4,
§9.2-§9.4, §12): market events from a price, user-data events from the account's records.

Pure encoders: values in, a JSON-ready dict out; they never decide *when* an event is sent
(the stream hub does). Numbers travel as strings where Binance sends strings, ids and times
as ints, flags as bools. Prices and quantities are printed with the symbol's listed
precision, as Binance prints them; a symbol the simulator does not list prints plainly.

Where the sim has no such value it sends Binance's neutral one, never an invented figure:
funding rate "0.00000000" (the sim charges no funding), index and settle price = mark,
bids/asks notional "0", breakeven price = entry price, price match NONE, margin type cross.
Sent parameters (priceProtect, selfTradePreventionMode, goodTillDate) are echoed; an STP mode
not sent is the recorded default (book.ORDER_STP_DEFAULT, ALGO_STP_DEFAULT).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from exitd.exchange.sim import numbers
from exitd.exchange.sim.book import (
    ALGO_STP_DEFAULT,
    ORDER_STP_DEFAULT,
    AlgoStatus,
    BookOrder,
    OrderState,
    SimOrderType,
    Trade,
)
from exitd.exchange.sim.symbols import SYMBOLS

_ZERO = Decimal(0)
_REDUCE_ONLY_REJECT = "Reduce Only reject"  # ALGO_UPDATE `rm` of the doc example (§12.5)
Payload = dict[str, Any]


# --- market streams ---------------------------------------------------------------------------


def mark_price_update(symbol: str, price: Decimal, time_ms: int) -> Payload:
    """`<symbol>@markPrice` / `@markPrice@1s` (§12.7); also one element of `!markPrice@arr`."""
    mark = numbers.fixed(price, numbers.MARK_PLACES)
    return {
        "e": "markPriceUpdate",
        "E": time_ms,
        "s": symbol,
        "p": mark,
        "i": mark,
        "P": mark,
        "r": numbers.fixed(numbers.FUNDING_RATE, 8),
        "ap": mark,
        "T": numbers.next_funding_ms(time_ms),
        "st": 1,
    }


def agg_trade(symbol: str, agg_id: int, trade_id: int, price: Decimal, time_ms: int) -> Payload:
    """`<symbol>@aggTrade` (§12.7): one market trade of the minimum quantity at the price.

    The sim has no other traders, so the tape shows one trade per tick of the symbol's
    minimum quantity, the buyer the taker (m=false)."""
    spec = SYMBOLS.get(symbol)
    qty = spec.min_qty if spec is not None else "1"
    return {
        "e": "aggTrade",
        "E": time_ms,
        "a": agg_id,
        "s": symbol,
        "p": numbers.stream_price(symbol, price),
        "q": qty,
        "nq": qty,
        "f": trade_id,
        "l": trade_id,
        "T": time_ms,
        "m": False,
        "st": 1,
    }


def book_ticker(symbol: str, update_id: int, price: Decimal, time_ms: int) -> Payload:
    """`<symbol>@bookTicker` (§12.8): bid = the price rounded down to the tick, ask = rounded
    up, so both equal the price when it sits on a tick.

    This is the book the sim fills against (a MARKET fills at the price, a LIMIT at or
    through it crosses), so a client that prices off the ticker is never surprised; the
    quantities are the symbol's maximum lot: the sim's book is bottomless."""
    spec = SYMBOLS.get(symbol)
    if spec is None:
        bid = ask = price
        size = "1000"
    else:
        tick = Decimal(spec.tick_size)
        bid = (price / tick).to_integral_value(ROUND_FLOOR) * tick
        ask = (price / tick).to_integral_value(ROUND_CEILING) * tick
        size = spec.max_qty
    return {
        "e": "bookTicker",
        "u": update_id,
        "E": time_ms,
        "T": time_ms,
        "s": symbol,
        "ps": symbol,
        "b": numbers.stream_price(symbol, bid),
        "B": size,
        "a": numbers.stream_price(symbol, ask),
        "A": size,
        "st": 1,
    }


# --- user data --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Execution:
    """One ORDER_TRADE_UPDATE's view of an order at the moment it happened (the records
    themselves have already moved on by the time the hub encodes)."""

    execution_type: str  # x: NEW, TRADE, CANCELED, EXPIRED
    status: OrderState  # X
    filled_qty: Decimal  # z
    avg_price: Decimal  # ap
    trade: Trade | None = None
    commission: Decimal = _ZERO


def order_trade_update(
    symbol: str,
    order: BookOrder,
    execution: Execution,
    event_ms: int,
    parent: BookOrder | None = None,
) -> Payload:
    """ORDER_TRADE_UPDATE (§9.2, §12.3). A triggered algo order's child is reported as any
    order; its `ot` is the parent's type and `sp` the parent's trigger price, as Binance
    reported a triggered stop before the algo migration (the child's shape since then is
    UNCONFIRMED)."""
    trade = execution.trade
    origin = parent or order
    trailing = origin.type is SimOrderType.TRAILING_STOP_MARKET
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": event_ms,
        "T": trade.time_ms if trade else order.updated_ms,
        "o": {
            "s": symbol,
            "c": order.client_order_id,
            "S": order.side.value,
            "o": order.type.value,
            "f": order.time_in_force.value,
            "q": numbers.stream_qty(symbol, order.quantity),
            "p": numbers.stream_price(symbol, order.price),
            "ap": numbers.stream_price(symbol, execution.avg_price),
            "sp": numbers.stream_price(symbol, origin.trigger_price),
            "x": execution.execution_type,
            "X": execution.status.value,
            "i": order.order_id,
            "l": numbers.stream_qty(symbol, trade.qty) if trade else "0",
            "z": numbers.stream_qty(symbol, execution.filled_qty),
            "L": numbers.stream_price(symbol, trade.price) if trade else "0",
            "N": "USDT",
            "n": numbers.fixed(execution.commission, numbers.MONEY_PLACES) if trade else "0",
            "T": trade.time_ms if trade else order.updated_ms,
            "t": trade.trade_id if trade else 0,
            "b": "0",
            "a": "0",
            "m": trade.maker if trade else False,
            "R": order.reduce_only,
            "wt": order.working_type.value,
            "ot": origin.type.value,
            "ps": "BOTH",
            "cp": order.close_position,
            "AP": numbers.stream_price(symbol, origin.activation_price) if trailing else "0",
            "cr": numbers.plain(origin.callback_rate or _ZERO) if trailing else "0",
            "pP": origin.price_protect,
            "si": 0,
            "ss": 0,
            "rp": numbers.plain(trade.realized_pnl) if trade else "0",
            "V": order.stp_mode or ORDER_STP_DEFAULT,
            "pm": "NONE",
            "gtd": order.good_till_date or 0,
            "er": _expire_reason(order, execution),
        },
    }


def _expire_reason(order: BookOrder, execution: Execution) -> str:
    """`er` (§9.2): why an order expired; "0" for anything else."""
    if execution.status is not OrderState.EXPIRED:
        return "0"
    if order.reducing:
        return "4"  # nothing left to reduce: knocked out as Binance does reduce-only orders
    if order.type is SimOrderType.MARKET:
        return "9"
    return "2"  # an IOC (or FOK) remainder


def trade_lite(symbol: str, order: BookOrder, trade: Trade, event_ms: int) -> Payload:
    """TRADE_LITE (§9.4, §12.4): the low-latency echo of a TRADE execution."""
    return {
        "e": "TRADE_LITE",
        "E": event_ms,
        "T": trade.time_ms,
        "s": symbol,
        "q": numbers.stream_qty(symbol, order.quantity),
        "p": numbers.stream_price(symbol, order.price),
        "m": trade.maker,
        "c": order.client_order_id,
        "S": order.side.value,
        "L": numbers.stream_price(symbol, trade.price),
        "l": numbers.stream_qty(symbol, trade.qty),
        "t": trade.trade_id,
        "i": order.order_id,
    }


@dataclass(frozen=True, slots=True)
class AlgoView:
    """An ALGO_UPDATE's view of a conditional order when its status changed."""

    status: AlgoStatus
    event_ms: int
    trigger_ms: int = 0  # tt: when it triggered, 0 before
    actual_order_id: int | None = None
    filled_qty: Decimal = _ZERO  # aq: what its child executed
    avg_price: Decimal = _ZERO  # ap


def algo_update(symbol: str, algo: BookOrder, view: AlgoView, transaction_ms: int) -> Payload:
    """ALGO_UPDATE (§9.4, §12.5). Shaped like the real recorded payloads: a TRIGGERING one
    carries no `ap`/`aq`/`act`, and `rm` (failure reason) comes only with a rejection."""
    triggered = view.actual_order_id is not None
    body: Payload = {
        "caid": algo.client_order_id,
        "aid": algo.order_id,
        "at": "CONDITIONAL",
        "o": algo.type.value,
        "s": symbol,
        "S": algo.side.value,
        "ps": "BOTH",
        "f": algo.time_in_force.value,
        "q": numbers.stream_qty(symbol, algo.quantity),
        "X": view.status.value,
        "ai": str(view.actual_order_id) if triggered else "",
    }
    if view.status is not AlgoStatus.TRIGGERING:
        body["ap"] = numbers.stream_price(symbol, view.avg_price) if view.filled_qty else "0"
        body["aq"] = numbers.stream_qty(symbol, view.filled_qty)
        body["act"] = algo.type.child_type.value if triggered else "0"
    trigger = algo.trigger_price
    if algo.type is SimOrderType.TRAILING_STOP_MARKET:
        trigger = algo.activation_price
    body |= {
        "tp": numbers.stream_price(symbol, trigger),
        "p": numbers.stream_price(symbol, algo.price),
        "V": algo.stp_mode or ALGO_STP_DEFAULT,
        "wt": algo.working_type.value,
        "pm": "NONE",
        "cp": algo.close_position,
        "pP": algo.price_protect,
        "R": algo.reduce_only,
        "tt": view.trigger_ms,
        "gtd": 0,
    }
    if view.status is AlgoStatus.REJECTED:
        body["rm"] = _REDUCE_ONLY_REJECT  # the sim rejects a triggered order only for this
    return {"e": "ALGO_UPDATE", "T": transaction_ms, "E": view.event_ms, "o": body}


@dataclass(frozen=True, slots=True)
class PositionView:
    """One position entry of ACCOUNT_UPDATE `P` at the moment it moved."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    realized_pnl: Decimal  # accumulated, before fees (`cr`)
    mark_price: Decimal


def account_update(
    wallet_balance: Decimal,
    positions: list[PositionView],
    event_ms: int,
    transaction_ms: int,
) -> Payload:
    """ACCOUNT_UPDATE with reason ORDER (§9.3, §12.6): the USDT balance and the positions
    that changed. Cross margin, so `cw` = `wb` and `iw` = "0"."""
    wallet = numbers.fixed(wallet_balance, 8)
    return {
        "e": "ACCOUNT_UPDATE",
        "E": event_ms,
        "T": transaction_ms,
        "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}],
            "P": [_position_entry(p) for p in positions],
        },
    }


def _position_entry(p: PositionView) -> Payload:
    unrealized = (p.mark_price - p.entry_price) * p.amount if p.amount else _ZERO
    entry = numbers.fixed(p.entry_price, 8) if p.amount else "0"
    return {
        "s": p.symbol,
        "pa": numbers.stream_qty(p.symbol, p.amount),
        "ep": entry,
        "bep": entry,
        "cr": numbers.plain(p.realized_pnl),
        "up": numbers.fixed(unrealized, 8),
        "mt": "cross",
        "iw": "0",
        "ps": "BOTH",
    }


def listen_key_expired(listen_key: str, event_ms: int) -> Payload:
    """listenKeyExpired (§9.4); `E` an int, as the SDK reads it since 10.3.0."""
    return {"e": "listenKeyExpired", "E": event_ms, "listenKey": listen_key}
