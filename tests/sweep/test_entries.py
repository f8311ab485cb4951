"""Where a sweep's positions start: intervals along a path, or a trade list's times."""

from __future__ import annotations

from pathlib import Path

import pytest

from exitd.engine import Side
from exitd.sweep.entries import (
    EntriesError,
    EveryEntries,
    ListedEntries,
    entry_points,
    parse_entries,
)

L, S = Side.LONG, Side.SHORT


def test_every_interval_enters_at_the_first_tick_at_or_after_each_time() -> None:
    times = [1000, 1500, 61_000, 61_200, 125_000, 130_000]
    spec = parse_entries("every:1m", "long")
    assert spec == EveryEntries(60_000, (L,))
    # 1000, 61000, 121000 -> ticks 0, 2, 4
    assert entry_points(spec, times) == [(0, L), (2, L), (4, L)]


def test_both_sides_enter_at_each_time_and_a_gap_makes_one_entry_not_two() -> None:
    times = [0, 10, 200_000]  # one gap spans three 1-minute entry times
    spec = parse_entries("every:60s", "both")
    assert entry_points(spec, times) == [(0, L), (0, S), (2, L), (2, S)]


@pytest.mark.parametrize("text", ["every:0h", "every:1w", "every:h", "every"])
def test_a_bad_interval_says_so(text: str) -> None:
    with pytest.raises(EntriesError, match="every"):
        parse_entries(text, "long")


def test_a_trade_list_with_sides_iso_times_and_ms(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(
        "open_date,side,pair\n"
        "1970-01-01 00:00:02,short,BTC\n"
        "1000,buy,BTC\n"
        "\n"
        "1970-01-01T00:00:09+00:00,long,BTC\n"
    )
    spec = parse_entries(str(path), "long")
    assert spec == ListedEntries(((1000, L), (2000, S), (9000, L)))
    times = [500, 1000, 1999, 2500, 8000]
    # 9000 is after the path's last tick: not on this path
    assert entry_points(spec, times) == [(1, L), (3, S)]


def test_a_trade_list_without_sides_uses_side_and_is_short_is_read(tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("time\n5000\n")
    assert parse_entries(str(plain), "both") == ListedEntries(((5000, L), (5000, S)))
    flagged = tmp_path / "flagged.csv"
    flagged.write_text("open_date,is_short\n1000,true\n2000,False\n")
    assert parse_entries(str(flagged), "long") == ListedEntries(((1000, S), (2000, L)))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("when,side\n1,long\n", "no time column"),
        ("time,side\n1,up\n", ":2: side 'up'"),
        ("time,side\nyesterday,long\n", ":2: time 'yesterday'"),
        ("time,side\n1,long,3\n", ":2: 3 columns"),
        ("time,is_short\n1,maybe\n", ":2: is_short"),
        ("time\n", "at least one entry"),
    ],
)
def test_a_bad_trade_list_names_its_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(body)
    with pytest.raises(EntriesError, match=message):
        parse_entries(str(path), "long")


def test_a_missing_trade_list_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(EntriesError, match="cannot read"):
        parse_entries(str(tmp_path / "none.csv"), "long")
