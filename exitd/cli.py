"""The `exitd` command: run, ctl, demo, replay, sweep, sim, check-config.

Each subcommand lives in its own module; this one only parses the command line and dispatches.
Bad input ends with a clear message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from exitd import __version__
from exitd.control import ctl
from exitd.demo import options as demo_options
from exitd.exchange.sim import command as sim_command
from exitd.ops.check_config import run_check_config
from exitd.replay import command as replay_command
from exitd.sweep import command as sweep_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exitd",
        description="Exit manager for Binance USD-M futures positions.",
    )
    parser.add_argument("--version", action="version", version=f"exitd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    replay = commands.add_parser(
        "replay",
        help="replay an exit plan over a price file",
        description="The exit engine over a price file, tick-synchronous (SPEC-exits.md): "
        "the exits and their P&L.",
    )
    replay_command.add_arguments(replay)
    sweep = commands.add_parser(
        "sweep",
        help="search exit plans over price files: a grid or random draw, ranked",
        description="Many exit plans over many price paths and entries, each replayed as "
        "`exitd replay` does; one row per plan, ranked, as CSV and Parquet.",
    )
    sweep_command.add_arguments(sweep)
    sim = commands.add_parser(
        "sim",
        help="run the local Binance USD-M futures simulator",
        description="A local exchange speaking Binance's REST and websocket protocol on "
        "127.0.0.1, until SIGINT or SIGTERM.",
    )
    sim_command.add_arguments(sim)
    run = commands.add_parser(
        "run",
        help="run the daemon: protect every position on the account",
        description="The exit daemon, until SIGINT or SIGTERM (which leave every stop resting).",
    )
    run.add_argument("--config", default="config.toml", metavar="FILE")
    demo = commands.add_parser(
        "demo",
        help="see it work: the simulator, the daemon and a real BTCUSDT position",
        description="Starts the embedded simulator and the daemon, opens a position on 8 "
        "minutes of real BTCUSDT trades, and prints each step of its exit.",
    )
    demo_options.add_arguments(demo)
    ctl.add_arguments(
        commands.add_parser(
            "ctl",
            help="talk to the running daemon: status, plan, mode, submit, …",
            description="One command to the daemon's control socket (docs/control.md).",
        )
    )
    check = commands.add_parser(
        "check-config", help="validate a config file and print the effective config"
    )
    check.add_argument("file", nargs="?", default="config.toml", metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return replay_command.run(args, sys.stdout, sys.stderr, os.environ)
    if args.command == "sweep":
        return sweep_command.run(args, sys.stdout, sys.stderr, os.environ)
    if args.command == "sim":
        return sim_command.run(args, sys.stdout, sys.stderr)
    if args.command == "run":
        # The daemon's actors, adapter and simulator load only for `run`: replay starts fast.
        from exitd.run_command import run_command  # noqa: PLC0415

        return run_command(args.config, os.environ, sys.stderr)
    if args.command == "demo":
        # Like `run`: the daemon and the simulator load only when asked for.
        from exitd.demo import command as demo_command  # noqa: PLC0415

        return demo_command.run(args, sys.stdout, sys.stderr, os.environ)
    if args.command == "ctl":
        return ctl.run(args, sys.stdout, sys.stderr)
    if args.command == "check-config":
        return run_check_config(args.file, os.environ, sys.stdout, sys.stderr)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
