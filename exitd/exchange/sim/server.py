"""The simulator's server: one account behind Binance's REST and websocket protocol.

`SimExchange` owns the account, the rate limiter, the API key and secret, the stream hub and
the fault state, and the single clock (Unix ms) every timestamp comes from. It serves on
127.0.0.1 only. Every price goes through `push_price` (matching, then the market streams,
then the user-data events), and every REST write publishes what it caused before it
answers, so a client's websocket view never lags behind what REST already told it. It never
reaches the internet and never trusts a request it has not authenticated (admin routes
excepted: those refuse any peer that is not loopback).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from aiohttp import web

from exitd.exchange.sim import errors, routes_account, routes_algo, routes_market, routes_trade
from exitd.exchange.sim.account import AccountEvent, SimAccount
from exitd.exchange.sim.admin import admin_routes
from exitd.exchange.sim.endpoints import serve
from exitd.exchange.sim.faults import Faults, faults_middleware
from exitd.exchange.sim.guard import GuardedRunner, guard_middleware
from exitd.exchange.sim.limits import RateLimiter, RateLimits
from exitd.exchange.sim.mark_cadence import MarkCadence
from exitd.exchange.sim.numbers import BODY_TIMEOUT_S, MAX_BODY_BYTES
from exitd.exchange.sim.payloads_account import AccountView, PositionView
from exitd.exchange.sim.symbols import SYMBOLS, SymbolSpec, add_synthetic_symbols

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT")
DEFAULT_LEVERAGE = 20
HOST = "127.0.0.1"


class ListenKeysPort(Protocol):
    def create(self, api_key: str) -> str: ...
    def keepalive(self, key: str) -> None: ...
    def delete(self, key: str) -> None: ...


class HubPort(Protocol):
    """What the server needs of streams.StreamHub (tests may pass a stand-in)."""

    @property
    def listen_keys(self) -> ListenKeysPort: ...
    def routes(self) -> list[web.RouteDef]: ...
    def publish_price(self, symbol: str, price: Decimal, time_ms: int) -> None: ...
    def publish_trade(self, symbol: str, price: Decimal, time_ms: int) -> None: ...
    def publish_marks(
        self, marks: Mapping[str, Decimal], time_ms: int, cadences: Collection[MarkCadence]
    ) -> None: ...
    def publish_account(
        self, events: Sequence[AccountEvent], account: SimAccount, time_ms: int
    ) -> None: ...
    async def drop_all(self) -> None: ...
    def refuse_connections_until(self, time_ms: int) -> None: ...
    def expire_listen_keys(self) -> None: ...
    async def close(self) -> None: ...


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _real_hub(clock: Callable[[], int], symbols: Sequence[str]) -> HubPort:
    from exitd.exchange.sim.streams import StreamHub  # noqa: PLC0415 - keeps tests' stand-ins cheap

    return StreamHub(clock, symbols)


class SimExchange:
    """A local Binance USD-M futures exchange with one account and one API key."""

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        symbols: Sequence[str] = DEFAULT_SYMBOLS,
        port: int = 0,
        clock: Callable[[], int] = wall_clock_ms,
        limits: RateLimits | None = None,
        hub: HubPort | None = None,
        wallet_balance: Decimal = Decimal(10_000),
        fault_seed: int = 0,
        synthetic_symbols: int = 0,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        unknown = [s for s in symbols if s not in SYMBOLS]
        if unknown or not symbols:
            raise ValueError(f"symbols not listed by the simulator: {unknown or 'none given'}")
        if synthetic_symbols < 0:
            raise ValueError(f"synthetic_symbols must be 0 or more, got {synthetic_symbols}")
        synthetic = add_synthetic_symbols(synthetic_symbols)
        self.clock = clock
        self.symbols = tuple(dict.fromkeys([*symbols, *synthetic]))
        self.api_key = api_key
        self.secrets = {api_key: api_secret}
        self.port = port
        self._limits = limits
        self._wallet_balance = wallet_balance
        self._body_timeout_s = body_timeout_s
        self.hub: HubPort = hub if hub is not None else _real_hub(clock, self.symbols)
        self.faults = Faults(seed=fault_seed)
        self._runner: web.AppRunner | None = None
        self._tls = False
        self.account = SimAccount(self.symbols, wallet_balance=wallet_balance)
        self.limiter = RateLimiter(limits)
        self.leverage: dict[str, int] = dict.fromkeys(self.symbols, DEFAULT_LEVERAGE)
        self.isolated: dict[str, bool] = {}
        self.listen_key_of: dict[str, str] = {}
        self.updated_ms: dict[str, int] = {}
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[guard_middleware(self._body_timeout_s), faults_middleware(self)],
            client_max_size=MAX_BODY_BYTES,
        )
        for group in (routes_market, routes_trade, routes_algo, routes_account):
            for endpoint in group.ENDPOINTS:
                app.router.add_route(endpoint.method, endpoint.path, serve(self, endpoint))
        app.router.add_routes(admin_routes(self))
        app.router.add_routes(self.hub.routes())
        return app

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Listen on 127.0.0.1:`port` (0: a free port, then `port` is the one bound); with
        `ssl_context`, over TLS (https and wss: the adapter's TLS path under test)."""
        self._runner = GuardedRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._tls = ssl_context is not None
        site = web.TCPSite(self._runner, HOST, self.port, ssl_context=ssl_context)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def rest_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self._tls else 'ws'}://{HOST}:{self.port}"

    def reset(self) -> None:
        """POST /sim/reset: a fresh account, limits and faults; listen keys and sockets stay."""
        self.account = SimAccount(self.symbols, wallet_balance=self._wallet_balance)
        self.limiter = RateLimiter(self._limits)
        self.faults.clear()
        self.leverage = dict.fromkeys(self.symbols, DEFAULT_LEVERAGE)
        self.isolated.clear()
        self.updated_ms.clear()

    # --- prices and events ----------------------------------------------------------------------

    def push_price(self, symbol: str, price: Decimal, time_ms: int) -> list[AccountEvent]:
        """A trade at `price` that is also the mark, every stream at once (POST /sim/price):
        matching, market streams, then user data."""
        self.check(symbol)
        events = self.account.set_price(symbol, price, time_ms)
        self.hub.publish_price(symbol, price, time_ms)
        self.publish(events, time_ms)
        return events

    def push_trade(self, symbol: str, price: Decimal, time_ms: int) -> list[AccountEvent]:
        """A trade only; the mark follows on its own schedule (`push_mark`). The first trade
        of a symbol without a mark sets the mark too, so orders have a price to check."""
        self.check(symbol)
        mark = price if self.mark_price(symbol) is None else None
        events = self.account.move_price(symbol, time_ms, trade=price, mark=mark)
        self.hub.publish_trade(symbol, price, time_ms)
        self.publish(events, time_ms)
        return events

    def push_mark(
        self,
        symbol: str,
        mark: Decimal,
        time_ms: int,
        cadences: Collection[MarkCadence] = tuple(MarkCadence),
    ) -> list[AccountEvent]:
        """A mark only, to the mark streams of `cadences` (MARK_PRICE orders may trigger)."""
        return self.push_marks({symbol: mark}, time_ms, cadences)

    def push_marks(
        self,
        marks: Mapping[str, Decimal],
        time_ms: int,
        cadences: Collection[MarkCadence] = tuple(MarkCadence),
    ) -> list[AccountEvent]:
        """Many symbols' marks at one instant: matching per symbol, then the mark streams
        (each `!markPrice@arr` once, as Binance sends one array per interval), then user
        data."""
        for symbol in marks:
            self.check(symbol)
        events = [
            event
            for symbol, mark in marks.items()
            for event in self.account.move_price(symbol, time_ms, mark=mark)
        ]
        self.hub.publish_marks(marks, time_ms, cadences)
        self.publish(events, time_ms)
        return events

    def publish(self, events: Sequence[AccountEvent], time_ms: int) -> None:
        """What a write caused, to the user-data stream; remembers positions' update times."""
        for event in events:
            symbol = getattr(event, "symbol", "")
            if symbol:
                self.updated_ms[symbol] = time_ms
        if events:
            self.hub.publish_account(events, self.account, time_ms)

    # --- lookups the routes share ---------------------------------------------------------------

    def check(self, symbol: str) -> str:
        """`symbol` if this exchange lists it, else Binance's -1121."""
        if symbol not in self.account.markets:
            raise errors.INVALID_SYMBOL.error()
        return symbol

    def spec(self, symbol: str) -> SymbolSpec:
        return SYMBOLS[self.check(symbol)]

    def mark_price(self, symbol: str) -> Decimal | None:
        market = self.account.markets.get(symbol)
        return None if market is None else market.mark_price

    def last_price(self, symbol: str) -> Decimal | None:
        market = self.account.markets.get(symbol)
        return None if market is None else market.trade_price

    def account_view(self, now_ms: int) -> AccountView:
        positions = tuple(
            PositionView(
                spec=SYMBOLS[s],
                position=self.account.position(s),
                leverage=self.leverage[s],
                isolated=self.isolated.get(s, False),
                has_open_orders=bool(
                    self.account.open_orders(s) or self.account.open_algo_orders(s)
                ),
                update_time=self.updated_ms.get(s, 0),
            )
            for s in self.symbols
        )
        return AccountView(self.account.wallet_balance, positions, now_ms)
