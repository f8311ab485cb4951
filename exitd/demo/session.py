"""One demo run: the simulator and the daemon in this process, a position on the bundled
prices, until the daemon has closed it (or the prices end).

The daemon is `exitd run`'s own actor tree talking to the simulator over loopback through the
Binance adapter, exactly as it would talk to Binance; only the config is built in. Nothing
outlives the run: the daemon's tree and the simulator stop with the task group, and the
state the daemon writes lives in the caller's temporary directory.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import anyio

from exitd.actors.reconcile_view import is_own
from exitd.daemon import Daemon, open_demo_position, price_source, run_daemon
from exitd.exchange.sim.account import AccountEvent
from exitd.exchange.sim.ledger import Ledger
from exitd.exchange.sim.prices import PriceSource
from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import Config
from exitd.ops.metrics import OrderMetrics
from exitd.pictures import PriceTrace

SYMBOL = "BTCUSDT"
KEY_VARIABLE, SECRET_VARIABLE = "EXITD_DEMO_API_KEY", "EXITD_DEMO_API_SECRET"
_STARTUP_S = 20.0
_AFTER_PRICES_S = 2.0  # after the last price: time for the last fills to be answered
_LOOK_EVERY_S = 0.05


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What the run left behind: the exchange's record and the daemon's order counts."""

    config: Config
    symbol: str
    ledger: Ledger
    metrics: OrderMetrics
    prices: list[tuple[int, Decimal]]
    flat: bool
    open_qty: Decimal
    interrupted: bool  # the daemon stopped (SIGINT, SIGTERM) before the position was closed


class DaemonDidNotStart(Exception):
    """The daemon was not up and reconciled in time: nothing was opened."""


class _TracedSim(SimExchange):
    """The simulator, keeping every trade price it is sent for the picture."""

    def __init__(self, trace: PriceTrace, *, api_key: str, api_secret: str) -> None:
        super().__init__(api_key=api_key, api_secret=api_secret, symbols=(SYMBOL,))
        self.trace = trace

    def push_trade(self, symbol: str, price: Decimal, time_ms: int) -> list[AccountEvent]:
        self.trace.add(time_ms, price)
        return super().push_trade(symbol, price, time_ms)


async def run_demo(
    config_for: Callable[[str, str], Config], speed: float, timeout_s: float
) -> DemoRun:
    """Start everything, open the position, wait until it is flat and clean; stop all."""
    api_key, api_secret = secrets.token_hex(32), secrets.token_hex(32)
    trace = PriceTrace()
    sim = _TracedSim(trace, api_key=api_key, api_secret=api_secret)
    await sim.start()
    try:
        config = config_for(sim.rest_url, sim.ws_url)
        environ = {KEY_VARIABLE: api_key, SECRET_VARIABLE: api_secret}
        flat, interrupted, metrics = await _session(sim, config, environ, speed, timeout_s)
    finally:
        await sim.stop()
    return DemoRun(
        config,
        SYMBOL,
        sim.account.ledger,
        metrics,
        trace.points(),
        flat,
        _held(sim).copy_abs(),
        interrupted,
    )


async def _session(
    sim: SimExchange, config: Config, environ: Mapping[str, str], speed: float, timeout_s: float
) -> tuple[bool, bool, OrderMetrics]:
    started, prices_done, daemon_ended = anyio.Event(), anyio.Event(), anyio.Event()
    daemons: list[Daemon] = []
    flat = False
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_daemon, config, environ, started, daemons, daemon_ended)
        with anyio.move_on_after(_STARTUP_S):
            await started.wait()
            await daemons[0].account.reconciled.wait()
        up = bool(daemons) and daemons[0].account.reconciled.is_set()
        if up:
            source, symbol = price_source(None, None, speed, sim)
            tasks.start_soon(_prices, sim, source, symbol, prices_done)
            with anyio.move_on_after(timeout_s):
                flat = await _until_flat(sim, prices_done, daemon_ended)
        tasks.cancel_scope.cancel()
    if not up:
        raise DaemonDidNotStart(f"the daemon did not start within {_STARTUP_S:g} s")
    return flat, daemon_ended.is_set() and not flat, daemons[0].gateway.metrics


async def _daemon(
    config: Config,
    environ: Mapping[str, str],
    started: anyio.Event,
    daemons: list[Daemon],
    ended: anyio.Event,
) -> None:
    """The daemon's tree; a SIGINT stops it, and with it the demo."""
    await run_daemon(config, environ, started=started, on_start=daemons)
    ended.set()


async def _prices(sim: SimExchange, source: PriceSource, symbol: str, done: anyio.Event) -> None:
    await open_demo_position(sim, source, symbol)
    done.set()


async def _until_flat(
    sim: SimExchange, prices_done: anyio.Event, daemon_ended: anyio.Event
) -> bool:
    """True once the position opened and closed and no exit order of ours rests; False
    when the daemon stopped, or the prices ended and the last of them brought no close."""
    while not _closed(sim):
        if daemon_ended.is_set():
            return False
        if prices_done.is_set():
            with anyio.move_on_after(_AFTER_PRICES_S):
                while not _closed(sim):
                    await anyio.sleep(_LOOK_EVERY_S)
            return _closed(sim)
        await anyio.sleep(_LOOK_EVERY_S)
    return True


def _closed(sim: SimExchange) -> bool:
    opened = bool(sim.account.ledger.positions.get(SYMBOL))
    return opened and _held(sim) == 0 and not _resting(sim)


def _held(sim: SimExchange) -> Decimal:
    return sim.account.position(SYMBOL).amount


def _resting(sim: SimExchange) -> bool:
    account = sim.account
    orders = [*account.open_orders(SYMBOL), *account.open_algo_orders(SYMBOL)]
    return any(is_own(o.client_order_id) for o in orders)
