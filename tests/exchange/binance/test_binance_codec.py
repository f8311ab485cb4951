"""The codecs against Binance's own payloads (tests/fixtures/payloads, see its README)."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import orjson
import pytest

from exitd.engine.model import OrderSide, SymbolFilters
from exitd.exchange.binance import codec
from exitd.exchange.binance.codec_user import KeyExpired, unwrap, user_events
from exitd.exchange.port import OrderState, OrderUpdate, PositionUpdate, PositionView

PAYLOADS = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"


def load(name: str) -> Any:
    return orjson.loads((PAYLOADS / name).read_bytes())


def test_order_response_decodes_to_an_open_regular_order() -> None:
    view = codec.regular_order(load("http_json/order_response.json"))
    assert view.symbol == "BTCUSDT"
    assert view.client_order_id == "testOrder123"
    assert view.exchange_id == "12345678"
    assert view.side is OrderSide.BUY
    assert view.type == "LIMIT"
    assert view.state is OrderState.NEW
    assert not view.conditional
    assert view.quantity == D("0.001") and view.filled_qty == 0
    assert view.price == D("50000.00")
    assert view.trigger_price is None  # stopPrice "0.00"
    assert view.update_ms == 1625474304765


def test_open_algo_order_decodes_with_type_or_order_type() -> None:
    (item,) = load("http_json/open_algo_orders.json")
    view = codec.algo_order(item)  # this docs-derived fixture says "type" (§14)
    renamed = {("orderType" if k == "type" else k): v for k, v in item.items()}
    assert codec.algo_order(renamed) == view
    assert view.conditional and view.type == "STOP_MARKET"
    assert view.client_order_id == "test-algo-order-1" and view.exchange_id == "123456789"
    assert view.state is OrderState.NEW
    assert view.trigger_price == D("45000.00") and view.price is None


def test_position_risk_decodes_signed_amount_and_entry() -> None:
    (item,) = load("http_json/position_risk.json")
    position = codec.position(item)
    assert (position.symbol, position.amount, position.entry_price) == (
        "BTCUSDT",
        D("0.001"),
        D("50000.0"),
    )


def test_exchange_info_gives_tick_step_min_qty_and_notional() -> None:
    filters = codec.symbol_filters(
        load("recorded/http_json/fapi_v1_exchangeInfo_2022-02-19_3symbols.json")
    )
    assert filters["BTCUSDT"] == SymbolFilters(D("0.10"), D("0.001"), D("0.001"), D("10"))
    assert filters["ETHUSDT"].tick_size == D("0.01")
    assert set(filters) == {"BTCUSDT", "ETHUSDT", "BTCUSDT_220325"}


def test_recorded_mark_price_frame_decodes_from_its_envelope() -> None:
    frame = load("recorded/market_data_json/markPriceUpdate_BTCUSDT_2023-04-04.json")
    mark = codec.mark_price_update(unwrap(frame))
    assert (mark.symbol, mark.price, mark.time_ms) == (
        "BTCUSDT",
        D("28147.27373413"),
        1680652701000,
    )


def test_order_trade_update_fill() -> None:
    (update,) = user_events(load("user_data_json/order_update_trade.json"))
    assert isinstance(update, OrderUpdate)
    assert update.order.state is OrderState.PARTIALLY_FILLED
    assert update.last_fill_qty == D("0.001") and update.last_fill_price == D("7100.50")
    assert update.trade_id == 12345678 and update.time_ms == 1568879465651
    assert update.order.filled_qty == D("0.001") and not update.order.conditional


def test_order_trade_update_new_has_no_trade() -> None:
    (update,) = user_events(load("user_data_json/order_update_new.json"))
    assert isinstance(update, OrderUpdate)
    assert update.order.state is OrderState.NEW and update.trade_id is None
    assert update.order.trigger_price == D("7103.04")


def test_adl_status_reads_as_filled() -> None:
    (update,) = user_events(load("user_data_json/order_update_adl.json"))
    assert isinstance(update, OrderUpdate)
    assert update.order.state is OrderState.FILLED  # X=NEW_ADL with z == q


def test_recorded_algo_life_triggering_triggered_finished() -> None:
    states = []
    for stage in ("triggering", "triggered", "finished"):
        frame = load(f"recorded/user_data_json/ALGO_UPDATE_{stage}_DOGEUSDT_2025-12-11.json")
        (update,) = user_events(unwrap(frame))
        assert isinstance(update, OrderUpdate)
        assert update.order.conditional
        assert update.order.client_order_id == "O-20251211-053131-TEST-000-1"
        assert update.order.exchange_id == "1000000033225453"
        assert update.order.trigger_price == D("0.13855")
        states.append((update.order.state, update.order.filled_qty))
    assert states == [
        (OrderState.TRIGGERING, 0),
        (OrderState.TRIGGERED, 0),
        (OrderState.FINISHED, D("38")),
    ]


def test_algo_update_with_a_failure_reason_is_a_rejection() -> None:
    (update,) = user_events(load("user_data_json/algo_update_canceled.json"))
    assert isinstance(update, OrderUpdate)
    assert update.order.state is OrderState.REJECTED
    assert update.reject_reason == "Reduce Only reject"


def test_account_update_gives_one_way_positions_only() -> None:
    updates = user_events(load("user_data_json/account_update.json"))
    assert updates == [
        PositionUpdate(PositionView("BTCUSDT", D(0), D(0), 1564745798939), time_ms=1564745798939)
    ]


def test_trade_lite_is_ignored_and_listen_key_expiry_is_reported() -> None:
    assert user_events(load("user_data_json/trade_lite.json")) == []
    expired = user_events({"e": "listenKeyExpired", "E": "1736996475556", "listenKey": "k"})
    assert expired == [KeyExpired(1736996475556)]


@pytest.mark.parametrize(
    "payload",
    [
        {"e": "SOMETHING_NEW", "E": 1},
        {"E": 1},
        {"e": "ORDER_TRADE_UPDATE", "E": 1, "o": {"s": "BTCUSDT"}},
        {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"P": [{"s": "BTCUSDT", "pa": 1.5}]}},
    ],
)
def test_malformed_or_unknown_payloads_raise_bad_payload(payload: Any) -> None:
    with pytest.raises(codec.BadPayload):
        user_events(payload)
