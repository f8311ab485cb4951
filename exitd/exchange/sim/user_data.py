"""What the account's events look like on its user-data stream: the ordered list of
(event type, payload) one `publish_account` call sends.

The account's records (`BookOrder`) are mutable and have already reached their final state
when a call's events are encoded, so this module rebuilds each order's cumulative fill and
each symbol's accumulated P&L *as of each event* by walking the batch backwards from the
final values. It owns that bookkeeping; it never sends anything.

The wire order is the one live logs show, not the causal one (binance-usdm.md §14): per trade
TRADE_LITE, then ACCOUNT_UPDATE m=ORDER (the USDT balance and the one position that moved:
Binance pushes only changed ones), then ORDER_TRADE_UPDATE x=TRADE (node-binance-api#948);
a triggered algo order's ALGO_UPDATE TRIGGERED comes after its child's ORDER_TRADE_UPDATEs
of that moment (nautilus_trader#3664). Under the `shuffle_events` fault the account carries
an RNG and one moment's events go out in the order it draws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from exitd.exchange.sim import events as enc
from exitd.exchange.sim.account import AccountEvent, BalanceChanged, SimAccount
from exitd.exchange.sim.book import (
    AlgoChanged,
    AlgoStatus,
    BookOrder,
    OrderClosed,
    OrderOpened,
    OrderState,
    PositionMoved,
    Trade,
)

_ZERO = Decimal(0)
Encoded = tuple[str, enc.Payload]


class _Fills:
    """Each order's executed quantity and notional, replayed forward through one batch."""

    def __init__(self, batch: Sequence[AccountEvent], account: SimAccount) -> None:
        self._qty: dict[tuple[str, int], Decimal] = {}
        self._notional: dict[tuple[str, int], Decimal] = {}
        self.realized: dict[str, Decimal] = {}
        later_qty: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        later_notional: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        later_pnl: dict[str, Decimal] = defaultdict(Decimal)
        for event in batch:
            if isinstance(event, Trade):
                key = (event.symbol, event.order_id)
                later_qty[key] += event.qty
                later_notional[key] += event.qty * event.price
                later_pnl[event.symbol] += event.realized_pnl
        self._account = account
        self._later_qty, self._later_notional = later_qty, later_notional
        for symbol, pnl in later_pnl.items():
            self.realized[symbol] = account.markets[symbol].realized_pnl - pnl

    def start(self, symbol: str, order: BookOrder) -> None:
        """Take the order's values before this batch, once."""
        key = (symbol, order.order_id)
        if key not in self._qty:
            later = self._later_qty.get(key, _ZERO)
            self._qty[key] = order.executed_qty - later
            notional = order.avg_price * order.executed_qty
            self._notional[key] = notional - self._later_notional.get(key, _ZERO)

    def add(self, trade: Trade) -> None:
        key = (trade.symbol, trade.order_id)
        self._qty[key] += trade.qty
        self._notional[key] += trade.qty * trade.price
        self.realized[trade.symbol] = self.realized.get(trade.symbol, _ZERO) + trade.realized_pnl

    def filled(self, symbol: str, order_id: int) -> tuple[Decimal, Decimal]:
        """(cumulative quantity, average price) now."""
        qty = self._qty[symbol, order_id]
        return qty, (self._notional[symbol, order_id] / qty if qty else _ZERO)


