"""The adapter's writes against the simulator over loopback: on a warm connection the first
request of `place` and `cancel` reaches the exchange before the caller awaits anything, and
a write that times out is unknown (the order may exist: here it does)."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest
from binance_harness import D, pump, rig

from exitd.engine.model import OrderSide
from exitd.exchange.binance import BinanceExchange
from exitd.exchange.port import (
    Accepted,
    OrderRequest,
    OrderState,
    OrderUpdate,
    OrderView,
    Rejected,
    RejectKind,
    StreamReset,
    Unknown,
)
from tests.exchange.sim.server_harness import API_KEY, API_SECRET

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stop(cid: str, trigger: str) -> OrderRequest:
    return OrderRequest(
        "BTCUSDT", cid, OrderSide.SELL, "STOP_MARKET", D("0.010"), trigger_price=D(trigger),
        reduce_only=True,
    )  # fmt: skip


def update(cid: str, state: OrderState) -> Any:
    return lambda e: (
        isinstance(e, OrderUpdate) and e.order.client_order_id == cid and e.order.state is state
    )


async def test_place_and_cancel_reach_the_exchange_before_they_are_awaited() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        events = pump(tasks, r.exchange.user_events())
        assert (await events.next()) == StreamReset("connected")
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        placing = r.exchange.place(stop("xd-early-1", "58000"))
        new = await events.next(update("xd-early-1", OrderState.NEW))  # nobody awaited yet
        placed = await placing
        assert isinstance(placed, Accepted), placed
        assert placed.order.exchange_id == new.order.exchange_id
        cancelling = r.exchange.cancel("BTCUSDT", "xd-early-1", conditional=True)
        await events.next(update("xd-early-1", OrderState.CANCELED))
        cancelled = await cancelling  # the read-back happens in here
        assert isinstance(cancelled, Accepted), cancelled
        assert cancelled.order.state is OrderState.CANCELED and cancelled.order.conditional
        tasks.cancel_scope.cancel()


async def test_a_regular_cancel_reaches_the_exchange_before_it_is_awaited() -> None:
    async with rig() as r, anyio.create_task_group() as tasks:
        events = pump(tasks, r.exchange.user_events())
        assert (await events.next()) == StreamReset("connected")
        await r.price("BTCUSDT", "60000")
        limit = OrderRequest(
            "BTCUSDT", "xd-early-2", OrderSide.BUY, "LIMIT", D("0.002"), D("59000")
        )
        assert isinstance(await r.exchange.place(limit), Accepted)
        cancelling = r.exchange.cancel("BTCUSDT", "xd-early-2", conditional=False)
        await events.next(update("xd-early-2", OrderState.CANCELED))
        cancelled = await cancelling
        assert isinstance(cancelled, Accepted) and cancelled.order.state is OrderState.CANCELED
        tasks.cancel_scope.cancel()


async def test_a_write_without_an_answer_in_time_is_unknown_and_the_next_one_goes() -> None:
    async with rig(timeout_s=0.3) as r, anyio.create_task_group() as tasks:
        events = pump(tasks, r.exchange.user_events())
        assert (await events.next()) == StreamReset("connected")
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        await r.faults({"latency_ms": {"POST /fapi/v1/algoOrder": 1000}})
        outcome = await r.exchange.place(stop("xd-slow", "58000"))
        assert isinstance(outcome, Unknown) and "no answer within" in outcome.reason
        await events.next(update("xd-slow", OrderState.NEW))  # it was placed all the same
        await r.admin("DELETE", "/sim/faults")
        found = await r.exchange.query("BTCUSDT", "xd-slow", conditional=True)
        assert isinstance(found, OrderView) and found.state is OrderState.NEW
        again = await r.exchange.place(stop("xd-after", "57000"))
        assert isinstance(again, Accepted), again
        tasks.cancel_scope.cancel()


async def test_a_refused_connect_is_a_definite_rejection() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    exchange = BinanceExchange(url, url.replace("http", "ws"), API_KEY, API_SECRET)
    try:
        outcome = await exchange.place(stop("xd-nowhere", "58000"))
        assert isinstance(outcome, Rejected), outcome
        assert outcome.kind is RejectKind.OTHER and outcome.reason.startswith("connect failed")
        cancelled = await exchange.cancel("BTCUSDT", "xd-nowhere", conditional=False)
        assert isinstance(cancelled, Rejected) and cancelled.kind is RejectKind.OTHER
    finally:
        await exchange.aclose()
