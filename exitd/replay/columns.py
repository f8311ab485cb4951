"""A price file as two columns: times in ms and prices as exact scaled integers (numpy).

A price is kept as `price × 10^scale` in an int64, `scale` the file's most decimals, never as
a float, so the fast replay compares whole columns with the quiet band at once and the tick
it hands the engine carries the very Decimal the plain reader gives: the same value and the
same exponent (28145.10 stays 28145.10), which the report prints as it is. Files whose
decimals differ from row to row keep each row's exponent in a third column.
Needs numpy (the `research` extra).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from exitd.engine.model import Tick

Int64s = npt.NDArray[np.int64]
Int8s = npt.NDArray[np.int8]

_CHUNK_ROWS = 1 << 16
_INT64_MAX = 2**63 - 1


class NotColumnar(Exception):
    """Prices whose scaled integers would not fit an int64: replayed by the plain loop."""


@dataclass(frozen=True, slots=True)
class PriceColumns:
    """Ticks of one price file: `times[i]` ms, `prices[i] / 10^scale` exactly."""

    times: Int64s
    prices: Int64s
    scale: int
    exponents: Int8s | None = None  # each row's Decimal exponent; None: all are -scale

    def __len__(self) -> int:
        return len(self.times)

    def tick(self, index: int) -> Tick:
        """Row `index` as the plain reader gives it."""
        price = int(self.prices[index])
        exponents = self.exponents
        if exponents is None:
            return Tick(int(self.times[index]), Decimal(price).scaleb(-self.scale))
        exponent = int(exponents[index])
        coefficient = price // 10 ** (self.scale + exponent)
        return Tick(int(self.times[index]), Decimal(coefficient).scaleb(exponent))

    def ticks(self, start: int = 0, stop: int | None = None) -> list[Tick]:
        return [self.tick(i) for i in range(start, len(self) if stop is None else stop)]


def columns_of(ticks: Iterable[Tick]) -> PriceColumns:
    """Read `ticks` (a `PriceFile`, say) into columns, a chunk at a time, so memory holds
    Decimals for one chunk only."""
    times: list[Int64s] = []
    chunks: list[tuple[Int64s, int]] = []  # scaled prices, and the scale of that chunk
    exponents: list[Int8s] = []
    chunk: list[Tick] = []

    def flush() -> None:
        chunk_exponents = [int(t.price.as_tuple().exponent) for t in chunk]
        chunk_scale = max(0, -min(chunk_exponents, default=0))
        times.append(np.array([t.time_ms for t in chunk], dtype=np.int64))
        exponents.append(np.array(chunk_exponents, dtype=np.int8))
        chunks.append((_scaled([t.price for t in chunk], chunk_scale), chunk_scale))
        chunk.clear()

    for tick in ticks:
        chunk.append(tick)
        if len(chunk) == _CHUNK_ROWS:
            flush()
    flush()
    scale = max(s for _, s in chunks)
    prices = np.concatenate([_rescaled(p, scale - s) for p, s in chunks])
    all_exponents = np.concatenate(exponents)
    uniform = bool(np.all(all_exponents == -scale))
    return PriceColumns(np.concatenate(times), prices, scale, None if uniform else all_exponents)


def _scaled(prices: list[Decimal], scale: int) -> Int64s:
    try:
        return np.array([int(p.scaleb(scale)) for p in prices], dtype=np.int64)
    except OverflowError:
        raise NotColumnar(f"prices with {scale} decimals overflow 64-bit integers") from None


def _rescaled(prices: Int64s, places: int) -> Int64s:
    if not places:
        return prices
    factor = 10**places
    if prices.size and int(prices.max()) > _INT64_MAX // factor:
        raise NotColumnar(f"prices overflow 64-bit integers at {places} more decimals")
    return prices * np.int64(factor)