class UserDataFeed:
    """Turns account events into user-data payloads."""

    def encode(
        self, batch: Sequence[AccountEvent], account: SimAccount, event_ms: int
    ) -> list[Encoded]:
        fills = _Fills(batch, account)
        out: list[Encoded] = []
        after_position: list[Encoded] = []  # a fill's ORDER_TRADE_UPDATE, after ACCOUNT_UPDATE
        triggered: list[Encoded] = []  # TRIGGERED, after the child's events of this moment
        wallet = account.wallet_balance
        price = _ZERO
        for index, event in enumerate(batch):
            if isinstance(event, BalanceChanged):
                wallet = event.wallet_balance
            elif isinstance(event, Trade):
                price = event.price
                commission = _commission(batch, index)
                lite, update = self._trade(event, account, fills, commission, event_ms)
                out.append(lite)
                after_position.append(update)
            elif isinstance(event, OrderOpened | OrderClosed):
                out.append(self._order_event(event, account, fills, event_ms))
            elif isinstance(event, AlgoChanged):
                out.extend(after_position + triggered)
                after_position, triggered = [], []
                algo = self._algo(event, account, event_ms)
                (triggered if event.status is AlgoStatus.TRIGGERED else out).append(algo)
            elif isinstance(event, PositionMoved):
                out.append(_account_update(event, wallet, price, fills, event_ms))
                out.extend(after_position)
                after_position = []
        out.extend(after_position + triggered)
        if account.event_shuffle is not None:
            account.event_shuffle.shuffle(out)
        return out

    def _trade(
        self,
        trade: Trade,
        account: SimAccount,
        fills: _Fills,
        commission: Decimal,
        event_ms: int,
    ) -> tuple[Encoded, Encoded]:
        order, parent = _order(account, trade.symbol, trade.order_id)
        fills.start(trade.symbol, order)
        fills.add(trade)
        qty, avg = fills.filled(trade.symbol, trade.order_id)
        execution = enc.Execution("TRADE", trade.order_state, qty, avg, trade, commission)
        return (
            ("TRADE_LITE", enc.trade_lite(trade.symbol, order, trade, event_ms)),
            (
                "ORDER_TRADE_UPDATE",
                enc.order_trade_update(trade.symbol, order, execution, event_ms, parent),
            ),
        )

    def _order_event(
        self, event: OrderOpened | OrderClosed, account: SimAccount, fills: _Fills, event_ms: int
    ) -> Encoded:
        order, parent = _order(account, event.symbol, event.order_id)
        fills.start(event.symbol, order)
        qty, avg = fills.filled(event.symbol, event.order_id)
        if isinstance(event, OrderOpened):
            execution = enc.Execution("NEW", OrderState.NEW, qty, avg)
        else:
            execution = enc.Execution(event.state.value, event.state, qty, avg)
        payload = enc.order_trade_update(event.symbol, order, execution, event_ms, parent)
        payload["T"] = payload["o"]["T"] = event.time_ms
        return "ORDER_TRADE_UPDATE", payload

    def _algo(self, event: AlgoChanged, account: SimAccount, event_ms: int) -> Encoded:
        found = account.query_algo_order(algo_id=event.algo_id)
        assert found is not None, "the account reported an algo order it does not know"
        symbol, algo = found
        done = event.status is AlgoStatus.FINISHED
        view = enc.AlgoView(
            event.status,
            event_ms,
            0 if event.status is AlgoStatus.NEW else algo.trigger_ms,  # a NEW one had not yet
            event.actual_order_id,
            algo.executed_qty if done else _ZERO,
            algo.avg_price if done else _ZERO,
        )
        return "ALGO_UPDATE", enc.algo_update(symbol, algo, view, event.time_ms)


def _commission(batch: Sequence[AccountEvent], index: int) -> Decimal:
    """What the account charged for the trade at `index` (the BalanceChanged after it)."""
    following = batch[index + 1] if index + 1 < len(batch) else None
    return following.commission if isinstance(following, BalanceChanged) else _ZERO


def _order(account: SimAccount, symbol: str, order_id: int) -> tuple[BookOrder, BookOrder | None]:
    """The order and, for a triggered algo order's child, its parent."""
    order = account.query_order(symbol, order_id=order_id)
    assert order is not None, "the account reported an order it does not know"
    parent = None
    if order.algo_id is not None:
        found = account.query_algo_order(algo_id=order.algo_id)
        parent = found[1] if found else None
    return order, parent


def _account_update(
    moved: PositionMoved, wallet: Decimal, price: Decimal, fills: _Fills, event_ms: int
) -> Encoded:
    """The position as the trade before it left it, marked at that trade's price (the
    sim's mark is the last trade)."""
    realized = fills.realized.get(moved.symbol, _ZERO)
    mark = price or moved.entry_price
    position = enc.PositionView(moved.symbol, moved.amount, moved.entry_price, realized, mark)
    return "ACCOUNT_UPDATE", enc.account_update(wallet, [position], event_ms, moved.time_ms)


__all__ = ["Encoded", "UserDataFeed"]
