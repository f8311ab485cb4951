"""What control commands act on: the running daemon's actors and its current settings.

The desk holds the config in force (a reload replaces it whole), the access policy built
from it, and the routes symbol actors plan with. Commands read the actors through their
published values and small read-only accessors, and write through their mailboxes only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from exitd.actors.routes import LiveRoutes
from exitd.actors.symbol import SymbolActor
from exitd.control.access import AccessPolicy, build_policy
from exitd.control.protocol import Code, CommandError
from exitd.ops.config import Config

if TYPE_CHECKING:
    from exitd.daemon import Daemon

_SEE_S = 5.0


@dataclass(eq=False)
class Desk:
    daemon: Daemon
    routes: LiveRoutes
    environ: Mapping[str, str]
    config_path: Path
    started_at: float = field(default_factory=time.monotonic)
    policy: AccessPolicy = field(init=False)
    # Set once SIGHUP is handled: before that the signal's default would end the process.
    hangup_ready: anyio.Event = field(default_factory=anyio.Event)

    def __post_init__(self) -> None:
        self.policy = build_policy(self.daemon.config.control)

    @property
    def config(self) -> Config:
        return self.daemon.config

    def actor(self, symbol: str) -> SymbolActor:
        """The symbol's running actor, or NOT_FOUND."""
        actor = self.daemon.account.actors.get(symbol)
        if actor is None or f"symbol:{symbol}" not in self.daemon.supervisor:
            raise CommandError(Code.NOT_FOUND, f"{symbol}: no position or plan exitd manages")
        return actor

    async def until(self, seen: Callable[[], bool], what: str) -> None:
        """Wait on the daemon's activity until `seen()` holds, so an answer reports what
        happened, not what was asked; TIMEOUT after a few seconds."""
        with anyio.move_on_after(_SEE_S):
            while not seen():
                await self.daemon.activity.wait()
            return
        raise CommandError(Code.TIMEOUT, f"{what}: not seen within {_SEE_S:g} s")
