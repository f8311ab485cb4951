"""One migration stage end to end: simulator, daemon, a position, the legacy monitor.

    python examples/stages.py observe | delegate | enforce [--json]

Starts exitd's simulator and the daemon in this process, in the stage's mode (DESIGN.md:
observe = LEGACY, delegate = EXIT_BRAIN_V3 guard soft, enforce = EXIT_BRAIN_V3 guard hard),
opens a LONG 1 BTCUSDT at 40000 as an entry bot would, waits until the daemon has adopted it,
then runs examples/position_monitor.py in a process of its own, as the legacy system would
be, and shows what its orders met, the orders on the exchange by module, and the daemon's
summary. Needs exitd installed (`pip install -e .`); the monitor itself needs only
`exitd.client`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from exitd.client import AsyncExitGateway
from exitd.daemon import Daemon, run_daemon
from exitd.engine import Side
from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import parse_config
from exitd.ops.logs import configure_logging

STAGES = {
    "observe": ("LEGACY", "soft"),
    "delegate": ("EXIT_BRAIN_V3", "soft"),
    "enforce": ("EXIT_BRAIN_V3", "hard"),
}
SYMBOL = "BTCUSDT"
MONITOR = Path(__file__).resolve().parent / "position_monitor.py"
CONFIG = """
[daemon]
socket_path = "{socket}"
state_dir = "state"
log_format = "console"
log_level = "{log_level}"

[exits]
mode = "{mode}"
exit_brain_v3_enabled = true
guard = "{guard}"

[exchange]
kind = "sim"
rest_url = "{rest_url}"
ws_url = "{ws_url}"
api_key = {{ env = "EXITD_API_KEY" }}
api_secret = {{ env = "EXITD_API_SECRET" }}

[safety]
emergency_sl_pct = 2.0
# The legacy monitor places its own stops in LEGACY mode; the safety net waits for it.
new_position_grace_s = 60

[profiles.default]
hard_sl_pct = 2.0
take_profits = [{{ pct = 1.0, fraction = 0.3 }}, {{ pct = 2.0, fraction = 0.3 }}]
"""


async def run_stage(stage: str, log_level: str) -> dict[str, Any]:
    mode, guard = STAGES[stage]
    environ = {"EXITD_API_KEY": secrets.token_hex(16), "EXITD_API_SECRET": secrets.token_hex(32)}
    sim = SimExchange(api_key=environ["EXITD_API_KEY"], api_secret=environ["EXITD_API_SECRET"])
    await sim.start()
    try:
        with tempfile.TemporaryDirectory(prefix="exitd-stage-") as folder:
            socket = Path(folder) / "control.sock"
            text = CONFIG.format(
                socket=socket, mode=mode, guard=guard, rest_url=sim.rest_url,
                ws_url=sim.ws_url, log_level=log_level,
            )  # fmt: skip
            config = parse_config(text, f"{stage}.toml", environ, base_dir=Path(folder))
            started = anyio.Event()
            daemons: list[Daemon] = []
            async with anyio.create_task_group() as tasks:
                run = partial(run_daemon, config, environ, started=started, on_start=daemons)
                tasks.start_soon(run)
                report = await _session(
                    sim, socket, environ, started=started, daemons=daemons, stage=stage
                )
                tasks.cancel_scope.cancel()
            return report
    finally:
        await sim.stop()


async def _session(
    sim: SimExchange,
    socket: Path,
    environ: dict[str, str],
    *,
    started: anyio.Event,
    daemons: list[Daemon],
    stage: str,
) -> dict[str, Any]:
    with anyio.fail_after(20):
        await started.wait()
        await daemons[0].account.reconciled.wait()
    now = sim.clock()
    sim.push_price(SYMBOL, Decimal(40000), now)
    sim.publish(sim.account.open_position(SYMBOL, Side.LONG, Decimal(1), Decimal(40000), now), now)
    async with AsyncExitGateway(str(socket), timeout_s=10) as gateway:
        await _adopted(gateway, brain_writes=stage != "observe")
        argv = [sys.executable, str(MONITOR), "--socket", str(socket), "--once", "--json"]
        argv += ["--rest-url", sim.rest_url, "--symbol", SYMBOL]
        done = await anyio.run_process(argv, env={**os.environ, **environ}, check=False)
        if done.returncode != 0:
            raise SystemExit(f"position_monitor failed:\n{done.stderr.decode()}")
        monitor = json.loads(done.stdout.decode().splitlines()[-1])
        orders = await gateway.orders(SYMBOL)
        summary = await gateway.summary()
    await _alone(daemons[0])
    resting = [
        {k: o[k] for k in ("module", "leg", "type", "side", "triggerPrice", "price", "quantity")}
        for o in orders
    ]
    return {"stage": stage, "monitor": monitor, "orders": resting, "summary": summary}


async def _adopted(gateway: AsyncExitGateway, *, brain_writes: bool) -> None:
    """Until the daemon holds a plan for the position and, where it writes, its stop rests."""
    with anyio.fail_after(20):
        while True:
            try:
                plan = await gateway.plan(SYMBOL)
            except Exception:  # the symbol actor is not there yet
                plan = {}
            legs = (plan.get("plan") or {}).get("legs", [])
            hard = [leg for leg in legs if leg["leg"] == "HARD_SL"]
            if hard and (not brain_writes or (hard[0]["orders"] and plan["inflight"] == 0)):
                return
            await anyio.sleep(0.05)


async def _alone(daemon: Daemon) -> None:
    """Until the control server has seen every client leave: stopping the daemon while it
    wakes up for a client's goodbye trips a race in anyio's unix streams (a loud, harmless
    InvalidStateError)."""
    control = daemon.control
    with anyio.fail_after(5):
        while control is not None and control.clients:
            await anyio.sleep(0.01)


def show(report: dict[str, Any]) -> None:
    print(f"== stage {report['stage']}: mode {' guard '.join(STAGES[report['stage']])}")
    for line in report["monitor"]["exits"]:
        said = line.get("via") or line.get("message", "")
        print(f"position_monitor {line['kind']:>2} {line['type']:<19} {line['outcome']}: {said}")
    if report["monitor"].get("brain"):
        print(
            f"position_monitor read-only, sees the exit brain's legs {report['monitor']['brain']}"
        )
    print("orders on the exchange:")
    for order in report["orders"]:
        price = order["triggerPrice"] or order["price"]
        print(f"  {order['module']:<17} {order['leg'] or '-':<8} {order['type']:<19} @ {price}")
    summary = report["summary"]
    print(f"summary: orders by module {summary['orders_by_module']}")
    print(f"         conflicts {summary['conflicts']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.add_argument("--log-level", default="error", help="the daemon's log level")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, "console")
    report = anyio.run(run_stage, args.stage, args.log_level)
    if args.json:
        print(json.dumps(report, default=str))
    else:
        show(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
