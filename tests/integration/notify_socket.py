"""systemd's side of sd_notify for tests: a real AF_UNIX datagram socket in a temporary
directory, set as NOTIFY_SOCKET, collecting what the daemon sends as it arrives.

`look`, when given, is called the moment each datagram is read (e.g. the simulator's resting
orders when READY=1 arrives) and its answer kept beside the datagram.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import SocketAttribute

from exitd.actors.runtime import Pulse

WAIT_S = 15.0


@dataclass(frozen=True)
class Notification:
    assignments: tuple[tuple[str, str], ...]
    seen: object

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.assignments if k == name), None)


class NotifyListener:
    def __init__(self, path: Path, look: Callable[[], object] | None) -> None:
        self.path = path
        self.received: list[Notification] = []
        self._look = look
        self._pulse = Pulse()

    def add(self, raw: bytes) -> None:
        lines = raw.decode().split("\n")
        pairs = tuple((k, v) for k, _, v in (line.partition("=") for line in lines if line))
        self.received.append(Notification(pairs, self._look() if self._look else None))
        self._pulse.notify()

    def having(self, name: str, value: str | None = None) -> list[int]:
        """Indices of the datagrams carrying `name` (with `value`, if given)."""
        return [
            i
            for i, n in enumerate(self.received)
            if (found := n.get(name)) is not None and (value is None or found == value)
        ]

    def first(self, name: str, test: Callable[[str], bool], after: int = -1) -> int | None:
        """The index of the first datagram after `after` whose `name` passes `test`."""
        for i, n in enumerate(self.received):
            if i > after and (value := n.get(name)) is not None and test(value):
                return i
        return None

    def statuses(self) -> list[str]:
        return [s for n in self.received if (s := n.get("STATUS")) is not None]

    async def wait_for(self, test: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        with anyio.fail_after(timeout_s):
            while not test():
                await self._pulse.wait()


@asynccontextmanager
async def listening(look: Callable[[], object] | None = None) -> AsyncIterator[NotifyListener]:
    """A bound notify socket (a short path: a unix socket's is at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="exitd-sd-") as directory:
        path = Path(directory) / "notify"
        sock = await anyio.create_unix_datagram_socket(local_path=path)
        assert sock.extra(SocketAttribute.local_address) == str(path)
        listener = NotifyListener(path, look)
        async with sock, anyio.create_task_group() as tasks:

            async def receive() -> None:
                while True:
                    raw, _ = await sock.receive()
                    listener.add(raw)

            tasks.start_soon(receive)
            yield listener
            tasks.cancel_scope.cancel()
