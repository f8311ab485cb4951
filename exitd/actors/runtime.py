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
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

M = TypeVar("M")

log = structlog.get_logger("exitd.actors")


@dataclass(eq=False)
class Mailbox(Generic[M]):
    """A bounded queue of one actor's messages: back-pressure is a feature."""

    send: MemoryObjectSendStream[M]
    receive: MemoryObjectReceiveStream[M]

    @classmethod
    def create(cls, size: int) -> Mailbox[M]:
        send, receive = anyio.create_memory_object_stream[M](size)
        return cls(send, receive)

    def post(self, message: M) -> bool:
        """Deliver without waiting; False when the mailbox is full or closed."""
        try:
            self.send.send_nowait(message)
        except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def drain(self, first: M) -> list[M]:
        """`first` and every message already waiting: one moment's events, handled together."""
        batch = [first]
        while True:
            try:
                batch.append(self.receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
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
