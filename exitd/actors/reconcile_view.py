"""Reconciliation of one symbol: the exchange's open orders against the exit state.

Pure. Own orders are recognised by client id and re-attached, never replaced; an own order
the state does not know is stale and cancelled; a foreign exit order is an ownership
conflict; an order the state believes live but the exchange no longer lists is called
missing only when two reconciliations in a row miss it (a fresh order may not be visible
yet, RELIABILITY.md §0 finding 7), and then the engine is told it is gone so it places it again.
The same comparison decides a start (adopt afresh, or resume and re-attach what rests), the
fills the exchange's totals show but no event brought, and what a lookup by client id finds
of an order no longer listed. The symbol actor asks, logs and sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from exitd.engine import (
    Decision,
    Event,
    ExitPlan,
    ExitState,
    Fill,
    Leg,
    OrderCancelled,
    OrderIntent,
    OrderStatus,
    OrderType,
    PlanProgress,
    PositionChange,
    Tick,
    TrackedOrder,
    adopt,
    intent_from_resting,
    parse_client_order_id,
    position_change,
    resume,
)
from exitd.engine.client_ids import EXIT_BRAIN_CODE
from exitd.exchange.port import (
    MarkPrice,
    OrderRequest,
    OrderUpdate,
    OrderView,
    PositionView,
    QueryOutcome,
)
from exitd.ownership import EXIT_BRAIN, KNOWN_MODULE_CODES

_ENGINE_TYPES = {t.value: t for t in OrderType}
_MODULES_BY_CODE = {code: module for module, code in KNOWN_MODULE_CODES.items()}


def module_of(client_order_id: str, default: str = EXIT_BRAIN) -> str:
    """The module an exitd client id names; `default` for anyone else's."""
    ref = parse_client_order_id(client_order_id)
    module = None if ref is None else _MODULES_BY_CODE.get(ref.module_code)
    return module or default


def leg_label(client_order_id: str) -> str | None:
    """The leg an exitd id names as traders read it (HARD_SL, TP1, WORKING_STOP, …)."""
    ref = parse_client_order_id(client_order_id)
    if ref is None or ref.leg is None:
        return None
    return f"TP{ref.tp_number}" if ref.leg is Leg.TAKE_PROFIT else ref.leg.value


def is_own(client_order_id: str) -> bool:
    """Placed by the exit brain (its client-id code), in this run or an earlier one."""
    ref = parse_client_order_id(client_order_id)
    return ref is not None and ref.module_code == EXIT_BRAIN_CODE


def resting_intents(
    symbol: str, orders: Iterable[OrderView], inflight: Iterable[OrderRequest]
) -> tuple[OrderIntent, ...]:
    """The exit brain's orders on the exchange or still in the gateway, as engine intents."""
    intents: dict[str, OrderIntent] = {}
    candidates: list[OrderView | OrderRequest] = [*orders, *inflight]
    for order in candidates:
        order_type = _ENGINE_TYPES.get(order.type)
        if order.symbol != symbol or order.client_order_id in intents or order_type is None:
            continue
        quantity = order.quantity
        if isinstance(order, OrderView) and quantity is not None:
            quantity -= order.filled_qty  # what is still open
        intent = intent_from_resting(
            order.client_order_id,
            symbol=symbol,
            side=order.side,
            type=order_type,
            quantity=quantity,
            price=order.price,
            trigger=order.trigger_price,
            reduce_only=order.reduce_only,
            close_position=order.close_position,
        )
        if intent is not None:
            intents[order.client_order_id] = intent
    return tuple(intents.values())


@dataclass(frozen=True, slots=True)
class ExchangeDiff:
    stale: tuple[OrderView, ...]
    foreign: tuple[OrderView, ...]
    suspects: frozenset[str]
    missing_events: tuple[OrderCancelled, ...]

    @property
    def absent(self) -> frozenset[str]:
        """Every tracked order the exchange does not list now: each is read by client id
        first, as it may have ended unseen rather than gone missing."""
        return self.suspects | {e.client_order_id for e in self.missing_events}

    def missing(self, ended: frozenset[str]) -> list[OrderCancelled]:
        """The missing orders the engine is told are gone, but those the reads found ended."""
        return [e for e in self.missing_events if e.client_order_id not in ended]


def diff_orders(
    state: ExitState,
    orders: Sequence[OrderView],
    inflight: Sequence[OrderRequest],
    suspects: frozenset[str],
    now_ms: int,
) -> ExchangeDiff:
    on_exchange = {o.client_order_id for o in orders}
    pending = {o.client_order_id for o in inflight}
    tracked = {o.intent.client_order_id for o in state.orders}
    stale = tuple(
        o
        for o in orders
        if is_own(o.client_order_id)
        and o.client_order_id not in tracked
        and o.client_order_id not in pending
    )
    foreign = tuple(
        o for o in orders if not is_own(o.client_order_id) and (o.reduce_only or o.close_position)
    )
    absent = frozenset(
        o.intent.client_order_id
        for o in state.orders
        if o.status is OrderStatus.LIVE
        and o.intent.type is not OrderType.MARKET
        and o.intent.client_order_id not in on_exchange
        and o.intent.client_order_id not in pending
    )
    missing = absent & suspects
    return ExchangeDiff(
        stale=stale,
        foreign=foreign,
        suspects=absent - missing,
        missing_events=tuple(OrderCancelled(cid, now_ms) for cid in sorted(missing)),
    )


