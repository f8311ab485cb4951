"""Plan snapshots in `state_dir`: what a restart needs to resume a plan where it was.

One small JSON file per symbol, written atomically (write, fsync, rename, fsync the folder), so
a crash leaves either the old snapshot or the new one, never half of one. It holds the plan's
progress (entry, Q0, best price, trail extreme, armed legs, filled targets) and the client-id
sequence reserved so far: ids are handed out below the reservation only, so a restart, even
after SIGKILL, starts above every id ever used (RELIABILITY.md I5). The resting stop on the
exchange is the floor in any case; the snapshot only keeps the trail from restarting lower.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import structlog

log = structlog.get_logger("exitd.snapshots")

SEQ_BLOCK = 1000
# Sequences also start above a clock floor (100 a second since 2024), so a lost state_dir
# cannot make a restart hand out an id again.
_SEQ_EPOCH_MS = 1_704_067_200_000


def seq_floor(now_ms: int) -> int:
    return max((now_ms - _SEQ_EPOCH_MS) // 10, 1)


class SnapshotStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _path(self, symbol: str) -> Path:
        return self._dir / f"{symbol}.json"

    def load(self, symbol: str) -> dict[str, Any] | None:
        path = self._path(symbol)
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            log.error("snapshot.unreadable", symbol=symbol, path=str(path), error=repr(exc))
            return None
        if not isinstance(data, dict):
            log.error("snapshot.unreadable", symbol=symbol, path=str(path), error="not an object")
            return None
        return data

    def save(self, symbol: str, data: dict[str, Any]) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._path(symbol)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, orjson.dumps(data))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
