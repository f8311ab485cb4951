"""The symbols the simulator lists, with the real filters Binance published for them.

Every symbol of the recorded full exchangeInfo of 2021-07-22 (package data, see
data/NOTICE.md) is listed with its filters as the strings Binance sent; BTCUSDT and ETHUSDT
take the newer 2022-02-19 recording's values (each spec names its file). Synthetic symbols
(`add_synthetic_symbols`) join the same table for scale tests. The answer shape
is today's (binance-usdm.md §6.4, §12.9): `orderTypes` (not `OrderType`), no
MAX_NUM_ALGO_ORDERS filter (removed 2025-12-29), and the 10-second ORDERS limiter.
It also owns the filter rules (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL, PERCENT_PRICE) as
the exchange applies them. Pure: the server time is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitd.engine.model import OrderSide, SymbolFilters
from exitd.exchange.sim import errors
from exitd.exchange.sim.limits import RateLimits
from exitd.exchange.sim.symbol_data import recorded_entries, synthetic_entry, synthetic_name

_FILE_2022 = "fapi_v1_exchangeInfo_2022-02-19_3symbols.json"
_FILE_2021 = "fapi_v1_exchangeInfo_2021-07-22_full.json"
_PERPETUAL_DELIVERY_MS = 4133404800000


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One perpetual's listing: the fields of its exchangeInfo entry, as Binance's strings."""

    symbol: str
    base_asset: str
    source: str  # fixture file the values come from
    onboard_date: int
    price_precision: int
    quantity_precision: int
    min_price: str
    max_price: str
    tick_size: str
    min_qty: str
    max_qty: str
    step_size: str
    market_min_qty: str
    market_max_qty: str
    market_step_size: str
    min_notional: str
    multiplier_up: str = "1.1500"
    multiplier_down: str = "0.8500"
    trigger_protect: str = "0.0500"
    liquidation_fee: str = "0.005000"
    underlying_sub_type: tuple[str, ...] = ()
    market_take_bound: str = "0.30"
    delivery_date: int = _PERPETUAL_DELIVERY_MS
    pair: str = ""  # "" : the symbol itself
    contract_type: str = "PERPETUAL"
    status: str = "TRADING"
    quote_asset: str = "USDT"
    margin_asset: str = "USDT"
    maint_margin_percent: str = "2.5000"
    required_margin_percent: str = "5.0000"


# fmt: off
# The 2022-02-19 recording, newer than the full 2021 listing, for the two default symbols.
_NEWER: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", "BTC", _FILE_2022, 1569398400000, 2, 3,
               "402", "1246396.60", "0.10", "0.001", "1000", "0.001",
               "0.001", "1000", "0.001", "10", "1.1000", "0.5454", "0.0500", "0.012000",
               delivery_date=4133404802000),
    SymbolSpec("ETHUSDT", "ETH", _FILE_2022, 1569398400000, 2, 3,
               "28.23", "144004.03", "0.01", "0.001", "10000", "0.001",
               "0.001", "10000", "0.001", "10", "1.1000", "0.9000", "0.0500", "0.030000",
               market_take_bound="0.10"),
)
# fmt: on


def spec_from_entry(entry: dict[str, Any], source: str) -> SymbolSpec:
    """A listing from one `symbols[]` entry of an exchangeInfo answer, its strings kept."""
    filters = {f["filterType"]: f for f in entry["filters"]}
    price, lot, market = filters["PRICE_FILTER"], filters["LOT_SIZE"], filters["MARKET_LOT_SIZE"]
    percent = filters["PERCENT_PRICE"]
    return SymbolSpec(
        entry["symbol"], entry["baseAsset"], source, entry["onboardDate"],
        entry["pricePrecision"], entry["quantityPrecision"],
        price["minPrice"], price["maxPrice"], price["tickSize"],
        lot["minQty"], lot["maxQty"], lot["stepSize"],
        market["minQty"], market["maxQty"], market["stepSize"],
        filters["MIN_NOTIONAL"]["notional"], percent["multiplierUp"], percent["multiplierDown"],
        entry["triggerProtect"], entry["liquidationFee"], tuple(entry["underlyingSubType"]),
        entry["marketTakeBound"], entry["deliveryDate"],
        pair=entry["pair"], contract_type=entry["contractType"], status=entry["status"],
        quote_asset=entry["quoteAsset"], margin_asset=entry["marginAsset"],
        maint_margin_percent=entry["maintMarginPercent"],
        required_margin_percent=entry["requiredMarginPercent"],
    )  # fmt: skip


