"""The read commands' answers as plain data, from frozen values the actors publish.

Pure: each function turns values (a SymbolView, OrderMetrics, positions) into JSON-ready
dicts; Decimals stay Decimals and travel as their exact text.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from exitd.actors.reconcile_view import leg_label
from exitd.actors.symbol_view import SymbolView
from exitd.control.orders import order_json
from exitd.engine import ExitState, Leg, TrackedOrder
from exitd.exchange.port import PositionView
from exitd.ops.metrics import OrderMetrics


def position_json(position: PositionView, view: SymbolView | None) -> dict[str, object]:
    state = None if view is None else view.state
    mark = None if view is None else view.last_mark
    return {
        "symbol": position.symbol,
        "side": "LONG" if position.amount > 0 else "SHORT",
        "amount": position.amount,
        "entryPrice": position.entry_price,
        "markPrice": None if mark is None else mark.price,
        "protected": state is not None and not state.done,
        "profile": None if state is None else state.plan.profile_name,
        "paused": view is not None and view.paused,
    }


def _tracked_json(order: TrackedOrder) -> dict[str, object]:
    intent = order.intent
    return {
        "leg": leg_label(intent.client_order_id) or intent.leg.value,
        "clientOrderId": intent.client_order_id,
        "status": order.status.value,
        "type": intent.type.value,
        "side": intent.side.value,
        "quantity": intent.quantity,
        "filledQty": order.filled_qty,
        "price": intent.price,
        "triggerPrice": intent.trigger_price,
        "closePosition": intent.close_position,
    }


def _legs(state: ExitState) -> list[dict[str, object]]:
    """Each leg of the plan, its state (armed, done, resting) and the orders working it."""
    plan = state.plan
    orders = [_tracked_json(o) for o in state.orders]

    def of(leg: Leg, tp: int = 0) -> list[dict[str, object]]:
        return [
            order
            for tracked, order in zip(state.orders, orders, strict=True)
            if tracked.intent.leg is leg and tracked.intent.tp_number == tp
        ]

    legs: list[dict[str, object]] = [
        {"leg": "HARD_SL", "price": plan.hard_sl_price, "orders": of(Leg.HARD_SL)}
    ]
    for tp in plan.take_profits:
        done = tp.number in state.tps_done
        legs.append(
            {
                "leg": f"TP{tp.number}",
                "price": tp.price,
                "qty": tp.qty,
                "state": "filled" if done else "working",
                "orders": of(Leg.TAKE_PROFIT, tp.number),
            }
        )
    if plan.breakeven_price is not None:
        legs.append(
            {
                "leg": "BREAKEVEN",
                "price": plan.breakeven_price,
                "trigger": plan.breakeven_level,
                "state": "armed" if state.breakeven_armed else "waiting",
            }
        )
    if plan.profile.trail is not None:
        legs.append(
            {
                "leg": "TRAIL",
                "activation": plan.trail_activation_price,
                "callback_pct": plan.profile.trail.callback_pct,
                "state": "armed" if state.trail_armed else "waiting",
                "stop": state.target_stop,
            }
        )
    working = of(Leg.WORKING_STOP) + of(Leg.TRAILING_STOP)
    if working:
        legs.append({"leg": "WORKING_STOP", "price": state.target_stop, "orders": working})
    if plan.profile.time_limit_s is not None:
        legs.append(
            {
                "leg": "TIME",
                "after_s": plan.profile.time_limit_s,
                "state": "fired" if state.time_fired else "waiting",
                "orders": of(Leg.TIME),
            }
        )
    return legs


def plan_json(view: SymbolView, inflight: int) -> dict[str, object]:
    """`plan`: enough for a script to tell the daemon has processed a given price."""
    mark = view.last_mark
    state = view.state
    answer: dict[str, object] = {
        "symbol": view.symbol,
        "paused": view.paused,
        "lastMark": None if mark is None else {"price": mark.price, "time": mark.time_ms},
        "inflight": inflight,
        "position": None
        if view.position is None
        else {"amount": view.position.amount, "entryPrice": view.position.entry_price},
        "openOrders": [order_json(o) for o in view.open_orders],
        "plan": None,
    }
    if state is not None:
        plan = state.plan
        answer["plan"] = {
            "profile": plan.profile_name,
            "side": plan.side.name,
            "entryPrice": plan.entry_price,
            "qty": state.qty,
            "bestPrice": state.best_price,
            "done": state.done,
            "legs": _legs(state),
        }
    return answer


def summary_json(metrics: OrderMetrics) -> dict[str, object]:
    """The seed system's summary: orders by module and kind, and ownership conflicts."""
    table: dict[str, dict[str, int]] = {}
    for (module, kind, _), count in metrics.orders.items():
        row = table.setdefault(module, {})
        row[kind.value] = row.get(kind.value, 0) + count
    return {
        "orders_by_module": {m: dict(sorted(k.items())) for m, k in sorted(table.items())},
        "orders_by_kind": {k.value: n for k, n in metrics.by_kind().items()},
        "orders_by_outcome": {o.value: n for o, n in metrics.by_outcome().items()},
        "conflicts": dict(sorted(metrics.conflicts.items())),
        "total_orders": metrics.total_orders,
        "total_conflicts": metrics.total_conflicts,
    }


def overrides_of(raw: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """`set-plan`'s overrides as the symbol actor takes them: field name, value as text."""
    pairs = []
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValueError(f"{key}: a number or a string")
        pairs.append((key, str(value)))
    return tuple(pairs)
