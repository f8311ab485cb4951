"""`exitd demo`: the simulator, the daemon and a real BTCUSDT position, in one command.

It needs no config file and touches no account: a built-in config (config.toml's demo profile)
points the daemon at the embedded simulator, state goes to a temporary directory removed on
the way out, and the daemon's logs stay quiet (`--verbose` shows them) so the timeline reads
cleanly. Exit code 0 once the daemon has closed the position, 1 if it did not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import anyio
import structlog

from exitd.demo.options import DEFAULT_PLOT
from exitd.demo.session import (
    KEY_VARIABLE,
    SECRET_VARIABLE,
    DaemonDidNotStart,
    DemoRun,
    run_demo,
)
from exitd.demo.timeline import (
    Adoption,
    exit_fills,
    render,
    stop_moves,
    take_profit_levels,
    timeline,
)
from exitd.exchange.sim.server import wall_clock_ms
from exitd.ops.config import Config, ConfigError, load_config, parse_config
from exitd.ops.logs import configure_logging
from exitd.pictures import ExitPicture, PictureError, check_target, write_exit_picture
from exitd.replay.report import moving_legs

EXIT_NOT_FLAT, EXIT_USAGE = 1, 2
_TIMEOUT_S = 120.0  # far beyond the ~10 s the bundled path takes at 50x

# config.toml's demo, pointed at the embedded simulator: the daemon reads it as it reads any.
DEMO_CONFIG = """
[daemon]
socket_path = "exitd.sock"
state_dir = "state"
log_level = "info"

[exits]
mode = "EXIT_BRAIN_V3"
exit_brain_v3_enabled = true
guard = "soft"

[exchange]
kind = "sim"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
api_key = {{ env = "{key_variable}" }}
api_secret = {{ env = "{secret_variable}" }}

[safety]
emergency_sl_pct = 2.0
new_position_grace_s = 5

[profiles.demo]
hard_sl_pct = 0.15
take_profits = [{{ pct = 0.05, fraction = 0.3 }}, {{ pct = 0.1, fraction = 0.3 }}]

[profiles.demo.breakeven]
trigger_pct = 0.04
offset_pct = 0.01

[profiles.demo.trail]
activation_pct = 0.08
callback_pct = 0.03

[symbols.BTCUSDT]
profile = "demo"
"""


def run(args: argparse.Namespace, out: TextIO, err: TextIO, environ: Mapping[str, str]) -> int:
    if args.speed <= 0 or args.speed > 10_000:
        err.write(f"exitd demo: --speed {args.speed:g}: allowed: more than 0, at most 10000\n")
        return EXIT_USAGE
    plot = None if args.no_plot else (args.plot or DEFAULT_PLOT)
    if args.plot:
        try:
            check_target(args.plot)
        except PictureError as error:
            err.write(f"exitd demo: {error}\n")
            return EXIT_USAGE
    try:
        user = load_config(args.config, environ) if args.config else None
    except ConfigError as error:
        for line in error.lines():
            err.write(f"exitd demo: {line}\n")
        return EXIT_USAGE
    adoptions: list[Adoption] = []
    saved_logging = structlog.get_config()
    _quiet_logging(adoptions, err, verbose=args.verbose)
    try:
        with tempfile.TemporaryDirectory(prefix="exitd-demo-") as state:
            out.write(
                f"exitd demo: the simulator replays 8 minutes of real BTCUSDT trades "
                f"(2024-07-19) at {args.speed:g}x; an entry bot opens a LONG of 0.5 BTC and "
                "exitd protects it.\n\n"
            )
            out.flush()
            config_for = partial(_config, Path(state), user)
            result = anyio.run(run_demo, config_for, args.speed, _TIMEOUT_S)
    except DaemonDidNotStart as error:
        err.write(f"exitd demo: {error} (--verbose shows why)\n")
        return EXIT_NOT_FLAT
    except KeyboardInterrupt:
        err.write("exitd demo: interrupted before the daemon had started\n")
        return EXIT_NOT_FLAT
    finally:
        structlog.configure(**saved_logging)
    return _report(result, adoptions, plot, args.speed, out=out, err=err)


def _config(state: Path, user: Config | None, rest_url: str, ws_url: str) -> Config:
    text = DEMO_CONFIG.format(
        rest_url=rest_url,
        ws_url=ws_url,
        key_variable=KEY_VARIABLE,
        secret_variable=SECRET_VARIABLE,
    )
    config = parse_config(text, "exitd demo's built-in config", {}, base_dir=state)
    if user is None:
        return config
    return dataclasses.replace(
        config,
        profiles=user.profiles,
        symbol_profiles=user.symbol_profiles,
        safety=user.safety,
        source=user.source,
    )


def _quiet_logging(adoptions: list[Adoption], err: TextIO, *, verbose: bool) -> None:
    """The daemon's logs on stderr with --verbose, else none (the timeline tells the story,
    refusals included); its adoptions kept for the timeline either way."""
    configure_logging("info")
    processors = structlog.get_config()["processors"]
    structlog.configure(
        processors=[*processors[:-1], partial(_tap, adoptions, verbose), processors[-1]],
        logger_factory=structlog.PrintLoggerFactory(err),
    )


def _tap(
    adoptions: list[Adoption], verbose: bool, _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if event.get("event") == "plan.adopted":
        adoptions.append(
            Adoption(
                wall_clock_ms(),
                str(event.get("side")),
                _plain(event.get("qty")),
                _plain(event.get("entry_price")),
                str(event.get("profile")),
                _plain(event.get("hard_sl")),
            )
        )
    if not verbose:
        raise structlog.DropEvent
    return event


def _moving_legs(config: Config, profile_name: str) -> str:
    """The profile's breakeven, trail and time limit, on a line of their own."""
    profile = config.profiles.get(profile_name)
    legs = [] if profile is None else moving_legs(profile)
    return "\n" + " | ".join(legs) if legs else ""


