"""A sweep worker's price files: read once while unchanged, kept as columns, not as ticks.

A file is read through `exitd replay`'s parsed-file cache (`load_columns`: a memory-mapped
Arrow entry after the first read, so workers on one machine share its pages) and kept as
exact scaled-integer columns; whatever a cell needs as Decimal (an entry's tick, the tick size
inferred from the rows up to it, the prices a position lived through) comes from the columns
exactly, with no second parse. The plain reader's list of ticks remains where the columns
cannot serve: without numpy (the `research` extra), for prices too fine for 64-bit integers,
and with `--exact-loop` (the plain reader and every tick through the engine, as `exitd
replay --exact-loop`, for checking).
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, overload

from exitd.engine import ExitPlan, Tick
from exitd.price_files import PriceFile, PriceFileError, PriceFormat, open_price_file
from exitd.replay.command import decimal_places
from exitd.replay.runner import ExitFill, Replay, ReplayOutcome

if TYPE_CHECKING:
    from exitd.replay.columns import Int64s, PriceColumns

_FILES_KEPT = 2
_SCAN_ROWS = 1 << 16  # rows per numpy pass when finding a prefix's finest price step


class CellError(Exception):
    """A cell that cannot run (an unreadable or malformed file): one picklable message."""


@dataclass(frozen=True, slots=True)
class Reading:
    """How workers read the files: the cache folder (None: parse and keep nothing) and
    whether to take the plain reader's ticks through the exact loop instead of the columns.
    Neither changes a result, so neither is part of the sweep's journal hash."""

    cache_dir: str | None = None
    exact_loop: bool = False


class TickPath:
    """A file as the plain reader's ticks, replayed tick by tick (no numpy, or checking)."""

    def __init__(self, ticks: list[Tick]) -> None:
        self.ticks = ticks
        self.times: Sequence[int] = [tick.time_ms for tick in ticks]
        self._prices = [tick.price for tick in ticks]
        self._places: list[int] = []  # the most decimal places among the first i+1 prices
        self._lock = threading.Lock()  # a Dask worker runs cells on threads

    def __len__(self) -> int:
        return len(self.ticks)

    def tick(self, index: int) -> Tick:
        return self.ticks[index]

    def finest_step(self, rows: int) -> Decimal:
        """The tick size `exitd replay` infers from the file's first `rows` rows."""
        rows = min(rows, len(self._prices))
        with self._lock:
            places = self._places
            most = places[-1] if places else 0
            for price in self._prices[len(places) : rows]:
                most = max(most, decimal_places(price))
                places.append(most)
            return Decimal(1).scaleb(-places[rows - 1])

    def replay(
        self, plan: ExitPlan, start: int, slippage_pct: Decimal
    ) -> tuple[list[ExitFill], ReplayOutcome]:
        """The position entered at tick `start`, as `exitd replay --start --exact-loop`."""
        ticks = self.ticks
        replay = Replay(plan, slippage_pct)
        rest: Iterator[Tick] = map(ticks.__getitem__, range(start + 1, len(ticks)))
        fills = list(replay.run(ticks[start], rest))
        assert replay.outcome is not None
        return fills, replay.outcome

    def extreme(self, start: int, stop: int, *, lowest: bool) -> Decimal:
        """The lowest (or highest) price of rows start to stop, the first of equals."""
        lived = self._prices[start:stop]
        return min(lived) if lowest else max(lived)


class ColumnPath:
    """A file as exact integer columns (numpy), replayed on `exitd replay`'s fast path."""

    def __init__(self, columns: PriceColumns) -> None:
        self.columns = columns
        self.times: Sequence[int] = _Times(columns.times)
        self._rises: list[tuple[int, int]] = [(0, 0)]  # (row, most decimals from that row on)
        self._scanned = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.columns)

    def tick(self, index: int) -> Tick:
        return self.columns.tick(index)

    def finest_step(self, rows: int) -> Decimal:
        """As TickPath's: the most decimals of a price, trailing zeros aside, over the rows;
        from the scaled integers (28145.10 at scale 2 is 2814510: one decimal)."""
        rows = min(rows, len(self.columns))
        with self._lock:
            while self._scanned < rows:
                self._scan()
            for row, places in reversed(self._rises):
                if row < rows:
                    return Decimal(1).scaleb(-places)
        raise AssertionError("the first rise is at row 0")

    def _scan(self) -> None:
        import numpy as np  # noqa: PLC0415  (as the columns')

        start = self._scanned
        chunk = self.columns.prices[start : start + _SCAN_ROWS]
        places = _places(chunk, self.columns.scale)
        most = self._rises[-1][1]
        running = np.maximum.accumulate(np.maximum(places, most))
        for at in np.flatnonzero(np.diff(running, prepend=most)):
            self._rises.append((start + int(at), int(running[at])))
        self._scanned = start + len(chunk)

    def replay(
        self, plan: ExitPlan, start: int, slippage_pct: Decimal
    ) -> tuple[list[ExitFill], ReplayOutcome]:
        """The position entered at tick `start`, as `exitd replay --start` (fast path)."""
        from exitd.replay.fast import replay_fills  # noqa: PLC0415  (numpy)

        result = replay_fills(self.columns, plan, start, slippage_pct=slippage_pct)
        return list(result.fills), result.outcome

    def extreme(self, start: int, stop: int, *, lowest: bool) -> Decimal:
        """As TickPath's, the very Decimal the plain reader gives (its exponent too)."""
        lived = self.columns.prices[start:stop]
        at = int(lived.argmin()) if lowest else int(lived.argmax())  # the first of equals
        return self.columns.tick(start + at).price


