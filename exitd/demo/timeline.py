"""What happened in a demo, one line per event, from the simulator's ledger.

The ledger is the exchange's own record (every order received, each status it went through,
every fill and position), so the timeline shows what the exchange saw, not what the daemon
believed it did. Only the adoption comes from the daemon: the exchange cannot see a plan.
Pure: the demo hands in the records, this turns them into lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from exitd.actors.reconcile_view import is_own, leg_label
from exitd.exchange.sim.ledger import Ledger, LedgerOrder
from exitd.replay.runner import ExitFill, StopMove

_GONE = frozenset({"CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"})


@dataclass(frozen=True, slots=True)
class Adoption:
    """The daemon took the position over (its `plan.adopted` event)."""

    time_ms: int
    side: str
    qty: str
    entry_price: str
    profile: str
    hard_sl: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    time_ms: int
    what: str  # opened, adopted, placed, moved, resized, refused, filled, flat, cancelled
    leg: str
    detail: str


def timeline(ledger: Ledger, symbol: str, adoptions: Iterable[Adoption]) -> list[TimelineEntry]:
    """Every step of `symbol`'s position in time order."""
    entries = [
        *_positions(ledger, symbol),
        *(
            TimelineEntry(
                a.time_ms,
                "adopted",
                "",
                f"{a.side} {a.qty} @ {a.entry_price}, profile {a.profile}, hard stop {a.hard_sl}",
            )
            for a in adoptions
        ),
        *_orders(_own_orders(ledger, symbol)),
        *(
            TimelineEntry(
                f.time_ms,
                "filled",
                leg_label(f.client_order_id) or "",
                f"{f.qty} @ {f.price}, realised {f.realized_pnl:+.2f}",
            )
            for f in ledger.fills
            if f.symbol == symbol and is_own(f.client_order_id)
        ),
    ]
    return sorted(entries, key=lambda e: (e.time_ms, _rank(e.what)))


def render(entries: Sequence[TimelineEntry], start_ms: int) -> list[str]:
    """One line each, seconds since `start_ms`."""
    return [
        f"{(e.time_ms - start_ms) / 1000:+8.2f}s  {e.what:<9} {e.leg:<13} {e.detail}".rstrip()
        for e in entries
    ]


def _rank(what: str) -> int:
    """Opened, adopted, orders, fills, flat, cancellations: cause before effect."""
    return {"opened": 0, "adopted": 1, "filled": 3, "flat": 4, "cancelled": 5}.get(what, 2)


def _own_orders(ledger: Ledger, symbol: str) -> list[LedgerOrder]:
    """The exit brain's orders as received; a triggered stop's child is its parent's fill."""
    return [
        o
        for o in ledger.orders
        if o.symbol == symbol and o.parent_algo_id is None and is_own(o.client_order_id)
    ]


def _positions(ledger: Ledger, symbol: str) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    held = Decimal(0)
    for move in ledger.positions.get(symbol, []):
        if held == 0 and move.amount != 0:
            side = "LONG" if move.amount > 0 else "SHORT"
            detail = f"{side} {abs(move.amount)} {symbol} @ {move.entry_price} (an entry bot)"
            entries.append(TimelineEntry(move.time_ms, "opened", "", detail))
        elif move.amount == 0 and held != 0:
            entries.append(TimelineEntry(move.time_ms, "flat", "", "position closed"))
        held = move.amount
    return entries


def _orders(orders: Sequence[LedgerOrder]) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    last_of_leg: dict[str, LedgerOrder] = {}
    for order in orders:
        leg = leg_label(order.client_order_id) or order.client_order_id
        received = order.history[0].time_ms
        before = last_of_leg.get(leg)
        if order.refusal is not None:
            entries.append(TimelineEntry(received, "refused", leg, order.refusal))
            continue
        if before is not None and order.trigger_price == before.trigger_price:
            detail = f"stop {order.trigger_price} now for {_size(order)}"
            entries.append(TimelineEntry(received, "resized", leg, detail))
        elif before is not None and order.trigger_price is not None:
            detail = f"stop {before.trigger_price} -> {order.trigger_price} for {_size(order)}"
            entries.append(TimelineEntry(received, "moved", leg, detail))
        else:
            entries.append(TimelineEntry(received, "placed", leg, _describe(order)))
        last_of_leg[leg] = order
    for order in orders:
        leg = leg_label(order.client_order_id) or order.client_order_id
        gone = next((s for s in order.history if s.status in _GONE), None)
        if gone is not None and last_of_leg.get(leg) is order:  # not a move's old half
            entries.append(TimelineEntry(gone.time_ms, "cancelled", leg, ""))
    return entries


def _size(order: LedgerOrder) -> str:
    return "the whole position" if order.close_position else f"{order.quantity}"


def _describe(order: LedgerOrder) -> str:
    size = _size(order)
    if order.trigger_price is not None:
        return f"stop {order.trigger_price} for {size} ({order.type})"
    if order.price is not None:
        return f"limit {order.price} for {size}"
    return f"{order.type} for {size}"


def stop_moves(ledger: Ledger, symbol: str) -> list[StopMove]:
    """Each own stop as it rested, for the picture: a new trigger per order, None once the
    last one of its leg is gone (cancelled, expired or triggered)."""
    stops = [o for o in _own_orders(ledger, symbol) if o.trigger_price and o.refusal is None]
    moves: list[StopMove] = []
    last_of_leg = {leg_label(o.client_order_id): o for o in stops}
    for order in stops:
        leg = leg_label(order.client_order_id) or order.client_order_id
        moves.append(StopMove(order.history[0].time_ms, leg, order.trigger_price))
        ended = next((s for s in order.history if s.status != "NEW"), None)
        if ended is not None and last_of_leg.get(leg) is order:
            moves.append(StopMove(ended.time_ms, leg, None))
    return sorted(moves, key=lambda m: m.time_ms)


def exit_fills(ledger: Ledger, symbol: str, side_sign: int, entry_price: Decimal) -> list[ExitFill]:
    """The exit brain's fills of `symbol`, by leg, for the picture."""
    return [
        ExitFill(
            f.time_ms,
            leg_label(f.client_order_id) or "",
            f.price,
            f.qty,
            side_sign * (f.price - entry_price) * f.qty,
        )
        for f in ledger.fills
        if f.symbol == symbol and is_own(f.client_order_id)
    ]


def take_profit_levels(ledger: Ledger, symbol: str) -> list[tuple[str, Decimal]]:
    """Each take-profit's limit price as first placed: TP1, TP2, …"""
    levels: dict[str, Decimal] = {}
    for order in _own_orders(ledger, symbol):
        leg = leg_label(order.client_order_id) or ""
        if leg.startswith("TP") and order.price is not None and order.refusal is None:
            levels.setdefault(leg, order.price)
    return sorted(levels.items(), key=lambda level: int(level[0][2:]))
