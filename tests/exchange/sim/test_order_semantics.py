"""Order semantics as Binance has them (binance-usdm.md §14), against the real server over
loopback: reduce-only orders outliving the position, the reduce-only checks, the event order
on a fill, the algo id space and echoed parameters, and the order faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest
from server_harness import Client, running

from exitd.exchange.sim.account import FIRST_ALGO_ID
from exitd.exchange.sim.server import SimExchange

pytestmark = pytest.mark.anyio
WAIT_S = 5
T0 = 1_765_431_097_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def price(client: Client, value: str) -> None:
    answer = await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": value})
    assert answer.status == 200, answer.body


async def long(client: Client, qty: str = "0.010") -> None:
    body = {"symbol": "BTCUSDT", "side": "LONG", "qty": qty, "price": "65000"}
    answer = await client.admin("POST", "/sim/position", body)
    assert answer.status == 200, answer.body


def stop(trigger: str, qty: str | None = "0.010", **extra: str) -> dict[str, str]:
    """A SELL STOP_MARKET: reduce-only with `qty`, close-position without."""
    body = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL"}
    body |= {"type": "STOP_MARKET", "triggerPrice": trigger}
    body |= {"quantity": qty, "reduceOnly": "true"} if qty else {"closePosition": "true"}
    return body | extra


def limit(side: str, qty: str, at: str, reduce_only: bool = True) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC",
            "quantity": qty, "price": at, "reduceOnly": str(reduce_only).lower()}  # fmt: skip


async def position_amount(client: Client) -> str:
    risk = await client.call("GET", "/fapi/v3/positionRisk", {"symbol": "BTCUSDT"})
    assert risk.status == 200, risk.body
    return str(risk.body[0]["positionAmt"]) if risk.body else "0"


async def algo(client: Client, algo_id: int) -> dict[str, Any]:
    answer = await client.call("GET", "/fapi/v1/algoOrder", {"algoId": algo_id})
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


@asynccontextmanager
async def user_data(
    ex: SimExchange, client: Client
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """The account's user-data stream, registered before it is handed out."""
    key = (await client.call("POST", "/fapi/v1/listenKey", signed=False)).body["listenKey"]
    async with client.session.ws_connect(f"{ex.ws_url}/private/ws?listenKey={key}") as ws:
        await drain(ws)
        yield ws


