"""Operations around the engine: config.toml, `exitd check-config`, order metrics.

Nothing here trades: config turns the file into frozen settings and engine profiles, metrics
counts what the gateway did. Logging and systemd notify live here too.
"""

from exitd.ops.config import (
    Config,
    ConfigError,
    ConfigIssue,
    effective_config,
    load_config,
    parse_config,
    router,
)
from exitd.ops.metrics import OrderKind, OrderMetrics, OrderOutcome

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "OrderKind",
    "OrderMetrics",
    "OrderOutcome",
    "effective_config",
    "load_config",
    "parse_config",
    "router",
]
