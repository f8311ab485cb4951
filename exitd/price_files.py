"""Price files: Binance's public CSV layouts (and a plain one) read lazily as `Tick`s, from
the CSV itself or from the `.zip` or `.csv.gz` it is published in (price_archive.py).

This module owns telling the layouts apart and refusing bad rows with the file and line, so a
replay never runs on a price it misread. It reads rows only as they are asked for (files may be
larger than memory) and parses prices straight into `Decimal`, never through float.
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from itertools import chain, islice
from typing import TypeAlias

from exitd.engine.model import Tick
from exitd.numbers import NumberError, is_decimal_text, parse_decimal, parse_int
from exitd.price_archive import ARCHIVE_FAULTS, ArchiveError, open_binary

_CHUNK_BYTES = 1 << 18
MICROS_ABOVE = 10**14  # ms times stay below this until the year 5138; µs times are above it
_MAX_TIME = 253_402_300_799_999_999  # the end of the year 9999 in µs: what a report can print
_ZERO = Decimal(0)
_TWO = Decimal(2)
_READ_FAULTS: tuple[type[Exception], ...] = (
    OSError,
    UnicodeDecodeError,
    ArchiveError,
    *ARCHIVE_FAULTS,
)


class PriceFileError(Exception):
    """A price file that cannot be replayed; says where, so the user can fix the file."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(f"{path}: {message}" if line is None else f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


class PriceFormat(Enum):
    """The layouts a price file may have; values are the names `exitd replay --format` takes."""

    AGGTRADES = "aggtrades"
    TRADES = "trades"
    KLINES = "klines"
    MARKPRICE = "markprice"
    BOOKTICKER = "bookticker"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True)
class _Layout:
    """One column layout: its header names, a data row's shape, and where time and price are."""

    format: PriceFormat
    names: tuple[str, ...]
    shape: str  # a letter per column: n a number, b true/false, w any other word
    time: int
    price: int


_AGGTRADES = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id")
_TRADES = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker")
_KLINES = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume")
_KLINES_REST = ("count", "taker_buy_volume", "taker_buy_quote_volume", "ignore")
_BOOKTICKER = ("update_id", "best_bid_price", "best_bid_qty", "best_ask_price", "best_ask_qty")
_MARKPRICE = ("time", "price", "index_price", "est_settle_price", "funding_rate")

# Every shape is distinct, so a headerless file's first row names its layout.
_LAYOUTS = (
    _Layout(
        PriceFormat.AGGTRADES, (*_AGGTRADES, "transact_time", "is_buyer_maker"), "nnnnnnb", 5, 1
    ),
    _Layout(
        PriceFormat.AGGTRADES,
        (*_AGGTRADES, "transact_time", "is_buyer_maker", "is_best_match"),  # spot
        "nnnnnnbb",
        5,
        1,
    ),
    _Layout(PriceFormat.TRADES, _TRADES, "nnnnnb", 4, 1),
    _Layout(PriceFormat.TRADES, (*_TRADES, "is_best_match"), "nnnnnbb", 4, 1),  # spot
    _Layout(  # hftbacktest's recordings of the @trade stream (the fixtures)
        PriceFormat.TRADES,
        ("id", "price", "qty", "time", "is_buyer_maker", "trade_type"),
        "nnnnbw",
        3,
        1,
    ),
    _Layout(PriceFormat.KLINES, (*_KLINES, *_KLINES_REST), "n" * 12, 0, 1),
    _Layout(PriceFormat.MARKPRICE, (*_MARKPRICE, "next_funding_time"), "nnnnnn", 0, 1),
    _Layout(
        PriceFormat.BOOKTICKER, (*_BOOKTICKER, "transaction_time", "event_time"), "nnnnnnn", 5, 1
    ),
    _Layout(PriceFormat.PLAIN, ("time_ms", "price"), "nn", 0, 1),
)


