"""What every symbol actor shares: read-only settings and the ways out of the actor.

The daemon builds one and hands it to each `SymbolActor`; a test builds its own with a
simulated clock and waits.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

import anyio

from exitd.actors.messages import ExchangeState, GatewayMessage, Submit
from exitd.actors.runtime import Mailbox, Pulse
from exitd.actors.snapshots import SnapshotStore
from exitd.engine import SymbolFilters
from exitd.engine.router import RouteSource
from exitd.exchange.port import QueryOutcome
from exitd.ownership import Mode


@dataclass(frozen=True, slots=True)
class SymbolContext:
    """What every symbol actor shares: read-only settings and the ways out."""

    router: RouteSource
    filters: Callable[[str], SymbolFilters | None]
    gateway: Mailbox[GatewayMessage]
    # Writes go in through `Gateway.submit`, in the actor's own step: one hop fewer
    # between a tick and its amended stop's request than through the mailbox.
    submit: Callable[[Submit], object]
    snapshots: SnapshotStore
    # (symbol, fresh): fresh reads the exchange now; otherwise a read of the last second
    # serves (one read for every actor a reconciliation starts).
    fetch_state: Callable[[str, bool], Awaitable[ExchangeState]]
    query_order: Callable[[str, str, bool], Awaitable[QueryOutcome]]
    mode: Callable[[], Mode]
    new_position_grace_s: float
    emergency_sl_pct: Decimal
    activity: Pulse
    wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000
    # The actor's own waits and monotonic clock: a test drives them with its simulated time.
    move_on_after: Callable[[float], anyio.CancelScope] = anyio.move_on_after
    monotonic: Callable[[], float] = time.monotonic
