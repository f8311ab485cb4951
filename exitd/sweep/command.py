"""`exitd sweep PRICES... --grid NAME=VALUES ...`: many plans over many paths, ranked.

The base plan comes as `exitd replay`'s does (a profile and/or inline legs); each point of the
space overrides some of its fields. Every plan runs on every file, at every entry; a cell is
one plan on one file. Bad input ends as one clear line on stderr and exit code 2; a run cut
short (Ctrl-C, `--max-cells`) keeps what it finished in the journal and exits 3 or 130.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from exitd.engine import ExitProfile, PlanRefused, profile_problems
from exitd.ops.config import ConfigError
from exitd.price_files import PriceFileError, PriceFormat, open_price_file
from exitd.replay import command as replay_command
from exitd.replay.report import quote_asset
from exitd.sweep import aggregate, output, plot
from exitd.sweep.cell import Cell, CellError, CellResult, Market, Reading
from exitd.sweep.entries import EntriesError, parse_entries
from exitd.sweep.journal import Journal, space_hash
from exitd.sweep.progress import Progress
from exitd.sweep.runners import ClusterError, default_jobs, run_dask, run_local
from exitd.sweep.space import (
    Axis,
    Point,
    Space,
    SpaceError,
    apply_point,
    load_space_file,
    make_space,
    parse_grid_option,
)

EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130
UsageError = replay_command.UsageError


@dataclass(frozen=True, slots=True)
class Sweep:
    """Everything a run needs, checked: the plans (by index), the cells, the journal's hash."""

    axes: tuple[Axis, ...]
    points: dict[int, Point]
    cells: tuple[Cell, ...]
    skipped: tuple[str, ...]
    sweep_hash: str
    quote: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prices", nargs="+", metavar="PRICES", help="price files")
    space = parser.add_argument_group("the space (Decimal values, ranges inclusive)")
    space.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        help="e.g. trail.callback_pct=0.1,0.2 or hard_sl_pct=1:3:0.5; tp1.pct is "
        "take_profits[0].pct",
    )
    space.add_argument("--space", metavar="FILE", help="TOML: [grid] NAME = VALUES, random, seed")
    space.add_argument("--random", type=replay_command.int_arg, metavar="N", help="N random plans")
    space.add_argument("--seed", type=replay_command.int_arg, metavar="S", help="default 0")
    entries = parser.add_argument_group("positions")
    entries.add_argument(
        "--side", default="long", choices=("long", "short", "both"), help="default long"
    )
    entries.add_argument(
        "--qty",
        type=replay_command.positive_decimal_arg,
        default=Decimal(1),
        metavar="Q",
        help="position size (default 1)",
    )
    entries.add_argument(
        "--entries",
        default="every:1h",
        metavar="every:1h|FILE",
        help="a position every interval of each path (s, m, h, d), or a CSV of entry times "
        "(ms or ISO) with an optional side or is_short column; default every:1h",
    )
    entries.add_argument("--symbol", help="symbol (default: from each file's name)")
    entries.add_argument("--format", choices=[f.value for f in PriceFormat])
    replay_command.add_plan_arguments(parser)
    replay_command.add_market_arguments(parser)
    run = parser.add_argument_group("running and output")
    run.add_argument("--jobs", type=replay_command.int_arg, metavar="N", help="default: all cores")
    run.add_argument("--cluster", metavar="tcp://HOST:8786", help="a Dask scheduler")
    run.add_argument("--out", metavar="DIR", help="CSV, Parquet and the resume journal")
    run.add_argument(
        "--max-cells",
        type=replay_command.int_arg,
        metavar="N",
        help="stop after N cells; rerun to go on",
    )
    run.add_argument("--rank-by", default="total_r", choices=sorted(aggregate.METRICS))
    run.add_argument("--top", type=replay_command.int_arg, default=20, metavar="N")
    run.add_argument("--plot", metavar="FILE.png", help="P&L surfaces and the best equity curve")
    run.add_argument("--progress", action="store_true", help="a progress bar even off a terminal")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, environ: Mapping[str, str]) -> int:
    try:
        return _sweep(args, out, err, environ)
    except (
        UsageError,
        SpaceError,
        EntriesError,
        PriceFileError,
        CellError,
        ClusterError,
        PlanRefused,
        output.ParquetUnavailable,
        plot.PlotUnavailable,
    ) as error:
        err.write(f"exitd sweep: {error}\n")
        return EXIT_USAGE
    except ConfigError as error:
        for line in error.lines():
            err.write(f"exitd sweep: {line}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:  # before any cell ran: nothing to keep
        err.write("exitd sweep: interrupted\n")
        return EXIT_INTERRUPTED
    except OSError as error:  # --out or --plot where nothing can be written
        err.write(f"exitd sweep: {error.filename or ''}: {error.strerror or error}\n")
        return EXIT_USAGE


def _sweep(args: argparse.Namespace, out: TextIO, err: TextIO, environ: Mapping[str, str]) -> int:
    sweep = plan_sweep(args, environ)
    if args.plot:
        plot.pyplot()  # a missing matplotlib is said now, not after the sweep
    for line in sweep.skipped[:3]:
        err.write(f"exitd sweep: skipped {line}\n")
    if len(sweep.skipped) > 3:
        err.write(f"exitd sweep: … {len(sweep.skipped) - 3} more plans skipped\n")
    journal = None
    results: dict[str, CellResult] = {}
    if args.out:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(out_dir, sweep.sweep_hash)
        finished = journal.finished()
        results = {c.key: finished[c.key] for c in sweep.cells if c.key in finished}
        if results:
            err.write(
                f"exitd sweep: resuming: {len(results)} of {len(sweep.cells)} cells "
                f"already in {journal.path}\n"
            )
    todo = [cell for cell in sweep.cells if cell.key not in results]
    if args.max_cells is not None:
        todo = todo[: max(args.max_cells, 0)]
    progress = Progress(err, len(sweep.cells), len(results), args.progress or err.isatty())
    cells = _runner(args, todo)
    try:
        for result in cells:
            if journal is not None:
                journal.record(result)
            results[result.key] = result
            progress.advance()
    except KeyboardInterrupt:
        progress.close()
        err.write(f"exitd sweep: interrupted: {_left(sweep, results, journal)}\n")
        return EXIT_INTERRUPTED
    finally:
        cells.close()
    progress.close()
    if len(results) < len(sweep.cells):
        err.write(f"exitd sweep: stopped after --max-cells: {_left(sweep, results, journal)}\n")
        return EXIT_INCOMPLETE
    _report(args, sweep, list(results.values()), out, err)
    return 0


def plan_sweep(args: argparse.Namespace, environ: Mapping[str, str]) -> Sweep:
    """The checked sweep the options describe; raises a usage error for anything wrong."""
    space = _space(args)
    base, profile_name = _base_profile(args, space, environ)
    points: dict[int, Point] = {}
    profiles: dict[int, ExitProfile] = {}
    skipped: list[str] = []
    for index, point in enumerate(space.points()):
        profile = apply_point(base, space.axes, point)
        problems = profile_problems(profile)
        if problems:
            first = problems[0]
            skipped.append(f"plan {index}: {first.field} = {first.value}: {first.allowed}")
            continue
        points[index], profiles[index] = point, profile
    if not points:
        raise UsageError(f"every plan of the space is refused, e.g. {skipped[0]}")
    fmt = PriceFormat(args.format) if args.format else None
    paths = [os.path.abspath(path) for path in args.prices]
    twice = sorted({path for path in paths if paths.count(path) > 1})
    if twice:
        raise UsageError(f"{twice[0]} is given more than once")
    for path in paths:
        open_price_file(path, fmt)  # the layout is known before any worker starts
    entries = parse_entries(args.entries, args.side)
    market = _market(args, fmt)
    reading = _reading(args, environ)
    cells = tuple(
        Cell(f"{index}/{at}", index, path, profiles[index], profile_name, entries, market, reading)
        for at, path in enumerate(paths)
        for index in points
    )
    parts = [
        "exitd sweep 1",
        repr(base),
        profile_name,
        repr(space.axes),
        repr(sorted(points.items())),
        repr(entries),
        repr(market),
        *(repr((path, _stamp(path))) for path in paths),
    ]
    first_symbol = args.symbol or replay_command.symbol_of(paths[0])
    return Sweep(
        space.axes, points, cells, tuple(skipped), space_hash(parts), quote_asset(first_symbol)
    )


def _space(args: argparse.Namespace) -> Space:
    axes: list[Axis] = []
    random_n, seed = None, 0
    if args.space:
        from_file = load_space_file(args.space)
        axes.extend(from_file.axes)
        random_n, seed = from_file.random, from_file.seed
    axes.extend(parse_grid_option(option) for option in args.grid)
    if args.random is not None:
        random_n = args.random
    if args.seed is not None:
        seed = args.seed
    return make_space(axes, random_n, seed)


def _base_profile(
    args: argparse.Namespace, space: Space, environ: Mapping[str, str]
) -> tuple[ExitProfile, str]:
    """The base plan as `exitd replay` reads it; a leg the space sweeps needs no option."""
    first = {axis.name: axis.values[0] for axis in space.axes}
    inline = argparse.Namespace(**vars(args))
    if not (args.profile or args.config) and args.hard_sl_pct is None:
        inline.hard_sl_pct = first.get("hard_sl_pct")
    if args.trail_callback is None and "trail.callback_pct" in first:
        inline.trail_callback = first["trail.callback_pct"]
    return replay_command.profile_of(inline, environ)


def _market(args: argparse.Namespace, fmt: PriceFormat | None) -> Market:
    """Filters and fills exactly as `exitd replay` defaults them."""
    step = args.step_size or min(Decimal("0.001"), replay_command.finest_step([args.qty]))
    if args.qty % step:
        raise UsageError(f"--qty {args.qty} is not a multiple of the step size {step}")
    return Market(
        qty=args.qty,
        step_size=step,
        min_qty=args.min_qty or step,
        min_notional=args.min_notional,
        slippage_pct=args.slippage_pct,
        tick_size=args.tick_size,
        symbol=args.symbol,
        price_format=fmt,
    )


def _reading(args: argparse.Namespace, environ: Mapping[str, str]) -> Reading:
    """`--exact-loop`, `--cache-dir` and `--no-cache` as `exitd replay` takes them; the folder
    made absolute here, as the files are, for workers elsewhere."""
    if args.exact_loop or args.no_cache:
        return Reading(None, exact_loop=args.exact_loop)
    if args.cache_dir:
        return Reading(os.path.abspath(args.cache_dir))
    try:
        from exitd.replay.cache import default_cache_dir  # noqa: PLC0415  (research extra)
    except ImportError:  # without numpy the workers read the plain way: no cache to name
        return Reading()
    return Reading(os.path.abspath(default_cache_dir(environ)))


def _runner(args: argparse.Namespace, cells: Sequence[Cell]) -> Generator[CellResult, None, None]:
    if args.cluster:
        return run_dask(cells, args.cluster)
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: at least 1")
    return run_local(cells, min(jobs, max(len(cells), 1)))


def _report(
    args: argparse.Namespace,
    sweep: Sweep,
    results: list[CellResult],
    out: TextIO,
    err: TextIO,
) -> None:
    rows = aggregate.ranked(aggregate.plan_rows(sweep.axes, sweep.points, results), args.rank_by)
    output.write_table(out, rows, sweep.quote, max(args.top, 1))
    if args.out:
        out_dir = Path(args.out)
        output.write_csv(out_dir / "sweep.csv", rows)
        try:
            output.write_parquet(out_dir / "sweep.parquet", rows)
        except output.ParquetUnavailable as missing:
            err.write(f"exitd sweep: no sweep.parquet: {missing}\n")
    if args.plot:
        best = rows[0]
        trades = [t for r in results if r.plan_index == best.plan_index for t in r.trades]
        plot.draw(
            Path(args.plot),
            rows=rows,
            axes=sweep.axes,
            metric=args.rank_by,
            best_trades=trades,
            quote=sweep.quote,
        )
        err.write(f"exitd sweep: plot written to {args.plot}\n")


def _left(sweep: Sweep, results: Mapping[str, CellResult], journal: Journal | None) -> str:
    done = f"{len(results)} of {len(sweep.cells)} cells done"
    if journal is None:
        return done + " (give --out DIR to keep them for a rerun)"
    return done + f", kept in {journal.path}; run the same command again to finish"


def _stamp(path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return stat.st_size, stat.st_mtime_ns