class _BadRow(Exception):
    """A row's fault, raised inside a parser; `PriceFile.__iter__` adds the path."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


_Rows: TypeAlias = Iterator[tuple[int, str]]  # (1-based line number, line text)


class PriceFile:
    """A recognised price file; iterating it reads its rows as `Tick`s, lazily, in file order."""

    def __init__(self, path: str, layout: _Layout, skip: int, micros: bool, size: int) -> None:
        self.format = layout.format
        self.size = size
        self.bytes_read = 0
        self.path = path
        self.width = len(layout.names)
        self.time_column = layout.time
        self.price_column = layout.price
        self.skip = skip  # lines before the first data row: the header and any blank lines
        self.micros = micros  # the first row's times are in µs (so every row's must be)
        self._layout = layout

    def __iter__(self) -> Iterator[Tick]:
        self.bytes_read = 0
        rows = enumerate(chain.from_iterable(self._chunks()), start=1)
        parse = _PARSERS.get(self.format, _single_ticks)
        try:
            for _ in range(self.skip):
                next(rows, None)
            yield from parse(rows, self._layout, self.micros)
        except _BadRow as bad:
            raise PriceFileError(self.path, bad.line, bad.message) from None
        except _READ_FAULTS as exc:
            raise _unreadable(self.path, exc) from None

    def _chunks(self) -> Iterator[list[str]]:
        """The file's lines a chunk at a time, so counting `bytes_read` costs nothing per row."""
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        tail = ""
        with ExitStack() as stack:
            file, raw = open_binary(self.path, stack)
            while chunk := file.read(_CHUNK_BYTES):
                self.bytes_read = raw.tell()
                lines = (tail + decoder.decode(chunk)).split("\n")
                tail = lines.pop()
                yield lines
        if tail := tail + decoder.decode(b"", final=True):
            yield [tail]


def open_price_file(path: str | os.PathLike[str], fmt: PriceFormat | None = None) -> PriceFile:
    """Open a price file, recognising its layout (one of `fmt`'s, if given) from its top rows."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        with ExitStack() as stack:
            # newline="\n": split lines as `PriceFile._chunks` will, so line numbers agree
            file = stack.enter_context(
                io.TextIOWrapper(open_binary(name, stack)[0], encoding="utf-8-sig", newline="\n")
            )
            top = list(islice(((n, line) for n, line in enumerate(file, 1) if line.strip()), 2))
    except _READ_FAULTS as exc:
        raise _unreadable(name, exc) from None
    if not top:
        raise PriceFileError(name, None, "no data rows")
    number, line = top[0]
    cells = line.strip().split(",")
    header = _shape(cells[0]) != "n"  # every layout starts with a number: an id or a time
    layout = _find_layout(cells, header, fmt)
    if layout is None:
        what = "any known price format" if fmt is None else f"the {fmt.value} format"
        row = "header" if header else "first row"
        raise PriceFileError(name, number, f"{row} does not fit {what}: {line.strip()[:80]!r}")
    if header and len(top) < 2:
        raise PriceFileError(name, None, "no data rows")
    number, line = top[1] if header else top[0]
    # The first row fixes the file's time unit; the parsers refuse rows in the other one.
    cells = line.split(",")
    first_time = cells[layout.time] if len(cells) > layout.time else ""
    try:
        micros = parse_int(first_time, 0, _MAX_TIME) > MICROS_ABOVE
    except NumberError:
        micros = False  # the parser refuses this row, with its line
    return PriceFile(name, layout, number - 1, micros, size)


def detect_format(path: str | os.PathLike[str]) -> PriceFormat:
    """The format of a price file, from its header or, headerless, its first row's shape."""
    return open_price_file(path).format


def _find_layout(cells: list[str], header: bool, fmt: PriceFormat | None) -> _Layout | None:
    if header:
        names = tuple(cell.strip().lower() for cell in cells)
        matches = (layout for layout in _LAYOUTS if layout.names == names)
    else:
        shape = "".join(_shape(cell) for cell in cells)
        matches = (layout for layout in _LAYOUTS if layout.shape == shape)
    return next((layout for layout in matches if fmt in (None, layout.format)), None)


def _shape(cell: str) -> str:
    """n for a number, b for true/false, w for any other word: enough to tell layouts apart."""
    text = cell.strip()
    if text.lower() in ("true", "false"):
        return "b"
    return "n" if is_decimal_text(text) else "w"


