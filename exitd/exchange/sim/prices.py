"""Price sources for `exitd sim`: a replayed price file, a seeded random walk, or none.

Each source only decides WHICH price comes WHEN; every price goes through the exchange
(`push_trade`, `push_mark`, `push_price`: matching, streams, user data), stamped with the
server's clock so signed clients and the ledger share one time line. Trades move the last
price as they come; the mark follows Binance's schedule (`mark_schedule`: every second the
mark is the last trade, sent to the `@1s` streams, every third second to the 3 s ones too),
unless a mark price file gives the marks, which are then replayed as they are. The walk's
steps are a pure generator (`walk_steps`), so its determinism is testable without a server.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Protocol

import anyio

from exitd.exchange.sim.mark_cadence import due
from exitd.exchange.sim.symbols import SYMBOLS
from exitd.price_files import PriceFormat, open_price_file

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange

# Realistic starting points (late-2024 levels) for the listed symbols.
START_PRICES: dict[str, Decimal] = {
    "BTCUSDT": Decimal("65000"),
    "ETHUSDT": Decimal("3400"),
    "XRPUSDT": Decimal("0.6"),
    "BNBUSDT": Decimal("580"),
    "SOLUSDT": Decimal("150"),
    "DOGEUSDT": Decimal("0.15"),
    "1000SHIBUSDT": Decimal("0.02"),
    "ADAUSDT": Decimal("0.45"),
}
YIELD_EVERY = 64  # ticks pushed between yields when replaying as fast as possible
MARK_INTERVAL_S = 1.0  # Binance computes the mark every second (binance-usdm.md §14)


class PriceSource(Protocol):
    async def run(self, ex: SimExchange) -> None: ...


def on_tick(symbol: str, price: Decimal) -> Decimal:
    """`price` rounded to the symbol's tick, never below its minimum price."""
    spec = SYMBOLS[symbol]
    tick = Decimal(spec.tick_size)
    rounded = (price / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick
    return max(rounded, Decimal(spec.min_price)).quantize(tick)


def walk_steps(
    symbols: Sequence[str], seed: int, volatility: Decimal = Decimal("0.0005")
) -> Iterator[dict[str, Decimal]]:
    """Endless steps of a geometric random walk per symbol, each on its tick grid.

    One RNG per symbol (seeded from `seed` and the symbol's place), so adding a symbol never
    changes another one's path.
    """
    rngs = {s: random.Random(seed * 1000 + i) for i, s in enumerate(symbols)}
    prices = {s: on_tick(s, START_PRICES.get(s, Decimal(1))) for s in symbols}
    sigma = float(volatility)
    while True:
        yield dict(prices)
        for s in symbols:
            move = Decimal(repr(rngs[s].gauss(0.0, sigma)))
            prices[s] = on_tick(s, prices[s] * (1 + move))


async def mark_schedule(ex: SimExchange, interval_s: float = MARK_INTERVAL_S) -> None:
    """Forever: each `interval_s`, every traded symbol's mark = its last trade, pushed to the
    streams whose cadence is due. Deadlines follow the start, so the pace does not drift."""
    started = time.monotonic()
    for second in itertools.count(1):
        await anyio.sleep(max(0.0, started + second * interval_s - time.monotonic()))
        traded = {s: ex.last_price(s) for s in ex.symbols}
        marks = {s: last for s, last in traded.items() if last is not None}
        if marks:
            ex.push_marks(marks, ex.clock(), due(second))


@dataclass(frozen=True, slots=True)
class RandomWalk:
    """A seeded random walk of every listed symbol's trades, one step every `interval_ms`,
    the marks on Binance's schedule."""

    seed: int
    interval_ms: int = 250
    mark_interval_s: float = MARK_INTERVAL_S

    async def run(self, ex: SimExchange) -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(mark_schedule, ex, self.mark_interval_s)
            for step in walk_steps(ex.symbols, self.seed):
                now = ex.clock()
                for symbol, price in step.items():
                    ex.push_trade(symbol, price, now)
                await anyio.sleep(self.interval_ms / 1000)


def infer_symbol(path: str, symbols: Sequence[str]) -> str:
    """The listed symbol a price file's name starts with ("ethusdt-um-trades…"), else the first."""
    name = os.path.basename(path).lower()
    matches = [s for s in symbols if name.startswith(s.lower())]
    return max(matches, key=len) if matches else symbols[0]


@dataclass(frozen=True, slots=True)
class FileReplay:
    """A price file's ticks for one symbol, at `speed` × real time (0: as fast as possible).

    Pacing follows the file's own timestamps; the prices are pushed with the server's time.
    A trade file's ticks are trades, with marks on Binance's schedule or, when `marks` names a
    mark price file, that file's marks at its own times; a mark price file alone moves both.
    When the files end the prices stop and the exchange keeps serving.
    """

    path: str
    symbol: str
    speed: float = 1.0
    marks: str | None = None
    mark_interval_s: float = MARK_INTERVAL_S

    async def run(self, ex: SimExchange) -> None:
        prices = open_price_file(self.path)
        if prices.format is PriceFormat.MARKPRICE and self.marks is None:
            await self._replay(self.path, ex.push_price, ex)
            return
        async with anyio.create_task_group() as tasks:
            if self.marks is None:
                tasks.start_soon(mark_schedule, ex, self.mark_interval_s)
            else:
                tasks.start_soon(self._replay, self.marks, ex.push_mark, ex)
            await self._replay(self.path, ex.push_trade, ex)
            if self.marks is None:
                tasks.cancel_scope.cancel()  # no trades, no new marks

    async def _replay(self, path: str, push: Callable[..., object], ex: SimExchange) -> None:
        first_ms: int | None = None
        started = time.monotonic()
        for count, tick in enumerate(open_price_file(path), start=1):
            if first_ms is None:
                first_ms = tick.time_ms
            if self.speed > 0:
                at = (tick.time_ms - first_ms) / 1000 / self.speed
                delay = at - (time.monotonic() - started)
                if delay > 0:
                    await anyio.sleep(delay)
            elif count % YIELD_EVERY == 0:
                await anyio.sleep(0)  # let the server answer requests between bursts
            push(self.symbol, on_tick(self.symbol, tick.price), ex.clock())


@dataclass(frozen=True, slots=True)
class NoPrices:
    """Prices only through POST /sim/price."""

    async def run(self, ex: SimExchange) -> None:
        return None
