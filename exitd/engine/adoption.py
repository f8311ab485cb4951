"""A plan's life beside `decide`: re-adoption on an increase, and resuming after a restart.

Pure, like the rest of the engine. The symbol's actor asks `position_change` what a position
update is, then calls `decide` (same, decrease, flat, flip: the old plan closes out and the
new side is adopted with `adopt`), or `readopt` (increase). At start it rebuilds each plan with
`resume` from the saved `PlanProgress` and the orders resting on the exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal, TypeAlias

from exitd.engine.advance import advance, settle
from exitd.engine.client_ids import EXIT_BRAIN_CODE, parse_client_order_id
from exitd.engine.decide import Decision, close_breached
from exitd.engine.model import Leg, Notice, OrderIntent, OrderSide, OrderType, Side, Tick
from exitd.engine.plan import ExitPlan
from exitd.engine.progress import PlanProgress
from exitd.engine.reconcile import reconcile
from exitd.engine.state import ExitState, OrderStatus, TrackedOrder, replace_state

PositionChange: TypeAlias = Literal["same", "increase", "decrease", "flip", "flat"]
_ZERO = Decimal(0)


def position_change(state: ExitState, amount: Decimal) -> PositionChange:
    """What the exchange's signed position `amount` is to the plan of `state`."""
    sign = state.plan.side.sign
    if amount == sign * state.qty:
        return "same"
    if amount == 0:
        return "flat"
    if amount * sign < 0:
        return "flip"
    return "increase" if abs(amount) > state.qty else "decrease"


def readopt(state: ExitState, plan: ExitPlan, tick: Tick) -> Decision:
    """An increase is a new adoption (SPEC "Position changes"): `plan` is built from the new
    entry price and size; excursion and every leg start again; "never loosen" holds within
    one adoption only.

    The old orders stay tracked, as inherited, until reconcile has replaced them: take-profits
    are cancelled and the new ones placed as the cancels make room; working and trailing
    stops go once the new HARD_SL rests (make-before-break). The HARD_SL is a close-position
    stop, and Binance refuses a second one in the same direction (-4130), so it cannot be
    made before broken: at the same price it is kept, at another it is cancelled and the new
    one placed once the cancel is confirmed, the old working stop still covering the gap.
    Client ids go on from `state.next_seq`.
    """
    kept = next(
        (
            o
            for o in state.orders_of(Leg.HARD_SL)
            if o.active
            and o.intent.type is OrderType.STOP_MARKET
            and o.intent.trigger_price == plan.hard_sl_price
        ),
        None,
    )
    new = ExitState(
        plan=plan,
        qty=plan.initial_qty,
        adopted_ms=tick.time_ms,
        best_price=tick.price,
        next_seq=state.next_seq,
        tp_filled=(_ZERO,) * len(plan.take_profits),
        orders=state.orders,
        inherited=frozenset(o.intent.client_order_id for o in state.orders if o is not kept),
        break_first=state.break_first,
    )
    new = advance(new, tick)
    new, requests, notices = reconcile(new, tick.time_ms)
    readopted = Notice(
        "plan.readopted",
        (
            ("old_entry", str(state.plan.entry_price)),
            ("new_entry", str(plan.entry_price)),
            ("old_qty", str(state.plan.initial_qty)),
            ("new_qty", str(plan.initial_qty)),
            ("hard_sl", "kept" if kept is not None else "replaced"),
        ),
    )
    return Decision(settle(new), requests, (readopted, *plan.notices, *notices))


def resume(
    plan: ExitPlan,
    progress: PlanProgress | None,
    resting: Sequence[OrderIntent],
    qty: Decimal,
    tick: Tick,
    *,
    first_seq: int = 1,
) -> Decision:
    """Rebuild a plan after a restart, live: `qty` is the position's size now, `resting` the
    exitd orders on the exchange for its symbol (`intent_from_resting`, quantity = what is
    still open), and `plan` built from the progress's side, E, Q0 and adoption price when it
    is given (it is ignored when they differ from the plan's, but for its next_seq).

    Resting orders are adopted as they are, LIVE: a resting working stop is the floor that
    only a tighter one replaces, a resting HARD_SL is kept whatever its price. Of two resting
    orders of one leg the most protective stays (the newest for a take-profit); the others,
    orders for the other side or for a take-profit the plan does not have, and a working stop
    outside the HARD_SL are retired like an earlier adoption's (`readopt`). Missing legs are
    placed; with no HARD_SL resting and the price already through it, the position is closed
    at market. Client ids go on above every seq seen, and from `first_seq` at least (the
    daemon's reservation, which holds even when the progress is lost or another position's).
    """
    kept, surplus = _one_per_leg([i for i in resting if i.symbol == plan.symbol], plan)
    seqs = [first_seq, *(_seq(i) + 1 for i in (*kept, *surplus))]
    if progress is not None:
        seqs.append(progress.next_seq)
    state, restored = _restored(plan, progress, qty, tick, max(seqs))
    # The surplus, and a working stop no more protective than the HARD_SL (an earlier
    # adoption's), count as left by another adoption: reconcile retires them by its rules,
    # and their fills feed no leg of this plan.
    sign = plan.side.sign
    retired = [
        *surplus,
        *(
            i
            for i in kept
            if i.leg is Leg.WORKING_STOP
            and i.trigger_price is not None
            and sign * (i.trigger_price - plan.hard_sl_price) <= 0
        ),
    ]
    state = replace_state(
        state,
        orders=tuple(TrackedOrder(i, OrderStatus.LIVE) for i in (*kept, *surplus)),
        inherited=frozenset(i.client_order_id for i in retired),
    )
    state = advance(state, tick)
    if qty > 0 and not state.orders_of(Leg.HARD_SL) and plan.hard_stop_breached(tick.price):
        state, requests, notices = close_breached(state, tick)
    else:
        state, requests, notices = reconcile(state, tick.time_ms)
    resumed = Notice(
        "plan.resumed",
        (
            ("progress", "restored" if restored else "none"),
            ("resting", str(len(kept))),
            ("retired", str(len(retired))),
        ),
    )
    return Decision(settle(state), requests, (resumed, *notices))


