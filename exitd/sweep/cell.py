"""One cell of a sweep: one plan over one price file, every entry on it, as `exitd replay`.

A cell travels to a worker as a file reference and plan parameters, never as ticks: the worker
reads the file itself (and keeps the last few it read, since consecutive cells share files).
Each entry is replayed exactly as `exitd replay FILE --start N` replays it: the same tick size
inferred from the same rows, the same plan, the same runner: the fast exact path over the
file's price columns where numpy is installed (the research extra), the plain loop otherwise.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from exitd.engine import (
    ExitPlan,
    ExitProfile,
    PlanRefused,
    Position,
    Side,
    SymbolFilters,
    Tick,
    build_plan,
)
from exitd.price_files import PriceFileError, PriceFormat, open_price_file
from exitd.replay.command import PRECISION_SAMPLE, decimal_places, symbol_of
from exitd.replay.report import Summary
from exitd.replay.runner import ExitFill, Replay, ReplayOutcome
from exitd.sweep.entries import EntrySpec, entry_points

if TYPE_CHECKING:
    from exitd.replay.columns import PriceColumns

_HUNDRED = Decimal(100)
_FILES_KEPT = 2


class CellError(Exception):
    """A cell that cannot run (an unreadable or malformed file): one picklable message."""


@dataclass(frozen=True, slots=True)
class Market:
    """What every position of a sweep shares: size, exchange filters, fills, file layout."""

    qty: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    slippage_pct: Decimal = Decimal(0)
    tick_size: Decimal | None = None  # None: the file's own precision, as `exitd replay`
    symbol: str | None = None  # None: from the file name, as `exitd replay`
    price_format: PriceFormat | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """One plan over one file: what a worker needs, and nothing it can read itself."""

    key: str
    plan_index: int
    path: str
    profile: ExitProfile
    profile_name: str
    entries: EntrySpec
    market: Market


@dataclass(frozen=True, slots=True)
class Trade:
    """One replayed position: its P&L as `exitd replay` sums it, and how it went."""

    entry_time_ms: int
    side: str
    entry_price: Decimal
    end_time_ms: int  # the closing tick, or the path's last tick if it stayed open
    pnl: Decimal
    r: Decimal
    open_qty: Decimal
    exits: tuple[tuple[str, int], ...]  # fills per leg
    mae_pct: Decimal
    mfe_pct: Decimal


@dataclass(frozen=True, slots=True)
class CellResult:
    """A cell's trades, and the entries whose plan the engine refused (with the reason)."""

    key: str
    plan_index: int
    trades: tuple[Trade, ...]
    refused: tuple[str, ...] = ()


def replay_position(
    plan: ExitPlan, path: _PricePath, start: int, slippage_pct: Decimal
) -> tuple[list[ExitFill], ReplayOutcome]:
    """The position entered at tick `start`, replayed as `exitd replay --start` does."""
    columns = path.columns()
    if columns is not None:
        from exitd.replay.fast import replay_fills  # noqa: PLC0415  (numpy, as the columns')

        result = replay_fills(columns, plan, start, slippage_pct=slippage_pct)
        return list(result.fills), result.outcome
    ticks = path.ticks
    replay = Replay(plan, slippage_pct)
    rest: Iterator[Tick] = map(ticks.__getitem__, range(start + 1, len(ticks)))
    fills = list(replay.run(ticks[start], rest))
    assert replay.outcome is not None
    return fills, replay.outcome


