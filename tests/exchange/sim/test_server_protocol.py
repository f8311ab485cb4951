"""Protocol tests: the real server on 127.0.0.1:0, real signed requests."""

from __future__ import annotations

from typing import Any

import pytest
from server_harness import API_KEY, Answer, Client, running

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _limit(price: str = "60000.00", qty: str = "0.002", **extra: Any) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        **extra,
    }


def _error(answer: Answer, code: int, status: int = 400) -> None:
    assert (answer.status, answer.body["code"]) == (status, code), answer.body
    assert isinstance(answer.body["msg"], str)
    assert "X-MBX-USED-WEIGHT-1M" in answer.headers


async def _price(client: Client, price: str, symbol: str = "BTCUSDT") -> Answer:
    answer = await client.admin("POST", "/sim/price", {"symbol": symbol, "price": price})
    assert answer.status == 200, answer.body
    return answer


async def test_time_ping_and_weight_header() -> None:
    async with running() as (_ex, client):
        answer = await client.call("GET", "/fapi/v1/time", signed=False, key=None)
        assert answer.status == 200
        assert isinstance(answer.body["serverTime"], int)
        assert answer.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert (await client.call("GET", "/fapi/v1/ping", signed=False)).body == {}
        info = await client.call("GET", "/fapi/v1/exchangeInfo", signed=False)
        assert [s["symbol"] for s in info.body["symbols"]] == ["BTCUSDT", "ETHUSDT"]


async def test_wrong_signature_is_1022() -> None:
    async with running() as (_ex, client):
        answer = await client.call("GET", "/fapi/v2/balance", secret="not-the-secret")
        _error(answer, -1022)
        assert answer.body["msg"] == "Signature for this request is not valid."


async def test_stale_timestamp_is_1021() -> None:
    async with running() as (_ex, client):
        answer = await client.call("GET", "/fapi/v2/balance", timestamp=client.clock() - 10_000)
        _error(answer, -1021)
        assert answer.body["msg"] == "Timestamp for this request is outside of the recvWindow."


async def test_unknown_or_missing_api_key() -> None:
    async with running() as (_ex, client):
        _error(await client.call("GET", "/fapi/v2/balance", key="someone-else"), -2015, 401)
        _error(await client.call("GET", "/fapi/v2/balance", key=None), -2014)


async def test_unknown_api_keys_are_not_given_order_counters() -> None:
    # The limiter kept an order-count window for any X-MBX-APIKEY it was sent, before the key
    # was checked: random keys grew its memory without bound.
    async with running() as (ex, client):
        for n in range(20):
            answer = await client.call("POST", "/fapi/v1/order", _limit(), key=f"random-{n}")
            assert answer.body["code"] == -2015
            assert "X-MBX-USED-WEIGHT-1M" in answer.headers  # the IP weight is still charged
        assert ex.limiter._accounts == {}
        placed = await client.call("POST", "/fapi/v1/order", _limit())
        assert placed.headers["X-MBX-ORDER-COUNT-10S"] == "1"


async def test_unknown_symbol_is_1121() -> None:
    async with running() as (_ex, client):
        answer = await client.call("POST", "/fapi/v1/order", _limit(symbol="NOPEUSDT"))
        _error(answer, -1121)
        assert answer.body["msg"] == "Invalid symbol."
        # listed by the simulator's tables but not by this exchange
        _error(await client.call("GET", "/fapi/v1/openOrders", {"symbol": "XRPUSDT"}), -1121)


async def test_bad_quantity_gets_the_exchange_code() -> None:
    async with running() as (_ex, client):
        _error(await client.call("POST", "/fapi/v1/order", _limit(qty="0.0005")), -1111)
        _error(await client.call("POST", "/fapi/v1/order", _limit(qty="0")), -4003)


async def test_stop_market_on_the_order_endpoint_is_4120() -> None:
    async with running() as (_ex, client):
        params = {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "60000",
            "closePosition": "true",
        }
        answer = await client.call("POST", "/fapi/v1/order", params)
        _error(answer, -4120)
        assert answer.body["msg"].startswith("Order type not supported for this endpoint.")


