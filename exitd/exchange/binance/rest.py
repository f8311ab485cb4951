"""REST calls to Binance USD-M (binance-usdm.md §2, §3). Signed ones (order writes, account
reads) go over our own keep-alive connections (`warm_http`), where a write's bytes leave in
the caller's step; the unsigned market reads and the listen key over one aiohttp session.

Every parameter travels in the query string, signed as sent (the official SDK's way);
`timestamp` comes from the local clock plus a server-time offset measured at start and again
after a CLOCK refusal. A write is sent once, whatever happens: its answer is classified and
returned. A read is retried a few times when its answer is unknown (and once after a clock
resync). After a 429 or 418 nothing leaves until its Retry-After has passed. Logs name the
method and path only, never the query, signature or key.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import orjson
import structlog
from yarl import URL

from exitd.exchange.binance.errors import Answer, classify, is_error, usage_of
from exitd.exchange.binance.signing import Signer, query_string
from exitd.exchange.binance.warm_http import HttpAnswer, NoAnswer, NotSent, WarmConnections
from exitd.exchange.port import RateUsage, Rejected, RejectKind, Unknown

log = structlog.get_logger("exitd.exchange")

READ_ATTEMPTS = 3
READ_BACKOFF_S = 0.2
QUIET_DEFAULT_S = 1.0  # after a 429 without Retry-After


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: its JSON body and the rate counters that came with it."""

    body: Any
    usage: RateUsage | None


Outcome = Reply | Rejected | Unknown


