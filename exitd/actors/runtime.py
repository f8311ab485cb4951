"""The actor runtime: bounded mailboxes and a one-for-one supervisor over anyio task groups.

anyio's task groups are one-cancels-all; trading needs one-for-one: a crashing symbol actor is
restarted alone, from the exchange's state, and the others never notice. A child that crashes
more than `intensity` times within `period_s` is a poison loop, and the supervisor escalates
(`CrashLoop`) so the daemon exits non-zero and systemd restarts it with backoff (OTP's rule,
RELIABILITY.md §1.6). Every task belongs to a task group; none floats free.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio
import structlog
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectStreamStatistics

M = TypeVar("M")

log = structlog.get_logger("exitd.actors")


class MessageQueue(Generic[M]):
    """A bounded FIFO read by one actor: both ends of a mailbox, in the shape of anyio's
    memory object streams (`send`, `send_nowait`, `receive`, `receive_nowait`, `statistics`,
    `async for`) but lighter. anyio's stream yields to the loop on every receive, even with
    a message waiting, and builds a receiver record per wait: at 200 symbols ticking 10 times
    a second that was a fifth of the daemon's CPU. Here a receive with a message waiting takes
    it at once, and a wait is one event; still bounded, still awaited, one reader."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._messages: deque[M] = deque()
        self._reader: anyio.Event | None = None  # set by the next message
        self._room: anyio.Event | None = None  # set when a full queue is read from

    def send_nowait(self, message: M) -> None:
        """Queue `message`; `anyio.WouldBlock` when full."""
        if len(self._messages) >= self._size:
            raise anyio.WouldBlock
        self._messages.append(message)
        reader = self._reader
        if reader is not None:
            self._reader = None
            reader.set()

    async def send(self, message: M) -> None:
        """Queue `message`, waiting while the queue is full (back-pressure)."""
        while len(self._messages) >= self._size:
            if self._room is None:
                self._room = anyio.Event()
            await self._room.wait()
        self.send_nowait(message)

    def receive_nowait(self) -> M:
        """The oldest message; `anyio.WouldBlock` when there is none."""
        if not self._messages:
            raise anyio.WouldBlock
        message = self._messages.popleft()
        room = self._room
        if room is not None:
            self._room = None
            room.set()
        return message

    async def receive(self) -> M:
        while not self._messages:
            reader = self._reader = anyio.Event()
            try:
                await reader.wait()
            finally:
                if self._reader is reader:  # cancelled while waiting
                    self._reader = None
        return self.receive_nowait()

    @property
    def reader_waiting(self) -> bool:
        """The reader is parked on the empty queue: the next thing it does is read it."""
        return self._reader is not None

    def __len__(self) -> int:
        return len(self._messages)

    def statistics(self) -> MemoryObjectStreamStatistics:
        """As anyio's: observers (tests, health) ask whether the reader is parked and idle."""
        return MemoryObjectStreamStatistics(
            current_buffer_used=len(self._messages),
            max_buffer_size=self._size,
            open_send_streams=1,
            open_receive_streams=1,
            tasks_waiting_send=0 if self._room is None else 1,
            tasks_waiting_receive=0 if self._reader is None else 1,
        )

    def __aiter__(self) -> MessageQueue[M]:
        return self

    async def __anext__(self) -> M:
        return await self.receive()


@dataclass(eq=False)
class Mailbox(Generic[M]):
    """A bounded queue of one actor's messages: back-pressure is a feature. `send` and
    `receive` are the same queue, named for the side that uses them."""

    send: MessageQueue[M]
    receive: MessageQueue[M]

    @classmethod
    def create(cls, size: int) -> Mailbox[M]:
        queue = MessageQueue[M](size)
        return cls(queue, queue)

    def post(self, message: M) -> bool:
        """Deliver without waiting; False when the mailbox is full."""
        try:
            self.send.send_nowait(message)
        except anyio.WouldBlock:
            return False
        return True

    def drain(self, first: M) -> list[M]:
        """`first` and every message already waiting: one moment's events, handled together."""
        batch = [first]
        receive = self.receive
        while receive:
            batch.append(receive.receive_nowait())
        return batch


class Pulse:
    """Wakes whoever waits for "something happened": observers (tests, the health check)
    wait on it instead of polling an actor's state. Actors notify on every message, so a
    notify with nobody waiting costs nothing (no event is made until someone waits)."""

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


class StreamEnded(RuntimeError):
    """A stream that should run forever stopped: a crash, for the supervisor to restart."""


class CrashLoop(RuntimeError):
    """A child crashed too often: the daemon must exit and let systemd restart it."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    intensity: int = 3
    period_s: float = 5.0


def restart_allowed(crashes: deque[float], now: float, policy: RestartPolicy) -> bool:
    """Record a crash at `now`; whether the child may start again (pure but for `crashes`)."""
    crashes.append(now)
    while crashes and crashes[0] < now - policy.period_s:
        crashes.popleft()
    return len(crashes) <= policy.intensity


@dataclass(eq=False)
class _Child:
    name: str
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    stopped: anyio.Event = field(default_factory=anyio.Event)


class Supervisor:
    """Runs children one-for-one inside its own task group; `stop(name)` ends one cleanly."""

    def __init__(self, tasks: TaskGroup, policy: RestartPolicy | None = None) -> None:
        self._tasks = tasks
        self._policy = policy or RestartPolicy()
        self._children: dict[str, _Child] = {}
        self.restarts: dict[str, int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._children

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._children)

    def start(self, name: str, run: Callable[[int], Awaitable[None]]) -> None:
        """Supervise `run(incarnation)`; incarnation 0 is the first start, then 1, 2, …"""
        if name in self._children:
            raise ValueError(f"actor {name} is already running")
        child = _Child(name)
        self._children[name] = child
        self._tasks.start_soon(self._supervise, child, run, name=f"actor:{name}")

    async def stop(self, name: str) -> None:
        child = self._children.get(name)
        if child is None:
            return
        child.scope.cancel()
        await child.stopped.wait()

    async def _supervise(self, child: _Child, run: Callable[[int], Awaitable[None]]) -> None:
        crashes: deque[float] = deque()
        incarnation = 0
        try:
            with child.scope:
                while True:
                    try:
                        await run(incarnation)
                        return  # a clean return is a clean stop
                    except Exception as exc:
                        now = anyio.current_time()
                        log.error(
                            "actor.crashed",
                            actor=child.name,
                            incarnation=incarnation,
                            error=f"{type(exc).__name__}: {exc}",
                            exc_info=True,
                        )
                        if not restart_allowed(crashes, now, self._policy):
                            raise CrashLoop(
                                f"actor {child.name} crashed {len(crashes)} times within "
                                f"{self._policy.period_s:g} s"
                            ) from exc
                    incarnation += 1
                    self.restarts[child.name] = incarnation
                    log.warning("actor.restarted", actor=child.name, incarnation=incarnation)
                    await anyio.sleep(_backoff_s(len(crashes)))
        finally:
            del self._children[child.name]
            child.stopped.set()


def _backoff_s(crashes: int) -> float:
    """A short, growing pause so a crash loop does not burn API weight while it is counted."""
    return min(0.05 * math.pow(2, crashes - 1), 1.0)
