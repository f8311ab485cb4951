"""How a replay reads: a timeline for people, JSON lines for scripts.

Decimals are printed in plain notation (never `1E+1`) and, in JSON, as strings. Prices and
quantities print exactly as they are: a stop fills at its tick's own price, whatever its
decimals. Only computed money (P&L, R) is rounded, to 8 places.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TextIO

import orjson

from exitd.engine import ExitPlan, ExitProfile, Notice
from exitd.replay.runner import ExitFill, ReplayOutcome

_PCT_PLACES = Decimal("0.0001")
_MONEY_PLACES = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Summary:
    """What the replay of one position came to."""

    symbol: str
    side: str
    entry_time_ms: int
    entry_price: Decimal
    qty: Decimal
    exits: int
    closed_qty: Decimal
    open_qty: Decimal
    pnl: Decimal
    r: Decimal
    unrealized_pnl: Decimal
    mfe_pct: Decimal
    ticks: int
    last_time_ms: int
    last_price: Decimal

    @classmethod
    def of(
        cls, plan: ExitPlan, entry_time_ms: int, fills: list[ExitFill], outcome: ReplayOutcome
    ) -> Summary:
        pnl = sum((f.pnl for f in fills), Decimal(0))
        last = outcome.last_tick
        open_qty = outcome.state.qty
        risk = abs(plan.entry_price - plan.hard_sl_price) * plan.initial_qty
        return cls(
            symbol=plan.symbol,
            side=plan.side.name.lower(),
            entry_time_ms=entry_time_ms,
            entry_price=plan.entry_price,
            qty=plan.initial_qty,
            exits=len(fills),
            closed_qty=sum((f.qty for f in fills), Decimal(0)),
            open_qty=open_qty,
            pnl=pnl,
            r=pnl / risk,
            unrealized_pnl=plan.side.sign * (last.price - plan.entry_price) * open_qty,
            mfe_pct=outcome.state.mfe_pct,
            ticks=outcome.ticks,
            last_time_ms=last.time_ms,
            last_price=last.price,
        )


def plain(value: Decimal) -> str:
    """A price or quantity exactly, as people write it: no exponent."""
    return format(value, "f")


def money(value: Decimal) -> str:
    """Computed money in plain notation, no noise beyond 8 places."""
    text = format(value, "f")
    if "." in text and len(text.split(".")[1]) > 8:
        text = format(value.quantize(_MONEY_PLACES), "f")
    return text


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _signed(value: Decimal, places: Decimal = Decimal("0.01")) -> str:
    return f"{value.quantize(places):+f}"


def quote_asset(symbol: str) -> str:
    for quote in ("USDT", "USDC", "FDUSD", "BUSD"):
        if symbol.endswith(quote) and symbol != quote:
            return quote
    return "quote"


def write_plan(out: TextIO, plan: ExitPlan, entry_time_ms: int, notices: Iterable[Notice]) -> None:
    out.write(
        f"{plan.symbol} {plan.side.name.lower()} {plain(plan.initial_qty)} "
        f"@ {plain(plan.entry_price)}  entered {_time(entry_time_ms)} UTC, "
        f"profile {plan.profile_name}\n"
    )
    legs = [f"HARD_SL {plain(plan.hard_sl_price)}"]
    legs += [f"TP{tp.number} {plain(tp.price)} x {plain(tp.qty)}" for tp in plan.take_profits]
    out.write("plan: " + " | ".join(legs + moving_legs(plan.profile)) + "\n")
    for notice in notices:
        detail = ", ".join(f"{k}={v}" for k, v in notice.detail)
        out.write(f"note: {notice.event} {detail}\n")


def moving_legs(profile: ExitProfile) -> list[str]:
    """The legs that move the stop or close on time, as the profile sets them."""
    legs = []
    be, trail = profile.breakeven, profile.trail
    if be is not None:
        legs.append(f"breakeven {plain(be.offset_pct)}%" + _arming(be.trigger_pct, be.after_tp))
    if trail is not None:
        legs.append(
            f"trail {plain(trail.callback_pct)}% ({trail.mode.value})"
            + _arming(trail.activation_pct, trail.after_tp)
        )
    if profile.time_limit_s is not None:
        legs.append(f"time limit {profile.time_limit_s}s")
    return legs


def _arming(pct: Decimal | None, after_tp: int | None) -> str:
    parts = []
    if pct is not None:
        parts.append(f"at mfe {plain(pct)}%")
    if after_tp is not None:
        parts.append(f"after TP{after_tp}")
    return " " + " or ".join(parts) if parts else ""


def write_header(out: TextIO, quote: str) -> None:
    out.write(f"{'time (UTC)':<24} {'leg':<14} {'price':>14} {'qty':>12} {'P&L ' + quote:>14}\n")


def write_fill(out: TextIO, fill: ExitFill) -> None:
    out.write(
        f"{_time(fill.time_ms):<24} {fill.leg:<14} {plain(fill.price):>14} "
        f"{plain(fill.qty):>12} {_signed(fill.pnl):>14}\n"
    )


def write_summary(out: TextIO, summary: Summary, quote: str) -> None:
    exits = f"{summary.exits} exit" + ("" if summary.exits == 1 else "s")
    state = "flat" if summary.open_qty == 0 else f"{plain(summary.open_qty)} still open"
    out.write(
        f"summary: {exits}, {plain(summary.closed_qty)} of {plain(summary.qty)} "
        f"closed ({state}); P&L {_signed(summary.pnl)} {quote} = {_signed(summary.r)} R; "
        f"mfe {summary.mfe_pct.quantize(_PCT_PLACES)}%; {summary.ticks} ticks to "
        f"{_time(summary.last_time_ms)} at {plain(summary.last_price)}\n"
    )
    if summary.open_qty:
        out.write(
            f"         unrealised on the open rest: {_signed(summary.unrealized_pnl)} {quote}\n"
        )


def fill_json(fill: ExitFill) -> bytes:
    return orjson.dumps(
        {
            "time_ms": fill.time_ms,
            "leg": fill.leg,
            "price": plain(fill.price),
            "qty": plain(fill.qty),
        }
    )


def summary_json(summary: Summary, notices: Iterable[Notice]) -> bytes:
    body: dict[str, object] = {
        "symbol": summary.symbol,
        "side": summary.side,
        "entry_time_ms": summary.entry_time_ms,
        "entry_price": plain(summary.entry_price),
        "qty": plain(summary.qty),
        "exits": summary.exits,
        "closed_qty": plain(summary.closed_qty),
        "open_qty": plain(summary.open_qty),
        "pnl": money(summary.pnl),
        "r": money(summary.r),
        "unrealized_pnl": money(summary.unrealized_pnl),
        "mfe_pct": money(summary.mfe_pct),
        "ticks": summary.ticks,
        "last_time_ms": summary.last_time_ms,
        "last_price": plain(summary.last_price),
        "notices": [{"event": n.event, **dict(n.detail)} for n in notices],
    }
    return orjson.dumps({"summary": body})
