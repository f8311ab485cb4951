"""Regression tests for bugs found in review of the simulator (each failed before its fix)."""

from __future__ import annotations

import json
from decimal import Decimal as D

import anyio
import pytest
from aiohttp import web
from server_harness import running
from websockets.asyncio.client import connect

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim import numbers, payloads
from exitd.exchange.sim.account import Accepted, AlgoParams, SimAccount
from exitd.exchange.sim.admin import jsonable
from exitd.exchange.sim.book import SimOrderType
from exitd.exchange.sim.streams import StreamHub
from exitd.exchange.sim.symbols import SYMBOLS

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _stop(trigger: str) -> dict[str, str]:
    return {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "triggerPrice": trigger,
        "quantity": "0.010",
        "reduceOnly": "true",
    }


async def test_all_algo_orders_lists_orders_placed_after_a_refused_one() -> None:
    # A refused algo order consumes an algoId, so the ids have a gap; the listing walked the
    # ids from 1 and stopped at the first gap, hiding every later order from ccxt's
    # fetchOrders(trigger=True).
    async with running() as (_ex, client):
        await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "65000"})
        await client.admin(
            "POST",
            "/sim/position",
            {"symbol": "BTCUSDT", "side": "LONG", "qty": "0.010", "price": "65000"},
        )
        refused = await client.call("POST", "/fapi/v1/algoOrder", _stop("66000"))
        assert refused.body["code"] == -2021
        placed = await client.call("POST", "/fapi/v1/algoOrder", _stop("64000"))
        assert placed.status == 200, placed.body
        listed = await client.call("GET", "/fapi/v1/allAlgoOrders", {"symbol": "BTCUSDT"})
        assert [o["algoId"] for o in listed.body] == [placed.body["algoId"]]


def test_a_short_closed_at_its_entry_prints_an_unsigned_zero() -> None:
    account = SimAccount(["BTCUSDT"])
    account.set_price("BTCUSDT", D("65000.00"), 1)
    account.open_position("BTCUSDT", Side.SHORT, D("0.010"), D("65000.00"), 2)
    result = account.place_order(
        "BTCUSDT", OrderSide.BUY, SimOrderType.MARKET, D("0.010"), 3, reduce_only=True
    )
    assert isinstance(result, Accepted)
    realized = account.ledger.fills[-1].realized_pnl
    assert realized == 0
    assert numbers.fixed(realized, 8) == "0.00000000"  # userTrades realizedPnl
    assert numbers.plain(realized) == "0"  # ORDER_TRADE_UPDATE rp, ACCOUNT_UPDATE cr
    assert numbers.fixed(D("-0.000000001"), 8) == "0.00000000"
    assert numbers.fixed(D("-1.5"), 2) == "-1.50"


def test_the_ledger_never_prints_decimals_with_an_exponent() -> None:
    account = SimAccount(["1000SHIBUSDT"])
    account.set_price("1000SHIBUSDT", D("0.000157"), 1)
    account.open_position("1000SHIBUSDT", Side.LONG, D("1"), D("0.000157"), 2)
    fill = jsonable(account.ledger.fills[-1])
    assert fill["commission"] == "0.0000000785"
    assert jsonable(D("1E+1")) == "10"


async def test_a_binary_frame_that_is_not_utf8_gets_an_answer_not_a_crash() -> None:
    hub = StreamHub(lambda: 1, ["BTCUSDT"])
    app = web.Application()
    app.add_routes(hub.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with connect(f"ws://127.0.0.1:{port}/market/stream") as ws:
            await ws.send(b"\xff\xfe")
            with anyio.fail_after(5):
                answer = json.loads(await ws.recv())
            assert answer["error"]["code"] == 3 and answer["id"] is None
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            with anyio.fail_after(5):
                assert json.loads(await ws.recv()) == {"result": [], "id": 1}
    finally:
        await hub.close()
        await runner.cleanup()


def test_callback_rate_is_printed_without_exponent() -> None:
    account = SimAccount(["BTCUSDT"])
    account.set_price("BTCUSDT", D("65000"), 1)
    account.open_position("BTCUSDT", Side.LONG, D("0.010"), D("65000"), 2)
    result = account.place_algo_order(
        "BTCUSDT",
        OrderSide.SELL,
        SimOrderType.TRAILING_STOP_MARKET,
        D("0.010"),
        3,
        params=AlgoParams(callback_rate=D("1E+1"), reduce_only=True),
    )
    assert isinstance(result, Accepted)
    assert payloads.algo_answer(SYMBOLS["BTCUSDT"], result.order)["callbackRate"] == "10"


async def test_batch_items_get_the_percent_price_and_notional_checks_of_a_single_order() -> None:
    # batchOrders parsed its items without the mark price, so a BUY far above the mark
    # (-4016) and a MARKET under the minimum notional (-4164) were accepted in a batch
    # though refused as single orders.
    async with running() as (_ex, client):
        await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "65000"})
        await client.admin("POST", "/sim/price", {"symbol": "ETHUSDT", "price": "3400"})
        batch = (
            '[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",'
            '"quantity":"0.002","price":"90000"},'
            '{"symbol":"ETHUSDT","side":"BUY","type":"MARKET","quantity":"0.001"}]'
        )
        answer = await client.call("POST", "/fapi/v1/batchOrders", {"batchOrders": batch})
        assert [item.get("code") for item in answer.body] == [-4016, -4164]
        for item in json.loads(batch):
            single = await client.call("POST", "/fapi/v1/order", item)
            assert single.body["code"] in (-4016, -4164)
