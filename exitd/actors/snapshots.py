"""Plan snapshots in `state_dir`: what a restart needs to resume a plan where it was.

One small JSON file per symbol, written atomically (write, fsync, rename, fsync the folder), so
a crash leaves either the old snapshot or the new one, never half of one. It holds the plan's
progress (entry, Q0, best price, trail extreme, armed legs, filled targets) and the client-id
sequence reserved so far: ids are handed out below the reservation only, so a restart, even
after SIGKILL, starts above every id ever used (RELIABILITY.md I5). The resting stop on the
exchange is the floor in any case; the snapshot only keeps the trail from restarting lower.

The store's own writer thread does the writing, a symbol's writes in the order given: a
progress note costs its symbol's actor a queue entry, never a wait or a hand-off through the
event loop, and a newer snapshot of a symbol still queued replaces the older one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
import structlog

log = structlog.get_logger("exitd.snapshots")

SEQ_BLOCK = 1000
# Sequences also start above a clock floor (100 a second since 2024), so a lost state_dir
# cannot make a restart hand out an id again.
_SEQ_EPOCH_MS = 1_704_067_200_000
# The writer thread ends after this long with nothing to write; the next write starts one.
_WRITER_IDLE_S = 5.0


def seq_floor(now_ms: int) -> int:
    return max((now_ms - _SEQ_EPOCH_MS) // 10, 1)


@asynccontextmanager
async def open_store(directory: Path) -> AsyncIterator[SnapshotStore]:
    """A store whose queued snapshots are on disk when the block ends, however it ends."""
    store = SnapshotStore(directory)
    try:
        yield store
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(store.close)


class _Written:
    """Set by the writer once a snapshot, or a newer one of its symbol, is on disk."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._error: Exception | None = None

    def finish(self, error: Exception | None) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> None:
        self._done.wait()
        if self._error is not None:
            raise self._error


class SnapshotStore:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._queued: dict[str, tuple[dict[str, Any], list[_Written]]] = {}
        self._writing: tuple[str, dict[str, Any]] | None = None
        self._writer: threading.Thread | None = None
        self._stopping = False

    def load(self, symbol: str) -> dict[str, Any] | None:
        """The symbol's newest snapshot: one still queued or being written, else the file."""
        with self._lock:
            if symbol in self._queued:
                return self._queued[symbol][0]
            if self._writing is not None and self._writing[0] == symbol:
                return self._writing[1]
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

    def put(self, symbol: str, data: dict[str, Any]) -> None:
        """Queue `data` for writing and return at once."""
        self._queue(symbol, data, None)

    async def write(self, symbol: str, data: dict[str, Any]) -> None:
        """Queue `data` and wait until it is on disk (raising the write's error)."""
        written = _Written()
        self._queue(symbol, data, written)
        await anyio.to_thread.run_sync(written.wait)

    def close(self) -> None:
        """Write everything queued, then stop the writer (a later `put` starts a new one);
        from a worker thread, as it waits for the disk."""
        with self._lock:
            writer = self._writer
            if writer is None:
                return
            self._stopping = True
            self._work.notify()
        writer.join()
        with self._lock:
            self._stopping = False

    def _queue(self, symbol: str, data: dict[str, Any], written: _Written | None) -> None:
        with self._lock:
            waiting = self._queued[symbol][1] if symbol in self._queued else []
            if written is not None:
                waiting.append(written)
            self._queued[symbol] = (data, waiting)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_queued, name="exitd-snapshots", daemon=True
                )
                self._writer.start()
            else:
                self._work.notify()

    def _write_queued(self) -> None:
        while True:
            with self._lock:
                self._writing = None
                if not self._queued and not self._stopping:
                    self._work.wait(_WRITER_IDLE_S)
                if not self._queued:  # stopping, or idle for a while
                    self._writer = None
                    return
                symbol = next(iter(self._queued))
                data, waiting = self._queued.pop(symbol)
                self._writing = (symbol, data)
            error = None
            try:
                self._save(symbol, data)
            except (OSError, TypeError) as exc:  # the writer outlives any one snapshot
                log.error("snapshot.write_failed", symbol=symbol, error=repr(exc))
                error = exc
            for written in waiting:
                written.finish(error)

    def _path(self, symbol: str) -> Path:
        return self._dir / f"{symbol}.json"

    def _save(self, symbol: str, data: dict[str, Any]) -> None:
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