def _single_ticks(rows: _Rows, layout: _Layout, micros: bool) -> Iterator[Tick]:
    """A tick per row: a trade's price, a mark price, or a plain file's price."""
    width, time_column, price_column = len(layout.names), layout.time, layout.price
    last = 0
    for number, line in rows:
        cells = line.split(",")
        if len(cells) != width:
            if line.strip():
                raise _BadRow(number, f"{len(cells)} columns, expected {width}")
            continue
        time_ms = _time(cells[time_column], number, micros)
        if time_ms < last:
            raise _BadRow(number, f"time {time_ms} is earlier than the previous row's {last}")
        last = time_ms
        yield Tick(time_ms, _price(cells[price_column], number))


def _mid_ticks(rows: _Rows, layout: _Layout, micros: bool) -> Iterator[Tick]:
    """A tick per book update, at the mid: halfway between where a sell and a buy would fill."""
    width = len(layout.names)
    last = 0
    for number, line in rows:
        cells = line.split(",")
        if len(cells) != width:
            if line.strip():
                raise _BadRow(number, f"{len(cells)} columns, expected {width}")
            continue
        _, bid, _, ask, _, transaction_time, _ = cells
        time_ms = _time(transaction_time, number, micros)
        if time_ms < last:
            raise _BadRow(number, f"time {time_ms} is earlier than the previous row's {last}")
        last = time_ms
        yield Tick(time_ms, (_price(bid, number) + _price(ask, number)) / _TWO)


def _candle_ticks(rows: _Rows, layout: _Layout, micros: bool) -> Iterator[Tick]:
    """Four ticks per candle, O, L, H, C when it rose and O, H, L, C when it fell, spread over
    its time span: the path with the fewest reversals, so a replay sees each extreme once."""
    width = len(layout.names)
    last = 0
    for number, line in rows:
        cells = line.split(",")
        if len(cells) != width:
            if line.strip():
                raise _BadRow(number, f"{len(cells)} columns, expected {width}")
            continue
        open_ms = _time(cells[0], number, micros)
        close_ms = _time(cells[6], number, micros)
        if open_ms < last:
            raise _BadRow(number, f"open_time {open_ms} is earlier than the previous close {last}")
        if close_ms < open_ms:
            raise _BadRow(number, f"close_time {close_ms} is earlier than open_time {open_ms}")
        open_, high, low, close = (_price(text, number) for text in cells[1:5])
        if low > min(open_, close) or high < max(open_, close):
            raise _BadRow(number, f"low {low} and high {high} do not contain open and close")
        last = close_ms
        span = close_ms - open_ms
        first, second = (low, high) if close >= open_ else (high, low)
        yield Tick(open_ms, open_)
        yield Tick(open_ms + span // 3, first)
        yield Tick(open_ms + 2 * span // 3, second)
        yield Tick(close_ms, close)


_PARSERS: dict[PriceFormat, Callable[[_Rows, _Layout, bool], Iterator[Tick]]] = {
    PriceFormat.KLINES: _candle_ticks,
    PriceFormat.BOOKTICKER: _mid_ticks,
}


def _time(text: str, line: int, micros: bool) -> int:
    """A row's time in ms; a unit other than the first row's is refused, not guessed per row."""
    try:
        time = parse_int(text, 0, _MAX_TIME)
    except NumberError as error:
        raise _BadRow(line, f"time {error}") from None
    if (time > MICROS_ABOVE) != micros:
        unit, first = ("ms", "µs") if micros else ("µs", "ms")
        raise _BadRow(line, f"time {time} is in {unit}, but the first row's is in {first}")
    return time // 1000 if micros else time


def _price(text: str, line: int) -> Decimal:
    try:
        price = parse_decimal(text)
    except NumberError as error:
        raise _BadRow(line, f"price {error}") from None
    if price <= _ZERO:
        raise _BadRow(line, f"price {text.strip()!r} is not a positive decimal number")
    return price


def _unreadable(path: str, exc: Exception) -> PriceFileError:
    if isinstance(exc, ArchiveError):
        return PriceFileError(path, None, str(exc))
    if isinstance(exc, UnicodeDecodeError):
        reason = "not UTF-8 text"
    elif isinstance(exc, ARCHIVE_FAULTS):
        reason = f"damaged archive: {exc}"
    else:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    return PriceFileError(path, None, f"cannot read: {reason}")
