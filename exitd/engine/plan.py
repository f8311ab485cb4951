"""From a profile and a position to an exit plan: exact prices and take-profit quantities.

The plan is fixed at adoption (entry `E`, size `Q0`, adoption price `p`); `decide` only reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from exitd.engine.model import Notice, Side, SymbolFilters
from exitd.engine.profile import HUNDRED, ExitProfile, ProfileProblem, TrailMode, profile_problems
from exitd.engine.rounding import price_above, price_below, round_price, round_qty_down


class PlanRefused(ValueError):
    """The profile cannot make a plan for this position; `problems` says why."""

    def __init__(self, problems: tuple[ProfileProblem, ...]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{p.field} = {p.value}: allowed: {p.allowed}" for p in problems)
        )


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    side: Side
    qty: Decimal
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class TakeProfitLeg:
    number: int
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class ExitPlan:
    """The exit plan of one position. Prices are on the tick grid unless named `*_level`, which
    are the exact arming thresholds of SPEC-exits.md (`mfe >= x` is `s * best >= s * level`)."""

    position: Position
    filters: SymbolFilters
    profile: ExitProfile
    profile_name: str
    hard_sl_price: Decimal
    take_profits: tuple[TakeProfitLeg, ...]
    breakeven_price: Decimal | None
    breakeven_level: Decimal | None
    trail_level: Decimal | None
    trail_activation_price: Decimal | None
    notices: tuple[Notice, ...]
    adoption_price: Decimal

    @property
    def side(self) -> Side:
        return self.position.side

    @property
    def symbol(self) -> str:
        return self.position.symbol

    @property
    def entry_price(self) -> Decimal:
        return self.position.entry_price

    @property
    def initial_qty(self) -> Decimal:
        return self.position.qty

    def pct_price(self, pct: Decimal) -> Decimal:
        return pct_price(self.position.entry_price, self.position.side, pct)

    def hard_stop_breached(self, price: Decimal) -> bool:
        """`price` is at or beyond `pct_price(-hard_sl_pct)`, exact or on the tick grid: the
        HARD_SL would already have triggered there."""
        level = self.pct_price(-self.profile.hard_sl_pct)
        rounded = round_price(level, self.filters.tick_size)
        if self.side is Side.LONG:
            return price <= max(level, rounded, self.hard_sl_price)
        return price >= min(level, rounded, self.hard_sl_price)

    def excursion_pct(self, price: Decimal) -> Decimal:
        """`s * (p - E) / E * 100`: how far `price` is in the position's favour, in percent."""
        entry = self.position.entry_price
        return self.position.side.sign * (price - entry) * HUNDRED / entry


def pct_price(entry: Decimal, side: Side, pct: Decimal) -> Decimal:
    """The price `pct` percent in the position's favour (negative: against it)."""
    return entry * (1 + side.sign * pct / HUNDRED)


def build_plan(
    position: Position,
    filters: SymbolFilters,
    profile: ExitProfile,
    adoption_price: Decimal,
    profile_name: str = "default",
) -> ExitPlan:
    """The plan for `position`, adopted at `adoption_price`; raises PlanRefused."""
    problems = list(profile_problems(profile))
    if position.qty <= 0 or position.entry_price <= 0 or adoption_price <= 0:
        problems.append(
            ProfileProblem("position", position, "a positive size, entry price and adoption price")
        )
    if problems:
        raise PlanRefused(tuple(problems))
    side, entry, tick = position.side, position.entry_price, filters.tick_size
    stop_side, target_side = _sided_rounding(side)

    hard_sl = stop_side(pct_price(entry, side, -profile.hard_sl_pct), adoption_price, tick)
    if hard_sl <= 0:
        raise PlanRefused(
            (ProfileProblem("hard_sl_pct", profile.hard_sl_pct, "a stop at a positive price"),)
        )
    take_profits, notices = _take_profit_legs(position, filters, profile, adoption_price)
    for tp in take_profits:
        if tp.price <= 0:
            raise PlanRefused(
                (
                    ProfileProblem(
                        f"take_profits[{tp.number - 1}].pct",
                        profile.take_profits[tp.number - 1].pct,
                        "a take-profit at a positive price",
                    ),
                )
            )

    be = profile.breakeven
    trail = profile.trail
    trail_activation = None
    if (
        trail is not None
        and trail.mode is TrailMode.EXCHANGE
        and trail.activation_pct  # 0 or None: the exchange activates at the latest price
    ):
        trail_activation = target_side(
            pct_price(entry, side, trail.activation_pct), adoption_price, tick
        )
    return ExitPlan(
        position=position,
        filters=filters,
        profile=profile,
        profile_name=profile_name,
        hard_sl_price=hard_sl,
        take_profits=take_profits,
        breakeven_price=None if be is None else pct_price(entry, side, be.offset_pct),
        breakeven_level=(
            None if be is None or be.trigger_pct is None else pct_price(entry, side, be.trigger_pct)
        ),
        trail_level=(
            None
            if trail is None or trail.activation_pct is None
            else pct_price(entry, side, trail.activation_pct)
        ),
        trail_activation_price=trail_activation,
        notices=notices,
        adoption_price=adoption_price,
    )


_Rounder = Callable[[Decimal, Decimal, Decimal], Decimal]


def _sided_rounding(side: Side) -> tuple[_Rounder, _Rounder]:
    """(stop rounding, target rounding) for `side`: a long's stop sits below the price."""
    return (price_below, price_above) if side is Side.LONG else (price_above, price_below)


def _take_profit_legs(
    position: Position, filters: SymbolFilters, profile: ExitProfile, adoption_price: Decimal
) -> tuple[tuple[TakeProfitLeg, ...], tuple[Notice, ...]]:
    """Take-profits numbered from the nearest; one too small to stand alone gives its fraction
    to the next, and the last that still cannot stand is dropped (SPEC-exits.md)."""
    _, target_side = _sided_rounding(position.side)
    legs: list[TakeProfitLeg] = []
    notices: list[Notice] = []
    carried = Decimal(0)
    for number, spec in enumerate(profile.take_profits, start=1):
        price = target_side(
            pct_price(position.entry_price, position.side, spec.pct),
            adoption_price,
            filters.tick_size,
        )
        fraction = carried + spec.fraction
        qty = round_qty_down(fraction * position.qty, filters.step_size)
        if qty < filters.min_qty or qty * price < filters.min_notional:
            carried = fraction
            if number < len(profile.take_profits):
                notices.append(
                    Notice(
                        "exit_plan.take_profit_merged",
                        (
                            ("take_profit", f"TP{number}"),
                            ("into", f"TP{number + 1}"),
                            ("qty", str(qty)),
                        ),
                    )
                )
            continue
        legs.append(TakeProfitLeg(number, price, qty))
        carried = Decimal(0)
    if carried:
        notices.append(
            Notice(
                "exit_plan.take_profit_dropped",
                (("take_profit", f"TP{len(profile.take_profits)}"), ("fraction", str(carried))),
            )
        )
    return tuple(legs), tuple(notices)
