"""The price-file reader on the real fixture files, their headerless and µs twins, and bad rows."""

from __future__ import annotations

import csv
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from exitd.engine.model import Tick
from exitd.price_files import (
    PriceFileError,
    PriceFormat,
    detect_format,
    open_price_file,
)
from tests.conftest import MARKET

TRADES_2023 = MARKET / "btcusdt-um-trades-2023-04-04_05.csv"
SPOT_TRADES = MARKET / "BTCUSDT-trades-2021-01-08-first2001.csv"
BOOKTICKER_2024 = MARKET / "btcusdt-um-bookticker-2024-07-18_19.csv"
MARKPRICE = MARKET / "btcusdt-um-markprice-2023-04-04_05.csv"
KLINES_5M = MARKET / "XRPUSDT-5m-futures-2021-11-15_21.csv"
KLINES_1H = MARKET / "XRPUSDT-1h-futures-2021-11-17_21.csv"

# file, format, ticks (rows as the fixtures README counts them; four per candle), first tick
FIXTURES = [
    (TRADES_2023, PriceFormat.TRADES, 12_935, Tick(1680652700452, Decimal("28145.10"))),
    (
        MARKET / "btcusdt-um-trades-2024-07-18_19.csv",
        PriceFormat.TRADES,
        10_701,
        Tick(1721347022956, Decimal("63943.90")),
    ),
    (
        MARKET / "ethusdt-um-trades-2024-07-18_19.csv",
        PriceFormat.TRADES,
        13_655,
        Tick(1721347022707, Decimal("3424.98")),
    ),
    (SPOT_TRADES, PriceFormat.TRADES, 2_001, Tick(1610064000278, Decimal("39432.48"))),
    (
        MARKET / "ETHUSDT-trades-2023-02-02-first1000.csv",
        PriceFormat.TRADES,
        1_000,
        Tick(1675329600138, Decimal("1666.8")),
    ),
    (
        MARKET / "btcusdt-um-bookticker-2023-04-04_05.csv",
        PriceFormat.BOOKTICKER,
        44_205,
        Tick(1680652700430, Decimal("28145.15")),
    ),
    (BOOKTICKER_2024, PriceFormat.BOOKTICKER, 52_260, Tick(1721347022507, Decimal("63943.95"))),
    (
        MARKET / "ethusdt-um-bookticker-2024-07-18_19.csv",
        PriceFormat.BOOKTICKER,
        47_328,
        Tick(1721347022561, Decimal("3424.985")),
    ),
    (MARKPRICE, PriceFormat.MARKPRICE, 514, Tick(1680652701000, Decimal("28147.27373413"))),
    (KLINES_5M, PriceFormat.KLINES, 4 * 1_999, Tick(1636934400000, Decimal("1.1893"))),
    (KLINES_1H, PriceFormat.KLINES, 4 * 100, Tick(1637110800000, Decimal("1.0801"))),
    (
        MARKET / "XRPUSDT-1h-markPriceKlines-2021-11-15_19.csv",
        PriceFormat.KLINES,
        4 * 100,
        Tick(1636956000000, Decimal("1.20932")),
    ),
]
FIXTURE_IDS = [case[0].name for case in FIXTURES]


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def expected_ticks(path: Path, fmt: PriceFormat) -> list[Tick]:
    """The ticks a file holds, read by column name; klines give their open and close only."""
    if fmt is PriceFormat.BOOKTICKER:
        return [
            Tick(
                int(row["transaction_time"]),
                (Decimal(row["best_bid_price"]) + Decimal(row["best_ask_price"])) / 2,
            )
            for row in rows_of(path)
        ]
    if fmt is PriceFormat.KLINES:
        return [
            tick
            for row in rows_of(path)
            for tick in (
                Tick(int(row["open_time"]), Decimal(row["open"])),
                Tick(int(row["close_time"]), Decimal(row["close"])),
            )
        ]
    return [Tick(int(row["time"]), Decimal(row["price"])) for row in rows_of(path)]


def comparable(ticks: list[Tick], fmt: PriceFormat) -> list[Tick]:
    """Klines keep their open and close ticks, the ones `expected_ticks` can name by column."""
    if fmt is PriceFormat.KLINES:
        return [tick for index, tick in enumerate(ticks) if index % 4 in (0, 3)]
    return ticks


def without_header(path: Path, tmp_path: Path) -> Path:
    headerless = tmp_path / f"headerless-{path.name}"
    headerless.write_text("".join(path.read_text().splitlines(keepends=True)[1:]))
    return headerless


