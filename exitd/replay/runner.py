"""`exitd replay`'s loop: the exit engine and the simulator's matching over a price path.

Tick-synchronous, as SPEC-exits.md defines it: at each tick the matching fills what rests
(step 1), then the engine sees the fills and the price together and sends what the plan now
wants (step 2); its orders are answered at once and rest from the next tick on. The same
engine and the same matching serve the live daemon and the simulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from exitd.engine import (
    CancelOrder,
    Event,
    ExitPlan,
    ExitState,
    Fill,
    Notice,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderSide,
    PlaceOrder,
    PositionChanged,
    RejectReason,
    Request,
    Tick,
    adopt,
    decide,
    decide_all,
)
from exitd.exchange.sim import BookOrder, OrderClosed, Outcome, Refusal, SymbolMarket, Trade
from exitd.exchange.sim.book import SimOrderType

# Answers to answers: a plan settles in a few rounds; more means the engine is looping.
_MAX_ROUNDS_PER_TICK = 64
_ENTRY_ID = "replay-entry"


class ReplayLoopError(RuntimeError):
    """The engine kept asking for orders within one tick: a bug, never a market condition."""


@dataclass(frozen=True, slots=True)
class ExitFill:
    """One exit: which leg filled, when, at what price, for how much."""

    time_ms: int
    leg: str
    price: Decimal
    qty: Decimal
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class StopMove:
    """A stop leg rests at `trigger_price` from `time_ms` on; None: from then on it is gone.

    A ratchet is a new StopMove of the same leg; the list of them is the stop's step line.
    """

    time_ms: int
    leg: str
    trigger_price: Decimal | None


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """Where the replay ended: the engine's last state and what the ticks covered."""

    state: ExitState
    ticks: int
    last_tick: Tick


