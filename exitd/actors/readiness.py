"""Whether a position is protected: what READY=1 waits for on every open position.

In EXIT_BRAIN_V3 the plan's HARD_SL must rest, as the exchange acknowledged it; in LEGACY the
brain places nothing, so anyone's stop on the closing side counts (a module's, or the safety
net's emergency stop once the grace has passed). A position gone flat needs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from exitd.actors.safety_net import is_naked
from exitd.engine import ExitState, Leg, OrderStatus
from exitd.exchange.port import OrderView, PositionView
from exitd.ownership import Mode


def stop_rests(
    position: PositionView | None,
    state: ExitState | None,
    resting: Iterable[OrderView],
    mode: Mode,
) -> bool:
    """`position` and `resting` as the symbol actor last saw them, `state` its plan's."""
    if (position is not None and position.amount == 0) or (state is not None and state.flat):
        return True
    if mode is Mode.LEGACY:
        return position is not None and not is_naked(position, resting)
    return state is not None and any(
        o.status is OrderStatus.LIVE for o in state.orders_of(Leg.HARD_SL)
    )
