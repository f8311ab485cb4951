"""Unknown outcomes: a write whose answer was lost is looked up by client id, never resent.

Pure. The gateway keeps one `InFlight` per write with no outcome yet; after a timeout, an
answer that proves nothing, a duplicate id or a crash mid-send, the entry is marked unknown and
the order is read by its client id (RELIABILITY.md §0 finding 2) on a backing-off schedule
until the read settles it: found, it is the write's answer; gone past the recvWindow, the
write never landed; a cancel found still open goes out again (the only write sent twice,
and only once the read proves the first did nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from exitd.actors.messages import CancelWrite, PlaceWrite, Submit
from exitd.exchange.port import (
    Accepted,
    NotFound,
    OrderView,
    QueryOutcome,
    Rejected,
    RejectKind,
    WriteOutcome,
)

LOOKUP_FIRST_S = 1.0
LOOKUP_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class InFlight:
    """A write whose outcome is not known yet: being sent, or unknown and to be looked up."""

    submit: Submit
    sent_at: float
    unknown: bool = False
    lookup_at: float = 0.0
    lookups: int = 0
    looking: bool = False


@dataclass(frozen=True, slots=True)
class SendAgain:
    """The cancel did not happen (the order is still open): it goes out again."""


@dataclass(frozen=True, slots=True)
class Settled:
    """The lookup answers the write."""

    outcome: WriteOutcome


@dataclass(frozen=True, slots=True)
class LookAgain:
    """Nothing proven yet: the entry, with its next lookup's time."""

    entry: InFlight


def after_restart(entry: InFlight, now: float) -> InFlight:
    """The entry as a restarted gateway takes it: a send cut off by the crash may have
    arrived, so it is looked up at once; a lookup cut off is started again."""
    if not entry.unknown:
        return replace(entry, unknown=True, lookup_at=now, looking=False)
    if entry.looking:
        return replace(entry, looking=False)
    return entry


def unknown_outcome(entry: InFlight, now: float) -> InFlight:
    """A timeout or an unproven answer: the order may exist; look after the first wait (a
    fresh order may not be visible at once)."""
    return replace(entry, unknown=True, lookup_at=now + LOOKUP_FIRST_S)


def duplicate_id(entry: InFlight, now: float) -> InFlight:
    """The id is open on the exchange already: read it now and adopt it, never a new one."""
    return replace(entry, unknown=True, lookup_at=now)


def lookup_due(entry: InFlight, now: float) -> bool:
    return entry.unknown and not entry.looking and now >= entry.lookup_at


def looked_up_as_conditional(write: PlaceWrite | CancelWrite) -> bool:
    """Whether the order is read from the algo (conditional) orders."""
    return write.order.conditional if isinstance(write, PlaceWrite) else write.conditional


def after_lookup(
    entry: InFlight, found: QueryOutcome, now: float, recv_window_s: float
) -> SendAgain | Settled | LookAgain:
    """What the lookup's answer `found` settles for the write of `entry`."""
    write = entry.submit.write
    gone = isinstance(found, NotFound) or (
        isinstance(found, Rejected) and found.kind is RejectKind.NOT_FOUND
    )
    if isinstance(found, OrderView) and isinstance(write, CancelWrite) and found.state.open:
        return SendAgain()
    if isinstance(found, OrderView):
        return Settled(Accepted(found))
    if gone and isinstance(write, CancelWrite):
        return Settled(Rejected(RejectKind.NOT_FOUND, "order not found"))
    if gone and now > entry.sent_at + recv_window_s + LOOKUP_FIRST_S:
        # Past the recvWindow the exchange can no longer take the request: it never landed.
        reason = "not on the exchange after its recvWindow: it was never placed"
        return Settled(Rejected(RejectKind.OTHER, reason))
    lookups = entry.lookups + 1
    wait = min(LOOKUP_FIRST_S * 2**lookups, LOOKUP_MAX_S)
    return LookAgain(replace(entry, looking=False, lookups=lookups, lookup_at=now + wait))
