"""Random orders, prices (gaps included) and cancels against SimAccount; what must always hold."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim.account import (
    MAX_OPEN_CONDITIONAL,
    Accepted,
    AlgoParams,
    Rejected,
    SimAccount,
)
from exitd.exchange.sim.book import (
    AlgoStatus,
    OrderState,
    PositionMoved,
    Refusal,
    SimOrderType,
    TimeInForce,
    Trade,
)

SYMBOL = "BTCUSDT"
T = SimOrderType
sides = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
prices = st.integers(80, 120).map(D)
qtys = st.integers(1, 4).map(D)
_ALGO_ORDER = ["NEW", "TRIGGERING", "TRIGGERED"]
_ORDER_ORDER = ["NEW", "PARTIALLY_FILLED"]


class AccountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.acc = SimAccount([SYMBOL])
        self.time = 0
        self.acc.set_price(SYMBOL, D(100), 0)
        self.fills: dict[int, D] = {}  # order id -> Σ its fills
        self.ended: set[int] = set()  # orders that may never fill again

    def _apply(self, events: tuple[object, ...] | list[object], before: D) -> None:
        """Check each fill against what it may do, then record it."""
        position = before
        for event in events:
            if isinstance(event, Trade):
                assert event.order_id not in self.ended, "a closed order filled again"
                order = self.acc.query_order(SYMBOL, order_id=event.order_id)
                assert order is not None
                signed = event.qty if event.side is OrderSide.BUY else -event.qty
                if order.reduce_only or order.close_position:
                    assert abs(position + signed) <= abs(position), "reduce-only grew"
                    assert (position + signed) * position >= 0, "reduce-only flipped"
                position += signed
                assert event.position_after == position, "fills do not conserve quantity"
                self.fills[event.order_id] = self.fills.get(event.order_id, D(0)) + event.qty
                if order.close_position:
                    assert position == 0, "a close-position fill left a position"
                if event.order_state is OrderState.FILLED:
                    self.ended.add(event.order_id)
            elif isinstance(event, PositionMoved):
                assert event.amount == position
        for order in self.acc.all_orders():
            if not order.state.open:
                self.ended.add(order.order_id)

    def _tick(self) -> int:
        self.time += 1
        return self.time

    @rule(price=prices)
    def price(self, price: D) -> None:
        before = self.acc.position(SYMBOL).amount
        self._apply(self.acc.set_price(SYMBOL, price, self._tick()), before)

    @rule(
        side=sides,
        qty=qtys,
        price=prices,
        kind=st.sampled_from([T.LIMIT, T.MARKET]),
        reduce_only=st.booleans(),
        tif=st.sampled_from(["GTC", "IOC", "FOK", "GTX"]),
    )
    def order(
        self, *, side: OrderSide, qty: D, price: D, kind: T, reduce_only: bool, tif: str
    ) -> None:
        before = self.acc.position(SYMBOL).amount
        already = sum(
            (o.remaining for o in self.acc.open_orders() if o.reduce_only and o.side is side), D(0)
        )
        result = self.acc.place_order(
            SYMBOL,
            side,
            kind,
            qty,
            self._tick(),
            price=price if kind is T.LIMIT else None,
            time_in_force=TimeInForce(tif),
            reduce_only=reduce_only,
        )
        if reduce_only:  # Binance's rule: the position, less the open reduce-only orders; a
            # MARKET for the whole position or more goes first (reduce_only.py)
            sign = 1 if side is OrderSide.BUY else -1
            whole = kind is T.MARKET and qty >= abs(before)
            allowed = before * sign < 0 and (qty + already <= abs(before) or whole)
            if not allowed:
                assert isinstance(result, Rejected), "a reduce-only order beyond the position"
                assert result.refusal in (Refusal.REDUCE_ONLY, Refusal.REDUCE_ONLY_EXCEEDS)
            elif isinstance(result, Rejected):
                assert result.refusal not in (Refusal.REDUCE_ONLY, Refusal.REDUCE_ONLY_EXCEEDS)
        if isinstance(result, Accepted):
            self._apply(result.events, before)
        if reduce_only:
            after = self.acc.position(SYMBOL).amount
            assert after * before >= 0 and abs(after) <= abs(before), "reduce-only grew or flipped"

    @rule(
        side=sides,
        qty=qtys,
        trigger=prices,
        limit=prices,
        cb=st.integers(1, 5).map(D),
        kind=st.sampled_from(
            [T.STOP_MARKET, T.TAKE_PROFIT_MARKET, T.STOP, T.TAKE_PROFIT, T.TRAILING_STOP_MARKET]
        ),
        mode=st.sampled_from(["reduce", "close", "open"]),
    )
    def algo(
        self, *, side: OrderSide, qty: D, trigger: D, limit: D, cb: D, kind: T, mode: str
    ) -> None:
        close = mode == "close" and kind in (T.STOP_MARKET, T.TAKE_PROFIT_MARKET)
        trailing = kind is T.TRAILING_STOP_MARKET
        params = AlgoParams(
            trigger_price=None if trailing else trigger,
            price=limit if kind in (T.STOP, T.TAKE_PROFIT) else None,
            close_position=close,
            reduce_only=mode == "reduce",
            activation_price=trigger if trailing else None,
            callback_rate=cb if trailing else None,
        )
        result = self.acc.place_algo_order(
            SYMBOL, side, kind, None if close else qty, self._tick(), params=params
        )
        if isinstance(result, Accepted):
            self._apply(result.events, self.acc.position(SYMBOL).amount)

    @rule(side=st.sampled_from([Side.LONG, Side.SHORT]), qty=qtys, price=prices)
    def entry(self, side: Side, qty: D, price: D) -> None:
        before = self.acc.position(SYMBOL).amount
        self._apply(self.acc.open_position(SYMBOL, side, qty, price, self._tick()), before)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        regular, algos = self.acc.open_orders(), self.acc.open_algo_orders()
        if regular and data.draw(st.booleans()):
            order = data.draw(st.sampled_from(regular))
            self.acc.cancel_order(SYMBOL, self._tick(), order_id=order.order_id)
            self.ended.add(order.order_id)
        elif algos:
            algo = data.draw(st.sampled_from(algos))
            self.acc.cancel_algo_order(self._tick(), algo_id=algo.order_id)

    @invariant()
    def executed_matches_fills(self) -> None:
        for order in self.acc.all_orders():
            assert order.executed_qty == self.fills.get(order.order_id, D(0))
            assert order.executed_qty <= order.quantity

    @invariant()
    def position_is_the_sum_of_fills(self) -> None:
        signed = sum(
            (f.qty if f.side is OrderSide.BUY else -f.qty for f in self.acc.ledger.fills), D(0)
        )
        assert signed == self.acc.position(SYMBOL).amount

    @invariant()
    def open_conditionals_within_the_limit(self) -> None:
        algos = self.acc.open_algo_orders()
        assert len(algos) <= MAX_OPEN_CONDITIONAL
        assert all(a.algo_status is AlgoStatus.NEW for a in algos)

    @invariant()
    def flat_leaves_no_close_position_stop(self) -> None:
        """Good-till-position: close-position stops go with the position (plain reduce-only
        orders may stay, as on Binance)."""
        if self.acc.position(SYMBOL).amount == 0:
            assert not [a for a in self.acc.open_algo_orders() if a.close_position]

    @invariant()
    def histories_only_move_forward(self) -> None:
        for entry in self.acc.ledger.orders:
            steps = [s.status for s in entry.history]
            order = _ALGO_ORDER if entry.algo else _ORDER_ORDER
            live, end = steps[:-1], steps[-1]
            assert all(s in order for s in live), steps
            ranks = [order.index(s) for s in live]
            assert ranks == sorted(ranks), steps
            assert entry.algo or steps.count("NEW") <= 1, steps
            times = [s.time_ms for s in entry.history]
            assert times == sorted(times), entry
            assert end not in ("TRIGGERING",), steps


AccountMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAccountMachine = AccountMachine.TestCase
