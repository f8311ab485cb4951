"""The daemon's work per tick, counted the same way whatever the machine's load.

bench_daemon.py measures the daemon as it runs, ticks arriving on their own schedule; on a
shared machine its CPU share moves with the load (a loaded daemon reads several frames per
wake-up and pays less per tick). Here the simulator and the daemon share one process and one
event loop, and ticks are pushed one at a time: each waits until the daemon has routed it and
the symbol has nothing queued or in flight. Every run does the same work in the same order,
so the CPU time per tick, and better the instruction count under callgrind, compare across
versions of the code. The figures include the simulator's side (building and sending each
frame, answering each request) and this driver's wait.

Two phases after the adoption, `--quiet-rounds` rounds of quiet ticks (just under each
symbol's high) then `--amend-rounds` rounds of new highs (each amends the working stop: place,
cancel, read back). Callgrind counts the whole process: the difference between two runs that
differ only in the rounds is the cost of those rounds, e.g.

    valgrind --tool=callgrind --callgrind-out-file=q0 python benchmarks/bench_tick_cost.py \\
        --symbols 10 --quiet-rounds 0
    valgrind --tool=callgrind --callgrind-out-file=q40 python benchmarks/bench_tick_cost.py \\
        --symbols 10 --quiet-rounds 40
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).parent))
import bench_daemon as bench  # the same account, plan and limits


async def main(args: argparse.Namespace) -> None:
    from exitd.daemon import Daemon, run_daemon  # noqa: PLC0415
    from exitd.ops.config import parse_config  # noqa: PLC0415
    from exitd.ops.logs import configure_logging  # noqa: PLC0415

    state_dir = Path(tempfile.mkdtemp(prefix="bench-tick-cost-"))
    report = sys.stdout
    sys.stdout = open(state_dir / "daemon.log", "w", buffering=1)  # noqa: SIM115
    configure_logging("info", "json")
    sim, symbols = await _open_account(args.symbols)
    environ = {"EXITD_API_KEY": bench.API_KEY, "EXITD_API_SECRET": bench.API_SECRET}
    config = parse_config(bench.config_text(sim.port, state_dir, "info"), "bench.toml", environ)
    started = anyio.Event()
    daemons: list[Daemon] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: run_daemon(config, environ, started=started, on_start=daemons))
        await started.wait()
        await _drive(daemons[0], sim, symbols, args, report)
        tasks.cancel_scope.cancel()
    await sim.stop()


async def _open_account(n: int) -> tuple[Any, list[str]]:
    """The simulator in this process, limits lifted, a LONG open on each of `n` symbols."""
    from exitd.actors import write_queue  # noqa: PLC0415
    from exitd.engine import Side  # noqa: PLC0415
    from exitd.exchange.sim import account as sim_account  # noqa: PLC0415
    from exitd.exchange.sim.limits import RateLimits  # noqa: PLC0415
    from exitd.exchange.sim.server import SimExchange  # noqa: PLC0415

    for name in ("WEIGHT_1M_LIMIT", "ORDERS_10S_LIMIT", "ORDERS_1M_LIMIT", "CONDITIONAL_CAP"):
        setattr(write_queue, name, bench.LIFTED)
    sim_account.MAX_OPEN_CONDITIONAL = bench.LIFTED
    lifted = RateLimits(
        weight_per_minute=bench.LIFTED, orders_per_10s=bench.LIFTED, orders_per_minute=bench.LIFTED
    )
    sim = SimExchange(
        api_key=bench.API_KEY,
        api_secret=bench.API_SECRET,
        symbols=("BTCUSDT",),
        synthetic_symbols=n,
        limits=lifted,
        wallet_balance=Decimal(10**9),
    )
    await sim.start()
    symbols = [s for s in sim.symbols if s.startswith("SYN")]
    for symbol in symbols:
        now = sim.clock()
        sim.push_price(symbol, bench.START, now)
        opened = sim.account.open_position(symbol, Side.LONG, Decimal(bench.QTY), bench.ENTRY, now)
        sim.publish(opened, now)
    return sim, symbols


async def _drive(
    daemon: Any, sim: Any, symbols: list[str], args: argparse.Namespace, report: Any
) -> None:
    from exitd.engine import Leg, OrderStatus  # noqa: PLC0415

    def trailing() -> int:
        return sum(
            1
            for actor in daemon.account.actors.values()
            if actor.state is not None
            and any(
                o.intent.leg is Leg.WORKING_STOP and o.status is OrderStatus.LIVE
                for o in actor.state.orders
            )
        )

    def settled(symbol: str) -> bool:
        actor, gateway = daemon.account.actors[symbol], daemon.gateway
        return not (
            actor.mailbox.receive.statistics().current_buffer_used
            or gateway.inflight(symbol)
            or gateway._queue.waiting(symbol)
        )

    async def tick(symbol: str, price: Decimal) -> None:
        routed = daemon.price_feed.ticks + 1
        sim.push_price(symbol, price, sim.clock())
        with anyio.fail_after(30):
            while daemon.price_feed.ticks < routed or not settled(symbol):
                with anyio.move_on_after(0.05):
                    await daemon.activity.wait()

    with anyio.fail_after(300):
        while trailing() < len(symbols):
            await anyio.sleep(0.05)
    await anyio.sleep(1.5)  # the adoption's snapshots are written
    highs = dict.fromkeys(symbols, bench.START)
    for phase, rounds in (("quiet", args.quiet_rounds), ("amend", args.amend_rounds)):
        cpu = time.process_time()
        for round_ in range(rounds):
            for symbol in symbols:
                if phase == "amend":
                    highs[symbol] += bench.STEP
                    await tick(symbol, highs[symbol])
                else:
                    below = bench.PRICE_TICK * (1 + round_ % 3)
                    await tick(symbol, highs[symbol] - below)
        with anyio.fail_after(30):  # the last amendment's cancel answered
            while not all(settled(s) for s in symbols):
                await anyio.sleep(0.01)
        ticks = rounds * len(symbols)
        used = (time.process_time() - cpu) / max(ticks, 1) * 1e6
        print(f"{phase}: {ticks} ticks, {used:.1f} µs CPU per tick", file=report)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--quiet-rounds", type=int, default=40)
    parser.add_argument("--amend-rounds", type=int, default=0)
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, _parse(), backend_options={"use_uvloop": True})
