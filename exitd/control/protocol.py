"""The wire format: one JSON object per line each way (docs/control.md).

Pure. A request is `{"id": …, "cmd": "NAME", "args": {…}}`; its answer carries the same id
with `ok` and either `result` or `error {code, message}`. Numbers in a request are read as
Decimal from their text, never through a float, so a price reaches the exchange as written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

MAX_LINE = 64 * 1024
_ID_TYPES = (int, str)


class Code(Enum):
    """Error codes a client can act on."""

    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"
    UNKNOWN_COMMAND = "unknown_command"
    BAD_ARGS = "bad_args"
    FORBIDDEN = "forbidden"
    LINE_TOO_LONG = "line_too_long"
    BUSY = "busy"
    NOT_FOUND = "not_found"
    UNKNOWN_MODULE = "unknown_module"
    MODE_RULE = "mode_rule"
    REFUSED = "refused"
    REJECTED = "rejected"
    UNKNOWN_OUTCOME = "unknown_outcome"
    TIMEOUT = "timeout"
    UNAVAILABLE = "exchange_unavailable"
    INVALID_CONFIG = "invalid_config"
    INTERNAL = "internal"


class CommandError(Exception):
    """A request that cannot be served; the answer says why. `detail` goes along as is."""

    def __init__(self, code: Code, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Request:
    id: int | str | None
    cmd: str
    args: Mapping[str, Any]


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def parse_request(line: bytes) -> Request:
    """The request on one line, or CommandError(BAD_JSON / BAD_REQUEST)."""
    try:
        document = json.loads(line, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise CommandError(Code.BAD_JSON, f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise CommandError(Code.BAD_REQUEST, "a request is a JSON object")
    request_id = document.get("id")
    if request_id is not None and (
        not isinstance(request_id, _ID_TYPES) or isinstance(request_id, bool)
    ):
        raise CommandError(Code.BAD_REQUEST, "id: a number or a string")
    unknown = set(document) - {"id", "cmd", "args"}
    if unknown:
        raise CommandError(Code.BAD_REQUEST, f"unknown keys {sorted(unknown)}: id, cmd, args")
    cmd = document.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise CommandError(Code.BAD_REQUEST, "cmd: the command's name, a string")
    args = document.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CommandError(Code.BAD_REQUEST, "args: a JSON object")
    return Request(request_id, cmd, args)


def request_id_of(line: bytes) -> int | str | None:
    """The id of a request that could not be parsed in full, when it has a usable one."""
    try:
        document = json.loads(line, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict):
        found = document.get("id")
        if isinstance(found, _ID_TYPES) and not isinstance(found, bool):
            return found
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(answer: Mapping[str, Any]) -> bytes:
    """One answer line; Decimals travel as their exact text."""
    return orjson.dumps(answer, default=_plain, option=orjson.OPT_NON_STR_KEYS) + b"\n"


def ok(request_id: int | str | None, result: object) -> bytes:
    return encode({"id": request_id, "ok": True, "result": result})


def failed(request_id: int | str | None, error: CommandError) -> bytes:
    body: dict[str, object] = {"code": error.code.value, "message": error.message}
    if error.detail is not None:
        body["detail"] = error.detail
    return encode({"id": request_id, "ok": False, "error": body})


# --- arguments ---------------------------------------------------------------------------------


def _bad(name: str, wanted: str) -> CommandError:
    return CommandError(Code.BAD_ARGS, f"{name}: {wanted}")


def check_keys(args: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise CommandError(Code.BAD_ARGS, f"unknown arguments {unknown}: allowed {known}")


def text_arg(args: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = args.get(name)
    if value is None:
        if required:
            raise _bad(name, "required, a string")
        return None
    if not isinstance(value, str) or not value:
        raise _bad(name, "a non-empty string")
    return value


def symbol_arg(args: Mapping[str, Any], *, required: bool = True) -> str | None:
    symbol = text_arg(args, "symbol", required=required)
    if symbol is not None and not (symbol.isascii() and symbol.isalnum() and len(symbol) <= 32):
        raise _bad("symbol", "a symbol such as BTCUSDT (letters and digits)")
    return None if symbol is None else symbol.upper()


def object_arg(args: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = args.get(name)
    if not isinstance(value, dict):
        raise _bad(name, "required, a JSON object")
    return value
