"""`exitd replay --plot FILE`: the replayed exit as a picture (exitd.pictures draws it)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from exitd.engine import Tick
from exitd.pictures import ExitPicture, PriceTrace, write_exit_picture
from exitd.replay import report
from exitd.replay.runner import ExitFill, Replay


def traced(ticks: Iterable[Tick], trace: PriceTrace) -> Iterator[Tick]:
    """`ticks` as they are, each one also kept in `trace` for the picture."""
    for tick in ticks:
        trace.add(tick.time_ms, tick.price)
        yield tick


def write_replay_picture(
    path: str | Path,
    replay: Replay,
    summary: report.Summary,
    trace: PriceTrace,
    fills: list[ExitFill],
) -> Path:
    plan = replay.plan
    quote = report.quote_asset(plan.symbol)
    entry_at = datetime.fromtimestamp(summary.entry_time_ms / 1000, UTC)
    state = "flat" if summary.open_qty == 0 else f"{report.plain(summary.open_qty)} still open"
    picture = ExitPicture(
        title=f"{plan.symbol} {summary.side} {report.plain(plan.initial_qty)}, "
        f"profile {plan.profile_name}",
        subtitle=f"entry {report.plain(plan.entry_price)} at "
        f"{entry_at:%Y-%m-%d %H:%M:%S} UTC · {len(fills)} exit{'' if len(fills) == 1 else 's'} · "
        f"P&L {summary.pnl:+.2f} {quote} ({state})"
        + _second_line(report.moving_legs(plan.profile)),
        prices=trace.points(),
        entry_time_ms=summary.entry_time_ms,
        entry_price=plan.entry_price,
        hard_sl=plan.hard_sl_price,
        take_profits=[(f"TP{tp.number}", tp.price) for tp in plan.take_profits],
        stops=replay.stop_moves,
        fills=fills,
        quote=quote,
    )
    return write_exit_picture(picture, path)


def _second_line(legs: list[str]) -> str:
    return "\n" + " | ".join(legs) if legs else ""
