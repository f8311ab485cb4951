"""What the simulator answers to a request it cannot serve, before any route sees it.

An unknown path or method, too many parameters, a body too large or that never arrives in
full, HTTP the parser refuses (a request line over aiohttp's 8190 bytes, a malformed method):
each gets a 4xx in the shape of the door it came through, `{"code", "msg"}` on /fapi and
`{"error"}` on /sim, and changes nothing. Binance's gateway answers some of these with HTML
pages of its own; the codes here are the nearest in its table, chosen by the simulator.
Bodies are read here, once, within `body_timeout_s`, so a client that sends half a body and
stalls costs one connection for that long, never a handler forever; aiohttp keeps the bytes
for the handlers' own reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from exitd.exchange.sim import errors
from exitd.exchange.sim.endpoints import json_response
from exitd.exchange.sim.numbers import MAX_FIELDS

UNSUPPORTED = errors.ErrorSpec(-1020, "This operation is not supported.", 404)
TOO_MANY_PARAMS = errors.ErrorSpec(-1101, "Too many parameters sent for this endpoint.", 400)
TOO_LARGE = errors.ErrorSpec(-1101, "Request too large.", 413)
MALFORMED = errors.ErrorSpec(-1100, "Malformed request.", 400)
# -1001 DISCONNECTED ("Internal error; unable to process your request"): the request was not
# processed, which is what a client must learn from a stalled upload.
BODY_TIMEOUT = errors.ErrorSpec(
    -1001, "Internal error; unable to process your request. Please try again.", 408
)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal(path: str, spec: errors.ErrorSpec, status: int | None = None) -> web.Response:
    """`spec` as /fapi answers it, or as `{"error": msg}` on the admin routes."""
    code = status or spec.status
    if path.startswith("/sim/"):
        return json_response({"error": spec.template}, code)
    return json_response({"code": spec.code, "msg": spec.template}, code)


def _field_count(request: web.Request, body: bytes) -> int:
    query = request.rel_url.raw_query_string
    return (query.count("&") + 1 if query else 0) + body.count(b"&")


def guard_middleware(body_timeout_s: float) -> Any:
    """The outermost middleware: bounded body reads, JSON for every refusal."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = b""
        if request.body_exists:
            try:
                async with asyncio.timeout(body_timeout_s):
                    body = await request.read()
            except TimeoutError:
                response = refusal(request.path, BODY_TIMEOUT)
                response.force_close()
                return response
            except web.HTTPRequestEntityTooLarge:
                response = refusal(request.path, TOO_LARGE)
                response.force_close()
                return response
        if _field_count(request, body) > MAX_FIELDS:
            return refusal(request.path, TOO_MANY_PARAMS)
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return refusal(request.path, UNSUPPORTED, 404)
        except web.HTTPMethodNotAllowed:
            return refusal(request.path, UNSUPPORTED, 405)
        except web.HTTPException as e:
            if not 400 <= e.status < 500:
                raise
            return refusal(request.path, MALFORMED, e.status)

    return guard


class _GuardedHandler(RequestHandler):
    """aiohttp's connection handler, answering HTTP it cannot parse with JSON, not text."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)  # logs it
        if not 400 <= status < 500:
            return response
        too_long = isinstance(exc, LineTooLong)
        answer = refusal(
            request.path, TOO_LARGE if too_long else MALFORMED, 414 if too_long else status
        )
        answer.force_close()
        return answer


class _GuardedServer(Server):
    def __call__(self) -> RequestHandler:
        # Server's own __call__, with the handler above (its state is the base class's).
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """An AppRunner whose connections answer unparseable HTTP in JSON."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer  # adds behaviour only, no state
        return server
