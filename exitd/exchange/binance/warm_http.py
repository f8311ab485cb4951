"""Keep-alive HTTP/1.1 connections for signed requests, whose bytes leave in the caller's step.

Through aiohttp a request starts only in a task's first step, after everything else ready
in the event loop (about 350 µs at 200 symbols), and costs 90 to 120 µs of CPU (BENCHMARKS.md,
bench_write_path.py); an order amend cannot wait that long. Here a request on an idle
connection is written (`transport.write`, synchronous) before `request` returns, and only
the answer is awaited. The account reads (a cancel's read-back, reconciliation) use the same
connections: cheaper, and kept warm by the traffic. Answers are parsed by httptools (llhttp,
the parser aiohttp and uvicorn use). One request at a time per connection, no pipelining: a
connection goes back to idle only once its answer is complete and keep-alive holds; anything
else closes it, so a late answer is never taken for the next request's.

Failures come in two kinds the caller must tell apart: `NotSent` (nothing left: the connect
failed, or no connection came free in time) and `NoAnswer` (the request left, its complete
answer never came: the exchange may have acted on it).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from exitd.exchange.binance.tls import tls_context

MAX_CONNECTIONS = 16
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024  # an account's open orders, not exchangeInfo (aiohttp's)
IDLE_S = 15.0  # an idle connection older than this is closed rather than reused
REFRESH_S = 10.0  # an idle connection is refreshed this long after its last answer
KEEP_WARM = 2  # idle connections kept open by refreshing; more expire after IDLE_S
USER_AGENT = "exitd"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class NotSent(Exception):
    """Nothing of the request left this process: a definite failure."""


class NoAnswer(Exception):
    """The request left but no complete answer came back: its effect is unknown."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; at most one request in flight."""

    def __init__(self, owner: WarmConnections) -> None:
        self._owner = owner
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[HttpAnswer] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body = bytearray()
        self._until_eof = False  # neither Content-Length nor chunked: the body ends at close
        self._failure = ""
        self.closed = False
        self.idle_since = 0.0
        self.refresh: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes nobody asked for: the stream can no longer be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            self._fail(self._failure or f"malformed answer: {type(e).__name__}")
            return
        if self._failure:
            self._fail(self._failure)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is not None and not answer.done():
            if self._until_eof and not self._failure:
                answer.set_result(HttpAnswer(self._status(), self._headers, bytes(self._body)))
            else:
                answer.set_exception(NoAnswer(self._failure or "connection lost"))
        self._answer = None
        self._owner._dropped(self)

    # --- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > MAX_HEADER_BYTES:
            self._failure = f"answer headers over {MAX_HEADER_BYTES} bytes"
            return
        self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        names = {name.lower() for name in self._headers}
        self._until_eof = "content-length" not in names and "transfer-encoding" not in names

    def on_body(self, body: bytes) -> None:
        if len(self._body) + len(body) > MAX_BODY_BYTES:
            self._failure = f"answer body over {MAX_BODY_BYTES} bytes"
            return
        self._body += body

    def on_message_complete(self) -> None:
        answer = self._answer
        if self._failure or answer is None or answer.done():
            return
        self._answer = None
        answer.set_result(HttpAnswer(self._status(), self._headers, bytes(self._body)))
        if self._parser.should_keep_alive():
            self._owner._idle_again(self)
        else:
            self.close()

    # --- used by WarmConnections ------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[HttpAnswer]:
        assert self._transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._header_bytes, self._body = {}, 0, bytearray()
        self._until_eof, self._failure = False, ""
        try:
            self._transport.write(data)
        except (RuntimeError, OSError) as e:  # uvloop: a transport closed under us
            answer, self._answer = self._answer, None
            answer.set_exception(NotSent(f"connection closed: {type(e).__name__}"))
            self.close()
            return answer
        return self._answer

    @property
    def closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _status(self) -> int:
        return self._parser.get_status_code()

    def _fail(self, reason: str) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(NoAnswer(reason))
        self.close()


