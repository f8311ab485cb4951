"""The adapter against a real simulator on 127.0.0.1:0, and a pump that turns a stream's
events into a queue the test waits on (with a timeout, never a sleep)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from exitd.exchange.binance import BinanceExchange
from exitd.exchange.binance.backoff import Backoff
from exitd.exchange.port import MarketStream
from exitd.exchange.sim.server import SimExchange
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, Client, running

WAIT_S = 5.0


def fast_backoff() -> Backoff:
    return Backoff(initial_s=0.05, cap_s=0.2)


@dataclass
class Rig:
    sim: SimExchange
    client: Client
    exchange: BinanceExchange

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = await self.client.admin(method, path, body)
        assert answer.status == 200, answer.body
        return answer.body

    async def price(self, symbol: str, price: str) -> Any:
        return await self.admin("POST", "/sim/price", {"symbol": symbol, "price": price})

    async def position(self, symbol: str, side: str, qty: str, price: str) -> Any:
        body = {"symbol": symbol, "side": side, "qty": qty, "price": price}
        return await self.admin("POST", "/sim/position", body)

    async def faults(self, body: dict[str, Any]) -> Any:
        return await self.admin("POST", "/sim/faults", body)


@asynccontextmanager
async def rig(**exchange_args: Any) -> AsyncIterator[Rig]:
    exchange_args.setdefault("backoff", fast_backoff)
    async with running() as (sim, client):
        exchange = BinanceExchange(sim.rest_url, sim.ws_url, API_KEY, API_SECRET, **exchange_args)
        async with exchange:
            yield Rig(sim, client, exchange)


class Events:
    """A stream's events, pumped by a task of the test's task group."""

    def __init__(self, receive: MemoryObjectReceiveStream[Any]) -> None:
        self._receive = receive

    async def next(self, matching: Callable[[Any], bool] = lambda _: True) -> Any:
        """The next event that matches (others are skipped), within WAIT_S."""
        with anyio.fail_after(WAIT_S):
            while True:
                event = await self._receive.receive()
                if matching(event):
                    return event

    async def until_end(self) -> list[Any]:
        """Every event left once the stream has ended, within WAIT_S."""
        with anyio.fail_after(WAIT_S):
            return [event async for event in self._receive]


def pump(tasks: TaskGroup, events: Any) -> Events:
    send: MemoryObjectSendStream[Any]
    send, receive = anyio.create_memory_object_stream[Any](1000)

    async def run() -> None:
        async with aclosing(events) as stream, send:
            async for event in stream:
                await send.send(event)

    tasks.start_soon(run)
    return Events(receive)


def pump_market(tasks: TaskGroup, stream: MarketStream) -> Events:
    """A market stream's events, delivered into a queue by a task running `stream.run`;
    the queue ends when `run` returns."""
    send: MemoryObjectSendStream[Any]
    send, receive = anyio.create_memory_object_stream[Any](10_000)

    async def run() -> None:
        async with send:
            await stream.run(send.send_nowait)

    tasks.start_soon(run)
    return Events(receive)


def D(value: str) -> Decimal:
    return Decimal(value)
