"""A legacy position monitor, routed through exitd's exit gateway.

What an old trading system's monitor does: watch its position on the exchange, and once it
sees one, place a stop-loss and a take-profit built as Binance orders. The only change the
migration asks of it is the line that sends them: `gateway.submit(...)` instead of its direct
call, which it keeps as the fallback for when the daemon is not running. It runs unchanged in
the three stages of DESIGN.md; the daemon's mode decides what its orders meet:

  observe   (LEGACY)              placed, counted under its module; the exit brain shadows
  delegate  (EXIT_BRAIN_V3 soft)  placed, counted as ownership conflicts; the brain protects
  enforce   (EXIT_BRAIN_V3 hard)  refused; it becomes a read-only monitor of the brain's plan

Standard library plus `exitd.client` (itself standard library only). Run it with --help.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from binance_direct import BinanceDirect, ExchangeError

from exitd.client import CommandRefused, DaemonUnreachable, ExitGateway

MODULE = "position_monitor"


def exit_orders(
    position: dict[str, Any], sl_pct: Decimal, tp_pct: Decimal, tick: Decimal
) -> dict[str, dict[str, Any]]:
    """The stop-loss and take-profit this monitor has always placed, in Binance's parameters."""
    amount = Decimal(position["positionAmt"])
    entry = Decimal(position["entryPrice"])
    long = amount > 0
    away = Decimal(1) - sl_pct / 100 if long else Decimal(1) + sl_pct / 100
    toward = Decimal(1) + tp_pct / 100 if long else Decimal(1) - tp_pct / 100
    closing = "SELL" if long else "BUY"
    size = {"quantity": str(abs(amount)), "reduceOnly": "true"}
    return {
        "sl": {
            "side": closing,
            "type": "STOP_MARKET",
            "stopPrice": _tick(entry * away, tick),
            **size,
        },
        "tp": {
            "side": closing,
            "type": "TAKE_PROFIT_MARKET",
            "stopPrice": _tick(entry * toward, tick),
            **size,
        },
    }


def _tick(price: Decimal, tick: Decimal) -> str:
    return str((price / tick).quantize(Decimal(1), ROUND_HALF_UP) * tick)


def place_exits(
    gateway: ExitGateway, exchange: BinanceDirect, symbol: str, orders: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each order through the gateway; what became of it, one report per order."""
    reports = []
    for kind, order in orders.items():
        report: dict[str, Any] = {"kind": kind, "type": order["type"]}
        try:
            placed = gateway.submit(symbol, kind, fallback=exchange.place_order, **order)
        except CommandRefused as refused:
            report |= {"outcome": refused.code, "message": refused.message}
        except ExchangeError as rejected:  # the fallback's own direct call
            report |= {"outcome": "fallback_rejected", "message": rejected.body}
        else:
            via = "gateway" if "module" in placed else "fallback"
            cid = placed.get("clientOrderId") or placed.get("clientAlgoId")
            report |= {"outcome": "placed", "via": via, "clientOrderId": cid}
        reports.append(report)
    return reports


def brain_view(gateway: ExitGateway, symbol: str) -> dict[str, Any]:
    """What the exit brain holds for the symbol: the read-only monitor's whole job."""
    plan = gateway.plan(symbol)
    legs = (plan.get("plan") or {}).get("legs", [])
    return {
        "legs": {leg["leg"]: leg.get("price") for leg in legs},
        "orders": len(plan["openOrders"]),
    }


def watch(args: argparse.Namespace) -> dict[str, Any]:
    """Until the position is seen and its exits are dealt with (`--once`), or until it closes."""
    exchange = BinanceDirect(args.rest_url, os.environ[args.key_env], os.environ[args.secret_env])
    gateway = ExitGateway(args.socket, MODULE, timeout_s=args.timeout)
    report: dict[str, Any] = {
        "symbol": args.symbol,
        "module": MODULE,
        "exits": [],
        "read_only": False,
    }
    with gateway:
        while True:
            position = exchange.position(args.symbol)
            if position is not None and not report["exits"]:
                orders = exit_orders(position, args.sl_pct, args.tp_pct, args.tick)
                report["exits"] = place_exits(gateway, exchange, args.symbol, orders)
                for line in report["exits"]:
                    detail = line.get("via") or line.get("message", "")
                    say(args, f"{line['kind']}: {line['outcome']} {detail}")
                # Guard hard: the brain alone writes exits; this monitor only watches now.
                report["read_only"] = any(r["outcome"] == "refused" for r in report["exits"])
            if report["read_only"]:
                try:
                    report["brain"] = brain_view(gateway, args.symbol)
                    say(args, f"read-only: exit brain holds {report['brain']}")
                except (CommandRefused, DaemonUnreachable) as exc:
                    say(args, f"read-only: no view of the brain ({exc})")
            if args.once or (position is None and report["exits"]):
                return report
            time.sleep(args.interval)


def say(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(f"{MODULE} {args.symbol}: {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--socket", required=True, help="exitd's control socket")
    parser.add_argument(
        "--rest-url", required=True, help="the exchange (or simulator) REST base URL"
    )
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--sl-pct", type=Decimal, default=Decimal("1.5"))
    parser.add_argument("--tp-pct", type=Decimal, default=Decimal("3"))
    parser.add_argument(
        "--tick", type=Decimal, default=Decimal("0.1"), help="the symbol's tick size"
    )
    parser.add_argument(
        "--key-env", default="EXITD_API_KEY", help="environment variable with the API key"
    )
    parser.add_argument("--secret-env", default="EXITD_API_SECRET")
    parser.add_argument(
        "--timeout", type=float, default=40.0, help="seconds to wait for the daemon"
    )
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between looks")
    parser.add_argument("--once", action="store_true", help="one look, then exit")
    parser.add_argument("--json", action="store_true", help="print a JSON report at the end")
    args = parser.parse_args(argv)
    report = watch(args)
    if args.json:
        print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