SYMBOLS: dict[str, SymbolSpec] = {
    entry["symbol"]: spec_from_entry(entry, _FILE_2021) for entry in recorded_entries()
}
SYMBOLS.update((spec.symbol, spec) for spec in _NEWER)


def add_synthetic_symbols(count: int) -> list[str]:
    """List SYN0001USDT… SYN{count}USDT (plausible filters, for scale tests); their names.

    The listing is one table for the whole process (the number printers and the book read
    it), so synthetic symbols join it; adding the same ones again changes nothing.
    """
    names = []
    for index in range(1, count + 1):
        name = synthetic_name(index)
        SYMBOLS.setdefault(name, spec_from_entry(synthetic_entry(index), "synthetic"))
        names.append(name)
    return names


# Per §12.9 (doc example): the current answer lists every type, although conditional ones are
# placed on /fapi/v1/algoOrder since 2025-12-09. Whether today's list also carries GTD/RPI in
# `timeInForce` is UNCONFIRMED; the documented example's four are sent.
ORDER_TYPES = [
    "LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
]  # fmt: skip
TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX"]
MAX_NUM_ORDERS = 200

# `assets` of the 2022-02-19 recording.
_ASSETS: list[dict[str, Any]] = [
    {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-100"},
    {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.00100000"},
    {"asset": "BNB", "marginAvailable": True, "autoAssetExchange": "-0.00100000"},
    {"asset": "ETH", "marginAvailable": True, "autoAssetExchange": "-0.00100000"},
    {"asset": "BUSD", "marginAvailable": True, "autoAssetExchange": "-100"},
]


def symbol_spec(symbol: str) -> SymbolSpec:
    """The listing of `symbol`, or -1121 as Binance answers an unknown symbol."""
    spec = SYMBOLS.get(symbol)
    if spec is None:
        raise errors.INVALID_SYMBOL.error()
    return spec


def symbol_filters(symbol: str) -> SymbolFilters:
    """The filters the exit engine rounds to, from the same listing the simulator enforces."""
    spec = symbol_spec(symbol)
    return SymbolFilters(
        tick_size=Decimal(spec.tick_size),
        step_size=Decimal(spec.step_size),
        min_qty=Decimal(spec.min_qty),
        min_notional=Decimal(spec.min_notional),
    )


def _filters(spec: SymbolSpec) -> list[dict[str, Any]]:
    return [
        {"filterType": "PRICE_FILTER", "minPrice": spec.min_price, "maxPrice": spec.max_price,
         "tickSize": spec.tick_size},
        {"filterType": "LOT_SIZE", "minQty": spec.min_qty, "maxQty": spec.max_qty,
         "stepSize": spec.step_size},
        {"filterType": "MARKET_LOT_SIZE", "minQty": spec.market_min_qty,
         "maxQty": spec.market_max_qty, "stepSize": spec.market_step_size},
        {"filterType": "MAX_NUM_ORDERS", "limit": MAX_NUM_ORDERS},
        {"filterType": "MIN_NOTIONAL", "notional": spec.min_notional},
        {"filterType": "PERCENT_PRICE", "multiplierUp": spec.multiplier_up,
         "multiplierDown": spec.multiplier_down, "multiplierDecimal": "4"},
    ]  # fmt: skip


def symbol_entry(spec: SymbolSpec) -> dict[str, Any]:
    """One `symbols[]` entry of exchangeInfo, every field of §12.9 in Binance's JSON types."""
    return {
        "symbol": spec.symbol,
        "pair": spec.pair or spec.symbol,
        "contractType": spec.contract_type,
        "deliveryDate": spec.delivery_date,
        "onboardDate": spec.onboard_date,
        "status": spec.status,
        "maintMarginPercent": spec.maint_margin_percent,
        "requiredMarginPercent": spec.required_margin_percent,
        "baseAsset": spec.base_asset,
        "quoteAsset": spec.quote_asset,
        "marginAsset": spec.margin_asset,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": list(spec.underlying_sub_type),
        "settlePlan": 0,
        "triggerProtect": spec.trigger_protect,
        "liquidationFee": spec.liquidation_fee,
        "marketTakeBound": spec.market_take_bound,
        "filters": _filters(spec),
        "orderTypes": list(ORDER_TYPES),
        "timeInForce": list(TIME_IN_FORCE),
    }


def rate_limits(limits: RateLimits) -> list[dict[str, Any]]:
    """`rateLimits` as Binance lists them, from the limits actually enforced."""
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
         "limit": limits.weight_per_minute},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
         "limit": limits.orders_per_minute},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
         "limit": limits.orders_per_10s},
    ]  # fmt: skip