async def test_limit_order_place_query_cancel() -> None:
    async with running() as (_ex, client):
        await _price(client, "65000")
        placed = await client.call("POST", "/fapi/v1/order", _limit(newClientOrderId="xd-limit-1"))
        assert placed.status == 200, placed.body
        assert placed.body["status"] == "NEW"
        assert placed.headers["X-MBX-ORDER-COUNT-10S"] == "1"
        assert placed.headers["X-MBX-ORDER-COUNT-1M"] == "1"
        order_id = placed.body["orderId"]
        query = await client.call(
            "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "xd-limit-1"}
        )
        assert query.body["orderId"] == order_id and query.body["price"] == "60000.00"
        listed = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
        assert [o["orderId"] for o in listed.body] == [order_id]
        cancel = await client.call(
            "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": order_id}
        )
        assert cancel.body["status"] == "CANCELED"
        again = await client.call(
            "DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": order_id}
        )
        _error(again, -2011)
        gone = await client.call(
            "GET", "/fapi/v1/openOrder", {"symbol": "BTCUSDT", "orderId": order_id}
        )
        _error(gone, -2013)


async def _long(client: Client, qty: str = "0.010", price: str = "65000") -> None:
    body = {"symbol": "BTCUSDT", "side": "LONG", "qty": qty, "price": price}
    answer = await client.admin("POST", "/sim/position", body)
    assert answer.status == 200, answer.body


async def test_stop_market_place_and_cancel_on_the_algo_endpoint() -> None:
    async with running() as (_ex, client):
        await _price(client, "65000")
        await _long(client)
        params = {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "64000",
            "quantity": "0.010",
            "reduceOnly": "true",
            "clientAlgoId": "xd-sl-1",
        }
        placed = await client.call("POST", "/fapi/v1/algoOrder", params)
        assert placed.status == 200, placed.body
        assert placed.body["algoStatus"] == "NEW" and placed.body["triggerPrice"] == "64000.00"
        assert "X-MBX-ORDER-COUNT-10S" in placed.headers
        listed = await client.call("GET", "/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"})
        assert [o["clientAlgoId"] for o in listed.body] == ["xd-sl-1"]
        # invisible to the regular endpoints
        assert (await client.call("GET", "/fapi/v1/openOrders")).body == []
        cancel = await client.call("DELETE", "/fapi/v1/algoOrder", {"clientAlgoId": "xd-sl-1"})
        assert cancel.body == {
            "algoId": placed.body["algoId"],
            "clientAlgoId": "xd-sl-1",
            "code": "200",
            "msg": "success",
        }
        query = await client.call("GET", "/fapi/v1/algoOrder", {"algoId": placed.body["algoId"]})
        assert query.body["algoStatus"] == "CANCELED"


