"""Where the simulator's listings come from: the recorded exchangeInfo shipped as package
data (data/NOTICE.md names its source), and synthetic symbols for scale tests.

Both give `symbols[]` entries in Binance's own JSON shape, so one conversion (symbols.py)
turns either into a listing. Synthetic entries are plausible, not real: a mid-price coin
with the filters most 2021 USDT perpetuals had (5 USDT notional, ±15 % PERCENT_PRICE).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

RECORDED_FILE = "fapi_v1_exchangeInfo_2021-07-22_full.json"
SYNTHETIC_PREFIX = "SYN"
MAX_SYNTHETIC = 9999  # four digits in the name


@cache
def recorded_entries() -> tuple[dict[str, Any], ...]:
    """Every `symbols[]` entry of the recorded answer, as Binance sent it."""
    raw = resources.files("exitd.exchange.sim").joinpath("data", RECORDED_FILE).read_bytes()
    return tuple(orjson.loads(raw)["symbols"])


def synthetic_name(index: int) -> str:
    """SYN0001USDT for 1."""
    return f"{SYNTHETIC_PREFIX}{index:04d}USDT"


def synthetic_entry(index: int) -> dict[str, Any]:
    """A plausible perpetual's entry, numbered from 1."""
    if not 1 <= index <= MAX_SYNTHETIC:
        raise ValueError(f"synthetic symbols are numbered 1 to {MAX_SYNTHETIC}, got {index}")
    name = synthetic_name(index)
    return {
        "symbol": name, "pair": name, "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": name.removesuffix("USDT"), "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 4, "quantityPrecision": 1, "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.010000", "marketTakeBound": "0.30",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.0010", "maxPrice": "10000",
             "tickSize": "0.0001"},
            {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "1000000", "stepSize": "0.1"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.1", "maxQty": "100000",
             "stepSize": "0.1"},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.1500",
             "multiplierDown": "0.8500", "multiplierDecimal": "4"},
        ],
    }  # fmt: skip