# --- a start: adopt afresh or resume -----------------------------------------------------------


def leftovers(orders: Iterable[OrderView]) -> tuple[OrderView, ...]:
    """Own orders still resting for a position now closed: cancelled at start."""
    return tuple(o for o in orders if is_own(o.client_order_id))


def progress_of(saved: PlanProgress | None, position: PositionView) -> PlanProgress | None:
    """The snapshot's progress when it is of `position`; None when the position is another
    one since (another entry price, or the other side): that one is adopted anew."""
    if saved is None or saved.entry_price != position.entry_price:
        return None
    return saved if saved.side.sign * position.amount > 0 else None


def start_decision(
    plan: ExitPlan,
    saved: PlanProgress | None,
    resting: Sequence[OrderIntent],
    position: PositionView,
    tick: Tick,
    *,
    first_seq: int,
) -> Decision:
    """Adopt afresh when no earlier life left anything; else resume its progress and re-attach
    what rests, handing out ids from `first_seq` on (above any an earlier life issued)."""
    if saved is None and not resting:
        return adopt(plan, tick, first_seq, live=True)
    if saved is not None:
        saved = replace(saved, next_seq=max(saved.next_seq, first_seq))
    return resume(plan, saved, resting, abs(position.amount), tick, first_seq=first_seq)


def position_move(state: ExitState, position: PositionView) -> PositionChange:
    """What a position report means for the plan. Reducing keeps the entry price: a position
    the same size or smaller at another entry was closed and opened again (or flipped twice)
    with the events lost, which is a new adoption."""
    change = position_change(state, position.amount)
    if (
        change in ("same", "decrease")
        and position.amount != 0
        and position.entry_price != state.plan.entry_price
    ):
        return "increase"
    return change


# --- fills the events did not bring ------------------------------------------------------------


def counted(
    order: OrderView, states: Iterable[ExitState | None], held: Iterable[Event]
) -> Decimal | None:
    """How much of `order` the engine counts as filled, held fills included, in the
    exchange's cumulative terms (a resumed order's intent is what was open when it was
    adopted); None for an order it does not track or one with no quantity."""
    cid = order.client_order_id
    tracked = next((t for s in states if s and (t := s.order(cid))), None)
    if tracked is None or order.quantity is None or tracked.intent.quantity is None:
        return None
    fills = sum(
        (e.qty for e in held if isinstance(e, Fill) and e.client_order_id == cid), Decimal(0)
    )
    return order.quantity - tracked.intent.quantity + tracked.filled_qty + fills


def not_yet_counted(update: OrderUpdate, done: Decimal | None) -> OrderUpdate:
    """`update` with only the part of its fill that reconciliation has not counted already
    (the exchange's total says what it did): a fill counts once."""
    if update.last_fill_qty <= 0 or done is None:
        return update
    fresh = max(min(update.last_fill_qty, update.order.filled_qty - done), Decimal(0))
    return replace(update, last_fill_qty=fresh)


def missed_fills(
    orders: Iterable[OrderView],
    states: Sequence[ExitState | None],
    held: Sequence[Event],
    mark: MarkPrice | None,
    now_ms: int,
) -> tuple[Fill, ...]:
    """Fills of open orders (partly filled) whose events were lost: the exchange's total is
    above what the engine counts. At the order's price; a stop's trigger, else the mark."""
    found: list[Fill] = []
    for order in orders:
        done = counted(order, states, [*held, *found])
        if done is not None and order.filled_qty > done:
            price = order.price or order.trigger_price or _mark_price(mark)
            found.append(Fill(order.client_order_id, order.filled_qty - done, price, now_ms))
    return tuple(found)


def ended_unseen(
    tracked: TrackedOrder, found: QueryOutcome, mark: MarkPrice | None
) -> OrderUpdate | None:
    """The update for a tracked order the exchange no longer lists, read by client id, when
    the read shows it ended unseen (filled or cancelled while the user stream was down: it
    counts as filled, never as cancelled and placed again, RELIABILITY.md §2 rows 19-20);
    None while it is not visible, still open or unreadable: the two-misses rule decides."""
    if not isinstance(found, OrderView) or found.state.open:
        return None
    price = found.price or found.trigger_price or _mark_price(mark)  # REST gives no fill price
    missed = max(found.filled_qty - tracked.filled_qty, Decimal(0))
    return OrderUpdate(found, missed, price, None, found.update_ms)


def landed_late(
    client_order_id: str,
    state: ExitState | None,
    retiring: Iterable[ExitState],
    earlier_lives_below: int,
) -> bool:
    """An own order the plan does not track whose id an earlier run issued (ids under
    `earlier_lives_below`): sent just before that run died, taken by the exchange after this
    one adopted the position, so the plan has placed what it needs (§2 row 27)."""
    ref = parse_client_order_id(client_order_id)
    if ref is None or ref.module_code != EXIT_BRAIN_CODE or state is None:
        return False
    tracked = any(s.order(client_order_id) for s in (state, *retiring))
    return not tracked and ref.seq < earlier_lives_below


def _mark_price(mark: MarkPrice | None) -> Decimal:
    return mark.price if mark is not None else Decimal(0)