def write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_error(path: Path, fmt: PriceFormat | None = None) -> PriceFileError:
    with pytest.raises(PriceFileError) as caught:
        list(open_price_file(path, fmt))
    return caught.value


def assert_error_at(path: Path, line: int | None, message: str) -> None:
    error = read_error(path)
    assert error.line == line
    assert message in error.message
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(error) == f"{where}: {error.message}"


@pytest.mark.parametrize(("path", "fmt", "count", "first"), FIXTURES, ids=FIXTURE_IDS)
def test_fixture_is_detected_and_read_whole(
    path: Path, fmt: PriceFormat, count: int, first: Tick
) -> None:
    assert detect_format(path) is fmt
    ticks = list(open_price_file(path))
    assert len(ticks) == count
    assert ticks[0] == first
    assert str(ticks[0].price) == str(first.price)  # the file's digits: no float, no rounding
    assert comparable(ticks, fmt) == expected_ticks(path, fmt)


@pytest.mark.parametrize(("path", "fmt", "count", "first"), FIXTURES, ids=FIXTURE_IDS)
def test_fixture_without_header_reads_the_same(
    path: Path, fmt: PriceFormat, count: int, first: Tick, tmp_path: Path
) -> None:
    headerless = without_header(path, tmp_path)
    assert detect_format(headerless) is fmt
    ticks = list(open_price_file(headerless, fmt))
    assert len(ticks) == count
    assert ticks[0] == first
    assert ticks == list(open_price_file(path))


def aggregate(trades: list[dict[str, str]]) -> list[list[str]]:
    """Binance's aggregation: one row per run of trades at one time, price and taker side."""
    runs = itertools.groupby(trades, key=lambda t: (t["time"], t["price"], t["is_buyer_maker"]))
    rows = []
    for agg_id, ((time, price, buyer_maker), run) in enumerate(runs, start=26_000_000):
        members = list(run)
        quantity = sum(Decimal(t["qty"]) for t in members)
        first, last = members[0]["id"], members[-1]["id"]
        rows.append([str(agg_id), price, str(quantity), first, last, time, buyer_maker])
    return rows


AGGTRADES_HEADER = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
)


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("spot", [True, False])
def test_aggtrades_derived_from_real_trades(header: bool, spot: bool, tmp_path: Path) -> None:
    trades = rows_of(TRADES_2023)
    rows = aggregate(trades)
    if spot:  # spot files add is_best_match and write Python's True/False
        rows = [[*row[:6], row[6].capitalize(), "True"] for row in rows]
    lines = [AGGTRADES_HEADER + (",is_best_match" if spot else "")] if header else []
    path = write(tmp_path, "\n".join(lines + [",".join(row) for row in rows]) + "\n")

    assert detect_format(path) is PriceFormat.AGGTRADES
    ticks = list(open_price_file(path))
    assert 0 < len(ticks) == len(rows) < len(trades)  # trades sharing a taker order were merged
    assert ticks[0] == Tick(1680652700452, Decimal("28145.10"))
    assert ticks == [Tick(int(row[5]), Decimal(row[1])) for row in rows]


def test_spot_trades_with_is_best_match_column(tmp_path: Path) -> None:
    rows = [line.split(",") for line in SPOT_TRADES.read_text().splitlines()[1:]]
    path = write(tmp_path, "".join(f"{','.join(r[:5])},{r[5].capitalize()},True\n" for r in rows))
    assert detect_format(path) is PriceFormat.TRADES
    assert list(open_price_file(path)) == list(open_price_file(SPOT_TRADES))


@pytest.mark.parametrize("header", ["time_ms,price\n", ""])
def test_plain_file_derived_from_mark_prices(header: str, tmp_path: Path) -> None:
    rows = rows_of(MARKPRICE)
    path = write(tmp_path, header + "".join(f"{r['time']},{r['price']}\n" for r in rows))
    assert detect_format(path) is PriceFormat.PLAIN
    assert list(open_price_file(path)) == list(open_price_file(MARKPRICE))


def test_rising_candle_goes_open_low_high_close() -> None:
    # line 2: 1636934400000,1.1893,1.1954,1.1891,1.1941,...,1636934699999
    assert list(open_price_file(KLINES_5M))[0:4] == [
        Tick(1636934400000, Decimal("1.1893")),
        Tick(1636934499999, Decimal("1.1891")),
        Tick(1636934599999, Decimal("1.1954")),
        Tick(1636934699999, Decimal("1.1941")),
    ]


