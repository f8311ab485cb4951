"""Binance's reduce-only rule, pure: a reduce-only order may close at most what is open.

A reduce-only order is checked against the position and the reduce-only orders already open
on its side (binance-usdm.md §14, the Binance FAQ "Summary of Failed Orders"): nothing to
reduce on the other side is -2022 "ReduceOnly Order is rejected."; more than the position
once the open reduce-only orders are counted is -4118 "ReduceOnly Order Failed. Please check
your existing position and open orders". Regular orders are checked when placed; conditional
ones when they trigger (and at placement too under the `reduce_only_at_placement` fault,
since whether Binance checks them there is unconfirmed).

A reduce-only MARKET or STOP_MARKET at least the size of the position is exempt: Binance's
FAQ ("Summary of Failed Orders", German edition: "Reduce-Only-Market-Orders und
Reduce-Only-Stop-Market-Orders mit einer Ordergröße, die der offenen Position entspricht oder
diese übersteigt, haben die höchste Priorität und [werden] nicht durch die oben genannten
Regeln eingeschränkt"). So a stop for the whole position still closes it while take-profit
limits rest. The placement fault models a stricter exchange and applies no exemption, so a
make-before-break stop replacement is refused under it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from exitd.exchange.sim.book import BookOrder, Refusal, SimOrderType

_ZERO = Decimal(0)


def rule(sign: int, quantity: Decimal, position: Decimal, open_quantity: Decimal) -> Refusal | None:
    """Why a reduce-only order of `quantity` on side `sign` (+1 buy, -1 sell) may not stand
    beside `open_quantity` of open reduce-only orders on its side; None if it may."""
    if position * sign >= 0:
        return Refusal.REDUCE_ONLY
    if quantity + open_quantity > abs(position):
        return Refusal.REDUCE_ONLY_EXCEEDS
    return None


_PRIORITY_TYPES = (SimOrderType.MARKET, SimOrderType.STOP_MARKET)


def reduce_only_refusal(
    order: BookOrder, position: Decimal, open_orders: Iterable[BookOrder], *, strict: bool = False
) -> Refusal | None:
    """The rule for a reduce-only `order` beside the open orders it must share the position
    with (the order itself not among them); `strict`: no exemption for a whole-position
    MARKET or STOP_MARKET."""
    whole = order.quantity >= abs(position) and position * order.sign < 0
    if not strict and whole and order.type in _PRIORITY_TYPES:
        return None
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
