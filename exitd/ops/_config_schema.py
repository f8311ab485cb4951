"""What config.toml may say: one pydantic model per section, and pydantic's errors in the
config's own words.

These models check shape only (known keys, types, ranges of single values); rules that tie
values together live in `config.py`, and the profile rules in `exitd.engine.profile`. The
`[exchange]`, `[control]` and `[metrics]` sections keep model, rules and value together in a
module of their own (`_config_exchange`, `_config_control`, `_config_metrics`) built on the
value types and `validate` here. Each section is validated on its own so one bad section never
hides another's issues. This module must never echo a secret: values under
`exchange.api_key`/`api_secret` and of unknown keys are replaced before they reach an issue.
"""

from __future__ import annotations

import contextlib
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from exitd.engine import BreakevenSpec, ExitProfile, TakeProfitSpec, TrailMode, TrailSpec
from exitd.numbers import NumberError, parse_decimal, sane_decimal
from exitd.ownership import DEFAULT_LEGACY_MODULES, Guard, Mode


class Note(str):
    """A description standing in for a value (a hidden secret, a table, an engine remark):
    shown as is, where a real string value is shown quoted."""

    __slots__ = ()


HIDDEN = Note("(not shown)")
_NUMBER = 'a number such as 0.5 (a TOML string such as "0.5" works too)'
_SECRET_KEYS = ("api_key", "api_secret")
_SHOWN_CHARS = 40
_M = TypeVar("_M", bound=BaseModel)


