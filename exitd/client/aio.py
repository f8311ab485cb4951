"""`AsyncExitGateway`: the same door for a legacy module written with asyncio.

One connection kept, a lock so concurrent tasks take turns on it, and the same rule as the
blocking client: a kept connection the daemon has closed is replaced and the request sent
once more. `fallback` may be a plain function or a coroutine function.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import Any

from exitd.client.errors import CommandRefused, DaemonUnreachable, ProtocolError
from exitd.client.sync import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_TIMEOUT_S, unreachable_reason
from exitd.client.wire import (
    MAX_ANSWER,
    log_fallback,
    prepared_order,
    request_line,
    result_of,
    submit_args,
)

Fallback = Callable[..., Any]
_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Closed(Exception):
    def __init__(self, sent: bool) -> None:
        super().__init__("closed")
        self.sent = sent


class AsyncExitGateway:
    """`ExitGateway` for asyncio: the same commands, awaited."""

    def __init__(
        self,
        socket_path: str,
        module: str = "position_monitor",
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        fallback: Fallback | None = None,
    ) -> None:
        self.socket_path = str(socket_path)
        self.module = module
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.fallback = fallback
        self._lock = asyncio.Lock()
        self._stream: _Stream | None = None
        self._last_id = 0

    async def submit(
        self, symbol: str, kind: str, *, fallback: Fallback | None = None, **order: Any
    ) -> Any:
        """See `ExitGateway.submit`."""
        placed = prepared_order(order)
        try:
            return await self.call("submit", submit_args(self.module, symbol, kind, placed))
        except DaemonUnreachable as unreachable:
            chosen = fallback or self.fallback
            if chosen is None:
                raise
            log_fallback(self.module, symbol, kind, placed, unreachable)
            result = chosen(symbol=symbol, **placed)
            return await result if inspect.isawaitable(result) else result

    async def status(self) -> Any:
        return await self.call("status")

    async def positions(self) -> Any:
        return await self.call("positions")

    async def orders(self, symbol: str | None = None) -> Any:
        return await self.call("orders", {} if symbol is None else {"symbol": symbol})

    async def plan(self, symbol: str) -> Any:
        return await self.call("plan", {"symbol": symbol})

    async def metrics(self) -> Any:
        return await self.call("metrics")

    async def summary(self) -> Any:
        return await self.call("summary")

    async def call(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        """Any control command; its `result`."""
        async with self._lock:
            self._last_id += 1
            request_id = self._last_id
            line = request_line(request_id, cmd, args or {})
            kept = self._stream is not None
            try:
                return await self._request(line, request_id)
            except _Closed as closed:
                if not kept:
                    raise self._unanswered(closed.sent) from None
                sent = closed.sent
            try:
                return await self._request(line, request_id)
            except _Closed as closed:
                raise self._unanswered(sent or closed.sent) from None
            except DaemonUnreachable as unreachable:
                raise DaemonUnreachable(
                    self.socket_path, unreachable.reason, delivered=sent or unreachable.delivered
                ) from None

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()

    async def __aenter__(self) -> AsyncExitGateway:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _unanswered(self, sent: bool) -> DaemonUnreachable:
        return DaemonUnreachable(
            self.socket_path, "the connection closed unanswered", delivered=sent
        )

    async def _request(self, line: bytes, request_id: int) -> Any:
        answer = await self._exchange(line)
        try:
            return result_of(answer, request_id)
        except ProtocolError:
            # Whatever is on the line, the next answer could not be trusted to be ours.
            await self._drop()
            raise

    async def _exchange(self, line: bytes) -> bytes:
        reader, writer = await self._connected()
        try:
            writer.write(line)
            await writer.drain()
        except OSError:
            await self._drop()
            raise _Closed(sent=False) from None
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await reader.readuntil(b"\n")
        except TimeoutError:
            await self._drop()
            raise DaemonUnreachable(
                self.socket_path, f"no answer within {self.timeout_s:g} s", delivered=True
            ) from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            await self._drop()
            raise _Closed(sent=True) from None
        return answer[:-1]

    async def _connected(self) -> _Stream:
        if self._stream is not None:
            reader, writer = self._stream
            if not reader.at_eof() and not writer.is_closing():
                return self._stream
            await self._drop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                self._stream = await asyncio.open_unix_connection(
                    self.socket_path, limit=MAX_ANSWER
                )
        except PermissionError:
            raise CommandRefused(
                "forbidden", f"no permission to connect to {self.socket_path}"
            ) from None
        except OSError as exc:
            raise DaemonUnreachable(self.socket_path, unreachable_reason(exc)) from None
        return self._stream

    async def _drop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream[1].close()
            with contextlib.suppress(OSError):
                await stream[1].wait_closed()
