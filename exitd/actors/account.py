"""The account actor: the user-data stream, reconciliation, and one symbol actor per position.

It reconciles at start, every `reconcile_s` and after every stream reset (a reconnect or a new
listen key: events may have been missed), reading positions and open regular and algo orders.
Every position, whoever opened it, gets a symbol actor; every order update and position change
goes to that symbol's actor, in the order the stream delivered them (the engine's outcome
does not depend on that order). It never writes to the exchange: symbol actors ask the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import anyio
import structlog

from exitd.actors.liveness import Liveness
from exitd.actors.messages import (
    ConditionalOrderGone,
    ConditionalOrdersOpen,
    ExchangeState,
    GatewayMessage,
    SymbolMessage,
)
from exitd.actors.reconcile_view import is_own
from exitd.actors.runtime import Mailbox, StreamEnded, Supervisor
from exitd.actors.symbol import SymbolActor, SymbolContext
from exitd.engine import SymbolFilters
from exitd.exchange.port import (
    Exchange,
    ExchangeUnavailable,
    MarkPrice,
    OrderUpdate,
    OrderView,
    PositionUpdate,
    PositionView,
    StreamReset,
)
from exitd.ops.metrics import Corrections

log = structlog.get_logger("exitd.account")

_CACHE_S = 1.0
_RETRY_S = 2.0


class Account:
    """Owns the account's view and the symbol actors' lifetimes (through the supervisor)."""

    def __init__(
        self,
        exchange: Exchange,
        supervisor: Supervisor,
        gateway: Mailbox[GatewayMessage],
        subscribe: Callable[[frozenset[str]], None],
        make_context: Callable[[Account], SymbolContext],
        *,
        reconcile_s: float = 30.0,
    ) -> None:
        self._exchange = exchange
        self._supervisor = supervisor
        self._gateway = gateway
        self._subscribe = subscribe
        self._reconcile_s = reconcile_s
        self.actors: dict[str, SymbolActor] = {}
        self.filters: Mapping[str, SymbolFilters] = {}
        self._positions: dict[str, PositionView] = {}
        self._orders: dict[str, tuple[OrderView, ...]] = {}
        self._read_at = float("-inf")  # when the last read started
        # Symbols the user stream has changed since the last read started: a read of their
        # orders made before that is stale (a closed position's orders still listed).
        self._changed: set[str] = set()
        # Symbols whose position the stream changed since the last read started: their
        # position as streamed is newer than the read's (a position opened while the read was
        # under way must not reach its new actor as flat).
        self._moved: set[str] = set()
        self.liveness = Liveness()
        self._reading = anyio.Lock()
        self.reconciled = anyio.Event()
        self.reconciliations = 0
        # Stream resets seen, the first connection included; what finished symbol actors
        # corrected (their own counts leave with them).
        self.user_stream_connections = 0
        self._retired_corrections = Corrections()
        self._context = make_context(self)

    @property
    def positions(self) -> Mapping[str, PositionView]:
        """The open positions as last read or streamed (a copy: readers cannot change it)."""
        return dict(self._positions)

    def filters_of(self, symbol: str) -> SymbolFilters | None:
        """The symbol's exchange filters as last read (read anew on every call)."""
        return self.filters.get(symbol)

    # --- the actor ----------------------------------------------------------------------------

    async def run(self, incarnation: int) -> None:
        await self._load_filters()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._periodic)
            async for event in self._exchange.user_events():
                if isinstance(event, StreamReset):
                    self.user_stream_connections += 1
                    log.info("account.stream_reset", reason=event.reason)
                    await self.reconcile()
                elif isinstance(event, OrderUpdate):
                    self._on_order(event)
                else:
                    self._on_position(event)
            # The stream reconnects by itself forever; its end is a fault: the supervisor
            # restarts this actor, which reconciles first.
            raise StreamEnded("the user-data stream ended")

    async def _periodic(self) -> None:
        while True:
            await anyio.sleep(self._reconcile_s)
            await self.reconcile()

    async def _load_filters(self) -> None:
        while True:
            try:
                with self.liveness.working():
                    self.filters = await self._exchange.symbol_filters()
                return
            except ExchangeUnavailable as exc:
                log.warning("account.filters_unavailable", error=str(exc))
                await anyio.sleep(_RETRY_S)

    # --- reconciliation -----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Read the account and hand each symbol actor the exchange's view of its symbol."""
        if not await self._read(max_age_s=0):
            return
        self._gateway.post(
            ConditionalOrdersOpen(
                frozenset(
                    o.client_order_id
                    for orders in self._orders.values()
                    for o in orders
                    if o.conditional
                )
            )
        )
        now = _wall_ms()
        symbols = set(self._positions) | {
            s
            for s, orders in self._orders.items()
            if any(is_own(o.client_order_id) for o in orders)
        }
        live = set(self._live_actors())
        for symbol in symbols | live:
            if symbol not in live:
                self._ensure_actor(symbol)  # it reads the exchange's state as it starts
                continue
            self._post(
                symbol,
                ExchangeState(self._positions.get(symbol), self._orders.get(symbol, ()), None, now),
            )
        self.reconciliations += 1
        self.reconciled.set()
        log.info("account.reconciled", positions=len(self._positions), symbols=len(symbols))

    async def _read(self, max_age_s: float, symbol: str | None = None) -> bool:
        """Read the account, unless the last read started at most `max_age_s` ago and the
        stream has not changed `symbol` since."""
        async with self._reading:
            if symbol not in self._changed and time.monotonic() - self._read_at <= max_age_s:
                return True
            started, changed = time.monotonic(), self._changed
            self._changed, self._moved = set(), set()
            try:
                with self.liveness.working():
                    positions = await self._exchange.positions()
                    orders = await self._exchange.open_orders()
            except ExchangeUnavailable as exc:
                log.warning("account.reconcile_failed", error=str(exc))
                self._changed |= changed
                return False
            # A position the stream changed while the read was on its way keeps the stream's
            # word, which is newer: a take-profit's fill must not be undone by a position read
            # just before it, nor a position opened meanwhile reach its new actor as flat.
            read = {p.symbol: p for p in positions if p.amount != 0}
            for streamed in self._moved:
                read.pop(streamed, None)
                if streamed in self._positions:
                    read[streamed] = self._positions[streamed]
            self._positions = read
            by_symbol: dict[str, list[OrderView]] = {}
            for order in orders:
                by_symbol.setdefault(order.symbol, []).append(order)
            self._orders = {s: tuple(o) for s, o in by_symbol.items()}
            self._read_at = started
            return True

    async def state_of(self, symbol: str, fresh: bool = False) -> ExchangeState:
        """The exchange's view of one symbol for a starting symbol actor: one account read
        serves every actor that starts within a second (200 positions, one request), unless
        `fresh` (an actor restarted after a crash) asks for a read made now, or the stream has
        changed the symbol since (a position opened just after another closed)."""
        while not await self._read(0 if fresh else _CACHE_S, symbol):
            await anyio.sleep(_RETRY_S)
        mark: Decimal | None = None
        time_ms = _wall_ms()
        try:
            price = await self._exchange.mark_price(symbol)
            mark, time_ms = price.price, price.time_ms
        except ExchangeUnavailable as exc:
            log.warning("account.mark_unavailable", symbol=symbol, error=str(exc))
        return ExchangeState(
            self._positions.get(symbol), self._orders.get(symbol, ()), mark, time_ms
        )

    @property
    def open_positions(self) -> int:
        return len(self._positions)

    def unprotected(self) -> list[str]:
        """Open positions whose symbol actor has no stop resting yet: READY=1 waits for none."""
        return sorted(
            s for s in self._positions if not ((actor := self.actors.get(s)) and actor.protected)
        )

    # --- the stream ---------------------------------------------------------------------------

    def _on_order(self, update: OrderUpdate) -> None:
        order = update.order
        self._changed.add(order.symbol)
        if order.conditional and not order.state.open:
            self._gateway.post(ConditionalOrderGone(order.client_order_id))
        if order.symbol in self._live_actors():
            self._post(order.symbol, update)
        elif is_own(order.client_order_id) and order.state.open:
            self._ensure_actor(order.symbol)

    def _on_position(self, update: PositionUpdate) -> None:
        position = update.position
        self._changed.add(position.symbol)
        self._moved.add(position.symbol)
        if position.amount == 0:
            self._positions.pop(position.symbol, None)
        else:
            self._positions[position.symbol] = position
        if position.symbol in self._live_actors():
            self._post(position.symbol, position)
        elif position.amount != 0:
            log.info(
                "account.position_appeared", symbol=position.symbol, amount=str(position.amount)
            )
            self._ensure_actor(position.symbol)

    # --- symbol actors ------------------------------------------------------------------------

    def _live_actors(self) -> Sequence[str]:
        finished = [s for s in self.actors if f"symbol:{s}" not in self._supervisor]
        for symbol in finished:
            self._retired_corrections += self.actors[symbol].corrections
            del self.actors[symbol]  # flat and clean
        if finished:
            self._subscribe(frozenset(self.actors))
        return tuple(self.actors)

    def _ensure_actor(self, symbol: str) -> None:
        if symbol in self._live_actors():
            return
        actor = SymbolActor(symbol, self._context)
        self.actors[symbol] = actor
        self._supervisor.start(f"symbol:{symbol}", actor.run)
        self._subscribe(frozenset(self.actors))

    def _post(self, symbol: str, message: SymbolMessage) -> None:
        actor = self.actors.get(symbol)
        if actor is not None and not actor.mailbox.post(message):
            log.error("account.mailbox_full", symbol=symbol, message=type(message).__name__)

    def corrections(self) -> Corrections:
        """Everything reconciliation corrected since the daemon started, on every symbol."""
        total = self._retired_corrections
        for actor in self.actors.values():
            total += actor.corrections
        return total

    def route_price(self, price: MarkPrice) -> None:
        actor = self.actors.get(price.symbol)
        if actor is not None and not actor.deliver_price(price):
            log.warning("price_feed.tick_dropped", symbol=price.symbol)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
