"""`exitd sweep` throughput: plans per second on 1 and 2 cores (and on a Dask LocalCluster).

A plan is one exit profile replayed over every file at every entry; the figure is end to end,
as a trader runs it: the command, the pool's start, every replay, the journal, the CSV and
the table. Each run writes to a fresh directory, so nothing is resumed. CPU seconds (this
process and the pool's workers) and the load average are printed beside the wall time: on a
shared machine the wall time of two processes says more about the neighbours than the sweep.

    python benchmarks/bench_sweep.py [PRICE_FILE ...] [--repeat N] [--dask]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import tempfile
import time
from pathlib import Path

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


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dask", action="store_true", help="also a LocalCluster of 2 workers")
    args = parser.parse_args()
    print(f"files: {', '.join(p.name for p in args.files)}; best of {args.repeat}\n")
    print("| run | plans | trades | wall s | CPU s | plans/s | trades/s | load (1 min) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    measure("1 core (`--jobs 1`)", args.files, ["--jobs", "1"], args.repeat)
    measure("2 cores (`--jobs 2`)", args.files, ["--jobs", "2"], args.repeat)
    if args.dask:
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
            measure("Dask LocalCluster, 2 workers", args.files, extra, args.repeat, own_cpu=False)


if __name__ == "__main__":
    main_bench()