def _plain(text: object) -> str:
    """63943.90000000 as 63943.9: the log's exact number, without the padding."""
    try:
        return format(Decimal(str(text)).normalize(), "f")
    except ArithmeticError:
        return str(text)


def _report(
    run: DemoRun,
    adoptions: list[Adoption],
    plot: str | None,
    speed: float,
    *,
    out: TextIO,
    err: TextIO,
) -> int:
    entries = timeline(run.ledger, run.symbol, adoptions)
    start_ms = entries[0].time_ms if entries else 0
    out.write(f"timeline (seconds since the entry; prices at {speed:g}x):\n")
    for line in render(entries, start_ms):
        out.write(f"  {line}\n")
    out.write("\n")
    for line in _summary(run):
        out.write(f"{line}\n")
    if plot is not None:
        profile = adoptions[0].profile if adoptions else "unknown"
        _picture(run, profile, plot, start_ms, speed, out=out)
    if not run.flat:
        why = "the daemon was stopped" if run.interrupted else "the prices ended"
        err.write(
            f"exitd demo: the position was not closed: {run.open_qty} {run.symbol} still open "
            f"when {why}\n"
        )
        return EXIT_NOT_FLAT
    return 0


def _summary(run: DemoRun) -> list[str]:
    metrics = run.metrics
    modules = ", ".join(f"{m} {n}" for m, n in metrics.by_module().items()) or "none"
    kinds = ", ".join(f"{k.value} {n}" for k, n in metrics.by_kind().items()) or "none"
    outcomes = ", ".join(f"{o.value} {n}" for o, n in metrics.by_outcome().items()) or "none"
    fills = [f for f in run.ledger.fills if f.symbol == run.symbol]
    realised = sum((f.realized_pnl for f in fills), Decimal(0))
    fees = sum((f.commission for f in fills), Decimal(0))
    state = "flat" if run.flat else f"{run.open_qty} still open"
    return [
        "summary:",
        f"  orders by module:  {modules}",
        f"  orders by kind:    {kinds}",
        f"  orders by outcome: {outcomes}",
        f"  position:          {state}; realised P&L {realised:+.2f} USDT, "
        f"fees (entry and exits) {fees:.2f} USDT, net {realised - fees:+.2f} USDT",
    ]


def _picture(
    run: DemoRun, profile: str, plot: str, start_ms: int, speed: float, *, out: TextIO
) -> None:
    picture = _exit_picture(run, profile, start_ms, speed)
    if picture is None:
        return
    try:
        written = write_exit_picture(picture, plot)
    except PictureError as error:
        out.write(f"  picture:           none ({error})\n")
        return
    out.write(f"  picture:           {written}\n")


def _exit_picture(run: DemoRun, profile: str, start_ms: int, speed: float) -> ExitPicture | None:
    ledger = run.ledger
    moves = ledger.positions.get(run.symbol, [])
    if not moves:
        return None
    entry = moves[0]
    sign = 1 if entry.amount > 0 else -1
    stops = stop_moves(ledger, run.symbol)
    hard_sl = next((s.trigger_price for s in stops if s.leg == "HARD_SL" and s.trigger_price), None)
    fills = exit_fills(ledger, run.symbol, sign, entry.entry_price)
    realised = sum((f.pnl for f in fills), Decimal(0))
    return ExitPicture(
        title=f"exitd demo: {run.symbol} {'long' if sign > 0 else 'short'} {abs(entry.amount)}, "
        f"profile {profile}",
        subtitle=f"entry {entry.entry_price} · {len(fills)} exit{'' if len(fills) == 1 else 's'} · "
        f"P&L {realised:+.2f} USDT "
        f"({'flat' if run.flat else 'still open'}) · prices replayed at {speed:g}x"
        + _moving_legs(run.config, profile),
        prices=run.prices,
        entry_time_ms=start_ms,
        entry_price=entry.entry_price,
        hard_sl=hard_sl,
        take_profits=take_profit_levels(ledger, run.symbol),
        stops=stops,
        fills=fills,
        time_note=f"entry (wall clock; 1 s = {speed:g} s of market)",
    )
