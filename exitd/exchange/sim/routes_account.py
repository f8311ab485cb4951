"""Account endpoints (binance-usdm.md §6.1–§6.3, §9.1): positions, account, balance, trades,
the one-way mode and per-symbol settings, and the user-data stream's listen key.

The simulator is one-way mode with a cross-margin USDT wallet: `positionSide/dual` is false,
leverage and margin type are remembered per symbol and echoed, nothing else changes with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exitd.exchange.sim import errors
from exitd.exchange.sim.endpoints import Call, Endpoint, Security
from exitd.exchange.sim.params import integer, mandatory
from exitd.exchange.sim.payloads import user_trade
from exitd.exchange.sim.payloads_account import (
    MAX_NOTIONAL,
    account_v2,
    account_v3,
    balance,
    position_risk_v2,
    position_risk_v3,
    v3_listed,
)
from exitd.exchange.sim.routes_trade import list_limit

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange

MAX_LEVERAGE = 125
# Binance's answer to a margin type already set; text from its error page (not in §7).
NO_NEED_MARGIN_TYPE = errors.ErrorSpec(-4046, "No need to change margin type.")
ACCOUNT_ALIAS = "SgsR"  # the alias in balance.json: an opaque label, any value does


def _symbol_filter(ex: SimExchange, call: Call) -> str | None:
    symbol = call.params.get("symbol") or None
    return None if symbol is None else ex.check(symbol)


def position_risk_v2_route(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    symbol = _symbol_filter(ex, call)
    view = ex.account_view(call.now_ms)
    return [position_risk_v2(p) for p in view.positions if symbol in (None, p.spec.symbol)]


def position_risk_v3_route(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    symbol = _symbol_filter(ex, call)
    view = ex.account_view(call.now_ms)
    return [
        position_risk_v3(p)
        for p in view.positions
        if symbol in (None, p.spec.symbol) and v3_listed(p)
    ]


def account_v2_route(ex: SimExchange, call: Call) -> dict[str, Any]:
    return account_v2(ex.account_view(call.now_ms))


def account_v3_route(ex: SimExchange, call: Call) -> dict[str, Any]:
    return account_v3(ex.account_view(call.now_ms))


def balance_route(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    return balance(ex.account_view(call.now_ms), ACCOUNT_ALIAS)


def user_trades(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    """GET /fapi/v1/userTrades: symbol required; fromId, startTime, endTime, limit."""
    symbol = ex.check(mandatory(call.params, "symbol"))
    spec = ex.spec(symbol)
    from_id = integer(call.params, "fromId") or 0
    start = integer(call.params, "startTime") or 0
    end = integer(call.params, "endTime")
    fills = [
        f
        for f in ex.account.ledger.fills
        if f.symbol == symbol
        and f.trade_id >= from_id
        and f.time_ms >= start
        and (end is None or f.time_ms <= end)
    ]
    return [user_trade(spec, f) for f in fills[: list_limit(call.params)]]


def dual_side(ex: SimExchange, call: Call) -> dict[str, Any]:
    return {"dualSidePosition": False}


def account_config(ex: SimExchange, call: Call) -> dict[str, Any]:
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": False,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
    }


def symbol_config(ex: SimExchange, call: Call) -> list[dict[str, Any]]:
    symbol = _symbol_filter(ex, call)
    return [
        {
            "symbol": s,
            "marginType": "ISOLATED" if ex.isolated.get(s) else "CROSSED",
            "isAutoAddMargin": False,
            "leverage": ex.leverage[s],
            "maxNotionalValue": MAX_NOTIONAL,
        }
        for s in ex.account.markets
        if symbol in (None, s)
    ]


def set_leverage(ex: SimExchange, call: Call) -> dict[str, Any]:
    symbol = ex.check(mandatory(call.params, "symbol"))
    leverage = integer(call.params, "leverage")
    if leverage is None or not 1 <= leverage <= MAX_LEVERAGE:
        raise errors.INVALID_PARAMETER.error("leverage")
    ex.leverage[symbol] = leverage
    return {"leverage": leverage, "maxNotionalValue": MAX_NOTIONAL, "symbol": symbol}


def set_margin_type(ex: SimExchange, call: Call) -> dict[str, Any]:
    symbol = ex.check(mandatory(call.params, "symbol"))
    kind = mandatory(call.params, "marginType").upper()
    if kind not in ("ISOLATED", "CROSSED"):
        raise errors.INVALID_PARAMETER.error("marginType")
    isolated = kind == "ISOLATED"
    if ex.isolated.get(symbol, False) == isolated:
        raise NO_NEED_MARGIN_TYPE.error()
    ex.isolated[symbol] = isolated
    return {"code": 200, "msg": "success"}


# --- listen key (USER_STREAM: API key only) ----------------------------------------------------


def _current_key(ex: SimExchange, call: Call) -> str:
    key = call.params.get("listenKey") or ex.listen_key_of.get(call.api_key or "")
    if not key:
        raise errors.INVALID_LISTEN_KEY.error()
    return key


def create_listen_key(ex: SimExchange, call: Call) -> dict[str, Any]:
    """The same key while one is active, extended 60 minutes (§9.1)."""
    key = ex.hub.listen_keys.create(call.api_key or "")
    ex.listen_key_of[call.api_key or ""] = key
    return {"listenKey": key}


def keepalive_listen_key(ex: SimExchange, call: Call) -> dict[str, Any]:
    key = _current_key(ex, call)
    ex.hub.listen_keys.keepalive(key)
    return {"listenKey": key}


def delete_listen_key(ex: SimExchange, call: Call) -> dict[str, Any]:
    key = _current_key(ex, call)
    ex.hub.listen_keys.delete(key)
    ex.listen_key_of.pop(call.api_key or "", None)
    return {}


_S = Security.SIGNED
_U = Security.USER_STREAM
ENDPOINTS = (
    Endpoint("GET", "/fapi/v2/positionRisk", _S, position_risk_v2_route),
    Endpoint("GET", "/fapi/v3/positionRisk", _S, position_risk_v3_route),
    Endpoint("GET", "/fapi/v2/account", _S, account_v2_route),
    Endpoint("GET", "/fapi/v3/account", _S, account_v3_route),
    Endpoint("GET", "/fapi/v2/balance", _S, balance_route),
    Endpoint("GET", "/fapi/v3/balance", _S, balance_route),
    Endpoint("GET", "/fapi/v1/userTrades", _S, user_trades),
    Endpoint("GET", "/fapi/v1/positionSide/dual", _S, dual_side),
    Endpoint("GET", "/fapi/v1/accountConfig", _S, account_config),
    Endpoint("GET", "/fapi/v1/symbolConfig", _S, symbol_config),
    Endpoint("POST", "/fapi/v1/leverage", _S, set_leverage),
    Endpoint("POST", "/fapi/v1/marginType", _S, set_margin_type),
    Endpoint("POST", "/fapi/v1/listenKey", _U, create_listen_key),
    Endpoint("PUT", "/fapi/v1/listenKey", _U, keepalive_listen_key),
    Endpoint("DELETE", "/fapi/v1/listenKey", _U, delete_listen_key),
)
