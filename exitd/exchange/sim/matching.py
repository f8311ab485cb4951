"""The simulator's matching of one symbol: resting orders against a price path.

Sans-I/O and deterministic (no clock, no randomness): the server and `exitd replay` drive it with
prices and orders and read back what happened, so a replay and a live run on the simulator fill
alike. It is a state machine with many orders, so it mutates its own records rather than
copying a book per tick; nothing outside this module holds them.

Matching is tick-synchronous (SPEC-exits.md): at each price, stops first (the most protective
first, a close-position stop first on a tie), a stop filling at the price plus slippage; then
limits in price-time priority, each at its limit price; orders that are left with nothing to
reduce expire. An order placed now rests from the next price on; a MARKET fills at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from exitd.engine.model import OrderSide, OrderType

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


class OrderState(Enum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def open(self) -> bool:
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED)


class Refusal(Enum):
    """Why an order cannot rest or fill; the server maps each to Binance's code."""

    WOULD_TRIGGER = "would_trigger"  # -2021
    REDUCE_ONLY = "reduce_only"  # -2022
    NO_PRICE = "no_price"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"  # -4116
    UNKNOWN_ORDER = "unknown_order"  # -2011


@dataclass(slots=True)
class BookOrder:
    """An order as the exchange keeps it. Mutated only by `SymbolMarket`."""

    order_id: int
    client_order_id: str
    side: OrderSide
    type: OrderType
    quantity: Decimal  # 0 for a close-position stop
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    close_position: bool = False
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    state: OrderState = OrderState.NEW
    executed_qty: Decimal = _ZERO
    trail_extreme: Decimal | None = None

    @property
    def sign(self) -> int:
        return 1 if self.side is OrderSide.BUY else -1

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty


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


@dataclass(frozen=True, slots=True)
class OrderClosed:
    """An order that left the book without (further) fills."""

    order_id: int
    client_order_id: str
    state: OrderState
    time_ms: int


Outcome = Trade | OrderClosed


