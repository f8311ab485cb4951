"""Order counters: every order through the exit gateway, by module, kind and outcome.

`OrderMetrics` is a frozen value, not a shared counter: the gateway actor holds the current
one and replaces it on each record, and a `metrics` command gets that value itself. Actors
share nothing mutable (DESIGN.md, "Shape: actors"), so a snapshot sent to the control actor
can never change under it, and nothing needs a lock or a copy. A record copies a dict of a
few dozen entries, which costs nothing next to an exchange round-trip.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import TypeVar

_K = TypeVar("_K")


class OrderKind(Enum):
    """What an order is for, in the seed system's words."""

    SL = "sl"
    TP = "tp"
    PARTIAL_TP = "partial_tp"
    BREAKEVEN = "breakeven"
    TRAILING = "trailing"
    TIME = "time"


class OrderOutcome(Enum):
    """How an order ended at the gateway."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # Timed out or "unknown status": the gateway looks it up before any retry.
    UNKNOWN = "unknown"
    # Not sent: the hard guard, an unknown module, or the gateway's validation refused it.
    REFUSED = "refused"
    # Not sent: the exit brain in mode LEGACY, logged as what it would have done.
    SHADOW = "shadow"
    # Not sent: a newer amendment of the same leg replaced it in the gateway's queue.
    SUPERSEDED = "superseded"


OrderKey = tuple[str, OrderKind, OrderOutcome]


def _frozen(counts: Mapping[_K, int]) -> Mapping[_K, int]:
    return MappingProxyType(dict(counts))


@dataclass(frozen=True, slots=True)
class OrderMetrics:
    """Counts since the daemon started. One count per (module, kind, outcome), from which
    every breakdown follows."""

    orders: Mapping[OrderKey, int] = field(default_factory=lambda: _frozen({}))
    conflicts: Mapping[str, int] = field(default_factory=lambda: _frozen({}))
    # Refused and rejected orders by why: the exchange's reject kind, or the gateway's own
    # refusal ("invalid", "hard_guard", "unknown_module").
    refusals: Mapping[str, int] = field(default_factory=lambda: _frozen({}))

    def record_order(
        self, module: str, kind: OrderKind, outcome: OrderOutcome, code: str | None = None
    ) -> OrderMetrics:
        """Count one order; `code` says why when it was refused or rejected."""
        counts = Counter(self.orders)
        counts[(module, kind, outcome)] += 1
        if code is None:
            return replace(self, orders=_frozen(counts))
        refusals = Counter(self.refusals)
        refusals[code] += 1
        return replace(self, orders=_frozen(counts), refusals=_frozen(refusals))

    def record_conflict(self, module: str) -> OrderMetrics:
        """Count an ownership conflict: a legacy write while the exit brain owns exits."""
        counts = Counter(self.conflicts)
        counts[module] += 1
        return replace(self, conflicts=_frozen(counts))

    @property
    def total_orders(self) -> int:
        return sum(self.orders.values())

    @property
    def total_conflicts(self) -> int:
        return sum(self.conflicts.values())

    def by_module(self) -> dict[str, int]:
        return dict(sorted(self._sum_by(lambda key: key[0]).items()))

    def by_kind(self) -> dict[OrderKind, int]:
        counts = self._sum_by(lambda key: key[1])
        return {kind: counts[kind] for kind in OrderKind if kind in counts}

    def by_outcome(self) -> dict[OrderOutcome, int]:
        counts = self._sum_by(lambda key: key[2])
        return {outcome: counts[outcome] for outcome in OrderOutcome if outcome in counts}

    def count(
        self,
        module: str | None = None,
        kind: OrderKind | None = None,
        outcome: OrderOutcome | None = None,
    ) -> int:
        """Orders matching every given part; None matches anything."""
        return sum(
            n
            for (m, k, o), n in self.orders.items()
            if module in (None, m) and kind in (None, k) and outcome in (None, o)
        )

    def _sum_by(self, part: Callable[[OrderKey], _K]) -> Counter[_K]:
        counts: Counter[_K] = Counter()
        for key, n in self.orders.items():
            counts[part(key)] += n
        return counts


@dataclass(frozen=True, slots=True)
class Corrections:
    """What reconciliation had to put right on one symbol: orders it had the engine place
    again (lost by the exchange), orders it cancelled (stale, left over, landed late), and
    fills it found that the user stream never delivered."""

    placed: int = 0
    cancelled: int = 0
    missed_fills: int = 0

    def __add__(self, other: Corrections) -> Corrections:
        return Corrections(
            self.placed + other.placed,
            self.cancelled + other.cancelled,
            self.missed_fills + other.missed_fills,
        )
