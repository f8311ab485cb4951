"""The official Binance SDK for USD-M futures (binance-sdk-derivatives-trading-usds-futures),
unchanged, against the simulator: configured only through its public configuration objects
(base path, websocket stream URL, API key and secret).

The SDK validates every answer against pydantic models generated from Binance's OpenAPI
spec; when an answer does not fit, it logs a warning and relaxes or drops the model. So
each test also fails on any warning the SDK logs: an answer shaped unlike the real one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    NewAlgoOrderAlgoTypeEnum,
    NewAlgoOrderClosePositionEnum,
    NewAlgoOrderSideEnum,
    NewAlgoOrderTypeEnum,
    NewAlgoOrderWorkingTypeEnum,
    NewOrderNewOrderRespTypeEnum,
    NewOrderReduceOnlyEnum,
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
)
from sim_thread import API_KEY, API_SECRET, RunningSim

from exitd.exchange.sim.symbols import SYMBOLS

SYMBOL = "BTCUSDT"
EVENT_TIMEOUT_S = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def no_sdk_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on any warning the SDK logs: a payload its models refused, an error frame, …"""
    caplog.set_level(logging.WARNING)
    yield
    logged = caplog.get_records("setup") + caplog.get_records("call")  # teardown sees its own
    complaints = [r.getMessage() for r in logged if r.levelno >= logging.WARNING]
    assert complaints == []


def _client(sim: RunningSim) -> DerivativesTradingUsdsFutures:
    return DerivativesTradingUsdsFutures(
        config_rest_api=ConfigurationRestAPI(
            api_key=API_KEY, api_secret=API_SECRET, base_path=sim.rest_url
        ),
        # The SDK appends "/stream" and then opens /market/stream, /public/stream and
        # /private/stream on this base: the simulator's websocket root is what it expects.
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=sim.ws_url),
    )


@pytest.fixture
def rest(sim: RunningSim) -> Any:
    return _client(sim).rest_api


def _d(value: str | None) -> Decimal:
    assert value is not None
    return Decimal(value)


def test_sdk_reads_exchange_info_mark_price_balance_and_positions(
    sim: RunningSim, rest: Any
) -> None:
    sim.price(SYMBOL, "65000")
    sim.position(SYMBOL, "LONG", "0.010", "65000")

    assert abs(rest.check_server_time().data().server_time - sim.clock_ms()) < 5_000
    info = rest.exchange_information().data()
    listed = {s.symbol: s for s in info.symbols}
    assert set(listed) == {"BTCUSDT", "ETHUSDT"}
    spec = SYMBOLS[SYMBOL]
    filters = {f.filter_type: f for f in listed[SYMBOL].filters}
    assert _d(filters["PRICE_FILTER"].tick_size) == Decimal(spec.tick_size)
    assert _d(filters["LOT_SIZE"].step_size) == Decimal(spec.step_size)
    assert _d(filters["LOT_SIZE"].min_qty) == Decimal(spec.min_qty)
    assert _d(filters["MIN_NOTIONAL"].notional) == Decimal(spec.min_notional)

    mark = rest.mark_price(symbol=SYMBOL).data().actual_instance
    assert (mark.symbol, _d(mark.mark_price)) == (SYMBOL, Decimal(65000))

    wallet = Decimal(sim.admin("GET", "/sim/ledger")["wallet_balance"])
    (usdt,) = rest.futures_account_balance_v3().data()
    assert (usdt.asset, _d(usdt.balance)) == ("USDT", wallet)
    # 650 USDT notional at the default 20x leverage holds 32.5 USDT of margin.
    assert _d(usdt.available_balance) == wallet - Decimal("32.5")

    (position,) = rest.position_information_v3(symbol=SYMBOL).data()
    assert position.symbol == SYMBOL
    assert position.position_side == "BOTH"
    assert _d(position.position_amt) == Decimal("0.010")
    assert _d(position.entry_price) == Decimal(65000)
    assert _d(position.mark_price) == Decimal(65000)


def test_sdk_places_lists_queries_and_cancels_a_limit_order(sim: RunningSim, rest: Any) -> None:
    sim.price(SYMBOL, "65000")

    placed = rest.new_order(
        symbol=SYMBOL,
        side=NewOrderSideEnum.BUY,
        type=NewOrderTypeEnum.LIMIT,
        time_in_force=NewOrderTimeInForceEnum.GTC,
        quantity=0.002,
        price=60000.0,
        new_client_order_id="sdk-limit-1",
    ).data()
    assert (placed.status, placed.client_order_id, placed.type) == ("NEW", "sdk-limit-1", "LIMIT")
    assert (_d(placed.orig_qty), _d(placed.price)) == (Decimal("0.002"), Decimal(60000))
    assert placed.order_id > 0

    (listed,) = rest.current_all_open_orders(symbol=SYMBOL).data()
    assert (listed.order_id, listed.status) == (placed.order_id, "NEW")

    queried = rest.query_order(symbol=SYMBOL, orig_client_order_id="sdk-limit-1").data()
    assert (queried.order_id, queried.status, queried.side) == (placed.order_id, "NEW", "BUY")
    assert _d(queried.executed_qty) == 0
    still_open = rest.query_current_open_order(symbol=SYMBOL, order_id=placed.order_id).data()
    assert still_open.order_id == placed.order_id

    cancelled = rest.cancel_order(symbol=SYMBOL, order_id=placed.order_id).data()
    assert (cancelled.order_id, cancelled.status) == (placed.order_id, "CANCELED")
    assert rest.query_order(symbol=SYMBOL, order_id=placed.order_id).data().status == "CANCELED"
    assert rest.current_all_open_orders(symbol=SYMBOL).data() == []


