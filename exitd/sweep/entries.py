"""Where a sweep's positions start: every interval along each path, or a list of trades.

Parsing is done once, in the command; `entry_points` (pure) places the entries on one file's
tick times, where each entry becomes the tick index `exitd replay --start` would take.
"""

from __future__ import annotations

import csv
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exitd.engine import Side
from exitd.numbers import NumberError, parse_int

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_EVERY = re.compile(r"every:(\d+)([smhd])$")
_MICROS_ABOVE = 10**14  # as price_files: ms times stay below it until the year 5138
_TIME_COLUMNS = ("time", "time_ms", "entry_time", "open_time", "open_date", "date")
_SIDES = {"long": Side.LONG, "buy": Side.LONG, "short": Side.SHORT, "sell": Side.SHORT}
_MAX_ENTRIES = 10_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EntriesError(ValueError):
    """Entries that cannot be placed: says which option, file and line."""


@dataclass(frozen=True, slots=True)
class EveryEntries:
    """A new position every `interval_ms` from each file's first tick, on each of `sides`."""

    interval_ms: int
    sides: tuple[Side, ...]


@dataclass(frozen=True, slots=True)
class ListedEntries:
    """Positions at given times (ms, ascending) and sides, e.g. a strategy's trade list."""

    entries: tuple[tuple[int, Side], ...]


EntrySpec = EveryEntries | ListedEntries


def sides_of(option: str) -> tuple[Side, ...]:
    """`--side long|short|both`."""
    return (Side.LONG, Side.SHORT) if option == "both" else (_SIDES[option],)


def parse_entries(text: str, side_option: str) -> EntrySpec:
    """`every:1h` (s, m, h, d), or the path of a CSV with a time column and, optionally, a
    side column (long/short/buy/sell) or an is_short column; without one, `--side` applies."""
    match = _EVERY.match(text.strip())
    if match:
        interval = int(match.group(1)) * _UNIT_MS[match.group(2)]
        if interval <= 0:
            raise EntriesError(f"--entries {text}: the interval must be positive")
        return EveryEntries(interval, sides_of(side_option))
    if text.startswith("every"):
        raise EntriesError(f"--entries {text}: expected every:N with a unit s, m, h or d")
    return ListedEntries(_read_entry_file(text, sides_of(side_option)))


def entry_points(spec: EntrySpec, times: Sequence[int]) -> list[tuple[int, Side]]:
    """Tick indexes and sides of the positions on a path with these tick times: the first
    tick at or after each entry time; entries outside the path are not on it."""
    if not times:
        return []
    if isinstance(spec, EveryEntries):
        wanted = [
            (t, side)
            for t in range(times[0], times[-1] + 1, spec.interval_ms)
            for side in spec.sides
        ]
    else:
        wanted = [(t, side) for t, side in spec.entries if times[0] <= t <= times[-1]]
    points: list[tuple[int, Side]] = []
    seen: set[tuple[int, Side]] = set()
    for time_ms, side in wanted:
        point = (bisect_left(times, time_ms), side)
        if point not in seen:  # two entry times inside one gap of the path are one entry
            seen.add(point)
            points.append(point)
    return points


def _read_entry_file(path: str, default_sides: tuple[Side, ...]) -> tuple[tuple[int, Side], ...]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise EntriesError(f"--entries {path}: cannot read: {reason or exc}") from None
    if len(rows) < 2:
        raise EntriesError(f"--entries {path}: needs a header and at least one entry")
    header = [name.strip().lower() for name in rows[0]]
    time_at = next((header.index(n) for n in _TIME_COLUMNS if n in header), None)
    if time_at is None:
        raise EntriesError(f"--entries {path}: no time column (one of {', '.join(_TIME_COLUMNS)})")
    side_at = header.index("side") if "side" in header else None
    short_at = header.index("is_short") if "is_short" in header else None
    entries: list[tuple[int, Side]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise EntriesError(f"{path}:{line}: {len(row)} columns, the header has {len(header)}")
        time_ms = _entry_time(path, line, row[time_at])
        if side_at is not None:
            sides: tuple[Side, ...] = (_side(path, line, row[side_at]),)
        elif short_at is not None:
            sides = (_is_short(path, line, row[short_at]),)
        else:
            sides = default_sides
        entries.extend((time_ms, side) for side in sides)
    if len(entries) > _MAX_ENTRIES:
        raise EntriesError(f"--entries {path}: more than {_MAX_ENTRIES} entries")
    return tuple(sorted(entries, key=lambda entry: (entry[0], -entry[1].sign)))


def _entry_time(path: str, line: int, text: str) -> int:
    """Unix ms (or µs), or an ISO-8601 time; without a zone, UTC as Binance's files."""
    cell = text.strip()
    try:
        value = parse_int(cell, 0, 10**18)
        return value // 1000 if value > _MICROS_ABOVE else value
    except NumberError:
        pass
    try:
        moment = datetime.fromisoformat(cell)
    except ValueError:
        raise EntriesError(
            f"{path}:{line}: time {cell!r} is neither Unix ms nor an ISO-8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _side(path: str, line: int, text: str) -> Side:
    side = _SIDES.get(text.strip().lower())
    if side is None:
        raise EntriesError(f"{path}:{line}: side {text.strip()!r}: expected long, short, buy, sell")
    return side


def _is_short(path: str, line: int, text: str) -> Side:
    cell = text.strip().lower()
    if cell not in ("true", "false", "1", "0"):
        raise EntriesError(f"{path}:{line}: is_short {text.strip()!r}: expected true or false")
    return Side.SHORT if cell in ("true", "1") else Side.LONG