class LogFormat(Enum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class LogLevel(Enum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config: the dotted key, the bad value, and what is allowed there.

    An issue of the whole file (unreadable, not TOML) has the key "" and says in `allowed`
    what went wrong; a TOML syntax error also carries the line and column.
    """

    key: str
    value: object
    allowed: str
    line: int | None = None
    column: int | None = None


def format_issue(source: str, issue: ConfigIssue) -> str:
    """One readable line: `source: key = value: allowed: what is allowed`."""
    if issue.line is not None:
        return f"{source}:{issue.line}:{issue.column}: {issue.allowed}"
    if not issue.key:
        return f"{source}: {issue.allowed}"
    return f"{source}: {issue.key} = {_shown(issue.value)}: allowed: {issue.allowed}"


def _shown(value: object) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, Note):
        return str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    if isinstance(value, dict):
        return "(a table)"
    text = str(value)
    # A number thousands of digits long is shown as its start, so the issue stays one line.
    return text if len(text) <= _SHOWN_CHARS else f"{text[: _SHOWN_CHARS - 1]}… ({len(text)} chars)"


def to_decimal(value: object) -> Decimal:
    """Exact Decimal from a TOML number or string, finite and in a sane range (exitd.numbers);
    floats only ever via their repr."""
    if isinstance(value, bool):
        raise ValueError(_NUMBER)
    if isinstance(value, float):
        value = repr(value)
    try:
        if isinstance(value, str):
            return parse_decimal(value)
        if isinstance(value, int | Decimal):
            return sane_decimal(Decimal(value))
    except NumberError as error:
        raise ValueError(f"{_NUMBER}; {error}") from None
    raise ValueError(_NUMBER)


def _folded(upper: bool) -> BeforeValidator:
    # `EXIT_GUARD=HARD` and `mode = "legacy"` mean what they say; case is not a typo.
    def fold(value: object) -> object:
        if isinstance(value, str):
            return value.strip().upper() if upper else value.strip().lower()
        return value

    return BeforeValidator(fold)


def _matching(pattern: str, allowed: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


Dec = Annotated[Decimal, PlainValidator(to_decimal)]
Text = Annotated[StrictStr, Field(min_length=1)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# Counts and seconds: bounded so that no value is beyond what the daemon, or JSON, can hold.
Whole = Annotated[StrictInt, Field(ge=-(10**12), le=10**12)]
Symbol = Annotated[StrictStr, _matching(r"[A-Z0-9_]+", "an exchange symbol in capitals: BTCUSDT")]
EnvName = Annotated[Text, _matching(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name")]
CredentialName = Annotated[Text, _matching(r"[^/]+", "a credential name (no '/')")]
RestUrl = Annotated[Text, _matching(r"https?://\S+", "an http:// or https:// URL")]
WsUrl = Annotated[Text, _matching(r"wss?://\S+", "a ws:// or wss:// URL")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DaemonModel(_Section):
    socket_path: Text = "/run/exitd/control.sock"
    log_format: Annotated[LogFormat, _folded(upper=False)] = LogFormat.AUTO
    log_level: Annotated[LogLevel, _folded(upper=False)] = LogLevel.INFO
    state_dir: Text = "/var/lib/exitd"


class ExitsModel(_Section):
    mode: Annotated[Mode, _folded(upper=True)] = Mode.LEGACY
    exit_brain_v3_enabled: StrictBool = False
    guard: Annotated[Guard, _folded(upper=False)] = Guard.SOFT
    legacy_modules: tuple[StrictStr, ...] = DEFAULT_LEGACY_MODULES


class SafetyModel(_Section):
    emergency_sl_pct: Dec = Decimal(2)
    new_position_grace_s: NonNegative = 5.0


class TakeProfitModel(_Section):
    pct: Dec
    fraction: Dec


class BreakevenModel(_Section):
    offset_pct: Dec
    trigger_pct: Dec | None = None
    after_tp: Whole | None = None


class TrailModel(_Section):
    callback_pct: Dec
    activation_pct: Dec | None = None
    after_tp: Whole | None = None
    min_step_pct: Dec = Decimal(0)
    mode: Annotated[TrailMode, _folded(upper=False)] = TrailMode.DAEMON


class ProfileModel(_Section):
    hard_sl_pct: Dec
    take_profits: tuple[TakeProfitModel, ...] = ()
    breakeven: BreakevenModel | None = None
    trail: TrailModel | None = None
    time_limit_s: Whole | None = None

    def to_profile(self) -> ExitProfile:
        """The engine's value; `profile_problems` then judges it."""
        be, trail = self.breakeven, self.trail
        return ExitProfile(
            hard_sl_pct=self.hard_sl_pct,
            take_profits=tuple(TakeProfitSpec(tp.pct, tp.fraction) for tp in self.take_profits),
            breakeven=None
            if be is None
            else BreakevenSpec(be.offset_pct, be.trigger_pct, be.after_tp),
            trail=None
            if trail is None
            else TrailSpec(
                trail.callback_pct,
                trail.activation_pct,
                trail.after_tp,
                trail.min_step_pct,
                trail.mode,
            ),
            time_limit_s=self.time_limit_s,
        )


class SymbolModel(_Section):
    profile: Text


# The top-level tables; profiles and symbols are tables of ProfileModel and SymbolModel,
# validated one entry at a time.
SECTIONS = ("daemon", "control", "exits", "exchange", "safety", "profiles", "symbols", "metrics")


@dataclass(frozen=True, slots=True)
class Checked(Generic[_M]):
    """A section as validated: its issues, and a best-effort model in which the keys that
    failed keep their defaults, so the rules that tie the intact keys together still run and
    one pass reports everything. `model` is None only when even that cannot be built."""

    model: _M | None
    issues: tuple[ConfigIssue, ...]
    failed: frozenset[str]

    def intact(self, *keys: str) -> bool:
        """Whether `keys` came through as written, so a rule may judge them."""
        return self.model is not None and self.failed.isdisjoint(keys)


def validate(model: type[_M], value: object, key: str) -> Checked[_M]:
    """`value` as `model`, with every issue pydantic found keyed below `key`."""
    try:
        return Checked(model.model_validate(value), (), frozenset())
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    issues = tuple(_issue(model, key, error) for error in errors)
    # An unknown key changes nothing the rules judge; a key that failed does.
    failed = frozenset(
        str(error["loc"][0]) if error["loc"] else ""
        for error in errors
        if error["type"] != "extra_forbidden"
    )
    partial = None
    if isinstance(value, dict) and "" not in failed:
        kept = {k: v for k, v in value.items() if k not in failed}
        # When a required key failed, there is nothing more to judge: partial stays None.
        with contextlib.suppress(ValidationError):
            partial = model.model_validate(kept, extra="ignore")
    return Checked(partial, issues, failed)


_ALLOWED_BY_TYPE = {
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "list_type": "a list",
    "tuple_type": "a list",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "missing": "a value: this key is required",
}


def _issue(model: type[BaseModel], key: str, error: Any) -> ConfigIssue:
    loc: tuple[str | int, ...] = error["loc"]
    path = dotted(key, loc)
    kind: str = error["type"]
    value = error["input"]
    if kind == "extra_forbidden":
        known = ", ".join(known_keys(model, loc))
        return ConfigIssue(path, HIDDEN, f"one of the known keys here: {known}")
    if kind == "missing":
        value = None
    elif any(part in _SECRET_KEYS for part in loc):
        # Even a source's name: a secret pasted into `{ env = ... }` must not be echoed.
        value = HIDDEN
    msg: str = error["msg"]
    allowed = _ALLOWED_BY_TYPE.get(kind) or msg.removeprefix("Value error, ")
    return ConfigIssue(path, value, allowed.removeprefix("Input should be "))


def dotted(key: str, loc: Sequence[str | int]) -> str:
    """`profiles.scalp` + ("take_profits", 0, "pct") -> `profiles.scalp.take_profits[0].pct`."""
    path = key
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[str, ...]:
    """The keys the table holding `loc`'s last part may have."""
    target: Any = model
    for part in loc[:-1]:
        target = _unwrap(target)
        if isinstance(target, type) and issubclass(target, BaseModel):
            field = target.model_fields.get(str(part))
            target = None if field is None else field.annotation
        elif get_origin(target) in (tuple, list):
            target = get_args(target)[0]
        else:
            return ()
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return tuple(target.model_fields)
    return ()


def _unwrap(annotation: Any) -> Any:
    """`X | None` and `Annotated[X, ...]` -> `X`."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation
