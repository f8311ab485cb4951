"""pyarrow's first read gives the plain reader's columns, value and exponent, or gives up and
leaves the file to the plain reader: so the errors are the plain reader's too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exitd.price_files import PriceFileError, open_price_file
from exitd.replay.cache import load_columns
from exitd.replay.columns import PriceColumns, columns_of
from exitd.replay.csv_columns import read_columns
from tests.conftest import MARKET

MULTI_TICK = ("klines", "markPriceKlines", "5m-futures", "1h-futures", "bookticker")
TRADES = "id,price,qty,quote_qty,time,is_buyer_maker\n"


def same(a: PriceColumns, b: PriceColumns) -> bool:
    exponents_equal = (a.exponents is None and b.exponents is None) or (
        a.exponents is not None
        and b.exponents is not None
        and np.array_equal(a.exponents, b.exponents)
    )
    return (
        np.array_equal(a.times, b.times)
        and np.array_equal(a.prices, b.prices)
        and a.scale == b.scale
        and exponents_equal
    )


@pytest.mark.parametrize("name", sorted(p.name for p in MARKET.iterdir() if p.suffix != ".md"))
def test_every_fixture_reads_as_the_plain_reader_reads_it(name: str) -> None:
    price_file = open_price_file(MARKET / name)
    fast = read_columns(price_file)
    if any(part in name for part in MULTI_TICK):
        assert fast is None  # candles and book mids: the plain reader makes their ticks
        return
    assert fast is not None
    assert same(fast, columns_of(price_file))
    assert [str(t.price) for t in fast.ticks(0, 50)] == [
        str(t.price) for t in columns_of(price_file).ticks(0, 50)
    ]


ROWS = [
    "1,28145.1,0.5,14072.55,1680652700452,true\n",
    "2,28145.10,0.1,2814.51,1680652700453,false\n",
    "3,28146,0.1,2814.6,1680652700453,false\n",
    "4,0.000000000001,0.1,0,1680652700460,false\n",
]


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        (TRADES + "".join(ROWS), True),
        ("".join(ROWS), True),  # headerless
        ("\ufeff" + TRADES + "".join(ROWS), True),  # a byte-order mark
        ((TRADES + "".join(ROWS)).replace("\n", "\r\n"), True),
        (TRADES + ROWS[0] + "\n" + ROWS[1] + "\r\n" + "".join(ROWS[2:]), True),  # blank lines
        (TRADES + "".join(r.replace(",16806", ",16806000") for r in ROWS), True),  # µs
        ("\n" + TRADES + "".join(ROWS), False),  # a blank line above the header
        (TRADES + "".join(ROWS) + "   \n", False),  # a line of spaces
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", " 28145.10"), False),
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", '"28145.10"'), False),
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", "2.814510e4"), False),
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", "28145.1000000000000"), False),
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", "28145."), False),
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", "0.0"), False),
        (TRADES + ROWS[0] + ROWS[1].replace("28145.10", "-1"), False),
        (TRADES + ROWS[0] + ROWS[1].replace("1680652700453", "1680652700451"), False),
        (TRADES + ROWS[0] + ROWS[1].replace("1680652700453", "1680652700453000"), False),
        (TRADES + ROWS[0] + ROWS[1].replace(",false", ",false,1"), False),
        (TRADES + ROWS[0] + ROWS[1].replace(",false", ""), False),
        (TRADES + ROWS[0] + "1,123456789012.1234567,1,1,1680652700460,true\n", False),
        ("1,28145.1,0.5,1680652700452,true\n", False),  # a trades header row short of a cell
    ],
)
def test_first_read_equals_the_plain_reader_or_leaves_it_the_file(
    tmp_path: Path, text: str, fast: bool
) -> None:
    path = tmp_path / "BTCUSDT-trades.csv"
    path.write_text(text, newline="")
    try:
        price_file = open_price_file(path)
    except PriceFileError:
        assert not fast
        return
    assert (read_columns(price_file) is not None) == fast
    try:
        plain: PriceColumns | str = columns_of(price_file)
    except PriceFileError as error:
        plain = str(error)
    try:
        loaded: PriceColumns | str = load_columns(price_file, None)
    except PriceFileError as error:
        loaded = str(error)
    if isinstance(plain, str):
        assert loaded == plain
    else:
        assert isinstance(loaded, PriceColumns)
        assert same(loaded, plain)