class Replay:
    """One position replayed from its entry tick; iterate `run()` for exits as they happen."""

    def __init__(self, plan: ExitPlan, slippage_pct: Decimal = Decimal(0)) -> None:
        self.plan = plan
        self.market = SymbolMarket(
            plan.symbol, slippage_pct=slippage_pct, tick_size=plan.filters.tick_size
        )
        self.notices: list[Notice] = []
        self._labels: dict[str, str] = {}
        self.stop_moves: list[StopMove] = []
        self._resting_stops: dict[str, str] = {}  # leg label -> client id of its resting stop
        self._next_order_id = 1
        self.outcome: ReplayOutcome | None = None

    def run(self, entry: Tick, ticks: Iterable[Tick]) -> Iterator[ExitFill]:
        """Enter at `entry`, then replay `ticks` until the position is closed or they end."""
        fills: list[ExitFill] = []
        state = self.enter(entry, fills)
        yield from fills
        count, last = 1, entry
        for tick in ticks:
            count, last = count + 1, tick
            fills.clear()
            state = self.step(state, tick, fills)
            yield from fills
            if state.done:
                break
        self.outcome = ReplayOutcome(state, count, last)

    def enter(self, entry: Tick, fills: list[ExitFill]) -> ExitState:
        """The entry tick: the position opens at its price and the plan is adopted."""
        self.market.on_price(entry.price, entry.time_ms)
        self._open_position(entry)
        decision = adopt(self.plan, entry)
        self.notices.extend(decision.notices)
        return self._settle(decision.state, decision.requests, entry.time_ms, fills)

    def step(self, state: ExitState, tick: Tick, fills: list[ExitFill]) -> ExitState:
        """One tick: matching (step 1), then the engine (step 2); its exits go to `fills`.
        A tick that changes nothing returns `state` itself."""
        reports = self._reports(self.market.on_price(tick.price, tick.time_ms), fills)
        decision = decide_all(state, (*reports, tick)) if reports else decide(state, tick)
        self.notices.extend(decision.notices)
        return self._settle(decision.state, decision.requests, tick.time_ms, fills)

    def _open_position(self, entry: Tick) -> None:
        """The entry, as an entry bot makes it: a MARKET order that is not exitd's."""
        side = self.plan.side
        order = BookOrder(
            self._order_id(),
            _ENTRY_ID,
            OrderSide.BUY if side.sign > 0 else OrderSide.SELL,
            SimOrderType.MARKET,
            self.plan.initial_qty,
        )
        self.market.place(order, entry.time_ms)

    def _settle(
        self, state: ExitState, requests: tuple[Request, ...], time_ms: int, fills: list[ExitFill]
    ) -> ExitState:
        """Answer the engine's requests, and the requests its answers bring, until it is quiet."""
        for _ in range(_MAX_ROUNDS_PER_TICK):
            if not requests:
                return state
            answers: list[Event] = []
            for request in requests:
                answers.extend(self._send(request, time_ms, fills))
            decision = decide_all(state, answers)
            self.notices.extend(decision.notices)
            state, requests = decision.state, decision.requests
        raise ReplayLoopError(f"the engine did not settle within a tick at {time_ms}")

    def _send(self, request: Request, time_ms: int, fills: list[ExitFill]) -> list[Event]:
        if isinstance(request, CancelOrder):
            # Gone either way: cancelled now, or already filled or expired.
            self.market.cancel(request.client_order_id, time_ms)
            self._stop_gone(request.client_order_id, time_ms)
            return [OrderCancelled(request.client_order_id, time_ms)]
        assert isinstance(request, PlaceOrder)
        intent = request.intent
        self._labels[intent.client_order_id] = intent.label
        result = self.market.place(self._book_order(intent), time_ms)
        if isinstance(result, Refusal):
            reason = {
                Refusal.WOULD_TRIGGER: RejectReason.WOULD_TRIGGER,
                Refusal.REDUCE_ONLY: RejectReason.REDUCE_ONLY,
            }.get(result, RejectReason.OTHER)
            return [OrderRejected(intent.client_order_id, reason, time_ms, result.value)]
        if intent.trigger_price is not None:
            self._resting_stops[intent.label] = intent.client_order_id
            self.stop_moves.append(StopMove(time_ms, intent.label, intent.trigger_price))
        return [OrderAccepted(intent.client_order_id, time_ms), *self._reports(result, fills)]

    def _stop_gone(self, client_order_id: str, time_ms: int) -> None:
        """A stop cancelled, expired or filled, unless a newer one of its leg replaced it."""
        label = self._labels.get(client_order_id)
        if label is not None and self._resting_stops.get(label) == client_order_id:
            del self._resting_stops[label]
            self.stop_moves.append(StopMove(time_ms, label, None))

    def _reports(self, outcomes: list[Outcome], fills: list[ExitFill]) -> list[Event]:
        """What the exchange tells the engine about `outcomes`: fills, then the position."""
        events: list[Event] = []
        for outcome in outcomes:
            self._stop_gone(outcome.client_order_id, outcome.time_ms)
            if isinstance(outcome, OrderClosed):
                events.append(OrderCancelled(outcome.client_order_id, outcome.time_ms))
                continue
            events.append(
                Fill(outcome.client_order_id, outcome.qty, outcome.price, outcome.time_ms)
            )
            fills.append(self._exit_fill(outcome))
        trades = [o for o in outcomes if isinstance(o, Trade)]
        if trades:
            events.append(PositionChanged(trades[-1].position_after, trades[-1].time_ms))
        return events

    def _exit_fill(self, trade: Trade) -> ExitFill:
        plan = self.plan
        pnl = plan.side.sign * (trade.price - plan.entry_price) * trade.qty
        label = self._labels.get(trade.client_order_id, trade.client_order_id)
        return ExitFill(trade.time_ms, label, trade.price, trade.qty, pnl)

    def _book_order(self, intent: OrderIntent) -> BookOrder:
        return BookOrder(
            order_id=self._order_id(),
            client_order_id=intent.client_order_id,
            side=intent.side,
            type=SimOrderType(intent.type.value),
            quantity=intent.quantity or Decimal(0),
            price=intent.price,
            trigger_price=intent.trigger_price,
            reduce_only=intent.reduce_only,
            close_position=intent.close_position,
            activation_price=intent.activation_price,
            callback_rate=intent.callback_rate,
        )

    def _order_id(self) -> int:
        self._next_order_id += 1
        return self._next_order_id - 1
