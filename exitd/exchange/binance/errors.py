"""The one place that turns an exchange answer into a port outcome (RELIABILITY.md §0.1).

Only an answer that proves the exchange did not take the request becomes `Rejected`;
timeouts, transport errors after sending, 5xx, -1006/-1007/-1000 and bodies that cannot be
read become `Unknown`. Binance's 503 has three meanings told apart by its message
(binance-usdm.md §7): "Unknown error…" is unknown, "Service Unavailable." and "Internal
error; unable to process…" are definite failures, retriable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exitd.exchange.port import RateUsage, Rejected, RejectKind, Unknown

# Codes whose answer means "the request may have been executed".
_UNKNOWN_CODES = frozenset({-1000, -1006, -1007})
_KINDS: Mapping[int, RejectKind] = {
    -2021: RejectKind.WOULD_TRIGGER,
    -4142: RejectKind.WOULD_TRIGGER,
    -2022: RejectKind.REDUCE_ONLY,
    -4118: RejectKind.REDUCE_ONLY,
    -4116: RejectKind.DUPLICATE_ID,
    -4130: RejectKind.CLOSE_POSITION_EXISTS,
    -4509: RejectKind.NO_POSITION,
    -2013: RejectKind.NOT_FOUND,
    -2011: RejectKind.NOT_FOUND,
    -1003: RejectKind.RATE_LIMITED,
    -1015: RejectKind.RATE_LIMITED,
    -1008: RejectKind.RATE_LIMITED,  # system throttling: refused, not counted (§3)
    -4045: RejectKind.TOO_MANY_ORDERS,
    -4164: RejectKind.NOTIONAL,
    -1121: RejectKind.BAD_SYMBOL,
    -1021: RejectKind.CLOCK,
    -5028: RejectKind.CLOCK,
}
# 5xx messages that Binance documents as "failed, nothing executed" (GI, 503 items 2 and 3).
_DEFINITE_FAILURES = ("service unavailable", "internal error; unable to process")


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer as received: status, parsed body (None if unreadable), headers."""

    status: int
    body: Any
    headers: Mapping[str, str]


def usage_of(headers: Mapping[str, str]) -> RateUsage | None:
    """The X-MBX-* counters of an answer (case-insensitive names), None if it has none."""
    lowered = {k.lower(): v for k, v in headers.items()}
    values = [
        _int(lowered.get(name))
        for name in ("x-mbx-used-weight-1m", "x-mbx-order-count-10s", "x-mbx-order-count-1m")
    ]
    if all(v is None for v in values):
        return None
    return RateUsage(weight_1m=values[0], orders_10s=values[1], orders_1m=values[2])


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds if present (undocumented for fapi: honoured, never needed)."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def error_of(body: Any) -> tuple[int | None, str]:
    """(code, msg) of a Binance error body; (None, "") when the body is not one."""
    if not isinstance(body, dict):
        return None, ""
    code, msg = body.get("code"), body.get("msg")
    text = msg if isinstance(msg, str) else ""
    if isinstance(code, int) and not isinstance(code, bool) and code < 0:
        return code, text
    return None, text


def is_error(answer: Answer) -> bool:
    """Whether the answer is a refusal or unknown rather than a result."""
    return answer.status >= 300 or answer.body is None or error_of(answer.body)[0] is not None


def classify(answer: Answer) -> Rejected | Unknown:
    """The outcome of an answer `is_error` found wanting; see the module docstring."""
    usage = usage_of(answer.headers)
    code, msg = error_of(answer.body)
    where = f"HTTP {answer.status}" + (f" {code}" if code is not None else "")
    reason = f"{where}: {msg}" if msg else where
    if answer.status == 418:
        return Rejected(RejectKind.BANNED, reason, code, retry_after_s(answer.headers), usage)
    if answer.status == 429 or code in (-1003, -1015):
        limited = RejectKind.RATE_LIMITED
        return Rejected(limited, reason, code, retry_after_s(answer.headers), usage)
    if code in _UNKNOWN_CODES or answer.status == 408:
        return Unknown(reason, usage)
    if answer.status >= 500:
        if code == -1008 or any(text in msg.lower() for text in _DEFINITE_FAILURES):
            kind = RejectKind.RATE_LIMITED if code == -1008 else RejectKind.OTHER
            return Rejected(kind, reason, code, retry_after_s(answer.headers), usage)
        return Unknown(reason, usage)
    if code is None:
        # A 2xx/4xx that is not a Binance answer (a proxy's page, a cut body): the request
        # may have been executed.
        return Unknown(f"{where}: unreadable answer", usage)
    return Rejected(_KINDS.get(code, RejectKind.OTHER), reason, code, None, usage)


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


__all__ = ["Answer", "classify", "error_of", "is_error", "retry_after_s", "usage_of"]
