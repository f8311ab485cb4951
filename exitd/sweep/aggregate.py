"""From trades to one row per plan, a ranking, and what the pictures need (pure).

Figures stay Decimal: a total is the sum of the same per-trade P&L `exitd replay` prints, so a
sweep row can be checked against the replays it stands for. A trade is won when its realised
P&L is above zero; a position still open at the end of its path counts with what it realised.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from exitd.sweep.cell import CellResult, Trade
from exitd.sweep.space import Axis, Point, Value

# Every metric a sweep ranks by, and whether more of it is better.
METRICS: dict[str, bool] = {
    "total_r": True,
    "mean_r": True,
    "total_pnl": True,
    "mean_pnl": True,
    "win_rate": True,
    "worst_pnl": True,
    "worst_r": True,
    "max_mae_pct": False,
    "mean_mae_pct": False,
    "trades": True,
}
# The order legs are listed in, as a plan's life goes; other labels follow, sorted.
LEG_ORDER = ("HARD_SL", "WORKING_STOP", "TRAILING_STOP", "TIME")


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One plan's figures over every file and entry of the sweep."""

    plan_index: int
    params: tuple[tuple[str, Value], ...]
    trades: int
    refused: int
    wins: int
    open_trades: int
    win_rate: Decimal | None
    total_pnl: Decimal
    mean_pnl: Decimal | None
    total_r: Decimal
    mean_r: Decimal | None
    worst_pnl: Decimal | None
    worst_r: Decimal | None
    max_mae_pct: Decimal | None
    mean_mae_pct: Decimal | None
    exits: tuple[tuple[str, int], ...]

    def metric(self, name: str) -> Decimal | int | None:
        value: Decimal | int | None = getattr(self, name)
        return value


def plan_row(
    plan_index: int, params: Sequence[tuple[str, Value]], cells: Iterable[CellResult]
) -> PlanRow:
    """The row of one plan, from the results of its cells (one per price file)."""
    cells = list(cells)
    trades = [trade for cell in cells for trade in cell.trades]
    count = len(trades)
    total_pnl = sum((t.pnl for t in trades), Decimal(0))
    total_r = sum((t.r for t in trades), Decimal(0))
    wins = sum(1 for t in trades if t.pnl > 0)
    legs: Counter[str] = Counter()
    for trade in trades:
        legs.update(dict(trade.exits))
    return PlanRow(
        plan_index=plan_index,
        params=tuple(params),
        trades=count,
        refused=sum(len(cell.refused) for cell in cells),
        wins=wins,
        open_trades=sum(1 for t in trades if t.open_qty),
        win_rate=Decimal(wins) / count if count else None,
        total_pnl=total_pnl,
        mean_pnl=total_pnl / count if count else None,
        total_r=total_r,
        mean_r=total_r / count if count else None,
        worst_pnl=min((t.pnl for t in trades), default=None),
        worst_r=min((t.r for t in trades), default=None),
        max_mae_pct=max((t.mae_pct for t in trades), default=None),
        mean_mae_pct=sum((t.mae_pct for t in trades), Decimal(0)) / count if count else None,
        exits=tuple(sorted(legs.items(), key=lambda item: leg_rank(item[0]))),
    )


def plan_rows(
    axes: Sequence[Axis], points: Mapping[int, Point], results: Iterable[CellResult]
) -> list[PlanRow]:
    """A row for every plan in `points` (by plan index), from all the cells' results."""
    by_plan: defaultdict[int, list[CellResult]] = defaultdict(list)
    for result in results:
        by_plan[result.plan_index].append(result)
    names = [axis.name for axis in axes]
    return [
        plan_row(index, tuple(zip(names, point, strict=True)), by_plan.get(index, ()))
        for index, point in sorted(points.items())
    ]


def ranked(rows: Iterable[PlanRow], metric: str) -> list[PlanRow]:
    """Best first by `metric`; plans without a trade last (a plan that never traded is no
    plan to choose, whatever its zero total); ties in plan order."""
    higher = METRICS[metric]

    def key(row: PlanRow) -> tuple[bool, Decimal | int, int]:
        value = row.metric(metric)
        if value is None or not row.trades:
            return (True, 0, row.plan_index)
        return (False, -value if higher else value, row.plan_index)

    return sorted(rows, key=key)


def leg_rank(leg: str) -> tuple[int, str]:
    """HARD_SL, TP1, TP2, …, WORKING_STOP, TRAILING_STOP, TIME, then anything else."""
    if leg.startswith("TP") and leg[2:].isdigit():
        return (1, f"{int(leg[2:]):06d}")
    if leg in LEG_ORDER:
        return (0 if leg == "HARD_SL" else 2 + LEG_ORDER.index(leg), "")
    return (10, leg)


def equity_curve(trades: Iterable[Trade]) -> list[tuple[int, Decimal]]:
    """Cumulative realised P&L at each trade's end, in time order."""
    curve: list[tuple[int, Decimal]] = []
    total = Decimal(0)
    for trade in sorted(trades, key=lambda t: (t.end_time_ms, t.entry_time_ms)):
        total += trade.pnl
        curve.append((trade.end_time_ms, total))
    return curve


def influence(rows: Sequence[PlanRow], axes: Sequence[Axis], metric: str) -> list[str]:
    """Axis names, the one that moves `metric` most first: the spread between the best and
    the worst of its values' mean `metric` over every other parameter."""
    spread: dict[str, Decimal] = {}
    for at, axis in enumerate(axes):
        means = list(_means_by(rows, _param_at(at), metric).values())
        spread[axis.name] = max(means) - min(means) if means else Decimal(0)
    return sorted(spread, key=lambda name: -spread[name])


def surface(
    rows: Sequence[PlanRow], axes: Sequence[Axis], first: str, second: str, metric: str
) -> dict[tuple[Value, Value], Decimal]:
    """The mean `metric` over every other parameter, at each pair of the two axes' values."""
    names = [axis.name for axis in axes]
    a, b = names.index(first), names.index(second)
    means = _means_by(rows, lambda row: (row.params[a][1], row.params[b][1]), metric)
    return {(key[0], key[1]): value for key, value in means.items()}


def _param_at(at: int) -> Callable[[PlanRow], tuple[Value, ...]]:
    def value(row: PlanRow) -> tuple[Value, ...]:
        return (row.params[at][1],)

    return value


def _means_by(
    rows: Sequence[PlanRow], group: Callable[[PlanRow], tuple[Value, ...]], metric: str
) -> dict[tuple[Value, ...], Decimal]:
    sums: defaultdict[tuple[Value, ...], list[Decimal]] = defaultdict(list)
    for row in rows:
        value = row.metric(metric)
        if value is not None:
            sums[group(row)].append(Decimal(value))
    return {key: sum(values, Decimal(0)) / len(values) for key, values in sums.items()}
