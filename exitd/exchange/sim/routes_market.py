"""Public market-data endpoints (binance-usdm.md §6.4–§6.5): no key, no signature.

premiumIndex answers the mark; ticker/price and bookTicker the last trade (they differ once a
price source pushes trades and marks apart). Before the first price a symbol answers zeros
rather than inventing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exitd.exchange.sim.endpoints import Call, Endpoint, Security
from exitd.exchange.sim.payloads import (
    book_ticker,
    leverage_bracket,
    premium_index,
    ticker_price,
)
from exitd.exchange.sim.symbols import exchange_info

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange


def _symbols(ex: SimExchange, call: Call) -> list[str] | None:
    """The one symbol asked for (validated), or None for all."""
    symbol = call.params.get("symbol") or None
    return None if symbol is None else [ex.check(symbol)]


def ping(ex: SimExchange, call: Call) -> dict[str, Any]:
    return {}


def server_time(ex: SimExchange, call: Call) -> dict[str, Any]:
    return {"serverTime": call.now_ms}


def get_exchange_info(ex: SimExchange, call: Call) -> dict[str, Any]:
    return exchange_info(list(ex.account.markets), call.now_ms, ex.limiter.limits)


def _one_or_all(ex: SimExchange, call: Call, items: list[dict[str, Any]]) -> Any:
    """Binance answers an object when `symbol` was sent, an array otherwise."""
    return items[0] if call.params.get("symbol") else items


def get_premium_index(ex: SimExchange, call: Call) -> Any:
    names = _symbols(ex, call) or list(ex.account.markets)
    items = [premium_index(s, ex.mark_price(s), call.now_ms) for s in names]
    return _one_or_all(ex, call, items)


def get_leverage_bracket(ex: SimExchange, call: Call) -> Any:
    names = _symbols(ex, call) or list(ex.account.markets)
    return _one_or_all(ex, call, [leverage_bracket(s) for s in names])


def get_ticker_price(ex: SimExchange, call: Call) -> Any:
    names = _symbols(ex, call) or list(ex.account.markets)
    items = [ticker_price(ex.spec(s), ex.last_price(s), call.now_ms) for s in names]
    return _one_or_all(ex, call, items)


def get_book_ticker(ex: SimExchange, call: Call) -> Any:
    names = _symbols(ex, call) or list(ex.account.markets)
    items = [book_ticker(ex.spec(s), ex.last_price(s), call.now_ms) for s in names]
    return _one_or_all(ex, call, items)


_N = Security.NONE
ENDPOINTS = (
    Endpoint("GET", "/fapi/v1/ping", _N, ping),
    Endpoint("GET", "/fapi/v1/time", _N, server_time),
    Endpoint("GET", "/fapi/v1/exchangeInfo", _N, get_exchange_info),
    Endpoint("GET", "/fapi/v1/premiumIndex", _N, get_premium_index),
    Endpoint("GET", "/fapi/v1/ticker/price", _N, get_ticker_price),
    Endpoint("GET", "/fapi/v2/ticker/price", _N, get_ticker_price),
    Endpoint("GET", "/fapi/v1/ticker/bookTicker", _N, get_book_ticker),
    # USER_DATA (signed) on Binance: brackets are per account.
    Endpoint("GET", "/fapi/v1/leverageBracket", Security.SIGNED, get_leverage_bracket),
)
