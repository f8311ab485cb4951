"""The first read of a price file by pyarrow's CSV reader: the columns in one pass in C++.

Only the layouts with one tick per row (trades, aggTrades, mark prices, plain) take this path,
and only while every time and price is written plainly: digits, and for a price one point
with digits on both sides. Anything else, a bad row included (a cell too many, a quote, a
space, an exponent, a time out of order), makes it give up, and the plain reader reads the
file: it accepts what it accepts and refuses the rest with the file and line. So the columns
are always the plain reader's, value and exponent, and so are the errors.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import numpy as np

from exitd.numbers import MAX_PLACES, MAX_WHOLE_DIGITS
from exitd.price_archive import ARCHIVE_FAULTS, ArchiveError, open_binary
from exitd.price_files import MICROS_ABOVE, PriceFile, PriceFormat
from exitd.replay.columns import PriceColumns

_SINGLE_TICK = (PriceFormat.TRADES, PriceFormat.AGGTRADES, PriceFormat.MARKPRICE, PriceFormat.PLAIN)
_TIME = r"^[0-9]{1,17}$"  # up to 10^17 - 1: below the reader's year-9999 limit in µs
_PRICE = rf"^[0-9]{{1,{MAX_WHOLE_DIGITS}}}(\.[0-9]{{1,{MAX_PLACES}}})?$"
_INT64_DIGITS = 18  # every number of 18 digits fits an int64
_BLOCK_BYTES = 1 << 24


def read_columns(price_file: PriceFile) -> PriceColumns | None:
    """The file's columns, or None when the plain reader must read it."""
    if price_file.format not in _SINGLE_TICK or price_file.skip > 1:
        return None  # a skip above 1: blank lines before the first row, counted differently
    import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415  (research extra)
    import pyarrow.compute as pc  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        times, prices = _read(pa, price_file)
    except (pa.ArrowException, ValueError, OSError, ArchiveError, *ARCHIVE_FAULTS):
        return None  # the plain reader says what is wrong, with the line
    if not (_all(pc, pc.match_substring_regex(times, _TIME))) or not _all(
        pc, pc.match_substring_regex(prices, _PRICE)
    ):
        return None
    time_ms = _times(pc.cast(times, pa.int64()).to_numpy(), price_file.micros)
    if time_ms is None:
        return None
    return _prices(pa, pc, prices, time_ms)


def _read(pa: Any, price_file: PriceFile) -> tuple[Any, Any]:
    """The time and price columns as text, exactly as written."""
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]  # noqa: PLC0415

    time_name, price_name = f"f{price_file.time_column}", f"f{price_file.price_column}"
    with ExitStack() as stack:
        stream, _ = open_binary(price_file.path, stack)
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(
                skip_rows=price_file.skip,
                autogenerate_column_names=True,
                block_size=_BLOCK_BYTES,
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, escape_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types={time_name: pa.string(), price_name: pa.string()},
                include_columns=[time_name, price_name],
            ),
        )
    # pyarrow holds every row to the first one's cell count; the layout, to its own.
    if table.num_rows == 0 or _width(pacsv, price_file) != price_file.width:
        raise ValueError("not the layout's width")
    return table.column(time_name), table.column(price_name)


def _width(pacsv: Any, price_file: PriceFile) -> int:
    """How many cells pyarrow sees in a row (it refuses any row with another count)."""
    with ExitStack() as stack:
        stream, _ = open_binary(price_file.path, stack)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(
                skip_rows=price_file.skip, autogenerate_column_names=True, block_size=1 << 16
            ),
            parse_options=pacsv.ParseOptions(quote_char=False, escape_char=False),
        )
        return len(reader.schema.names)


def _times(raw: Any, micros: bool) -> Any:
    """Times in ms as the plain reader makes them, or None where it would refuse one."""
    if bool(np.any((raw > MICROS_ABOVE) != micros)):
        return None  # a row in the other unit than the first row's
    time_ms = raw // 1000 if micros else raw
    if len(time_ms) > 1 and bool(np.any(time_ms[1:] < time_ms[:-1])):
        return None  # out of order
    return np.ascontiguousarray(time_ms, dtype=np.int64)


def _prices(pa: Any, pc: Any, text: Any, time_ms: Any) -> PriceColumns | None:
    """Prices as exact scaled integers, each row's exponent kept when the decimals vary."""
    length = pc.utf8_length(text).to_numpy()
    point = pc.find_substring(text, ".").to_numpy()
    places = np.where(point < 0, 0, length - point - 1).astype(np.int64)
    whole = np.where(point < 0, length, point)
    if int((whole + places).max()) > _INT64_DIGITS:
        return None
    coefficients = pc.cast(pc.replace_substring(text, ".", ""), pa.int64()).to_numpy()
    if bool(np.any(coefficients <= 0)):
        return None  # the plain reader refuses a price that is not positive
    scale = int(places.max())
    if int((whole + scale).max()) > _INT64_DIGITS:
        return None  # too fine for 64 bits: the plain reader's columns say so
    prices = coefficients * (10 ** (scale - places))
    uniform = bool(np.all(places == scale))
    exponents = None if uniform else (-places).astype(np.int8)
    return PriceColumns(time_ms, prices.astype(np.int64), scale, exponents)


def _all(pc: Any, mask: Any) -> bool:
    return bool(pc.all(mask).as_py())
