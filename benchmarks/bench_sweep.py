"""`exitd sweep` throughput: plans per second on 1 and 2 cores (and on a Dask LocalCluster).

A plan is one exit profile replayed over every file at every entry; the figure is end to end,
as a trader runs it: the command, the pool's start, every replay, the journal, the CSV and
the table. Each run writes to a fresh directory, so nothing is resumed. CPU seconds (this
process and the pool's workers) and the load average are printed beside the wall time: on a
shared machine the wall time of two processes says more about the neighbours than the sweep.

`--rows N` sweeps instead one file of N real trades built at bench time (bench_replay.py's:
the BTCUSDT fixture played forward, backward, …), each run an `exitd sweep` process of its
own, so its peak RSS (the largest process: the command or one pool worker) is its own; once
into an empty cache folder (`--cache-dir`) and once from the cache the run before it wrote.

    python benchmarks/bench_sweep.py [PRICE_FILE ...] [--repeat N] [--dask]
    python benchmarks/bench_sweep.py --rows 1000000 [--entries every:15m] [--repeat N] [--workdir D]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_replay import write_real

from exitd.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "tests/fixtures/market"
DEFAULT_FILES = [
    FIXTURES / "btcusdt-um-trades-2023-04-04_05.csv",
    FIXTURES / "btcusdt-um-trades-2024-07-18_19.csv",
]
# 4 × 4 = 16 plans: hard stop × trail callback, on a base with a take-profit and breakeven.
SPACE = [
    "--grid",
    "hard_sl_pct=0.1:0.4:0.1",
    "--grid",
    "trail.callback_pct=0.02:0.08:0.02",
    "--tp",
    "0.05:0.3",
    "--be-trigger",
    "0.04",
    "--be-offset",
    "0.01",
    "--trail-activation",
    "0.05",
    "--qty",
    "0.5",
    "--entries",
    "every:2m",
    "--side",
    "both",
]
PLANS = 16


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def sweep_seconds(files: list[Path], extra: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds for one whole sweep, and the trades it replayed."""
    with tempfile.TemporaryDirectory() as out_dir:
        args = ["sweep", *map(str, files), *SPACE, *extra, "--out", out_dir, "--top", "1"]
        sink = io.StringIO()
        start, cpu = time.perf_counter(), cpu_seconds()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = main(args)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        if code != 0:
            raise SystemExit(f"sweep failed ({code}): {sink.getvalue()}")
        csv_lines = (Path(out_dir) / "sweep.csv").read_text().splitlines()
        names = csv_lines[0].split(",")
        trades = sum(int(line.split(",")[names.index("trades")]) for line in csv_lines[1:])
    return seconds, cpu, trades


def measure(
    label: str, files: list[Path], extra: list[str], repeat: int, *, own_cpu: bool = True
) -> None:
    best, best_cpu, trades = float("inf"), float("inf"), 0
    for _ in range(repeat):
        seconds, cpu, trades = sweep_seconds(files, extra)
        best, best_cpu = min(best, seconds), min(best_cpu, cpu)
    cpu_text = f"{best_cpu:.2f}" if own_cpu else "-"  # Dask's workers are not our children
    print(
        f"| {label} | {PLANS} | {trades:,} | {best:.2f} | {cpu_text} | {PLANS / best:.2f} | "
        f"{trades / best:,.1f} | {os.getloadavg()[0]:.1f} |"
    )


def sweep_process(path: Path, extra: list[str]) -> tuple[float, float, float, int]:
    """Wall and CPU seconds, peak RSS (MB, the largest process) and trades of one sweep run
    as a process of its own (`python -m exitd.cli sweep`)."""
    with tempfile.TemporaryDirectory() as out_dir, tempfile.TemporaryFile() as err:
        command = [sys.executable, "-m", "exitd.cli", "sweep", str(path), *SPACE, *extra]
        command += ["--out", out_dir, "--top", "1"]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"sweep failed ({child.returncode}): {err.read().decode()}")
        csv_lines = (Path(out_dir) / "sweep.csv").read_text().splitlines()
        names = csv_lines[0].split(",")
        trades = sum(int(line.split(",")[names.index("trades")]) for line in csv_lines[1:])
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss / 1024, trades


def measure_big(path: Path, entries: str, jobs: int, repeat: int, workdir: Path) -> None:
    """One file of many rows: a first read (empty cache) and one from the cache, each the
    best of `repeat` for time; the peak RSS is the largest of the runs."""
    warm = workdir / f"cold-{jobs}-0"  # what the first empty-cache run wrote
    runs = {
        "empty cache": lambda n: ["--cache-dir", str(workdir / f"cold-{jobs}-{n}")],
        "from the cache": lambda n: ["--cache-dir", str(warm)],
    }
    for label, cache in runs.items():
        best, best_cpu, peak, trades = float("inf"), float("inf"), 0.0, 0
        for n in range(repeat):
            extra = ["--entries", entries, "--jobs", str(jobs), *cache(n)]
            seconds, cpu, rss, trades = sweep_process(path, extra)
            best, best_cpu, peak = min(best, seconds), min(best_cpu, cpu), max(peak, rss)
        print(
            f"| `--jobs {jobs}`, {label} | {PLANS} | {trades:,} | {best:.2f} | {best_cpu:.2f} "
            f"| {PLANS / best:.2f} | {peak:.0f} | {os.getloadavg()[0]:.1f} |"
        )


def main_big(rows: int, entries: str, repeat: int, built: Path | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        path = workdir / "BTCUSDT-trades-real-fwd-bwd.csv"
        if built is not None:  # the file a run before built, reused (checked by its rows)
            path = built / path.name
            if not path.exists() or sum(1 for _ in path.open()) != rows + 1:
                write_real(path, rows)
        else:
            write_real(path, rows)
        print(f"{path.name}: {rows:,} rows, {path.stat().st_size:,} bytes; {entries}, both sides")
        print(f"best of {repeat} (peak RSS: the largest of them)\n")
        print("| run | plans | trades | wall s | CPU s | plans/s | peak RSS MB | load (1 min) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        measure_big(path, entries, 1, repeat, workdir)
        measure_big(path, entries, 2, repeat, workdir)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dask", action="store_true", help="also a LocalCluster of 2 workers")
    parser.add_argument("--rows", type=int, help="one built file of this many trades instead")
    parser.add_argument("--entries", default="every:15m", help="with --rows (default every:15m)")
    parser.add_argument("--workdir", type=Path, help="with --rows: keep the built file there")
    args = parser.parse_args()
    if args.rows:
        main_big(args.rows, args.entries, args.repeat, args.workdir)
        return
    print(f"files: {', '.join(p.name for p in args.files)}; best of {args.repeat}\n")
    print("| run | plans | trades | wall s | CPU s | plans/s | trades/s | load (1 min) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    # The parsed-file cache of this run only (filled by its first sweep), not ~/.cache/exitd.
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EXITD_CACHE_DIR"] = cache
        measure("1 core (`--jobs 1`)", args.files, ["--jobs", "1"], args.repeat)
        measure("2 cores (`--jobs 2`)", args.files, ["--jobs", "2"], args.repeat)
        if args.dask:
            measure_dask(args.files, args.repeat)


def measure_dask(files: list[Path], repeat: int) -> None:
    """The same sweep on a Dask LocalCluster of two worker processes."""
    from distributed import LocalCluster  # noqa: PLC0415  (optional: exitd[research])

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        extra = ["--cluster", cluster.scheduler_address]
        measure("Dask LocalCluster, 2 workers", files, extra, repeat, own_cpu=False)


if __name__ == "__main__":
    main_bench()