def intent_from_resting(
    client_order_id: str,
    *,
    symbol: str,
    side: OrderSide,
    type: OrderType,
    quantity: Decimal | None,
    price: Decimal | None = None,
    trigger: Decimal | None = None,
    reduce_only: bool,
    close_position: bool,
    activation: Decimal | None = None,
    callback: Decimal | None = None,
) -> OrderIntent | None:
    """A resting exchange order as the exit brain's intent, or None when it is not one of
    the brain's (a foreign id, another exitd module's, or a leg it does not know)."""
    ref = parse_client_order_id(client_order_id)
    if ref is None or ref.module_code != EXIT_BRAIN_CODE or ref.leg is None:
        return None
    return OrderIntent(
        client_order_id=client_order_id,
        symbol=symbol,
        leg=ref.leg,
        side=side,
        type=type,
        quantity=None if close_position else quantity,
        price=price,
        trigger_price=trigger,
        reduce_only=reduce_only and not close_position,
        close_position=close_position,
        activation_price=activation,
        callback_rate=callback,
        tp_number=ref.tp_number,
    )


def _restored(
    plan: ExitPlan, progress: PlanProgress | None, qty: Decimal, tick: Tick, next_seq: int
) -> tuple[ExitState, bool]:
    numbers = {leg.number for leg in plan.take_profits}
    if (
        progress is None
        or (progress.side, progress.entry_price, progress.initial_qty, progress.adoption_price)
        != (plan.side, plan.entry_price, plan.initial_qty, plan.adoption_price)
        or len(progress.tp_filled) != len(plan.take_profits)
        or not progress.tps_done <= numbers
    ):
        fresh = ExitState(
            plan=plan,
            qty=qty,
            adopted_ms=tick.time_ms,
            best_price=tick.price,
            next_seq=next_seq,
            tp_filled=(_ZERO,) * len(plan.take_profits),
        )
        return fresh, False
    saved = ExitState(
        plan=plan,
        qty=qty,
        adopted_ms=progress.adopted_ms,
        best_price=progress.best_price,
        next_seq=next_seq,
        breakeven_armed=progress.breakeven_armed,
        trail_armed=progress.trail_armed,
        extreme=progress.extreme,
        tp_filled=progress.tp_filled,
        tps_done=progress.tps_done,
        time_fired=progress.time_fired,
        stop_floor=progress.stop_floor,
    )
    return saved, True


def _one_per_leg(
    intents: list[OrderIntent], plan: ExitPlan
) -> tuple[list[OrderIntent], list[OrderIntent]]:
    """(the orders kept, oldest first; the surplus to cancel)."""
    numbers = {leg.number for leg in plan.take_profits}
    best: dict[str, OrderIntent] = {}
    surplus: list[OrderIntent] = []
    for intent in intents:
        if intent.side is not plan.side.closing_side or (
            intent.leg is Leg.TAKE_PROFIT and intent.tp_number not in numbers
        ):
            surplus.append(intent)
            continue
        other = best.get(intent.label)
        if other is None:
            best[intent.label] = intent
            continue
        keep, drop = (
            (intent, other)
            if _rank(intent, plan.side) > _rank(other, plan.side)
            else (
                other,
                intent,
            )
        )
        best[intent.label] = keep
        surplus.append(drop)
    return sorted(best.values(), key=_seq), surplus


def _rank(intent: OrderIntent, side: Side) -> tuple[Decimal, int]:
    """Stops: the most protective trigger first; then the newest."""
    trigger = intent.trigger_price
    protection = _ZERO if trigger is None or intent.leg is Leg.TAKE_PROFIT else side.sign * trigger
    return protection, _seq(intent)


def _seq(intent: OrderIntent) -> int:
    ref = parse_client_order_id(intent.client_order_id)
    return 0 if ref is None else ref.seq