def test_falling_candle_goes_open_high_low_close() -> None:
    # line 4: 1636935000000,1.1972,1.1994,1.1958,1.1963,...,1636935299999
    assert list(open_price_file(KLINES_5M))[8:12] == [
        Tick(1636935000000, Decimal("1.1972")),
        Tick(1636935099999, Decimal("1.1994")),
        Tick(1636935199999, Decimal("1.1958")),
        Tick(1636935299999, Decimal("1.1963")),
    ]
    # line 2 of the hour file: 1637110800000,1.0801,1.09758,1.07654,1.07925,...,1637114399999
    assert list(open_price_file(KLINES_1H))[0:4] == [
        Tick(1637110800000, Decimal("1.0801")),
        Tick(1637111999999, Decimal("1.09758")),
        Tick(1637113199999, Decimal("1.07654")),
        Tick(1637114399999, Decimal("1.07925")),
    ]


def test_unchanged_candle_counts_as_rising() -> None:
    # line 156: 1636980600000,1.2066,1.2067,1.2055,1.2066,...
    ticks = list(open_price_file(KLINES_5M))[4 * 154 : 4 * 155]
    assert [tick.price for tick in ticks] == [
        Decimal(p) for p in ("1.2066", "1.2055", "1.2067", "1.2066")
    ]


def test_every_candle_stays_in_its_span_and_touches_its_low_and_high() -> None:
    rows = rows_of(KLINES_5M)
    ticks = list(open_price_file(KLINES_5M))
    for index, row in enumerate(rows):
        candle = ticks[4 * index : 4 * index + 4]
        assert int(row["open_time"]) <= candle[1].time_ms <= candle[2].time_ms
        assert candle[2].time_ms <= int(row["close_time"])
        assert {candle[1].price, candle[2].price} == {Decimal(row["low"]), Decimal(row["high"])}


def test_microsecond_times_become_milliseconds(tmp_path: Path) -> None:
    # Binance spot files since 2025 write µs: 16 digits instead of 13
    lines = TRADES_2023.read_text().splitlines()[1:]
    micro = [",".join([*c[:3], c[3] + "123", *c[4:]]) for c in (li.split(",") for li in lines)]
    path = write(tmp_path, "\n".join(micro) + "\n")
    assert list(open_price_file(path)) == list(open_price_file(TRADES_2023))


def test_microsecond_klines_become_milliseconds(tmp_path: Path) -> None:
    lines = KLINES_1H.read_text().splitlines()
    micro = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[0] += "000"
        cells[6] += "999"
        micro.append(",".join(cells))
    path = write(tmp_path, "\n".join(micro) + "\n")
    assert list(open_price_file(path)) == list(open_price_file(KLINES_1H))


def test_a_file_mixing_ms_and_us_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "1680652700452000,28145.10\n1680652700453,28145.20\n")
    assert_error_at(path, 2, "time 1680652700453 is in ms, but the first row's is in µs")
    path = write(tmp_path, "1680652700452,28145.10\n1680652700453000,28145.20\n")
    assert_error_at(path, 2, "is in µs, but the first row's is in ms")


def test_equal_times_are_kept_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,price\n1000,10.5\n1000,10.4\n1000,10.6\n")
    assert [tick.price for tick in open_price_file(path)] == [
        Decimal("10.5"),
        Decimal("10.4"),
        Decimal("10.6"),
    ]


def test_rows_are_read_lazily_and_bytes_read_reaches_size() -> None:
    prices = open_price_file(BOOKTICKER_2024)
    assert prices.format is PriceFormat.BOOKTICKER
    assert prices.size == BOOKTICKER_2024.stat().st_size
    assert prices.bytes_read == 0
    ticks = iter(prices)
    next(ticks)
    assert 0 < prices.bytes_read < prices.size
    assert sum(1 for _ in ticks) == 52_260 - 1
    assert prices.bytes_read == prices.size


def test_bom_crlf_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(b"\xef\xbb\xbftime_ms,price\r\n\r\n1000,10.5\r\n\r\n1001,10.6\r\n\r\n")
    assert list(open_price_file(path)) == [
        Tick(1000, Decimal("10.5")),
        Tick(1001, Decimal("10.6")),
    ]


def test_line_numbers_count_blank_and_crlf_lines(tmp_path: Path) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(b"\r\n1000,10.5\r\n\r\n1001,-1\r\n")
    assert_error_at(path, 4, "price '-1' is not a positive decimal number")


