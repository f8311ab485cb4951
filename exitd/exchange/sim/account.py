"""One simulated USD-M account in one-way mode: every symbol's market, ids, wallet and ledger.

Sans-I/O like matching: time is an argument, results are typed values, and the server turns
them into Binance's answers and user-data events. It owns what Binance keeps per account: the
two id spaces (orderIds count from 1; algoIds from a large base, as live data shows
1000000033225453 beside orderId 88937381063, §14, so an algoId finds no order), the 200 open
conditional orders limit (-4045), one close-position stop per direction (-4130), the USDT
wallet (realised P&L less commission) and the ledger.

Commission: taker 0.05 %, maker 0.02 % of the notional (Binance's base tier), charged in
USDT on every fill; a resting LIMIT filled on a later price is the maker, everything else
(MARKET, a LIMIT crossing at placement, a triggered order's child) the taker.

Events of one call come in the order they happened; on a trigger: ALGO_UPDATE TRIGGERING,
TRIGGERED (with the child's id), the child's NEW, its trades each followed by the position
and the balance, then ALGO_UPDATE FINISHED. The order on the wire is user_data.py's concern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from random import Random

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim.account_rules import algo_refusal, order_refusal, tick_size
from exitd.exchange.sim.book import (
    NO_CONDITIONS,
    AlgoChanged,
    AlgoParams,
    AlgoStatus,
    BookOrder,
    MarketEvent,
    OrderClosed,
    OrderOpened,
    PositionMoved,
    Refusal,
    SimOrderType,
    TimeInForce,
    Trade,
)
from exitd.exchange.sim.ledger import Ledger
from exitd.exchange.sim.matching import SymbolMarket

FIRST_ALGO_ID = 1_000_000_033_225_453  # as in live data (§14); orderIds count from 1
MAX_OPEN_CONDITIONAL = 200  # account-wide, all symbols (binance-usdm.md §5.1, 2025-12-29)
TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal("0.0002")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BalanceChanged:
    """The wallet after a fill (ACCOUNT_UPDATE `B`): realised P&L in, commission out."""

    symbol: str
    wallet_balance: Decimal
    realized_pnl: Decimal
    commission: Decimal
    time_ms: int


AccountEvent = MarketEvent | BalanceChanged


@dataclass(frozen=True, slots=True)
class Accepted:
    """The order as the account keeps it (read it, never change it) and what it caused."""

    order: BookOrder
    events: tuple[AccountEvent, ...]


@dataclass(frozen=True, slots=True)
class Rejected:
    refusal: Refusal


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    amount: Decimal  # signed: positive long, negative short (positionAmt)
    entry_price: Decimal
    realized_pnl: Decimal
    mark_price: Decimal | None


class SimAccount:
    """Orders, positions and the wallet of one account; every call returns what it caused."""

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        wallet_balance: Decimal = Decimal(10_000),
        slippage_pct: Decimal = _ZERO,
        commission: bool = True,
    ) -> None:
        self.wallet_balance = wallet_balance
        self.commission = commission
        self.ledger = Ledger()
        self._next_order_id = 1
        self._next_algo_id = FIRST_ALGO_ID
        # Fault (shuffle_events): the user-data feed shuffles each moment's events with it.
        self.event_shuffle: Random | None = None
        self.markets = {
            s: SymbolMarket(
                s, slippage_pct=slippage_pct, tick_size=tick_size(s), new_order_id=self._order_id
            )
            for s in symbols
        }
        self._orders: dict[tuple[str, int], BookOrder] = {}  # every regular order ever
        self._algos: dict[int, tuple[str, BookOrder]] = {}  # every algo order ever

    # --- regular orders -------------------------------------------------------------------------

    def place_order(
        self,
        symbol: str,
        side: OrderSide,
        type: SimOrderType,
        quantity: Decimal,
        time_ms: int,
        *,
        price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
        stp_mode: str | None = None,
        good_till_date: int | None = None,
    ) -> Accepted | Rejected:
        """POST /fapi/v1/order: LIMIT or MARKET only since 2025-12-09 (-4120 otherwise)."""
        market = self.markets.get(symbol)
        if market is None:
            return Rejected(Refusal.UNKNOWN_SYMBOL)
        order_id = self._order_id()
        order = BookOrder(
            order_id,
            client_order_id or f"sim-{order_id}",
            side,
            type,
            quantity,
            price=price,
            reduce_only=reduce_only,
            time_in_force=time_in_force,
            stp_mode=stp_mode,
            good_till_date=good_till_date,
        )
        refusal = order_refusal(order)
        return self._submit(market, order, time_ms, refusal)

    def cancel_order(
        self,
        symbol: str,
        time_ms: int,
        *,
        order_id: int | None = None,
        client_order_id: str | None = None,
    ) -> Accepted | Rejected:
        order = self.query_order(symbol, order_id=order_id, client_order_id=client_order_id)
        market = self.markets.get(symbol)
        if order is None or market is None or not order.state.open:
            return Rejected(Refusal.UNKNOWN_ORDER)
        result = market.cancel_order(order.order_id, time_ms)
        if isinstance(result, Refusal):
            return Rejected(result)
        return Accepted(order, self._settle(result))

    def cancel_all_orders(self, symbol: str, time_ms: int) -> list[AccountEvent]:
        """DELETE /fapi/v1/allOpenOrders: regular orders only, algo orders stay."""
        return _cancel_each(
            self.open_orders(symbol),
            lambda o: self.cancel_order(symbol, time_ms, order_id=o.order_id),
        )

    def query_order(
        self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None
    ) -> BookOrder | None:
        """Any regular order ever placed; by client id, the latest that carried it."""
        if order_id is not None:
            return self._orders.get((symbol, order_id))
        matches = [
            o
            for (s, _), o in self._orders.items()
            if s == symbol and o.client_order_id == client_order_id
        ]
        return max(matches, key=lambda o: o.order_id) if matches else None

    def all_orders(self, symbol: str | None = None) -> list[BookOrder]:
        """Every regular order ever accepted (children included), oldest first."""
        return [o for (s, _), o in sorted(self._orders.items()) if symbol in (None, s)]

    def open_orders(self, symbol: str | None = None) -> list[BookOrder]:
        markets = [self.markets[symbol]] if symbol else list(self.markets.values())
        return sorted((o for m in markets for o in m.orders.values()), key=lambda o: o.order_id)

    # --- conditional (algo) orders --------------------------------------------------------------

    def place_algo_order(
        self,
        symbol: str,
        side: OrderSide,
        type: SimOrderType,
        quantity: Decimal | None,
        time_ms: int,
        *,
        params: AlgoParams = NO_CONDITIONS,
        client_algo_id: str | None = None,
        check_reduce_only: bool = False,
    ) -> Accepted | Rejected:
        """POST /fapi/v1/algoOrder with algoType=CONDITIONAL; a reduce-only one is checked
        against the position when it triggers (also now if `check_reduce_only`)."""
        market = self.markets.get(symbol)
        if market is None:
            return Rejected(Refusal.UNKNOWN_SYMBOL)
        algo_id = self._next_algo_id
        self._next_algo_id += 1
        order = BookOrder(
            algo_id,
            client_algo_id or f"simalgo-{algo_id}",
            side,
            type,
            quantity or _ZERO,
            price=params.price,
            trigger_price=params.trigger_price,
            reduce_only=params.reduce_only,
            close_position=params.close_position,
            activation_price=params.activation_price,
            callback_rate=params.callback_rate,
            time_in_force=params.time_in_force,
            working_type=params.working_type,
            price_protect=params.price_protect,
            stp_mode=params.stp_mode,
        )
        refusal = algo_refusal(order, quantity) or self._algo_limits(symbol, order)
        return self._submit(market, order, time_ms, refusal, check_reduce_only)

    def _algo_limits(self, symbol: str, order: BookOrder) -> Refusal | None:
        open_algos = self.open_algo_orders()
        if any(o.client_order_id == order.client_order_id for o in open_algos):
            return Refusal.DUPLICATE_CLIENT_ID
        if len(open_algos) >= MAX_OPEN_CONDITIONAL:
            return Refusal.MAX_STOP_ORDERS
        if order.close_position and any(
            o.close_position
            and o.side is order.side
            and o.type.take_profit == order.type.take_profit
            for o in self.markets[symbol].conditionals.values()
        ):
            return Refusal.CLOSE_POSITION_EXISTS
        return None

    def cancel_algo_order(
        self, time_ms: int, *, algo_id: int | None = None, client_algo_id: str | None = None
    ) -> Accepted | Rejected:
        """DELETE /fapi/v1/algoOrder: only before it triggers (-2011 after, as on Binance)."""
        found = self.query_algo_order(algo_id=algo_id, client_algo_id=client_algo_id)
        if found is None:
            return Rejected(Refusal.UNKNOWN_ORDER)
        symbol, order = found
        market = self.markets[symbol]
        if market.conditionals.get(order.client_order_id) is not order:
            return Rejected(Refusal.UNKNOWN_ORDER)
        result = market.cancel_conditional(order.client_order_id, time_ms)
        if isinstance(result, Refusal):
            return Rejected(result)
        return Accepted(order, self._settle(result))

    def cancel_all_algo_orders(self, symbol: str, time_ms: int) -> list[AccountEvent]:
        """DELETE /fapi/v1/algoOpenOrders: the symbol's untriggered algo orders."""
        return _cancel_each(
            self.open_algo_orders(symbol),
            lambda o: self.cancel_algo_order(time_ms, algo_id=o.order_id),
        )

    def query_algo_order(
        self, *, algo_id: int | None = None, client_algo_id: str | None = None
    ) -> tuple[str, BookOrder] | None:
        """Any algo order ever placed, with its symbol (algo endpoints need no symbol)."""
        if algo_id is not None:
            return self._algos.get(algo_id)
        matches = [so for so in self._algos.values() if so[1].client_order_id == client_algo_id]
        return max(matches, key=lambda so: so[1].order_id) if matches else None

    def all_algo_orders(self, symbol: str) -> list[BookOrder]:
        """Every algo order of `symbol` ever accepted, oldest first (refused ones took an id
        too, so the ids have gaps: never walk them by counting)."""
        return sorted((o for s, o in self._algos.values() if s == symbol), key=lambda o: o.order_id)

    def open_algo_orders(self, symbol: str | None = None) -> list[BookOrder]:
        """Untriggered ones and, under the TRIGGERING fault, those held in TRIGGERING."""
        markets = [self.markets[symbol]] if symbol else list(self.markets.values())
        held = [o for m in markets for o in (*m.conditionals.values(), *m.triggering.values())]
        return sorted(held, key=lambda o: o.order_id)

    def hold_triggers(self, hold: bool, time_ms: int) -> list[AccountEvent]:
        """Fault: triggered orders stay in TRIGGERING while `hold`; releasing places their
        children now (what that caused is returned)."""
        events: list[AccountEvent] = []
        for market in self.markets.values():
            if hold:
                market.hold_triggers = True
            else:
                events.extend(self._settle(market.release_triggers(time_ms)))
        return events

    # --- prices and positions -------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal, time_ms: int) -> list[AccountEvent]:
        """One tick of `symbol`: matching runs; what it caused, in order."""
        return list(self._settle(self.markets[symbol].step(price, time_ms)))

    def move_price(
        self,
        symbol: str,
        time_ms: int,
        *,
        trade: Decimal | None = None,
        mark: Decimal | None = None,
    ) -> list[AccountEvent]:
        """A last trade and/or a mark of `symbol` apart: matching runs; what it caused."""
        return list(self._settle(self.markets[symbol].move(time_ms, trade=trade, mark=mark)))

    def open_position(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, time_ms: int
    ) -> list[AccountEvent]:
        """/sim/position: an entry bot's MARKET order (not exitd's), filled at `price`."""
        market = self.markets[symbol]
        mark, last = market.mark_price, market.last_price
        market.mark_price = market.last_price = price  # the fill price, then the old ones
        try:
            order_side = OrderSide.BUY if side is Side.LONG else OrderSide.SELL
            result = self.place_order(symbol, order_side, SimOrderType.MARKET, qty, time_ms)
        finally:
            market.mark_price = price if mark is None else mark
            market.last_price = last
        return list(result.events) if isinstance(result, Accepted) else []

    def position(self, symbol: str) -> Position:
        m = self.markets[symbol]
        return Position(symbol, m.position, m.entry_price, m.realized_pnl, m.mark_price)

    # --- bookkeeping ----------------------------------------------------------------------------

    def _submit(
        self,
        market: SymbolMarket,
        order: BookOrder,
        time_ms: int,
        refusal: Refusal | None,
        check_reduce_only: bool = False,
    ) -> Accepted | Rejected:
        result = refusal or market.submit(order, time_ms, check_reduce_only=check_reduce_only)
        if isinstance(result, Refusal):
            self.ledger.received(market.symbol, order, time_ms, result.value)
            return Rejected(result)
        if order.type.conditional:
            self._algos[order.order_id] = (market.symbol, order)
        else:
            self._orders[market.symbol, order.order_id] = order
        return Accepted(order, self._settle(result))

    def _settle(self, events: list[MarketEvent]) -> tuple[AccountEvent, ...]:
        """Book each event in the ledger and the wallet; a fill adds its balance change."""
        settled: list[AccountEvent] = []
        for event in events:
            settled.append(event)
            if isinstance(event, Trade):
                settled.append(self._book_trade(event))
            elif isinstance(event, OrderOpened):
                self._book_opened(event)
            elif isinstance(event, OrderClosed):
                self.ledger.order_status(
                    event.symbol, event.order_id, event.state.value, event.time_ms
                )
            elif isinstance(event, AlgoChanged):
                self._book_algo(event)
            elif isinstance(event, PositionMoved):
                self.ledger.moved(event)
        return tuple(settled)

    def _book_trade(self, trade: Trade) -> BalanceChanged:
        rate = (MAKER_FEE if trade.maker else TAKER_FEE) if self.commission else _ZERO
        commission = trade.qty * trade.price * rate
        self.wallet_balance += trade.realized_pnl - commission
        self.ledger.filled(trade, commission)
        return BalanceChanged(
            trade.symbol, self.wallet_balance, trade.realized_pnl, commission, trade.time_ms
        )

    def _book_opened(self, event: OrderOpened) -> None:
        market = self.markets[event.symbol]
        order = self._orders.get((event.symbol, event.order_id))
        if order is None:  # a triggered algo order's child
            order = market.children[event.order_id]
            self._orders[event.symbol, event.order_id] = order
        self.ledger.received(event.symbol, order, event.time_ms)

    def _book_algo(self, event: AlgoChanged) -> None:
        if event.status is AlgoStatus.NEW:  # _submit indexed it before settling
            self.ledger.received(event.symbol, self._algos[event.algo_id][1], event.time_ms)
        else:
            self.ledger.algo_status(event.algo_id, event.status.value, event.time_ms)

    def _order_id(self) -> int:
        self._next_order_id += 1
        return self._next_order_id - 1


def _cancel_each(
    orders: list[BookOrder], cancel: Callable[[BookOrder], Accepted | Rejected]
) -> list[AccountEvent]:
    """Cancel every order of `orders`; what the cancels caused, in order."""
    events: list[AccountEvent] = []
    for order in orders:
        result = cancel(order)
        if isinstance(result, Accepted):
            events.extend(result.events)
    return events
