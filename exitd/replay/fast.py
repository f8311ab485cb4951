"""The fast replay: the exact tick loop, run only on the ticks that can change something.

After each tick it replays, it takes the quiet band (quiet.py): the prices and times at which
a tick leaves the engine and the book as they are. It then finds the next tick outside the
band over the whole price column at once (numpy on the scaled integers) and replays that one
with the very step the plain loop uses (`Replay.step`); the ticks in between are skipped,
counted, and never built. The fills are the plain loop's, fill for fill; `exact_loop=True`
runs the plain loop over the same columns, for checking.

`replay_fills` is the entry point for callers that replay many plans over one file (a sweep):
load the columns once (`load_columns` in cache.py), then one call per (plan, entry).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from exitd.engine import ExitPlan, ExitState, Notice, Tick
from exitd.engine.state import NEVER_MS
from exitd.replay.columns import PriceColumns
from exitd.replay.quiet import QuietBand, quiet_band
from exitd.replay.runner import ExitFill, Replay, ReplayOutcome

_FIRST_CHUNK = 16
_MAX_CHUNK = 1 << 18


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One plan replayed from one entry: its exits, where it ended, and what it noted."""

    fills: tuple[ExitFill, ...]
    outcome: ReplayOutcome
    notices: tuple[Notice, ...]


def replay_fills(
    prices: PriceColumns,
    plan: ExitPlan,
    start: int = 0,
    *,
    slippage_pct: Decimal = Decimal(0),
    exact_loop: bool = False,
) -> ReplayResult:
    """Replay `plan` entered at tick `start` of `prices` (its entry price must be that tick's,
    as `build_plan` was given it) until the position is flat or the ticks end."""
    replay = Replay(plan, slippage_pct)
    if exact_loop:
        fills = tuple(replay.run(prices.tick(start), _ticks_after(prices, start)))
    else:
        fills = tuple(run_fast(replay, prices, start))
    assert replay.outcome is not None
    return ReplayResult(fills, replay.outcome, tuple(replay.notices))


def run_fast(replay: Replay, prices: PriceColumns, start: int) -> Iterator[ExitFill]:
    """`replay.run` over `prices` from tick `start`, skipping the ticks that change nothing;
    sets `replay.outcome` as `run` does."""
    fills: list[ExitFill] = []
    state = replay.enter(prices.tick(start), fills)
    yield from fills
    yield from continue_fast(replay, state, prices, start, start + 1)


def continue_fast(
    replay: Replay, state: ExitState, prices: PriceColumns, start: int, index: int
) -> Iterator[ExitFill]:
    """Go on with a replay entered at tick `start` whose ticks before `index` are replayed
    (`state` is where they left it): the fast path from tick `index` to the end."""
    fills: list[ExitFill] = []
    count = len(prices)
    last = index - 1
    while index < count:
        # A flat plan stops at the next tick, quiet or not, as the plain loop does.
        band = None if state.done else quiet_band(state, replay.market, prices.scale)
        if band is not None:
            index = next_loud(prices, index, band)
            if index >= count:
                last = count - 1
                break
        fills.clear()
        state = replay.step(state, prices.tick(index), fills)
        yield from fills
        last = index
        index += 1
        if state.done:
            break
    replay.outcome = ReplayOutcome(state, last - start + 1, prices.tick(last))


def next_loud(prices: PriceColumns, start: int, band: QuietBand) -> int:
    """The first index from `start` whose tick lies outside `band` (len(prices) if none)."""
    column = prices.prices
    limit = len(column)
    if band.deadline_ms != NEVER_MS:
        limit = max(start, int(np.searchsorted(prices.times, band.deadline_ms, side="left")))
    if start >= limit:
        return limit
    low, high = band.low, band.high
    if not low <= int(column[start]) <= high:  # often so right after a loud tick: no numpy
        return start
    span = np.uint64(high - low)
    index, size = start + 1, _FIRST_CHUNK
    while index < limit:
        stop = min(index + size, limit)
        # Outside [low, high] exactly when price - low, read as unsigned, exceeds the span.
        outside = (column[index:stop] - low).view(np.uint64) > span
        first = int(outside.argmax())
        if outside[first]:
            return index + first
        index, size = stop, min(size * 4, _MAX_CHUNK)
    return limit


def _ticks_after(prices: PriceColumns, start: int) -> Iterator[Tick]:
    return (prices.tick(i) for i in range(start + 1, len(prices)))
