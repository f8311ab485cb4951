"""The price feed: one market-stream connection for every adopted symbol's mark price.

It follows the set of symbols the account actor has actors for (subscribe and unsubscribe as
positions come and go; only the newest wish counts, so a burst of them, one per actor started
at reconciliation, loses none) and hands each mark price to its symbol actor without waiting:
a slow symbol loses a tick (marks are samples anyway), it never holds up another symbol's. A
symbol whose prices go stale is reported; its stops stay on the exchange.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import structlog

from exitd.actors.liveness import Liveness
from exitd.actors.runtime import StreamEnded
from exitd.exchange.port import MarketEvent, MarketStream, MarkPrice, StreamReset, StreamStale

log = structlog.get_logger("exitd.price_feed")


class PriceFeed:
    def __init__(self, stream: MarketStream, route: Callable[[MarkPrice], None]) -> None:
        self._stream = stream
        self._route = route
        self.liveness = Liveness()
        self._wanted: frozenset[str] = frozenset()
        self._wish = anyio.Event()
        self._subscribed: frozenset[str] = frozenset()
        self.ticks = 0
        self.connections = 0  # stream resets seen, the first connection included

    def want(self, symbols: frozenset[str]) -> None:
        """The symbols to follow from now on: it replaces any wish not yet followed."""
        self._wanted = symbols
        self._wish.set()

    async def run(self, incarnation: int) -> None:
        if incarnation:  # after a crash: everything wanted, whatever the last life managed
            self._subscribed = frozenset()
            await self._follow(self._wanted)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._follow_wishes)
            await self._stream.run(self._on_event)
            # The stream reconnects by itself forever; its end is a fault the supervisor
            # answers with a restart (which subscribes everything again).
            raise StreamEnded("the market stream ended")

    def _on_event(self, event: MarketEvent) -> None:
        """Called by the stream as each event arrives: it must not block."""
        if isinstance(event, MarkPrice):
            self.ticks += 1
            self._route(event)
        elif isinstance(event, StreamStale):
            log.warning("price_feed.stale", symbols=list(event.symbols), silent_ms=event.silent_ms)
        else:
            assert isinstance(event, StreamReset)
            self.connections += 1
            log.info("price_feed.reconnected", reason=event.reason)

    async def _follow_wishes(self) -> None:
        while True:
            await self._wish.wait()
            self._wish = anyio.Event()
            await self._follow(self._wanted)

    async def _follow(self, wanted: frozenset[str]) -> None:
        added = sorted(wanted - self._subscribed)
        removed = sorted(self._subscribed - wanted)
        with self.liveness.working():
            if added:
                await self._stream.subscribe(added)
            if removed:
                await self._stream.unsubscribe(removed)
        self._subscribed = wanted
