"""How often Binance pushes a symbol's mark price (binance-usdm.md §14): `<symbol>@markPrice`
and `!markPrice@arr` every 3 s, their `@1s` forms every second."""

from __future__ import annotations

from enum import Enum


class MarkCadence(Enum):
    """One schedule of the mark streams; `seconds` apart."""

    EVERY_3S = 3
    EVERY_1S = 1

    @property
    def seconds(self) -> int:
        return self.value

    def stream_suffix(self) -> str:
        """What the stream names of this cadence end with ("" or "@1s")."""
        return "@1s" if self is MarkCadence.EVERY_1S else ""


def due(second: int) -> tuple[MarkCadence, ...]:
    """The cadences due at whole `second` of a schedule that started at 0."""
    return tuple(c for c in MarkCadence if second % c.seconds == 0)
