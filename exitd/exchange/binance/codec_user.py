"""User-data stream payloads → port events (binance-usdm.md §9, §12.3–§12.6).

ORDER_TRADE_UPDATE and ALGO_UPDATE become `OrderUpdate`s, ACCOUNT_UPDATE one
`PositionUpdate` per one-way (`ps` BOTH) position it carries. TRADE_LITE repeats what the
ORDER_TRADE_UPDATE after it says, and the account-level events carry nothing the port
needs: both are known and ignored. `listenKeyExpired` is reported as `KeyExpired` for the
stream to renew its key. Pure functions; malformed payloads raise `BadPayload`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitd.exchange.binance.codec import (
    BadPayload,
    Payload,
    decimal,
    field,
    flag,
    integer,
    nonzero,
    order_state,
    side,
    text,
)
from exitd.exchange.port import OrderState, OrderUpdate, OrderView, PositionUpdate, PositionView

_ZERO = Decimal(0)
IGNORED = frozenset(
    {"TRADE_LITE", "ACCOUNT_CONFIG_UPDATE", "MARGIN_CALL", "STRATEGY_UPDATE", "GRID_UPDATE",
     "CONDITIONAL_ORDER_TRIGGER_REJECT"}
)  # fmt: skip
# ALGO_UPDATE statuses that, with a failure reason `rm`, mean the stop is gone without the
# daemon asking: the exchange refused it at trigger time (RELIABILITY.md §0.10).
_ENDED = frozenset({OrderState.CANCELED, OrderState.FINISHED, OrderState.REJECTED})


@dataclass(frozen=True, slots=True)
class KeyExpired:
    """`listenKeyExpired`: no more events on this key; create a new one."""

    time_ms: int


UserPayloadEvent = OrderUpdate | PositionUpdate | KeyExpired


def unwrap(message: Any) -> Mapping[str, Any]:
    """The payload of a frame: combined-stream frames wrap it as `{"stream", "data"}`."""
    if isinstance(message, dict) and "data" in message and "stream" in message:
        message = message["data"]
    if not isinstance(message, dict):
        raise BadPayload("a frame must be a JSON object")
    return message


def user_events(payload: Payload) -> list[UserPayloadEvent]:
    """The port events of one user-data payload; [] for an ignored type."""
    kind = text(payload, "e")
    if kind == "ORDER_TRADE_UPDATE":
        return [order_trade_update(payload)]
    if kind == "ALGO_UPDATE":
        return [algo_update(payload)]
    if kind == "ACCOUNT_UPDATE":
        return list(account_update(payload))
    if kind == "listenKeyExpired":
        return [KeyExpired(integer(payload, "E"))]
    if kind in IGNORED:
        return []
    raise BadPayload(f"unknown event type {kind!r}")


def order_trade_update(payload: Payload) -> OrderUpdate:
    """A regular order's change (§9.2): a triggered algo order's child comes this way too,
    with the parent's client id (§14)."""
    o = field(payload, "o")
    quantity = decimal(o, "q")
    filled = decimal(o, "z", _ZERO)
    state = order_state(text(o, "X"), filled, quantity)
    trade = text(o, "x") in ("TRADE", "CALCULATED")
    expire_reason = str(o.get("er", "0"))
    view = OrderView(
        symbol=text(o, "s"),
        client_order_id=text(o, "c"),
        exchange_id=str(integer(o, "i")),
        side=side(o, "S"),
        type=text(o, "o"),
        state=state,
        conditional=False,
        quantity=quantity,
        filled_qty=filled,
        price=nonzero(o, "p"),
        trigger_price=nonzero(o, "sp"),
        reduce_only=flag(o, "R"),
        close_position=flag(o, "cp"),
        update_ms=integer(o, "T"),
    )
    return OrderUpdate(
        order=view,
        last_fill_qty=decimal(o, "l", _ZERO),
        last_fill_price=decimal(o, "L", _ZERO),
        trade_id=integer(o, "t") if trade else None,
        time_ms=integer(payload, "E"),
        reject_reason=f"expire reason {expire_reason}" if expire_reason != "0" else "",
    )


def algo_update(payload: Payload) -> OrderUpdate:
    """A conditional order's change (§5.4, §12.5). A failure reason `rm` on an order that
    ended (cancelled, finished, rejected) means the exchange refused it: REJECTED."""
    o = field(payload, "o")
    quantity = nonzero(o, "q")  # "0" on a close-position order
    filled = decimal(o, "aq", _ZERO)
    state = order_state(text(o, "X"), filled, quantity)
    reason = o.get("rm") or ""
    if not isinstance(reason, str):
        raise BadPayload(f"'rm' must be a string, got {reason!r}")
    if reason and state in _ENDED:
        state = OrderState.REJECTED
    view = OrderView(
        symbol=text(o, "s"),
        client_order_id=text(o, "caid"),
        exchange_id=str(integer(o, "aid")),
        side=side(o, "S"),
        type=text(o, "o"),
        state=state,
        conditional=True,
        quantity=quantity,
        filled_qty=filled,
        price=nonzero(o, "p"),
        trigger_price=nonzero(o, "tp"),
        reduce_only=flag(o, "R"),
        close_position=flag(o, "cp"),
        update_ms=integer(payload, "T"),
    )
    return OrderUpdate(
        order=view,
        last_fill_qty=_ZERO,
        last_fill_price=_ZERO,
        trade_id=None,
        time_ms=integer(payload, "E"),
        reject_reason=reason,
    )


def account_update(payload: Payload) -> list[PositionUpdate]:
    """One update per one-way position of the event (§9.3); hedge-mode entries (LONG/SHORT)
    are not the port's and are left out."""
    account = field(payload, "a")
    entries = account.get("P", [])
    if not isinstance(entries, list):
        raise BadPayload("'a.P' must be a list")
    event_ms = integer(payload, "E")
    update_ms = integer(payload, "T") if "T" in payload else event_ms
    return [
        PositionUpdate(
            PositionView(
                symbol=text(p, "s"),
                amount=decimal(p, "pa"),
                entry_price=decimal(p, "ep"),
                update_ms=update_ms,
            ),
            event_ms,
        )
        for p in entries
        if p.get("ps", "BOTH") == "BOTH"
    ]


__all__ = ["IGNORED", "KeyExpired", "UserPayloadEvent", "account_update", "algo_update",
           "order_trade_update", "unwrap", "user_events"]  # fmt: skip
