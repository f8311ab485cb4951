"""A symbol's journal in `state_dir`: its client-id reservation and its plan's progress.

The reservation goes to disk before any id under it is handed out, so no restart, even after
SIGKILL, issues an id twice (RELIABILITY.md I5); the progress (best price, trail extreme,
armed legs) at most once a second, queued for the store's writer thread, so a restart resumes
the trail where it was without the fsyncs stalling every symbol's ticks. The resting stop is
the floor in any case: the progress only keeps the trail from restarting lower.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import structlog

from exitd.actors.snapshots import SEQ_BLOCK, SnapshotStore, seq_floor
from exitd.engine import ExitState, PlanProgress, progress

log = structlog.get_logger("exitd.snapshots")

_SAVE_EVERY_S = 1.0


class PlanJournal:
    def __init__(
        self, symbol: str, store: SnapshotStore, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._symbol = symbol
        self._store = store
        self._monotonic = monotonic
        self.seq_reserved = 0
        self._saved: PlanProgress | None = None
        self._saved_state: ExitState | None = None  # a state whose progress is `_saved`
        self._saved_at = 0.0

    def load(self) -> PlanProgress | None:
        """The saved progress, and the reservation it was saved with."""
        snapshot = self._store.load(self._symbol) or {}
        self.seq_reserved = int(snapshot.get("seq_reserved", 0))
        return _progress_from(snapshot)

    def first_seq(self, now_ms: int) -> int:
        """Above every id this host may have used, even with the snapshot lost."""
        return max(self.seq_reserved, seq_floor(now_ms))

    async def reserve(self, next_seq: int, current: ExitState | None) -> None:
        """Before ids up to `next_seq` go out: a new block on disk once the old one is used
        up, with the `current` plan's progress."""
        if next_seq < self.seq_reserved:
            return
        self.seq_reserved = next_seq + SEQ_BLOCK
        await self._store.write(self._symbol, self._snapshot(current))

    def note(self, state: ExitState) -> None:
        """Queue `state`'s progress if it changed and the last save is a second old."""
        if state is self._saved_state:  # a quiet tick keeps the state
            return
        if self._monotonic() - self._saved_at < _SAVE_EVERY_S:
            return
        if progress(state) != self._saved:
            self._store.put(self._symbol, self._snapshot(state))
        self._saved_state = state

    def forget_progress(self) -> None:
        """The position is gone: a next one at the same entry price must not resume it."""
        self._store.put(self._symbol, self._snapshot(None))

    def _snapshot(self, state: ExitState | None) -> dict[str, object]:
        """What goes to disk now, remembered as the last saved."""
        data: dict[str, object] = {"seq_reserved": self.seq_reserved}
        if state is not None:
            current = progress(state)
            data["progress"] = current.to_json()
            self._saved = current
        self._saved_at = self._monotonic()
        return data


def _progress_from(snapshot: Mapping[str, object]) -> PlanProgress | None:
    raw = snapshot.get("progress")
    if not isinstance(raw, dict):
        return None
    try:
        return PlanProgress.from_json(raw)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        log.error("snapshot.bad_progress", error=repr(exc))
        return None