def test_sdk_places_and_cancels_a_stop_on_the_algo_endpoint(sim: RunningSim, rest: Any) -> None:
    sim.price(SYMBOL, "65000")
    sim.position(SYMBOL, "LONG", "0.010", "65000")

    stop = rest.new_algo_order(
        algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
        symbol=SYMBOL,
        side=NewAlgoOrderSideEnum.SELL,
        type=NewAlgoOrderTypeEnum.STOP_MARKET,
        trigger_price=60000.0,
        close_position=NewAlgoOrderClosePositionEnum.TRUE,
        working_type=NewAlgoOrderWorkingTypeEnum.MARK_PRICE,
        client_algo_id="sdk-stop-1",
    ).data()
    assert (stop.algo_status, stop.client_algo_id, stop.order_type) == (
        "NEW",
        "sdk-stop-1",
        "STOP_MARKET",
    )
    assert (stop.algo_type, stop.close_position, stop.working_type) == (
        "CONDITIONAL",
        True,
        "MARK_PRICE",
    )
    assert _d(stop.trigger_price) == Decimal(60000)

    (listed,) = rest.current_all_algo_open_orders(symbol=SYMBOL).data()
    assert (listed.algo_id, listed.algo_status) == (stop.algo_id, "NEW")
    # Conditional orders live in their own id space: not among the regular open orders.
    assert rest.current_all_open_orders(symbol=SYMBOL).data() == []
    queried = rest.query_algo_order(client_algo_id="sdk-stop-1").data()
    assert (queried.algo_id, queried.algo_status) == (stop.algo_id, "NEW")

    cancelled = rest.cancel_algo_order(algo_id=stop.algo_id).data()
    assert (cancelled.algo_id, cancelled.client_algo_id) == (stop.algo_id, "sdk-stop-1")
    assert (cancelled.code, cancelled.msg) == ("200", "success")
    assert rest.query_algo_order(algo_id=stop.algo_id).data().algo_status == "CANCELED"
    assert rest.current_all_algo_open_orders(symbol=SYMBOL).data() == []


def test_sdk_closes_a_position_with_a_reduce_only_market_order_and_reads_its_trades(
    sim: RunningSim, rest: Any
) -> None:
    sim.price(SYMBOL, "65000")
    sim.position(SYMBOL, "LONG", "0.010", "65000")
    sim.price(SYMBOL, "65100")

    closed = rest.new_order(
        symbol=SYMBOL,
        side=NewOrderSideEnum.SELL,
        type=NewOrderTypeEnum.MARKET,
        quantity=0.01,
        reduce_only=NewOrderReduceOnlyEnum.TRUE,
        new_order_resp_type=NewOrderNewOrderRespTypeEnum.RESULT,
    ).data()
    assert (closed.status, closed.reduce_only, closed.type) == ("FILLED", True, "MARKET")
    assert _d(closed.executed_qty) == Decimal("0.010")
    # v3 positionRisk lists only symbols with a position or open orders: none now.
    assert rest.position_information_v3(symbol=SYMBOL).data() == []

    entry, exit_ = rest.account_trade_list(symbol=SYMBOL).data()
    assert (entry.side, _d(entry.qty), _d(entry.price)) == ("BUY", Decimal("0.010"), Decimal(65000))
    assert (exit_.order_id, exit_.side, exit_.buyer) == (closed.order_id, "SELL", False)
    assert (_d(exit_.qty), _d(exit_.price)) == (Decimal("0.010"), Decimal(65100))
    assert _d(exit_.realized_pnl) == Decimal(1)  # 0.010 x (65100 - 65000)
    assert exit_.id > entry.id


