"""Logging: structlog events, JSON lines for journald, coloured key-value lines on a terminal.

No secret reaches a log line (RELIABILITY.md finding 12, failure mode 37). `redact` runs last
before the renderer, on every line: exitd's own events and the standard library's (aiohttp,
asyncio), whose records pass through the same processors. It masks, at any depth of nested
dicts, lists and exception texts:
- values under keys that name secrets (`api_secret`, `signature`, `listenKey`, `X-MBX-APIKEY`);
- `name=value` and `'name': 'value'` pairs of such names in any text: a signed URL's query,
  a headers dict's repr, an exception message quoting either;
- the values of the secrets the daemon loaded (`remember_secret`), wherever they appear;
- any run of 48 or more letters and digits: Binance's API keys, HMAC signatures and listen
  keys are 64 of them, and nothing exitd logs on purpose is that long.
Exceptions are rendered before `redact` sees the line, and never with their frames' locals
(a frame holding the API secret would print it); objects are logged as their text, so no
`repr` escapes the redaction.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from types import TracebackType
from typing import Any

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

MASK = "***"
_SECRET_NAMES = ("api_key", "apikey", "api_secret", "secret", "signature", "listen_key",
                 "listenkey", "x-mbx-apikey")  # fmt: skip
_SECRET_PAIR = re.compile(
    r"(?i)(\b(?:" + "|".join(re.escape(n) for n in _SECRET_NAMES) + r")['\"]?\s*[=:]\s*['\"]?)"
    r"([^&\s'\",;)}\]]+)"
)
_SECRET_NAMES_NORMAL = frozenset(n.replace("-", "_") for n in _SECRET_NAMES)
# Every secret name holds one of these: a text without any has no pair to mask.
_SECRET_STEMS = ("key", "secret", "signature")
_LONG_TOKEN_CHARS = 48
_LONG_TOKEN = re.compile(rf"(?<![A-Za-z0-9])[A-Za-z0-9]{{{_LONG_TOKEN_CHARS},}}(?![A-Za-z0-9])")
# Shorter values would mask ordinary words; real keys and secrets are far longer.
_MIN_SECRET_CHARS = 8
_known_secrets: set[str] = set()
_PLAIN = (int, float, bool, type(None), Decimal)


def remember_secret(value: str) -> None:
    """Mask `value` wherever it appears in any later log line (called as keys are loaded)."""
    if len(value) >= _MIN_SECRET_CHARS:
        _known_secrets.add(value)


def scrub(text: str) -> str:
    """`text` with every secret the rules above recognise replaced by `***`."""
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    # Each regex runs only where it could match: most values are short ids and prices, and
    # every line of the order path passes here.
    lowered = text.lower()
    if any(stem in lowered for stem in _SECRET_STEMS):
        text = _SECRET_PAIR.sub(lambda m: m[1] + MASK, text)
    if len(text) >= _LONG_TOKEN_CHARS:
        text = _LONG_TOKEN.sub(MASK, text)
    return text


def _is_secret_name(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in _SECRET_NAMES_NORMAL


def _clean(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {str(k): MASK if _is_secret_name(k) else _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item) for item in value]
    return scrub(str(value))


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The structlog processor: every value of the line, masked as the module says."""
    for key, value in event.items():
        if key.startswith("_"):  # the standard library's record, for the formatter only
            continue
        event[key] = MASK if _is_secret_name(key) else _clean(value)
    return event


def _json(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(level: str = "info", log_format: str = "auto") -> None:
    """structlog and the standard library's loggers, both to stdout through `redact`."""
    as_json = log_format == "json" or (log_format == "auto" and not sys.stdout.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if as_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    # Rendered here, before `redact`; the console renderer would render it after.
    exceptions: Any = (
        structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
        if as_json
        else structlog.processors.format_exc_info
    )
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exceptions,
    ]
    threshold = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    """A crash's traceback through the same redaction, never Python's raw print of it."""
    structlog.get_logger("exitd").critical("daemon.uncaught", exc_info=(kind, error, traceback))
