"""config.toml: read, validated and turned into frozen settings and engine profiles.

A config is either valid as a whole or refused with every issue found, so an operator fixes
them in one pass. The rules that tie values together live here; the shape of each section in
`_config_schema`, the profile rules in `exitd.engine.profile_problems` and the mode rule in
`exitd.ownership.validate_mode`, each once. `[exchange]`, `[control]` and `[metrics]` are read
whole (shape, rules, value) by `_config_exchange`, `_config_control` and `_config_metrics`.
Environment overrides come in as an argument: this module never reads `os.environ`, and it
never holds or prints a secret, only where one is.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

from exitd.engine import ExitProfile, ExitRouter, profile_problems
from exitd.ops._config_control import ControlSettings, control_settings
from exitd.ops._config_exchange import (
    BUNDLED_PRICES,
    BUNDLED_SYMBOL,
    DEFAULT_URLS,
    ExchangeKind,
    ExchangeSettings,
    SecretKind,
    SecretSource,
    SecretUnavailable,
    SimSettings,
    exchange_settings,
)
from exitd.ops._config_metrics import MetricsSettings, metrics_settings
from exitd.ops._config_schema import (
    HIDDEN,
    SECTIONS,
    ConfigIssue,
    DaemonModel,
    ExitsModel,
    LogFormat,
    LogLevel,
    Note,
    ProfileModel,
    SafetyModel,
    SymbolModel,
    format_issue,
    validate,
)
from exitd.ops._config_values import (
    Config,
    DaemonSettings,
    ExitSettings,
    SafetySettings,
    plain,
)
from exitd.ownership import EXIT_BRAIN, MODULE_NAME, Guard, Mode, validate_mode

__all__ = [
    "BUNDLED_PRICES",
    "BUNDLED_SYMBOL",
    "DEFAULT_URLS",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ControlSettings",
    "DaemonSettings",
    "ExchangeKind",
    "ExchangeSettings",
    "ExitSettings",
    "LogFormat",
    "LogLevel",
    "MetricsSettings",
    "SafetySettings",
    "SecretKind",
    "SecretSource",
    "SecretUnavailable",
    "SimSettings",
    "effective_config",
    "load_config",
    "parse_config",
    "router",
]

# sun_path holds 108 bytes on Linux, the terminating NUL included.
_MAX_SOCKET_PATH = 107
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class ConfigError(Exception):
    """The config cannot be used; `issues` holds every problem found, section by section."""

    def __init__(self, issues: Sequence[ConfigIssue], source: str) -> None:
        self.issues = tuple(issues)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One readable line per issue: `source: key = value: allowed: what is allowed`."""
        return [format_issue(self.source, issue) for issue in self.issues]


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str]) -> Config:
    """The config in the file at `path`; relative paths in it are from the file's directory."""
    source = os.fspath(path)
    try:
        text = Path(source).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue("", None, f"cannot read: {exc.strerror}")], source) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue("", None, "not UTF-8 text")], source) from None
    return parse_config(text, source, environ)


def parse_config(
    text: str, source: str, environ: Mapping[str, str], *, base_dir: Path | None = None
) -> Config:
    """The config `text` says, with `environ`'s overrides; `source` names it in issues and
    its directory anchors relative paths unless `base_dir` is given."""
    try:
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_issue(exc)], source) from None
    except RecursionError:
        raise ConfigError(
            [ConfigIssue("", None, "invalid TOML: nested too deeply")], source
        ) from None
    except ValueError:  # Python's limit on integer conversion, which tomllib does not wrap
        raise ConfigError(
            [ConfigIssue("", None, "invalid TOML: an integer of more than 4300 digits")], source
        ) from None
    base = Path(source).parent if base_dir is None else base_dir
    issues: list[ConfigIssue] = [
        ConfigIssue(name, HIDDEN, f"one of the known sections: {', '.join(SECTIONS)}")
        for name in document
        if name not in SECTIONS
    ]
    daemon = _daemon(document.get("daemon", {}), base, issues)
    control = control_settings(document.get("control", {}), issues)
    exits = _exits(document.get("exits", {}), environ, issues)
    exchange = exchange_settings(document.get("exchange", {}), base, issues)
    safety = _safety(document.get("safety", {}), issues)
    profiles, profile_names = _profiles(document.get("profiles", {}), issues)
    symbol_profiles = _symbols(document.get("symbols", {}), profile_names, issues)
    metrics = metrics_settings(document.get("metrics", {}), issues)
    # A section with no issue always yields its settings, so no issue means all are set.
    if (
        issues
        or daemon is None
        or exits is None
        or exchange is None
        or safety is None
        or metrics is None
        or control is None
    ):
        raise ConfigError(issues, source)
    return Config(
        daemon,
        exits,
        exchange,
        safety,
        MappingProxyType(profiles),
        MappingProxyType(symbol_profiles),
        source,
        metrics,
        control,
    )


