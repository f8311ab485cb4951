"""`exitd replay` over a million real trades: end to end, first read and from the cache.

The file is built at bench time (in --workdir, default a temporary folder; nothing is
committed) from the real BTCUSDT trades of tests/fixtures (10,701 trades, 2024-07-18/19):
their prices played forward, then backward, then forward again, and so on, with the real
gaps between trades as times, in Binance's trades layout; once as CSV and once zipped as
Binance publishes it. Measured, each the best of --repeat runs, in µs per tick of the file:

- read:        the plain reader alone over the CSV (and over the zip): the old floor;
- columns:     parsing the file into price columns (the first read) and, later, mapping them
               from the cache (SHA-256 of the file included);
- per plan, end to end through `exitd replay` (`cli.main`, output to memory):
  exact loop (`--exact-loop`, the old path), fast path on the first read (empty cache),
  fast path from the cache, and the fast loop alone over columns already loaded.

`exitd replay` starts the exact loop at once and switches to the fast path when a thread has
loaded the columns (exitd/replay/hybrid.py), so the end-to-end figures include that overlap.
Not counted: the interpreter's start and the imports (numpy and pyarrow add about 0.15 s to a
cold `exitd replay` process).

Plans: `quiet`, a long whose trail arms and ratchets at new highs and never fills (every tick
replayed, few loud); `closes`, the plan of bench_engine.py, closed early in the file; and
`loud`, a trail that ratchets on every tick of a staircase made of the real path's steps (the
fast path's worst case: no tick to skip), on --loud-rows ticks.

    python benchmarks/bench_replay.py [--rows 1000000] [--loud-rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from exitd.cli import main as exitd_main
from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    Position,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    TrailSpec,
    build_plan,
)
from exitd.price_files import open_price_file
from exitd.replay.cache import load_columns
from exitd.replay.fast import replay_fills

SOURCE = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/market/btcusdt-um-trades-2024-07-18_19.csv"
)
HEADER = "id,price,qty,quote_qty,time,is_buyer_maker\n"
D = Decimal
FILTERS = SymbolFilters(D("0.1"), D("0.001"), D("0.001"))
PLANS = {
    "quiet": ExitProfile(
        hard_sl_pct=D(1),
        take_profits=(TakeProfitSpec(D("0.5"), D("0.3")), TakeProfitSpec(D(1), D("0.3"))),
        trail=TrailSpec(callback_pct=D("0.5"), activation_pct=D("0.05")),
    ),
    "closes": ExitProfile(
        hard_sl_pct=D("0.5"),
        take_profits=(TakeProfitSpec(D("0.05"), D("0.3")), TakeProfitSpec(D("0.1"), D("0.3"))),
        breakeven=BreakevenSpec(offset_pct=D("0.01"), trigger_pct=D("0.03")),
        trail=TrailSpec(callback_pct=D("0.02"), activation_pct=D("0.04")),
    ),
    "loud": ExitProfile(hard_sl_pct=D(1), trail=TrailSpec(callback_pct=D(1), activation_pct=D(0))),
}


def options(profile: ExitProfile) -> list[str]:
    """`exitd replay`'s options for a long of 1 under `profile`."""
    found = ["--side", "long", "--qty", "1", "--tick-size", str(FILTERS.tick_size)]
    found += ["--hard-sl-pct", str(profile.hard_sl_pct)]
    for tp in profile.take_profits:
        found += ["--tp", f"{tp.pct}:{tp.fraction}"]
    if profile.breakeven is not None:
        found += ["--be-trigger", str(profile.breakeven.trigger_pct)]
        found += ["--be-offset", str(profile.breakeven.offset_pct)]
    if profile.trail is not None:
        found += ["--trail-activation", str(profile.trail.activation_pct)]
        found += ["--trail-callback", str(profile.trail.callback_pct)]
    return found


def source_rows() -> list[list[str]]:
    with SOURCE.open(newline="") as file:
        rows = list(csv.reader(file))
    return rows[1:]  # id,price,qty,time,is_buyer_maker,trade_type


def write_real(path: Path, rows: int) -> None:
    """The real trades forward, backward, forward…, `rows` of them, times from real gaps."""
    source = source_rows()
    gaps = [max(int(b[3]) - int(a[3]), 0) for a, b in itertools.pairwise(source)]
    time_ms, forward, index = int(source[0][3]), True, 0
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            _, price, qty, _, maker, _ = source[index]
            quote = Decimal(price) * Decimal(qty)
            out.write(f"{n + 1},{price},{qty},{quote},{time_ms},{maker}\n")
            step = 1 if forward else -1
            if not 0 <= index + step < len(source):
                forward, step = not forward, -step
            time_ms += gaps[min(index, index + step)]
            index += step


def write_staircase(path: Path, rows: int) -> None:
    """Every tick a new high: the real path's price steps, all taken upwards, none zero."""
    source = source_rows()
    steps = [abs(Decimal(b[1]) - Decimal(a[1])) for a, b in itertools.pairwise(source)]
    steps = [s for s in steps if s]
    price, time_ms = Decimal(source[0][1]), int(source[0][3])
    with path.open("w") as out:
        out.write(HEADER)
        for n in range(rows):
            out.write(f"{n + 1},{price},0.001,{price / 1000},{time_ms},false\n")
            price += steps[n % len(steps)]
            time_ms += 10


