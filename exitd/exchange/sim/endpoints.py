"""How the simulator serves one REST request, in the exchange's order of checks.

Rate limiter first (IP weight is charged even when the key or signature is then refused, as
fapi does: ccxt/ccxt#14993 shows a 401 carrying X-MBX-USED-WEIGHT-1M), then authentication
by the endpoint's security type, then the endpoint's handler (parse, account, encode). Every
`BinanceError` becomes its HTTP status and `{"code","msg"}`; anything else is a logged 500
with -1000, never a dropped connection. Handlers are plain functions of (exchange, call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import web

from exitd.exchange.sim import auth, errors

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange

log = structlog.get_logger("exitd.sim")


class Security(Enum):
    """binance-usdm.md §2: what a request must carry."""

    NONE = "NONE"
    MARKET_DATA = "MARKET_DATA"  # API key only
    USER_STREAM = "USER_STREAM"  # API key only (listenKey endpoints)
    SIGNED = "SIGNED"  # TRADE and USER_DATA: key, timestamp, signature


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated request as a handler sees it."""

    params: dict[str, str]
    now_ms: int
    api_key: str | None


Handler = Callable[["SimExchange", Call], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    security: Security
    handler: Handler


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(e: errors.BinanceError, headers: dict[str, str]) -> web.Response:
    if e.retry_after is not None:
        headers = {**headers, "Retry-After": str(e.retry_after)}
    return json_response(errors.error_body(e), e.status, headers)


def _loose_params(query: str, body: str) -> dict[str, str]:
    """Parameters for the weight only (is `symbol` there?); malformed input weighs as none."""
    try:
        return auth.merge_params(query, body)
    except errors.BinanceError:
        return {}


def _authenticate(
    ex: SimExchange, security: Security, *, api_key: str | None, query: str, body: str, now: int
) -> dict[str, str]:
    if security is Security.SIGNED:
        return auth.authenticate(
            api_key=api_key, query=query, body=body, secrets=ex.secrets, server_time_ms=now
        )
    if security is not Security.NONE:
        auth.check_api_key(api_key, ex.secrets)
    return auth.merge_params(query, body)


def serve(
    ex: SimExchange, endpoint: Endpoint
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of `endpoint`: limits, auth, handler, encoding, headers."""

    async def handle(request: web.Request) -> web.StreamResponse:
        now = ex.clock()
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
        api_key = request.headers.get("X-MBX-APIKEY")
        ip = request.remote or "unknown"
        # Order counts are per account: only a key the exchange knows has one. Keeping a
        # window for any string sent would let random keys grow the limiter without bound.
        keyed = endpoint.security is not Security.NONE and api_key in ex.secrets
        account = api_key if keyed else None
        headers: dict[str, str] = {}
        try:
            admission = ex.limiter.admit(
                ip=ip,
                account=account,
                method=endpoint.method,
                path=endpoint.path,
                params=_loose_params(query, body),
                now_ms=now,
            )
            headers = admission.headers
            params = _authenticate(
                ex, endpoint.security, api_key=api_key, query=query, body=body, now=now
            )
            result = endpoint.handler(ex, Call(params, now, api_key))
            return json_response(result, 200, headers)
        except errors.BinanceError as e:
            headers = headers or ex.limiter.headers(ip=ip, account=None, orders=False, now_ms=now)
            return error_response(e, headers)
        except Exception:
            log.exception("sim.request_failed", method=endpoint.method, path=endpoint.path)
            headers = headers or ex.limiter.headers(ip=ip, account=None, orders=False, now_ms=now)
            return error_response(errors.UNKNOWN.error(), headers)

    return handle
