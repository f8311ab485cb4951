"""Account-level REST bodies: positionRisk, account and balance, in v2 and v3 shapes.

Keys and JSON types follow the fixtures (position_risk.json, account_info_v2.json,
balance.json) and binance-usdm.md §6.1–§6.2, §12.10 (v3 keys from ccxt's recorded v3
answers). Margin figures are the simple cross-margin ones: initial = |notional| / leverage,
maintenance = |notional| × 0.4 % (Binance's first BTCUSDT tier), no liquidation price ("0").
Pure: `AccountView` carries everything; the server builds it from the SimAccount.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitd.exchange.sim.account import Position
from exitd.exchange.sim.numbers import MONEY_PLACES, fixed
from exitd.exchange.sim.payloads import price_str, qty_str
from exitd.exchange.sim.symbols import SymbolSpec

_ZERO = Decimal(0)
MAINT_MARGIN_RATE = Decimal("0.004")
MAX_NOTIONAL = "250000"  # account_info_v2.json's maxNotional at its leverage


@dataclass(frozen=True, slots=True)
class PositionView:
    """One symbol's position with what the account keeps beside it."""

    spec: SymbolSpec
    position: Position
    leverage: int
    isolated: bool
    has_open_orders: bool
    update_time: int

    @property
    def mark(self) -> Decimal:
        return self.position.mark_price or self.position.entry_price

    @property
    def notional(self) -> Decimal:
        return self.position.amount * self.mark

    @property
    def unrealized(self) -> Decimal:
        p = self.position
        return p.amount * (self.mark - p.entry_price) if p.amount else _ZERO

    @property
    def initial_margin(self) -> Decimal:
        return abs(self.notional) / self.leverage

    @property
    def maint_margin(self) -> Decimal:
        return abs(self.notional) * MAINT_MARGIN_RATE


@dataclass(frozen=True, slots=True)
class AccountView:
    wallet_balance: Decimal
    positions: tuple[PositionView, ...]
    update_time: int

    @property
    def unrealized(self) -> Decimal:
        return sum((p.unrealized for p in self.positions), _ZERO)

    @property
    def initial_margin(self) -> Decimal:
        return sum((p.initial_margin for p in self.positions), _ZERO)

    @property
    def maint_margin(self) -> Decimal:
        return sum((p.maint_margin for p in self.positions), _ZERO)

    @property
    def available(self) -> Decimal:
        return max(_ZERO, self.wallet_balance + self.unrealized - self.initial_margin)


def _m(value: Decimal) -> str:
    return fixed(value, MONEY_PLACES)


# --- positionRisk ------------------------------------------------------------------------------


def position_risk_v2(p: PositionView) -> dict[str, Any]:
    """GET /fapi/v2/positionRisk item (position_risk.json, §12.10 v2)."""
    spec, pos = p.spec, p.position
    return {
        "symbol": spec.symbol,
        "positionAmt": qty_str(spec, pos.amount),
        "entryPrice": price_str(spec, pos.entry_price),
        "breakEvenPrice": price_str(spec, pos.entry_price),
        "markPrice": _m(p.mark),
        "unRealizedProfit": _m(p.unrealized),
        "liquidationPrice": "0",
        "leverage": str(p.leverage),
        "maxNotionalValue": MAX_NOTIONAL,
        "marginType": "isolated" if p.isolated else "cross",
        "isolatedMargin": _m(_ZERO),
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": _m(p.notional),
        "isolatedWallet": "0",
        "updateTime": p.update_time,
    }


def position_risk_v3(p: PositionView) -> dict[str, Any]:
    """GET /fapi/v3/positionRisk item (§12.10 v3): no leverage or marginType."""
    spec, pos = p.spec, p.position
    return {
        "symbol": spec.symbol,
        "positionSide": "BOTH",
        "positionAmt": qty_str(spec, pos.amount),
        "entryPrice": price_str(spec, pos.entry_price),
        "breakEvenPrice": price_str(spec, pos.entry_price),
        "markPrice": _m(p.mark),
        "unRealizedProfit": _m(p.unrealized),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": _m(p.notional),
        "marginAsset": "USDT",
        "isolatedWallet": "0",
        "initialMargin": _m(p.initial_margin),
        "maintMargin": _m(p.maint_margin),
        "positionInitialMargin": _m(p.initial_margin),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": p.update_time,
    }


