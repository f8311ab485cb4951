"""The daemon under load: tick-to-order latency, CPU share and memory with 1, 50, 200 symbols.

Three processes per configuration. The simulator runs in one, pinned to core 0: it lists N
synthetic symbols (SYN0001USDT…), opens a LONG on each as an entry bot would, and once the
daemon has adopted them all it pushes every symbol's mark 10 times a second, spread evenly
over each 100 ms. The daemon (`exitd run`'s actor tree, `run_daemon`, logging as configured
at `--log-level`) runs in another, pinned to core 1, against the simulator over loopback.
This process only starts, waits and reports.

Prices climb in steps: a symbol's price makes a new high on one of its ticks out of every k
and wiggles just under that high on the others, so each new high moves the trail and the
daemon amends the working stop (place the new stop, then cancel the old one), and every other
tick is a quiet one. k is chosen so all symbols together make about `--amends-per-s` new
highs a second (default 20, Binance's sustained order rate of 1200 a minute), at most one per
tick: with 1 symbol every tick amends.

Measured over `--duration` seconds after `--warmup`:

- daemon: from the price feed handing a new high's MarkPrice to the symbol actor (wrapping
  `Account.route_price`) to the amended stop leaving the gateway (its call of the adapter's
  `place`: the issue's measure), and on to its POST /fapi/v1/algoOrder leaving the adapter
  (wrapping `WarmConnections.request`, just before its bytes are written);
- end to end: from the simulator's `push_price` of that high to the request's arrival in the
  simulator's aiohttp handler chain (a middleware placed first);
- CPU: the daemon process's CPU time (all threads) over wall time, and its event loop
  thread's alone; RSS: the daemon process's resident memory at the end of the window;
- waiting: the share of wall time the loop thread was runnable while another process had
  the core (Linux schedstat), and the load average around each configuration: on a shared
  machine they say how much of the latency is not the daemon's;
- the machine: before each configuration, a fixed piece of Python (decimals, small frozen
  values, a dict, an HMAC; about 60 µs back to back here) run on the daemon's core at the
  pace the ticks will come, idle in between as the daemon is: its p50 and p99 are this
  machine's own, at that moment, for a fixed amount of work.

An amendment is matched to the new high whose stop it carries (high × (1 − callback), to the
nearest high). Binance caps an account at 200 open conditional orders and 1200 orders a
minute; 200 positions with a hard stop and a working stop each cannot exist on one account,
so both limits are lifted here, in the simulator and in the daemon's gateway (its module
constants, patched in the daemon's process only): the price schedule keeps the order rate.

    python benchmarks/bench_daemon.py [--symbols 1,50,200] [--duration 25] [--warmup 3]
                                      [--amends-per-s 20] [--log-level info] [--profile PATH]
                                      [--machine-s 5]
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

API_KEY = "bench-key"
API_SECRET = "bench-secret"
ENTRY = Decimal("10.0000")
START = Decimal("10.0200")  # above the trail's activation: the working stop exists at adoption
STEP = Decimal("0.0100")  # a new high's rise: 0.1 %
PRICE_TICK = Decimal("0.0001")  # synthetic symbols' tick size
CALLBACK_PCT = Decimal("0.5")
TICKS_PER_S = 10
QTY = "10"
LIFTED = 10**9
SIM_CORE, DAEMON_CORE = 0, 1

PROFILE = f"""
[profiles.default]
hard_sl_pct = 5.0

[profiles.default.trail]
activation_pct = 0.1
callback_pct = {CALLBACK_PCT}
"""


def config_text(port: int, state_dir: Path, log_level: str) -> str:
    return f"""
[daemon]
state_dir = "{state_dir}"
log_format = "json"
log_level = "{log_level}"

[exits]
mode = "EXIT_BRAIN_V3"
exit_brain_v3_enabled = true
guard = "soft"

[exchange]
kind = "sim"
rest_url = "http://127.0.0.1:{port}"
ws_url = "ws://127.0.0.1:{port}"
api_key = {{ env = "EXITD_API_KEY" }}
api_secret = {{ env = "EXITD_API_SECRET" }}

