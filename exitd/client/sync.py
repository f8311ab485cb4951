"""`ExitGateway`: a legacy module's blocking door to the daemon, safe to share between threads.

One connection, opened on first use and kept; a lock makes each request and its answer one
exchange on it. A kept connection the daemon has since closed (its idle timeout, a restart)
is noticed on the next request, which then goes out once more on a fresh connection: the
daemon acts only on a whole line, and a resent submit keeps its client order id, which the
gateway recognises as the order already placed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from exitd.client.errors import CommandRefused, DaemonUnreachable, ProtocolError
from exitd.client.wire import (
    MAX_ANSWER,
    log_fallback,
    prepared_order,
    request_line,
    result_of,
    submit_args,
)

Fallback = Callable[..., Any]
# The daemon gives a submit 30 s to resolve before it answers `timeout` itself.
DEFAULT_TIMEOUT_S = 40.0
DEFAULT_CONNECT_TIMEOUT_S = 2.0


class _Closed(Exception):
    """The connection ended before the answer was complete; `sent`: after the whole request."""

    def __init__(self, sent: bool) -> None:
        super().__init__("closed")
        self.sent = sent


class ExitGateway:
    """Exit orders and reads through exitd's control socket, as `module`.

    `fallback`, when given (here or per submit), is the module's old direct exchange call:
    `fallback(symbol=…, **order)` runs when the daemon cannot be reached, never on a refusal.
    """

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
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._last_id = 0

    def submit(
        self, symbol: str, kind: str, *, fallback: Fallback | None = None, **order: Any
    ) -> Any:
        """Place an exit order given in Binance's own parameters; the exchange's order as placed.

        CommandRefused when the ownership policy or the exchange says no (`code` "refused" or
        "rejected"); DaemonUnreachable when nobody answers and there is no fallback.
        """
        placed = prepared_order(order)
        try:
            return self.call("submit", submit_args(self.module, symbol, kind, placed))
        except DaemonUnreachable as unreachable:
            chosen = fallback or self.fallback
            if chosen is None:
                raise
            log_fallback(self.module, symbol, kind, placed, unreachable)
            return chosen(symbol=symbol, **placed)

    def status(self) -> Any:
        return self.call("status")

    def positions(self) -> Any:
        return self.call("positions")

    def orders(self, symbol: str | None = None) -> Any:
        return self.call("orders", {} if symbol is None else {"symbol": symbol})

    def plan(self, symbol: str) -> Any:
        return self.call("plan", {"symbol": symbol})

    def metrics(self) -> Any:
        return self.call("metrics")

    def summary(self) -> Any:
        return self.call("summary")

    def call(self, cmd: str, args: dict[str, Any] | None = None) -> Any:
        """Any control command; its `result`."""
        with self._lock:
            self._last_id += 1
            request_id = self._last_id
            line = request_line(request_id, cmd, args or {})
            kept = self._sock is not None
            try:
                return self._request(line, request_id)
            except _Closed as closed:
                if not kept:
                    raise self._unanswered(closed.sent) from None
                sent = closed.sent
            # The kept connection had been closed by the daemon (its idle timeout, a restart):
            # once more on a new one.
            try:
                return self._request(line, request_id)
            except _Closed as closed:
                raise self._unanswered(sent or closed.sent) from None
            except DaemonUnreachable as unreachable:
                raise DaemonUnreachable(
                    self.socket_path, unreachable.reason, delivered=sent or unreachable.delivered
                ) from None

    def _unanswered(self, sent: bool) -> DaemonUnreachable:
        return DaemonUnreachable(
            self.socket_path, "the connection closed unanswered", delivered=sent
        )

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> ExitGateway:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, line: bytes, request_id: int) -> Any:
        answer = self._exchange(line)
        try:
            return result_of(answer, request_id)
        except ProtocolError:
            # Whatever is on the line, the next answer could not be trusted to be ours.
            self._drop()
            raise

    def _exchange(self, line: bytes) -> bytes:
        sock = self._connected()
        try:
            sock.sendall(line)
        except OSError:
            # Part of a line at most went out, and the daemon acts only on whole lines.
            self._drop()
            raise _Closed(sent=False) from None
        try:
            return self._answer(sock)
        except TimeoutError:
            self._drop()
            raise DaemonUnreachable(
                self.socket_path, f"no answer within {self.timeout_s:g} s", delivered=True
            ) from None
        except (_Closed, OSError):
            self._drop()
            raise _Closed(sent=True) from None

    def _connected(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout_s)
        try:
            sock.connect(self.socket_path)
        except PermissionError:
            sock.close()
            # The daemon is there and the system keeps this uid out: a refusal, no fallback.
            raise CommandRefused(
                "forbidden", f"no permission to connect to {self.socket_path}"
            ) from None
        except OSError as exc:
            sock.close()
            raise DaemonUnreachable(self.socket_path, unreachable_reason(exc)) from None
        self._sock = sock
        self._buffer = b""
        return sock

    def _answer(self, sock: socket.socket) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_ANSWER:
                self._drop()
                raise ProtocolError(f"an answer over {MAX_ANSWER} bytes")
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed(sent=True)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buffer = b""


def unreachable_reason(exc: OSError) -> str:
    """Why connecting failed, in words for the log."""
    if isinstance(exc, FileNotFoundError):
        return "no socket (is the daemon running?)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no daemon listening)"
    if isinstance(exc, TimeoutError):
        return "connect timed out"
    return f"{type(exc).__name__}: {exc}"