def router(config: Config) -> ExitRouter:
    """The ExitRouter the config describes: which profile protects each symbol."""
    return ExitRouter(config.profiles, config.symbol_profiles, config.safety.emergency_sl_pct)


def effective_config(config: Config) -> dict[str, object]:
    """The merged config as plain data: defaults filled, overrides applied, Decimals as
    strings and secrets as their source only."""
    return {
        "source": config.source,
        "daemon": plain(config.daemon),
        "control": plain(config.control),
        "exits": plain(config.exits),
        "exchange": plain(config.exchange),
        "safety": plain(config.safety),
        "metrics": plain(config.metrics),
        "profiles": plain(config.profiles),
        "symbols": {symbol: {"profile": name} for symbol, name in config.symbol_profiles.items()},
    }


def _syntax_issue(exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    message = str(exc)
    position = _TOML_POSITION.search(message)
    if position is None:
        return ConfigIssue("", None, f"invalid TOML: {message}")
    line, column = int(position[1]), int(position[2])
    return ConfigIssue("", None, f"invalid TOML: {message[: position.start()]}", line, column)


def _daemon(value: object, base: Path, issues: list[ConfigIssue]) -> DaemonSettings | None:
    checked = validate(DaemonModel, value, "daemon")
    issues += checked.issues
    model = checked.model
    if model is None:
        return None
    socket_path = base / model.socket_path
    if checked.intact("socket_path") and len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
        allowed = f"a path of at most {_MAX_SOCKET_PATH} bytes (a unix socket's limit)"
        issues.append(ConfigIssue("daemon.socket_path", str(socket_path), allowed))
    return DaemonSettings(socket_path, model.log_format, model.log_level, base / model.state_dir)


def _parse_mode(text: str) -> Mode | None:
    return next((mode for mode in Mode if mode.value == text.upper()), None)


def _parse_guard(text: str) -> Guard | None:
    return next((guard for guard in Guard if guard.value == text.lower()), None)


def _parse_flag(text: str) -> bool | None:
    return True if text.lower() in _TRUE else False if text.lower() in _FALSE else None


_ENV_OVERRIDES: tuple[tuple[str, str, Callable[[str], object], str], ...] = (
    ("EXIT_MODE", "mode", _parse_mode, "LEGACY or EXIT_BRAIN_V3"),
    ("EXIT_BRAIN_V3_ENABLED", "exit_brain_v3_enabled", _parse_flag, "true/false, 1/0, yes/no"),
    ("EXIT_GUARD", "guard", _parse_guard, "soft or hard"),
)


def _env_overrides(environ: Mapping[str, str], issues: list[ConfigIssue]) -> dict[str, object]:
    """The `[exits]` fields the environment sets, by field name."""
    update: dict[str, object] = {}
    for variable, field, parse, allowed in _ENV_OVERRIDES:
        # An empty variable (systemd's `Environment=EXIT_MODE=`) means "not set".
        text = environ.get(variable, "").strip()
        parsed = parse(text) if text else None
        if text and parsed is None:
            issues.append(ConfigIssue(f"env.{variable}", text, allowed))
        elif parsed is not None:
            update[field] = parsed
    return update


def _exits(
    value: object, environ: Mapping[str, str], issues: list[ConfigIssue]
) -> ExitSettings | None:
    checked = validate(ExitsModel, value, "exits")
    issues += checked.issues
    update = _env_overrides(environ, issues)
    if checked.model is None:
        return None
    model = checked.model.model_copy(update=update)
    if checked.intact("legacy_modules"):
        _check_modules(model.legacy_modules, issues)
    overrides = tuple(v for v, field, _, _ in _ENV_OVERRIDES if field in update)
    mode_known = all(checked.intact(f) or f in update for f in ("mode", "exit_brain_v3_enabled"))
    problem = validate_mode(model.mode, model.exit_brain_v3_enabled)
    if mode_known and problem is not None:
        if overrides:
            problem += f" (environment: {', '.join(overrides)})"
        issues.append(ConfigIssue("exits.mode", model.mode.value, problem))
    return ExitSettings(
        model.mode, model.exit_brain_v3_enabled, model.guard, model.legacy_modules, overrides
    )


def _check_modules(modules: tuple[str, ...], issues: list[ConfigIssue]) -> None:
    for i, name in enumerate(modules):
        key = f"exits.legacy_modules[{i}]"
        if not MODULE_NAME.fullmatch(name):
            issues.append(ConfigIssue(key, name, "a module name of a-z, 0-9 and _"))
        elif name == EXIT_BRAIN:
            issues.append(ConfigIssue(key, name, f"a legacy module; {EXIT_BRAIN} is the brain"))
        elif name in modules[:i]:
            issues.append(ConfigIssue(key, name, "each module once"))


def _safety(value: object, issues: list[ConfigIssue]) -> SafetySettings | None:
    checked = validate(SafetyModel, value, "safety")
    issues += checked.issues
    model = checked.model
    if model is None:
        return None
    # The emergency stop is a plan of its own, so the engine's hard-stop rule judges it.
    if checked.intact("emergency_sl_pct"):
        for problem in profile_problems(ExitProfile.emergency(model.emergency_sl_pct)):
            issues.append(ConfigIssue("safety.emergency_sl_pct", problem.value, problem.allowed))
    return SafetySettings(model.emergency_sl_pct, model.new_position_grace_s)


def _profiles(value: object, issues: list[ConfigIssue]) -> tuple[dict[str, ExitProfile], set[str]]:
    """The valid profiles, and the names of all of them (a route to a broken profile is
    that profile's issue, not a missing profile)."""
    if not isinstance(value, dict):
        issues.append(ConfigIssue("profiles", value, "a table of [profiles.NAME] tables"))
        return {}, set()
    profiles: dict[str, ExitProfile] = {}
    for name, table in value.items():
        checked = validate(ProfileModel, table, f"profiles.{name}")
        issues += checked.issues
        # A leg that failed to parse would make the engine's rules judge a different plan.
        if checked.model is None or checked.failed:
            continue
        profile = checked.model.to_profile()
        problems = profile_problems(profile)
        for problem in problems:
            shown = Note(problem.value) if isinstance(problem.value, str) else problem.value
            issues.append(ConfigIssue(f"profiles.{name}.{problem.field}", shown, problem.allowed))
        profiles[name] = profile
    return profiles, set(value)


def _symbols(value: object, profile_names: set[str], issues: list[ConfigIssue]) -> dict[str, str]:
    if not isinstance(value, dict):
        issues.append(ConfigIssue("symbols", value, "a table of [symbols.SYMBOL] tables"))
        return {}
    routes: dict[str, str] = {}
    for symbol, table in value.items():
        if not re.fullmatch(r"[A-Z0-9_]+", symbol):
            allowed = "an exchange symbol in capitals: BTCUSDT"
            issues.append(ConfigIssue(f"symbols.{symbol}", Note(symbol), allowed))
        checked = validate(SymbolModel, table, f"symbols.{symbol}")
        issues += checked.issues
        if checked.model is None:
            continue
        if checked.model.profile not in profile_names:
            known = ", ".join(sorted(profile_names)) or "none is defined"
            allowed = f"the name of a [profiles.NAME] table ({known})"
            issues.append(ConfigIssue(f"symbols.{symbol}.profile", checked.model.profile, allowed))
        routes[symbol] = checked.model.profile
    return routes
