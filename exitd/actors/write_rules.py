"""What makes a write unfit to go out at all, whoever sends it.

Pure. Exits are reduce-only or close-position only; client ids fit Binance's 36 characters;
the safety net places close-position stops only; prices are finite and positive.
"""

from __future__ import annotations

from exitd.actors.messages import CancelWrite, Submit
from exitd.exchange.port import ORDER_TYPES
from exitd.ownership import SAFETY_NET


def write_problem(submit: Submit) -> str | None:
    """Why a write may not go out at all; exits are reduce-only or close-position only."""
    write = submit.write
    cid = write.client_order_id
    if not cid or len(cid) > 36:
        return f"client id {cid!r}: 1 to 36 characters"
    if isinstance(write, CancelWrite):
        return None
    order = write.order
    if order.type not in ORDER_TYPES:
        return f"order type {order.type!r}: one of {', '.join(sorted(ORDER_TYPES))}"
    if not (order.reduce_only or order.close_position):
        return "an exit order must be reduce-only or close-position"
    if write.module == SAFETY_NET and not (order.close_position and order.conditional):
        return "the safety net places close-position stops only"
    if order.close_position and (order.quantity is not None or not order.conditional):
        return "close-position is for stop orders, without a quantity"
    if not order.close_position and (order.quantity is None or order.quantity <= 0):
        return "a positive quantity"
    for name in ("price", "trigger_price", "activation_price", "callback_rate"):
        value = getattr(order, name)
        if value is not None and not (value.is_finite() and value > 0):
            return f"{name} {value}: a positive price"
    return None
