import dataclasses
from decimal import Decimal

import pytest

from exitd.engine.model import OrderSide
from exitd.exchange.sim import params as p
from exitd.exchange.sim import symbols
from exitd.exchange.sim.errors import BinanceError

LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.010", "price": "65000.10"}  # fmt: skip
STOP = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
        "triggerPrice": "64000", "quantity": "0.010", "reduceOnly": "true"}  # fmt: skip
TRAIL = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
         "type": "TRAILING_STOP_MARKET", "callbackRate": "5", "quantity": "0.010"}  # fmt: skip


def _refused(fn: object, fields: dict[str, str], **kw: object) -> tuple[int, str]:
    with pytest.raises(BinanceError) as info:
        fn(fields, **kw)  # type: ignore[operator]
    return info.value.code, info.value.msg


def test_limit_order_parses_to_decimals() -> None:
    order = p.parse_new_order({**LIMIT, "newClientOrderId": "x-ab:c/1.2_3-4", "reduceOnly": "TRUE"})
    assert order.side is OrderSide.BUY
    assert order.quantity == Decimal("0.010") and order.price == Decimal("65000.10")
    assert order.time_in_force is p.TimeInForce.GTC
    assert order.reduce_only and order.client_order_id == "x-ab:c/1.2_3-4"


@pytest.mark.parametrize("tif", ["GTC", "IOC", "FOK", "GTX"])
def test_time_in_force_values(tif: str) -> None:
    assert p.parse_new_order({**LIMIT, "timeInForce": tif}).time_in_force is p.TimeInForce(tif)


def test_market_order_and_its_notional_at_mark() -> None:
    market = {"symbol": "XRPUSDT", "side": "SELL", "type": "MARKET", "quantity": "10"}
    assert p.parse_new_order(market).price is None
    assert _refused(p.parse_new_order, market, mark_price=Decimal("0.4"))[0] == -4164
    p.parse_new_order({**market, "reduceOnly": "true"}, mark_price=Decimal("0.4"))


@pytest.mark.parametrize(
    ("change", "code", "msg"),
    [
        ({"symbol": "NOPE"}, -1121, "Invalid symbol."),
        ({"side": "LONG"}, -1117, "Invalid side."),
        ({"type": "LIMITED"}, -1116, "Invalid orderType."),
        ({"type": "STOP_MARKET"}, -4120, "Order type not supported for this endpoint. "
         "Please use the Algo Order API endpoints instead."),
        ({"timeInForce": "DAY"}, -1115, "Invalid timeInForce."),
        ({"price": ""}, -1102, "Mandatory parameter 'price' was not sent, was empty/null, "
         "or malformed."),
        ({"quantity": "0.0105"}, -1111, "Precision is over the maximum defined for this asset."),
        ({"price": "65000.123"}, -1111, "Precision is over the maximum defined for this asset."),
        ({"price": "65000.05"}, -4014, "Price not increased by tick size."),
        ({"price": "401"}, -4013, "Price less than min price."),
        ({"price": "2000000"}, -4002, "Price greater than max price."),
        ({"quantity": "0"}, -4003, "Quantity less than zero."),
        ({"quantity": "1001"}, -4005, "Quantity greater than max quantity."),
        ({"quantity": "1e3"}, -1100, "Illegal characters found in a parameter."),
        ({"price": "100.00", "quantity": "0.010"}, -4013, "Price less than min price."),
        ({"price": "500.0", "quantity": "0.010"}, -4164, "Order's notional must be no smaller "
         "than 10 (unless you choose reduce only)."),
        ({"newClientOrderId": "bad id"}, -4015, "Client order id is not valid."),
        ({"newClientOrderId": "a" * 37}, -4015, "Client order id length should not be more "
         "than 36 chars"),
        ({"reduceOnly": "yes"}, -4062, "Invalid or improper reduceOnly value."),
        ({"positionSide": "LONG"}, -4061, "Order's position side does not match user's "
         "setting."),
        ({"positionSide": "UP"}, -4060, "Invalid position side."),
        ({"newOrderRespType": "FULL"}, -1136, "Invalid newOrderRespType."),
    ],
)  # fmt: skip
def test_new_order_refusals(change: dict[str, str], code: int, msg: str) -> None:
    assert _refused(p.parse_new_order, {**LIMIT, **change}) == (code, msg)


def test_price_on_market_is_not_required() -> None:
    market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
              "price": "1"}  # fmt: skip
    assert _refused(p.parse_new_order, market) == (
        -1106,
        "Parameter 'price' sent when not required.",
    )


