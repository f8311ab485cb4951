"""The exchange port: what the daemon needs of an exchange, and nothing Binance-specific.

The Binance adapter implements it (the tests point that adapter at `exitd sim`); an in-memory
fake implements it for the actor state machine. Every answer to a write is one of three
outcomes, chosen once at the edge: `Accepted`, `Rejected` (the exchange proved it did not
take the order, with a `RejectKind` the daemon can act on) or `Unknown` (it may have: look it
up by client id before sending anything again). Nothing above this port sees an exchange's
error code; `Rejected.code` is there for the log only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Protocol, TypeAlias

from exitd.engine.model import OrderSide, SymbolFilters

# Order types the port carries: the engine's four, and what legacy modules already send.
CONDITIONAL_TYPES = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
ORDER_TYPES = CONDITIONAL_TYPES | {"LIMIT", "MARKET"}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order as it goes to the exchange. Conditional types go to the algo endpoints."""

    symbol: str
    client_order_id: str
    side: OrderSide
    type: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    time_in_force: str | None = None
    working_type: str = "MARK_PRICE"
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None

    @property
    def conditional(self) -> bool:
        return self.type in CONDITIONAL_TYPES


class OrderState(Enum):
    """Where an order stands, in the exchange's words (regular and algo statuses merged)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    # Algo orders only: the trigger fired; a child order now works (or is being placed).
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"

    @property
    def open(self) -> bool:
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED, OrderState.TRIGGERING)


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the exchange reports it (REST or stream)."""

    symbol: str
    client_order_id: str
    exchange_id: str
    side: OrderSide
    type: str
    state: OrderState
    conditional: bool
    quantity: Decimal | None
    filled_qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    close_position: bool
    update_ms: int


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position as the exchange reports it: signed amount (`positionAmt`), entry price."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    update_ms: int


@dataclass(frozen=True, slots=True)
class RateUsage:
    """The exchange's own count of what this client used (Binance's X-MBX-* headers)."""

    weight_1m: int | None = None
    orders_10s: int | None = None
    orders_1m: int | None = None


class ExchangeUnavailable(Exception):
    """A read (open orders, positions, filters, a price) got no usable answer; try later."""


# --- outcomes of a write --------------------------------------------------------------------


class RejectKind(Enum):
    """Why the exchange refused a write, in terms the daemon acts on."""

    WOULD_TRIGGER = "would_trigger"  # the price is already through the stop
    REDUCE_ONLY = "reduce_only"  # would increase the position, or nothing left to reduce
    DUPLICATE_ID = "duplicate_id"  # the client id is open already: look it up, adopt it
    CLOSE_POSITION_EXISTS = "close_position_exists"  # a close-position stop already rests
    NO_POSITION = "no_position"  # a close-position stop needs an open position
    NOT_FOUND = "not_found"  # cancel or query of an order the exchange does not know
    RATE_LIMITED = "rate_limited"  # 429: back off, nothing happened
    BANNED = "banned"  # 418: the IP is banned until `retry_after_s`
    TOO_MANY_ORDERS = "too_many_orders"  # the account's open (conditional) order cap
    NOTIONAL = "notional"  # below the minimum notional
    BAD_SYMBOL = "bad_symbol"
    CLOCK = "clock"  # timestamp outside recvWindow: resync, then resend the same id
    OTHER = "other"

    @property
    def retriable(self) -> bool:
        """Whether the same write, later, can succeed (SPEC-exits.md "refusals")."""
        return self not in (RejectKind.REDUCE_ONLY, RejectKind.NOTIONAL, RejectKind.BAD_SYMBOL)


@dataclass(frozen=True, slots=True)
class Accepted:
    order: OrderView
    usage: RateUsage | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    kind: RejectKind
    reason: str
    code: int | None = None
    retry_after_s: float | None = None
    usage: RateUsage | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """Timed out, 5xx, or an answer that does not prove refusal: the order may exist."""

    reason: str
    usage: RateUsage | None = None


WriteOutcome: TypeAlias = Accepted | Rejected | Unknown


@dataclass(frozen=True, slots=True)
class NotFound:
    """A query by client id found no such order (it may yet appear: visibility lag)."""


QueryOutcome: TypeAlias = OrderView | NotFound | Rejected | Unknown


# --- stream events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkPrice:
    symbol: str
    price: Decimal
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order's new state from the user stream; `last_fill_qty` > 0 when this is a fill."""

    order: OrderView
    last_fill_qty: Decimal
    last_fill_price: Decimal
    trade_id: int | None
    time_ms: int
    reject_reason: str = ""


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    position: PositionView
    time_ms: int


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The stream was (re)connected and events may have been missed: reconcile over REST."""

    reason: str


@dataclass(frozen=True, slots=True)
class StreamStale:
    """No data for longer than the stale bound on a stream that should be talking."""

    symbols: tuple[str, ...]
    silent_ms: int


UserEvent: TypeAlias = OrderUpdate | PositionUpdate | StreamReset
MarketEvent: TypeAlias = MarkPrice | StreamReset | StreamStale


class MarketStream(Protocol):
    """Mark prices of a changing set of symbols over one connection, reconnecting by itself."""

    async def subscribe(self, symbols: Sequence[str]) -> None: ...
    async def unsubscribe(self, symbols: Sequence[str]) -> None: ...
    async def run(self, deliver: Callable[[MarketEvent], None]) -> None:
        """Call `deliver` with every event, synchronously as each arrives (a `StreamReset`
        first and after every reconnect); return when the exchange is closed, raise what
        `deliver` raised."""
        ...


class Exchange(Protocol):
    """The daemon's view of an exchange account (DESIGN.md, "Exchange port")."""

    def place(self, order: OrderRequest) -> Awaitable[WriteOutcome]:
        """Send one order. The adapter starts sending in the call where it can (its bytes may
        have left before this returns); the caller awaits the outcome. An `async def`
        implementation (the test fakes) fits as well."""
        ...

    def cancel(
        self, symbol: str, client_order_id: str, conditional: bool
    ) -> Awaitable[WriteOutcome]:
        """Cancel one order by client id; starts sending in the call, like `place`."""
        ...

    async def query(self, symbol: str, client_order_id: str, conditional: bool) -> QueryOutcome: ...
    async def open_orders(self) -> Sequence[OrderView]:
        """Regular and conditional (algo) open orders of the whole account."""
        ...

    async def positions(self) -> Sequence[PositionView]:
        """Every non-zero position of the account."""
        ...

    async def symbol_filters(self) -> Mapping[str, SymbolFilters]: ...
    async def mark_price(self, symbol: str) -> MarkPrice: ...
    def market_stream(self) -> MarketStream: ...
    def user_events(self) -> AsyncIterator[UserEvent]:
        """The account's events; starts with a `StreamReset` and yields one after every
        reconnect or listen-key renewal, so the caller reconciles before trusting it."""
        ...

    async def aclose(self) -> None: ...