def run_cell(cell: Cell) -> CellResult:
    """Every entry of `cell` on its file, replayed; raises CellError for a bad file."""
    path = _read(cell.path, cell.market.price_format)
    market = cell.market
    symbol = market.symbol or symbol_of(cell.path)
    trades: list[Trade] = []
    refused: list[str] = []
    for start, side in entry_points(cell.entries, path.times):
        entry = path.ticks[start]
        tick_size = market.tick_size or path.finest_step(start + PRECISION_SAMPLE)
        filters = SymbolFilters(tick_size, market.step_size, market.min_qty, market.min_notional)
        position = Position(symbol, side, market.qty, entry.price)
        try:
            plan = build_plan(position, filters, cell.profile, entry.price, cell.profile_name)
        except PlanRefused as refusal:
            refused.append(f"{entry.time_ms} {side.name.lower()}: {refusal}")
            continue
        fills, outcome = replay_position(plan, path, start, market.slippage_pct)
        trades.append(
            _trade(plan, entry, fills=fills, outcome=outcome, prices=path.prices, start=start)
        )
    return CellResult(cell.key, cell.plan_index, tuple(trades), tuple(refused))


def _trade(
    plan: ExitPlan,
    entry: Tick,
    *,
    fills: list[ExitFill],
    outcome: ReplayOutcome,
    prices: Sequence[Decimal],
    start: int,
) -> Trade:
    summary = Summary.of(plan, entry.time_ms, fills, outcome)
    # The ticks the position lived through: from its entry to the one it closed on.
    lived = prices[start : start + outcome.ticks]
    if plan.side is Side.LONG:
        adverse = plan.entry_price - min(lived)
    else:
        adverse = max(lived) - plan.entry_price
    legs = Counter(fill.leg for fill in fills)
    return Trade(
        entry_time_ms=entry.time_ms,
        side=plan.side.name.lower(),
        entry_price=plan.entry_price,
        end_time_ms=outcome.last_tick.time_ms,
        pnl=summary.pnl,
        r=summary.r,
        open_qty=summary.open_qty,
        exits=tuple(sorted(legs.items())),
        mae_pct=max(adverse, Decimal(0)) * _HUNDRED / plan.entry_price,
        mfe_pct=summary.mfe_pct,
    )


class _PricePath:
    """A file's ticks in memory, with the finest price step of each prefix as replay infers
    its tick size (from the rows up to its entry and 1,000 beyond)."""

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks = ticks
        self.times = [tick.time_ms for tick in ticks]
        self.prices = [tick.price for tick in ticks]
        self._places: list[int] = []  # the most decimal places among the first i+1 prices
        self._lock = threading.Lock()
        self._columns: PriceColumns | None = None
        self._no_columns = False

    def columns(self) -> PriceColumns | None:
        """The ticks as exact integer columns for the fast replay; None without numpy."""
        with self._lock:
            if self._columns is None and not self._no_columns:
                try:
                    from exitd.replay.columns import columns_of  # noqa: PLC0415  (numpy)
                except ImportError:
                    self._no_columns = True
                else:
                    self._columns = columns_of(self.ticks)
            return self._columns

    def finest_step(self, rows: int) -> Decimal:
        rows = min(rows, len(self.prices))
        with self._lock:
            places = self._places
            most = places[-1] if places else 0
            for price in self.prices[len(places) : rows]:
                most = max(most, decimal_places(price))
                places.append(most)
            return Decimal(1).scaleb(-places[rows - 1])


_paths: OrderedDict[tuple[str, PriceFormat | None, int, int], _PricePath] = OrderedDict()
_paths_lock = threading.Lock()  # a Dask worker runs cells on threads


def _read(path: str, fmt: PriceFormat | None) -> _PricePath:
    """The file's ticks, read once per worker while it stays unchanged."""
    try:
        stat = os.stat(path)
        key = (path, fmt, stat.st_size, stat.st_mtime_ns)
        with _paths_lock:
            if key in _paths:
                _paths.move_to_end(key)
                return _paths[key]
        loaded = _PricePath(list(open_price_file(path, fmt)))
    except PriceFileError as error:
        raise CellError(str(error)) from None
    except OSError as error:
        raise CellError(f"{path}: cannot read: {error.strerror or error}") from None
    if not loaded.ticks:
        raise CellError(f"{path}: no data rows")
    with _paths_lock:
        _paths[key] = loaded
        while len(_paths) > _FILES_KEPT:
            _paths.popitem(last=False)
    return loaded