class WarmConnections:
    """Up to `max_connections` keep-alive connections to one base URL (http or https; https
    verifies the server against `ssl_context`, by default the system's trust store).

    With `refresh_target` (a cheap GET, Binance's server time), up to `keep_warm` idle
    connections are refreshed `refresh_s` after their last answer, before the idle bound or the
    server's keep-alive would end them: on a real account, where amendments come seconds or
    minutes apart, the next order still finds a connection open instead of paying a TCP and
    TLS handshake first."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        max_connections: int = MAX_CONNECTIONS,
        idle_s: float = IDLE_S,
        refresh_target: str | None = None,
        refresh_s: float = REFRESH_S,
        keep_warm: int = KEEP_WARM,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self._tls = tls_context(url.scheme == "https", ssl_context)
        self._host = url.hostname
        self._port = url.port or (443 if self._tls else 80)
        default_port = self._port == (443 if self._tls else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host  # IPv6 literal
        host_header = host if default_port else f"{host}:{self._port}"
        self._prefix = url.path.rstrip("/")
        self._head_tail = f"Host: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        self._timeout_s = timeout_s
        self._max = max_connections
        self._idle_s = idle_s
        self._refresh_target = refresh_target
        self._refresh_s = refresh_s
        self._keep_warm = keep_warm
        self._idle: list[_Connection] = []  # the most recently used last: the warmest
        self._count = 0  # open or opening
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._all: set[_Connection] = set()
        self._closed = False

    @property
    def open_connections(self) -> int:
        return len(self._all)

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    def request(
        self, method: str, target: str, headers: Mapping[str, str]
    ) -> Awaitable[HttpAnswer]:
        """Send now on an idle connection if there is one, else once one is open; awaiting
        gives the answer or raises `NotSent` / `NoAnswer` (the timeout included)."""
        data = self._format(method, target, headers)
        connection = self._take_idle()
        if connection is not None:
            return self._answer_of(connection, connection.send(data), self._timeout_s)
        return self._open_and_send(data)

    async def warm(self) -> None:
        """Open one connection ahead of the first write, so that it need not wait for one."""
        if self._idle or self._count >= self._max or self._closed:
            return
        self._count += 1
        try:
            connection = await asyncio.wait_for(self._connect(), self._timeout_s)
        except (NotSent, TimeoutError):
            return  # the first write opens one then
        self._idle_again(connection)

    async def aclose(self) -> None:
        self.close()
        await asyncio.sleep(0)  # let connection_lost run

    def close(self) -> None:
        """Close every connection now; also safe where awaiting is not (a cancelled scope)."""
        self._closed = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        for connection in list(self._all):
            connection.close()
        self._idle.clear()

    # --- inside ---------------------------------------------------------------------------------

    def _format(self, method: str, target: str, headers: Mapping[str, str]) -> bytes:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = f"{method} {self._prefix}{target} HTTP/1.1\r\n"
        if _breaks(head) != 2 or _breaks(lines) != 2 * len(headers):
            raise ValueError("CR or LF inside a request line or header")
        return f"{head}{self._head_tail}{lines}Content-Length: 0\r\n\r\n".encode("latin-1")

    def _take_idle(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            connection = self._idle.pop()
            _stop_refresh(connection)
            if connection.closed or connection.closing:
                continue
            if now - connection.idle_since >= self._idle_s:
                connection.close()  # the server may be closing it right now: don't race it
                continue
            return connection
        return None

    async def _answer_of(
        self, connection: _Connection, answer: asyncio.Future[HttpAnswer], timeout_s: float
    ) -> HttpAnswer:
        try:
            async with asyncio.timeout(timeout_s):
                return await answer
        except TimeoutError:
            raise NoAnswer(f"no answer within {self._timeout_s} s") from None
        finally:
            if not answer.done() or answer.cancelled():
                # Timed out or cancelled: a late answer on this connection must go nowhere.
                answer.cancel()
                connection.close()

    async def _open_and_send(self, data: bytes) -> HttpAnswer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        connection = await self._connection_by(deadline)
        answer = connection.send(data)
        return await self._answer_of(connection, answer, max(deadline - loop.time(), 0.0))

    async def _connection_by(self, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise NotSent("connections closed")
            connection = self._take_idle()
            if connection is not None:
                return connection
            left = deadline - loop.time()
            if left <= 0:
                raise NotSent(f"no free connection within {self._timeout_s} s")
            if self._count < self._max:
                self._count += 1
                try:
                    return await asyncio.wait_for(self._connect(), left)
                except TimeoutError:
                    raise NotSent("connect failed: TimeoutError") from None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, left)
            except TimeoutError:
                raise NotSent(f"no free connection within {self._timeout_s} s") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def _connect(self) -> _Connection:
        """Open one connection; `self._count` was raised for it by the caller."""
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(self), self._host, self._port, ssl=self._tls,
                server_hostname=self._host if self._tls else None,
            )  # fmt: skip
        except (OSError, ssl.SSLError) as e:
            self._count -= 1
            self._wake_one()
            # A refused certificate says why (untrusted, another host): the operator's lead.
            verify = e.verify_message if isinstance(e, ssl.SSLCertVerificationError) else None
            why = f" ({verify})" if verify else ""
            raise NotSent(f"connect failed: {type(e).__name__}{why}") from e
        except BaseException:
            self._count -= 1
            self._wake_one()
            raise
        self._all.add(connection)
        if self._closed:
            connection.close()
            raise NotSent("connections closed")
        return connection

    def _idle_again(self, connection: _Connection) -> None:
        if self._closed or connection.closed:
            return
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle.append(connection)
        if self._refresh_target is not None:
            connection.refresh = loop.call_later(self._refresh_s, self._refresh, connection)
        self._wake_one()

    def _refresh(self, connection: _Connection) -> None:
        """Send the refresh on an idle connection (its answer makes it idle again, fresh), or
        let it go when enough others are kept warm."""
        connection.refresh = None
        if connection not in self._idle or connection.closed or connection.closing:
            return
        self._idle.remove(connection)
        target = self._refresh_target
        if target is None or len(self._idle) >= self._keep_warm:
            connection.close()
            return
        answer = connection.send(self._format("GET", target, {}))
        answer.add_done_callback(_retrieved)
        loop = asyncio.get_running_loop()
        loop.call_later(self._timeout_s, _close_unanswered, connection, answer)

    def _dropped(self, connection: _Connection) -> None:
        _stop_refresh(connection)
        if connection in self._all:
            self._all.remove(connection)
            self._count -= 1
        if connection in self._idle:
            self._idle.remove(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _stop_refresh(connection: _Connection) -> None:
    if connection.refresh is not None:
        connection.refresh.cancel()
        connection.refresh = None


def _retrieved(answer: asyncio.Future[HttpAnswer]) -> None:
    """A refresh's answer matters only for keeping its connection: its failure is read here so
    the loop does not report it as never retrieved."""
    if not answer.cancelled():
        answer.exception()


def _close_unanswered(connection: _Connection, answer: asyncio.Future[HttpAnswer]) -> None:
    if not answer.done():
        answer.cancel()
        connection.close()


def _breaks(text: str) -> int:
    return text.count("\r") + text.count("\n")


__all__ = ["HttpAnswer", "NoAnswer", "NotSent", "WarmConnections"]
