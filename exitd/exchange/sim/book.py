"""The simulator's vocabulary: its order types, order records and the events matching reports.

The engine's `OrderType` names only what exitd sends; the simulator must serve every type a
Binance client may send, so it has its own complete `SimOrderType` (same values, Binance's
names), and a caller holding an engine order converts it once by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from exitd.engine.model import OrderSide

_ZERO = Decimal(0)
# selfTradePreventionMode when none was sent, as recorded: regular orders' REST answers say
# NONE, conditional orders' ALGO_UPDATEs EXPIRE_MAKER (a triggered order's child inherits it).
ORDER_STP_DEFAULT = "NONE"
ALGO_STP_DEFAULT = "EXPIRE_MAKER"


class SimOrderType(Enum):
    """Every USD-M order type the simulator serves; values are Binance's names."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def conditional(self) -> bool:
        """Since 2025-12-09 these live on the algo-order endpoints (binance-usdm.md §5)."""
        return self not in (SimOrderType.LIMIT, SimOrderType.MARKET)

    @property
    def take_profit(self) -> bool:
        """Take-profits trigger on the position's favourable side, stops on the other."""
        return self in (SimOrderType.TAKE_PROFIT, SimOrderType.TAKE_PROFIT_MARKET)

    @property
    def child_type(self) -> SimOrderType:
        """The order a triggered conditional places in the matching engine."""
        limit = self in (SimOrderType.STOP, SimOrderType.TAKE_PROFIT)
        return SimOrderType.LIMIT if limit else SimOrderType.MARKET


class TimeInForce(Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only: rejected (-5022) if it would take at placement
    GTD = "GTD"  # rests like GTC: the simulator does not expire orders at goodTillDate


class WorkingType(Enum):
    """Which price a conditional order watches: the mark or the last trade."""

    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class OrderState(Enum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"

    @property
    def open(self) -> bool:
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED)


class AlgoStatus(Enum):
    """A conditional order's life on the algo service (binance-usdm.md §5.4)."""

    NEW = "NEW"
    CANCELED = "CANCELED"
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    FINISHED = "FINISHED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def terminal(self) -> bool:
        return self in (
            AlgoStatus.CANCELED,
            AlgoStatus.FINISHED,
            AlgoStatus.REJECTED,
            AlgoStatus.EXPIRED,
        )


class Refusal(Enum):
    """Why an order cannot rest or fill; the server maps each to Binance's code."""

    WOULD_TRIGGER = "would_trigger"  # -2021
    REDUCE_ONLY = "reduce_only"  # -2022
    REDUCE_ONLY_EXCEEDS = "reduce_only_exceeds"  # -4118
    GTE_NO_POSITION = "gte_no_position"  # -4509
    NO_PRICE = "no_price"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"  # -4116
    UNKNOWN_ORDER = "unknown_order"  # -2011
    POST_ONLY = "post_only"  # -5022
    FOK_UNFILLED = "fok_unfilled"  # -5021
    USE_ALGO_ENDPOINT = "use_algo_endpoint"  # -4120
    NOT_CONDITIONAL = "not_conditional"  # -1116 (invalid orderType on the algo endpoint)
    MAX_STOP_ORDERS = "max_stop_orders"  # -4045
    CLOSE_POSITION_EXISTS = "close_position_exists"  # -4130
    UNKNOWN_SYMBOL = "unknown_symbol"  # -1121
    BAD_PARAMETERS = "bad_parameters"  # -1102 / -4137 / -4138


@dataclass(frozen=True, slots=True)
class AlgoParams:
    """What a conditional order carries beyond side, type and quantity."""

    trigger_price: Decimal | None = None
    price: Decimal | None = None
    close_position: bool = False
    reduce_only: bool = False
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    working_type: WorkingType = WorkingType.CONTRACT_PRICE
    price_protect: bool = False
    stp_mode: str | None = None  # selfTradePreventionMode as sent; None: not sent


NO_CONDITIONS = AlgoParams()


@dataclass(slots=True)
class BookOrder:
    """An order as the exchange keeps it (a conditional one: its algo record). Mutated only by
    `SymbolMarket`; for a conditional order `order_id` is its algoId."""

    order_id: int
    client_order_id: str
    side: OrderSide
    type: SimOrderType
    quantity: Decimal  # 0 for a close-position stop until it triggers
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    state: OrderState = OrderState.NEW
    executed_qty: Decimal = _ZERO
    trail_extreme: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    working_type: WorkingType = WorkingType.CONTRACT_PRICE
    created_ms: int = 0
    updated_ms: int = 0
    avg_price: Decimal = _ZERO
    algo_status: AlgoStatus | None = None  # None for a regular order
    actual_order_id: int | None = None  # a triggered algo order's child
    trigger_ms: int = 0  # when a conditional order triggered; 0 before
    algo_id: int | None = None  # a child order's parent algo order
    price_protect: bool = False  # echoed as sent
    stp_mode: str | None = None  # selfTradePreventionMode as sent; None: the default
    good_till_date: int | None = None  # a GTD order's goodTillDate, echoed (never enforced)

    @property
    def sign(self) -> int:
        return 1 if self.side is OrderSide.BUY else -1

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty

    @property
    def reducing(self) -> bool:
        return self.reduce_only or self.close_position

    def record_fill(self, qty: Decimal, price: Decimal) -> None:
        """Add an execution to the cumulative quantity and the average price."""
        total = self.executed_qty + qty
        self.avg_price = (self.avg_price * self.executed_qty + price * qty) / total
        self.executed_qty = total


# --- what matching reports, in the order it happened ----------------------------------------


@dataclass(frozen=True, slots=True)
class Trade:
    """One execution, and the position it leaves."""

    trade_id: int
    order_id: int
    client_order_id: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    realized_pnl: Decimal
    position_after: Decimal
    time_ms: int
    symbol: str = ""
    maker: bool = False
    order_state: OrderState = OrderState.FILLED  # the order's status after this trade


@dataclass(frozen=True, slots=True)
class OrderClosed:
    """An order that left the book without (further) fills."""

    order_id: int
    client_order_id: str
    state: OrderState
    time_ms: int
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class OrderOpened:
    """A regular order accepted into the matching engine (a triggered order's child included)."""

    order_id: int
    client_order_id: str
    time_ms: int
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class AlgoChanged:
    """A conditional order moved to `status` (ALGO_UPDATE)."""

    algo_id: int
    client_algo_id: str
    status: AlgoStatus
    time_ms: int
    symbol: str = ""
    actual_order_id: int | None = None


@dataclass(frozen=True, slots=True)
class PositionMoved:
    """The position after a trade (ACCOUNT_UPDATE reason ORDER)."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    time_ms: int


Outcome = Trade | OrderClosed
MarketEvent = Trade | OrderClosed | OrderOpened | AlgoChanged | PositionMoved


_ENDED_UNFILLED = (AlgoStatus.CANCELED, AlgoStatus.EXPIRED, AlgoStatus.REJECTED)


def outcomes(events: list[MarketEvent]) -> list[Outcome]:
    """The replay's view: fills, closings, and algo orders that ended without a child."""
    out: list[Outcome] = []
    for event in events:
        if isinstance(event, Trade | OrderClosed):
            out.append(event)
        elif isinstance(event, AlgoChanged) and event.status in _ENDED_UNFILLED:
            canceled = event.status is AlgoStatus.CANCELED
            state = OrderState.CANCELED if canceled else OrderState.EXPIRED
            out.append(OrderClosed(event.algo_id, event.client_algo_id, state, event.time_ms))
    return out
