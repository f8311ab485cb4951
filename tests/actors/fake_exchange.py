"""An in-memory exchange behind the `Exchange` port, for the actor tests (sans-I/O).

Every `place`, `cancel` and `query` parks as a `PendingCall` until the test decides its fate
(RELIABILITY.md §3, harness layer 2): `deliver` executes it and answers, `drop_after_execute`
executes it but answers `Unknown` (the response was lost), `drop_before_execute` answers
`Unknown` without executing (the request was lost), `refuse` answers `Rejected` without
executing (a 429, a clock error). With `parking=False` every call is delivered at once. A
write delivered later than its recvWindow after it arrived is refused (-1021), as Binance does.

The book follows Binance where the daemon's safety depends on it: a client id is unique only
among OPEN orders of its endpoint (re-using the id of a closed order creates a second order,
re-using an open one is `DUPLICATE_ID`), reduce-only and close-position orders need a position
to close, a stop already through the mark price is refused (-2021), one close-position stop
per side, 200 open conditional orders per account. Every
call and every resolution is stamped from one counter, so tests can check what happened
before what; `log` is append-only.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

import anyio

from exitd.engine.model import OrderSide, SymbolFilters
from exitd.exchange.port import (
    Accepted,
    ExchangeUnavailable,
    MarketEvent,
    MarkPrice,
    NotFound,
    OrderRequest,
    OrderState,
    OrderView,
    PositionView,
    QueryOutcome,
    RateUsage,
    Rejected,
    RejectKind,
    StreamReset,
    Unknown,
    UserEvent,
    WriteOutcome,
)

CONDITIONAL_CAP = 200
_CODES = {
    RejectKind.DUPLICATE_ID: -4116,
    RejectKind.REDUCE_ONLY: -2022,
    RejectKind.CLOSE_POSITION_EXISTS: -4130,
    RejectKind.NO_POSITION: -4509,
    RejectKind.TOO_MANY_ORDERS: -4045,
    RejectKind.NOT_FOUND: -2011,
    RejectKind.RATE_LIMITED: -1003,
    RejectKind.CLOCK: -1021,
    RejectKind.WOULD_TRIGGER: -2021,
}


class Method(Enum):
    PLACE = "place"
    CANCEL = "cancel"
    QUERY = "query"


class Fate(Enum):
    DELIVER = "deliver"
    DROP_AFTER_EXECUTE = "drop_after_execute"
    DROP_BEFORE_EXECUTE = "drop_before_execute"
    REFUSE = "refuse"


@dataclass(eq=False)
class PendingCall:
    """One request as the fake received it; `outcome` is set once the test resolves it."""

    method: Method
    symbol: str
    client_order_id: str
    conditional: bool
    order: OrderRequest | None
    arrived: int
    arrived_ms: int
    resolved: int | None = None
    fate: Fate | None = None
    outcome: WriteOutcome | QueryOutcome | None = None
    # The caller is done with it: answered, or cancelled while it waited.
    returned: bool = False
    _done: anyio.Event = field(default_factory=anyio.Event)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A resolved call: what was asked, what was answered, whether the book saw it."""

    seq: int
    call: PendingCall
    fate: Fate
    executed: bool
    outcome: WriteOutcome | QueryOutcome


@dataclass(eq=False)
class _Order:
    request: OrderRequest
    exchange_id: str
    state: OrderState
    filled_qty: Decimal
    update_ms: int

    def view(self) -> OrderView:
        r = self.request
        return OrderView(
            symbol=r.symbol,
            client_order_id=r.client_order_id,
            exchange_id=self.exchange_id,
            side=r.side,
            type=r.type,
            state=self.state,
            conditional=r.conditional,
            quantity=r.quantity,
            filled_qty=self.filled_qty,
            price=r.price,
            trigger_price=r.trigger_price,
            reduce_only=r.reduce_only,
            close_position=r.close_position,
            update_ms=self.update_ms,
        )


class _Stream:
    """The market stream, stubbed: subscriptions are kept, no event ever comes."""

    def __init__(self) -> None:
        self.symbols: set[str] = set()

    async def subscribe(self, symbols: Sequence[str]) -> None:
        self.symbols.update(symbols)

    async def unsubscribe(self, symbols: Sequence[str]) -> None:
        self.symbols.difference_update(symbols)

    async def run(self, deliver: Callable[[MarketEvent], None]) -> None:
        await anyio.sleep_forever()


