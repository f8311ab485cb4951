"""Logging: structlog events, JSON lines for journald, readable lines on a terminal.

Tracebacks never carry locals (a frame holding the API secret would print it, RELIABILITY.md
finding 12), and keys that name secrets are masked before any renderer sees them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

_SECRET_KEYS = frozenset(
    {"api_key", "api_secret", "secret", "signature", "listen_key", "listenKey", "X-MBX-APIKEY"}
)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _SECRET_KEYS & event.keys():
        event[key] = "***"
    return event


def _json(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(level: str = "info", log_format: str = "auto") -> None:
    as_json = log_format == "json" or (log_format == "auto" and not sys.stdout.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if as_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if as_json:
        processors.append(structlog.processors.dict_tracebacks)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