class RestClient:
    """Binance's REST API for one key; owns the server-time offset. `ssl_context` is what
    the warm connections verify https with (default: the system's trust store); the aiohttp
    session verifies with its own connector's."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        rest_url: str,
        api_key: str,
        api_secret: str,
        *,
        recv_window_ms: int = 5000,
        clock: Callable[[], int] = wall_clock_ms,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._session = session
        self._base = rest_url.rstrip("/")
        self._signer = Signer(api_secret)
        self._recv_window_ms = recv_window_ms
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._warm = WarmConnections(
            rest_url, timeout_s=timeout_s, refresh_target="/fapi/v1/time", ssl_context=ssl_context
        )
        self._key_header = {"X-MBX-APIKEY": api_key}
        self._offset_ms: int | None = None
        self._quiet_until = 0.0  # monotonic: no request leaves before, after a 429 or 418
        self.last_usage: RateUsage | None = None

    async def sync_time(self) -> bool:
        """Measure server time − local time (mid-point of the round trip)."""
        sent = self._clock()
        outcome = await self._send("GET", "/fapi/v1/time", "", key=False)
        received = self._clock()
        if not isinstance(outcome, Reply) or not isinstance(outcome.body, dict):
            log.warning("exchange.time_sync_failed", reason=_why(outcome))
            return False
        server = outcome.body.get("serverTime")
        if not isinstance(server, int):
            log.warning("exchange.time_sync_failed", reason="no serverTime")
            return False
        self._offset_ms = server - (sent + received) // 2
        log.info("exchange.time_synced", offset_ms=self._offset_ms)
        return True

    def start_write(self, method: str, path: str, params: Mapping[str, str]) -> Awaitable[Outcome]:
        """A signed request that changes something, sent exactly once: on a warm connection
        its bytes leave before this returns; the awaitable gives its outcome."""
        if self._offset_ms is None or self._quiet() is not None:
            return self._signed(method, path, params)
        return self._send_signed(method, path, params)

    async def write(self, method: str, path: str, params: Mapping[str, str]) -> Outcome:
        """`start_write`, awaited: for a follow-up write, where nothing is gained earlier."""
        return await self.start_write(method, path, params)

    async def warm_up(self) -> None:
        """Open a connection ahead of the first order."""
        await self._warm.warm()

    def close(self) -> None:
        """Close the warm connections (the aiohttp session belongs to the caller)."""
        self._warm.close()

    async def read(
        self, path: str, params: Mapping[str, str] | None = None, *, signed: bool = True
    ) -> Outcome:
        """A GET, retried while its answer is unknown, and once after a clock resync."""
        outcome: Outcome = Unknown("not sent")
        resynced = False
        for attempt in range(READ_ATTEMPTS):
            if signed:
                outcome = await self._signed("GET", path, params or {})  # warm connections
            else:
                outcome = await self._send("GET", path, query_string(params or {}), key=False)
            if isinstance(outcome, Rejected) and outcome.kind is RejectKind.CLOCK and not resynced:
                resynced = True  # _signed resynced already; one more try with the new offset
                continue
            if not isinstance(outcome, Unknown):
                return outcome
            if attempt + 1 < READ_ATTEMPTS:
                await anyio.sleep(READ_BACKOFF_S * 2**attempt)
        return outcome

    async def user_stream(self, method: str, params: Mapping[str, str] | None = None) -> Outcome:
        """The listenKey endpoints: API key, no signature (USER_STREAM)."""
        return await self._send(method, "/fapi/v1/listenKey", query_string(params or {}), key=True)

    def _signed_query(self, params: Mapping[str, str]) -> str:
        items = dict(params)
        items["recvWindow"] = str(self._recv_window_ms)
        items["timestamp"] = str(self._clock() + (self._offset_ms or 0))
        return self._signer.signed_query(items)

    async def _signed(self, method: str, path: str, params: Mapping[str, str]) -> Outcome:
        """A signed request over the warm connections, after a first time sync if need be."""
        if self._offset_ms is None:
            await self.sync_time()
        quiet = self._quiet()
        if quiet is not None:
            return quiet
        return await self._send_signed(method, path, params)

    def _send_signed(self, method: str, path: str, params: Mapping[str, str]) -> Awaitable[Outcome]:
        target = f"{path}?{self._signed_query(params)}"
        sent = self._warm.request(method, target, self._key_header)
        return self._signed_outcome(method, path, sent)

    async def _signed_outcome(self, method: str, path: str, sent: Awaitable[HttpAnswer]) -> Outcome:
        try:
            http = await sent
        except NotSent as e:
            # Nothing left this process: a definite, retriable failure.
            log.warning("exchange.connect_failed", method=method, path=path, error=str(e))
            return Rejected(RejectKind.OTHER, str(e))
        except NoAnswer as e:
            log.warning("exchange.request_failed", method=method, path=path, error=str(e))
            return Unknown(f"{method} {path}: {e}")
        outcome = self._outcome(method, path, Answer(http.status, _parse(http.body), http.headers))
        if isinstance(outcome, Rejected) and outcome.kind is RejectKind.CLOCK:
            await self.sync_time()
        return outcome

    def _quiet(self) -> Rejected | None:
        quiet_s = self._quiet_until - time.monotonic()
        if quiet_s <= 0:
            return None
        # Binance bans (418) an IP that sends anything inside a 429's Retry-After: every
        # caller of this key (gateway, account reads, listen key) waits it out together.
        reason = f"not sent: waiting out the exchange's Retry-After ({quiet_s:.1f} s)"
        return Rejected(RejectKind.RATE_LIMITED, reason, None, quiet_s)

    async def _send(self, method: str, path: str, query: str, *, key: bool) -> Outcome:
        quiet = self._quiet()
        if quiet is not None:
            return quiet
        url = URL(f"{self._base}{path}" + (f"?{query}" if query else ""), encoded=True)
        headers = self._key_header if key else {}
        try:
            async with self._session.request(
                method, url, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                answer = Answer(response.status, _parse(raw), dict(response.headers))
        except aiohttp.ClientConnectorError as e:
            # No connection was made, so nothing was sent: a definite, retriable failure.
            log.warning("exchange.connect_failed", method=method, path=path, error=type(e).__name__)
            return Rejected(RejectKind.OTHER, f"connect failed: {type(e).__name__}")
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("exchange.request_failed", method=method, path=path, error=type(e).__name__)
            return Unknown(f"{method} {path}: {type(e).__name__}")
        return self._outcome(method, path, answer)

    def _outcome(self, method: str, path: str, answer: Answer) -> Outcome:
        """The one classification of an answer, whichever client carried it."""
        usage = usage_of(answer.headers)
        if usage is not None:
            self.last_usage = usage
        if not is_error(answer):
            return Reply(answer.body, usage)
        outcome = classify(answer)
        if answer.status in (418, 429) and isinstance(outcome, Rejected):
            wait_s = outcome.retry_after_s or QUIET_DEFAULT_S
            self._quiet_until = max(self._quiet_until, time.monotonic() + wait_s)
        log.info("exchange.refused", method=method, path=path, outcome=type(outcome).__name__,
                 reason=_why(outcome))  # fmt: skip
        return outcome


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _why(outcome: Outcome) -> str:
    return "ok" if isinstance(outcome, Reply) else outcome.reason


__all__ = ["Outcome", "Reply", "RestClient", "wall_clock_ms"]
