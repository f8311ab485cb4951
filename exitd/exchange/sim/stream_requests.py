"""A stream connection's subscriptions and its answers to the JSON requests a client sends
over it (binance-usdm.md §8.3): SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY,
GET_PROPERTY.

Pure: text in, the answer out, the subscriptions changed in place. Answers are Binance's:
`{"result": null, "id": 1}`, errors `{"error": {"code": 2, "msg": "..."}, "id": 1}` with the
messages of §8.3 (serde's wording, which Binance's stream gateway passes through). `id` may
be an unsigned int or, as the official SDK sends for USD-M, a string; a request without one
is answered with `"id": null` (what Binance does there is UNCONFIRMED). Going past the
1024 streams of a connection is refused with code 4 "Too many subscriptions", the answer
seen from Binance's gateway in public client code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
Answer = dict[str, Any]


class Subscriptions:
    """What one connection receives: stream names, listen keys (each with its `events=`
    filter, None for all), and whether payloads come wrapped (`combined`)."""

    def __init__(self, combined: bool) -> None:
        self.combined = combined
        self.streams: dict[str, None] = {}  # ordered, for LIST_SUBSCRIPTIONS
        self.listen_keys: dict[str, frozenset[str] | None] = {}

    def add(self, names: Iterable[str]) -> None:
        for name in names:
            if "@" in name or name.startswith("!"):
                self.streams[name] = None
            else:
                self.listen_keys.setdefault(name, None)

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            self.streams.pop(name, None)
            self.listen_keys.pop(name, None)

    def names(self) -> list[str]:
        return [*self.streams, *self.listen_keys]

    def __len__(self) -> int:
        return len(self.streams) + len(self.listen_keys)


class _Refused(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def answer_request(text: str, subs: Subscriptions, max_streams: int) -> Answer:
    """The answer to one client message; `subs` changes only if the request succeeds."""
    try:
        request = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _error(3, f"Invalid JSON: expected value {_at_end(text)}", None)
    if not isinstance(request, dict):
        return _error(2, f"Invalid request: invalid type, expected struct {_at_end(text)}", None)
    request_id = request.get("id")
    try:
        _check_id(request_id)
        return {"result": _perform(request, text, subs, max_streams), "id": request_id}
    except _Refused as refused:
        valid_id = request_id if _valid_id(request_id) else None
        return _error(refused.code, refused.msg, valid_id)


def _perform(request: dict[str, Any], text: str, subs: Subscriptions, max_streams: int) -> Any:
    method = request.get("method")
    if method is None:
        raise _Refused(2, f"Invalid request: missing field `method` {_at_end(text)}")
    if method not in _METHODS:
        raise _Refused(2, _unknown_variant(method, text))
    params = request.get("params", [])
    if method == "LIST_SUBSCRIPTIONS":
        return subs.names()
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(method, params, subs)
    names = _stream_names(params)
    if method == "UNSUBSCRIBE":
        subs.remove(names)
        return None
    new = {n for n in names if n not in subs.streams and n not in subs.listen_keys}
    if len(subs) + len(new) > max_streams:
        raise _Refused(4, "Too many subscriptions")
    subs.add(names)
    return None


def _property(method: str, params: Any, subs: Subscriptions) -> Any:
    if not isinstance(params, list) or not params or not isinstance(params[0], str):
        raise _Refused(2, "Invalid request: property name must be a string")
    if params[0] != "combined":
        raise _Refused(0, "Unknown property")
    if method == "GET_PROPERTY":
        return subs.combined
    value = params[1] if len(params) > 1 else None
    if not isinstance(value, bool):
        raise _Refused(1, "Invalid value type: expected Boolean")
    subs.combined = value
    return None


def _stream_names(params: Any) -> list[str]:
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise _Refused(2, "Invalid request: invalid type, expected a sequence of strings")
    return list(params)


def _valid_id(request_id: Any) -> bool:
    if isinstance(request_id, bool):
        return False
    return (
        request_id is None
        or isinstance(request_id, str)
        or (isinstance(request_id, int) and request_id >= 0)
    )


def _check_id(request_id: Any) -> None:
    if not _valid_id(request_id):
        raise _Refused(2, "Invalid request: request ID must be an unsigned integer")


def _unknown_variant(method: Any, text: str) -> str:
    """serde's message, with the column just past the method's value in the request."""
    expected = ", ".join(f"`{m}`" for m in _METHODS)
    token = orjson.dumps(method).decode()
    start = text.find(token, max(text.find('"method"'), 0) + len('"method"'))
    column = start + len(token) if start >= 0 else len(text)
    shown = method if isinstance(method, str) else token
    return (
        f"Invalid request: unknown variant `{shown}`, expected one of {expected} "
        f"at line 1 column {column}"
    )


def _at_end(text: str) -> str:
    """serde's position of the end of the input: `at line L column C`."""
    lines = text.split("\n")
    return f"at line {len(lines)} column {len(lines[-1])}"


def _error(code: int, msg: str, request_id: Any) -> Answer:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


__all__ = ["Answer", "Subscriptions", "answer_request"]
