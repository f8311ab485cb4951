"""`exitd replay`'s loop: the exact loop at once, the fast path as soon as the columns are there.

Finding a file's columns costs a pass over the whole file (its SHA-256 to find the cache
entry, or a parse), while a plan that closes early needs only its first ticks. So the replay
starts the plain tick loop on the plain reader at once while another thread loads the columns
(hashlib and pyarrow let go of the GIL while they work); once they are there it goes on from
the next tick on the fast path. Both paths give the same fills, so where the switch falls
changes nothing but the time. A plan that closes first never waits for the file, and a bad
row the loader meets is left for the plain reader to report, with its line, if the replay
gets that far.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from exitd.engine import Tick
from exitd.replay.columns import PriceColumns
from exitd.replay.fast import continue_fast
from exitd.replay.runner import ExitFill, Replay, ReplayOutcome

CHECK_EVERY = 256  # ticks between two looks at the loader: a cheap flag, a small delay


class ColumnsSource(Protocol):
    def ready(self) -> PriceColumns | None: ...

    def cancel(self) -> None: ...


class ColumnsLoader:
    """`load(cancel)` run in a daemon thread; its columns, once loaded, or None."""

    def __init__(self, load: Callable[[threading.Event], PriceColumns]) -> None:
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._columns: PriceColumns | None = None
        threading.Thread(
            target=self._run, args=(load,), name="exitd-replay-columns", daemon=True
        ).start()

    def _run(self, load: Callable[[threading.Event], PriceColumns]) -> None:
        _yield_to_the_replay()
        try:
            self._columns = load(self._cancel)
        except Exception:  # the plain loop meets the same fault, and reports it with its line
            self._columns = None
        finally:
            self._done.set()

    def ready(self) -> PriceColumns | None:
        return self._columns if self._done.is_set() else None

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float) -> bool:
        """Until the loader has finished (for tests and the benchmark)."""
        return self._done.wait(timeout)


def _yield_to_the_replay() -> None:
    """Give this thread the lowest CPU priority (Linux gives each thread its own nice value):
    on a busy machine the loading must not slow the exact loop it is meant to speed up, so a
    plan that closes early is never slower than the exact loop alone."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def run_hybrid(
    replay: Replay,
    entry: Tick,
    start: int,
    ticks: Iterable[Tick],
    columns: ColumnsSource,
    *,
    check_every: int | None = None,
) -> Iterator[ExitFill]:
    """`replay.run(entry, ticks)` for a position entered at tick `start` of a file whose
    columns `columns` may bring: from then on the fast path; sets `replay.outcome`.
    `columns` is asked every `check_every` ticks (default CHECK_EVERY)."""
    every = check_every or CHECK_EVERY
    fills: list[ExitFill] = []
    state = replay.enter(entry, fills)
    yield from fills
    index, last = start, entry
    try:
        for index, tick in enumerate(ticks, start + 1):
            last = tick
            fills.clear()
            state = replay.step(state, tick, fills)
            yield from fills
            if state.done:
                break
            if (index - start) % every == 0:
                loaded = columns.ready()
                if loaded is not None:
                    yield from continue_fast(replay, state, loaded, start, index + 1)
                    return
        replay.outcome = ReplayOutcome(state, index - start + 1, last)
    finally:
        columns.cancel()
