"""A websocket client connection on an asyncio Protocol, driven by websockets' sans-I/O
`ClientProtocol`: every text frame is handed to `on_text` synchronously inside
`data_received`, so a frame costs no task wake-up, no timeout and no queue.

The owner sends text and pings and awaits `wait_closed()`: EOF, a lost connection, a close
frame or a protocol error (an oversized frame, bad UTF-8) end the connection. An exception
raised by `on_text` is not left to the event loop: the connection closes and `wait_closed()`
raises it, so the owner crashes as if it had read the frame itself.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidURI
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import SEND_EOF, State
from websockets.uri import parse_uri

from exitd.exchange.binance.tls import tls_context

MAX_SIZE = 4 * 1024 * 1024  # aiohttp's default max_msg_size, which the streams ran on before
CLOSE_TIMEOUT_S = 2.0  # after our close frame, the peer has this long to close TCP
_FINAL_TEXT = 0x81  # FIN, no RSV bits, opcode TEXT
_TWO_BYTE_SIZE = 126  # a size byte of 126: the size follows in two bytes; 127 and up: not ours


class HandshakeFailed(ConnectionError):
    """The server did not upgrade the connection (refused, or answered nonsense)."""


class WsConnection(asyncio.Protocol):
    """One connection; made by `connect()`."""

    def __init__(
        self, protocol: ClientProtocol, on_text: Callable[[str], None], max_size: int = MAX_SIZE
    ) -> None:
        self._protocol = protocol
        self._on_text = on_text
        self._max_size = max_size
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[None] = loop.create_future()
        self._ended = asyncio.Event()
        self._error: BaseException | None = None  # raised by on_text: the owner re-raises it
        self._fragments: list[bytes] | None = None  # a text message arriving in pieces
        self._abort_timer: asyncio.TimerHandle | None = None
        self._stopped = False  # we closed it (or on_text failed): no frame is handed on
        self.received_at = time.monotonic()  # when bytes last came in: the heartbeat's clock
        self.end_reason = ""

    # --- the owner's side -----------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self._protocol.state is State.OPEN and not self._ended.is_set()

    def send_text(self, text: str) -> None:
        """Send a text frame; a connection no longer open drops it (its end is reported by
        `wait_closed()`)."""
        if self.open:
            self._protocol.send_text(text.encode())
            self._flush()

    def ping(self) -> None:
        if self.open:
            self._protocol.send_ping(b"exitd")
            self._flush()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; the TCP connection goes within CLOSE_TIMEOUT_S."""
        self._stopped = True
        if not self.end_reason:
            self.end_reason = reason or "closed by us"
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(code, reason)
            self._flush()
        self._close_transport_soon()

    def abort(self, reason: str) -> None:
        """Drop the connection now (a peer that stopped answering gets no close handshake)."""
        self._stopped = True
        if not self.end_reason:
            self.end_reason = reason
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Until the connection has ended; raises what `on_text` raised, if it did."""
        await self._ended.wait()
        if self._error is not None:
            raise self._error

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self._transport = cast(asyncio.Transport, transport)
        self._protocol.send_request(self._protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.received_at = time.monotonic()
        protocol = self._protocol
        if self._at_frame_boundary():
            taken = self._take_texts(data)
            if taken == len(data) or self._stopped:
                return
            data = data[taken:]
        protocol.receive_data(data)
        self._flush()  # pongs, the echo of a close frame, a close after a protocol error
        for event in protocol.events_received():
            if isinstance(event, Response):
                self._handshake_answered()
            elif isinstance(event, Frame) and not self._stopped:
                self._frame(event)
        if protocol.parser_exc is not None and not self.end_reason:
            self.end_reason = f"{type(protocol.parser_exc).__name__}: {protocol.parser_exc}"
        if protocol.close_rcvd is not None and not self.end_reason:
            self.end_reason = f"close frame {protocol.close_rcvd.code}"
        ended = protocol.close_rcvd is not None or protocol.parser_exc is not None
        if ended or protocol.state is State.CLOSED:
            self._close_transport_soon()  # no need to wait for the peer's TCP close
        elif protocol.handshake_exc is not None and not self._opened.done():
            self._handshake_answered()

    def eof_received(self) -> None:
        self._protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._protocol.receive_eof()  # idempotent
        if self._abort_timer is not None:
            self._abort_timer.cancel()
        if not self.end_reason:
            self.end_reason = f"connection lost: {exc}" if exc else "closed by the server"
        if not self._opened.done():
            self._opened.set_exception(HandshakeFailed(self.end_reason))
            self._opened.exception()  # retrieved: connect() may have stopped waiting
        self._ended.set()

    # --- inside -------------------------------------------------------------------------------

    def _handshake_answered(self) -> None:
        if self._opened.done():
            return
        failure = self._protocol.handshake_exc
        if failure is None:
            self._opened.set_result(None)
        else:
            self._opened.set_exception(HandshakeFailed(str(failure)))
            self._opened.exception()
            self.abort(f"handshake failed: {failure}")

    def _at_frame_boundary(self) -> bool:
        """Open, with no part of a frame or of a fragmented message held by the parser: the
        next byte starts a frame. Read from websockets' reader and fragment count; an
        attribute a later websockets renames reads as "not at a boundary", which only
        sends every frame through its parser."""
        protocol = self._protocol
        return (
            protocol.state is State.OPEN
            and getattr(protocol, "current_size", 0) is None
            and not getattr(protocol.reader, "buffer", True)
        )

    def _take_texts(self, data: bytes) -> int:
        """Hand on the whole, unfragmented text frames at the front of `data` without the
        parser, and return how many bytes they took: a mark price is such a frame, and
        websockets' generator-driven parser was a fifth of the daemon's CPU at 2,000 frames
        a second. Anything else (a control or fragmented frame, a masked one, which a server
        must never send, one over `max_size`, one the read cut short) is left, with all
        that follows it, to the parser, which checks it as it always did."""
        at, end = 0, len(data)
        while end - at >= 2 and data[at] == _FINAL_TEXT:
            size, head = data[at + 1], 2
            if size == _TWO_BYTE_SIZE and end - at >= 4:
                size, head = int.from_bytes(data[at + 2 : at + 4], "big"), 4
            elif size >= _TWO_BYTE_SIZE:
                break  # masked, an 8-byte size, or a size the read cut short
            if size > self._max_size or at + head + size > end:
                break
            self._text(data[at + head : at + head + size])
            at += head + size
            if self._stopped:
                break
        return at

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT and frame.fin:
            self._text(frame.data)
        elif opcode is Opcode.TEXT:
            self._fragments = [bytes(frame.data)]
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), None
                self._text(data)

    def _text(self, data: bytes | bytearray | memoryview) -> None:
        try:
            text = bytes(data).decode()
        except UnicodeDecodeError as e:
            self.close(CloseCode.INVALID_DATA, f"text frame not UTF-8: {e.reason}")
            return
        try:
            self._on_text(text)
        except Exception as e:  # the owner's fault: it re-raises it from wait_closed()
            self._error = e
            self.close(CloseCode.INTERNAL_ERROR, f"{type(e).__name__} while handling a frame")

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for chunk in self._protocol.data_to_send():
            if chunk == SEND_EOF:
                if transport.can_write_eof():
                    transport.write_eof()
            else:
                transport.write(chunk)

    def _close_transport_soon(self) -> None:
        transport = self._transport
        if transport is None or self._abort_timer is not None or transport.is_closing():
            return
        transport.close()  # after the buffered close frame; a dead peer is aborted below
        loop = asyncio.get_running_loop()
        self._abort_timer = loop.call_later(CLOSE_TIMEOUT_S, transport.abort)


async def connect(
    url: str,
    on_text: Callable[[str], None],
    *,
    handshake_timeout_s: float = 10.0,
    max_size: int = MAX_SIZE,
    ssl_context: ssl.SSLContext | None = None,
) -> WsConnection:
    """Open `url` (ws:// or wss://, verified against `ssl_context`, by default the system's
    trust store) and complete the upgrade within `handshake_timeout_s`.

    Raises OSError (HandshakeFailed among them) or TimeoutError; `on_text` may be called
    before this returns, for frames that came with the upgrade's answer."""
    try:
        uri = parse_uri(url)
    except InvalidURI as e:
        raise ValueError(str(e)) from e
    protocol = ClientProtocol(uri, max_size=max_size)
    loop = asyncio.get_running_loop()
    tls = tls_context(uri.secure, ssl_context)
    connection: WsConnection | None = None

    def made() -> WsConnection:
        nonlocal connection
        connection = WsConnection(protocol, on_text, max_size)
        return connection

    try:
        async with asyncio.timeout(handshake_timeout_s):
            await loop.create_connection(
                made, uri.host, uri.port, ssl=tls, server_hostname=uri.host if tls else None
            )
            assert connection is not None
            await connection._opened
    except BaseException:
        if connection is not None:
            connection.abort("handshake not completed")
        raise
    return connection


__all__ = ["MAX_SIZE", "HandshakeFailed", "WsConnection", "connect"]