def test_missing_file(tmp_path: Path) -> None:
    assert_error_at(tmp_path / "nope.csv", None, "cannot read: No such file or directory")


def test_directory(tmp_path: Path) -> None:
    assert_error_at(tmp_path, None, "cannot read: Is a directory")


@pytest.mark.parametrize(
    "text", ["", "\n\n", "time_ms,price\n", AGGTRADES_HEADER + "\n\n"], ids=repr
)
def test_a_file_without_data_rows_is_refused(text: str, tmp_path: Path) -> None:
    assert_error_at(write(tmp_path, text), None, "no data rows")


@pytest.mark.parametrize(
    ("name", "head", "message"),
    [
        ("prices.csv", b"\x00\x9f\x92\x96\xff\xfe", "cannot read: not UTF-8 text"),
        # gzip's magic bytes, then garbage: a damaged download
        ("prices.csv.gz", b"\x1f\x8b\x08\x00\xff\xfe", "cannot read: damaged archive"),
    ],
)
def test_binary_file_is_refused_not_a_traceback(
    name: str, head: bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(head * 100)
    assert_error_at(path, None, message)


def test_bytes_that_are_not_utf8_deep_in_a_file_are_refused_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b"".join(b"%d,1.5\n" % (1000 + n) for n in range(100_000)) + b"\xff\n")
    prices = open_price_file(path)
    with pytest.raises(PriceFileError, match="not UTF-8 text"):
        list(prices)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("price,time\n1000,1.5\n", "header does not fit any known price format: 'price,time'"),
        ("1000,1.5,7\n", "first row does not fit any known price format: '1000,1.5,7'"),
        ("1000,abc\n", "first row does not fit any known price format"),
    ],
)
def test_unknown_format_is_refused_at_line_one(text: str, message: str, tmp_path: Path) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PriceFileError) as caught:
        detect_format(path)
    assert caught.value.line == 1
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}:1: ")


def test_a_format_the_file_does_not_have_is_refused() -> None:
    error = read_error(TRADES_2023, PriceFormat.KLINES)
    assert (error.line, error.message) == (
        1,
        "header does not fit the klines format: 'id,price,qty,time,is_buyer_maker,trade_type'",
    )


def test_a_format_the_headerless_file_does_not_have_is_refused(tmp_path: Path) -> None:
    error = read_error(without_header(MARKPRICE, tmp_path), PriceFormat.TRADES)
    assert error.line == 1
    assert error.message.startswith("first row does not fit the trades format")


def replace_line(source: Path, tmp_path: Path, line: int, text: str) -> Path:
    """A copy of a fixture with one line (1-based) replaced."""
    lines = source.read_text().splitlines()
    lines[line - 1] = text
    return write(tmp_path, "\n".join(lines) + "\n", name=f"edited-{source.name}")


def test_wrong_column_count_names_its_line(tmp_path: Path) -> None:
    path = replace_line(TRADES_2023, tmp_path, 5, "3535186035,28145.10,0.002,1680652700452,true")
    assert_error_at(path, 5, "5 columns, expected 6")


def test_rows_before_a_bad_row_are_still_delivered(tmp_path: Path) -> None:
    path = replace_line(TRADES_2023, tmp_path, 5, "garbage")
    ticks = iter(open_price_file(path))
    assert [next(ticks).price for _ in range(3)] == [Decimal("28145.10")] * 3
    with pytest.raises(PriceFileError, match=r":5: 1 columns, expected 6$"):
        next(ticks)


@pytest.mark.parametrize("price", ["-28145.10", "0", "0.000", "-0"])
def test_price_that_is_not_positive_names_its_line(price: str, tmp_path: Path) -> None:
    path = replace_line(MARKPRICE, tmp_path, 7, f"1680652707000,{price},28159.7,28142.1,0.1,0")
    assert_error_at(path, 7, f"price {price!r} is not a positive decimal number")


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("NaN", "'NaN' is not a decimal number"),
        ("nan", "'nan' is not a decimal number"),
        ("sNaN", "'sNaN' is not a decimal number"),
        ("Infinity", "'Infinity' is not a decimal number"),
        ("-inf", "'-inf' is not a decimal number"),
        ("abc", "'abc' is not a decimal number"),
        ("", "'' is not a decimal number"),
        ("1_000", "'1_000' is not a decimal number"),
        ("1e999999999", "'1e999999999' is out of range"),
        ("-1e999999999", "'-1e999999999' is out of range"),
        ("1e-999999999", "'1e-999999999' has more than 12 decimal places"),
        ("1" * 5000, "'11111111111111111111…' is not a decimal number"),
        ("1" * 13, "'1111111111111' is out of range"),
        ("0.0000000000001", "'0.0000000000001' has more than 12 decimal places"),
    ],
)
def test_price_that_is_not_a_sane_number_names_its_line(
    price: str, reason: str, tmp_path: Path
) -> None:
    path = replace_line(MARKPRICE, tmp_path, 7, f"1680652707000,{price},28159.7,28142.1,0.1,0")
    assert_error_at(path, 7, f"price {reason}")


