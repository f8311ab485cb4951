"""Reconnect delays: exponential with jitter, capped (RELIABILITY.md §1.1: nautilus uses
500 ms ×2 with jitter; ours caps at 30 s so a long outage costs few handshakes)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """The delay before the next attempt; `reset()` after a connection that worked."""

    initial_s: float = 0.5
    cap_s: float = 30.0
    jitter: float = 0.25  # up to this fraction added, so many clients do not reconnect in step
    _attempt: int = 0
    _rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        base = min(self.cap_s, self.initial_s * 2.0**self._attempt)
        self._attempt = min(self._attempt + 1, 32)
        return min(self.cap_s, base * (1 + self.jitter * self._rng.random()))

    def reset(self) -> None:
        self._attempt = 0


__all__ = ["Backoff"]
