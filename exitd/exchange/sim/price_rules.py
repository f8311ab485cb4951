"""Where orders trigger, cross and fill, and how a fill moves a position: the arithmetic of
the simulator's book, as small functions of an order and a price.

A buy's sign is +1 and a sell's -1 (`BookOrder.sign`), so one comparison serves both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from exitd.engine.model import OrderSide
from exitd.exchange.sim.book import BookOrder, SimOrderType

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


def crosses(order: BookOrder, price: Decimal) -> bool:
    """A LIMIT that would trade at `price`: a buy at or above it, a sell at or below."""
    if order.type is not SimOrderType.LIMIT or order.price is None:
        return False
    return (order.price - price) * order.sign >= 0


def triggered(order: BookOrder, level: Decimal, price: Decimal) -> bool:
    """A stop buys at or above its level and sells at or below; a take-profit the reverse."""
    if order.type.take_profit:
        return (level - price) * order.sign >= 0
    return (price - level) * order.sign >= 0


def would_trigger(order: BookOrder, price: Decimal) -> bool:
    """A conditional order placed at `price` that would trigger at once (-2021); a trailing
    stop's activation price must be on the far side of the price."""
    if order.type is SimOrderType.TRAILING_STOP_MARKET:
        activation = order.activation_price
        return activation is not None and (activation - price) * order.sign >= 0
    assert order.trigger_price is not None
    return triggered(order, order.trigger_price, price)


def fired(
    conditionals: Iterable[BookOrder], price_of: Callable[[BookOrder], Decimal | None]
) -> list[BookOrder]:
    """The conditional orders their watched price (`price_of`: the mark or the last trade, as
    each one's workingType says) triggers, the most protective first: the highest sell level,
    the lowest buy; then close-position ones."""
    hits = []
    for order in conditionals:
        price = price_of(order)
        if price is None:
            continue
        if order.type is SimOrderType.TRAILING_STOP_MARKET:
            level = trail_level(order, price)
        else:
            level = order.trigger_price
        if level is not None and triggered(order, level, price):
            hits.append((level, order))
    hits.sort(key=lambda lo: (lo[0] * lo[1].sign, not lo[1].close_position))
    return [order for _, order in hits]


def trail_level(order: BookOrder, price: Decimal) -> Decimal | None:
    """A trailing stop's trigger level once active, tracking the best price since placement."""
    extreme = order.trail_extreme
    # A sell trail follows the highest price, a buy trail the lowest.
    if extreme is None or (price - extreme) * order.sign < 0:
        extreme = price
    order.trail_extreme = extreme
    activation = order.activation_price
    if activation is not None and (activation - extreme) * order.sign < 0:
        return None
    assert order.callback_rate is not None
    return extreme * (1 + order.sign * order.callback_rate / _HUNDRED)


def slipped_price(
    price: Decimal, side: OrderSide, slippage_pct: Decimal, tick_size: Decimal | None
) -> Decimal:
    """A taker's fill price: `slippage_pct` worse, then onto the tick grid against the taker
    (a buy pays the tick above, a sell gets the one below)."""
    if not slippage_pct:
        return price
    buy = side is OrderSide.BUY
    slipped = price * (1 + (1 if buy else -1) * slippage_pct / _HUNDRED)
    if tick_size is None:
        return slipped
    ticks = (slipped / tick_size).to_integral_value(ROUND_CEILING if buy else ROUND_FLOOR)
    return ticks * tick_size


def move_position(
    position: Decimal, entry_price: Decimal, signed_qty: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(position, entry price, realised P&L) after trading `signed_qty` at `price`."""
    if position == 0 or position * signed_qty > 0:  # opening or adding: average the entry
        total = position + signed_qty
        entry = (entry_price * abs(position) + price * abs(signed_qty)) / abs(total)
        return total, entry, _ZERO
    closed = min(abs(signed_qty), abs(position))
    realized = (price - entry_price) * closed * (1 if position > 0 else -1)
    after = position + signed_qty
    if after == 0:
        return after, _ZERO, realized
    if after * position < 0:  # flipped: the rest opens at this price
        return after, price, realized
    return after, entry_price, realized
