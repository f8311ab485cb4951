"""The simulator's matching of one symbol: resting orders against a price path.

Sans-I/O and deterministic (no clock, no randomness): the server and `exitd replay` drive it with
prices and orders and read back what happened, so a replay and a live run on the simulator fill
alike. It is a state machine with many orders, so it mutates its own records rather than
copying a book per tick; nothing outside this module holds them.

Two prices per symbol: the last trade (limits cross it, takers fill at it, CONTRACT_PRICE
conditionals watch it) and the mark (MARK_PRICE conditionals watch it); `step` moves both.
Matching is tick-synchronous (SPEC-exits.md): at each price, conditional orders first (the most
protective first, a close-position one first on a tie); a triggered one places its child order
(MARKET, or LIMIT for STOP/TAKE_PROFIT), a market child filling at the price plus slippage;
then limits in price-time priority, each at its limit price. When the position closes, only
close-position stops (good-till-position, GTE_GTC) expire; plain reduce-only orders stay
open, as on Binance, and expire only if they later meet nothing to reduce. An order placed
now rests from the next price on, except that an order which can take at once does: a
MARKET, or a LIMIT GTC/IOC/FOK that crosses the current price fills at that price (plus
slippage, never past its limit). A GTX LIMIT that would cross is refused; an IOC/FOK
remainder expires. Reduce-only orders follow reduce_only.py.

`submit`, `cancel_order` and `step` report everything (`MarketEvent`); `place`, `cancel` and
`on_price` are the narrower view `exitd replay` was written against (fills and closings only,
an algo order that ends without a fill shown as the order closing).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from exitd.engine.model import OrderSide
from exitd.exchange.sim.book import (
    ALGO_STP_DEFAULT,
    AlgoChanged,
    AlgoStatus,
    BookOrder,
    MarketEvent,
    OrderClosed,
    OrderOpened,
    OrderState,
    Outcome,
    PositionMoved,
    Refusal,
    SimOrderType,
    TimeInForce,
    Trade,
    WorkingType,
    outcomes,
)
from exitd.exchange.sim.price_rules import (
    crosses,
    fired,
    move_position,
    slipped_price,
    would_trigger,
)
from exitd.exchange.sim.reduce_only import reduce_only_refusal, trigger_refusal

__all__ = ["BookOrder", "OrderClosed", "OrderState", "Outcome", "Refusal", "SymbolMarket", "Trade"]

_ZERO = Decimal(0)
_CHILD_IDS_FROM = 1_000_000_000  # a lone market's child ids, far from its caller's ids


def _child_ids() -> Callable[[], int]:
    return itertools.count(_CHILD_IDS_FROM).__next__


@dataclass(slots=True)
class SymbolMarket:
    """Positions and resting orders of one symbol, for one account (one-way mode)."""

    symbol: str
    slippage_pct: Decimal = _ZERO
    tick_size: Decimal | None = None  # slipped prices are rounded to it; None: not rounded
    mark_price: Decimal | None = None
    last_price: Decimal | None = None  # the last trade; None: the mark stands in for it
    position: Decimal = _ZERO
    entry_price: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO
    # Open regular orders by order id: a triggered order's child carries its parent's
    # clientAlgoId, which may equal an open order's client id, so the client id is no key.
    orders: dict[int, BookOrder] = field(default_factory=dict)
    conditionals: dict[str, BookOrder] = field(default_factory=dict)  # algo, by client algo id
    new_order_id: Callable[[], int] = field(default_factory=_child_ids)
    _next_trade_id: int = 1
    children: dict[int, BookOrder] = field(default_factory=dict)  # every triggered order's child
    _parents: dict[int, BookOrder] = field(default_factory=dict)  # open child id -> algo order
    # Open regular orders carrying each client id, the latest last (-4116, cancel by client id).
    _by_client_id: dict[str, list[BookOrder]] = field(default_factory=dict)
    # Fault: triggered orders wait in TRIGGERING, their child unplaced, while this is set.
    hold_triggers: bool = False
    triggering: dict[str, BookOrder] = field(default_factory=dict)  # held, by client algo id

    # --- the narrow view (exitd replay) ---------------------------------------------------------

    def place(self, order: BookOrder, time_ms: int) -> Refusal | list[Outcome]:
        result = self.submit(order, time_ms)
        return result if isinstance(result, Refusal) else outcomes(result)

    def cancel(self, client_order_id: str, time_ms: int) -> Refusal | OrderClosed:
        """The open regular order with this client id (the latest), else the conditional one."""
        regular = self._by_client_id.get(client_order_id)
        if regular:
            order: BookOrder | None = regular[-1]
            result = self.cancel_order(regular[-1].order_id, time_ms)
        else:
            order = self.conditionals.get(client_order_id)
            result = self.cancel_conditional(client_order_id, time_ms)
        if order is None or isinstance(result, Refusal):
            return Refusal.UNKNOWN_ORDER
        return OrderClosed(order.order_id, client_order_id, OrderState.CANCELED, time_ms)

    def on_price(self, price: Decimal, time_ms: int) -> list[Outcome]:
        return outcomes(self.step(price, time_ms))

    # --- orders ---------------------------------------------------------------------------------

    def submit(
        self, order: BookOrder, time_ms: int, *, check_reduce_only: bool = False
    ) -> Refusal | list[MarketEvent]:
        """Accept `order` (it may take at once); a refusal leaves the book unchanged.
        A conditional reduce-only order is checked at placement only if `check_reduce_only`."""
        book = self.conditionals if order.type.conditional else self._by_client_id
        if order.client_order_id in book:
            return Refusal.DUPLICATE_CLIENT_ID
        refusal = self._refusal(order, check_reduce_only or not order.type.conditional)
        if refusal is not None:
            return refusal
        order.created_ms = order.updated_ms = time_ms
        if order.type.conditional:
            return self._rest_conditional(order, time_ms)
        events: list[MarketEvent] = [
            OrderOpened(order.order_id, order.client_order_id, time_ms, self.symbol)
        ]
        self._take_or_rest(order, time_ms, events)
        return events

    def _refusal(self, order: BookOrder, check_reduce_only: bool) -> Refusal | None:
        """Binance's placement checks against the current price and position."""
        price, kind = self.trade_price, order.type
        if order.close_position and self.position == 0:
            return Refusal.GTE_NO_POSITION
        working = self.working_price(order)
        if working is not None and kind.conditional and would_trigger(order, working):
            return Refusal.WOULD_TRIGGER
        if order.reduce_only and check_reduce_only:
            conditionals = self.conditionals.values() if kind.conditional else ()
            refusal = reduce_only_refusal(
                order,
                self.position,
                [*self.orders.values(), *conditionals],
                strict=kind.conditional,
            )
            if refusal is not None:
                return refusal
        if kind is SimOrderType.MARKET and price is None:
            return Refusal.NO_PRICE
        if kind is SimOrderType.LIMIT and price is not None:
            takes = crosses(order, price)
            if takes and order.time_in_force is TimeInForce.GTX:
                return Refusal.POST_ONLY
            if not takes and order.time_in_force is TimeInForce.FOK:
                return Refusal.FOK_UNFILLED
        return None

    def _rest_conditional(self, order: BookOrder, time_ms: int) -> list[MarketEvent]:
        if order.type is SimOrderType.TRAILING_STOP_MARKET:
            # The trail follows the best watched price from now on.
            order.trail_extreme = self.working_price(order)
        order.algo_status = AlgoStatus.NEW
        self.conditionals[order.client_order_id] = order
        return [self._algo_event(order, time_ms)]

    def _take_or_rest(self, order: BookOrder, time_ms: int, events: list[MarketEvent]) -> None:
        """A marketable order takes at the last trade; the rest rests or expires by its TIF."""
        price = self.trade_price
        if price is not None and (order.type is SimOrderType.MARKET or crosses(order, price)):
            taker = self._slipped(price, order.side)
            if order.price is not None:  # a limit never fills past its price
                taker = min(taker, order.price) if order.sign > 0 else max(taker, order.price)
            self._fill(order, taker, time_ms, events, maker=False)
        if not order.state.open:
            return
        keeps = order.type is SimOrderType.LIMIT and order.time_in_force in _RESTING
        if keeps and not (order.reducing and self._reducible(order) <= 0):
            self.orders[order.order_id] = order
            self._by_client_id.setdefault(order.client_order_id, []).append(order)
        else:
            self._close(order, OrderState.EXPIRED, time_ms, events)

    def cancel_order(self, order_id: int, time_ms: int) -> Refusal | list[MarketEvent]:
        """Cancel an open regular order (a triggered order's child included)."""
        order = self.orders.get(order_id)
        if order is None:
            return Refusal.UNKNOWN_ORDER
        events: list[MarketEvent] = []
        self._close(order, OrderState.CANCELED, time_ms, events)
        return events

    def cancel_conditional(self, client_algo_id: str, time_ms: int) -> Refusal | list[MarketEvent]:
        """Cancel a conditional order; only before it triggers, as on Binance."""
        order = self.conditionals.get(client_algo_id)
        if order is None:
            return Refusal.UNKNOWN_ORDER
        events: list[MarketEvent] = []
        self._end_algo(order, AlgoStatus.CANCELED, time_ms, events)
        return events

    # --- prices ---------------------------------------------------------------------------------

    @property
    def trade_price(self) -> Decimal | None:
        """The last trade's price: what limits cross at and takers fill at."""
        return self.mark_price if self.last_price is None else self.last_price

    def working_price(self, order: BookOrder) -> Decimal | None:
        """The price a conditional order watches: the mark or the last trade (`workingType`)."""
        if order.working_type is WorkingType.MARK_PRICE:
            return self.mark_price
        return self.trade_price

    def step(self, price: Decimal, time_ms: int) -> list[MarketEvent]:
        """Step 1 of a tick where the trade and the mark are both `price`."""
        return self.move(time_ms, trade=price, mark=price)

    def move(
        self, time_ms: int, *, trade: Decimal | None = None, mark: Decimal | None = None
    ) -> list[MarketEvent]:
        """A new last trade and/or mark: conditionals trigger on the one their `workingType`
        names; limits cross only on a trade."""
        if trade is not None:
            self.last_price = trade
        if mark is not None:
            self.mark_price = mark
        events: list[MarketEvent] = []
        for order in fired(self.conditionals.values(), self.working_price):
            if order.client_order_id in self.conditionals:
                self._trigger(order, time_ms, events)
        for order in self._crossed_limits(trade) if trade is not None else ():
            if order.order_id in self.orders:  # not gone earlier in this tick
                assert order.price is not None
                self._fill(order, order.price, time_ms, events, maker=True)
        return events

    def _crossed_limits(self, price: Decimal) -> list[BookOrder]:
        crossed = [o for o in self.orders.values() if crosses(o, price)]
        # Price priority: the lowest sell, the highest buy; then time (order ids increase).
        crossed.sort(key=lambda o: (-o.sign * (o.price or _ZERO), o.order_id))
        return crossed

    def release_triggers(self, time_ms: int) -> list[MarketEvent]:
        """The TRIGGERING fault cleared: the held orders reach matching now."""
        self.hold_triggers = False
        events: list[MarketEvent] = []
        for algo in list(self.triggering.values()):
            del self.triggering[algo.client_order_id]
            self._place_child(algo, time_ms, events)
        return events

    def _trigger(self, algo: BookOrder, time_ms: int, events: list[MarketEvent]) -> None:
        """The algo service hands a triggered order to matching: TRIGGERING, then its child."""
        del self.conditionals[algo.client_order_id]
        algo.trigger_ms = time_ms
        self._algo_status(algo, AlgoStatus.TRIGGERING, time_ms, events)
        if self.hold_triggers:
            self.triggering[algo.client_order_id] = algo
            return
        self._place_child(algo, time_ms, events)

    def _place_child(self, algo: BookOrder, time_ms: int, events: list[MarketEvent]) -> None:
        """Matching checks the triggered order (reduce_only.py), denies it (ALGO_UPDATE
        REJECTED with `rm`) or places its child: TRIGGERED, the child's NEW and fills."""
        if trigger_refusal(algo, self.position, self.orders.values()) is not None:
            self._algo_status(algo, AlgoStatus.REJECTED, time_ms, events)
            return
        held = abs(self.position)
        child = BookOrder(
            order_id=self.new_order_id(),
            client_order_id=algo.client_order_id,
            side=algo.side,
            type=algo.type.child_type,
            quantity=held if algo.close_position else algo.quantity,
            price=algo.price if algo.type.child_type is SimOrderType.LIMIT else None,
            reduce_only=algo.reduce_only,
            close_position=algo.close_position,
            time_in_force=algo.time_in_force,
            working_type=algo.working_type,
            created_ms=time_ms,
            updated_ms=time_ms,
            algo_id=algo.order_id,
            price_protect=algo.price_protect,
            stp_mode=algo.stp_mode or ALGO_STP_DEFAULT,
        )
        algo.actual_order_id = child.order_id
        self.children[child.order_id] = child
        self._parents[child.order_id] = algo
        self._algo_status(algo, AlgoStatus.TRIGGERED, time_ms, events)
        events.append(OrderOpened(child.order_id, child.client_order_id, time_ms, self.symbol))
        self._take_or_rest(child, time_ms, events)

    # --- executions -----------------------------------------------------------------------------

    def _fill(
        self,
        order: BookOrder,
        price: Decimal,
        time_ms: int,
        events: list[MarketEvent],
        *,
        maker: bool,
    ) -> None:
        """Execute what `order` may at `price`; a reducing order with nothing to reduce expires."""
        qty = min(self._reducible(order), order.remaining) if order.reducing else order.remaining
        if order.close_position:
            qty = self._reducible(order)
        if qty <= 0:
            self._close(order, OrderState.EXPIRED, time_ms, events)
            return
        realized = self._apply_to_position(order.sign * qty, price)
        order.record_fill(qty, price)
        order.updated_ms = time_ms
        done = order.executed_qty >= order.quantity
        order.state = OrderState.FILLED if done else OrderState.PARTIALLY_FILLED
        parent = self._parents.get(order.order_id)
        if parent is not None:
            parent.record_fill(qty, price)
        events.append(
            Trade(
                self._next_trade_id,
                order.order_id,
                order.client_order_id,
                order.side,
                qty,
                price,
                realized,
                self.position,
                time_ms,
                self.symbol,
                maker,
                order.state,
            )
        )
        self._next_trade_id += 1
        events.append(PositionMoved(self.symbol, self.position, self.entry_price, time_ms))
        if done:
            self._leave(order, time_ms, events)
        if self.position == 0:
            self._expire_reducing(time_ms, events)

    def _close(
        self, order: BookOrder, state: OrderState, time_ms: int, events: list[MarketEvent]
    ) -> None:
        """A regular order leaves the book unfilled (or with the rest unfilled)."""
        order.state = state
        order.updated_ms = time_ms
        events.append(
            OrderClosed(order.order_id, order.client_order_id, state, time_ms, self.symbol)
        )
        self._leave(order, time_ms, events)

    def _leave(self, order: BookOrder, time_ms: int, events: list[MarketEvent]) -> None:
        if self.orders.pop(order.order_id, None) is not None:
            same_id = self._by_client_id[order.client_order_id]
            same_id.remove(order)
            if not same_id:
                del self._by_client_id[order.client_order_id]
        parent = self._parents.pop(order.order_id, None)
        if parent is not None:  # the child is done: so is its algo order
            self._algo_status(parent, AlgoStatus.FINISHED, time_ms, events)

    def _expire_reducing(self, time_ms: int, events: list[MarketEvent]) -> None:
        """Flat: close-position stops are good-till-position and expire (Binance: EXPIRED);
        plain reduce-only orders stay open, conditional or not (binance-usdm.md §14)."""
        for algo in [o for o in self.conditionals.values() if o.close_position]:
            self._end_algo(algo, AlgoStatus.EXPIRED, time_ms, events)

    def _end_algo(
        self, algo: BookOrder, status: AlgoStatus, time_ms: int, events: list[MarketEvent]
    ) -> None:
        del self.conditionals[algo.client_order_id]
        self._algo_status(algo, status, time_ms, events)

    def _algo_status(
        self, algo: BookOrder, status: AlgoStatus, time_ms: int, events: list[MarketEvent]
    ) -> None:
        algo.algo_status = status
        algo.updated_ms = time_ms
        if status.terminal:
            algo.state = _ALGO_END_STATES.get(status, OrderState.FILLED)
        events.append(self._algo_event(algo, time_ms))

    def _algo_event(self, algo: BookOrder, time_ms: int) -> AlgoChanged:
        assert algo.algo_status is not None
        return AlgoChanged(
            algo.order_id,
            algo.client_order_id,
            algo.algo_status,
            time_ms,
            self.symbol,
            algo.actual_order_id,
        )

    def _reducible(self, order: BookOrder) -> Decimal:
        """How much of the position `order` may close: it must trade against the position."""
        if self.position * order.sign >= 0:
            return _ZERO
        held = abs(self.position)
        return held if order.close_position else min(held, order.remaining)

    def _slipped(self, price: Decimal, side: OrderSide) -> Decimal:
        return slipped_price(price, side, self.slippage_pct, self.tick_size)

    def _apply_to_position(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Move the position by `signed_qty` at `price`; the realised P&L of what it closed."""
        self.position, self.entry_price, realized = move_position(
            self.position, self.entry_price, signed_qty, price
        )
        self.realized_pnl += realized
        return realized


_RESTING = (TimeInForce.GTC, TimeInForce.GTX, TimeInForce.GTD)  # IOC and FOK never rest
# The algo record's `state` mirrors its end, for callers that read only `state`.
_ALGO_END_STATES = {
    AlgoStatus.CANCELED: OrderState.CANCELED,
    AlgoStatus.EXPIRED: OrderState.EXPIRED,
    AlgoStatus.REJECTED: OrderState.REJECTED,
}
