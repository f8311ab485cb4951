"""Domain values of the exit engine: sides, legs, filters, order intents, events, requests.

Everything here is a small immutable value. Money and quantities are `Decimal`, never float.
This module must never import anything outside the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TypeAlias


class Side(Enum):
    """Direction of a position; the value is the sign `s` of SPEC-exits.md."""

    LONG = 1
    SHORT = -1

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1  # `self.value`, without Enum's slow descriptor

    @property
    def closing_side(self) -> OrderSide:
        return OrderSide.SELL if self is Side.LONG else OrderSide.BUY

    @classmethod
    def of_amount(cls, amount: Decimal) -> Side:
        """Side of a signed position amount (Binance `positionAmt`); zero has no side."""
        if amount == 0:
            raise ValueError("a flat position has no side")
        return cls.LONG if amount > 0 else cls.SHORT


class OrderSide(Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(Enum):
    """The exchange order types exitd sends; values are Binance's names."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP_MARKET = "STOP_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def conditional(self) -> bool:
        """Conditional orders live on Binance's algo-order endpoints (binance-usdm.md §5)."""
        return self in (OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET)


class Leg(Enum):
    """The legs of an exit plan (SPEC-exits.md). `TRAILING_STOP` is the exchange-native trail."""

    HARD_SL = "HARD_SL"
    TAKE_PROFIT = "TP"
    WORKING_STOP = "WORKING_STOP"
    TRAILING_STOP = "TRAILING_STOP"
    TIME = "TIME"


class RejectReason(Enum):
    """Why the exchange refused an order, in the terms the engine can act on."""

    WOULD_TRIGGER = "would_trigger"  # -2021: the price is through the stop; close at market
    REDUCE_ONLY = "reduce_only"  # -2022/-4118: checked against the position and open orders
    FINAL = "final"  # no retry can cure it (-4164 notional, -1121 symbol): wait for Q to change
    OTHER = "other"  # retried with backoff


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The exchange filters that shape every price and quantity of a symbol."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An exit order as the engine wants it on the exchange."""

    client_order_id: str
    symbol: str
    leg: Leg
    side: OrderSide
    type: OrderType
    quantity: Decimal | None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = True
    close_position: bool = False
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    tp_number: int = 0

    @property
    def label(self) -> str:
        """The leg as traders read it: HARD_SL, TP1, TP2, WORKING_STOP, TRAILING_STOP, TIME."""
        if self.leg is Leg.TAKE_PROFIT:
            return f"TP{self.tp_number}"
        label: str = self.leg.value
        return label


# --- events: what the engine is told --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """A mark price (in replay: a row of the price file) at a time in Unix milliseconds."""

    time_ms: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Timer:
    """Time passing with no price, so a TIME leg or a retry can fire on a stale feed."""

    time_ms: int


@dataclass(frozen=True, slots=True)
class Fill:
    """A (partial) fill of one of the symbol's orders."""

    client_order_id: str
    qty: Decimal
    price: Decimal
    time_ms: int


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """The exchange's position for the symbol: signed amount, as `positionAmt`."""

    amount: Decimal
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    client_order_id: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class OrderRejected:
    client_order_id: str
    reason: RejectReason
    time_ms: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    """The order is gone without (further) fills: cancelled, expired, or unknown to the exchange."""

    client_order_id: str
    time_ms: int


Event: TypeAlias = (
    Tick | Timer | Fill | PositionChanged | OrderAccepted | OrderRejected | OrderCancelled
)


# --- requests: what the engine asks for -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    intent: OrderIntent


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: str
    symbol: str
    leg: Leg
    conditional: bool


Request: TypeAlias = PlaceOrder | CancelOrder


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the engine wants logged and counted; `event` is a stable dotted name."""

    event: str
    detail: tuple[tuple[str, str], ...] = ()
