"""The price feed against the simulator: every wished symbol is followed, however many wishes
come at once (the account actor sends one per symbol actor it starts)."""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

from exitd.actors.price_feed import PriceFeed
from exitd.exchange.binance import BinanceExchange
from exitd.exchange.port import MarkPrice
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, running

pytestmark = pytest.mark.anyio

SYMBOLS = 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_burst_of_wishes_follows_the_newest_whole() -> None:
    async with running(synthetic_symbols=SYMBOLS) as (sim, _):
        symbols = [s for s in sim.symbols if s.startswith("SYN")]
        seen: set[str] = set()
        news = anyio.Event()

        def route(mark: MarkPrice) -> None:
            nonlocal news
            seen.add(mark.symbol)
            news.set()
            news = anyio.Event()

        exchange = BinanceExchange(sim.rest_url, sim.ws_url, API_KEY, API_SECRET)
        try:
            async with anyio.create_task_group() as tasks:
                feed = PriceFeed(exchange.market_stream(), route)
                for count in range(1, SYMBOLS + 1):  # one actor after another, no pause
                    feed.want(frozenset(symbols[:count]))
                tasks.start_soon(feed.run, 0)
                with anyio.fail_after(10):
                    while seen != set(symbols):
                        for symbol in symbols:  # again until every subscription has landed
                            sim.push_price(symbol, Decimal("10.0000"), sim.clock())
                        with anyio.move_on_after(0.1):
                            await news.wait()
                assert feed.ticks >= SYMBOLS
                tasks.cancel_scope.cancel()
        finally:
            await exchange.aclose()
