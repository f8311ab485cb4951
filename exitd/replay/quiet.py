"""The quiet band of a replay: the prices and times at which a tick can change nothing.

A tick changes nothing when the engine's own hot path would answer it with the state it was
given (`decide`: not `wake`, before `deadline_ms`, inside `quiet_low`/`quiet_high`) and the
simulator's matching has nothing to do at its price: no conditional order triggers or moves
its trail, no resting limit crosses. Such a tick leaves engine and book as they were, so the
next one meets the same band; the fast replay skips every tick inside it and runs the exact
step on the first tick outside. The band is returned in the integer units of `PriceColumns`
(price × 10^scale), its bounds inclusive, so a column compares with it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from exitd.engine import ExitState, Side
from exitd.exchange.sim import SymbolMarket
from exitd.exchange.sim.book import BookOrder, SimOrderType

_INT64_MAX = 2**63 - 1
_HUNDRED = Decimal(100)
_TRIGGERS = (SimOrderType.STOP, SimOrderType.STOP_MARKET)
_TAKE_PROFITS = (SimOrderType.TAKE_PROFIT, SimOrderType.TAKE_PROFIT_MARKET)


@dataclass(frozen=True, slots=True)
class QuietBand:
    """Ticks at `low <= price <= high` (scaled) and `time_ms < deadline_ms` change nothing."""

    low: int
    high: int
    deadline_ms: int


class _Bounds:
    """The band as it narrows, one constraint at a time, in scaled integers."""

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.low = 0  # every price is positive
        self.high = _INT64_MAX

    def above(self, level: Decimal, *, inclusive: bool) -> None:
        """The price must stay above `level` (or at it, when `inclusive`)."""
        if not level.is_finite():
            return
        scaled = level.scaleb(self.scale)
        if inclusive:
            bound = int(scaled.to_integral_value(ROUND_CEILING))
        else:
            bound = int(scaled.to_integral_value(ROUND_FLOOR)) + 1
        self.low = max(self.low, bound)

    def below(self, level: Decimal, *, inclusive: bool) -> None:
        """The price must stay below `level` (or at it, when `inclusive`)."""
        if not level.is_finite():
            return
        scaled = level.scaleb(self.scale)
        if inclusive:
            bound = int(scaled.to_integral_value(ROUND_FLOOR))
        else:
            bound = int(scaled.to_integral_value(ROUND_CEILING)) - 1
        self.high = min(self.high, bound)


def quiet_band(state: ExitState, market: SymbolMarket, scale: int) -> QuietBand | None:
    """The band after a tick has been replayed, or None when the next tick must run exactly."""
    if state.wake or market.hold_triggers or market.triggering:
        return None
    bounds = _Bounds(scale)
    if state.plan.side is Side.LONG:  # decide(): quiet_low < p <= quiet_high
        bounds.above(state.quiet_low, inclusive=False)
        bounds.below(state.quiet_high, inclusive=True)
    else:  # quiet_low <= p < quiet_high
        bounds.above(state.quiet_low, inclusive=True)
        bounds.below(state.quiet_high, inclusive=False)
    for order in market.conditionals.values():
        if not _conditional_band(order, bounds):
            return None
    for order in market.orders.values():
        if order.type is not SimOrderType.LIMIT:
            return None
        if order.price is None:
            continue
        # A sell crosses at or above its price, a buy at or below (price_rules.crosses).
        if order.sign < 0:
            bounds.below(order.price, inclusive=False)
        else:
            bounds.above(order.price, inclusive=False)
    if bounds.low > bounds.high:
        return None
    return QuietBand(bounds.low, bounds.high, state.deadline_ms)


def _conditional_band(order: BookOrder, bounds: _Bounds) -> bool:
    """Narrow `bounds` to where `order` neither triggers nor moves; False if it cannot say."""
    kind, sign = order.type, order.sign
    sell = sign < 0
    if kind in _TRIGGERS or kind in _TAKE_PROFITS:
        level = order.trigger_price
        if level is None:
            return False
        # A sell stop triggers at or below its level, a sell take-profit at or above.
        if sell == (kind in _TRIGGERS):
            bounds.above(level, inclusive=False)
        else:
            bounds.below(level, inclusive=False)
        return True
    if kind is SimOrderType.TRAILING_STOP_MARKET:
        extreme, rate = order.trail_extreme, order.callback_rate
        if extreme is None or rate is None:
            return False
        # A sell trail follows the highest price: a new high moves it (price_rules.trail_level).
        if sell:
            bounds.below(extreme, inclusive=True)
        else:
            bounds.above(extreme, inclusive=True)
        activation = order.activation_price
        if activation is not None and (activation - extreme) * sign < 0:
            return True  # not active: nothing triggers until the extreme moves
        level = extreme * (1 + sign * rate / _HUNDRED)
        if sell:
            bounds.above(level, inclusive=False)
        else:
            bounds.below(level, inclusive=False)
        return True
    return False
