"""A legacy module's Binance parameters read strictly into an order (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exitd.control.orders import parse_kind, parse_order
from exitd.control.protocol import CommandError
from exitd.engine import OrderSide
from exitd.ops.metrics import OrderKind


def test_a_close_position_stop_as_legacy_code_builds_it() -> None:
    order = parse_order(
        "BTCUSDT",
        {
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "39000.1",
            "closePosition": "true",
            "newClientOrderId": "pm-1",
        },
    )
    assert order.side is OrderSide.SELL and order.conditional
    assert order.trigger_price == Decimal("39000.1") and order.close_position
    assert order.quantity is None and order.client_order_id == "pm-1"


def test_trigger_price_is_stop_price_and_an_id_is_made_when_missing() -> None:
    order = parse_order(
        "ETHUSDT",
        {"side": "BUY", "type": "LIMIT", "quantity": 2, "price": Decimal("1999.5"),
         "reduceOnly": True, "timeInForce": "GTC"},
    )  # fmt: skip
    assert order.quantity == 2 and order.price == Decimal("1999.5") and order.reduce_only
    assert not order.conditional and order.client_order_id.startswith("ctl-")
    same = parse_order("X", {"side": "BUY", "type": "STOP", "triggerPrice": "5", "stopPrice": 5})
    assert same.trigger_price == 5


@pytest.mark.parametrize(
    "order",
    [
        {"type": "MARKET"},
        {"side": "sell", "type": "MARKET"},
        {"side": "SELL", "type": "OCO"},
        {"side": "SELL", "type": "MARKET", "quantity": "1e999999999"},
        {"side": "SELL", "type": "MARKET", "quantity": "0"},
        {"side": "SELL", "type": "MARKET", "quantity": 1.5},
        {"side": "SELL", "type": "MARKET", "quantity": True},
        {"side": "SELL", "type": "MARKET", "reduceOnly": "yes"},
        {"side": "SELL", "type": "MARKET", "timeInForce": "DAY"},
        {"side": "SELL", "type": "MARKET", "newClientOrderId": "x" * 37},
        {"side": "SELL", "type": "MARKET", "newClientOrderId": "bad id"},
        {"side": "SELL", "type": "MARKET", "symbol": "ETHUSDT"},
        {"side": "SELL", "type": "STOP", "stopPrice": "1", "triggerPrice": "2"},
        {"side": "SELL", "type": "MARKET", "positionSide": "LONG"},
    ],
)
def test_anything_else_is_refused(order: dict[str, object]) -> None:
    with pytest.raises(CommandError):
        parse_order("BTCUSDT", order)


def test_kinds() -> None:
    assert parse_kind("SL") is OrderKind.SL
    for bad in ("stop", 3, None):
        with pytest.raises(CommandError):
            parse_kind(bad)