[safety]
emergency_sl_pct = 2.0
new_position_grace_s = 5
{PROFILE}
"""


# --- matching an amendment to its new high ------------------------------------------------------


def stop_of(high: Decimal) -> Decimal:
    return high * (1 - CALLBACK_PCT / 100)


def cause(highs: Sequence[tuple[Decimal, int]], trigger: Decimal) -> int | None:
    """The time of the new high whose trailing stop is `trigger`, if one is near enough."""
    best = min(highs, key=lambda h: abs(stop_of(h[0]) - trigger), default=None)
    if best is None or abs(stop_of(best[0]) - trigger) > STEP / 4:
        return None
    return best[1]


# --- the price schedule -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """Which tick of which symbol is a new high: symbol i's tick r when (r + i) % every == 0."""

    symbols: int
    every: int

    @classmethod
    def for_rate(cls, symbols: int, amends_per_s: float) -> Schedule:
        return cls(symbols, max(1, round(symbols * TICKS_PER_S / amends_per_s)))

    def rises(self, index: int, round_: int) -> bool:
        return (round_ + index) % self.every == 0


async def _receive(pipe: Any) -> Any:
    """The parent's next word, without blocking the event loop (polled before measuring)."""
    import anyio  # noqa: PLC0415

    while not pipe.poll():
        await anyio.sleep(0.01)
    return pipe.recv()


# --- the simulator's process ------------------------------------------------------------------


def _serve(n: int, schedule: Schedule, timing: tuple[float, float], pipe: Any) -> None:
    os.sched_setaffinity(0, {SIM_CORE})
    import asyncio  # noqa: PLC0415 - the parent never needs the simulator's imports

    asyncio.run(_sim_main(n, schedule, timing, pipe))


