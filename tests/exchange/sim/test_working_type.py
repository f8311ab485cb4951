"""Mark price apart from the last trade: which one a conditional order watches (workingType),
on one symbol and through the server's trade and mark paths."""

from __future__ import annotations

from decimal import Decimal as D

import anyio
import orjson
import pytest
from server_harness import running
from websockets.asyncio.client import connect

from exitd.engine.model import OrderSide
from exitd.exchange.sim.book import AlgoStatus, BookOrder, SimOrderType, Trade, WorkingType
from exitd.exchange.sim.mark_cadence import MarkCadence
from exitd.exchange.sim.matching import SymbolMarket

pytestmark = pytest.mark.anyio
BUY, SELL = OrderSide.BUY, OrderSide.SELL


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _long_with_stop(working: WorkingType, trigger: str = "95") -> SymbolMarket:
    m = SymbolMarket("BTCUSDT")
    m.step(D(100), 0)
    m.submit(BookOrder(1, "entry", BUY, SimOrderType.MARKET, D(1)), 0)
    stop = BookOrder(
        2, "stop", SELL, SimOrderType.STOP_MARKET, D(1), trigger_price=D(trigger),
        reduce_only=True, working_type=working,
    )  # fmt: skip
    assert isinstance(m.submit(stop, 0), list)
    return m


def test_a_mark_price_stop_ignores_trades_and_fires_on_the_mark() -> None:
    m = _long_with_stop(WorkingType.MARK_PRICE)
    assert m.move(1, trade=D(90)) == []  # last trade through the stop, mark unmoved
    assert "stop" in m.conditionals
    events = m.move(2, mark=D(94))
    (fill,) = [e for e in events if isinstance(e, Trade)]
    # The child MARKET fills at the last trade, not at the mark.
    assert (fill.price, fill.qty, m.position) == (D(90), D(1), D(0))


def test_a_contract_price_stop_ignores_the_mark_and_fires_on_a_trade() -> None:
    m = _long_with_stop(WorkingType.CONTRACT_PRICE)
    assert m.move(1, mark=D(90)) == []
    assert "stop" in m.conditionals
    events = m.move(2, trade=D(94))
    assert [e.price for e in events if isinstance(e, Trade)] == [D(94)]
    assert m.mark_price == D(90)


def test_would_trigger_is_judged_on_the_watched_price() -> None:
    m = SymbolMarket("BTCUSDT")
    m.move(0, trade=D(100), mark=D(90))
    m.submit(BookOrder(1, "entry", BUY, SimOrderType.MARKET, D(1)), 0)

    def stop(oid: int, working: WorkingType) -> object:
        order = BookOrder(
            oid, f"s{oid}", SELL, SimOrderType.STOP_MARKET, D(1), trigger_price=D(95),
            reduce_only=True, working_type=working,
        )  # fmt: skip
        return m.submit(order, 1)

    assert isinstance(stop(2, WorkingType.CONTRACT_PRICE), list)  # 100 is above 95
    assert stop(3, WorkingType.MARK_PRICE) is not None
    assert "s3" not in m.conditionals  # the mark 90 is already through 95: -2021


def test_a_limit_crosses_only_on_a_trade() -> None:
    m = SymbolMarket("BTCUSDT")
    m.step(D(100), 0)
    m.submit(BookOrder(1, "bid", BUY, SimOrderType.LIMIT, D(1), price=D(98)), 0)
    assert m.move(1, mark=D(97)) == []
    assert [e.price for e in m.move(2, trade=D(97)) if isinstance(e, Trade)] == [D(98)]


async def test_server_trade_and_mark_paths_trigger_by_working_type() -> None:
    async with running() as (ex, client):
        await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "65000"})
        opened = await client.admin(
            "POST", "/sim/position", {"symbol": "BTCUSDT", "side": "LONG", "qty": "0.010",
                                      "price": "65000"},
        )  # fmt: skip
        assert opened.status == 200, opened.body
        for working, cid in (("MARK_PRICE", "mark-stop"), ("CONTRACT_PRICE", "last-stop")):
            answer = await client.call("POST", "/fapi/v1/algoOrder", {
                "algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL",
                "type": "STOP_MARKET", "quantity": "0.005", "triggerPrice": "64000",
                "reduceOnly": "true", "workingType": working, "clientAlgoId": cid,
            })  # fmt: skip
            assert answer.status == 200, answer.body
            assert answer.body["workingType"] == working
        ex.push_trade("BTCUSDT", D(63900), ex.clock())
        assert (ex.last_price("BTCUSDT"), ex.mark_price("BTCUSDT")) == (D(63900), D(65000))
        status = {o.client_order_id: o.algo_status for o in ex.account.all_algo_orders("BTCUSDT")}
        assert status == {"mark-stop": AlgoStatus.NEW, "last-stop": AlgoStatus.FINISHED}
        ex.push_mark("BTCUSDT", D(63950), ex.clock())
        status = {o.client_order_id: o.algo_status for o in ex.account.all_algo_orders("BTCUSDT")}
        assert status["mark-stop"] is AlgoStatus.FINISHED
        assert ex.account.position("BTCUSDT").amount == 0
        ticker = await client.call("GET", "/fapi/v1/ticker/price", {"symbol": "BTCUSDT"},
                                   signed=False)  # fmt: skip
        premium = await client.call("GET", "/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"},
                                    signed=False)  # fmt: skip
        assert D(ticker.body["price"]) == D(63900)
        assert D(premium.body["markPrice"]) == D(63950)


async def test_trades_and_marks_reach_their_own_streams() -> None:
    async with running() as (ex, _client):
        url = (f"{ex.ws_url}/market/stream?streams=btcusdt@aggTrade/btcusdt@markPrice/"
               "btcusdt@markPrice@1s/!markPrice@arr@1s")  # fmt: skip
        async with connect(url) as ws:

            async def next_frames(count: int) -> list[tuple[str, object]]:
                frames = []
                with anyio.fail_after(5):
                    for _ in range(count):
                        frame = orjson.loads(await ws.recv())
                        data = frame["data"]
                        price = data[0]["p"] if isinstance(data, list) else data["p"]
                        frames.append((frame["stream"], price))
                return frames

            ex.push_trade("BTCUSDT", D("65000.1"), ex.clock())
            ex.push_trade("BTCUSDT", D("65000.2"), ex.clock())
            ex.push_mark("BTCUSDT", D("64999.9"), ex.clock(), (MarkCadence.EVERY_1S,))
            ex.push_mark("BTCUSDT", D("64999.8"), ex.clock())
            frames = await next_frames(7)
        assert frames == [
            ("btcusdt@aggTrade", "65000.10"),
            ("btcusdt@aggTrade", "65000.20"),
            ("btcusdt@markPrice@1s", "64999.90000000"),
            ("!markPrice@arr@1s", "64999.90000000"),
            ("btcusdt@markPrice", "64999.80000000"),
            ("btcusdt@markPrice@1s", "64999.80000000"),
            ("!markPrice@arr@1s", "64999.80000000"),
        ]  # trades sent no mark; the 1 s-only mark missed the 3 s stream
