"""The parameter space of a sweep: which plan fields vary, over which exact values (pure).

A space is a list of axes, each a profile field (the dotted names `profile_problems` uses)
with its values, from `--grid NAME=VALUES` or a TOML file. Values are Decimals parsed from
text (never floats), so `1:3:0.5` is exactly 1, 1.5, 2, 2.5, 3. A random search draws N
distinct points of the same grid with a seeded generator, so a rerun draws the same ones.
"""

from __future__ import annotations

import dataclasses
import random
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from math import prod
from pathlib import Path
from typing import Any, TypeAlias

from exitd.engine import BreakevenSpec, ExitProfile, TrailSpec
from exitd.numbers import NumberError, parse_decimal, parse_int

Value: TypeAlias = Decimal | int
Point: TypeAlias = tuple[Value, ...]

_MAX_VALUES = 10_000  # per axis: a range with a typo in its step, not a research question
_MAX_PLANS = 10_000_000
_INT_FIELDS = {"time_limit_s", "breakeven.after_tp", "trail.after_tp"}
_DECIMAL_FIELDS = {
    "hard_sl_pct",
    "breakeven.offset_pct",
    "breakeven.trigger_pct",
    "trail.callback_pct",
    "trail.activation_pct",
    "trail.min_step_pct",
}
_TAKE_PROFIT = re.compile(r"(?:take_profits\[(\d+)\]|tp(\d+))\.(pct|fraction)$")


class SpaceError(ValueError):
    """A space that cannot be swept; the message names the axis and what is allowed."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One plan field and the values a sweep gives it, in order."""

    name: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Space:
    """The axes, and a random draw of `random` points instead of every one, if set."""

    axes: tuple[Axis, ...]
    random: int | None = None
    seed: int = 0

    @property
    def grid_size(self) -> int:
        return prod(len(axis.values) for axis in self.axes)

    def points(self) -> list[Point]:
        """Every point of the grid, or the seeded random draw, in grid order."""
        sizes = [len(axis.values) for axis in self.axes]
        total = self.grid_size
        if self.random is None or self.random >= total:
            chosen: Iterable[int] = range(total)
        else:
            chosen = sorted(random.Random(self.seed).sample(range(total), self.random))
        return [self._point(index, sizes) for index in chosen]

    def _point(self, index: int, sizes: Sequence[int]) -> Point:
        """The grid point at `index`, the last axis varying fastest (as itertools.product)."""
        values: list[Value] = []
        for axis, size in zip(reversed(self.axes), reversed(sizes), strict=True):
            index, at = divmod(index, size)
            values.append(axis.values[at])
        return tuple(reversed(values))


def canonical_name(name: str) -> str:
    """The profile's own field name: `tp1.pct` is `take_profits[0].pct`."""
    text = name.strip()
    match = _TAKE_PROFIT.match(text)
    if match:
        listed, numbered, part = match.groups()
        if numbered is not None:
            if int(numbered) < 1:
                raise SpaceError(f"{text}: take-profits are numbered from tp1")
            return f"take_profits[{int(numbered) - 1}].{part}"
        return f"take_profits[{int(listed)}].{part}"
    if text in _INT_FIELDS or text in _DECIMAL_FIELDS:
        return text
    known = ", ".join(sorted(_INT_FIELDS | _DECIMAL_FIELDS)) + ", tpN.pct, tpN.fraction"
    raise SpaceError(f"{text!r} is not a plan parameter (known: {known})")


def parse_values(name: str, text: str) -> tuple[Value, ...]:
    """`0.1,0.2,0.3` as listed, or `START:STOP:STEP` from START up to STOP inclusive."""
    parts = [part.strip() for part in text.split(":")]
    if len(parts) == 3:
        start, stop, step = (_number(name, part) for part in parts)
        return _range(name, start, stop, step)
    if len(parts) != 1:
        raise SpaceError(f"{name}={text}: expected V1,V2,… or START:STOP:STEP")
    return _distinct(name, [_number(name, part) for part in text.split(",")])


def parse_grid_option(text: str) -> Axis:
    """One `--grid NAME=VALUES` option."""
    name, sep, values = text.partition("=")
    if not sep:
        raise SpaceError(f"--grid {text}: expected NAME=VALUES, e.g. hard_sl_pct=1:3:0.5")
    field = canonical_name(name)
    return Axis(field, _typed(field, parse_values(field, values)))


def load_space_file(path: str | Path) -> Space:
    """A space from TOML: `[grid]` NAME = "1:3:0.5" or a list; optional `random`, `seed`."""
    try:
        with open(path, "rb") as file:
            body = tomllib.load(file, parse_float=Decimal)
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(f"{path}: not TOML: {exc}") from None
    unknown = sorted(set(body) - {"grid", "random", "seed"})
    if unknown:
        raise SpaceError(f"{path}: unknown keys {', '.join(unknown)} (allowed: grid, random, seed)")
    grid = body.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise SpaceError(f"{path}: needs a [grid] table naming at least one parameter")
    axes = [
        _axis_of_toml(f"{path}: grid.{name}", name, value) for name, value in _flat(grid).items()
    ]
    return make_space(axes, _toml_int(path, body, "random"), _toml_int(path, body, "seed") or 0)