PricePath = TickPath | ColumnPath


def _places(prices: Int64s, scale: int) -> Int64s:
    """Each price's decimals without trailing zeros: those of the 10^k it is not a multiple of."""
    import numpy as np  # noqa: PLC0415

    places = np.zeros(len(prices), dtype=np.int64)
    for power in range(1, scale + 1):
        places += prices % np.int64(10**power) != 0
    return places


class _Times(Sequence[int]):
    """The time column as the Python ints `entry_points` searches, without a list of them."""

    def __init__(self, times: Int64s) -> None:
        self._times = times

    def __len__(self) -> int:
        return len(self._times)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...

    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return [int(t) for t in self._times[index]]
        return int(self._times[index])


_Key = tuple[str, PriceFormat | None, Reading, int, int]
_paths: OrderedDict[_Key, PricePath] = OrderedDict()
_paths_lock = threading.Lock()  # a Dask worker runs cells on threads
_loading: dict[_Key, threading.Lock] = {}
_reads: Counter[str] = Counter()


def read_path(path: str, fmt: PriceFormat | None, reading: Reading) -> PricePath:
    """The file, read once per worker while it stays unchanged (the last few are kept, as
    consecutive cells share files); raises CellError for a bad file."""
    try:
        stat = os.stat(path)
    except OSError as error:
        raise CellError(f"{path}: cannot read: {error.strerror or error}") from None
    key = (path, fmt, reading, stat.st_size, stat.st_mtime_ns)
    with _paths_lock:
        if key in _paths:
            _paths.move_to_end(key)
            return _paths[key]
        loading = _loading.setdefault(key, threading.Lock())
    with loading:  # a second thread wanting the same file waits for the first one's read
        with _paths_lock:
            if key in _paths:
                return _paths[key]
        try:
            loaded = _load(path, fmt, reading)
        except BaseException:
            with _paths_lock:
                _loading.pop(key, None)
            raise
        with _paths_lock:
            _paths[key] = loaded
            _loading.pop(key, None)
            while len(_paths) > _FILES_KEPT:
                _paths.popitem(last=False)
    return loaded


def times_read(path: str) -> int:
    """How often this process has read `path` from disk (a parse or a cache entry mapped)."""
    return _reads[path]


def _load(path: str, fmt: PriceFormat | None, reading: Reading) -> PricePath:
    _reads[path] += 1
    try:
        price_file = open_price_file(path, fmt)
        loaded: PricePath | None = None
        if not reading.exact_loop:
            loaded = _column_path(price_file, reading.cache_dir)
        if loaded is None:
            loaded = TickPath(list(price_file))
    except PriceFileError as error:
        raise CellError(str(error)) from None
    except OSError as error:
        raise CellError(f"{path}: cannot read: {error.strerror or error}") from None
    if not len(loaded):
        raise CellError(f"{path}: no data rows")
    return loaded


def _column_path(price_file: PriceFile, cache_dir: str | None) -> ColumnPath | None:
    """The columns, from the cache or parsed into it; None without numpy, or for prices
    too fine for 64 bits (then the plain reader's ticks, as `exitd replay` falls back)."""
    try:
        from exitd.replay.cache import load_columns  # noqa: PLC0415  (research extra)
        from exitd.replay.columns import NotColumnar  # noqa: PLC0415
    except ImportError:
        return None
    try:
        return ColumnPath(load_columns(price_file, Path(cache_dir) if cache_dir else None))
    except NotColumnar:
        return None