def zipped(path: Path) -> Path:
    target = path.with_suffix(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, path.name)
    return target


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The fastest of `repeat` runs, each alone: a column loader a replay left behind (it
    ended before the columns were needed) finishes first, as a CLI process would kill it."""
    best = float("inf")
    for _ in range(repeat):
        for thread in threading.enumerate():
            if thread.name == "exitd-replay-columns":
                thread.join()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def replay_cli(path: Path, plan: list[str], *extra: str) -> Callable[[], object]:
    def run() -> object:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = exitd_main(["replay", str(path), *plan, "--json", *extra])
        if code != 0:
            raise SystemExit(f"exitd replay failed ({code}) on {path}")
        return out.getvalue()

    return run


def replayed_ticks(path: Path, plan: list[str]) -> int:
    summary = str(replay_cli(path, plan, "--no-cache")()).splitlines()[-1]
    return int(summary.split('"ticks":')[1].split(",")[0])


def fresh_cache(workdir: Path) -> Callable[[], str]:
    counter = iter(range(1_000_000))

    def folder() -> str:
        path = workdir / f"cold-{next(counter)}"
        shutil.rmtree(path, ignore_errors=True)
        return str(path)

    return folder


def measure(path: Path, plan_name: str, workdir: Path, repeat: int) -> None:
    profile = PLANS[plan_name]
    plan = options(profile)
    ticks = sum(1 for _ in open_price_file(path))
    replayed = replayed_ticks(path, plan)
    warm = workdir / "warm"
    replay_cli(path, plan, "--cache-dir", str(warm))()  # the cache entry, for the runs after
    cold = fresh_cache(workdir)

    def first_read() -> object:  # into an empty cache folder each time
        return replay_cli(path, plan, "--cache-dir", cold())()

    figures = {
        "exact loop (--exact-loop)": best_of(repeat, replay_cli(path, plan, "--exact-loop")),
        "fast, first read": best_of(repeat, first_read),
        "fast, from the cache": best_of(repeat, replay_cli(path, plan, "--cache-dir", str(warm))),
    }
    columns = load_columns(open_price_file(path), warm)
    entry = columns.tick(0)
    plan_object = build_plan(
        Position("BTCUSDT", Side.LONG, D(1), entry.price), FILTERS, profile, entry.price
    )
    figures["fast loop alone (columns loaded)"] = best_of(
        repeat, lambda: replay_fills(columns, plan_object, 0)
    )
    print(f"\n{plan_name} on {path.name}: {ticks:,} ticks, {replayed:,} replayed")
    print(f"| {'measure':<34} | {'s':>7} | {'µs/tick':>8} | {'× exact':>7} |")
    print(f"|{'-' * 36}|{'-' * 9}:|{'-' * 10}:|{'-' * 9}:|")
    exact = figures["exact loop (--exact-loop)"]
    for name, seconds in figures.items():
        print(
            f"| {name:<34} | {seconds:7.3f} | {seconds / ticks * 1e6:8.3f} "
            f"| {seconds / exact:7.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loud-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder, removed")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        real = workdir / "BTCUSDT-trades-real-fwd-bwd.csv"
        write_real(real, args.rows)
        real_zip = zipped(real)
        stairs = workdir / "BTCUSDT-trades-staircase.csv"
        write_staircase(stairs, args.loud_rows)
        print(f"load average before: {os.getloadavg()}")
        ticks = sum(1 for _ in open_price_file(real))
        read_csv = best_of(args.repeat, lambda: sum(1 for _ in open_price_file(real)))
        read_zip = best_of(args.repeat, lambda: sum(1 for _ in open_price_file(real_zip)))
        cold = fresh_cache(workdir)
        parse = best_of(args.repeat, lambda: load_columns(open_price_file(real), Path(cold())))
        warm = workdir / "warm"
        load_columns(open_price_file(real), warm)
        mapped = best_of(args.repeat, lambda: load_columns(open_price_file(real), warm))
        print(f"\nreading {real.name}: {ticks:,} ticks, {real.stat().st_size:,} bytes")
        print(f"| {'measure':<34} | {'s':>7} | {'µs/tick':>8} |")
        print(f"|{'-' * 36}|{'-' * 9}:|{'-' * 10}:|")
        for name, seconds in (
            ("read (plain reader, CSV)", read_csv),
            ("read (plain reader, zip)", read_zip),
            ("columns: parse + write the cache", parse),
            ("columns: from the cache (hash+map)", mapped),
        ):
            print(f"| {name:<34} | {seconds:7.3f} | {seconds / ticks * 1e6:8.3f} |")
        measure(real, "quiet", workdir, args.repeat)
        measure(real_zip, "quiet", workdir, args.repeat)
        measure(real, "closes", workdir, args.repeat)
        measure(stairs, "loud", workdir, args.repeat)
        print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
