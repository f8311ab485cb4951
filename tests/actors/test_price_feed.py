"""The price feed hands each mark to its symbol, and a market stream that ends is a crash the
supervisor restarts, subscribing everything again, never a quiet stop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal as D

import anyio
import pytest

from exitd.actors.price_feed import PriceFeed
from exitd.actors.runtime import RestartPolicy, Supervisor
from exitd.exchange.port import MarketEvent, MarkPrice

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class EndingStream:
    """A market stream that gives one mark per connection, then ends."""

    def __init__(self) -> None:
        self.subscribed: list[tuple[str, ...]] = []
        self.connections = 0

    async def subscribe(self, symbols: Sequence[str]) -> None:
        self.subscribed.append(tuple(symbols))

    async def unsubscribe(self, symbols: Sequence[str]) -> None:
        raise AssertionError(f"nothing should be unsubscribed: {symbols}")

    async def run(self, deliver: Callable[[MarketEvent], None]) -> None:
        self.connections += 1
        deliver(MarkPrice("BTCUSDT", D(self.connections), self.connections))


async def test_an_ended_market_stream_is_restarted_and_subscribed_again() -> None:
    stream = EndingStream()
    marks: list[MarkPrice] = []
    second = anyio.Event()

    def route(mark: MarkPrice) -> None:
        marks.append(mark)
        if len(marks) == 2:
            second.set()

    feed = PriceFeed(stream, route)
    feed.want(frozenset({"BTCUSDT"}))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            supervisor = Supervisor(tasks, RestartPolicy(intensity=5, period_s=60))
            supervisor.start("price_feed", feed.run)
            await second.wait()
            tasks.cancel_scope.cancel()
    assert [m.price for m in marks] == [D(1), D(2)]
    assert supervisor.restarts["price_feed"] >= 1
    assert ("BTCUSDT",) in stream.subscribed
