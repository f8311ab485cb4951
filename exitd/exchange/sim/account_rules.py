"""The account's parameter rules for new orders, as pure functions (binance-usdm.md §4-§5)."""

from __future__ import annotations

from decimal import Decimal

from exitd.exchange.sim.book import BookOrder, Refusal, SimOrderType
from exitd.exchange.sim.symbols import SYMBOLS


def tick_size(symbol: str) -> Decimal | None:
    spec = SYMBOLS.get(symbol)
    return None if spec is None else Decimal(spec.tick_size)


def order_refusal(order: BookOrder) -> Refusal | None:
    if order.type.conditional:
        return Refusal.USE_ALGO_ENDPOINT
    if order.quantity <= 0 or (order.type is SimOrderType.LIMIT) != (order.price is not None):
        return Refusal.BAD_PARAMETERS
    return None


def algo_refusal(order: BookOrder, quantity: Decimal | None) -> Refusal | None:
    """The algo endpoint's parameter rules that matching relies on (binance-usdm.md §5.3)."""
    kind = order.type
    if not kind.conditional:
        return Refusal.NOT_CONDITIONAL
    if order.close_position:
        market_stop = kind in (SimOrderType.STOP_MARKET, SimOrderType.TAKE_PROFIT_MARKET)
        if quantity is not None or order.reduce_only or not market_stop:
            return Refusal.BAD_PARAMETERS  # -4137 / -4138
    elif quantity is None or quantity <= 0:
        return Refusal.BAD_PARAMETERS
    if kind is SimOrderType.TRAILING_STOP_MARKET:
        return None if order.callback_rate is not None else Refusal.BAD_PARAMETERS
    if order.trigger_price is None or (kind.child_type is SimOrderType.LIMIT) != (
        order.price is not None
    ):
        return Refusal.BAD_PARAMETERS
    return None
