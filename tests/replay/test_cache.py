"""The parsed-file cache: written once, mapped after, rebuilt when the file or the entry changes,
and never needed: without it (or without the research extra) replay gives the same output."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

from exitd.cli import main
from exitd.price_files import open_price_file
from exitd.replay.cache import Cancelled, default_cache_dir, load_columns
from exitd.replay.columns import PriceColumns, columns_of
from exitd.replay.hybrid import ColumnsLoader
from tests.conftest import MARKET

BOOKTICKER = MARKET / "ethusdt-um-bookticker-2024-07-18_19.csv"  # mids: 2 or 3 decimals
TRADES = MARKET / "ETHUSDT-trades-2023-02-02-first1000.csv"
PLAN = ["--side", "short", "--qty", "1", "--hard-sl-pct", "0.05", "--tp", "0.02:0.5", "--json"]


def same_ticks(a: PriceColumns, b: PriceColumns) -> bool:
    return [(t.time_ms, str(t.price)) for t in a.ticks()] == [
        (t.time_ms, str(t.price)) for t in b.ticks()
    ]


def test_a_file_is_parsed_once_then_mapped(tmp_path: Path) -> None:
    price_file = open_price_file(BOOKTICKER)
    first = load_columns(price_file, tmp_path)
    entries = list(tmp_path.iterdir())
    assert len(entries) == 1
    assert entries[0].name.startswith("ethusdt-um-bookticker-2024-07-18_19-")
    assert first.prices.flags.writeable  # parsed: numpy's own memory
    again = load_columns(price_file, tmp_path)
    assert not again.prices.flags.writeable  # mapped from the entry, not parsed
    assert list(tmp_path.iterdir()) == entries
    assert again.exponents is not None  # this file's decimals vary, and stay as they were
    assert same_ticks(again, columns_of(open_price_file(BOOKTICKER)))


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("1000,100.0\n2000,100.5\n")
    cache = tmp_path / "cache"
    load_columns(open_price_file(path), cache)
    stat = path.stat()
    path.write_text("1000,100.0\n2000,100.7\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and same mtime: only the hash
    columns = load_columns(open_price_file(path), cache)
    assert str(columns.tick(1).price) == "100.7"
    assert len(list(cache.iterdir())) == 2
    assert str(load_columns(open_price_file(path), cache).tick(1).price) == "100.7"


def test_a_damaged_entry_is_rebuilt(tmp_path: Path) -> None:
    load_columns(open_price_file(TRADES), tmp_path)
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(entry.read_bytes()[:100])
    columns = load_columns(open_price_file(TRADES), tmp_path)
    assert same_ticks(columns, columns_of(open_price_file(TRADES)))
    assert not load_columns(open_price_file(TRADES), tmp_path).prices.flags.writeable


def test_a_cache_folder_that_cannot_be_written_costs_only_speed(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    columns = load_columns(open_price_file(TRADES), blocked / "cache")
    assert same_ticks(columns, columns_of(open_price_file(TRADES)))


def test_the_default_cache_folder() -> None:
    assert default_cache_dir({"EXITD_CACHE_DIR": "/x/y"}) == Path("/x/y")
    assert default_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/exitd")
    assert default_cache_dir({}) == Path.home() / ".cache" / "exitd"


def replay(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["replay", *argv, *PLAN])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_cache_dir_and_no_cache_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    exact = replay(capsys, str(TRADES), "--exact-loop", "--cache-dir", str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()  # the plain loop parses nothing into columns
    assert replay(capsys, str(TRADES), "--no-cache", "--cache-dir", str(tmp_path / "b")) == exact
    assert not (tmp_path / "b").exists()
    assert replay(capsys, str(TRADES), "--cache-dir", str(tmp_path / "c")) == exact
    assert len(list((tmp_path / "c").iterdir())) == 1
    assert replay(capsys, str(TRADES), "--cache-dir", str(tmp_path / "c")) == exact


def test_prices_too_fine_for_64_bits_replay_on_the_plain_loop(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("1000,123456789.000000000001\n2000,123456789.5\n3000,123356789.1\n")
    fast = replay(capsys, str(path), "--cache-dir", str(tmp_path / "cache"))
    assert fast == replay(capsys, str(path), "--exact-loop")
    assert '"leg":"HARD_SL"' not in fast and '"leg":"TP1"' in fast


@pytest.mark.parametrize("missing", [["numpy", "pyarrow"], ["pyarrow"]])
def test_without_the_research_extra_replay_gives_the_same_output(
    tmp_path: Path, missing: list[str]
) -> None:
    """A fresh interpreter in which the extra's modules cannot be imported."""
    script = (
        "import sys\n"
        f"for name in {missing!r}: sys.modules[name] = None\n"
        "from exitd.cli import main\n"
        f"sys.exit(main(['replay', {str(TRADES)!r}, *{PLAN!r}]))\n"
    )
    env = {**os.environ, "EXITD_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with_extra = subprocess.run(
        [sys.executable, "-m", "exitd.cli", "replay", str(TRADES), *PLAN, "--no-cache"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == with_extra.stdout
    assert done.stdout.count('"leg"') >= 1
    assert not (tmp_path / "cache").exists()


def test_the_loader_thread_brings_the_columns(tmp_path: Path) -> None:
    loader = ColumnsLoader(partial(load_columns, open_price_file(TRADES), tmp_path))
    assert loader.wait(60)
    columns = loader.ready()
    assert columns is not None
    assert same_ticks(columns, columns_of(open_price_file(TRADES)))
    assert len(list(tmp_path.iterdir())) == 1


def test_a_cancelled_load_writes_nothing(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        load_columns(open_price_file(TRADES), tmp_path, cancel)
    assert list(tmp_path.iterdir()) == []


def test_a_loader_that_meets_a_bad_row_brings_nothing(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("1000,100.0\n2000,-1\n")
    loader = ColumnsLoader(partial(load_columns, open_price_file(path), tmp_path / "cache"))
    assert loader.wait(60)
    assert loader.ready() is None  # the plain loop reports the row, if the replay gets there
