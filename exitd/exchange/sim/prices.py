"""Price sources for `exitd sim`: a replayed price file, a seeded random walk, or none.

Each source only decides WHICH price comes WHEN; every price goes through
`SimExchange.push_price` (matching, streams, user data), stamped with the server's clock so
signed clients and the ledger share one time line. Mark price = the pushed price. The walk's
steps are a pure generator (`walk_steps`), so its determinism is testable without a server.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Protocol

import anyio

from exitd.exchange.sim.symbols import SYMBOLS
from exitd.price_files import open_price_file

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


@dataclass(frozen=True, slots=True)
class RandomWalk:
    """A seeded random walk of every listed symbol, one step every `interval_ms`."""

    seed: int
    interval_ms: int = 250

    async def run(self, ex: SimExchange) -> None:
        for step in walk_steps(ex.symbols, self.seed):
            now = ex.clock()
            for symbol, price in step.items():
                ex.push_price(symbol, price, now)
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
    When the file ends the prices stop and the exchange keeps serving.
    """

    path: str
    symbol: str
    speed: float = 1.0

    async def run(self, ex: SimExchange) -> None:
        first_ms: int | None = None
        started = time.monotonic()
        for count, tick in enumerate(open_price_file(self.path), start=1):
            if first_ms is None:
                first_ms = tick.time_ms
            if self.speed > 0:
                due = (tick.time_ms - first_ms) / 1000 / self.speed
                delay = due - (time.monotonic() - started)
                if delay > 0:
                    await anyio.sleep(delay)
            elif count % YIELD_EVERY == 0:
                await anyio.sleep(0)  # let the server answer requests between bursts
            ex.push_price(self.symbol, on_tick(self.symbol, tick.price), ex.clock())


@dataclass(frozen=True, slots=True)
class NoPrices:
    """Prices only through POST /sim/price."""

    async def run(self, ex: SimExchange) -> None:
        return None
