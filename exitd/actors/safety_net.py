"""The safety net: no position stays naked, whoever was supposed to protect it.

In mode LEGACY the exit brain places nothing; if no stop-loss from anyone rests for a position
once its grace has passed, exitd places the emergency stop itself (close-position, so it
covers whatever size the position has). Pure: the symbol actor asks and sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from exitd.actors.messages import PlaceWrite, WriteAnswer
from exitd.engine import Leg, Side, SymbolFilters, make_client_order_id, pct_price
from exitd.engine.rounding import price_above, price_below
from exitd.exchange.port import Accepted, OrderRequest, OrderView, PositionView
from exitd.ops.metrics import OrderKind
from exitd.ownership import SAFETY_NET

_STOP_TYPES = frozenset({"STOP", "STOP_MARKET", "TRAILING_STOP_MARKET"})
SAFETY_NET_CODE = "sn"


def is_naked(position: PositionView, orders: Iterable[OrderView]) -> bool:
    """No stop on the closing side rests for this open position."""
    closing = Side.of_amount(position.amount).closing_side
    return not any(
        o.type in _STOP_TYPES
        and o.side is closing
        and (o.close_position or o.reduce_only)
        and o.state.open
        for o in orders
        if o.symbol == position.symbol
    )


def emergency_stop(
    position: PositionView,
    filters: SymbolFilters,
    emergency_sl_pct: Decimal,
    mark_price: Decimal,
    now_ms: int,
) -> OrderRequest:
    """A close-position STOP_MARKET `emergency_sl_pct` against the entry, on the tick grid and
    strictly on the stop's side of the mark (a stop already passed would trigger at once)."""
    side = Side.of_amount(position.amount)
    raw = pct_price(position.entry_price, side, -emergency_sl_pct)
    on_side = price_below if side is Side.LONG else price_above
    trigger = on_side(raw, mark_price, filters.tick_size)
    return OrderRequest(
        symbol=position.symbol,
        client_order_id=make_client_order_id(SAFETY_NET_CODE, position.symbol, Leg.HARD_SL, now_ms),
        side=side.closing_side,
        type="STOP_MARKET",
        trigger_price=trigger,
        close_position=True,
    )


def emergency_write(stop: OrderRequest) -> PlaceWrite:
    """The emergency stop as the safety net's write: protective, so it goes out first."""
    return PlaceWrite(SAFETY_NET, stop, OrderKind.SL, "HARD_SL", protective=True)


@dataclass(frozen=True, slots=True)
class NakedAlert:
    """A position naked past its grace, and the emergency stop that covers it."""

    naked_s: float
    stop: OrderRequest


class NakedWatch:
    """One position's watch: when it lost its last stop, and whether its stop is on its way."""

    def __init__(
        self,
        grace_s: float,
        emergency_sl_pct: Decimal,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._grace_s = grace_s
        self._monotonic = monotonic
        self._emergency_sl_pct = emergency_sl_pct
        self._naked_since: float | None = None
        self._sent = False

    def look(
        self,
        position: PositionView | None,
        orders: Iterable[OrderView],
        filters: SymbolFilters | None,
        mark_price: Decimal | None,
        now_ms: int,
    ) -> NakedAlert | None:
        """The emergency stop to place now, or None; `position` None: nothing to watch."""
        if position is None or position.amount == 0 or not is_naked(position, orders):
            self._naked_since, self._sent = None, False
            return None
        now = self._monotonic()
        if self._naked_since is None:
            self._naked_since = now
        if self._sent or now - self._naked_since < self._grace_s:
            return None
        if filters is None or mark_price is None:
            return None
        self._sent = True
        stop = emergency_stop(position, filters, self._emergency_sl_pct, mark_price, now_ms)
        return NakedAlert(now - self._naked_since, stop)

    def naked_s(self) -> float:
        """Seconds since the position was last seen with a stop; 0 when it has one."""
        since = self._naked_since
        return 0.0 if since is None else self._monotonic() - since

    def answered(self, answer: WriteAnswer) -> None:
        """The gateway's answer to the emergency stop; one not accepted did not land."""
        if not isinstance(answer.outcome, Accepted):
            self.refused()

    def refused(self) -> None:
        """The stop did not land: look again after the next grace."""
        self._sent = False
        self._naked_since = self._monotonic()