def test_reduce_only_limit_below_min_notional_passes() -> None:
    p.parse_new_order({**LIMIT, "price": "500.0", "reduceOnly": "true"})


def test_percent_price_against_mark() -> None:
    mark = Decimal("60000")
    assert _refused(p.parse_new_order, {**LIMIT, "price": "66000.10"}, mark_price=mark)[0] == -4016
    sell = {**LIMIT, "side": "SELL", "price": "32000.00"}
    assert _refused(p.parse_new_order, sell, mark_price=mark)[0] == -4024


def test_gtd_needs_a_good_till_date_far_enough_ahead() -> None:
    gtd = {**LIMIT, "timeInForce": "GTD"}
    assert _refused(p.parse_new_order, gtd)[0] == -1102
    now = 1_700_000_000_000
    assert _refused(p.parse_new_order, {**gtd, "goodTillDate": str(now + 600_000)},
                    now_ms=now)[0] == -5040  # fmt: skip
    order = p.parse_new_order({**gtd, "goodTillDate": str(now + 600_001)}, now_ms=now)
    assert order.good_till_date == now + 600_001


def test_batch_items_are_refused_one_by_one() -> None:
    batch = '[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",' \
            '"quantity":"0.010","price":"65000.10"},{"symbol":"BTCUSDT","side":"BUY",' \
            '"type":"STOP_MARKET","quantity":"0.01","stopPrice":"70000"}]'  # fmt: skip
    results = p.parse_batch_orders({"batchOrders": batch})
    assert isinstance(results[0], p.NewOrder)
    assert isinstance(results[1], BinanceError) and results[1].code == -4120
    assert _refused(p.parse_batch_orders, {"batchOrders": "[" + ",".join(["{}"] * 6) + "]"})[0] \
        == -4082  # fmt: skip
    assert _refused(p.parse_batch_orders, {"batchOrders": "nope"})[0] == -1102
    assert _refused(p.parse_batch_orders, {})[0] == -1102


def test_stop_market_algo_order() -> None:
    order = p.parse_new_algo_order({**STOP, "priceProtect": "TRUE", "workingType": "MARK_PRICE"})
    stop = order.conditions
    assert stop.trigger_price == Decimal("64000") and stop.reduce_only and order.price_protect
    assert stop.working_type is p.WorkingType.MARK_PRICE
    assert stop.time_in_force is p.TimeInForce.GTC


def test_ccxt_new_client_order_id_stands_in_for_client_algo_id() -> None:
    assert p.parse_new_algo_order({**STOP, "newClientOrderId": "x-1"}).client_algo_id == "x-1"
    both = {**STOP, "newClientOrderId": "x-1", "clientAlgoId": "a-2"}
    assert p.parse_new_algo_order(both).client_algo_id == "a-2"


def test_close_position_stop() -> None:
    close = {k: v for k, v in STOP.items() if k not in ("quantity", "reduceOnly")}
    order = p.parse_new_algo_order({**close, "closePosition": "true"})
    assert order.conditions.close_position and order.quantity is None
    assert _refused(p.parse_new_algo_order, {**close, "closePosition": "true",
                                             "quantity": "0.01"})[0] == -4137  # fmt: skip
    assert _refused(p.parse_new_algo_order, {**close, "closePosition": "true",
                                             "reduceOnly": "true"})[0] == -4138  # fmt: skip


def test_trailing_stop_and_callback_rate_range() -> None:
    order = p.parse_new_algo_order({**TRAIL, "activatePrice": "66000"})
    trail = order.conditions
    assert trail.callback_rate == Decimal("5") and trail.activation_price == Decimal("66000")
    p.parse_new_algo_order({**TRAIL, "callbackRate": "0.1"})
    p.parse_new_algo_order({**TRAIL, "callbackRate": "20"})
    for rate in ("0.09", "20.1"):
        assert _refused(p.parse_new_algo_order, {**TRAIL, "callbackRate": rate})[0] == -4136


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({**STOP, "algoType": "OCO"}, -1130),
        ({**STOP, "type": "LIMIT"}, -1116),
        ({**STOP, "triggerPrice": ""}, -1102),
        ({**STOP, "price": "64000"}, -1106),
        ({**STOP, "type": "STOP"}, -1102),
        ({**STOP, "callbackRate": "1"}, -1106),
        ({**TRAIL, "triggerPrice": "1"}, -1106),
        ({**TRAIL, "callbackRate": ""}, -1102),
        ({**STOP, "quantity": ""}, -1102),
        ({**STOP, "timeInForce": "GTX"}, -1115),
        ({**STOP, "workingType": "LAST"}, -4031),
        ({**STOP, "priceProtect": "maybe"}, -1130),
        ({**STOP, "triggerPrice": "64000.01"}, -4014),
        ({**STOP, "reduceOnly": "false", "quantity": "0.001", "triggerPrice": "5000"}, -4164),
        ({**STOP, "type": "STOP", "price": "64000", "closePosition": "true"}, -1106),
        ({**STOP, "clientAlgoId": "no spaces"}, -4015),
    ],
)  # fmt: skip
def test_algo_order_refusals(fields: dict[str, str], code: int) -> None:
    assert _refused(p.parse_new_algo_order, fields)[0] == code


