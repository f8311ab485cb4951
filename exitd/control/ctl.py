"""`exitd ctl`: one command to the daemon's control socket, its answer as a table or JSON.

Standard library only, so it starts fast. Exit codes: 0 done, 1 refused or failed (the
error's code and message on stderr), 2 bad usage or no daemon at the socket.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from exitd.control.tables import render

DEFAULT_SOCKET = "/run/exitd/control.sock"
_TIMEOUT_S = 60.0
_SYMBOL_COMMANDS = {
    "plan": "a symbol's plan: legs, orders, the last mark processed",
    "pause": "stop acting on a symbol's prices (its stops stay)",
    "resume": "act on a symbol's prices again",
    "flatten": "close a symbol's position at market, reduce-only",
}


class UsageError(Exception):
    """Bad arguments or no daemon: exit code 2."""


class NoDaemon(UsageError):
    """Nothing listens at the socket's path."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--socket", metavar="PATH", help=f"default: --config's, else {DEFAULT_SOCKET}"
    )
    parser.add_argument("--config", metavar="FILE", help="read the socket's path from this file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    commands = parser.add_subparsers(dest="ctl_command", required=True, metavar="COMMAND")
    for name, text in (
        ("status", "mode, guard, uptime, exchange, actors"),
        ("positions", "open positions and their protection"),
        ("metrics", "order counters"),
        ("summary", "orders by module and kind, conflicts"),
        ("reload", "read the config file again"),
    ):
        commands.add_parser(name, help=text)
    commands.add_parser("orders", help="open orders").add_argument("symbol", nargs="?")
    for name, text in _SYMBOL_COMMANDS.items():
        commands.add_parser(name, help=text).add_argument("symbol")
    commands.add_parser("mode", help="get or set the mode").add_argument(
        "mode", nargs="?", metavar="LEGACY|EXIT_BRAIN_V3"
    )
    commands.add_parser("guard", help="get or set the guard").add_argument(
        "guard", nargs="?", metavar="soft|hard"
    )
    set_plan = commands.add_parser("set-plan", help="override plan fields: trail.callback_pct=0.3")
    set_plan.add_argument("--module", help="the legacy module asking (logged as a fallback)")
    set_plan.add_argument("symbol")
    set_plan.add_argument("overrides", nargs="+", metavar="FIELD=VALUE")
    submit = commands.add_parser("submit", help="a legacy module's exit order")
    submit.add_argument("--module", required=True)
    submit.add_argument("symbol")
    submit.add_argument(
        "kind", metavar="KIND", help="sl, tp, partial_tp, breakeven, trailing, time"
    )
    submit.add_argument("order", nargs="+", metavar="PARAM=VALUE", help="Binance's parameters")


def _assignments(items: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{item!r}: NAME=VALUE")
        found[key] = value
    return found


def request_of(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The command and its arguments as the socket takes them."""
    cmd: str = args.ctl_command
    if cmd == "orders":
        return cmd, {} if args.symbol is None else {"symbol": args.symbol}
    if cmd in _SYMBOL_COMMANDS:
        return cmd, {"symbol": args.symbol}
    if cmd in ("mode", "guard"):
        value = getattr(args, cmd)
        return cmd, {} if value is None else {cmd: value}
    if cmd == "set-plan":
        found: dict[str, Any] = {"symbol": args.symbol, "overrides": _assignments(args.overrides)}
        if args.module is not None:
            found["module"] = args.module
        return cmd, found
    if cmd == "submit":
        order = _assignments(args.order)
        return cmd, {
            "module": args.module,
            "symbol": args.symbol,
            "kind": args.kind,
            "order": order,
        }
    return cmd, {}


def socket_path(args: argparse.Namespace) -> str:
    if args.socket:
        return str(args.socket)
    if args.config:
        return str(_socket_in(Path(args.config)))
    return DEFAULT_SOCKET


def _socket_in(config: Path) -> Path:
    """`[daemon].socket_path` of a config file, relative to the file's folder as the daemon
    reads it. Only that key is read, so a file the daemon would refuse (the one an operator
    is about to fix and reload) still names the socket."""
    try:
        document = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"cannot read the socket's path from {config}: {exc}; name it with --socket PATH"
        ) from None
    daemon = document.get("daemon", {})
    path = daemon.get("socket_path", DEFAULT_SOCKET) if isinstance(daemon, dict) else None
    if not isinstance(path, str) or not path:
        raise UsageError(f"{config}: daemon.socket_path is not a path")
    return config.parent / path


def call(path: str, cmd: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """One request and its answer; UsageError when no daemon listens at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_TIMEOUT_S)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoDaemon(f"daemon not running at {path}") from None
        except PermissionError:
            raise UsageError(f"no permission to use {path}") from None
        sock.sendall(json.dumps({"id": 1, "cmd": cmd, "args": args}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise UsageError(f"the daemon at {path} closed the connection")
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        cmd, request = request_of(args)
        answer = call(socket_path(args), cmd, request)
    except NoDaemon as exc:
        # A daemon started from a config of its own listens where that file says, not at
        # the systemd path a bare `exitd ctl` tries.
        hint = "" if args.socket or args.config else " (or give --config FILE or --socket PATH)"
        print(f"exitd ctl: {exc}{hint}", file=err)
        return 2
    except UsageError as exc:
        print(f"exitd ctl: {exc}", file=err)
        return 2
    except (OSError, ValueError) as exc:
        print(f"exitd ctl: {exc}", file=err)
        return 2
    if not answer.get("ok"):
        error = answer.get("error") or {}
        print(f"exitd ctl: {error.get('code')}: {error.get('message')}", file=err)
        detail = error.get("detail")
        if isinstance(detail, list):
            for line in detail:
                print(f"  {line}", file=err)
        elif detail is not None:
            print(f"  {json.dumps(detail)}", file=err)
        return 1
    result = answer.get("result")
    text = json.dumps(result, indent=2) if args.json else render(cmd, result)
    try:
        print(text, file=out)
        out.flush()
    except BrokenPipeError:
        # The reader (`| head`) has gone; the command itself succeeded. Point the stream at
        # /dev/null so the interpreter's last flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    return 0