def v3_listed(p: PositionView) -> bool:
    """v3 lists 'only symbol that has position or open orders' (§6.1)."""
    return p.position.amount != 0 or p.has_open_orders


# --- account -----------------------------------------------------------------------------------


def _totals(a: AccountView) -> dict[str, Any]:
    margin_balance = a.wallet_balance + a.unrealized
    return {
        "totalInitialMargin": _m(a.initial_margin),
        "totalMaintMargin": _m(a.maint_margin),
        "totalWalletBalance": _m(a.wallet_balance),
        "totalUnrealizedProfit": _m(a.unrealized),
        "totalMarginBalance": _m(margin_balance),
        "totalPositionInitialMargin": _m(a.initial_margin),
        "totalOpenOrderInitialMargin": _m(_ZERO),
        "totalCrossWalletBalance": _m(a.wallet_balance),
        "totalCrossUnPnl": _m(a.unrealized),
        "availableBalance": _m(a.available),
        "maxWithdrawAmount": _m(a.available),
    }


def _asset(a: AccountView, *, v2: bool) -> dict[str, Any]:
    asset: dict[str, Any] = {
        "asset": "USDT",
        "walletBalance": _m(a.wallet_balance),
        "unrealizedProfit": _m(a.unrealized),
        "marginBalance": _m(a.wallet_balance + a.unrealized),
        "maintMargin": _m(a.maint_margin),
        "initialMargin": _m(a.initial_margin),
        "positionInitialMargin": _m(a.initial_margin),
        "openOrderInitialMargin": _m(_ZERO),
        "crossWalletBalance": _m(a.wallet_balance),
        "crossUnPnl": _m(a.unrealized),
        "availableBalance": _m(a.available),
        "maxWithdrawAmount": _m(a.available),
    }
    if v2:
        asset["marginAvailable"] = True
    asset["updateTime"] = a.update_time
    return asset


def _position_v2(p: PositionView) -> dict[str, Any]:
    spec = p.spec
    return {
        "symbol": spec.symbol,
        "initialMargin": _m(p.initial_margin),
        "maintMargin": _m(p.maint_margin),
        "unrealizedProfit": _m(p.unrealized),
        "positionInitialMargin": _m(p.initial_margin),
        "openOrderInitialMargin": "0",
        "leverage": str(p.leverage),
        "isolated": p.isolated,
        "entryPrice": price_str(spec, p.position.entry_price),
        "maxNotional": MAX_NOTIONAL,
        "bidNotional": "0",
        "askNotional": "0",
        "positionSide": "BOTH",
        "positionAmt": qty_str(spec, p.position.amount),
        "updateTime": p.update_time,
    }


def _position_v3(p: PositionView) -> dict[str, Any]:
    spec = p.spec
    return {
        "symbol": spec.symbol,
        "positionSide": "BOTH",
        "positionAmt": qty_str(spec, p.position.amount),
        "unrealizedProfit": _m(p.unrealized),
        "isolatedMargin": "0",
        "notional": _m(p.notional),
        "isolatedWallet": "0",
        "initialMargin": _m(p.initial_margin),
        "maintMargin": _m(p.maint_margin),
        "updateTime": p.update_time,
    }


def account_v2(a: AccountView) -> dict[str, Any]:
    """GET /fapi/v2/account (account_info_v2.json): every listed symbol in `positions`."""
    head: dict[str, Any] = {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
    }
    head.update(_totals(a))
    head["assets"] = [_asset(a, v2=True)]
    head["positions"] = [_position_v2(p) for p in a.positions]
    return head


def account_v3(a: AccountView) -> dict[str, Any]:
    """GET /fapi/v3/account (§6.2): totals, assets, and only the positions that are open."""
    body = _totals(a)
    body["assets"] = [_asset(a, v2=False)]
    body["positions"] = [_position_v3(p) for p in a.positions if p.position.amount != 0]
    return body


def balance(a: AccountView, account_alias: str) -> list[dict[str, Any]]:
    """GET /fapi/v2/balance and /fapi/v3/balance (balance.json; v3 has the same keys)."""
    return [
        {
            "accountAlias": account_alias,
            "asset": "USDT",
            "balance": _m(a.wallet_balance),
            "crossWalletBalance": _m(a.wallet_balance),
            "crossUnPnl": _m(a.unrealized),
            "availableBalance": _m(a.available),
            "maxWithdrawAmount": _m(a.available),
            "marginAvailable": True,
            "updateTime": a.update_time,
        }
    ]