def test_cancel_order_by_either_id() -> None:
    assert p.parse_cancel_order({"symbol": "BTCUSDT", "orderId": "7"}).order_id == 7
    c = p.parse_cancel_order({"symbol": "BTCUSDT", "origClientOrderId": "abc"})
    assert c.orig_client_order_id == "abc" and c.order_id is None
    assert _refused(p.parse_cancel_order, {"symbol": "BTCUSDT"}) == (
        -1102,
        "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
    )
    assert _refused(p.parse_cancel_order, {"orderId": "7"})[0] == -1102
    assert _refused(p.parse_cancel_order, {"symbol": "X", "orderId": "7"})[0] == -1121
    assert _refused(p.parse_cancel_order, {"symbol": "BTCUSDT", "orderId": "7x"})[0] == -1100


def test_cancel_algo_order_tolerates_ccxt_symbol() -> None:
    c = p.parse_cancel_algo_order({"symbol": "BTCUSDT", "algoId": "3386"})
    assert c == p.CancelAlgoOrder(3386, None)
    assert p.parse_cancel_algo_order({"clientAlgoId": "a"}).client_algo_id == "a"
    assert _refused(p.parse_cancel_algo_order, {"symbol": "BTCUSDT"})[0] == -1102


def test_missing_symbol_names_it() -> None:
    fields = {k: v for k, v in LIMIT.items() if k != "symbol"}
    assert _refused(p.parse_new_order, fields) == (
        -1102,
        "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
    )


def test_negative_price_is_4001() -> None:
    assert _refused(p.parse_new_order, {**LIMIT, "price": "-1"}) == (-4001, "Price less than 0.")


def test_market_orders_use_market_lot_size() -> None:
    market = {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "20001"}
    assert _refused(p.parse_new_order, market)[0] == -4005
    limit = {**market, "type": "LIMIT", "timeInForce": "GTC", "price": "300.000"}
    assert p.parse_new_order(limit).quantity == Decimal("20001")


def test_quantity_below_min_when_min_is_above_step() -> None:
    spec = symbols.SYMBOLS["BTCUSDT"]
    wide = dataclasses.replace(spec, min_qty="0.010")
    with pytest.raises(BinanceError) as info:
        symbols.check_quantity(wide, Decimal("0.005"), market=False)
    assert (info.value.code, info.value.msg) == (-4004, "Quantity less than min quantity.")


def test_notional_exactly_at_the_minimum_passes() -> None:
    symbols.check_notional(symbols.SYMBOLS["BTCUSDT"], Decimal("0.001"), Decimal("10000"),
                           reduce_only=False)  # fmt: skip


def test_result_response_type_and_json_numbers_in_a_batch() -> None:
    assert p.parse_new_order({**LIMIT, "newOrderRespType": "RESULT"}).resp_type is p.RespType.RESULT
    batch = '[{"symbol":"BTCUSDT","side":"SELL","type":"LIMIT","timeInForce":"GTC",' \
            '"quantity":0.01,"price":"65000.10","reduceOnly":true}]'  # fmt: skip
    (order,) = p.parse_batch_orders({"batchOrders": batch})
    assert isinstance(order, p.NewOrder)
    assert order.quantity == Decimal("0.01") and order.reduce_only


def test_close_position_value_must_be_a_boolean() -> None:
    fields = {**STOP, "closePosition": "maybe"}
    assert _refused(p.parse_new_algo_order, fields) == (
        -1130,
        "Data sent for parameter 'closePosition' is not valid.",
    )


def test_activate_price_on_tick() -> None:
    assert _refused(p.parse_new_algo_order, {**TRAIL, "activatePrice": "66000.01"})[0] == -4014


def test_stop_limit_algo_order_keeps_both_prices() -> None:
    stop = {**STOP, "type": "STOP", "price": "63900", "timeInForce": "IOC"}
    order = p.parse_new_algo_order(stop).conditions
    assert order.price == Decimal("63900") and order.trigger_price == Decimal("64000")
    assert order.time_in_force is p.TimeInForce.IOC
