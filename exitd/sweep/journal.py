"""The sweep's journal: every finished cell, appended and synced before it counts as done.

One JSON line per cell in `OUT/journal-<space hash>.jsonl`; the hash covers everything that
decides a cell's result (base profile, points, files with their size and mtime, entries,
market), so a rerun of the same sweep resumes and a changed one starts its own journal. A
line cut short by a kill is the one cell that did not finish: reading the journal cuts it
off, and the cell runs again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import orjson

from exitd.sweep.cell import CellResult, Trade


def space_hash(parts: Iterable[str]) -> str:
    """A stable hash of a sweep's defining text, one part per line."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\n")
    return digest.hexdigest()


class Journal:
    """Append-only record of finished cells, read back on a rerun."""

    def __init__(self, out_dir: Path, sweep_hash: str) -> None:
        self.path = out_dir / f"journal-{sweep_hash[:16]}.jsonl"

    def finished(self) -> dict[str, CellResult]:
        """The cells a previous run finished, by key."""
        done: dict[str, CellResult] = {}
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return done
        if not text.endswith(b"\n"):
            # A kill cut the last line short: drop it, or the next line would join it.
            text = text[: text.rfind(b"\n") + 1]
            os.truncate(self.path, len(text))
        lines = text.split(b"\n")
        for line in lines:
            try:
                result = _result(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError):
                continue  # an empty line, or one no sweep wrote
            done[result.key] = result
        return done

    def record(self, result: CellResult) -> None:
        """Append `result` and sync it to disk: after this, a crash does not lose it."""
        line = orjson.dumps(_body(result)) + b"\n"
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new file's name must survive a power cut too, not only its lines
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


def _body(result: CellResult) -> dict[str, object]:
    return {
        "key": result.key,
        "plan": result.plan_index,
        "refused": list(result.refused),
        "trades": [
            [
                t.entry_time_ms,
                t.side,
                str(t.entry_price),
                t.end_time_ms,
                str(t.pnl),
                str(t.r),
                str(t.open_qty),
                [[leg, count] for leg, count in t.exits],
                str(t.mae_pct),
                str(t.mfe_pct),
            ]
            for t in result.trades
        ],
    }


def _result(body: dict[str, object]) -> CellResult:
    trades = body["trades"]
    refused = body["refused"]
    key, plan = body["key"], body["plan"]
    if not (isinstance(trades, list) and isinstance(refused, list)):
        raise TypeError("not a journal line")
    if not (isinstance(key, str) and isinstance(plan, int)):
        raise TypeError("not a journal line")
    return CellResult(
        key=key,
        plan_index=plan,
        trades=tuple(_trade(fields) for fields in trades),
        refused=tuple(str(reason) for reason in refused),
    )


def _trade(fields: list[object]) -> Trade:
    entry_ms, side, entry, end_ms, pnl, r, open_qty, exits, mae, mfe = fields
    if not (isinstance(entry_ms, int) and isinstance(end_ms, int) and isinstance(exits, list)):
        raise TypeError("not a journal trade")
    return Trade(
        entry_time_ms=entry_ms,
        side=str(side),
        entry_price=Decimal(str(entry)),
        end_time_ms=end_ms,
        pnl=Decimal(str(pnl)),
        r=Decimal(str(r)),
        open_qty=Decimal(str(open_qty)),
        exits=tuple((str(leg), int(count)) for leg, count in exits),
        mae_pct=Decimal(str(mae)),
        mfe_pct=Decimal(str(mfe)),
    )
