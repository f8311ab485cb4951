"""Exit profiles: the legs a trader configures, and the rules that refuse a contradictory one.

A profile is side-agnostic (percentages from the entry); `plan.build_plan` turns it into prices
for one position. `profile_problems` is the single source of the refusal rules of SPEC-exits.md:
the config loader and `exitd replay` both report its findings, each under its own key names.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

HUNDRED = Decimal(100)
# Binance's TRAILING_STOP_MARKET callbackRate: 0.1 to 20 percent since 2026-10-23
# (binance-usdm.md §5.3); one decimal place, as the exchange's UI and docs show it.
EXCHANGE_CALLBACK_MIN = Decimal("0.1")
EXCHANGE_CALLBACK_MAX = Decimal(20)
EXCHANGE_CALLBACK_STEP = Decimal("0.1")
_NON_NEGATIVE = "zero or a positive percentage"
# A move of 100 times the entry: beyond any real exit, and it keeps every price the plan
# computes within Decimal's 28 digits, so a typo is refused here, not a traceback later.
MAX_PCT = Decimal(10_000)


class TrailMode(Enum):
    DAEMON = "daemon"
    EXCHANGE = "exchange"


@dataclass(frozen=True, slots=True)
class TakeProfitSpec:
    pct: Decimal
    fraction: Decimal


@dataclass(frozen=True, slots=True)
class BreakevenSpec:
    offset_pct: Decimal
    trigger_pct: Decimal | None = None
    after_tp: int | None = None


@dataclass(frozen=True, slots=True)
class TrailSpec:
    callback_pct: Decimal
    activation_pct: Decimal | None = None
    after_tp: int | None = None
    min_step_pct: Decimal = Decimal(0)
    mode: TrailMode = TrailMode.DAEMON


@dataclass(frozen=True, slots=True)
class ExitProfile:
    """The legs of a plan, as `[profiles.NAME]` in config.toml describes them."""

    hard_sl_pct: Decimal
    take_profits: tuple[TakeProfitSpec, ...] = ()
    breakeven: BreakevenSpec | None = None
    trail: TrailSpec | None = None
    time_limit_s: int | None = None

    @classmethod
    def emergency(cls, hard_sl_pct: Decimal) -> ExitProfile:
        """The plan of a position with no route: the hard stop alone."""
        return cls(hard_sl_pct=hard_sl_pct)


@dataclass(frozen=True, slots=True)
class ProfileProblem:
    """One reason a profile is refused: the field (dotted, relative to the profile), the bad
    value, and what is allowed."""

    field: str
    value: object
    allowed: str


def profile_problems(profile: ExitProfile) -> tuple[ProfileProblem, ...]:
    """Every contradiction in `profile`; empty when the plan may be built."""
    found: list[ProfileProblem] = []

    def refuse(field: str, value: object, allowed: str) -> None:
        found.append(ProfileProblem(field, value, allowed))

    if not 0 < profile.hard_sl_pct < HUNDRED:
        refuse("hard_sl_pct", profile.hard_sl_pct, "a percentage above 0 and below 100")
    found.extend(_take_profit_problems(profile.take_profits))
    tp_count = len(profile.take_profits)
    if profile.breakeven is not None:
        found.extend(_breakeven_problems(profile.breakeven, profile.take_profits))
    if profile.trail is not None:
        found.extend(_trail_problems(profile.trail, tp_count))
    if profile.time_limit_s is not None and profile.time_limit_s <= 0:
        refuse("time_limit_s", profile.time_limit_s, "a positive number of seconds")
    for field, pct in _percentages(profile):
        if pct.copy_abs() > MAX_PCT:
            refuse(field, pct, f"a percentage of at most {MAX_PCT} either way")
    return tuple(found)


def _percentages(profile: ExitProfile) -> list[tuple[str, Decimal]]:
    """Every percentage the profile sets, under its field name; the ones below 100 are
    already bounded by their own rules."""
    found = [(f"take_profits[{i}].pct", tp.pct) for i, tp in enumerate(profile.take_profits)]
    be, trail = profile.breakeven, profile.trail
    if be is not None:
        found.append(("breakeven.offset_pct", be.offset_pct))
        if be.trigger_pct is not None:
            found.append(("breakeven.trigger_pct", be.trigger_pct))
    if trail is not None:
        found.append(("trail.min_step_pct", trail.min_step_pct))
        if trail.activation_pct is not None:
            found.append(("trail.activation_pct", trail.activation_pct))
    return found


def _take_profit_problems(tps: tuple[TakeProfitSpec, ...]) -> list[ProfileProblem]:
    found: list[ProfileProblem] = []
    for i, tp in enumerate(tps):
        if tp.pct <= 0:
            found.append(ProfileProblem(f"take_profits[{i}].pct", tp.pct, "a positive percentage"))
        if not 0 < tp.fraction <= 1:
            found.append(
                ProfileProblem(f"take_profits[{i}].fraction", tp.fraction, "above 0, at most 1")
            )
        if i and tp.pct <= tps[i - 1].pct:
            found.append(
                ProfileProblem(
                    f"take_profits[{i}].pct",
                    tp.pct,
                    f"strictly above the previous target's {tps[i - 1].pct}",
                )
            )
    total = sum((tp.fraction for tp in tps), Decimal(0))
    if total > 1:
        found.append(
            ProfileProblem("take_profits", f"fractions sum to {total}", "a sum of at most 1")
        )
    return found


def _after_tp_problem(field: str, after_tp: int | None, tp_count: int) -> list[ProfileProblem]:
    if after_tp is None or 1 <= after_tp <= tp_count:
        return []
    allowed = (
        f"a take-profit number from 1 to {tp_count}"
        if tp_count
        else "none: the profile has no take-profit"
    )
    return [ProfileProblem(field, after_tp, allowed)]


def _breakeven_problems(be: BreakevenSpec, tps: tuple[TakeProfitSpec, ...]) -> list[ProfileProblem]:
    found = _after_tp_problem("breakeven.after_tp", be.after_tp, len(tps))
    if be.trigger_pct is None and be.after_tp is None:
        found.append(
            ProfileProblem("breakeven", "no trigger_pct and no after_tp", "at least one of them")
        )
    if be.trigger_pct is not None:
        if be.trigger_pct < 0:
            found.append(
                ProfileProblem(
                    "breakeven.trigger_pct", be.trigger_pct, "zero or a positive percentage"
                )
            )
        if be.offset_pct >= be.trigger_pct:
            found.append(
                ProfileProblem(
                    "breakeven.offset_pct",
                    be.offset_pct,
                    f"below the breakeven trigger_pct {be.trigger_pct}",
                )
            )
    if be.after_tp is not None and 1 <= be.after_tp <= len(tps):
        arming_tp = tps[be.after_tp - 1].pct
        if be.offset_pct >= arming_tp:
            found.append(
                ProfileProblem(
                    "breakeven.offset_pct",
                    be.offset_pct,
                    f"below take-profit {be.after_tp}'s pct {arming_tp}, which arms it",
                )
            )
    return found


def _trail_problems(trail: TrailSpec, tp_count: int) -> list[ProfileProblem]:
    found = _after_tp_problem("trail.after_tp", trail.after_tp, tp_count)
    if trail.activation_pct is None and trail.after_tp is None:
        found.append(
            ProfileProblem("trail", "no activation_pct and no after_tp", "at least one of them")
        )
    if trail.activation_pct is not None and trail.activation_pct < 0:
        found.append(
            ProfileProblem(
                "trail.activation_pct", trail.activation_pct, "zero or a positive percentage"
            )
        )
    if trail.min_step_pct < 0:
        found.append(ProfileProblem("trail.min_step_pct", trail.min_step_pct, "zero or more"))
    if trail.mode is TrailMode.EXCHANGE:
        if trail.activation_pct is not None and trail.after_tp is not None:
            found.append(
                ProfileProblem(
                    "trail.after_tp",
                    trail.after_tp,
                    "with mode 'exchange', either activation_pct or after_tp: the exchange's "
                    "trailing order has one activation",
                )
            )
        cb = trail.callback_pct
        if not (
            EXCHANGE_CALLBACK_MIN <= cb <= EXCHANGE_CALLBACK_MAX
            and cb % EXCHANGE_CALLBACK_STEP == 0
        ):
            found.append(
                ProfileProblem(
                    "trail.callback_pct",
                    cb,
                    f"with mode 'exchange', {EXCHANGE_CALLBACK_MIN} to {EXCHANGE_CALLBACK_MAX} "
                    f"in steps of {EXCHANGE_CALLBACK_STEP} (Binance's callbackRate); "
                    "use mode 'daemon' for other distances",
                )
            )
    elif not 0 < trail.callback_pct < HUNDRED:
        found.append(
            ProfileProblem("trail.callback_pct", trail.callback_pct, "above 0 and below 100")
        )
    return found
