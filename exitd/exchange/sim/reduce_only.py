"""Binance's reduce-only rule, pure: a reduce-only order may close at most what is open.

A reduce-only order is checked against the position and the reduce-only orders already open
on its side (binance-usdm.md §14, the Binance FAQ "Summary of Failed Orders"): nothing to
reduce on the other side is -2022 "ReduceOnly Order is rejected."; more than the position
once the open reduce-only orders are counted is -4118 "ReduceOnly Order Failed. Please check
your existing position and open orders". Regular orders are checked when placed; conditional
ones when they trigger (and at placement too under the `reduce_only_at_placement` fault,
since whether Binance checks them there is unconfirmed).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from exitd.exchange.sim.book import BookOrder, Refusal

_ZERO = Decimal(0)


def rule(sign: int, quantity: Decimal, position: Decimal, open_quantity: Decimal) -> Refusal | None:
    """Why a reduce-only order of `quantity` on side `sign` (+1 buy, -1 sell) may not stand
    beside `open_quantity` of open reduce-only orders on its side; None if it may."""
    if position * sign >= 0:
        return Refusal.REDUCE_ONLY
    if quantity + open_quantity > abs(position):
        return Refusal.REDUCE_ONLY_EXCEEDS
    return None


def reduce_only_refusal(
    order: BookOrder, position: Decimal, open_orders: Iterable[BookOrder]
) -> Refusal | None:
    """The rule for a reduce-only `order` beside the open orders it must share the position
    with (the order itself not among them)."""
    return rule(order.sign, order.quantity, position, open_reduce_only(open_orders, order.sign))


def trigger_refusal(
    algo: BookOrder, position: Decimal, open_orders: Iterable[BookOrder]
) -> Refusal | None:
    """Why matching denies a triggered conditional order: a reduce-only one by the rule
    against the open regular orders, a close-position one if nothing is left to close."""
    if algo.reduce_only:
        return reduce_only_refusal(algo, position, open_orders)
    if algo.close_position and position * algo.sign >= 0:
        return Refusal.REDUCE_ONLY
    return None


def open_reduce_only(orders: Iterable[BookOrder], sign: int) -> Decimal:
    """What the open reduce-only orders on side `sign` may still close (close-position stops
    carry no quantity: -4130 already keeps them to one per direction)."""
    return sum((o.remaining for o in orders if o.reduce_only and o.sign == sign), _ZERO)
