"""A progress bar with the time left, on stderr, redrawn at most a few times a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 30
_REDRAW_S = 0.2


class Progress:
    """Cells done of a total, their rate since this run began, and when it should finish."""

    def __init__(
        self,
        err: TextIO,
        total: int,
        already: int,
        shown: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._err = err
        self._total = total
        self._done = already
        self._already = already
        self._shown = shown
        self._clock = clock
        self._started = clock()
        self._drawn = float("-inf")

    def advance(self) -> None:
        self._done += 1
        now = self._clock()
        if self._shown and (now - self._drawn >= _REDRAW_S or self._done == self._total):
            self._drawn = now
            self._err.write("\r" + self.line(now) + "\033[K")
            self._err.flush()

    def line(self, now: float) -> str:
        total = max(self._total, 1)
        filled = _WIDTH * self._done // total
        bar = "#" * filled + "-" * (_WIDTH - filled)
        ran = self._done - self._already
        elapsed = now - self._started
        rate = ran / elapsed if elapsed > 0 else 0.0
        left = (self._total - self._done) / rate if rate > 0 else None
        eta = _duration(left) if left is not None else "?"
        return f"sweep [{bar}] {self._done}/{self._total} cells  {rate:.1f}/s  {eta} left"

    def close(self) -> None:
        if self._shown:
            self._err.write("\n")
            self._err.flush()


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