@asynccontextmanager
async def _user_stream(
    sim: RunningSim,
) -> AsyncIterator[tuple[Any, MemoryObjectReceiveStream[Any]]]:
    """The SDK's REST client and the events of its user-data stream, as the SDK parsed them:
    listen key over REST, then the websocket streams client subscribed to it on /private."""
    client = _client(sim)
    rest = client.rest_api
    listen_key = (await anyio.to_thread.run_sync(rest.start_user_data_stream)).data().listen_key
    assert isinstance(listen_key, str)
    streams = client.websocket_streams
    send, received = anyio.create_memory_object_stream[Any](100)
    try:
        await streams.create_connection()  # type: ignore[no-untyped-call]
        assert sorted(c.url_path for c in streams.connections) == ["market", "private", "public"]
        handle = await streams.user_data(listen_key)
        handle.on("message", lambda event: send.send_nowait(event.actual_instance))
        # The SDK does not wait for SUBSCRIBE's answer; a LIST_SUBSCRIPTIONS answered on the
        # same connection proves the subscription is in place before any order is sent.
        private = next(c for c in streams.connections if c.url_path == "private")
        listing = {"method": "LIST_SUBSCRIPTIONS", "id": str(uuid.uuid4())}
        with anyio.fail_after(EVENT_TIMEOUT_S):
            answer = await (await streams.send_message(listing, private))
        assert answer["result"] == [listen_key]
        yield rest, received
    finally:
        send.close()
        received.close()
        await streams.close_connection(close_session=True)


async def _events_until(
    received: MemoryObjectReceiveStream[Any], last: Callable[[Any], bool]
) -> list[Any]:
    """Events in arrival order up to and including the first that `last` accepts."""
    events: list[Any] = []
    with anyio.fail_after(EVENT_TIMEOUT_S):
        while not events or not last(events[-1]):
            events.append(await received.receive())
    return events


def _kind(event: Any) -> str:
    return type(event).__name__


@pytest.mark.anyio
async def test_sdk_receives_order_trade_update_on_the_private_stream(sim: RunningSim) -> None:
    sim.price(SYMBOL, "65000")
    async with _user_stream(sim) as (rest, received):

        def place() -> Any:
            return rest.new_order(
                symbol=SYMBOL,
                side=NewOrderSideEnum.BUY,
                type=NewOrderTypeEnum.LIMIT,
                time_in_force=NewOrderTimeInForceEnum.GTC,
                quantity=0.002,
                price=60000.0,
                new_client_order_id="sdk-ws-1",
            ).data()

        placed = await anyio.to_thread.run_sync(place)
        (update,) = await _events_until(received, lambda e: _kind(e) == "OrderTradeUpdate")
        order = update.o
        assert (order.i, order.c, order.s) == (placed.order_id, "sdk-ws-1", SYMBOL)
        assert (order.x, order.X, order.o) == ("NEW", "NEW", "LIMIT")
        assert (order.S, order.f) == ("BUY", "GTC")
        assert (_d(order.q), _d(order.p)) == (Decimal("0.002"), Decimal(60000))
        assert _d(order.z) == 0

        def cancel() -> Any:
            return rest.cancel_order(symbol=SYMBOL, order_id=placed.order_id).data()

        await anyio.to_thread.run_sync(cancel)
        (update,) = await _events_until(received, lambda e: _kind(e) == "OrderTradeUpdate")
        assert (update.o.i, update.o.x, update.o.X) == (placed.order_id, "CANCELED", "CANCELED")


@pytest.mark.anyio
async def test_sdk_receives_a_triggered_stop_closing_the_position(sim: RunningSim) -> None:
    sim.price(SYMBOL, "65000")
    sim.position(SYMBOL, "LONG", "0.010", "65000")
    async with _user_stream(sim) as (rest, received):

        def place_stop() -> Any:
            return rest.new_algo_order(
                algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
                symbol=SYMBOL,
                side=NewAlgoOrderSideEnum.SELL,
                type=NewAlgoOrderTypeEnum.STOP_MARKET,
                trigger_price=64000.0,
                close_position=NewAlgoOrderClosePositionEnum.TRUE,
                working_type=NewAlgoOrderWorkingTypeEnum.MARK_PRICE,
                client_algo_id="sdk-ws-stop",
            ).data()

        stop = await anyio.to_thread.run_sync(place_stop)
        await anyio.to_thread.run_sync(sim.price, SYMBOL, "63900")
        events = await _events_until(
            received, lambda e: _kind(e) == "AlgoUpdate" and e.o.X == "FINISHED"
        )

    algo = [e.o for e in events if _kind(e) == "AlgoUpdate"]
    assert [a.X for a in algo] == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    assert {(a.aid, a.caid, a.o) for a in algo} == {(stop.algo_id, "sdk-ws-stop", "STOP_MARKET")}
    child_id = int(algo[-1].ai)
    (fill,) = [e.o for e in events if _kind(e) == "OrderTradeUpdate" and e.o.x == "TRADE"]
    assert (fill.i, fill.S, fill.X, fill.ot) == (child_id, "SELL", "FILLED", "STOP_MARKET")
    assert (_d(fill.l), _d(fill.L), _d(fill.rp)) == (Decimal("0.010"), Decimal(63900), Decimal(-11))
    (account,) = [e.a for e in events if _kind(e) == "AccountUpdate"]
    assert account.m == "ORDER"
    assert [(p.s, _d(p.pa)) for p in account.P] == [(SYMBOL, Decimal(0))]
