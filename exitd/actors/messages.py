"""The messages actors send each other: small frozen values, never shared mutable state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TypeAlias

from exitd.exchange.port import (
    MarkPrice,
    OrderRequest,
    OrderUpdate,
    OrderView,
    PositionView,
    WriteOutcome,
)
from exitd.ops.metrics import OrderKind

# --- to the gateway ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceWrite:
    """Place `order` for `module`; `leg` names what it is for ("HARD_SL", "TP1", …), so a
    newer amendment of the same leg can supersede one still queued."""

    module: str
    order: OrderRequest
    kind: OrderKind
    leg: str
    protective: bool

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id


@dataclass(frozen=True, slots=True)
class CancelWrite:
    module: str
    symbol: str
    client_order_id: str
    conditional: bool
    kind: OrderKind
    leg: str
    protective: bool = False


Write: TypeAlias = PlaceWrite | CancelWrite


class NotSentReason(Enum):
    SHADOW = "shadow"  # the exit brain in mode LEGACY: logged as what it would do
    REFUSED = "refused"  # ownership (hard guard, unknown module) or validation
    SUPERSEDED = "superseded"  # a newer write for the same leg replaced it in the queue


@dataclass(frozen=True, slots=True)
class NotSent:
    reason: NotSentReason
    message: str


@dataclass(frozen=True, slots=True)
class WriteAnswer:
    """What became of a write: the exchange's outcome, or why the gateway did not send it."""

    write: Write
    outcome: WriteOutcome | NotSent


Reply: TypeAlias = Callable[[WriteAnswer], object]


@dataclass(frozen=True, slots=True)
class Submit:
    write: Write
    reply: Reply
    # Monotonic time the mark price that caused this write was handed to its symbol actor,
    # for the tick-to-request latency; None for a write no tick caused.
    tick_at: float | None = None


@dataclass(frozen=True, slots=True)
class InflightQuery:
    """Which of the symbol's writes have no outcome yet (a restarted symbol actor must not
    place them again, RELIABILITY.md §0 finding 8)."""

    symbol: str
    reply: Callable[[tuple[OrderRequest, ...]], object]


@dataclass(frozen=True, slots=True)
class ConditionalOrdersOpen:
    """From reconciliation: every open conditional order of the account, by client id."""

    client_order_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class ConditionalOrderGone:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ForeignExitSeen:
    """Reconciliation found an exit order the exit brain did not place on a symbol it owns:
    an ownership conflict, counted under `module` ("foreign" when no module's id)."""

    module: str
    symbol: str
    client_order_id: str


GatewayMessage: TypeAlias = (
    Submit | InflightQuery | ConditionalOrdersOpen | ConditionalOrderGone | ForeignExitSeen
)


# --- to a symbol actor -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeState:
    """The exchange's view of one symbol, from reconciliation: position and open orders."""

    position: PositionView | None
    orders: tuple[OrderView, ...]
    mark_price: Decimal | None
    time_ms: int


@dataclass(frozen=True, slots=True)
class Pause:
    paused: bool


@dataclass(frozen=True, slots=True)
class PlanOverride:
    """`set-plan`: profile fields to replace, as the config names them (e.g. trail.callback_pct)."""

    overrides: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Woken:
    """A tick decided in the price feed's step (`SymbolActor.deliver_price`) left the actor
    work for its own: a snapshot due, a new deadline to wait for, or the error it raised,
    which the actor raises in turn so its supervisor restarts it."""

    error: Exception | None = None


SymbolMessage: TypeAlias = (
    MarkPrice
    | OrderUpdate
    | ExchangeState
    | WriteAnswer
    | Pause
    | PlanOverride
    | PositionView
    | Woken
)
