"""What the watchdog asks of an actor: is it stuck on one piece of work?

An idle actor (waiting for its next message or stream event) is healthy: no traffic is no
fault. A piece of work that outlives every timeout set on it (an exchange request, a
subscription) is a hang, and systemd's watchdog restarts a daemon with one (RELIABILITY.md §2
row 30). Actors mark their awaited work with `working()`; the health check reads `stuck_s()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count


class Liveness:
    """The start times of an actor's pieces of work in progress (several may overlap)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: dict[int, float] = {}
        self._tokens = count()

    @contextmanager
    def working(self) -> Iterator[None]:
        token = next(self._tokens)
        self._started[token] = self._clock()
        try:
            yield
        finally:
            del self._started[token]

    def stuck_s(self) -> float:
        """How long the oldest piece of work in progress has taken so far; 0 when idle."""
        # Insertion order is start order: the first entry is the oldest.
        oldest = next(iter(self._started.values()), None)
        return 0.0 if oldest is None else self._clock() - oldest
