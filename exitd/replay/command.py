"""`exitd replay PRICES --side long|short --qty Q ...`: options in, a timeline out.

Every bad input (file, option, plan) ends as one clear line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    PlanRefused,
    Position,
    ProfileProblem,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    TrailMode,
    TrailSpec,
    build_plan,
    profile_problems,
)
from exitd.numbers import NumberError, parse_decimal, parse_int
from exitd.ops.config import ConfigError, load_config
from exitd.pictures import PictureError, PriceTrace, check_target
from exitd.price_files import PriceFile, PriceFileError, PriceFormat, open_price_file
from exitd.replay import report
from exitd.replay.plot import traced, write_replay_picture
from exitd.replay.runner import ExitFill, Replay

if TYPE_CHECKING:
    from exitd.replay.hybrid import ColumnsLoader

EXIT_USAGE = 2
_MAX_INT_ARG = 10**12  # ticks, seconds, take-profit numbers: far beyond any real one
# Rows read ahead to infer the tick size from the file's own precision.
PRECISION_SAMPLE = 1000
_PROGRESS_EVERY = 1 << 15

# Plan fields as the inline options name them, so a refusal points at what the user typed.
_OPTION_OF_FIELD = {
    "hard_sl_pct": "--hard-sl-pct",
    "take_profits": "--tp",
    "breakeven": "--be-trigger/--be-after-tp",
    "breakeven.trigger_pct": "--be-trigger",
    "breakeven.offset_pct": "--be-offset",
    "breakeven.after_tp": "--be-after-tp",
    "trail": "--trail-activation/--trail-after-tp",
    "trail.activation_pct": "--trail-activation",
    "trail.callback_pct": "--trail-callback",
    "trail.min_step_pct": "--trail-step",
    "trail.after_tp": "--trail-after-tp",
    "time_limit_s": "--time-limit",
}


class UsageError(Exception):
    """Bad input from the user: printed as is, exit code 2."""


def decimal_arg(text: str) -> Decimal:
    try:
        return parse_decimal(text)
    except NumberError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def int_arg(text: str) -> int:
    try:
        return parse_int(text, -_MAX_INT_ARG, _MAX_INT_ARG)
    except NumberError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_decimal_arg(text: str) -> Decimal:
    value = decimal_arg(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def take_profit_arg(text: str) -> TakeProfitSpec:
    pct, sep, fraction = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected PCT:FRACTION, e.g. 1.5:0.3, got {text!r}")
    return TakeProfitSpec(decimal_arg(pct), decimal_arg(fraction))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "prices", metavar="PRICES", help="price file (trades, aggTrades, klines, …)"
    )
    parser.add_argument("--side", required=True, choices=("long", "short"))
    parser.add_argument("--qty", required=True, type=positive_decimal_arg, help="position size")
    parser.add_argument("--start", type=int_arg, default=0, metavar="N", help="entry tick index")
    parser.add_argument("--symbol", help="symbol for the report (default: from the file name)")
    parser.add_argument("--format", choices=[f.value for f in PriceFormat], help="price format")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="draw the exit into FILE: PNG, or HTML if it ends in .html (needs exitd[plot])",
    )
    add_plan_arguments(parser)
    add_market_arguments(parser)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    plan = parser.add_argument_group("plan (a profile from config, overridden by inline legs)")
    plan.add_argument("--profile", metavar="NAME", help="profile of --config (default: default)")
    plan.add_argument("--config", metavar="FILE", help="config file (default: ./config.toml)")
    plan.add_argument("--hard-sl-pct", type=decimal_arg, metavar="X")
    plan.add_argument("--tp", type=take_profit_arg, action="append", metavar="PCT:FRACTION")
    plan.add_argument("--be-trigger", type=decimal_arg, metavar="X")
    plan.add_argument("--be-offset", type=decimal_arg, metavar="X")
    plan.add_argument("--be-after-tp", type=int_arg, metavar="N")
    plan.add_argument("--trail-activation", type=decimal_arg, metavar="X")
    plan.add_argument("--trail-callback", type=decimal_arg, metavar="X")
    plan.add_argument("--trail-step", type=decimal_arg, metavar="X", help="min_step_pct")
    plan.add_argument("--trail-after-tp", type=int_arg, metavar="N")
    plan.add_argument("--trail-mode", choices=[m.value for m in TrailMode])
    plan.add_argument("--time-limit", type=int_arg, metavar="S", help="TIME leg, seconds")


def add_market_arguments(parser: argparse.ArgumentParser) -> None:
    market = parser.add_argument_group("exchange filters and fills")
    market.add_argument(
        "--tick-size",
        type=positive_decimal_arg,
        metavar="X",
        help="default: the finest price step in the file",
    )
    market.add_argument(
        "--step-size",
        type=positive_decimal_arg,
        metavar="X",
        help="default: 0.001, or finer if --qty is",
    )
    market.add_argument(
        "--min-qty", type=positive_decimal_arg, metavar="X", help="default: the step size"
    )
    market.add_argument("--min-notional", type=decimal_arg, default=Decimal(0), metavar="X")
    market.add_argument(
        "--slippage-pct",
        type=decimal_arg,
        default=Decimal(0),
        metavar="X",
        help="adverse slippage of stop and market fills",
    )
    speed = parser.add_argument_group("speed (numpy and pyarrow: the research extra)")
    speed.add_argument(
        "--exact-loop",
        action="store_true",
        help="read the file row by row and run every tick through the engine (for checking)",
    )
    speed.add_argument("--cache-dir", metavar="DIR", help="parsed-file cache (~/.cache/exitd)")
    speed.add_argument("--no-cache", action="store_true", help="parse the file, keep nothing")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, environ: Mapping[str, str]) -> int:
    try:
        return _replay(args, out, err, environ)
    except (UsageError, PriceFileError, PlanRefused, PictureError) as error:
        err.write(f"exitd replay: {error}\n")
        return EXIT_USAGE
    except ConfigError as error:
        for line in error.lines():
            err.write(f"exitd replay: {line}\n")
        return EXIT_USAGE


def _replay(args: argparse.Namespace, out: TextIO, err: TextIO, environ: Mapping[str, str]) -> int:
    if args.plot:
        check_target(args.plot)
    profile, profile_name = profile_of(args, environ)
    price_file = open_price_file(args.prices, PriceFormat(args.format) if args.format else None)
    # A picture draws every price, so it reads every tick: the exact loop.
    exact = args.exact_loop or args.plot
    loader = None if exact else _columns_loader(args, price_file, environ)
    ticks = iter(price_file)
    sample = list(itertools.islice(ticks, args.start + PRECISION_SAMPLE))
    if args.start < 0 or args.start >= len(sample):
        raise UsageError(f"--start {args.start}: {args.prices} has {len(sample)} ticks there")
    entry = sample[args.start]
    filters = _filters(args, sample)
    symbol = args.symbol or symbol_of(args.prices)
    side = Side.LONG if args.side == "long" else Side.SHORT
    plan = build_plan(
        Position(symbol, side, args.qty, entry.price), filters, profile, entry.price, profile_name
    )
    replay = Replay(plan, args.slippage_pct)
    rest: Iterator[Tick] = itertools.chain(sample[args.start + 1 :], ticks)
    trace = PriceTrace()
    if loader is None:
        if err.isatty():
            rest = _with_progress(rest, price_file, err)
        if args.plot:
            trace.add(entry.time_ms, entry.price)
            rest = traced(rest, trace)
        exits = replay.run(entry, rest)
    else:
        from exitd.replay.hybrid import run_hybrid  # noqa: PLC0415  (numpy, as the loader's)

        exits = run_hybrid(replay, entry, args.start, rest, loader)
    quote = report.quote_asset(symbol)
    fills: list[ExitFill] = []
    if not args.json:
        report.write_plan(out, plan, entry.time_ms, plan.notices)
        report.write_header(out, quote)
    for fill in exits:
        fills.append(fill)
        if args.json:
            out.write(report.fill_json(fill).decode() + "\n")
        else:
            report.write_fill(out, fill)
    assert replay.outcome is not None
    summary = report.Summary.of(plan, entry.time_ms, fills, replay.outcome)
    if args.json:
        out.write(report.summary_json(summary, replay.notices).decode() + "\n")
    else:
        extra = [n for n in replay.notices if n not in plan.notices]
        for notice in extra:
            out.write(
                f"note: {notice.event} " + ", ".join(f"{k}={v}" for k, v in notice.detail) + "\n"
            )
        report.write_summary(out, summary, quote)
    if args.plot:
        written = write_replay_picture(args.plot, replay, summary, trace, fills)
        err.write(f"exitd replay: picture written to {written}\n")
    return 0


def _columns_loader(
    args: argparse.Namespace, price_file: PriceFile, environ: Mapping[str, str]
) -> ColumnsLoader | None:
    """The file's columns loading beside the replay; None without numpy (the plain loop)."""
    try:
        from exitd.replay import cache  # noqa: PLC0415  (numpy: the research extra)
        from exitd.replay.hybrid import ColumnsLoader  # noqa: PLC0415
    except ImportError:
        return None
    cache_dir = None if args.no_cache else Path(args.cache_dir or cache.default_cache_dir(environ))
    return ColumnsLoader(partial(cache.load_columns, price_file, cache_dir))


