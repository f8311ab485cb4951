"""The simulator's ledger: everything an invariant checker needs, and nothing it must trust.

It records every order ever received (refused ones included), every status each went through
with its time, every fill and every position the account held, per symbol. It only appends:
matching and the account are the truth, the ledger their history (GET /sim/ledger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from exitd.engine.model import OrderSide
from exitd.exchange.sim.book import BookOrder, PositionMoved, Trade


@dataclass(frozen=True, slots=True)
class StatusStep:
    status: str  # an OrderState or AlgoStatus value
    time_ms: int


@dataclass(slots=True)
class LedgerOrder:
    """One order as received; `order_id` is the algoId of a conditional one, None if refused."""

    symbol: str
    algo: bool
    order_id: int | None
    client_order_id: str
    type: str
    side: OrderSide
    quantity: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    close_position: bool
    time_in_force: str
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    parent_algo_id: int | None = None  # a triggered order's child
    refusal: str | None = None
    history: list[StatusStep] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.history[-1].status


@dataclass(frozen=True, slots=True)
class LedgerFill:
    symbol: str
    trade_id: int
    order_id: int
    client_order_id: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    realized_pnl: Decimal
    commission: Decimal
    maker: bool
    time_ms: int


@dataclass(slots=True)
class Ledger:
    orders: list[LedgerOrder] = field(default_factory=list)
    fills: list[LedgerFill] = field(default_factory=list)
    positions: dict[str, list[PositionMoved]] = field(default_factory=dict)
    _regular: dict[tuple[str, int], LedgerOrder] = field(default_factory=dict)
    _algos: dict[int, LedgerOrder] = field(default_factory=dict)

    def received(
        self, symbol: str, order: BookOrder, time_ms: int, refusal: str | None = None
    ) -> None:
        """An order arrived: NEW (REJECTED when refused; then it never got an id)."""
        algo = order.type.conditional
        entry = LedgerOrder(
            symbol,
            algo,
            None if refusal else order.order_id,
            order.client_order_id,
            order.type.value,
            order.side,
            order.quantity,
            order.price,
            order.trigger_price,
            order.reduce_only,
            order.close_position,
            order.time_in_force.value,
            order.activation_price,
            order.callback_rate,
            order.algo_id,
            refusal,
        )
        entry.history.append(StatusStep("REJECTED" if refusal else "NEW", time_ms))
        self.orders.append(entry)
        if refusal is not None:
            return
        if algo:
            self._algos[order.order_id] = entry
        else:
            self._regular[symbol, order.order_id] = entry

    def algo_status(self, algo_id: int, status: str, time_ms: int) -> None:
        self._algos[algo_id].history.append(StatusStep(status, time_ms))

    def order_status(self, symbol: str, order_id: int, status: str, time_ms: int) -> None:
        self._regular[symbol, order_id].history.append(StatusStep(status, time_ms))

    def knows(self, symbol: str, order_id: int) -> bool:
        return (symbol, order_id) in self._regular

    def filled(self, trade: Trade, commission: Decimal) -> None:
        self.fills.append(
            LedgerFill(
                trade.symbol,
                trade.trade_id,
                trade.order_id,
                trade.client_order_id,
                trade.side,
                trade.qty,
                trade.price,
                trade.realized_pnl,
                commission,
                trade.maker,
                trade.time_ms,
            )
        )
        self.order_status(trade.symbol, trade.order_id, trade.order_state.value, trade.time_ms)

    def moved(self, event: PositionMoved) -> None:
        self.positions.setdefault(event.symbol, []).append(event)
