"""The exit brain: `decide(state, event) -> (state, requests, notices)`.

Pure: no I/O, no clock, no globals; time and prices arrive in events. Each call absorbs events
into the state, then reconciles what the plan wants on the exchange with the orders the state
believes are there, and asks for the difference (SPEC-exits.md is the contract).
Arming, the trail's extreme and the working stop `W` move only on ticks, as the spec's
tick-synchronous step 2 says; fills, acks and position changes are absorbed in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from exitd.engine.absorb import absorb
from exitd.engine.advance import advance, settle
from exitd.engine.model import Event, Leg, Notice, OrderType, Request, Side, Tick
from exitd.engine.plan import ExitPlan
from exitd.engine.reconcile import OrderChanges, reconcile
from exitd.engine.state import ExitState

_ZERO = Decimal(0)


class Decision(NamedTuple):
    state: ExitState
    requests: tuple[Request, ...]
    notices: tuple[Notice, ...]


def adopt(plan: ExitPlan, tick: Tick, first_seq: int = 1, *, live: bool = False) -> Decision:
    """Adopt a position on `tick` (its price is the adoption price `p`): step 2 of that tick.

    `live`: a position the daemon finds with the mark price already through its own hard stop
    is closed at market, as the HARD_SL would have done (SPEC "Adopted past its own hard
    stop"); replay adopts at the entry price and keeps the default.
    """
    state = ExitState(
        plan=plan,
        qty=plan.initial_qty,
        adopted_ms=tick.time_ms,
        best_price=tick.price,
        next_seq=first_seq,
        tp_filled=(_ZERO,) * len(plan.take_profits),
    )
    state = advance(state, tick)
    if live and plan.hard_stop_breached(tick.price):
        state, requests, notices = close_breached(state, tick)
    else:
        state, requests, notices = reconcile(state, tick.time_ms)
    return Decision(settle(state), requests, plan.notices + notices)


def close_breached(
    state: ExitState, tick: Tick
) -> tuple[ExitState, tuple[Request, ...], tuple[Notice, ...]]:
    """Close `Q` with a reduce-only MARKET on the HARD_SL's leg, instead of placing a stop."""
    changes = OrderChanges(state)
    changes.place(Leg.HARD_SL, OrderType.MARKET, state.qty)
    state, requests = changes.result()
    notice = Notice(
        "hard_sl.breached_at_adoption",
        (
            ("price", str(tick.price)),
            ("hard_sl", str(state.plan.hard_sl_price)),
            ("qty", str(state.qty)),
        ),
    )
    return state, requests, (notice,)


def is_quiet(state: ExitState, time_ms: int, price: Decimal) -> bool:
    """Whether a tick at `price` and `time_ms` cannot change anything: `decide` would return
    `state` as it is, with no requests and no notices (the caller need not build the Tick)."""
    return (
        not state.wake
        and time_ms < state.deadline_ms
        and (
            state.quiet_low < price <= state.quiet_high
            if state.plan.side is Side.LONG
            else state.quiet_low <= price < state.quiet_high
        )
    )


def decide(state: ExitState, event: Event) -> Decision:
    """The new state and the orders to send after one event."""
    if type(event) is not Tick:
        return decide_all(state, (event,))
    if is_quiet(state, event.time_ms, event.price):
        return Decision(state, (), ())  # the hot path: this tick cannot change anything
    state, requests, notices = reconcile(advance(state, event), event.time_ms)
    return Decision(settle(state), requests, notices)  # `decide_all` of this tick alone


def decide_all(state: ExitState, events: Iterable[Event]) -> Decision:
    """Absorb several events, then reconcile once: what the brain does at step 2 of a tick,
    seeing the tick's fills and its price together."""
    requests: list[Request] = []
    notices: list[Notice] = []
    now = 0
    for event in events:
        now = event.time_ms
        if type(event) is Tick:
            state = advance(state, event)
        else:
            state, absorbed_requests, absorbed_notices = absorb(state, event)
            requests.extend(absorbed_requests)
            notices.extend(absorbed_notices)
    state, reconciled, reconcile_notices = reconcile(state, now)
    return Decision(settle(state), (*requests, *reconciled), (*notices, *reconcile_notices))
