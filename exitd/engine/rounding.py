"""Exact rounding of prices and quantities onto the exchange's grid (SPEC-exits.md, "Rounding").

Prices round to the nearest tick, a half tick away from zero; an order that would land on or past
the current price moves to the nearest tick strictly on its own side. Quantities round down.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

_ONE = Decimal(1)


def round_price(price: Decimal, tick: Decimal) -> Decimal:
    """Nearest multiple of `tick`, halves away from zero (Decimal's ROUND_HALF_UP)."""
    return (price / tick).quantize(_ONE, rounding=ROUND_HALF_UP) * tick


def round_qty_down(qty: Decimal, step: Decimal) -> Decimal:
    return (qty / step).quantize(_ONE, rounding=ROUND_DOWN) * step


def tick_below(price: Decimal, tick: Decimal) -> Decimal:
    """The largest multiple of `tick` strictly below `price`."""
    return ((price / tick).quantize(_ONE, rounding=ROUND_CEILING) - 1) * tick


def tick_above(price: Decimal, tick: Decimal) -> Decimal:
    """The smallest multiple of `tick` strictly above `price`."""
    return ((price / tick).quantize(_ONE, rounding=ROUND_FLOOR) + 1) * tick


def price_below(raw: Decimal, current: Decimal, tick: Decimal) -> Decimal:
    """`raw` rounded, kept strictly below `current`: a long's stop, a short's take-profit."""
    rounded = round_price(raw, tick)
    return rounded if rounded < current else tick_below(current, tick)


def price_above(raw: Decimal, current: Decimal, tick: Decimal) -> Decimal:
    """`raw` rounded, kept strictly above `current`: a short's stop, a long's take-profit."""
    rounded = round_price(raw, tick)
    return rounded if rounded > current else tick_above(current, tick)


def on_grid(value: Decimal, unit: Decimal) -> bool:
    return value % unit == 0
