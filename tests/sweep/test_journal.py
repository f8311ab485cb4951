"""The journal: finished cells come back exactly; a line cut short by a kill is not a cell."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from exitd.sweep.cell import CellResult, Trade
from exitd.sweep.journal import Journal, space_hash

TRADE = Trade(
    entry_time_ms=1_689_724_622_123,
    side="short",
    entry_price=Decimal("63834.5"),
    end_time_ms=1_689_724_700_000,
    pnl=Decimal("-12.35000"),
    r=Decimal("-1.000000000000000000000000001"),
    open_qty=Decimal("0.000"),
    exits=(("HARD_SL", 1), ("TP1", 2)),
    mae_pct=Decimal("0.1933"),
    mfe_pct=Decimal("0.05"),
)


def test_finished_cells_come_back_exactly(tmp_path: Path) -> None:
    journal = Journal(tmp_path, space_hash(["a"]))
    cells = [CellResult("0/0", 0, (TRADE,)), CellResult("1/0", 1, (), refused=("why",))]
    for cell in cells:
        journal.record(cell)
    assert Journal(tmp_path, space_hash(["a"])).finished() == {c.key: c for c in cells}
    assert Journal(tmp_path, space_hash(["b"])).finished() == {}


def test_a_torn_last_line_is_a_cell_to_run_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path, space_hash(["a"]))
    journal.record(CellResult("0/0", 0, (TRADE,)))
    whole = journal.path.read_bytes()
    journal.record(CellResult("1/0", 1, (TRADE,)))
    journal.path.write_bytes(journal.path.read_bytes()[: len(whole) + 40])
    assert list(journal.finished()) == ["0/0"]
    journal.record(CellResult("1/0", 1, (TRADE,)))  # the rerun appends after the torn line
    assert list(journal.finished()) == ["0/0", "1/0"]
