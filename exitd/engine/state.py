"""The exit state of one position: its plan, what it has seen, and the orders it believes live.

A value, never mutated: `decide` returns a new one. The fields `quiet_low`, `quiet_high`,
`deadline_ms` and `wake` exist only so that a tick which cannot change anything is answered
without building a new state (the hot path of a live symbol and of `exitd replay`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from exitd.engine.model import Leg, OrderIntent, OrderType
from exitd.engine.plan import ExitPlan

NEVER_MS = 2**63 - 1
# How long a shrink of the position that a take-profit's fill may explain waits for that fill
# before the take-profits are cut to it: Binance does not promise ORDER_TRADE_UPDATE before
# ACCOUNT_UPDATE, and a fill must never get the next target cancelled and re-placed.
FILL_GRACE_MS = 2_000


class OrderStatus(Enum):
    PENDING_NEW = "pending_new"
    LIVE = "live"
    PENDING_CANCEL = "pending_cancel"


@dataclass(frozen=True, slots=True)
class TrackedOrder:
    intent: OrderIntent
    status: OrderStatus
    filled_qty: Decimal = Decimal(0)

    @property
    def open_qty(self) -> Decimal | None:
        qty = self.intent.quantity
        return None if qty is None else qty - self.filled_qty

    @property
    def active(self) -> bool:
        """Placed or resting, and not on its way out."""
        return self.status is not OrderStatus.PENDING_CANCEL


@dataclass(frozen=True, slots=True)
class Retry:
    """A leg the exchange refused: not placed again before `not_before_ms`."""

    label: str
    not_before_ms: int
    attempts: int
    final: bool = False  # refused for good: waits for the position to change, not the clock


@dataclass(frozen=True, slots=True)
class ExitState:
    plan: ExitPlan
    qty: Decimal
    adopted_ms: int
    best_price: Decimal
    next_seq: int
    breakeven_armed: bool = False
    trail_armed: bool = False
    extreme: Decimal | None = None
    target_stop: Decimal | None = None
    tp_filled: tuple[Decimal, ...] = ()
    tps_done: frozenset[int] = frozenset()
    time_fired: bool = False
    orders: tuple[TrackedOrder, ...] = ()
    retries: tuple[Retry, ...] = ()
    # Ids of the orders an earlier adoption of this position left: reconcile replaces them.
    inherited: frozenset[str] = frozenset()
    # The exchange refused a make-before-break working stop (reduce-only check): the leg now
    # cancels the old stop first and places the new one once the cancel is confirmed.
    break_first: bool = False
    # The trigger of a working stop cancelled before its successor was accepted: the floor the
    # successor must not loosen below.
    stop_floor: Decimal | None = None
    # When the position last shrank: take-profit cuts wait FILL_GRACE_MS for a fill to explain it.
    shrunk_ms: int | None = None
    quiet_low: Decimal = field(default=Decimal(0))
    quiet_high: Decimal = field(default=Decimal(0))
    deadline_ms: int = NEVER_MS
    wake: bool = True

    @property
    def mfe_pct(self) -> Decimal:
        """The maximum favourable excursion since adoption, in percent."""
        return self.plan.excursion_pct(self.best_price)

    @property
    def flat(self) -> bool:
        return self.qty == 0

    @property
    def done(self) -> bool:
        """Flat with nothing left on the exchange: the symbol's actor may retire this plan."""
        return self.qty == 0 and not self.orders

    def orders_of(self, leg: Leg, tp_number: int = 0) -> tuple[TrackedOrder, ...]:
        return tuple(
            o for o in self.orders if o.intent.leg is leg and o.intent.tp_number == tp_number
        )

    def order(self, client_order_id: str) -> TrackedOrder | None:
        for o in self.orders:
            if o.intent.client_order_id == client_order_id:
                return o
        return None

    @property
    def closing(self) -> bool:
        """A reduce-only MARKET is on its way: place nothing new until it resolves."""
        return any(o.intent.type is OrderType.MARKET for o in self.orders)

    def own_orders_of(self, leg: Leg, tp_number: int = 0) -> tuple[TrackedOrder, ...]:
        """This adoption's orders of a leg, without those an earlier adoption left."""
        orders = self.orders_of(leg, tp_number)
        inherited = self.inherited
        if not inherited:  # the common case, on the path of every replacement
            return orders
        return tuple(o for o in orders if o.intent.client_order_id not in inherited)

    @property
    def working_stop(self) -> TrackedOrder | None:
        """This adoption's newest active working stop: the one a replacement must improve on."""
        active = [o for o in self.own_orders_of(Leg.WORKING_STOP) if o.active]
        return active[-1] if active else None


def _compile_replace(cls: type) -> Any:
    """`dataclasses.replace` for `cls`, written out field by field with each slot's setter
    bound once: the generic one looks every field up by name on each call, and was a third of
    the cost of a tick that moves the trail."""
    names = [f.name for f in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {"_KEEP": object(), "_new": object.__new__, "cls": cls}
    lines = [f"def replace(obj, /, *, {', '.join(f'{n}=_KEEP' for n in names)}):"]
    lines.append("    new = _new(cls)")
    for i, name in enumerate(names):
        namespace[f"_set{i}"] = cls.__dict__[name].__set__  # the slot's member descriptor
        lines.append(f"    _set{i}(new, obj.{name} if {name} is _KEEP else {name})")
    lines.append("    return new")
    exec("\n".join(lines), namespace)  # the source is built from the field names only
    return namespace["replace"]


if TYPE_CHECKING:
    replace_state = dataclasses.replace  # mypy checks the field names as for dataclasses.replace
else:
    replace_state = _compile_replace(ExitState)
