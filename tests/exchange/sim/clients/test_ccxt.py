"""ccxt's `binanceusdm`, unchanged, against the simulator: configured only through its
public configuration (`urls['api']`, `apiKey`/`secret`, `options`).

Every entry of `urls['api']` is pointed at the simulator, the non-USD-M ones too (sapi,
dapi, eapi, papi, spot), so a call the simulator does not serve fails with its 404 instead
of reaching Binance. `fetchCurrencies` is off: with a key set, load_markets would otherwise
ask the spot wallet (`GET /sapi/v1/capital/config/getall`), which is no part of USD-M
futures; the markets' currencies then come from exchangeInfo, as they do for a keyless
client. ccxt raises on any answer it cannot use, so each call below also checks that the
simulator serves the very request ccxt sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest
from sim_thread import API_KEY, API_SECRET, RunningSim

from exitd.exchange.sim.symbols import SYMBOLS

SYMBOL = "BTC/USDT:USDT"
SPEC = SYMBOLS["BTCUSDT"]


def _api_urls(base: str) -> dict[str, str]:
    """Every REST base ccxt's binanceusdm knows, moved onto `base` with its path kept."""
    defaults = ccxt.binanceusdm().urls["api"]
    assert all(isinstance(url, str) for url in defaults.values())
    return {name: base + urlsplit(url).path for name, url in defaults.items()}


@pytest.fixture
def exchange(sim: RunningSim) -> Iterator[Any]:
    client = ccxt.binanceusdm(
        {
            "apiKey": API_KEY,
            "secret": API_SECRET,
            "urls": {"api": _api_urls(sim.rest_url)},
            "options": {"fetchCurrencies": False, "adjustForTimeDifference": False},
        }
    )
    try:
        yield client
    finally:
        client.close()


def test_ccxt_is_pointed_at_the_simulator_only(sim: RunningSim, exchange: Any) -> None:
    urls = exchange.urls["api"]
    assert {"fapiPublic", "fapiPrivate", "fapiPublicV3", "fapiPrivateV3", "fapiData"} <= set(urls)
    assert all(url.startswith(sim.rest_url + "/") for url in urls.values())
    assert urls["fapiPrivateV2"] == sim.rest_url + "/fapi/v2"


