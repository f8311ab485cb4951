"""What a plan has seen since adoption, saved so a restarted daemon resumes it (`resume`).

A plain value with a JSON form of strings only (Decimals as their exact text), for the
daemon's snapshot file. The orders are not saved: the exchange is their record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from exitd.engine.model import Side
from exitd.engine.state import ExitState


@dataclass(frozen=True, slots=True)
class PlanProgress:
    """The plan's inputs (side, `E`, `Q0`, adoption price) and what it has seen since."""

    side: Side
    entry_price: Decimal
    initial_qty: Decimal
    adoption_price: Decimal
    adopted_ms: int
    best_price: Decimal
    extreme: Decimal | None
    breakeven_armed: bool
    trail_armed: bool
    tp_filled: tuple[Decimal, ...]
    tps_done: frozenset[int]
    time_fired: bool
    next_seq: int
    stop_floor: Decimal | None = None  # a working stop cancelled before its successor rested

    def to_json(self) -> dict[str, str]:
        return {
            "side": self.side.name,
            "entry_price": str(self.entry_price),
            "initial_qty": str(self.initial_qty),
            "adoption_price": str(self.adoption_price),
            "adopted_ms": str(self.adopted_ms),
            "best_price": str(self.best_price),
            "extreme": "" if self.extreme is None else str(self.extreme),
            "breakeven_armed": _flag(self.breakeven_armed),
            "trail_armed": _flag(self.trail_armed),
            "tp_filled": ",".join(str(q) for q in self.tp_filled),
            "tps_done": ",".join(str(n) for n in sorted(self.tps_done)),
            "time_fired": _flag(self.time_fired),
            "next_seq": str(self.next_seq),
            "stop_floor": "" if self.stop_floor is None else str(self.stop_floor),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> PlanProgress:
        """The progress `to_json` wrote; ValueError for anything else."""
        try:
            return cls(
                side=Side[raw["side"]],
                entry_price=Decimal(raw["entry_price"]),
                initial_qty=Decimal(raw["initial_qty"]),
                adoption_price=Decimal(raw["adoption_price"]),
                adopted_ms=int(raw["adopted_ms"]),
                best_price=Decimal(raw["best_price"]),
                extreme=Decimal(raw["extreme"]) if raw["extreme"] else None,
                breakeven_armed=_parse_flag(raw["breakeven_armed"]),
                trail_armed=_parse_flag(raw["trail_armed"]),
                tp_filled=tuple(Decimal(q) for q in _items(raw["tp_filled"])),
                tps_done=frozenset(int(n) for n in _items(raw["tps_done"])),
                time_fired=_parse_flag(raw["time_fired"]),
                next_seq=int(raw["next_seq"]),
                stop_floor=Decimal(raw["stop_floor"]) if raw.get("stop_floor") else None,
            )
        except (KeyError, TypeError, InvalidOperation) as error:
            raise ValueError(f"not a saved plan progress: {error!r}") from error


def progress(state: ExitState) -> PlanProgress:
    """What `resume` needs to carry `state`'s plan on after a restart."""
    plan = state.plan
    return PlanProgress(
        side=plan.side,
        entry_price=plan.entry_price,
        initial_qty=plan.initial_qty,
        adoption_price=plan.adoption_price,
        adopted_ms=state.adopted_ms,
        best_price=state.best_price,
        extreme=state.extreme,
        breakeven_armed=state.breakeven_armed,
        trail_armed=state.trail_armed,
        tp_filled=state.tp_filled,
        tps_done=state.tps_done,
        time_fired=state.time_fired,
        next_seq=state.next_seq,
        stop_floor=state.stop_floor,
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _parse_flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"not a flag: {text!r}")
    return text == "true"


def _items(text: str) -> list[str]:
    return text.split(",") if text else []
