"""Plan overrides (`set-plan`): profile fields replaced while a position is open.

Pure. An override names a field as config.toml does (`trail.callback_pct`, `hard_sl_pct`,
`breakeven.offset_pct`, `time_limit_s`, …) and gives its new value as text; the result is
checked by the same rules as any profile. A changed plan never loosens what rests: the engine
replaces a stop only with a tighter one. The HARD_SL is never moved once placed, so
`hard_sl_pct` is not a field an open position's plan can change: the plan would show a stop
that does not rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from exitd.engine import (
    BreakevenSpec,
    Decision,
    ExitProfile,
    ExitState,
    SymbolFilters,
    Tick,
    TrailMode,
    TrailSpec,
    build_plan,
    profile_problems,
    progress,
    resume,
)
from exitd.numbers import NumberError, parse_decimal, parse_int

_DECIMALS = {
    "breakeven": ("offset_pct", "trigger_pct"),
    "trail": ("callback_pct", "activation_pct", "min_step_pct"),
}
_INTEGERS = {"breakeven": ("after_tp",), "trail": ("after_tp",)}


class OverrideRefused(ValueError):
    """The overrides name an unknown field, give a bad value, or make an invalid plan."""


def apply_overrides(profile: ExitProfile, overrides: Iterable[tuple[str, str]]) -> ExitProfile:
    for key, text in overrides:
        profile = _apply(profile, key, text)
    problems = profile_problems(profile)
    if problems:
        raise OverrideRefused(
            "; ".join(f"{p.field} = {p.value}: allowed: {p.allowed}" for p in problems)
        )
    return profile


def overridden(
    state: ExitState, filters: SymbolFilters, overrides: Iterable[tuple[str, str]], tick: Tick
) -> Decision:
    """The same position under the changed profile, its progress and resting orders kept;
    raises `OverrideRefused`."""
    profile = apply_overrides(state.plan.profile, overrides)
    current = progress(state)
    plan = build_plan(
        state.plan.position, filters, profile, current.adoption_price, state.plan.profile_name
    )
    resting = [o.intent for o in state.orders]
    return resume(plan, current, resting, state.qty, tick)


def _apply(profile: ExitProfile, key: str, text: str) -> ExitProfile:
    section, _, name = key.rpartition(".")
    try:
        if section == "" and name == "hard_sl_pct":
            raise OverrideRefused(
                "hard_sl_pct: the hard stop never moves once placed (SPEC-exits.md); "
                "tighten with trail or breakeven, or change the profile for the next position"
            )
        if section == "" and name == "time_limit_s":
            return dataclasses.replace(profile, time_limit_s=parse_int(text, 1, 10**9))
        if section == "trail" and name == "mode":
            trail = profile.trail or TrailSpec(callback_pct=Decimal(1))
            return dataclasses.replace(
                profile, trail=dataclasses.replace(trail, mode=TrailMode(text))
            )
        if section in _DECIMALS and name in (*_DECIMALS[section], *_INTEGERS[section]):
            value: Decimal | int = (
                parse_int(text, 1, 100) if name in _INTEGERS[section] else parse_decimal(text)
            )
            return _with_leg_field(profile, section, name, value)
    except (NumberError, ValueError) as exc:
        raise OverrideRefused(f"{key} = {text!r}: {exc}") from None
    raise OverrideRefused(
        f"{key}: not a field set-plan can change (time_limit_s, "
        "breakeven.offset_pct|trigger_pct|after_tp, trail.callback_pct|activation_pct|"
        "min_step_pct|after_tp|mode)"
    )


def _with_leg_field(
    profile: ExitProfile, section: str, name: str, value: Decimal | int
) -> ExitProfile:
    change: dict[str, Any] = {name: value}
    if section == "breakeven":
        breakeven = profile.breakeven or BreakevenSpec(offset_pct=Decimal(0))
        return dataclasses.replace(profile, breakeven=dataclasses.replace(breakeven, **change))
    trail = profile.trail or TrailSpec(callback_pct=Decimal(1))
    return dataclasses.replace(profile, trail=dataclasses.replace(trail, **change))