def test_ccxt_loads_markets_and_reads_mark_price_balance_and_positions(
    sim: RunningSim, exchange: Any
) -> None:
    sim.price("BTCUSDT", "65000")
    sim.position("BTCUSDT", "LONG", "0.010", "65000")

    assert abs(exchange.fetch_time() - sim.clock_ms()) < 5_000
    markets = exchange.load_markets()
    assert set(markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    market = markets[SYMBOL]
    assert (market["id"], market["type"], market["linear"], market["settle"]) == (
        "BTCUSDT",
        "swap",
        True,
        "USDT",
    )
    assert market["precision"]["price"] == float(SPEC.tick_size)
    assert market["precision"]["amount"] == float(SPEC.step_size)
    assert market["limits"]["amount"]["min"] == float(SPEC.min_qty)
    assert market["limits"]["cost"]["min"] == float(SPEC.min_notional)

    mark = exchange.fetch_mark_price(SYMBOL)
    assert (mark["symbol"], mark["markPrice"], mark["indexPrice"]) == (SYMBOL, 65000.0, 65000.0)

    wallet = float(sim.admin("GET", "/sim/ledger")["wallet_balance"])
    usdt = exchange.fetch_balance()["USDT"]
    # 650 USDT notional at the default 20x leverage holds 32.5 USDT of margin.
    assert (usdt["total"], usdt["used"]) == (wallet, 32.5)
    assert usdt["free"] == pytest.approx(wallet - 32.5)

    (position,) = exchange.fetch_positions([SYMBOL])
    assert (position["symbol"], position["side"], position["contracts"]) == (SYMBOL, "long", 0.01)
    assert (position["entryPrice"], position["markPrice"]) == (65000.0, 65000.0)
    assert position["unrealizedPnl"] == 0.0


def test_ccxt_places_lists_fetches_and_cancels_a_limit_order(
    sim: RunningSim, exchange: Any
) -> None:
    sim.price("BTCUSDT", "65000")

    placed = exchange.create_order(
        SYMBOL, "limit", "buy", 0.002, 60000, {"clientOrderId": "ccxt-limit-1"}
    )
    assert (placed["status"], placed["type"], placed["side"]) == ("open", "limit", "buy")
    assert (placed["amount"], placed["price"], placed["filled"]) == (0.002, 60000.0, 0.0)
    assert placed["clientOrderId"] == "ccxt-limit-1"
    assert placed["info"]["orderId"] == int(placed["id"])

    (listed,) = exchange.fetch_open_orders(SYMBOL)
    assert (listed["id"], listed["status"]) == (placed["id"], "open")

    fetched = exchange.fetch_order(placed["id"], SYMBOL)
    assert (fetched["id"], fetched["status"], fetched["remaining"]) == (placed["id"], "open", 0.002)

    cancelled = exchange.cancel_order(placed["id"], SYMBOL)
    assert (cancelled["id"], cancelled["status"]) == (placed["id"], "canceled")
    assert exchange.fetch_order(placed["id"], SYMBOL)["status"] == "canceled"
    assert exchange.fetch_open_orders(SYMBOL) == []


def test_ccxt_sends_stops_to_the_algo_endpoint_and_cancels_them(
    sim: RunningSim, exchange: Any
) -> None:
    sim.price("BTCUSDT", "65000")
    sim.position("BTCUSDT", "LONG", "0.010", "65000")
    trigger = {"trigger": True}

    stop = exchange.create_order(
        SYMBOL, "market", "sell", 0.01, None, {"stopLossPrice": 60000, "reduceOnly": True}
    )
    # ccxt chose /fapi/v1/algoOrder itself: the answer is an algo order.
    assert (stop["info"]["algoId"], stop["info"]["orderType"]) == (int(stop["id"]), "STOP_MARKET")
    assert (stop["status"], stop["side"], stop["amount"]) == ("open", "sell", 0.01)
    assert (stop["triggerPrice"], stop["reduceOnly"]) == (60000.0, True)
    take_profit = exchange.create_order(
        SYMBOL, "market", "sell", 0.01, None, {"takeProfitPrice": 70000, "reduceOnly": True}
    )
    assert take_profit["info"]["orderType"] == "TAKE_PROFIT_MARKET"
    assert take_profit["triggerPrice"] == 70000.0

    listed = exchange.fetch_open_orders(SYMBOL, params=trigger)
    assert sorted(o["id"] for o in listed) == sorted([stop["id"], take_profit["id"]])
    assert exchange.fetch_open_orders(SYMBOL) == []  # not among the regular orders
    fetched = exchange.fetch_order(stop["id"], SYMBOL, trigger)
    assert (fetched["id"], fetched["status"], fetched["triggerPrice"]) == (
        stop["id"],
        "open",
        60000.0,
    )

    cancelled = exchange.cancel_order(stop["id"], SYMBOL, trigger)
    assert (cancelled["id"], cancelled["info"]["code"]) == (stop["id"], "200")
    assert exchange.fetch_order(stop["id"], SYMBOL, trigger)["status"] == "canceled"
    exchange.cancel_all_orders(SYMBOL, trigger)
    assert exchange.fetch_order(take_profit["id"], SYMBOL, trigger)["status"] == "canceled"
    assert exchange.fetch_open_orders(SYMBOL, params=trigger) == []


def test_ccxt_closes_a_position_with_a_reduce_only_market_order_and_reads_its_trades(
    sim: RunningSim, exchange: Any
) -> None:
    sim.price("BTCUSDT", "65000")
    sim.position("BTCUSDT", "LONG", "0.010", "65000")
    sim.price("BTCUSDT", "65100")

    closed = exchange.create_order(SYMBOL, "market", "sell", 0.01, None, {"reduceOnly": True})
    assert (closed["status"], closed["reduceOnly"], closed["filled"]) == ("closed", True, 0.01)
    assert (closed["average"], closed["remaining"]) == (65100.0, 0.0)
    assert exchange.fetch_positions([SYMBOL]) == []

    entry, exit_ = exchange.fetch_my_trades(SYMBOL)
    assert (entry["side"], entry["amount"], entry["price"]) == ("buy", 0.01, 65000.0)
    assert (exit_["order"], exit_["side"], exit_["takerOrMaker"]) == (closed["id"], "sell", "taker")
    assert (exit_["amount"], exit_["price"], exit_["cost"]) == (0.01, 65100.0, 651.0)
    assert exit_["fee"]["currency"] == "USDT"
    assert exit_["fee"]["cost"] == pytest.approx(651.0 * 0.0005)
    assert float(exit_["info"]["realizedPnl"]) == 1.0  # 0.010 x (65100 - 65000)