async def test_admin_position_and_price_fill_a_stop_then_flat() -> None:
    async with running() as (_ex, client):
        await _price(client, "65000")
        await _long(client)
        risk = await client.call("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
        assert risk.body[0]["positionAmt"] == "0.010"
        params = {
            "algoType": "CONDITIONAL",
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "64000",
            "closePosition": "true",
        }
        assert (await client.call("POST", "/fapi/v1/algoOrder", params)).status == 200
        assert (await _price(client, "64500")).body["fills"] == []
        fills = (await _price(client, "63900")).body["fills"]
        assert [(f["side"], f["qty"]) for f in fills] == [("SELL", "0.010")]
        risk = await client.call("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
        assert risk.body[0]["positionAmt"] == "0.000"
        assert (await client.call("GET", "/fapi/v3/positionRisk")).body == []
        trades = await client.call("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"})
        assert [t["side"] for t in trades.body] == ["BUY", "SELL"]
        ledger = await client.admin("GET", "/sim/ledger")
        assert len(ledger.body["symbols"]["BTCUSDT"]["fills"]) == 2


async def test_batch_orders_answer_each_item() -> None:
    async with running() as (_ex, client):
        await _price(client, "65000")
        batch = (
            '[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",'
            '"quantity":"0.002","price":"60000"},'
            '{"symbol":"BTCUSDT","side":"SELL","type":"STOP_MARKET","quantity":"0.002"}]'
        )
        answer = await client.call("POST", "/fapi/v1/batchOrders", {"batchOrders": batch})
        assert answer.body[0]["status"] == "NEW"
        assert answer.body[1]["code"] == -4120
        cancel = await client.call(
            "DELETE",
            "/fapi/v1/batchOrders",
            {"symbol": "BTCUSDT", "orderidlist": f"[{answer.body[0]['orderId']}, 999]"},
        )
        assert cancel.body[0]["status"] == "CANCELED" and cancel.body[1]["code"] == -2011


async def test_listen_key_is_key_only() -> None:
    async with running() as (_ex, client):
        created = await client.call("POST", "/fapi/v1/listenKey", signed=False)
        key = created.body["listenKey"]
        again = await client.call("POST", "/fapi/v1/listenKey", signed=False)
        assert again.body["listenKey"] == key
        kept = await client.call("PUT", "/fapi/v1/listenKey", signed=False)
        assert kept.body == {"listenKey": key}
        assert (await client.call("DELETE", "/fapi/v1/listenKey", signed=False)).body == {}
        _error(await client.call("POST", "/fapi/v1/listenKey", signed=False, key=None), -2014)


async def test_account_settings_endpoints() -> None:
    async with running() as (_ex, client):
        dual = await client.call("GET", "/fapi/v1/positionSide/dual")
        assert dual.body == {"dualSidePosition": False}
        lev = await client.call("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "7"})
        assert lev.body["leverage"] == 7
        config = await client.call("GET", "/fapi/v1/symbolConfig", {"symbol": "BTCUSDT"})
        assert config.body[0]["leverage"] == 7
        _error(
            await client.call(
                "POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "CROSSED"}
            ),
            -4046,
        )
        mark = await client.call("GET", "/fapi/v1/premiumIndex", signed=False)
        assert isinstance(mark.body, list)


async def test_unexpected_exception_is_a_500_with_1000(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running() as (ex, client):

        def broken(symbol: str | None = None) -> list[Any]:
            raise RuntimeError("boom")

        monkeypatch.setattr(ex.account, "open_orders", broken)
        answer = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
        _error(answer, -1000, 500)
        assert (await client.call("GET", "/fapi/v1/time", signed=False)).status == 200


async def test_admin_prices_off_the_symbols_tick_are_refused() -> None:
    # BTCUSDT's tick is 0.10: an off-grid mark made every fill at it off the grid too.
    async with running() as (ex, client):
        refused = await client.admin(
            "POST", "/sim/price", {"symbol": "BTCUSDT", "price": "65000.05"}
        )
        assert refused.status == 400 and "tick size 0.10" in refused.body["error"]
        position = {"symbol": "BTCUSDT", "side": "LONG", "qty": "0.010", "price": "65000.01"}
        refused = await client.admin("POST", "/sim/position", position)
        assert refused.status == 400 and "tick size 0.10" in refused.body["error"]
        assert ex.mark_price("BTCUSDT") is None and ex.account.position("BTCUSDT").amount == 0
        accepted = await client.admin(
            "POST", "/sim/price", {"symbol": "BTCUSDT", "price": "65000.1"}
        )
        assert accepted.status == 200


async def test_admin_bad_input_is_400() -> None:
    async with running() as (_ex, client):
        bad = await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "abc"})
        assert bad.status == 400 and "price" in bad.body["error"]
        side = await client.admin(
            "POST", "/sim/position", {"symbol": "BTCUSDT", "side": "UP", "qty": "1", "price": "1"}
        )
        assert side.status == 400 and "side" in side.body["error"]
        unknown = await client.admin("POST", "/sim/price", {"symbol": "NOPE", "price": "1"})
        assert unknown.status == 400


async def test_reset_forgets_the_account() -> None:
    async with running() as (_ex, client):
        await _price(client, "65000")
        await _long(client)
        assert (await client.admin("POST", "/sim/reset")).status == 200
        risk = await client.call("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})
        assert risk.body[0]["positionAmt"] == "0.000"


async def test_admin_refuses_non_loopback_peers() -> None:
    from unittest import mock  # noqa: PLC0415

    from aiohttp.test_utils import make_mocked_request  # noqa: PLC0415

    async with running() as (ex, _client):
        transport = mock.Mock()
        transport.get_extra_info.return_value = ("10.0.0.9", 4242)
        request = make_mocked_request("POST", "/sim/reset", transport=transport, app=ex.app)
        match = await ex.app.router.resolve(request)
        response = await match.handler(request)
        assert response.status == 403
        assert API_KEY  # the server was never touched


async def test_signature_over_query_and_form_body_together() -> None:
    """ccxt signs a form body; Binance signs query + body concatenated (§2)."""
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415
    from urllib.parse import urlencode  # noqa: PLC0415

    from server_harness import API_SECRET  # noqa: PLC0415

    async with running() as (_ex, client):
        await _price(client, "65000")
        query = "symbol=BTCUSDT&side=BUY"
        body = urlencode({**_limit(), "timestamp": client.clock()}).replace(
            "symbol=BTCUSDT&side=BUY&", ""
        )
        sig = hmac.new(API_SECRET.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        async with client.session.post(
            f"{client.base}/fapi/v1/order?{query}",
            data=f"{body}&signature={sig}",
            headers={"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            answer = await response.json()
        assert response.status == 200, answer
        assert answer["side"] == "BUY" and answer["status"] == "NEW"
