"""One cell of a sweep: one plan over one price file, every entry on it, as `exitd replay`.

A cell travels to a worker as a file reference and plan parameters, never as ticks: the worker
reads the file itself, once while it is unchanged (paths.py: as exact columns through the
parsed-file cache). Each entry is replayed exactly as `exitd replay FILE --start N` replays
it: the same tick size inferred from the same rows, the same plan, the same runner: the fast
exact path over the file's price columns where numpy is installed (the research extra), the
plain loop otherwise or with `--exact-loop`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from exitd.engine import (
    ExitPlan,
    ExitProfile,
    PlanRefused,
    Position,
    Side,
    SymbolFilters,
    Tick,
    build_plan,
)
from exitd.price_files import PriceFormat
from exitd.replay.command import PRECISION_SAMPLE, symbol_of
from exitd.replay.report import Summary
from exitd.replay.runner import ExitFill, ReplayOutcome
from exitd.sweep.entries import EntrySpec, entry_points
from exitd.sweep.paths import CellError, Reading, read_path

__all__ = ["Cell", "CellError", "CellResult", "Market", "Reading", "Trade", "run_cell"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Market:
    """What every position of a sweep shares: size, exchange filters, fills, file layout."""

    qty: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    slippage_pct: Decimal = Decimal(0)
    tick_size: Decimal | None = None  # None: the file's own precision, as `exitd replay`
    symbol: str | None = None  # None: from the file name, as `exitd replay`
    price_format: PriceFormat | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    """One plan over one file: what a worker needs, and nothing it can read itself."""

    key: str
    plan_index: int
    path: str
    profile: ExitProfile
    profile_name: str
    entries: EntrySpec
    market: Market
    reading: Reading  # how the worker reads the file; changes no result


@dataclass(frozen=True, slots=True)
class Trade:
    """One replayed position: its P&L as `exitd replay` sums it, and how it went."""

    entry_time_ms: int
    side: str
    entry_price: Decimal
    end_time_ms: int  # the closing tick, or the path's last tick if it stayed open
    pnl: Decimal
    r: Decimal
    open_qty: Decimal
    exits: tuple[tuple[str, int], ...]  # fills per leg
    mae_pct: Decimal
    mfe_pct: Decimal


@dataclass(frozen=True, slots=True)
class CellResult:
    """A cell's trades, and the entries whose plan the engine refused (with the reason)."""

    key: str
    plan_index: int
    trades: tuple[Trade, ...]
    refused: tuple[str, ...] = ()


def run_cell(cell: Cell) -> CellResult:
    """Every entry of `cell` on its file, replayed; raises CellError for a bad file."""
    path = read_path(cell.path, cell.market.price_format, cell.reading)
    market = cell.market
    symbol = market.symbol or symbol_of(cell.path)
    trades: list[Trade] = []
    refused: list[str] = []
    for start, side in entry_points(cell.entries, path.times):
        entry = path.tick(start)
        tick_size = market.tick_size or path.finest_step(start + PRECISION_SAMPLE)
        filters = SymbolFilters(tick_size, market.step_size, market.min_qty, market.min_notional)
        position = Position(symbol, side, market.qty, entry.price)
        try:
            plan = build_plan(position, filters, cell.profile, entry.price, cell.profile_name)
        except PlanRefused as refusal:
            refused.append(f"{entry.time_ms} {side.name.lower()}: {refusal}")
            continue
        fills, outcome = path.replay(plan, start, market.slippage_pct)
        # The worst price the position lived through, from its entry to the tick it closed on.
        worst = path.extreme(start, start + outcome.ticks, lowest=plan.side is Side.LONG)
        trades.append(_trade(plan, entry, fills=fills, outcome=outcome, worst=worst))
    return CellResult(cell.key, cell.plan_index, tuple(trades), tuple(refused))


def _trade(
    plan: ExitPlan,
    entry: Tick,
    *,
    fills: list[ExitFill],
    outcome: ReplayOutcome,
    worst: Decimal,
) -> Trade:
    summary = Summary.of(plan, entry.time_ms, fills, outcome)
    adverse = plan.entry_price - worst if plan.side is Side.LONG else worst - plan.entry_price
    legs = Counter(fill.leg for fill in fills)
    return Trade(
        entry_time_ms=entry.time_ms,
        side=plan.side.name.lower(),
        entry_price=plan.entry_price,
        end_time_ms=outcome.last_tick.time_ms,
        pnl=summary.pnl,
        r=summary.r,
        open_qty=summary.open_qty,
        exits=tuple(sorted(legs.items())),
        mae_pct=max(adverse, Decimal(0)) * _HUNDRED / plan.entry_price,
        mfe_pct=summary.mfe_pct,
    )