@dataclass(slots=True)
class SymbolMarket:
    """Positions and resting orders of one symbol, for one account (one-way mode)."""

    symbol: str
    slippage_pct: Decimal = _ZERO
    mark_price: Decimal | None = None
    position: Decimal = _ZERO
    entry_price: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    orders: dict[str, BookOrder] = field(default_factory=dict)
    _next_trade_id: int = 1

    # --- orders -------------------------------------------------------------------------------

    def place(self, order: BookOrder, time_ms: int) -> Refusal | list[Outcome]:
        """Rest `order` (a MARKET fills at once); a refusal leaves the book unchanged."""
        if order.client_order_id in self.orders:
            return Refusal.DUPLICATE_CLIENT_ID
        price = self.mark_price
        if order.type is OrderType.STOP_MARKET and price is not None:
            assert order.trigger_price is not None
            if (order.trigger_price - price) * order.sign <= 0:
                return Refusal.WOULD_TRIGGER
        activation = order.activation_price
        if (
            order.type is OrderType.TRAILING_STOP_MARKET
            and activation is not None
            and price is not None
            and (activation - price) * order.sign >= 0
        ):
            return Refusal.WOULD_TRIGGER
        if order.reduce_only and self._reducible(order) <= 0:
            return Refusal.REDUCE_ONLY
        if order.type is OrderType.MARKET:
            if price is None:
                return Refusal.NO_PRICE
            return self._execute(order, self._slipped(price, order.side), time_ms)
        if order.type is OrderType.TRAILING_STOP_MARKET:
            order.trail_extreme = price  # the trail follows the best price from placement on
        self.orders[order.client_order_id] = order
        return []

    def cancel(self, client_order_id: str, time_ms: int) -> Refusal | OrderClosed:
        order = self.orders.pop(client_order_id, None)
        if order is None:
            return Refusal.UNKNOWN_ORDER
        order.state = OrderState.CANCELED
        return OrderClosed(order.order_id, client_order_id, OrderState.CANCELED, time_ms)

    # --- prices -------------------------------------------------------------------------------

    def on_price(self, price: Decimal, time_ms: int) -> list[Outcome]:
        """Step 1 of a tick: match every resting order against `price`."""
        self.mark_price = price
        outcomes: list[Outcome] = []
        for order in self._triggered_stops(price):
            if order.client_order_id in self.orders:
                self._fill_resting(order, self._slipped(price, order.side), time_ms, outcomes)
        for order in self._crossed_limits(price):
            if order.client_order_id in self.orders:
                assert order.price is not None
                self._fill_resting(order, order.price, time_ms, outcomes)
        return outcomes

    def _triggered_stops(self, price: Decimal) -> list[BookOrder]:
        triggered = []
        for order in self.orders.values():
            level: Decimal | None
            if order.type is OrderType.STOP_MARKET:
                level = order.trigger_price
            elif order.type is OrderType.TRAILING_STOP_MARKET:
                level = _trail_level(order, price)
            else:
                continue
            if level is None:
                continue
            # A sell stop fires at or below its level, a buy stop at or above.
            if (price - level) * order.sign >= 0:
                triggered.append((level, order))
        # Most protective first: the highest sell stop, the lowest buy stop; then close-position.
        triggered.sort(key=lambda lo: (-lo[0] * -lo[1].sign, not lo[1].close_position))
        return [order for _, order in triggered]

    def _crossed_limits(self, price: Decimal) -> list[BookOrder]:
        crossed = []
        for order in self.orders.values():
            if order.type is OrderType.LIMIT:
                assert order.price is not None
                if (order.price - price) * order.sign >= 0:
                    crossed.append(order)
        # Price priority: the lowest sell, the highest buy; then time (order ids increase).
        crossed.sort(key=lambda o: (-o.sign * (o.price or _ZERO), o.order_id))
        return crossed

    def _fill_resting(
        self, order: BookOrder, price: Decimal, time_ms: int, outcomes: list[Outcome]
    ) -> None:
        if (order.reduce_only or order.close_position) and self._reducible(order) <= 0:
            # It would grow the position rather than reduce it: Binance expires it.
            del self.orders[order.client_order_id]
            order.state = OrderState.EXPIRED
            outcomes.append(
                OrderClosed(order.order_id, order.client_order_id, OrderState.EXPIRED, time_ms)
            )
            return
        outcomes.extend(self._execute(order, price, time_ms))
        if self.position == 0:
            outcomes.extend(self._expire_reducing(time_ms))

    def _expire_reducing(self, time_ms: int) -> list[Outcome]:
        """Flat: what is left with nothing to reduce goes (Binance: EXPIRED)."""
        expired: list[Outcome] = []
        for cid, order in list(self.orders.items()):
            if order.reduce_only or order.close_position:
                del self.orders[cid]
                order.state = OrderState.EXPIRED
                expired.append(OrderClosed(order.order_id, cid, OrderState.EXPIRED, time_ms))
        return expired

    # --- executions ---------------------------------------------------------------------------

    def _reducible(self, order: BookOrder) -> Decimal:
        """How much of the position `order` may close: it must trade against the position."""
        if self.position * order.sign >= 0:
            return _ZERO
        held = abs(self.position)
        return held if order.close_position else min(held, order.remaining)

    def _slipped(self, price: Decimal, side: OrderSide) -> Decimal:
        if not self.slippage_pct:
            return price
        sign = 1 if side is OrderSide.BUY else -1
        return price * (1 + sign * self.slippage_pct / _HUNDRED)

    def _execute(self, order: BookOrder, price: Decimal, time_ms: int) -> list[Outcome]:
        qty = (
            self._reducible(order) if order.reduce_only or order.close_position else order.remaining
        )
        realized = self._apply_to_position(order.sign * qty, price)
        order.executed_qty += qty
        done = order.close_position or order.executed_qty >= order.quantity
        order.state = OrderState.FILLED if done else OrderState.PARTIALLY_FILLED
        if done:
            self.orders.pop(order.client_order_id, None)
        trade = Trade(
            self._next_trade_id,
            order.order_id,
            order.client_order_id,
            order.side,
            qty,
            price,
            realized,
            self.position,
            time_ms,
        )
        self._next_trade_id += 1
        return [trade]

    def _apply_to_position(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Move the position by `signed_qty` at `price`; the realised P&L of what it closed."""
        position = self.position
        if position == 0 or position * signed_qty > 0:  # opening or adding: average the entry
            total = position + signed_qty
            self.entry_price = (self.entry_price * abs(position) + price * abs(signed_qty)) / abs(
                total
            )
            self.position = total
            return _ZERO
        closed = min(abs(signed_qty), abs(position))
        realized = (price - self.entry_price) * closed * (1 if position > 0 else -1)
        self.realized_pnl += realized
        self.position = position + signed_qty
        if self.position == 0:
            self.entry_price = _ZERO
        elif self.position * position < 0:  # flipped: the rest opens at this price
            self.entry_price = price
        return realized


def _trail_level(order: BookOrder, price: Decimal) -> Decimal | None:
    """A trailing stop's trigger level once active, tracking the best price since placement."""
    extreme = order.trail_extreme
    # A sell trail follows the highest price, a buy trail the lowest.
    if extreme is None or (price - extreme) * order.sign < 0:
        extreme = price
    order.trail_extreme = extreme
    activation = order.activation_price
    if activation is not None and (activation - extreme) * order.sign < 0:
        return None
    assert order.callback_rate is not None
    return extreme * (1 + order.sign * order.callback_rate / _HUNDRED)