def profile_of(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[ExitProfile, str]:
    """The profile of `--profile`/`--config`, with the inline leg options laid over it."""
    name = args.profile or "default"
    base: ExitProfile | None = None
    if args.profile or args.config:
        config_path = args.config or "config.toml"
        config = load_config(config_path, environ)
        base = config.profiles.get(name)
        if base is None:
            known = ", ".join(sorted(config.profiles)) or "none"
            raise UsageError(f"--profile {name}: not in {config_path} (profiles: {known})")
    elif args.hard_sl_pct is None:
        raise UsageError(
            "no plan: give --profile NAME (from config.toml) or --hard-sl-pct and "
            "the other leg options"
        )
    else:
        name = "inline"
    profile = _overlay(args, base)
    problems = profile_problems(profile)
    if problems:
        raise UsageError("; ".join(_describe(p, base is not None and name) for p in problems))
    return profile, name


def _overlay(args: argparse.Namespace, base: ExitProfile | None) -> ExitProfile:
    profile = base or ExitProfile(hard_sl_pct=args.hard_sl_pct)
    changes: dict[str, Any] = {}
    if args.hard_sl_pct is not None:
        changes["hard_sl_pct"] = args.hard_sl_pct
    if args.tp:
        changes["take_profits"] = tuple(args.tp)
    if args.time_limit is not None:
        changes["time_limit_s"] = args.time_limit
    be_options = {
        "trigger_pct": args.be_trigger,
        "offset_pct": args.be_offset,
        "after_tp": args.be_after_tp,
    }
    if any(v is not None for v in be_options.values()):
        be = profile.breakeven or BreakevenSpec(offset_pct=Decimal(0))
        changes["breakeven"] = dataclasses.replace(be, **_given(be_options))
    trail_options = {
        "activation_pct": args.trail_activation,
        "callback_pct": args.trail_callback,
        "min_step_pct": args.trail_step,
        "after_tp": args.trail_after_tp,
        "mode": TrailMode(args.trail_mode) if args.trail_mode else None,
    }
    if any(v is not None for v in trail_options.values()):
        if profile.trail is None and args.trail_callback is None:
            raise UsageError("--trail-callback is needed for a trail the profile does not have")
        trail = profile.trail or TrailSpec(callback_pct=args.trail_callback)
        changes["trail"] = dataclasses.replace(trail, **_given(trail_options))
    return dataclasses.replace(profile, **changes)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _describe(problem: ProfileProblem, profile_name: str | bool) -> str:
    base = problem.field.split("[")[0]
    where = _OPTION_OF_FIELD.get(problem.field) or _OPTION_OF_FIELD.get(base)
    if profile_name:
        where = (
            f"{where} (or profiles.{profile_name}.{problem.field})"
            if where
            else (f"profiles.{profile_name}.{problem.field}")
        )
    return f"{where or problem.field} = {problem.value}: allowed: {problem.allowed}"


def _filters(args: argparse.Namespace, sample: list[Tick]) -> SymbolFilters:
    tick = args.tick_size or finest_step(t.price for t in sample)
    step = args.step_size or min(Decimal("0.001"), finest_step([args.qty]))
    if args.qty % step:
        raise UsageError(f"--qty {args.qty} is not a multiple of the step size {step}")
    return SymbolFilters(tick, step, args.min_qty or step, args.min_notional)


def finest_step(values: Iterable[Decimal]) -> Decimal:
    """The coarsest grid all `values` lie on: 0.1 for 28145.10, 28145.2 and 28145."""
    places = max((decimal_places(v) for v in values), default=0)
    return Decimal(1).scaleb(-places)


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # prices and sizes here are finite
    return max(-exponent, 0)


def symbol_of(path: str) -> str:
    match = re.match(r"([A-Za-z0-9]+?)(?:[-_.]|$)", Path(path).name)
    return match.group(1).upper() if match else "REPLAY"


def _with_progress(ticks: Iterator[Tick], price_file: PriceFile, err: TextIO) -> Iterator[Tick]:
    """Ticks as they are, with a percentage on the terminal as the file is read."""
    for count, tick in enumerate(ticks, 1):
        if count % _PROGRESS_EVERY == 0 and price_file.size:
            err.write(
                f"\rreplay: {100 * price_file.bytes_read // price_file.size}% ({count} ticks)"
            )
            err.flush()
        yield tick
    err.write("\r\033[K")
