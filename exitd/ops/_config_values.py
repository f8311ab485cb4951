"""The frozen values a valid config.toml becomes: one per section, and `Config` holding them.

Actors receive these and nothing else of the config; they are immutable so a reload swaps the
whole value. A secret appears here only as its source (`SecretSource`): the value is read at
start by whoever needs it, and never kept in the config or printed by `exitd check-config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path

from exitd.engine import ExitProfile
from exitd.ops._config_schema import ExchangeKind, LogFormat, LogLevel
from exitd.ops.logs import remember_secret
from exitd.ownership import Guard, Mode


class SecretUnavailable(Exception):
    """A secret's source could not be read; the message names the source, never a value."""


class SecretKind(Enum):
    ENV = "env"
    FILE = "file"
    # A systemd credential (LoadCredential=): a file under $CREDENTIALS_DIRECTORY.
    CREDENTIAL = "credential"


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a secret is read from at start; the config never holds the secret itself."""

    kind: SecretKind
    name: str

    def describe(self) -> dict[str, str]:
        return {self.kind.value: self.name}

    def read(self, environ: Mapping[str, str]) -> str:
        """The secret, surrounding whitespace removed (files usually end in a newline); from
        now on masked in every log line."""
        secret = self._read(environ)
        remember_secret(secret)
        return secret

    def _read(self, environ: Mapping[str, str]) -> str:
        if self.kind is SecretKind.ENV:
            value = environ.get(self.name)
            if not value:
                raise SecretUnavailable(f"environment variable {self.name} is not set")
            return value.strip()
        path = Path(self.name)
        if self.kind is SecretKind.CREDENTIAL:
            directory = environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                raise SecretUnavailable(
                    f"credential {self.name}: CREDENTIALS_DIRECTORY is not set (LoadCredential=)"
                )
            path = Path(directory) / self.name
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretUnavailable(f"cannot read {path}: {type(exc).__name__}") from None


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    socket_path: Path
    log_format: LogFormat
    log_level: LogLevel
    state_dir: Path


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """The control socket's callers: readers run read-only commands, writers every one.
    With no writer named, the daemon's own uid is the writer."""

    read_uids: tuple[int, ...] = ()
    read_group: str | int | None = None
    write_uids: tuple[int, ...] = ()
    write_group: str | int | None = None
    max_clients: int = 64
    idle_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class ExitSettings:
    mode: Mode
    exit_brain_v3_enabled: bool
    guard: Guard
    legacy_modules: tuple[str, ...]
    # The environment variables that overrode the file, shown by `exitd check-config`.
    env_overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SimSettings:
    """The embedded simulator: its symbols and where its prices come from (a seeded walk, a
    price file, or neither: prices only through its admin endpoint)."""

    symbols: tuple[str, ...]
    walk_seed: int | None
    prices: Path | None
    speed: float


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    kind: ExchangeKind
    rest_url: str | None
    ws_url: str | None
    recv_window_ms: int
    api_key: SecretSource | None
    api_secret: SecretSource | None
    # Set exactly when the daemon starts the simulator in-process (kind "sim", no URLs).
    sim: SimSettings | None


@dataclass(frozen=True, slots=True)
class SafetySettings:
    emergency_sl_pct: Decimal
    new_position_grace_s: float


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Prometheus text over HTTP at `host`:`port`; off when `host` is None."""

    host: str | None = None
    port: int = 0


@dataclass(frozen=True)
class Config:
    daemon: DaemonSettings
    exits: ExitSettings
    exchange: ExchangeSettings
    safety: SafetySettings
    profiles: Mapping[str, ExitProfile]
    symbol_profiles: Mapping[str, str]
    source: str = "config.toml"
    metrics: MetricsSettings = MetricsSettings()
    control: ControlSettings = ControlSettings()


def plain(value: object) -> object:
    """Settings as JSON-ready data: Decimals and paths as strings, enums as their values,
    secrets as their source only."""
    if isinstance(value, SecretSource):
        return value.describe()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | Path):
        return str(value)
    return value
