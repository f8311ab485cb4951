"""`exitd run`: the whole actor tree, from config to a clean exit.

The supervisor starts the gateway, the price feed and the account actor (which starts one
symbol actor per position). SIGINT and SIGTERM stop the tree and leave every stop on the
exchange: exitd never cancels its protection on the way out, and never arms the exchange's
dead-man cancel-all (RELIABILITY.md I12). SIGHUP reloads the config and the control socket
steers the tree (exitd/control). A crash loop escalates to a non-zero exit, for
systemd to restart the daemon.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path

import anyio
import structlog

from exitd.actors.account import Account
from exitd.actors.gateway import Gateway, OwnershipRules
from exitd.actors.price_feed import PriceFeed
from exitd.actors.routes import LiveRoutes
from exitd.actors.runtime import CrashLoop, Pulse, Supervisor
from exitd.actors.snapshots import open_store
from exitd.actors.symbol import SymbolContext
from exitd.control.desk import Desk
from exitd.control.reload import reload_on_hangup
from exitd.control.server import ControlServer
from exitd.engine import Side
from exitd.exchange.binance import BinanceExchange, endpoints
from exitd.exchange.port import Exchange
from exitd.exchange.sim.prices import (
    MARK_INTERVAL_S,
    FileReplay,
    PriceSource,
    RandomWalk,
    infer_symbol,
)
from exitd.exchange.sim.server import SimExchange
from exitd.ops import service_health
from exitd.ops.config import BUNDLED_PRICES, BUNDLED_SYMBOL, Config, router
from exitd.ops.metrics_http import MetricsServer
from exitd.ops.prometheus import registry_for

log = structlog.get_logger("exitd.daemon")

DEMO_QTY = Decimal("0.5")


@dataclass
class Daemon:
    """The running tree; tests hold it to look inside and to stop it."""

    config: Config
    exchange: Exchange
    gateway: Gateway
    account: Account
    price_feed: PriceFeed
    supervisor: Supervisor
    stopped: anyio.Event
    activity: Pulse
    metrics: MetricsServer | None = None
    control: ControlServer | None = None


async def run_daemon(
    config: Config,
    environ: Mapping[str, str],
    *,
    started: anyio.Event | None = None,
    on_start: list[Daemon] | None = None,
) -> int:
    """Run until SIGINT/SIGTERM (0) or a crash loop (1)."""
    try:
        async with _exchange(config, environ) as exchange:
            return await _run_tree(config, exchange, started, on_start, environ)
    except CrashLoop as exc:
        log.critical("daemon.crash_loop", error=str(exc))
        return 1


async def _run_tree(
    config: Config,
    exchange: Exchange,
    started: anyio.Event | None,
    on_start: list[Daemon] | None,
    environ: Mapping[str, str],
) -> int:
    exits = config.exits
    ownership = OwnershipRules(exits.mode, exits.guard, exits.legacy_modules)
    activity = Pulse()
    gateway = Gateway(
        exchange, ownership, recv_window_ms=config.exchange.recv_window_ms, activity=activity
    )
    exit_router = LiveRoutes(router(config))
    stopped = anyio.Event()
    async with open_store(config.daemon.state_dir) as snapshots, anyio.create_task_group() as tasks:
        supervisor = Supervisor(tasks)

        def context(account: Account) -> SymbolContext:
            return SymbolContext(
                router=exit_router,
                filters=account.filters_of,
                gateway=gateway.mailbox,
                submit=gateway.submit,
                snapshots=snapshots,
                fetch_state=account.state_of,
                query_order=exchange.query,
                mode=lambda: gateway.mode,
                new_position_grace_s=config.safety.new_position_grace_s,
                emergency_sl_pct=config.safety.emergency_sl_pct,
                activity=activity,
            )

        # `account` is bound below: the feed and the account each need the other's door.
        feed = PriceFeed(exchange.market_stream(), lambda price: account.route_price(price))  # noqa: PLW0108
        account = Account(exchange, supervisor, gateway.mailbox, feed.want, context)
        daemon = Daemon(config, exchange, gateway, account, feed, supervisor, stopped, activity)
        if on_start is not None:
            on_start.append(daemon)
        supervisor.start("gateway", gateway.run)
        supervisor.start("price_feed", feed.run)
        supervisor.start("account", account.run)
        if config.metrics.host is not None:
            daemon.metrics = MetricsServer(
                config.metrics.host, config.metrics.port, registry_for(daemon)
            )
            supervisor.start("metrics", daemon.metrics.run)
        desk = Desk(daemon, exit_router, environ, Path(config.source))
        daemon.control = ControlServer(desk)
        supervisor.start("control", daemon.control.run)
        tasks.start_soon(reload_on_hangup, desk)
        log.info(
            "daemon.started",
            mode=exits.mode.value,
            guard=exits.guard.value,
            exchange=config.exchange.kind.value,
        )
        if started is not None:
            started.set()
        tasks.start_soon(service_health.report_to_systemd, daemon, environ)
        tasks.start_soon(_until_signal, tasks.cancel_scope, stopped)
    log.info("daemon.stopped", orders=gateway.metrics.total_orders, note="stops left resting")
    return 0


async def _until_signal(scope: anyio.CancelScope, stopped: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("daemon.stopping", signal=signal.Signals(signum).name)
            break
    stopped.set()
    scope.cancel()


@asynccontextmanager
async def _exchange(config: Config, environ: Mapping[str, str]) -> AsyncIterator[Exchange]:
    settings = config.exchange
    if settings.sim is not None:
        async with _embedded_sim(config) as exchange:
            yield exchange
        return
    rest_url, ws_url = endpoints(settings.kind, settings.rest_url, settings.ws_url)
    if settings.api_key is None or settings.api_secret is None:
        raise ValueError("exchange.api_key and exchange.api_secret must name where the keys are")
    exchange = BinanceExchange(
        rest_url,
        ws_url,
        settings.api_key.read(environ),
        settings.api_secret.read(environ),
        recv_window_ms=settings.recv_window_ms,
    )
    try:
        yield exchange
    finally:
        await exchange.aclose()


@asynccontextmanager
async def _embedded_sim(config: Config) -> AsyncIterator[Exchange]:
    """The simulator in-process on loopback, its prices running, and a demo position opened
    as an entry bot would, so a new user sees adoption, the stops and the exits at once."""
    settings = config.exchange.sim
    assert settings is not None
    api_key, api_secret = secrets.token_hex(32), secrets.token_hex(32)
    sim = SimExchange(api_key=api_key, api_secret=api_secret, symbols=settings.symbols)
    await sim.start()
    log.info("sim.started", rest_url=sim.rest_url, ws_url=sim.ws_url)
    source, symbol = price_source(settings.prices, settings.walk_seed, settings.speed, sim)
    exchange = BinanceExchange(sim.rest_url, sim.ws_url, api_key, api_secret)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(open_demo_position, sim, source, symbol)
            try:
                yield exchange
            finally:
                tasks.cancel_scope.cancel()
    finally:
        await exchange.aclose()
        await sim.stop()


def price_source(
    prices: Path | None, walk_seed: int | None, speed: float, sim: SimExchange
) -> tuple[PriceSource, str]:
    if walk_seed is not None:
        return RandomWalk(walk_seed), sim.symbols[0]
    # A file's marks keep the file's time, one a file second, at any speed: stops ratchet as
    # often per market minute at 50x as at 1x.
    marks_s = MARK_INTERVAL_S / speed if speed > 0 else MARK_INTERVAL_S
    if prices is None:
        path = str(resources.files("exitd") / "data" / BUNDLED_PRICES)
        return FileReplay(path, BUNDLED_SYMBOL, speed, mark_interval_s=marks_s), BUNDLED_SYMBOL
    symbol = infer_symbol(str(prices), list(sim.symbols))
    return FileReplay(str(prices), symbol, speed, mark_interval_s=marks_s), symbol


async def open_demo_position(sim: SimExchange, source: PriceSource, symbol: str) -> None:
    """Open the demo position on the first price, then let the prices run."""
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(source.run, sim)
        with anyio.fail_after(30):
            while sim.mark_price(symbol) is None:
                await anyio.sleep(0.05)
        price = sim.mark_price(symbol)
        assert price is not None
        now = sim.clock()
        events = sim.account.open_position(symbol, Side.LONG, DEMO_QTY, price, now)
        sim.publish(events, now)
        log.info(
            "sim.demo_position", symbol=symbol, side="LONG", qty=str(DEMO_QTY), price=str(price)
        )
