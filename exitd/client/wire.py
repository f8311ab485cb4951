"""The control socket's protocol as the client speaks it (docs/control.md). Pure.

A request is one line `{"id", "cmd", "args"}`; its answer one line with the same id and
`ok` with `result`, or `error {code, message}`. Decimals travel as their exact text and come
back as Decimal, never through a float. Standard library only, like the whole client.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitd.client.errors import CommandRefused, DaemonUnreachable, ProtocolError

log = logging.getLogger("exitd.client")

# The daemon reads at most 64 KiB per request line; its answers (a list of open orders) can be
# longer, so only the answer's read is bounded more loosely.
MAX_ANSWER = 16 * 1024 * 1024
_ID_PREFIX = "eg-"


def _exact(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def request_line(request_id: int, cmd: str, args: Mapping[str, Any]) -> bytes:
    """One request line, newline included."""
    text = json.dumps({"id": request_id, "cmd": cmd, "args": args}, default=_exact)
    return text.encode() + b"\n"


def result_of(line: bytes, request_id: int) -> Any:
    """The `result` of the answer to `request_id`, or CommandRefused / ProtocolError."""
    try:
        answer = json.loads(line, parse_float=Decimal)
    except ValueError:
        raise ProtocolError(f"an answer that is not JSON: {line[:200]!r}") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise ProtocolError(f"an answer without ok: {line[:200]!r}")
    if answer.get("id") not in (request_id, None):
        raise ProtocolError(f"answer to request {answer.get('id')!r}, expected {request_id}")
    if answer["ok"]:
        return answer.get("result")
    error = answer.get("error")
    if not isinstance(error, dict):
        raise ProtocolError(f"a failed answer without error: {line[:200]!r}")
    raise CommandRefused(
        str(error.get("code", "unknown")), str(error.get("message", "")), error.get("detail")
    )


def prepared_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """`order` without its None parameters (not given, as Binance's own clients read them) and
    with a `newClientOrderId` of its own.

    The daemon and a fallback then place the very same id, and Binance refuses a second open
    order with it: a submit whose answer was lost cannot become two orders by falling back.
    """
    found = {key: value for key, value in order.items() if value is not None}
    if "newClientOrderId" not in found:
        found["newClientOrderId"] = _ID_PREFIX + secrets.token_hex(12)
    return found


def submit_args(module: str, symbol: str, kind: str, order: Mapping[str, Any]) -> dict[str, Any]:
    return {"module": module, "symbol": symbol, "kind": kind, "order": dict(order)}


def log_fallback(
    module: str, symbol: str, kind: str, order: Mapping[str, Any], error: DaemonUnreachable
) -> None:
    """`exit_gateway.fallback`: the order goes to the caller's own exchange call instead."""
    log.warning(
        "exit_gateway.fallback",
        extra={
            "event": "exit_gateway.fallback",
            "legacy_module": module,
            "symbol": symbol,
            "kind": kind,
            "client_order_id": order.get("newClientOrderId"),
            "socket": error.socket_path,
            "reason": error.reason,
            "delivered": error.delivered,
        },
    )
