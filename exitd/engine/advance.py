"""Step 2 of a tick: excursion, arming, the trail's extreme and the working-stop target `W`.

Pure, like the rest of the engine. Arming, the extreme and `W` move only on ticks, as the
spec's tick-synchronous step 2 says. `settle` caches when the next tick must take the full
path, so that `decide` answers a quiet tick without building a new state.
"""

from __future__ import annotations

from decimal import Decimal

from exitd.engine.model import Side, Tick
from exitd.engine.plan import ExitPlan
from exitd.engine.profile import HUNDRED, TrailMode
from exitd.engine.rounding import round_price, tick_above, tick_below
from exitd.engine.state import FILL_GRACE_MS, NEVER_MS, ExitState, replace_state

_ZERO = Decimal(0)
_INFINITY = Decimal("Infinity")


def advance(state: ExitState, tick: Tick) -> ExitState:
    plan = state.plan
    profile = plan.profile
    price = tick.price
    long = plan.side is Side.LONG
    best = state.best_price
    if price > best if long else price < best:
        best = price

    be = profile.breakeven
    breakeven_armed = state.breakeven_armed or (
        be is not None
        and (
            _reached(plan.breakeven_level, best, long)
            or (be.after_tp is not None and _tp_reached(state, be.after_tp))
        )
    )
    trail = profile.trail
    trail_armed = state.trail_armed
    extreme = state.extreme
    if trail is not None and not trail_armed:
        by_take_profit = trail.after_tp is not None and _tp_reached(state, trail.after_tp)
        if trail.mode is TrailMode.EXCHANGE:
            # The exchange watches the activation price itself: the order goes on at once.
            trail_armed = trail.activation_pct is not None or by_take_profit
        else:
            trail_armed = _reached(plan.trail_level, best, long) or by_take_profit
        if trail_armed and trail.mode is TrailMode.DAEMON:  # the exchange tracks its own
            extreme = price  # "the best price since arming, the arming tick included"
    elif trail_armed and extreme is not None and (price > extreme if long else price < extreme):
        extreme = price

    daemon_trail = trail is not None and trail.mode is TrailMode.DAEMON and trail_armed
    target, clamped = _working_stop_target(
        plan,
        plan.breakeven_price if breakeven_armed else None,
        extreme if daemon_trail else None,
        price,
    )
    # A later tick changes nothing while it sets no new best or extreme and stays on the
    # position's side of W (past W, W would be recomputed against that price).
    favourable = best
    if daemon_trail and extreme is not None:
        favourable = min(best, extreme) if long else max(best, extreme)
    if long:
        quiet_low, quiet_high = (_ZERO if target is None else target), favourable
    else:
        quiet_low, quiet_high = favourable, (_INFINITY if target is None else target)
    return replace_state(
        state,
        best_price=best,
        breakeven_armed=breakeven_armed,
        trail_armed=trail_armed,
        extreme=extreme,
        target_stop=target,
        quiet_low=quiet_low,
        quiet_high=quiet_high,
        wake=clamped,
    )


def _reached(level: Decimal | None, best: Decimal, long: bool) -> bool:
    """`mfe >= x`, with `level` the price x percent in favour: exact, no division."""
    if level is None:
        return False
    return best >= level if long else best <= level


def _tp_reached(state: ExitState, number: int) -> bool:
    """Take-profit `number` has filled, or a farther one that absorbed its fraction."""
    return any(done >= number for done in state.tps_done)


def _working_stop_target(
    plan: ExitPlan, breakeven: Decimal | None, extreme: Decimal | None, price: Decimal
) -> tuple[Decimal | None, bool]:
    """W on the tick grid and strictly on the stop's side of `price`, or None while it is not
    more protective than the HARD_SL; and whether it had to be moved off `price`."""
    long = plan.side is Side.LONG
    candidates = []
    if breakeven is not None:
        candidates.append(breakeven)
    if extreme is not None:
        trail = plan.profile.trail
        assert trail is not None
        candidates.append(extreme * (1 - plan.side.sign * trail.callback_pct / HUNDRED))
    if not candidates:
        return None, False
    tick = plan.filters.tick_size
    stop = round_price(max(candidates) if long else min(candidates), tick)
    clamped = stop >= price if long else stop <= price
    if clamped:
        stop = tick_below(price, tick) if long else tick_above(price, tick)
    if stop <= plan.hard_sl_price if long else stop >= plan.hard_sl_price:
        return None, clamped
    return stop, clamped


def settle(state: ExitState) -> ExitState:
    """Recompute when the next tick must take the full path: the TIME leg, retries, and the
    end of a fill grace."""
    deadline = NEVER_MS
    limit_s = state.plan.profile.time_limit_s
    if limit_s is not None and not state.time_fired:
        deadline = state.adopted_ms + limit_s * 1000
    if state.shrunk_ms is not None:
        deadline = min(deadline, state.shrunk_ms + FILL_GRACE_MS)
    for retry in state.retries:
        deadline = min(deadline, retry.not_before_ms)
    if deadline == state.deadline_ms:
        return state
    return replace_state(state, deadline_ms=deadline)
