"""What a symbol actor shows the outside: a frozen value it publishes after each batch.

The control socket reads plans through it instead of reaching into the actor's mutable state:
every part is already immutable (the engine's state, the last mark, the position), and the
open orders are copied into a tuple, so a reader can never see a half-handled batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from exitd.engine import ExitState
from exitd.exchange.port import MarkPrice, OrderView, PositionView


@dataclass(frozen=True, slots=True)
class SymbolView:
    symbol: str
    state: ExitState | None
    last_mark: MarkPrice | None
    paused: bool
    position: PositionView | None
    open_orders: tuple[OrderView, ...]
