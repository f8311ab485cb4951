"""The pure exit engine: plans, rounding, routing and the decision function.

It imports nothing from actors, the exchange or any network library; time and prices come in
as arguments. Live trading, the simulator and `exitd replay` all run this one code path.

A plan's life: `adopt` (live: closes at market a position already past its hard stop), then
`decide`/`decide_all` per event; `position_change` tells the symbol's actor when an update is
an increase, answered with `readopt` (a new adoption); after a restart `resume` rebuilds the
state from the saved `PlanProgress` and the resting orders (`intent_from_resting`).
"""

from exitd.engine.adoption import (
    PositionChange,
    intent_from_resting,
    position_change,
    readopt,
    resume,
)
from exitd.engine.client_ids import ClientOrderRef, make_client_order_id, parse_client_order_id
from exitd.engine.decide import Decision, adopt, decide, decide_all, is_quiet
from exitd.engine.model import (
    CancelOrder,
    Event,
    Fill,
    Leg,
    Notice,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderSide,
    OrderType,
    PlaceOrder,
    PositionChanged,
    RejectReason,
    Request,
    Side,
    SymbolFilters,
    Tick,
    Timer,
)
from exitd.engine.plan import ExitPlan, PlanRefused, Position, TakeProfitLeg, build_plan, pct_price
from exitd.engine.profile import (
    BreakevenSpec,
    ExitProfile,
    ProfileProblem,
    TakeProfitSpec,
    TrailMode,
    TrailSpec,
    profile_problems,
)
from exitd.engine.progress import PlanProgress, progress
from exitd.engine.router import ExitRouter, Route
from exitd.engine.state import ExitState, OrderStatus, TrackedOrder

__all__ = [
    "BreakevenSpec",
    "CancelOrder",
    "ClientOrderRef",
    "Decision",
    "Event",
    "ExitPlan",
    "ExitProfile",
    "ExitRouter",
    "ExitState",
    "Fill",
    "Leg",
    "Notice",
    "OrderAccepted",
    "OrderCancelled",
    "OrderIntent",
    "OrderRejected",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PlaceOrder",
    "PlanProgress",
    "PlanRefused",
    "Position",
    "PositionChange",
    "PositionChanged",
    "ProfileProblem",
    "RejectReason",
    "Request",
    "Route",
    "Side",
    "SymbolFilters",
    "TakeProfitLeg",
    "TakeProfitSpec",
    "Tick",
    "Timer",
    "TrackedOrder",
    "TrailMode",
    "TrailSpec",
    "adopt",
    "build_plan",
    "decide",
    "decide_all",
    "intent_from_resting",
    "is_quiet",
    "make_client_order_id",
    "parse_client_order_id",
    "pct_price",
    "position_change",
    "profile_problems",
    "progress",
    "readopt",
    "resume",
]
