"""The simulator's stream payloads match Binance's real ones field for field: same keys,
same JSON types (numbers as strings where Binance sends strings)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim import events as enc
from exitd.exchange.sim import payloads
from exitd.exchange.sim.account import Accepted, AccountEvent, AlgoParams, SimAccount
from exitd.exchange.sim.book import AlgoStatus, BookOrder, SimOrderType
from exitd.exchange.sim.symbols import SYMBOLS
from exitd.exchange.sim.user_data import UserDataFeed
from tests.conftest import PAYLOADS

T0 = 1_765_431_097_019


def real(name: str) -> dict[str, Any]:
    """A fixture payload, unwrapped from its combined-stream envelope if it has one."""
    path = PAYLOADS / name
    if not path.is_file():
        pytest.fail(f"the test fixtures are missing: {path}")
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload["data"] if "stream" in payload else payload


def assert_shape(
    ours: dict[str, Any], theirs: dict[str, Any], added: frozenset[str] = frozenset()
) -> None:
    """Same keys at every level (but `added`, those Binance added after the recording) and
    the same JSON types."""
    assert set(theirs) <= set(ours), set(theirs) - set(ours)
    assert set(ours) - set(theirs) <= added, set(ours) - set(theirs) - added
    for key, value in theirs.items():
        assert type(ours[key]) is type(value), (key, ours[key], value)
        if isinstance(value, dict):
            assert_shape(ours[key], value, added)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            assert ours[key], key
            assert_shape(ours[key][0], value[0], added)


# --- market streams ---------------------------------------------------------------------------


def test_mark_price_update_is_shaped_like_binances() -> None:
    ours = enc.mark_price_update("BTCUSDT", D("28147.27"), 1_680_652_701_000)
    assert_shape(ours, real("market_data_json/mark_price_stream.json"), frozenset({"ap"}))
    recorded = "recorded/market_data_json/markPriceUpdate_BTCUSDT_2023-04-04.json"
    assert_shape(ours, real(recorded), frozenset({"ap", "st"}))
    assert ours["p"] == "28147.27000000"  # 8 decimals, as the real stream prints
    assert ours["T"] == 1_680_652_800_000  # the next funding instant, as recorded


def test_agg_trade_is_shaped_like_binances() -> None:
    ours = enc.agg_trade("BTCUSDT", 7, 9, D("65000.1"), T0)
    assert_shape(ours, real("market_data_json/agg_trade_stream.json"), frozenset({"nq"}))
    recorded = "recorded/market_data_json/aggTrade_CTKUSDT_2021-07-22.json"
    assert_shape(ours, real(recorded), frozenset({"nq", "st"}))
    assert (ours["p"], ours["q"], ours["a"], ours["f"], ours["l"]) == ("65000.10", "0.001", 7, 9, 9)


def test_book_ticker_is_shaped_like_binances_and_straddles_the_price() -> None:
    ours = enc.book_ticker("BTCUSDT", 3, D("65000.05"), T0)
    assert_shape(ours, real("market_data_json/book_ticker_stream.json"))
    recorded = "recorded/market_data_json/bookTicker_BTCUSDT_2023-04-04.json"
    assert_shape(ours, real(recorded), frozenset({"ps", "st"}))
    assert (ours["b"], ours["a"]) == ("65000.00", "65000.10")
    on_tick = enc.book_ticker("BTCUSDT", 4, D("65000.1"), T0)
    assert on_tick["b"] == on_tick["a"] == "65000.10"


# --- user data --------------------------------------------------------------------------------


def stopped_out() -> tuple[SimAccount, list[AccountEvent], list[AccountEvent]]:
    """A long of 0.010 BTC with a close-position stop at 64000, then a tick through it."""
    account = SimAccount(["BTCUSDT"])
    account.set_price("BTCUSDT", D(65000), T0)
    account.open_position("BTCUSDT", Side.LONG, D("0.010"), D(65000), T0)
    placed = account.place_algo_order(
        "BTCUSDT",
        OrderSide.SELL,
        SimOrderType.STOP_MARKET,
        None,
        T0 + 1,
        params=AlgoParams(trigger_price=D(64000), close_position=True),
        client_algo_id="hard-stop",
    )
    assert isinstance(placed, Accepted)
    ticked = account.set_price("BTCUSDT", D("63990.0"), T0 + 2)
    return account, list(placed.events), ticked


def by_type(encoded: list[tuple[str, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [payload for k, payload in encoded if k == kind]


def test_order_trade_update_is_shaped_like_binances() -> None:
    account, _, ticked = stopped_out()
    updates = by_type(UserDataFeed().encode(ticked, account, T0 + 3), "ORDER_TRADE_UPDATE")
    new, trade = updates[0], updates[1]
    # The doc example (binance-usdm.md §12.3) also carries pm, gtd and er, newer than these.
    for ours, name in ((new, "order_update_new.json"), (trade, "order_update_trade.json")):
        assert_shape(ours, real(f"user_data_json/{name}"), frozenset({"pm", "gtd", "er"}))
        assert_shape(ours["o"], real(f"user_data_json/{name}")["o"], frozenset({"pm", "gtd", "er"}))
    assert (new["o"]["x"], new["o"]["X"], new["o"]["o"], new["o"]["ot"]) == (
        "NEW",
        "NEW",
        "MARKET",
        "STOP_MARKET",
    )
    o = trade["o"]
    assert (o["x"], o["X"], o["q"], o["l"], o["z"], o["L"], o["ap"]) == (
        "TRADE",
        "FILLED",
        "0.010",
        "0.010",
        "0.010",
        "63990.00",
        "63990.00",
    )
    assert (o["c"], o["sp"], o["cp"], o["rp"], o["n"]) == (
        "hard-stop",
        "64000.00",
        True,
        "-10.1",
        "0.31995000",
    )


def test_trade_lite_is_shaped_like_binances() -> None:
    account, _, ticked = stopped_out()
    (lite,) = by_type(UserDataFeed().encode(ticked, account, T0 + 3), "TRADE_LITE")
    assert_shape(lite, real("user_data_json/trade_lite.json"))
    assert_shape(lite, real("recorded/user_data_json/TRADE_LITE_ETHUSDT_2024-09-30.json"))
    assert (lite["l"], lite["L"], lite["S"], lite["p"]) == ("0.010", "63990.00", "SELL", "0")


def test_algo_update_is_shaped_like_the_recorded_ones_through_a_trigger() -> None:
    account, placed, ticked = stopped_out()
    feed = UserDataFeed()
    (new,) = by_type(feed.encode(placed, account, T0 + 1), "ALGO_UPDATE")
    triggering, triggered, finished = by_type(feed.encode(ticked, account, T0 + 3), "ALGO_UPDATE")
    recorded = "recorded/user_data_json/ALGO_UPDATE_{}_DOGEUSDT_2025-12-11.json"
    assert_shape(triggering, real(recorded.format("triggering")))
    assert_shape(triggering["o"], real(recorded.format("triggering"))["o"])
    assert_shape(triggered["o"], real(recorded.format("triggered"))["o"])
    assert_shape(finished["o"], real(recorded.format("finished"))["o"])
    no_reason = dict(real("user_data_json/algo_update_new.json")["o"])
    del no_reason["rm"]  # the doc example's NEW carries a failure reason; real ones do not
    assert_shape(new["o"], no_reason)
    assert [u["o"]["X"] for u in (new, triggering, triggered, finished)] == [
        "NEW",
        "TRIGGERING",
        "TRIGGERED",
        "FINISHED",
    ]
    assert new["o"]["tt"] == 0 and finished["o"]["tt"] == T0 + 2
    assert (finished["o"]["aq"], finished["o"]["ap"], finished["o"]["act"]) == (
        "0.010",
        "63990.00",
        "MARKET",
    )
    assert triggered["o"]["ai"] == finished["o"]["ai"] != ""
    assert (finished["o"]["cp"], finished["o"]["q"], finished["o"]["tp"]) == (True, "0", "64000.00")


def test_a_rejected_algo_update_carries_its_reason_like_the_doc_example() -> None:
    algo = BookOrder(5, "tp", OrderSide.SELL, SimOrderType.TAKE_PROFIT, D("0.01"), price=D(750))
    algo.trigger_price = D(750)
    view = enc.AlgoView(AlgoStatus.REJECTED, T0, T0, None)
    ours = enc.algo_update("BNBUSDT", algo, view, T0)
    assert_shape(ours["o"], real("user_data_json/algo_update_canceled.json")["o"])
    assert ours["o"]["rm"] == "Reduce Only reject"


def test_account_update_is_shaped_like_binances_with_only_the_moved_position() -> None:
    account, _, ticked = stopped_out()
    (update,) = by_type(UserDataFeed().encode(ticked, account, T0 + 3), "ACCOUNT_UPDATE")
    assert_shape(update, real("user_data_json/account_update.json"))
    a = update["a"]
    assert a["m"] == "ORDER" and len(a["P"]) == 1
    assert a["B"][0]["wb"] == f"{account.wallet_balance:.8f}"
    assert (a["P"][0]["s"], a["P"][0]["pa"], a["P"][0]["cr"]) == ("BTCUSDT", "0", "-10.1")


def test_account_update_after_an_entry_shows_the_position() -> None:
    account = SimAccount(["BTCUSDT"])
    account.set_price("BTCUSDT", D(65000), T0)
    opened = account.open_position("BTCUSDT", Side.SHORT, D("0.5"), D(65000), T0)
    (update,) = by_type(UserDataFeed().encode(opened, account, T0), "ACCOUNT_UPDATE")
    position = update["a"]["P"][0]
    assert (position["pa"], position["ep"], position["up"]) == (
        "-0.500",
        "65000.00000000",
        "0.00000000",
    )


def test_listen_key_expired_has_an_int_event_time() -> None:
    assert enc.listen_key_expired("k", T0) == {"e": "listenKeyExpired", "E": T0, "listenKey": "k"}


def test_rest_and_streams_round_and_fund_alike() -> None:
    # REST rounded half-up and the streams half-even, so one average price printed two ways;
    # premiumIndex showed a 0.0001 funding rate where markPriceUpdate showed 0.
    order = BookOrder(7, "x", OrderSide.SELL, SimOrderType.MARKET, D("0.002"))
    order.record_fill(D("0.002"), D("65000.125"))
    execution = enc.Execution("TRADE", order.state, order.executed_qty, order.avg_price)
    streamed = enc.order_trade_update("BTCUSDT", order, execution, 1)["o"]["ap"]
    assert streamed == payloads.order_query(SYMBOLS["BTCUSDT"], order)["avgPrice"] == "65000.13"
    mark = enc.mark_price_update("BTCUSDT", D("65000.1"), 1)
    index = payloads.premium_index("BTCUSDT", D("65000.1"), 1)
    assert (mark["r"], mark["T"]) == (index["lastFundingRate"], index["nextFundingTime"])