async def drain(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Every event sent before the answer to a request sent now."""
    await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 999})
    received = []
    with anyio.fail_after(WAIT_S):
        while (message := await ws.receive_json()).get("id") != 999:
            received.append(message)
    return received


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["e"], m["o"]["X"] if "o" in m else "") for m in events]


# --- 1. good-till-position stops and the reduce-only orders that outlive the position -------


async def test_plain_reduce_only_orders_stay_when_the_position_closes_close_position_expires() -> (
    None
):
    async with running() as (_ex, client):
        await price(client, "65000")
        await long(client)
        take_profit = stop("70000", type="TAKE_PROFIT_MARKET")
        tp = await client.call("POST", "/fapi/v1/algoOrder", take_profit)
        hard = await client.call("POST", "/fapi/v1/algoOrder", stop("60000", qty=None))
        resting = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.005", "71000"))
        assert (tp.status, hard.status, resting.status) == (200, 200, 200), resting.body
        close = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010"}
        assert (await client.call("POST", "/fapi/v1/order", close)).status == 200
        assert await position_amount(client) in ("0", "0.000")
        open_algos = await client.call("GET", "/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"})
        assert [o["algoId"] for o in open_algos.body] == [tp.body["algoId"]]
        assert (await algo(client, hard.body["algoId"]))["algoStatus"] == "EXPIRED"
        open_orders = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
        assert [o["orderId"] for o in open_orders.body] == [resting.body["orderId"]]


async def test_a_close_position_stop_without_a_position_is_refused_4509() -> None:
    async with running() as (_ex, client):
        await price(client, "65000")
        refused = await client.call("POST", "/fapi/v1/algoOrder", stop("60000", qty=None))
        assert refused.status == 400
        assert refused.body == {
            "code": -4509,
            "msg": "Time in Force (TIF) GTE can only be used with open positions.",
        }


# --- 2. reduce-only checks -----------------------------------------------------------------


async def test_regular_reduce_only_orders_are_checked_against_position_and_open_orders() -> None:
    async with running() as (_ex, client):
        await price(client, "65000")
        await long(client)
        first = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.008", "70000"))
        assert first.status == 200, first.body
        beyond = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.003", "70000"))
        assert (beyond.status, beyond.body["code"]) == (400, -4118)
        assert beyond.body["msg"] == (
            "ReduceOnly Order Failed. Please check your existing position and open orders"
        )
        fits = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.002", "70000"))
        assert fits.status == 200, fits.body
        wrong_side = await client.call("POST", "/fapi/v1/order", limit("BUY", "0.001", "60000"))
        assert wrong_side.body == {"code": -2022, "msg": "ReduceOnly Order is rejected."}


async def test_a_partial_reduce_only_stop_beyond_what_is_left_is_rejected_when_it_triggers() -> (
    None
):
    async with running() as (ex, client):
        await price(client, "65000")
        await long(client)
        target = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.008", "70000"))
        assert target.status == 200, target.body
        placed = await client.call("POST", "/fapi/v1/algoOrder", stop("64000", qty="0.005"))
        assert placed.status == 200, placed.body  # not checked at placement by default
        async with user_data(ex, client) as ws:
            await price(client, "63900")
            events = await drain(ws)
        assert kinds(events) == [("ALGO_UPDATE", "TRIGGERING"), ("ALGO_UPDATE", "REJECTED")]
        assert events[-1]["o"]["rm"] == "Reduce Only reject"
        assert (await algo(client, placed.body["algoId"]))["algoStatus"] == "REJECTED"
        assert await position_amount(client) == "0.010"


async def test_a_stop_for_the_whole_position_closes_it_beside_resting_take_profits() -> None:
    """Binance's FAQ: a reduce-only STOP_MARKET at least the position's size has priority over
    the open reduce-only orders (reduce_only.py)."""
    async with running() as (_ex, client):
        await price(client, "65000")
        await long(client)
        target = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.008", "70000"))
        assert target.status == 200, target.body
        placed = await client.call("POST", "/fapi/v1/algoOrder", stop("64000", qty="0.020"))
        assert placed.status == 200, placed.body
        await price(client, "63900")
        assert (await algo(client, placed.body["algoId"]))["algoStatus"] == "FINISHED"
        assert await position_amount(client) == "0.000"


async def test_the_placement_fault_refuses_a_make_before_break_stop_replacement() -> None:
    async with running() as (_ex, client):
        await price(client, "65000")
        await long(client)
        assert (await client.call("POST", "/fapi/v1/algoOrder", stop("64000"))).status == 200
        second = await client.call("POST", "/fapi/v1/algoOrder", stop("64500"))
        assert second.status == 200, second.body  # by default: checked only at trigger
        await client.call("DELETE", "/fapi/v1/algoOrder", {"algoId": second.body["algoId"]})
        await client.admin("POST", "/sim/faults", {"reduce_only_at_placement": True})
        refused = await client.call("POST", "/fapi/v1/algoOrder", stop("64500"))
        assert (refused.status, refused.body["code"]) == (400, -4118)
        wrong_side = await client.call(
            "POST", "/fapi/v1/algoOrder", stop("66000") | {"side": "BUY"}
        )
        assert wrong_side.body["code"] == -2022


# --- 3. event order --------------------------------------------------------------------------


async def test_fill_order_is_lite_account_order_and_child_before_triggered() -> None:
    async with running() as (ex, client):
        await price(client, "65000")
        async with user_data(ex, client) as ws:
            await long(client)
            entry = await drain(ws)
            placed = await client.call("POST", "/fapi/v1/algoOrder", stop("64000", qty=None))
            assert placed.status == 200, placed.body
            await price(client, "63900")
            stopped = await drain(ws)
        assert [m["e"] for m in entry] == [
            "ORDER_TRADE_UPDATE", "TRADE_LITE", "ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE",
        ]  # fmt: skip
        assert kinds(stopped) == [
            ("ALGO_UPDATE", "NEW"),
            ("ALGO_UPDATE", "TRIGGERING"),
            ("ORDER_TRADE_UPDATE", "NEW"),
            ("TRADE_LITE", ""),
            ("ACCOUNT_UPDATE", ""),
            ("ORDER_TRADE_UPDATE", "FILLED"),
            ("ALGO_UPDATE", "TRIGGERED"),
            ("ALGO_UPDATE", "FINISHED"),
        ]


async def _stopped_out_events(faults: dict[str, Any] | None) -> list[tuple[str, str]]:
    async with running() as (ex, client):
        await price(client, "65000")
        await long(client)
        await client.call("POST", "/fapi/v1/algoOrder", stop("64000", qty=None))
        if faults is not None:
            assert (await client.admin("POST", "/sim/faults", faults)).status == 200
        async with user_data(ex, client) as ws:
            await price(client, "63900")
            return kinds(await drain(ws))


async def test_the_shuffle_fault_reorders_one_moments_events_by_its_seed() -> None:
    plain = await _stopped_out_events(None)
    shuffled = await _stopped_out_events({"shuffle_events": True, "seed": 3})
    again = await _stopped_out_events({"shuffle_events": True, "seed": 3})
    assert shuffled != plain and sorted(shuffled) == sorted(plain)
    assert again == shuffled


# --- 4. ids and echoed parameters ------------------------------------------------------------


async def test_algo_ids_are_their_own_large_space_unknown_to_the_order_endpoints() -> None:
    async with running() as (_ex, client):
        await price(client, "65000")
        await long(client)
        placed = await client.call("POST", "/fapi/v1/algoOrder", stop("64000"))
        algo_id = placed.body["algoId"]
        assert algo_id >= FIRST_ALGO_ID
        query = {"symbol": "BTCUSDT", "orderId": algo_id}
        missing = await client.call("GET", "/fapi/v1/order", query)
        assert missing.body == {"code": -2013, "msg": "Order does not exist."}
        later = await client.call("POST", "/fapi/v1/algoOrder", stop("63000", qty="0.001"))
        assert later.body["algoId"] > algo_id


async def test_parameters_are_echoed_and_a_childs_rest_view_agrees_with_its_events() -> None:
    extra = {"priceProtect": "TRUE", "selfTradePreventionMode": "EXPIRE_BOTH",
             "workingType": "MARK_PRICE", "clientAlgoId": "hard-1"}  # fmt: skip
    async with running() as (ex, client):
        await price(client, "65000")
        await long(client)
        placed = await client.call("POST", "/fapi/v1/algoOrder", stop("64000", **extra))
        assert placed.status == 200, placed.body
        for body in (placed.body, await algo(client, placed.body["algoId"])):
            assert body["priceProtect"] is True
            assert body["selfTradePreventionMode"] == "EXPIRE_BOTH"
            assert body["workingType"] == "MARK_PRICE"
        async with user_data(ex, client) as ws:
            await price(client, "63900")
            events = await drain(ws)
        (filled,) = [
            m for m in events if m["e"] == "ORDER_TRADE_UPDATE" and m["o"]["X"] == "FILLED"
        ]
        (triggered,) = [m for m in events if m["e"] == "ALGO_UPDATE" and m["o"]["X"] == "TRIGGERED"]
        assert (triggered["o"]["pP"], triggered["o"]["V"]) == (True, "EXPIRE_BOTH")
        o = filled["o"]
        child_id = int(triggered["o"]["ai"])
        by_id = await client.call(
            "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": child_id}
        )
        by_client = await client.call(
            "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "hard-1"}
        )
        assert by_id.body == by_client.body
        rest = by_id.body
        assert (rest["orderId"], rest["clientOrderId"], rest["status"]) == (o["i"], o["c"], o["X"])
        assert (rest["type"], rest["origType"], rest["stopPrice"]) == (o["o"], o["ot"], o["sp"])
        assert (rest["executedQty"], rest["avgPrice"]) == (o["z"], o["ap"])
        assert (rest["reduceOnly"], rest["closePosition"]) == (o["R"], o["cp"])
        assert (
            (rest["workingType"], rest["priceProtect"])
            == (o["wt"], o["pP"])
            == ("MARK_PRICE", True)
        )
        assert rest["selfTradePreventionMode"] == o["V"] == "EXPIRE_BOTH"
        assert rest["origType"] == "STOP_MARKET" and rest["type"] == "MARKET"


async def test_trailing_takes_activate_price_and_refuses_the_old_activation_price() -> None:
    trailing = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                "type": "TRAILING_STOP_MARKET", "quantity": "0.010", "reduceOnly": "true",
                "callbackRate": "1"}  # fmt: skip
    async with running() as (_ex, client):
        await price(client, "65000")
        await long(client)
        placed = await client.call(
            "POST", "/fapi/v1/algoOrder", trailing | {"activatePrice": "66000"}
        )
        assert placed.status == 200, placed.body
        assert placed.body["activatePrice"] == "66000.00"
        old = await client.call(
            "POST", "/fapi/v1/algoOrder", trailing | {"activationPrice": "66000"}
        )
        assert old.status == 400
        assert old.body == {
            "code": -1106,
            "msg": "Parameter 'activationPrice' sent when not required.",
        }


# --- 5. lost orders and TRIGGERING -----------------------------------------------------------


async def test_orders_accepted_under_the_lost_fault_are_unknown_for_a_while() -> None:
    now = [T0]
    async with running(clock=lambda: now[0]) as (_ex, client):
        await price(client, "65000")
        await long(client)
        before = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.001", "70000"))
        await client.admin("POST", "/sim/faults", {"lost_orders": {"ms": 2000}})
        regular = await client.call("POST", "/fapi/v1/order", limit("SELL", "0.001", "71000"))
        conditional = await client.call("POST", "/fapi/v1/algoOrder", stop("64000", qty="0.001"))
        assert (regular.status, conditional.status) == (200, 200)
        by_id = {"symbol": "BTCUSDT", "orderId": regular.body["orderId"]}
        algo_id = {"algoId": conditional.body["algoId"]}
        assert (await client.call("GET", "/fapi/v1/order", by_id)).body["code"] == -2013
        assert (await client.call("DELETE", "/fapi/v1/order", by_id)).body["code"] == -2011
        assert (await client.call("GET", "/fapi/v1/algoOrder", algo_id)).body["code"] == -2013
        assert (await client.call("DELETE", "/fapi/v1/algoOrder", algo_id)).body["code"] == -2011
        found = {"symbol": "BTCUSDT", "orderId": before.body["orderId"]}
        assert (await client.call("GET", "/fapi/v1/order", found)).status == 200
        now[0] += 2000
        assert (await client.call("GET", "/fapi/v1/order", by_id)).body["status"] == "NEW"
        assert (await client.call("DELETE", "/fapi/v1/algoOrder", algo_id)).status == 200


async def test_an_algo_order_stays_triggering_until_the_fault_clears() -> None:
    async with running() as (ex, client):
        await price(client, "65000")
        await long(client)
        placed = await client.call("POST", "/fapi/v1/algoOrder", stop("64000", qty=None))
        await client.admin("POST", "/sim/faults", {"stuck_triggering": True})
        async with user_data(ex, client) as ws:
            await price(client, "63900")
            await price(client, "63800")
            held = await drain(ws)
            stuck = await algo(client, placed.body["algoId"])
            cancel = await client.call("DELETE", "/fapi/v1/algoOrder", {"algoId": stuck["algoId"]})
            amount = await position_amount(client)
            await client.admin("DELETE", "/sim/faults")
            released = await drain(ws)
        assert kinds(held) == [("ALGO_UPDATE", "TRIGGERING")]
        assert (stuck["algoStatus"], stuck["actualOrderId"]) == ("TRIGGERING", "")
        assert cancel.body["code"] == -2011 and amount == "0.010"
        assert kinds(released)[-2:] == [("ALGO_UPDATE", "TRIGGERED"), ("ALGO_UPDATE", "FINISHED")]
        assert await position_amount(client) in ("0", "0.000")


async def test_a_regular_orders_parameters_are_echoed_as_sent() -> None:
    async with running() as (ex, client):
        await price(client, "65000")
        gtd = ex.clock() + 3_600_000
        body = limit("BUY", "0.010", "60000", reduce_only=False)
        body |= {"timeInForce": "GTD", "goodTillDate": str(gtd),
                 "selfTradePreventionMode": "EXPIRE_TAKER"}  # fmt: skip
        placed = await client.call("POST", "/fapi/v1/order", body)
        assert placed.status == 200, placed.body
        query = {"symbol": "BTCUSDT", "orderId": placed.body["orderId"]}
        for answer in (placed.body, (await client.call("GET", "/fapi/v1/order", query)).body):
            assert (answer["timeInForce"], answer["goodTillDate"]) == ("GTD", gtd)
            assert answer["selfTradePreventionMode"] == "EXPIRE_TAKER"
