"""The frozen values a valid config.toml becomes: one per section, and `Config` holding them.

Actors receive these and nothing else of the config; they are immutable so a reload swaps the
whole value. The values of `[exchange]`, `[control]` and `[metrics]` live beside their schema
in `_config_exchange`, `_config_control` and `_config_metrics`. A secret appears here only as
its source (`SecretSource`): the value is read at start by whoever needs it, and never kept in
the config or printed by `exitd check-config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path

from exitd.engine import ExitProfile
from exitd.ops._config_control import ControlSettings
from exitd.ops._config_exchange import ExchangeSettings, SecretSource
from exitd.ops._config_metrics import MetricsSettings
from exitd.ops._config_schema import LogFormat, LogLevel
from exitd.ownership import Guard, Mode


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    socket_path: Path
    log_format: LogFormat
    log_level: LogLevel
    state_dir: Path


@dataclass(frozen=True, slots=True)
class ExitSettings:
    mode: Mode
    exit_brain_v3_enabled: bool
    guard: Guard
    legacy_modules: tuple[str, ...]
    # The environment variables that overrode the file, shown by `exitd check-config`.
    env_overrides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SafetySettings:
    emergency_sl_pct: Decimal
    new_position_grace_s: float


@dataclass(frozen=True)
class Config:
    daemon: DaemonSettings
    exits: ExitSettings
    exchange: ExchangeSettings
    safety: SafetySettings
    profiles: Mapping[str, ExitProfile]
    symbol_profiles: Mapping[str, str]
    source: str = "config.toml"
    # Both are frozen, so one shared default is safe.
    metrics: MetricsSettings = MetricsSettings()  # noqa: RUF009
    control: ControlSettings = ControlSettings()  # noqa: RUF009


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