def exchange_info(
    symbols: Iterable[str] | None, server_time_ms: int, limits: RateLimits | None = None
) -> dict[str, Any]:
    """The body of `GET /fapi/v1/exchangeInfo` for the listed symbols (all when None)."""
    names = list(SYMBOLS) if symbols is None else list(symbols)
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": rate_limits(limits or RateLimits()),
        "exchangeFilters": [],
        "assets": [dict(asset) for asset in _ASSETS],
        "symbols": [symbol_entry(symbol_spec(name)) for name in names],
    }


# --- the filters, as the exchange applies them ---------------------------------------------


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def check_price(spec: SymbolSpec, price: Decimal) -> None:
    """PRICE_FILTER: precision (-1111), bounds (-4013/-4002), tick (-4014)."""
    if price < 0:
        raise errors.PRICE_NEGATIVE.error()
    if _decimals(price) > spec.price_precision:
        raise errors.BAD_PRECISION.error()
    min_price, max_price = Decimal(spec.min_price), Decimal(spec.max_price)
    if min_price and price < min_price:
        raise errors.PRICE_BELOW_MIN.error()
    if max_price and price > max_price:
        raise errors.PRICE_ABOVE_MAX.error()
    if (price - min_price) % Decimal(spec.tick_size) != 0:
        raise errors.PRICE_OFF_TICK.error()


def check_quantity(spec: SymbolSpec, qty: Decimal, *, market: bool) -> None:
    """LOT_SIZE (MARKET_LOT_SIZE for MARKET): -4003, -1111, -4004/-4005, -4023."""
    if qty <= 0:
        raise errors.QTY_NOT_POSITIVE.error()
    if _decimals(qty) > spec.quantity_precision:
        raise errors.BAD_PRECISION.error()
    if market:
        lo, hi, step = spec.market_min_qty, spec.market_max_qty, spec.market_step_size
    else:
        lo, hi, step = spec.min_qty, spec.max_qty, spec.step_size
    if qty < Decimal(lo):
        raise errors.QTY_BELOW_MIN.error()
    if qty > Decimal(hi):
        raise errors.QTY_ABOVE_MAX.error()
    if (qty - Decimal(lo)) % Decimal(step) != 0:
        raise errors.QTY_OFF_STEP.error()


def check_notional(spec: SymbolSpec, qty: Decimal, price: Decimal, *, reduce_only: bool) -> None:
    """MIN_NOTIONAL: price × qty ≥ notional, reduce-only exempt (-4164's own text says so)."""
    if reduce_only:
        return
    if qty * price < Decimal(spec.min_notional):
        raise errors.MIN_NOTIONAL.error(spec.min_notional)


def check_percent_price(spec: SymbolSpec, side: OrderSide, price: Decimal, mark: Decimal) -> None:
    """PERCENT_PRICE, one-sided per side: BUY ≤ mark × up (-4016), SELL ≥ mark × down (-4024)."""
    if side is OrderSide.BUY and price > mark * Decimal(spec.multiplier_up):
        raise errors.PRICE_ABOVE_MULTIPLIER_UP.error()
    if side is OrderSide.SELL and price < mark * Decimal(spec.multiplier_down):
        raise errors.PRICE_BELOW_MULTIPLIER_DOWN.error()
