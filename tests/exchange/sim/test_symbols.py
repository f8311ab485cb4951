import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exitd.engine.model import SymbolFilters
from exitd.exchange.sim import symbols as symbols_module
from exitd.exchange.sim.errors import BinanceError
from exitd.exchange.sim.limits import RateLimits
from exitd.exchange.sim.server import SimExchange
from exitd.exchange.sim.symbol_data import RECORDED_FILE, SYNTHETIC_PREFIX
from exitd.exchange.sim.symbols import (
    SYMBOLS,
    add_synthetic_symbols,
    check_notional,
    check_price,
    check_quantity,
    exchange_info,
    symbol_filters,
)
from tests.conftest import PAYLOADS

FIXTURES = PAYLOADS / "recorded" / "http_json"
FILE_2021 = Path(symbols_module.__file__).parent / "data" / RECORDED_FILE
FILE_2022 = FIXTURES / "fapi_v1_exchangeInfo_2022-02-19_3symbols.json"
RECORDED = sorted(s for s in SYMBOLS if not s.startswith(SYNTHETIC_PREFIX))


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


@pytest.mark.parametrize("symbol", RECORDED)
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


@pytest.mark.parametrize("symbol", RECORDED)
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


def test_every_symbol_of_the_recorded_listing_is_listed() -> None:
    recorded = json.loads(FILE_2021.read_text())["symbols"]
    assert len(recorded) == 122
    assert {s["symbol"] for s in recorded} == set(RECORDED)
    entry = exchange_info(["BTCUSDT_210924"], 0)["symbols"][0]
    assert (entry["contractType"], entry["deliveryDate"]) == ("CURRENT_QUARTER", 1632470400000)
    assert exchange_info(["ETHBUSD"], 0)["symbols"][0]["marginAsset"] == "BUSD"


def test_synthetic_symbols_have_plausible_enforced_filters() -> None:
    names = add_synthetic_symbols(3)
    assert names == ["SYN0001USDT", "SYN0002USDT", "SYN0003USDT"]
    assert add_synthetic_symbols(3) == names  # idempotent
    spec = SYMBOLS["SYN0002USDT"]
    check_price(spec, Decimal("1.2345"))
    check_quantity(spec, Decimal("10.5"), market=False)
    check_notional(spec, Decimal(5), Decimal(1), reduce_only=False)
    with pytest.raises(BinanceError):
        check_price(spec, Decimal("1.23456"))
    with pytest.raises(BinanceError):
        check_notional(spec, Decimal(4), Decimal(1), reduce_only=False)
    entry = exchange_info(["SYN0003USDT"], 0)["symbols"][0]
    assert entry["baseAsset"] == "SYN0003"
    assert {f["filterType"] for f in entry["filters"]} >= {"PRICE_FILTER", "LOT_SIZE"}


def test_an_exchange_of_200_synthetic_symbols() -> None:
    ex = SimExchange(api_key="k", api_secret="s", synthetic_symbols=200)
    assert len(ex.symbols) == 202 and ex.symbols[:2] == ("BTCUSDT", "ETHUSDT")
    assert ex.symbols[-1] == "SYN0200USDT"
    assert ex.spec("SYN0150USDT").tick_size == "0.0001"
    with pytest.raises(ValueError):
        SimExchange(api_key="k", api_secret="s", synthetic_symbols=-1)
