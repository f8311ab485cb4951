"""config.toml: read, validated and turned into frozen settings and engine profiles.

A config is either valid as a whole or refused with every issue found, so an operator fixes
them in one pass. The rules that tie values together live here; the shape of each section in
`_config_schema`, the profile rules in `exitd.engine.profile_problems` and the mode rule in
`exitd.ownership.validate_mode`, each once. Environment overrides come in as an argument: this
module never reads `os.environ`, and it never holds or prints a secret, only where one is.
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
from exitd.ops._config_schema import (
    HIDDEN,
    SECTIONS,
    ConfigIssue,
    ControlModel,
    DaemonModel,
    ExchangeKind,
    ExchangeModel,
    ExitsModel,
    LogFormat,
    LogLevel,
    MetricsModel,
    Note,
    ProfileModel,
    SafetyModel,
    SecretModel,
    SimModel,
    SymbolModel,
    format_issue,
    listen_address,
    validate,
)
from exitd.ops._config_values import (
    Config,
    ControlSettings,
    DaemonSettings,
    ExchangeSettings,
    ExitSettings,
    MetricsSettings,
    SafetySettings,
    SecretKind,
    SecretSource,
    SecretUnavailable,
    SimSettings,
    plain,
)
from exitd.ownership import EXIT_BRAIN, MODULE_NAME, Guard, Mode, validate_mode

__all__ = [
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

DEFAULT_URLS: Mapping[ExchangeKind, tuple[str | None, str | None]] = {
    ExchangeKind.BINANCE: ("https://fapi.binance.com", "wss://fstream.binance.com"),
    ExchangeKind.BINANCE_TESTNET: (
        "https://demo-fapi.binance.com",
        "wss://fstream.binancefuture.com",
    ),
    # The embedded simulator binds a free loopback port at start; there is nothing to name.
    ExchangeKind.SIM: (None, None),
}
# sun_path holds 108 bytes on Linux, the terminating NUL included.
_MAX_SOCKET_PATH = 107
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_SOURCES = '{ env = "NAME" }, { file = "/path" } or { credential = "name" }'


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
    control = _control(document.get("control", {}), issues)
    exits = _exits(document.get("exits", {}), environ, issues)
    exchange = _exchange(document.get("exchange", {}), base, issues)
    safety = _safety(document.get("safety", {}), issues)
    profiles, profile_names = _profiles(document.get("profiles", {}), issues)
    symbol_profiles = _symbols(document.get("symbols", {}), profile_names, issues)
    metrics = _metrics(document.get("metrics", {}), issues)
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


def _control(value: object, issues: list[ConfigIssue]) -> ControlSettings | None:
    checked = validate(ControlModel, value, "control")
    issues += checked.issues
    model = checked.model
    if model is None:
        return None
    return ControlSettings(
        model.read_uids,
        model.read_group,
        model.write_uids,
        model.write_group,
        model.max_clients,
        model.idle_timeout_s,
    )


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


def _exchange(value: object, base: Path, issues: list[ConfigIssue]) -> ExchangeSettings | None:
    checked = validate(ExchangeModel, value, "exchange")
    issues += checked.issues
    model = checked.model
    if model is None:
        return None
    sim = None
    if checked.intact("kind", "rest_url", "ws_url", "sim"):
        sim = _sim(model, base, issues)
    if model.kind is not ExchangeKind.SIM and checked.intact("kind", "api_key", "api_secret"):
        for key in ("api_key", "api_secret"):
            if getattr(model, key) is None:
                allowed = f'a source for kind "{model.kind.value}": {_SOURCES}'
                issues.append(ConfigIssue(f"exchange.{key}", None, allowed))
    rest_url, ws_url = DEFAULT_URLS[model.kind]
    return ExchangeSettings(
        kind=model.kind,
        rest_url=model.rest_url or rest_url,
        ws_url=model.ws_url or ws_url,
        recv_window_ms=model.recv_window_ms,
        api_key=_secret(model.api_key, base),
        api_secret=_secret(model.api_secret, base),
        sim=sim,
    )


def _sim(model: ExchangeModel, base: Path, issues: list[ConfigIssue]) -> SimSettings | None:
    """The embedded simulator's settings, when the daemon is to start one."""
    table = Note("(a table)")
    if model.kind is not ExchangeKind.SIM:
        if model.sim is not None:
            allowed = f'only with kind = "sim" (kind is "{model.kind.value}")'
            issues.append(ConfigIssue("exchange.sim", table, allowed))
        return None
    if model.rest_url or model.ws_url:
        # URLs name a simulator already running (`exitd sim`); nothing is embedded.
        if model.sim is not None:
            allowed = "left out when rest_url/ws_url name a running simulator"
            issues.append(ConfigIssue("exchange.sim", table, allowed))
        for key in ("rest_url", "ws_url"):
            if getattr(model, key) is None:
                allowed = "set too: with kind sim, rest_url and ws_url name a running simulator"
                issues.append(ConfigIssue(f"exchange.{key}", None, allowed))
        return None
    sim = model.sim or SimModel()
    prices = None if sim.prices is None else base / sim.prices
    if prices is not None and sim.walk_seed is not None:
        allowed = "either prices or walk_seed, not both"
        issues.append(ConfigIssue("exchange.sim.prices", sim.prices, allowed))
    elif prices is not None and not prices.is_file():
        allowed = f"an existing price file ({prices} is not one; relative to the config's folder)"
        issues.append(ConfigIssue("exchange.sim.prices", sim.prices, allowed))
    return SimSettings(sim.symbols, sim.walk_seed, prices, sim.speed)


def _secret(model: SecretModel | None, base: Path) -> SecretSource | None:
    if model is None:
        return None
    if model.env is not None:
        return SecretSource(SecretKind.ENV, model.env)
    if model.file is not None:
        return SecretSource(SecretKind.FILE, str(base / model.file))
    assert model.credential is not None  # the schema requires exactly one source
    return SecretSource(SecretKind.CREDENTIAL, model.credential)


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


def _metrics(value: object, issues: list[ConfigIssue]) -> MetricsSettings | None:
    checked = validate(MetricsModel, value, "metrics")
    issues += checked.issues
    model = checked.model
    if model is None or model.listen is None:
        return None if model is None else MetricsSettings()
    address, port = listen_address(model.listen)
    if checked.intact("listen", "allow_non_loopback") and not (
        address.is_loopback or model.allow_non_loopback
    ):
        # Metrics tell anyone who can read them the account's positions and activity.
        allowed = (
            "a loopback address such as 127.0.0.1:9464 (allow_non_loopback = true to serve "
            "metrics beyond this host)"
        )
        issues.append(ConfigIssue("metrics.listen", model.listen, allowed))
    return MetricsSettings(str(address), port)


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
