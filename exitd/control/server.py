"""The control socket's shell: bind, accept, read lines, answer, survive every client.

A unix socket (mode 0660, its folder made if missing) at `daemon.socket_path`. Each line is
one request, answered in order on the same connection. A line over 64 KiB is answered
`line_too_long` and the connection closed (there is no telling where the next line starts); a
client whose next line is not complete within `idle_timeout_s` is closed (half a line and a
stall holds a connection no longer than that); past `max_clients` connections a newcomer is
answered `busy` and closed. A socket it cannot bind is logged and tried again: protecting
positions never waits for the control socket.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import structlog
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from exitd.control.access import Peer, peer_of
from exitd.control.commands import run_command
from exitd.control.desk import Desk
from exitd.control.protocol import (
    MAX_LINE,
    Code,
    CommandError,
    failed,
    ok,
    parse_request,
    request_id_of,
)

log = structlog.get_logger("exitd.control")

_RETRY_BIND_S = 5.0
_TURN_AWAY_S = 1.0
_GONE = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    ConnectionError,
    TimeoutError,
)


class ControlServer:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.clients = 0
        self.listening = anyio.Event()

    async def run(self, incarnation: int) -> None:
        path = self.desk.config.daemon.socket_path
        while True:
            listener = await self._bind(path)
            if listener is not None:
                break
            await anyio.sleep(_RETRY_BIND_S)
        try:
            log.info("control.listening", socket=str(path))
            self.listening.set()
            await self._serve(listener)
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
            _unlink_socket(path)

    async def _bind(self, path: Path) -> SocketListener | None:
        try:
            path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            if await _answers(path):
                log.error("control.socket_in_use", socket=str(path), note="another daemon?")
                return None
            listener = await anyio.create_unix_listener(path, mode=0o660)
        except OSError as exc:
            log.error("control.bind_failed", socket=str(path), error=str(exc))
            return None
        self._chown_group(path)
        return listener

    def _chown_group(self, path: Path) -> None:
        policy = self.desk.policy
        groups = policy.read_groups or policy.write_groups
        if groups:
            try:
                os.chown(path, -1, groups[0].gid)
            except OSError as exc:
                log.warning("control.chown_failed", socket=str(path), error=str(exc))

    async def _serve(self, listener: SocketListener) -> None:
        async with anyio.create_task_group() as tasks:
            while True:
                stream = await listener.accept()
                if self.clients >= self.desk.config.control.max_clients:
                    tasks.start_soon(_turn_away, stream)
                    continue
                self.clients += 1
                tasks.start_soon(self._client, stream)

    async def _client(self, stream: SocketStream) -> None:
        idle_s = self.desk.config.control.idle_timeout_s
        try:
            peer = peer_of(stream.extra(SocketAttribute.raw_socket))
            lines = BufferedByteReceiveStream(stream)
            while True:
                with anyio.move_on_after(idle_s) as waited:
                    line = await lines.receive_until(b"\n", MAX_LINE)
                if waited.cancelled_caught:
                    log.info("control.idle_closed", uid=peer.uid, pid=peer.pid)
                    return
                if not line.strip():
                    continue
                answer = await self._answer(line, peer)
                with anyio.fail_after(idle_s):
                    await stream.send(answer)
        except anyio.DelimiterNotFound:
            too_long = CommandError(Code.LINE_TOO_LONG, f"a request line is at most {MAX_LINE} B")
            with anyio.move_on_after(_TURN_AWAY_S):
                await stream.send(failed(None, too_long))
        except (*_GONE, OSError):
            pass
        finally:
            self.clients -= 1
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def _answer(self, line: bytes, peer: Peer) -> bytes:
        try:
            request = parse_request(line)
        except CommandError as bad:
            return failed(request_id_of(line), bad)
        try:
            result = await run_command(self.desk, request, peer)
            return ok(request.id, result)
        except CommandError as refused:
            return failed(request.id, refused)
        except TypeError as exc:  # a result the encoder cannot write: a bug, not the caller's
            log.error("control.encode_failed", cmd=request.cmd, error=str(exc))
            return failed(request.id, CommandError(Code.INTERNAL, "the answer could not be sent"))


async def _turn_away(stream: SocketStream) -> None:
    busy = CommandError(Code.BUSY, "too many control connections; try again")
    try:
        with anyio.move_on_after(_TURN_AWAY_S):
            await stream.send(failed(None, busy))
    except (*_GONE, OSError):
        pass
    finally:
        await stream.aclose()


async def _answers(path: Path) -> bool:
    """Whether something already listens at `path` (a stale file from a crash does not)."""
    if not path.exists():
        return False
    try:
        with anyio.fail_after(1):
            stream = await anyio.connect_unix(path)
    except (OSError, TimeoutError):
        return False
    await stream.aclose()
    return True


def _unlink_socket(path: Path) -> None:
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except OSError:
        pass
