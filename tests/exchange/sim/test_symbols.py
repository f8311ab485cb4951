import json
from decimal import Decimal
from typing import Any

import pytest

from exitd.engine.model import SymbolFilters
from exitd.exchange.sim.errors import BinanceError
from exitd.exchange.sim.limits import RateLimits
from exitd.exchange.sim.symbols import SYMBOLS, exchange_info, symbol_filters
from tests.conftest import PAYLOADS

RECORDED = PAYLOADS / "recorded" / "http_json"
FILE_2021 = RECORDED / "fapi_v1_exchangeInfo_2021-07-22_full.json"
FILE_2022 = RECORDED / "fapi_v1_exchangeInfo_2022-02-19_3symbols.json"


def _recorded(symbol: str) -> dict[str, Any]:
    path = FILE_2022 if symbol in ("BTCUSDT", "ETHUSDT") else FILE_2021
    body = json.loads(path.read_text())
    return next(s for s in body["symbols"] if s["symbol"] == symbol)


def _ours(symbol: str) -> dict[str, Any]:
    info = exchange_info([symbol], 1)
    entry: dict[str, Any] = info["symbols"][0]
    return entry


def _same_shape(recorded: Any, ours: Any, where: str) -> None:
    assert type(recorded) is type(ours), where
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            assert key in ours, f"{where}.{key}"
            _same_shape(value, ours[key], f"{where}.{key}")


@pytest.mark.parametrize("symbol", sorted(SYMBOLS))
def test_entry_has_every_recorded_key_with_the_same_json_type(symbol: str) -> None:
    recorded, ours = _recorded(symbol), _ours(symbol)
    for key, value in recorded.items():
        if key != "filters":
            assert key in ours, key
            _same_shape(value, ours[key], key)
    theirs = {f["filterType"]: f for f in recorded["filters"]}
    mine = {f["filterType"]: f for f in ours["filters"]}
    assert set(theirs) - {"MAX_NUM_ALGO_ORDERS"} == set(mine)
    for kind, filt in mine.items():
        _same_shape(theirs[kind], filt, kind)


@pytest.mark.parametrize("symbol", sorted(SYMBOLS))
def test_filter_values_are_the_recorded_ones(symbol: str) -> None:
    recorded, ours = _recorded(symbol), _ours(symbol)
    theirs = {f["filterType"]: f for f in recorded["filters"]}
    for filt in ours["filters"]:
        assert filt == theirs[filt["filterType"]]
    for key in ("pricePrecision", "quantityPrecision", "triggerProtect", "liquidationFee",
                "onboardDate", "deliveryDate", "underlyingSubType", "baseAsset",
                "marketTakeBound"):  # fmt: skip
        assert ours[key] == recorded[key], key


def test_top_level_shape_matches_the_recording() -> None:
    recorded = json.loads(FILE_2022.read_text())
    ours = exchange_info(None, 1645233611962)
    assert set(recorded) == set(ours)
    assert ours["serverTime"] == 1645233611962
    assert ours["assets"] == recorded["assets"]
    limits = {(r["rateLimitType"], r["interval"], r["intervalNum"]): r["limit"]
              for r in ours["rateLimits"]}  # fmt: skip
    assert limits == {("REQUEST_WEIGHT", "MINUTE", 1): 2400, ("ORDERS", "MINUTE", 1): 1200,
                      ("ORDERS", "SECOND", 10): 300}  # fmt: skip
    assert "OrderType" not in ours["symbols"][0]


def test_rate_limits_follow_the_configured_limits() -> None:
    info = exchange_info(["BTCUSDT"], 0, RateLimits(weight_per_minute=7))
    assert info["rateLimits"][0]["limit"] == 7


def test_symbol_filters_for_the_engine() -> None:
    assert symbol_filters("BTCUSDT") == SymbolFilters(
        Decimal("0.10"), Decimal("0.001"), Decimal("0.001"), Decimal("10")
    )


def test_unknown_symbol_is_1121() -> None:
    with pytest.raises(BinanceError) as info:
        symbol_filters("NOPEUSDT")
    assert (info.value.code, info.value.msg) == (-1121, "Invalid symbol.")
    with pytest.raises(BinanceError):
        exchange_info(["NOPEUSDT"], 0)