def test_trailing_zeros_beyond_twelve_places_are_only_zeros(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,price\n1000,28145.10000000000000\n")
    assert [t.price for t in open_price_file(path)] == [Decimal("28145.1")]


def test_exponent_prices_are_accepted_exactly(tmp_path: Path) -> None:
    path = write(tmp_path, "time_ms,price\n1000,2.81451E+4\n")
    assert list(open_price_file(path)) == [Tick(1000, Decimal("28145.1"))]


@pytest.mark.parametrize("time", ["1680652707000.5", "1.68e12", "abc", "", "1_0", "9" * 5000])
def test_time_that_is_not_an_integer_names_its_line(time: str, tmp_path: Path) -> None:
    path = replace_line(MARKPRICE, tmp_path, 7, f"{time},28147.2,28159.7,28142.1,0.1,0")
    shown = time if len(time) <= 24 else time[:20] + "…"
    assert_error_at(path, 7, f"time {shown!r} is not an integer")


def test_negative_time_names_its_line(tmp_path: Path) -> None:
    assert_error_at(write(tmp_path, "0,1.5\n-1,1.5\n"), 2, "time -1 is negative")


def test_row_out_of_time_order_names_its_line(tmp_path: Path) -> None:
    # line 10 of the trades fixture is at 1680652701003; this row goes back 1 ms
    row = "3535186042,28145.10,0.001,1680652701002,true,MARKET"
    path = replace_line(TRADES_2023, tmp_path, 11, row)
    assert_error_at(path, 11, "time 1680652701002 is earlier than the previous row's 1680652701003")


def test_book_update_with_a_bad_ask_names_its_line(tmp_path: Path) -> None:
    row = "4984028374571,63943.90,46.369,NaN,0.095,1721347022575,1721347022575"
    path = replace_line(BOOKTICKER_2024, tmp_path, 3, row)
    assert_error_at(path, 3, "price 'NaN' is not a decimal number")


KLINE = "1636935000000,{ohlc},4199874.3,{close_time},0,0,0,0,0"  # line 4 of the 5m file


@pytest.mark.parametrize(
    "ohlc",
    [
        "1.1972,1.1970,1.1958,1.1963",  # high below open
        "1.1963,1.1970,1.1958,1.1972",  # high below close
        "1.1972,1.1994,1.1965,1.1963",  # low above close
        "1.1963,1.1994,1.1965,1.1972",  # low above open
    ],
)
def test_candle_whose_low_and_high_do_not_contain_open_and_close(ohlc: str, tmp_path: Path) -> None:
    _, high, low, _ = ohlc.split(",")
    path = replace_line(KLINES_5M, tmp_path, 4, KLINE.format(ohlc=ohlc, close_time=1636935299999))
    assert_error_at(path, 4, f"low {low} and high {high} do not contain open and close")


def test_candle_closing_before_it_opens(tmp_path: Path) -> None:
    row = KLINE.format(ohlc="1.1972,1.1994,1.1958,1.1963", close_time=1636934999999)
    path = replace_line(KLINES_5M, tmp_path, 4, row)
    assert_error_at(path, 4, "close_time 1636934999999 is earlier than open_time 1636935000000")


def test_candle_overlapping_the_previous_one(tmp_path: Path) -> None:
    lines = KLINES_5M.read_text().splitlines()
    path = write(tmp_path, "\n".join([*lines[:4], lines[3]]) + "\n")
    assert_error_at(path, 5, "open_time 1636935000000 is earlier than the previous close")


def test_error_text_names_file_and_line() -> None:
    assert str(PriceFileError("a.csv", 3, "bad")) == "a.csv:3: bad"
    assert str(PriceFileError("a.csv", None, "bad")) == "a.csv: bad"
