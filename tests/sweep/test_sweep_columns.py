"""`exitd sweep` reads each file once per worker, as columns through the parsed-file cache:
the table is the same from an empty cache, from a full one, without any cache, on the exact
loop and without the research extra; and what the sweep needs as Decimal comes from the
columns exactly as from the plain reader's ticks."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exitd.cli import main
from exitd.engine import Tick
from exitd.price_files import PriceFile
from exitd.replay.columns import columns_of
from exitd.sweep import paths
from exitd.sweep.paths import ColumnPath, TickPath, times_read
from tests.conftest import MARKET

FILES = [
    MARKET / "btcusdt-um-trades-2023-04-04_05.csv",
    MARKET / "btcusdt-um-trades-2024-07-18_19.csv",
]
PLANS = ["--grid", "hard_sl_pct=0.1,0.3", "--grid", "trail.callback_pct=0.02,0.06"]
PLANS += ["--tp", "0.05:0.3", "--be-trigger", "0.04", "--be-offset", "0.01"]
PLANS += ["--trail-activation", "0.05", "--qty", "0.5", "--entries", "every:3m", "--side", "both"]


def _sweep(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sweep", *args])
    return code, out.getvalue(), err.getvalue()


def _table(args: list[str]) -> str:
    code, out, err = _sweep(args)
    assert code == 0, err
    assert len(out.splitlines()) == 1 + 4  # the header and the four plans
    return out


def _entries(cache: Path) -> dict[str, tuple[int, int]]:
    """The cache's entries, each with what a rewrite would change (inode, mtime)."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.iterdir()}


def test_the_table_is_the_same_whether_or_not_the_cache_exists(tmp_path: Path) -> None:
    files = [str(path) for path in FILES]
    cache = tmp_path / "cache"
    # Two fresh worker processes each time: neither has a file in memory from before.
    first = _table([*files, *PLANS, "--jobs", "2", "--cache-dir", str(cache)])
    written = _entries(cache)
    assert len(written) == len(FILES)  # one entry per file, parsed into it
    again = _table([*files, *PLANS, "--jobs", "2", "--cache-dir", str(cache)])
    assert again == first
    assert _entries(cache) == written  # mapped, not parsed and written again
    assert _table([*files, *PLANS, "--jobs", "2", "--no-cache"]) == first
    assert _table([*files, *PLANS, "--jobs", "1", "--exact-loop"]) == first


@contextlib.contextmanager
def _plain_reads() -> Iterator[list[int]]:
    """Counts each step of the plain reader's row iterator on this thread (no mock: a
    profiler), so a file read row by row anywhere in the sweep shows up."""
    code = PriceFile.__iter__.__code__
    steps = [0]

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event == "call" and frame.f_code is code:
            steps[0] += 1

    sys.setprofile(profile)
    try:
        yield steps
    finally:
        sys.setprofile(None)


def test_a_file_is_parsed_once_per_worker_and_again_once_changed(tmp_path: Path) -> None:
    path = tmp_path / FILES[1].name  # a path no other test has read in this process
    shutil.copyfile(FILES[1], path)
    cache = tmp_path / "cache"
    args = [str(path), *PLANS, "--jobs", "1", "--cache-dir", str(cache)]  # cells here
    with _plain_reads() as steps:
        first = _table(args)
    assert times_read(str(path)) == 1  # four cells, one read
    assert len(_entries(cache)) == 1  # and that read parsed the file into the cache
    assert steps == [0]  # pyarrow's parse: the plain reader never read a row
    assert _table(args) == first
    assert times_read(str(path)) == 1  # kept by the worker while unchanged
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert _table(args) == first
    assert times_read(str(path)) == 2
    assert len(_entries(cache)) == 2  # a changed file is parsed again


def test_without_the_research_extra_the_table_is_the_same(tmp_path: Path) -> None:
    """A fresh interpreter in which numpy and pyarrow cannot be imported: the plain loop."""
    args = ["sweep", str(FILES[1]), *PLANS, "--jobs", "1"]
    script = (
        "import sys\n"
        "sys.modules['numpy'] = sys.modules['pyarrow'] = None\n"
        "from exitd.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    env = {**os.environ, "EXITD_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == _table([str(FILES[1]), *PLANS, "--jobs", "1", "--no-cache"])
    assert not (tmp_path / "cache").exists()


def test_prices_too_fine_for_64_bits_sweep_on_the_plain_loop(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    rows = ["123456789.000000000001", "123456789.5", "123356789.1", "123556789.25"]
    path.write_text("".join(f"{1000 * (n + 1)},{price}\n" for n, price in enumerate(rows)))
    args = [str(path), "--grid", "hard_sl_pct=0.05,0.1", "--tp", "0.02:0.5", "--jobs", "1"]
    args += ["--entries", "every:1s", "--side", "both", "--cache-dir", str(tmp_path / "cache")]
    code, out, err = _sweep(args)
    assert code == 0, err
    assert len(out.splitlines()) == 1 + 2
    assert _sweep([*args, "--exact-loop"]) == (0, out, err)


def _ticks(prices: list[str]) -> list[Tick]:
    return [Tick(1000 * n, Decimal(price)) for n, price in enumerate(prices)]


_PRICE = st.builds(
    lambda whole, digits: f"{whole}.{digits}" if digits else str(whole),
    st.integers(1, 99_999),
    st.text("0123456789", max_size=4),  # trailing zeros too: 100.10, 100.00
)


@settings(max_examples=60, deadline=None)
@given(prices=st.lists(_PRICE, min_size=1, max_size=12))
def test_columns_give_the_plain_readers_steps_and_extremes(prices: list[str]) -> None:
    """The tick size inferred from every prefix, and the lowest and highest price of every
    span (value and exponent: 100.10 stays 100.10), from columns as from ticks."""
    ticks = _ticks(prices)
    plain = TickPath(ticks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(paths, "_SCAN_ROWS", 3)  # chunk edges inside so few rows
        upwards, downwards = ColumnPath(columns_of(ticks)), ColumnPath(columns_of(ticks))
        for rows in range(1, len(ticks) + 1):  # the scan goes on chunk by chunk
            assert str(upwards.finest_step(rows)) == str(plain.finest_step(rows))
        for rows in range(len(ticks), 0, -1):  # all scanned at once, then looked back on
            assert str(downwards.finest_step(rows)) == str(plain.finest_step(rows))
    for start in range(len(ticks)):
        assert upwards.tick(start) == plain.tick(start)
        for stop in range(start + 1, len(ticks) + 1):
            for lowest in (True, False):
                got = upwards.extreme(start, stop, lowest=lowest)
                assert str(got) == str(plain.extreme(start, stop, lowest=lowest))
    assert list(upwards.times) == list(plain.times)
