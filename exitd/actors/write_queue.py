"""The gateway's queue of writes: per-symbol order, protective stops first, superseding.

One lane per symbol keeps that symbol's writes in the order they were asked for (a cancel
never overtakes the place it follows), while lanes are independent, so a slow or failing
symbol never holds up another symbol's stop. Across lanes the next write to send is the
protective one first, then the oldest. A queued place superseded by a newer place for the
same leg never leaves. The rate budget and the conditional-order slots decide whether a
write may leave now. No I/O here: the gateway actor asks, sends, and reports back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from exitd.actors.messages import PlaceWrite, Submit
from exitd.exchange.port import RateUsage

# Binance's published limits (binance-usdm.md §3): weight per minute, orders per 10 s / minute.
WEIGHT_1M_LIMIT = 2400
ORDERS_10S_LIMIT = 300
ORDERS_1M_LIMIT = 1200
CONDITIONAL_CAP = 200
# Conditional slots kept back for hard stops: a working stop never takes the last of them.
HARD_STOP_RESERVE = 10


@dataclass(frozen=True, slots=True)
class RateBudget:
    """How much of the exchange's rate limits is used, from its own headers.

    A count is only as good as its window: once the window it counts has passed since the
    exchange reported it, it is spent. Otherwise a budget read near the limit would hold back
    every write it does not allow for ever, since only a sent write brings fresh headers.
    """

    usage: RateUsage = field(default_factory=RateUsage)
    seen_at: float = 0.0  # monotonic seconds when the exchange reported `usage`

    def use(self, now: float) -> float:
        """The largest share of any limit in use at `now`, 0..1+."""
        u = self.usage
        age = now - self.seen_at
        shares = [0.0]
        if age < 60:
            shares += [(u.weight_1m or 0) / WEIGHT_1M_LIMIT, (u.orders_1m or 0) / ORDERS_1M_LIMIT]
        if age < 10:
            shares.append((u.orders_10s or 0) / ORDERS_10S_LIMIT)
        return max(shares)

    def allows(self, write: Submit, now: float) -> bool:
        """Above 80 % only protective writes leave; above 95 % only hard stops."""
        share = self.use(now)
        if share < 0.8:
            return True
        if share < 0.95:
            return write.write.protective
        return isinstance(write.write, PlaceWrite) and write.write.leg == "HARD_SL"


def slot_allows(submit: Submit, open_conditional: int) -> bool:
    """The account's 200 open conditional orders: hard stops first when slots run short."""
    write = submit.write
    if not isinstance(write, PlaceWrite) or not write.order.conditional:
        return True
    if write.leg == "HARD_SL":
        return open_conditional < CONDITIONAL_CAP
    return open_conditional < CONDITIONAL_CAP - HARD_STOP_RESERVE


class WriteQueue:
    """Lanes of waiting writes; the owner marks a lane busy while its head is being sent."""

    def __init__(self) -> None:
        self._lanes: dict[str, deque[Submit]] = {}
        self._busy: set[str] = set()

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def push(self, submit: Submit) -> Submit | None:
        """Queue `submit`; returns a queued write it supersedes, which must not be sent."""
        write = submit.write
        lane = self._lanes.setdefault(write.symbol, deque())
        superseded = None
        if isinstance(write, PlaceWrite) and write.leg not in ("HARD_SL", "TIME"):
            for queued in lane:
                old = queued.write
                if (
                    isinstance(old, PlaceWrite)
                    and old.leg == write.leg
                    and old.module == write.module
                ):
                    superseded = queued
                    break
        if superseded is not None:
            lane.remove(superseded)
        lane.append(submit)
        return superseded

    def push_front(self, submit: Submit) -> None:
        """Put back a write the exchange proved it did not take (a 429): it goes first."""
        self._lanes.setdefault(submit.write.symbol, deque()).appendleft(submit)

    def ready(self) -> Iterator[Submit]:
        """Heads of idle lanes, protective first, then in lane order."""
        heads = [
            lane[0] for symbol, lane in self._lanes.items() if lane and symbol not in self._busy
        ]
        heads.sort(key=lambda s: not s.write.protective)
        return iter(heads)

    def take(self, submit: Submit) -> None:
        """`submit`, a head from `ready`, leaves its lane, which stays busy until `done`."""
        symbol = submit.write.symbol
        lane = self._lanes[symbol]
        lane.popleft()
        self._busy.add(symbol)

    def done(self, symbol: str) -> None:
        self._busy.discard(symbol)
        if not self._lanes.get(symbol, True):
            del self._lanes[symbol]

    def waiting(self, symbol: str) -> tuple[Submit, ...]:
        return tuple(self._lanes.get(symbol, ()))