async def _sim_main(n: int, schedule: Schedule, timing: tuple[float, float], pipe: Any) -> None:
    import asyncio  # noqa: PLC0415

    from aiohttp import web  # noqa: PLC0415

    from exitd.engine import Side  # noqa: PLC0415
    from exitd.exchange.sim import account as sim_account  # noqa: PLC0415
    from exitd.exchange.sim.limits import RateLimits  # noqa: PLC0415
    from exitd.exchange.sim.server import SimExchange  # noqa: PLC0415

    sim_account.MAX_OPEN_CONDITIONAL = LIFTED
    limits = RateLimits(weight_per_minute=LIFTED, orders_per_10s=LIFTED, orders_per_minute=LIFTED)
    sim = SimExchange(
        api_key=API_KEY,
        api_secret=API_SECRET,
        symbols=("BTCUSDT",),
        synthetic_symbols=n,
        limits=limits,
        wallet_balance=Decimal(10**9),
    )
    arrivals: list[tuple[int, str, str]] = []

    @web.middleware
    async def stamp(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "POST" and request.path == "/fapi/v1/algoOrder":
            at = time.perf_counter_ns()
            query = request.rel_url.query
            arrivals.append((at, query.get("symbol", ""), query.get("triggerPrice", "0")))
        return await handler(request)  # type: ignore[no-any-return]

    sim.app.middlewares.insert(0, stamp)
    await sim.start()
    symbols = [s for s in sim.symbols if s.startswith("SYN")]
    for symbol in symbols:
        now = sim.clock()
        sim.push_price(symbol, START, now)
        sim.publish(sim.account.open_position(symbol, Side.LONG, Decimal(QTY), ENTRY, now), now)
    pipe.send(sim.port)
    await _receive(pipe)  # the daemon has adopted every position: go
    warmup, duration = timing
    start = time.perf_counter()
    pushed, ticks = await _drive(sim, symbols, schedule, start, warmup + duration + 1.0)
    await asyncio.sleep(0.5)  # the last amendments land
    window = (int((start + warmup) * 1e9), int((start + warmup + duration) * 1e9))
    latencies, unmatched = [], 0
    for at, symbol, trigger in arrivals:
        if not window[0] <= at < window[1]:
            continue
        pushed_at = cause(pushed.get(symbol, []), Decimal(trigger))
        if pushed_at is None:
            unmatched += 1
        else:
            latencies.append(at - pushed_at)
    pipe.send({"latencies": latencies, "unmatched": unmatched, "ticks": ticks})
    await _receive(pipe)  # stop
    await sim.stop()


async def _drive(
    sim: Any, symbols: list[str], schedule: Schedule, start: float, seconds: float
) -> tuple[dict[str, list[tuple[Decimal, int]]], int]:
    """Every symbol's mark 10 times a second, spread evenly; the new highs and when."""
    import anyio  # noqa: PLC0415

    n = len(symbols)
    highs = dict.fromkeys(symbols, START)
    pushed: dict[str, list[tuple[Decimal, int]]] = {s: [] for s in symbols}
    spacing = 1 / (TICKS_PER_S * n)
    ticks = 0
    while (now_s := time.perf_counter()) < start + seconds:
        due = int((now_s - start) / spacing) + 1
        while ticks < due:
            round_, index = divmod(ticks, n)
            symbol = symbols[index]
            if schedule.rises(index, round_):
                highs[symbol] += STEP
                price = highs[symbol]
                pushed[symbol].append((price, time.perf_counter_ns()))
            else:
                price = highs[symbol] - PRICE_TICK * (ticks % 3)
            sim.push_price(symbol, price, sim.clock())
            ticks += 1
        await anyio.sleep(max(0.0, start + ticks * spacing - time.perf_counter()))
    return pushed, ticks


# --- the daemon's process ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DaemonRun:
    """What the daemon's process needs to know."""

    port: int
    state_dir: Path
    log_level: str
    timing: tuple[float, float]  # warmup, measured seconds
    profile: str | None


def _daemon(run: DaemonRun, pipe: Any) -> None:
    os.sched_setaffinity(0, {DAEMON_CORE})
    import anyio  # noqa: PLC0415

    from exitd.actors import write_queue  # noqa: PLC0415
    from exitd.ops.logs import configure_logging  # noqa: PLC0415

    for name in ("WEIGHT_1M_LIMIT", "ORDERS_10S_LIMIT", "ORDERS_1M_LIMIT", "CONDITIONAL_CAP"):
        setattr(write_queue, name, LIFTED)
    # The daemon's log lines go to a file, as they would to journald: written, not discarded.
    sys.stdout = open(run.state_dir / "daemon.log", "w", buffering=1)  # noqa: SIM115
    configure_logging(run.log_level, "json")
    anyio.run(_daemon_main, run, pipe, backend_options={"use_uvloop": True})


class _Probe:
    """The two timestamps of the daemon's side, taken by wrapping two calls; off the clock."""

    def __init__(self) -> None:
        self.highs: dict[str, deque[tuple[Decimal, int]]] = {}
        self.top: dict[str, Decimal] = {}
        self.latencies: list[int] = []
        self.handed: list[int] = []  # to the gateway's call of the adapter's `place`
        self.unmatched = 0
        self.recording = False
        self.order: Any = None

    def tick(self, route: Callable[[Any], None]) -> Callable[[Any], None]:
        def routed(mark: Any) -> None:
            if mark.price > self.top.get(mark.symbol, START):
                self.top[mark.symbol] = mark.price
                seen = self.highs.setdefault(mark.symbol, deque(maxlen=4))
                seen.append((mark.price, time.perf_counter_ns()))
            route(mark)

        return routed

    def place(self, place: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def placed(order: Any) -> Any:
            if self.recording and order.trigger_price is not None:
                at = time.perf_counter_ns()
                caused = cause(self.highs.get(order.symbol, ()), order.trigger_price)
                if caused is not None:
                    self.handed.append(at - caused)
            self.order = order  # read by `send` below: the first request leaves in the call
            try:
                return place(order)
            finally:
                self.order = None

        return placed

    def send(self, send: Callable[..., Any]) -> Callable[..., Any]:
        def sent(method: str, target: str, headers: Any) -> Any:
            order = self.order
            path = target.partition("?")[0]
            if self.recording and order is not None and path == "/fapi/v1/algoOrder":
                at = time.perf_counter_ns()
                caused = cause(self.highs.get(order.symbol, ()), order.trigger_price)
                if caused is None:
                    self.unmatched += 1
                else:
                    self.latencies.append(at - caused)
            return send(method, target, headers)

        return sent


async def _daemon_main(run: DaemonRun, pipe: Any) -> None:
    import anyio  # noqa: PLC0415

    from exitd.daemon import Daemon, run_daemon  # noqa: PLC0415
    from exitd.engine import Leg, OrderStatus  # noqa: PLC0415
    from exitd.ops.config import parse_config  # noqa: PLC0415

    environ = {"EXITD_API_KEY": API_KEY, "EXITD_API_SECRET": API_SECRET}
    state_dir = run.state_dir
    config = parse_config(config_text(run.port, state_dir, run.log_level), "bench.toml", environ)
    started = anyio.Event()
    daemons: list[Daemon] = []
    probe = _Probe()

    def trailing(daemon: Daemon) -> int:
        count = 0
        for actor in daemon.account.actors.values():
            state = actor.state
            if state is not None and any(
                o.intent.leg is Leg.WORKING_STOP and o.status is OrderStatus.LIVE
                for o in state.orders
            ):
                count += 1
        return count

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: run_daemon(config, environ, started=started, on_start=daemons))
        await started.wait()
        daemon = daemons[0]
        exchange: Any = daemon.exchange
        rest = exchange._rest()
        setattr(daemon.account, "route_price", probe.tick(daemon.account.route_price))  # noqa: B010
        setattr(exchange, "place", probe.place(exchange.place))  # noqa: B010
        setattr(rest._warm, "request", probe.send(rest._warm.request))  # noqa: B010
        wanted = int(await _receive(pipe))
        with anyio.fail_after(300):
            while trailing(daemon) < wanted:
                await anyio.sleep(0.1)
        pipe.send("adopted")
        await _receive(pipe)  # the simulator ticks from now
        warmup, duration = run.timing
        await anyio.sleep(warmup)
        profiler = cProfile.Profile() if run.profile else None
        probe.recording = True
        wall0, cpu0, loop0 = time.perf_counter(), time.process_time(), time.thread_time()
        queued0 = _run_queue_wait_s()
        if profiler is not None:
            profiler.enable()
        await anyio.sleep(duration)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{run.profile}.{wanted}")
        wall1, cpu1, loop1 = time.perf_counter(), time.process_time(), time.thread_time()
        queued1 = _run_queue_wait_s()
        probe.recording = False
        pipe.send(
            {
                "latencies": probe.latencies,
                "handed": probe.handed,
                "unmatched": probe.unmatched,
                "cpu": (cpu1 - cpu0) / (wall1 - wall0),
                "loop_cpu": (loop1 - loop0) / (wall1 - wall0),
                "queued": (queued1 - queued0) / (wall1 - wall0),
                "rss_mb": _rss_mb("VmRSS"),
                "peak_rss_mb": _rss_mb("VmHWM"),
                "ticks": daemon.price_feed.ticks,
                "orders": daemon.gateway.metrics.total_orders,
                "log_lines": sum(1 for _ in open(state_dir / "daemon.log", "rb")),  # noqa: SIM115
            }
        )
        tasks.cancel_scope.cancel()


def _run_queue_wait_s() -> float:
    """How long the event loop's thread has waited, runnable, for a CPU (Linux schedstat):
    on a shared machine, the part of any latency that other processes' work causes."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as schedstat:
        return int(schedstat.read().split()[1]) / 1e9


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- the machine's own spread -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Leg:
    name: str
    price: Decimal
    qty: Decimal


def _fixed_work(keyed: Any) -> str:
    """Always the same instructions: the kind of work a trail move does, without exitd."""
    book = {}
    price = START
    for i in range(40):
        price = (price * Decimal("1.001")).quantize(PRICE_TICK)
        leg = _Leg(f"L{i}", price, Decimal(i))
        book[leg.name] = leg
    mac = keyed.copy()
    mac.update("&".join(f"{name}={leg.price}" for name, leg in book.items()).encode())
    return str(mac.hexdigest())


def _machine(pace_s: float, seconds: float, pipe: Any) -> None:
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    os.sched_setaffinity(0, {DAEMON_CORE})
    keyed = hmac.new(API_SECRET.encode(), digestmod=hashlib.sha256)
    back_to_back = []
    for _ in range(200):
        at = time.perf_counter_ns()
        _fixed_work(keyed)
        back_to_back.append(time.perf_counter_ns() - at)
    paced = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        time.sleep(pace_s)
        at = time.perf_counter_ns()
        _fixed_work(keyed)
        paced.append(time.perf_counter_ns() - at)
    pipe.send((min(back_to_back), paced))


def machine_spread(n: int, seconds: float) -> tuple[int, list[int]]:
    """The fixed work's best time back to back, and its times at the ticks' pace."""
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    process = ctx.Process(target=_machine, args=(1 / (n * TICKS_PER_S), seconds, there))
    process.start()
    result: tuple[int, list[int]] = here.recv()
    process.join()
    return result


# --- this process -----------------------------------------------------------------------------


def _percentiles(samples_ns: list[int]) -> str:
    if not samples_ns:
        return "no samples"
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return f"p50 {at(0.5):8.0f}  p99 {at(0.99):8.0f}  max {ordered[-1] / 1000:8.0f} µs"


def run_one(n: int, args: argparse.Namespace) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    schedule = Schedule.for_rate(n, args.amends_per_s)
    timing = (args.warmup, args.duration)
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as state_dir:
        sim_end, sim_pipe = ctx.Pipe()
        daemon_end, daemon_pipe = ctx.Pipe()
        sim = ctx.Process(target=_serve, args=(n, schedule, timing, sim_end), daemon=True)
        sim.start()
        daemon = None
        try:
            if not sim_pipe.poll(120):
                raise RuntimeError("the simulator did not start")
            port = sim_pipe.recv()
            daemon = ctx.Process(
                target=_daemon,
                args=(
                    DaemonRun(port, Path(state_dir), args.log_level, timing, args.profile),
                    daemon_end,
                ),
                daemon=True,
            )
            daemon.start()
            daemon_pipe.send(n)
            if not daemon_pipe.poll(300):
                raise RuntimeError("the daemon did not adopt every position")
            daemon_pipe.recv()
            sim_pipe.send("go")
            daemon_pipe.send("go")
            limit = args.warmup + args.duration + 60
            if not (daemon_pipe.poll(limit) and sim_pipe.poll(limit)):
                raise RuntimeError("no results")
            inside, outside = daemon_pipe.recv(), sim_pipe.recv()
            sim_pipe.send("stop")
        finally:
            for process in (daemon, sim):
                if process is None:
                    continue
                process.join(timeout=15)
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=5)
    return {"schedule": schedule, "daemon": inside, "sim": outside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="1,50,200", help="comma-separated symbol counts")
    parser.add_argument("--duration", type=float, default=25.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="ticking seconds not measured")
    parser.add_argument("--amends-per-s", type=float, default=20.0)
    parser.add_argument(
        "--machine-s", type=float, default=5.0, help="seconds of the fixed work, before each"
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    parser.add_argument(
        "--profile", metavar="PATH", help="cProfile the daemon while measured: PATH.<symbols>"
    )
    args = parser.parse_args()
    print(
        f"simulator on core {SIM_CORE}, daemon on core {DAEMON_CORE}; {TICKS_PER_S} ticks/s "
        f"per symbol, {args.duration:g} s measured after {args.warmup:g} s, "
        f"log level {args.log_level}"
    )
    for n in (int(s) for s in args.symbols.split(",")):
        load = os.getloadavg()[0]
        best, paced = machine_spread(n, args.machine_s)
        result = run_one(n, args)
        inside, outside = result["daemon"], result["sim"]
        every = result["schedule"].every
        amends = len(inside["latencies"]) / args.duration
        print(
            f"\n{n} symbols: {n * TICKS_PER_S} ticks/s, a new high every {every} ticks per "
            f"symbol, {amends:.1f} amendments/s measured ({inside['unmatched']} unmatched in "
            f"the daemon, {outside['unmatched']} at the simulator)"
        )
        print(f"  daemon      tick → gateway  {_percentiles(inside['handed'])}")
        print(f"  daemon      tick → send     {_percentiles(inside['latencies'])}")
        print(f"  end to end  push → arrival  {_percentiles(outside['latencies'])}")
        print(
            f"  machine     fixed work      {_percentiles(paced)} "
            f"({best / 1000:.0f} µs back to back; {n * TICKS_PER_S} times a second, before)"
        )
        print(
            f"  CPU {inside['cpu']:.1%} of a core (event loop thread {inside['loop_cpu']:.1%}, "
            f"runnable but waiting for a core {inside['queued']:.1%} of the time), "
            f"RSS {inside['rss_mb']:.1f} MB (peak {inside['peak_rss_mb']:.1f} MB), "
            f"{inside['log_lines']} log lines; ticks pushed {outside['ticks']}, "
            f"routed by the daemon {inside['ticks']}; load average {load:.2f} → "
            f"{os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
