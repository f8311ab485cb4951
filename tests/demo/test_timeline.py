"""The demo's timeline and stop line, read from a ledger built by hand."""

from __future__ import annotations

from decimal import Decimal

from exitd.demo.timeline import Adoption, render, stop_moves, take_profit_levels, timeline
from exitd.engine import Leg, OrderSide
from exitd.engine.client_ids import EXIT_BRAIN_CODE, make_client_order_id
from exitd.exchange.sim.book import PositionMoved
from exitd.exchange.sim.ledger import Ledger, LedgerFill, LedgerOrder, StatusStep
from exitd.replay.runner import StopMove

SYMBOL = "XUSDT"


def order(
    leg: Leg,
    seq: int,
    at: int,
    *,
    trigger: str | None = None,
    price: str | None = None,
    qty: str = "1",
    tp: int = 0,
    history: tuple[tuple[str, int], ...] = (),
) -> LedgerOrder:
    cid = make_client_order_id(EXIT_BRAIN_CODE, SYMBOL, leg, seq, tp)
    placed = LedgerOrder(
        SYMBOL,
        trigger is not None,
        seq,
        cid,
        "STOP_MARKET" if trigger else "LIMIT",
        OrderSide.SELL,
        Decimal(qty),
        None if price is None else Decimal(price),
        None if trigger is None else Decimal(trigger),
        True,
        False,
        "GTC",
    )
    placed.history = [StatusStep("NEW", at), *(StatusStep(s, t) for s, t in history)]
    return placed


def fill(of: LedgerOrder, qty: str, price: str, at: int) -> LedgerFill:
    return LedgerFill(
        SYMBOL,
        at,
        of.order_id or 0,
        of.client_order_id,
        OrderSide.SELL,
        Decimal(qty),
        Decimal(price),
        Decimal(0),
        Decimal(0),
        False,
        at,
    )


def test_a_ratchet_reads_as_a_move_and_the_exit_as_fill_flat_cancel() -> None:
    # Long 1 at 100: HARD_SL 95; TP1 102 for 0.5; the working stop 100 then 101 (its old
    # order cancelled in the same millisecond: a move, not a cancellation); TP1 fills, the
    # stop resized to 0.5, the stop fills at 100.9; flat; the HARD_SL cancelled.
    hard = order(Leg.HARD_SL, 1, 1000, trigger="95", history=(("CANCELED", 9000),))
    tp1 = order(Leg.TAKE_PROFIT, 2, 1000, price="102", qty="0.5", tp=1, history=(("FILLED", 5000),))
    ws1 = order(Leg.WORKING_STOP, 3, 3000, trigger="100", history=(("CANCELED", 4000),))
    ws2 = order(Leg.WORKING_STOP, 4, 4000, trigger="101", history=(("CANCELED", 5000),))
    ws3 = order(Leg.WORKING_STOP, 5, 5000, trigger="101", qty="0.5", history=(("TRIGGERED", 8000),))
    ledger = Ledger(
        orders=[hard, tp1, ws1, ws2, ws3],
        fills=[fill(tp1, "0.5", "102", 5000), fill(ws3, "0.5", "100.9", 8000)],
        positions={
            SYMBOL: [
                PositionMoved(SYMBOL, Decimal(1), Decimal(100), 900),
                PositionMoved(SYMBOL, Decimal("0.5"), Decimal(100), 5000),
                PositionMoved(SYMBOL, Decimal(0), Decimal(0), 8000),
            ]
        },
    )
    adoption = Adoption(950, "LONG", "1", "100", "demo", "95")
    entries = timeline(ledger, SYMBOL, [adoption])
    assert [(e.time_ms, e.what, e.leg) for e in entries] == [
        (900, "opened", ""),
        (950, "adopted", ""),
        (1000, "placed", "HARD_SL"),
        (1000, "placed", "TP1"),
        (3000, "placed", "WORKING_STOP"),
        (4000, "moved", "WORKING_STOP"),
        (5000, "resized", "WORKING_STOP"),
        (5000, "filled", "TP1"),
        (8000, "filled", "WORKING_STOP"),
        (8000, "flat", ""),
        (9000, "cancelled", "HARD_SL"),
    ]
    lines = render(entries, 900)
    assert lines[5] == "   +3.10s  moved     WORKING_STOP  stop 100 -> 101 for 1"
    assert lines[8] == "   +7.10s  filled    WORKING_STOP  0.5 @ 100.9, realised +0.00"
    assert stop_moves(ledger, SYMBOL) == [
        StopMove(1000, "HARD_SL", Decimal(95)),
        StopMove(3000, "WORKING_STOP", Decimal(100)),
        StopMove(4000, "WORKING_STOP", Decimal(101)),
        StopMove(5000, "WORKING_STOP", Decimal(101)),
        StopMove(8000, "WORKING_STOP", None),
        StopMove(9000, "HARD_SL", None),
    ]
    assert take_profit_levels(ledger, SYMBOL) == [("TP1", Decimal(102))]