def make_space(axes: Sequence[Axis], random_n: int | None = None, seed: int = 0) -> Space:
    """A space from its axes, refusing a field given twice, an empty draw or a huge grid."""
    names = [axis.name for axis in axes]
    if not axes:
        raise SpaceError("no parameter to sweep: give --grid NAME=VALUES or --space FILE")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SpaceError(f"{', '.join(twice)} given more than once")
    if random_n is not None and random_n < 1:
        raise SpaceError(f"--random {random_n}: at least one plan")
    space = Space(tuple(axes), random_n, seed)
    size = space.grid_size if random_n is None else min(random_n, space.grid_size)
    if size > _MAX_PLANS:
        raise SpaceError(f"{size} plans: more than {_MAX_PLANS}; use --random N")
    return space


def apply_point(base: ExitProfile, axes: Sequence[Axis], point: Point) -> ExitProfile:
    """`base` with each axis's field set to the point's value; a missing breakeven or trail
    is created (a trail needs its callback_pct on an axis, as `exitd replay` needs it)."""
    values: dict[str, Any] = {axis.name: value for axis, value in zip(axes, point, strict=True)}
    profile = base
    top = {k: v for k, v in values.items() if "." not in k}
    if top:
        profile = dataclasses.replace(profile, **top)
    take_profits = list(profile.take_profits)
    for name, value in values.items():
        match = _TAKE_PROFIT.match(name)
        if match:
            index, part = int(match.group(1)), match.group(3)
            if index >= len(take_profits):
                raise SpaceError(
                    f"{name}: the base profile has {len(take_profits)} take-profit(s); "
                    "add the target to the profile or with --tp"
                )
            take_profits[index] = dataclasses.replace(take_profits[index], **{part: value})
    profile = dataclasses.replace(profile, take_profits=tuple(take_profits))
    be = _sub(values, "breakeven.")
    if be:
        current = profile.breakeven or BreakevenSpec(offset_pct=Decimal(0))
        profile = dataclasses.replace(profile, breakeven=dataclasses.replace(current, **be))
    trail = _sub(values, "trail.")
    if trail:
        if profile.trail is None and "callback_pct" not in trail:
            raise SpaceError(
                "the base profile has no trail: sweep trail.callback_pct too, "
                "or give --trail-callback"
            )
        current_trail = profile.trail or TrailSpec(callback_pct=trail["callback_pct"])
        profile = dataclasses.replace(profile, trail=dataclasses.replace(current_trail, **trail))
    return profile


def tidy(value: Value) -> str:
    """A value as people write it: 2 for 2.0, 0.15 for 0.150, never an exponent."""
    if isinstance(value, int):
        return str(value)
    return format(value.normalize(), "f")


def _sub(values: Mapping[str, Value], prefix: str) -> dict[str, Any]:
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def _number(name: str, text: str) -> Decimal:
    try:
        return parse_decimal(text)
    except NumberError as error:
        raise SpaceError(f"{name}: {error}") from None


def _range(name: str, start: Decimal, stop: Decimal, step: Decimal) -> tuple[Value, ...]:
    if step <= 0:
        raise SpaceError(f"{name}: the step of {start}:{stop}:{step} must be positive")
    if stop < start:
        raise SpaceError(f"{name}: {start}:{stop}:{step} ends before it starts")
    count = int((stop - start) / step) + 1
    if count > _MAX_VALUES:
        raise SpaceError(
            f"{name}: {start}:{stop}:{step} has {count} values (at most {_MAX_VALUES})"
        )
    # start + k·step, not a running sum: exact whatever the step's decimals
    return tuple(start + k * step for k in range(count) if start + k * step <= stop)


def _distinct(name: str, values: list[Decimal]) -> tuple[Value, ...]:
    if len(set(values)) != len(values):
        raise SpaceError(f"{name}: a value is listed twice")
    if len(values) > _MAX_VALUES:
        raise SpaceError(f"{name}: {len(values)} values (at most {_MAX_VALUES})")
    return tuple(values)


def _typed(name: str, values: tuple[Value, ...]) -> tuple[Value, ...]:
    """Whole numbers for the fields that count (seconds, take-profit numbers)."""
    if name not in _INT_FIELDS:
        return values
    typed: list[Value] = []
    for value in values:
        try:
            typed.append(parse_int(tidy(value), 1, 10**12))
        except NumberError as error:
            raise SpaceError(f"{name}: {error}") from None
    return tuple(typed)


def _axis_of_toml(where: str, name: str, value: object) -> Axis:
    try:
        field = canonical_name(name)
        if isinstance(value, str):
            return Axis(field, _typed(field, parse_values(field, value)))
        if isinstance(value, list) and value:
            texts = [str(v) for v in value if isinstance(v, (str, int, Decimal))]
            if len(texts) == len(value) and not any(isinstance(v, bool) for v in value):
                return Axis(field, _typed(field, parse_values(field, ",".join(texts))))
    except SpaceError as error:
        raise SpaceError(f"{where}: {error}") from None
    raise SpaceError(f'{where}: expected "START:STOP:STEP", "V1,V2" or a list of numbers')


def _flat(table: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """`trail.callback_pct = …` unquoted is a nested table in TOML: the dotted name again."""
    flat: dict[str, object] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _toml_int(path: str | Path, body: Mapping[str, object], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpaceError(f"{path}: {key} = {value!r}: expected a whole number")
    return value
