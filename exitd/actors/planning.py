"""The plan a symbol actor adopts: its route's profile over the position, or why none."""

from __future__ import annotations

from decimal import Decimal

from exitd.engine import (
    ExitPlan,
    PlanProgress,
    PlanRefused,
    Position,
    Route,
    Side,
    SymbolFilters,
    build_plan,
)
from exitd.exchange.port import PositionView


def plan_for(
    position: PositionView,
    filters: SymbolFilters | None,
    route: Route,
    adoption_price: Decimal,
    saved: PlanProgress | None,
) -> ExitPlan | str:
    """The plan for `position` (with the saved progress's E and Q0 when resuming), or why
    there is none."""
    if filters is None:
        return "the exchange lists no filters for the symbol"
    side = Side.of_amount(position.amount)
    entry = position.entry_price if saved is None else saved.entry_price
    qty = abs(position.amount) if saved is None else saved.initial_qty
    try:
        return build_plan(
            Position(position.symbol, side, qty, entry),
            filters,
            route.profile,
            adoption_price,
            route.profile_name,
        )
    except PlanRefused as refused:
        return str(refused)