class FakeExchange:
    """Orders, positions and a request log in memory; the test decides each call's fate."""

    def __init__(
        self,
        *,
        parking: bool = True,
        filters: Mapping[str, SymbolFilters] | None = None,
        marks: Mapping[str, Decimal] | None = None,
        recv_window_ms: int = 5000,
    ) -> None:
        self.parking = parking
        self.recv_window_ms = recv_window_ms
        self.filters = dict(filters or {})
        self.marks = dict(marks or {})
        self.now_ms = 0
        # Attached to every write outcome, as Binance's X-MBX-* headers would be.
        self.usage: RateUsage | None = None
        self.pending: list[PendingCall] = []
        self.calls: list[PendingCall] = []
        self.log: list[LogEntry] = []
        self.created: list[str] = []  # client ids, once per order `place` created
        self._orders: list[_Order] = []
        self._positions: dict[str, PositionView] = {}
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._closed = anyio.Event()

    def stamp(self) -> int:
        """The next number of the counter every call and resolution is stamped with."""
        return next(self._seq)

    # --- the port -----------------------------------------------------------------------------

    async def place(self, order: OrderRequest) -> WriteOutcome:
        call = self._arrive(Method.PLACE, order.symbol, order.client_order_id, order.conditional)
        call.order = order
        outcome = await self._await(call)
        assert not isinstance(outcome, OrderView | NotFound)
        return outcome

    async def cancel(self, symbol: str, client_order_id: str, conditional: bool) -> WriteOutcome:
        outcome = await self._await(
            self._arrive(Method.CANCEL, symbol, client_order_id, conditional)
        )
        assert not isinstance(outcome, OrderView | NotFound)
        return outcome

    async def query(self, symbol: str, client_order_id: str, conditional: bool) -> QueryOutcome:
        outcome = await self._await(
            self._arrive(Method.QUERY, symbol, client_order_id, conditional)
        )
        assert not isinstance(outcome, Accepted)
        return outcome

    async def open_orders(self) -> Sequence[OrderView]:
        return [o.view() for o in self._orders if o.state.open]

    async def positions(self) -> Sequence[PositionView]:
        return [p for p in self._positions.values() if p.amount != 0]

    async def symbol_filters(self) -> Mapping[str, SymbolFilters]:
        return dict(self.filters)

    async def mark_price(self, symbol: str) -> MarkPrice:
        if symbol not in self.marks:
            raise ExchangeUnavailable(f"no mark price for {symbol}")
        return MarkPrice(symbol, self.marks[symbol], self.now_ms)

    def market_stream(self) -> _Stream:
        return _Stream()

    async def user_events(self) -> AsyncIterator[UserEvent]:
        yield StreamReset("connected")
        await self._closed.wait()

    async def aclose(self) -> None:
        self._closed.set()

    # --- the test's hands: fates --------------------------------------------------------------

    def deliver(self, i: int) -> None:
        self.resolve(i, Fate.DELIVER)

    def drop_after_execute(self, i: int) -> None:
        self.resolve(i, Fate.DROP_AFTER_EXECUTE)

    def drop_before_execute(self, i: int) -> None:
        self.resolve(i, Fate.DROP_BEFORE_EXECUTE)

    def refuse(self, i: int, kind: RejectKind, retry_after_s: float | None = None) -> None:
        self.resolve(i, Fate.REFUSE, kind, retry_after_s)

    def resolve(
        self,
        i: int,
        fate: Fate,
        kind: RejectKind = RejectKind.RATE_LIMITED,
        retry_after_s: float | None = None,
    ) -> None:
        """Answer the `i`-th pending call (in arrival order) with `fate`."""
        call = self.pending.pop(i)
        executed = fate in (Fate.DELIVER, Fate.DROP_AFTER_EXECUTE)
        outcome: WriteOutcome | QueryOutcome
        if fate is Fate.REFUSE:
            outcome = Rejected(kind, f"refused by the test: {kind.value}", _CODES.get(kind))
            if retry_after_s is not None:
                outcome = Rejected(kind, outcome.reason, outcome.code, retry_after_s)
        elif fate is Fate.DROP_BEFORE_EXECUTE:
            outcome = Unknown("request lost before the exchange")
        elif (
            call.method is not Method.QUERY and self.now_ms > call.arrived_ms + self.recv_window_ms
        ):
            # Binance refuses a signed request that reaches it after its recvWindow.
            executed = False
            outcome = _rejected(
                RejectKind.CLOCK, "Timestamp for this request is outside of the recvWindow."
            )
            if fate is Fate.DROP_AFTER_EXECUTE:
                outcome = Unknown("response lost")
        else:
            outcome = self._execute(call)
            if fate is Fate.DROP_AFTER_EXECUTE:
                outcome = Unknown("response lost after the exchange executed it")
        if call.method is not Method.QUERY and self.usage is not None:
            assert not isinstance(outcome, OrderView | NotFound)
            outcome = _with_usage(outcome, self.usage)
        call.resolved = self.stamp()
        call.fate = fate
        call.outcome = outcome
        self.log.append(LogEntry(call.resolved, call, fate, executed, outcome))
        call._done.set()

    # --- the test's hands: the market ---------------------------------------------------------

    def set_position(
        self, symbol: str, amount: Decimal, entry_price: Decimal = Decimal(100)
    ) -> None:
        self._positions[symbol] = PositionView(symbol, amount, entry_price, self.now_ms)

    def position(self, symbol: str) -> Decimal:
        held = self._positions.get(symbol)
        return held.amount if held is not None else Decimal(0)

    def fill(
        self, client_order_id: str, conditional: bool, qty: Decimal | None = None
    ) -> OrderView:
        """The open order with this id fills: whole (a take-profit hit, a stop triggered), or
        `qty` of it (a limit partly filled). A triggered stop executes once: what the position
        cannot take of it expires with it."""
        order = self._open(client_order_id, conditional)
        assert order is not None, f"no open order {client_order_id}"
        request = order.request
        held = self.position(request.symbol)
        remaining = abs(held) if request.close_position else (request.quantity or Decimal(0))
        remaining -= Decimal(0) if request.close_position else order.filled_qty
        qty = min(remaining if qty is None else qty, abs(held))
        self._reduce(request.symbol, qty)
        order.filled_qty += qty
        if conditional:
            order.state = OrderState.FINISHED
        elif qty >= remaining:
            order.state = OrderState.FILLED
        else:
            order.state = OrderState.PARTIALLY_FILLED
        order.update_ms = self.now_ms
        return order.view()

    def expire(self, client_order_id: str, conditional: bool) -> OrderView:
        """The exchange removes the open order itself (a close-position stop when the position
        closes, a reduce-only order the position can no longer take)."""
        order = self._open(client_order_id, conditional)
        assert order is not None, f"no open order {client_order_id}"
        order.state = OrderState.EXPIRED
        order.update_ms = self.now_ms
        return order.view()

    def rest(self, request: OrderRequest) -> OrderView:
        """An order put on the book by someone else (the app, another bot), unchecked."""
        prefix = "algo-" if request.conditional else ""
        order = _Order(
            request, f"{prefix}{next(self._ids)}", OrderState.NEW, Decimal(0), self.now_ms
        )
        self._orders.append(order)
        return order.view()

    def cancel_by_hand(self, client_order_id: str, conditional: bool) -> None:
        order = self._open(client_order_id, conditional)
        assert order is not None, f"no open order {client_order_id}"
        order.state = OrderState.CANCELED
        order.update_ms = self.now_ms

    def position_view(self, symbol: str) -> PositionView | None:
        return self._positions.get(symbol)

    def book(self) -> list[OrderView]:
        """Every order the book ever held, in the order they came."""
        return [o.view() for o in self._orders]

    def orders(self, client_order_id: str) -> list[OrderView]:
        """Every order the book ever held with this id, oldest first."""
        return [o.view() for o in self._orders if o.request.client_order_id == client_order_id]

    # --- inside -------------------------------------------------------------------------------

    def _arrive(self, method: Method, symbol: str, cid: str, conditional: bool) -> PendingCall:
        call = PendingCall(method, symbol, cid, conditional, None, self.stamp(), self.now_ms)
        self.calls.append(call)
        self.pending.append(call)
        return call

    async def _await(self, call: PendingCall) -> WriteOutcome | QueryOutcome:
        if not self.parking:
            self.deliver(self.pending.index(call))
        try:
            await call._done.wait()
        finally:  # answered, or the caller gave up (cancelled): the request stays parked
            call.returned = True
        assert call.outcome is not None
        return call.outcome

    def _execute(self, call: PendingCall) -> WriteOutcome | QueryOutcome:
        if call.method is Method.QUERY:
            found = [
                o
                for o in self._orders
                if o.request.client_order_id == call.client_order_id
                and o.request.conditional == call.conditional
            ]
            return found[-1].view() if found else NotFound()
        if call.method is Method.CANCEL:
            order = self._open(call.client_order_id, call.conditional)
            if order is None:
                return _rejected(RejectKind.NOT_FOUND, "Unknown order sent.")
            order.state = OrderState.CANCELED
            order.update_ms = self.now_ms
            return Accepted(order.view())
        assert call.order is not None
        return self._place(call.order)

    def _place(self, request: OrderRequest) -> WriteOutcome:
        if self._open(request.client_order_id, request.conditional) is not None:
            return _rejected(RejectKind.DUPLICATE_ID, "clientOrderId is duplicated.")
        held = self.position(request.symbol)
        closing = OrderSide.SELL if held > 0 else OrderSide.BUY
        if request.close_position and held == 0:
            return _rejected(RejectKind.NO_POSITION, "no position to close")
        if (request.reduce_only or request.close_position) and (
            held == 0 or request.side is not closing
        ):
            return _rejected(RejectKind.REDUCE_ONLY, "ReduceOnly Order is rejected.")
        if request.close_position and any(
            o.state.open
            and o.request.close_position
            and o.request.symbol == request.symbol
            and o.request.side is request.side
            for o in self._orders
        ):
            return _rejected(RejectKind.CLOSE_POSITION_EXISTS, "closePosition stop exists")
        mark = self.marks.get(request.symbol)
        trigger = request.trigger_price
        through = (
            request.type == "STOP_MARKET"
            and mark is not None
            and trigger is not None
            and ((mark <= trigger) if request.side is OrderSide.SELL else (mark >= trigger))
        )
        if through:
            return _rejected(RejectKind.WOULD_TRIGGER, "Order would immediately trigger.")
        if request.conditional and self.open_conditional() >= CONDITIONAL_CAP:
            return _rejected(RejectKind.TOO_MANY_ORDERS, "Reach max stop order limit.")
        prefix = "algo-" if request.conditional else ""
        order = _Order(
            request, f"{prefix}{next(self._ids)}", OrderState.NEW, Decimal(0), self.now_ms
        )
        self._orders.append(order)
        self.created.append(request.client_order_id)
        if request.type == "MARKET":
            wanted = request.quantity or Decimal(0)
            qty = min(wanted, abs(held))
            self._reduce(request.symbol, qty)
            order.filled_qty = qty
            # Reduce-only: what the position cannot take expires (Binance's er=9).
            order.state = OrderState.FILLED if qty == wanted else OrderState.EXPIRED
        return Accepted(order.view())

    def open_conditional(self) -> int:
        return sum(1 for o in self._orders if o.state.open and o.request.conditional)

    def _open(self, cid: str, conditional: bool) -> _Order | None:
        for order in self._orders:
            r = order.request
            if order.state.open and r.client_order_id == cid and r.conditional == conditional:
                return order
        return None

    def _reduce(self, symbol: str, qty: Decimal) -> None:
        held = self.position(symbol)
        amount = held - qty if held > 0 else held + qty
        entry = self._positions[symbol].entry_price if symbol in self._positions else Decimal(0)
        self.set_position(symbol, amount, entry)


def _rejected(kind: RejectKind, reason: str) -> Rejected:
    return Rejected(kind, reason, _CODES.get(kind))


def _with_usage(outcome: WriteOutcome, usage: RateUsage) -> WriteOutcome:
    if isinstance(outcome, Accepted):
        return Accepted(outcome.order, usage)
    if isinstance(outcome, Rejected):
        return Rejected(outcome.kind, outcome.reason, outcome.code, outcome.retry_after_s, usage)
    return Unknown(outcome.reason, usage)
