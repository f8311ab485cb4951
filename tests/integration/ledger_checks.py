"""RELIABILITY.md §3's invariants, judged from the simulator's ledger (the ground truth)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from exitd.actors.reconcile_view import is_own, leg_label
from exitd.engine import Leg, OrderSide
from exitd.exchange.sim.ledger import Ledger, LedgerOrder


def own_orders(ledger: Ledger, symbol: str) -> list[LedgerOrder]:
    """The exit brain's orders as received (children of triggered stops left out)."""
    return [
        o
        for o in ledger.orders
        if o.symbol == symbol and o.parent_algo_id is None and is_own(o.client_order_id)
    ]


def leg_of_id(client_order_id: str) -> str | None:
    """The exit brain's leg an id names (TP1, HARD_SL, …), or None for anyone else's."""
    return leg_label(client_order_id) if is_own(client_order_id) else None


def leg_of(order: LedgerOrder) -> str:
    leg = leg_of_id(order.client_order_id)
    assert leg is not None
    return leg


def assert_invariants(ledger: Ledger, symbol: str) -> None:
    orders = own_orders(ledger, symbol)
    created = Counter(o.client_order_id for o in orders if o.refusal is None)
    twice = [cid for cid, n in created.items() if n > 1]
    assert not twice, f"client ids created twice (I5): {twice}"
    for order in orders:
        assert order.reduce_only or order.close_position, f"not reduce-only (I1): {order}"
    assert_stops_never_loosen(orders)


def assert_stops_never_loosen(orders: list[LedgerOrder]) -> None:
    """Accepted working stops, in the order placed, only tighten (I2), and stay inside the
    HARD_SL (I3); one position lifetime per test."""
    stops = [o for o in orders if o.refusal is None and leg_of(o) == Leg.WORKING_STOP.value]
    hard = [
        o
        for o in orders
        if o.refusal is None and leg_of(o) == Leg.HARD_SL.value and o.trigger_price
    ]
    previous: Decimal | None = None
    for stop in stops:
        trigger = stop.trigger_price
        assert trigger is not None
        sign = 1 if stop.side is OrderSide.SELL else -1
        if previous is not None:
            assert sign * (trigger - previous) >= 0, f"stop loosened (I2): {previous} -> {trigger}"
        for hard_stop in hard:
            assert hard_stop.trigger_price is not None
            assert sign * (trigger - hard_stop.trigger_price) >= 0, (
                "working stop outside HARD_SL (I3)"
            )
        previous = trigger


def open_exit_orders(ledger: Ledger, symbol: str) -> list[LedgerOrder]:
    terminal = {"FILLED", "CANCELED", "EXPIRED", "REJECTED", "FINISHED", "TRIGGERED"}
    return [o for o in own_orders(ledger, symbol) if o.refusal is None and o.status not in terminal]
