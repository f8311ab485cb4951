"""What exitd tells systemd about itself under `Type=notify` (RELIABILITY.md §4).

READY=1 once the account is reconciled and every open position has its stop resting, so
`systemctl start` returning means "protected"; STATUS= lines with the positions and the mode
(and what start-up still waits for); WATCHDOG=1 every half watchdog timeout, but only while
the critical actors make progress; STOPPING=1 on the way out.

A free-running ping would keep a hung daemon "healthy". Progress here means: each critical
actor is running, the gateway's loop answers a probe sent through its mailbox, and no actor has
been on one piece of work (an exchange request, a subscription) for longer than the watchdog
timeout itself, which outlasts every timeout the adapter sets (10 s). An idle actor, waiting
for a message or a stream event, is healthy: a quiet market is no fault.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import structlog

from exitd.actors.messages import InflightQuery
from exitd.exchange.port import OrderRequest
from exitd.ops.systemd_notify import (
    READY,
    STOPPING,
    WATCHDOG,
    Notifier,
    status,
    watchdog_timeout_s,
)

if TYPE_CHECKING:
    from exitd.daemon import Daemon

log = structlog.get_logger("exitd.systemd")

CRITICAL = ("gateway", "account", "price_feed")
# Without a watchdog, how long one piece of work may take before STATUS= calls it stuck, and
# how often the status is looked at.
_LIMIT_S = 30.0
_STATUS_EVERY_S = 5.0
# Start-up waits on the daemon's activity pulse; this only bounds a wake-up it might miss.
_RECHECK_S = 1.0
_NAMES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class ActorHealth:
    name: str
    running: bool
    busy_s: float  # how long its oldest piece of work in progress has taken; 0 when idle
    answering: bool = True


def stuck_actors(actors: Iterable[ActorHealth], limit_s: float) -> list[str]:
    """The actors making no progress, each with why, as STATUS= and the log name them."""
    stuck = []
    for actor in actors:
        if not actor.running:
            stuck.append(f"{actor.name} not running")
        elif not actor.answering:
            stuck.append(f"{actor.name} not answering")
        elif actor.busy_s > limit_s:
            stuck.append(f"{actor.name} stuck for {actor.busy_s:.0f} s")
    return stuck


def status_text(
    *,
    reconciled: bool,
    ready: bool,
    unprotected: Sequence[str],
    positions: int,
    mode: str,
    stuck: Sequence[str],
) -> str:
    """The one line `systemctl status` shows."""
    if not reconciled:
        text = "starting: reconciling the account"
    elif not ready:
        shown = ", ".join(unprotected[:_NAMES_SHOWN])
        more = len(unprotected) - _NAMES_SHOWN
        text = f"starting: waiting for the stop of {shown}"
        if more > 0:
            text += f" and {more} more"
    else:
        text = f"protecting {positions} position{'' if positions == 1 else 's'}, mode {mode}"
    if stuck:
        return f"no progress ({'; '.join(stuck)}): watchdog pings withheld; {text}"
    return text


async def report_to_systemd(daemon: Daemon, environ: Mapping[str, str]) -> None:
    """Run beside the actor tree; does nothing unless systemd gave a NOTIFY_SOCKET."""
    notifier = Notifier.from_environ(environ)
    if notifier is None:
        return
    with notifier:
        report = _Report(daemon, notifier, watchdog_timeout_s(environ, os.getpid()))
        try:
            await report.run()
        finally:
            notifier.send(STOPPING, status("stopping: every stop stays on the exchange"))


class _Report:
    def __init__(self, daemon: Daemon, notifier: Notifier, watchdog_s: float | None) -> None:
        self._daemon = daemon
        self._notifier = notifier
        self._watchdog_s = watchdog_s
        self._limit_s = watchdog_s or _LIMIT_S
        self._every_s = watchdog_s / 2 if watchdog_s else _STATUS_EVERY_S
        self._ready = False
        self._shown = ""
        self._stuck: list[str] = []
        self._asked = self._answered = 0
        self._probe_lost = False

    async def run(self) -> None:
        self._show()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._ready_when_protected)
            await self._watch()

    async def _ready_when_protected(self) -> None:
        account = self._daemon.account
        await account.reconciled.wait()
        while account.unprotected():
            self._show()
            with anyio.move_on_after(_RECHECK_S):
                await self._daemon.activity.wait()
        self._ready = True
        self._shown = self._text()
        self._notifier.send(READY, status(self._shown))
        log.info("systemd.ready", positions=account.open_positions)

    async def _watch(self) -> None:
        while True:
            self._ask_gateway()
            await anyio.sleep(self._every_s)
            stuck = stuck_actors(self.health(), self._limit_s)
            if stuck and not self._stuck:
                log.error("systemd.watchdog_withheld", stuck=stuck)
            elif self._stuck and not stuck:
                log.info("systemd.watchdog_resumed")
            self._stuck = stuck
            self._show()
            if not stuck and self._watchdog_s is not None:
                self._notifier.send(WATCHDOG)

    def health(self) -> list[ActorHealth]:
        daemon = self._daemon
        running = set(daemon.supervisor.names)
        answered = self._answered == self._asked and not self._probe_lost
        busy = {
            "gateway": daemon.gateway.liveness.stuck_s(),
            "account": daemon.account.liveness.stuck_s(),
            "price_feed": daemon.price_feed.liveness.stuck_s(),
        }
        return [
            ActorHealth(name, name in running, busy[name], answered or name != "gateway")
            for name in CRITICAL
        ]

    def _ask_gateway(self) -> None:
        """A query the gateway's loop answers (for no symbol: only the answer counts)."""
        if self._asked != self._answered:
            return  # the last probe still waits in the mailbox
        asked = self._asked + 1

        def answer(_: tuple[OrderRequest, ...]) -> None:
            self._answered = asked

        self._probe_lost = not self._daemon.gateway.mailbox.post(InflightQuery("", answer))
        if not self._probe_lost:
            self._asked = asked

    def _text(self) -> str:
        account = self._daemon.account
        return status_text(
            reconciled=account.reconciled.is_set(),
            ready=self._ready,
            unprotected=account.unprotected() if not self._ready else (),
            positions=account.open_positions,
            mode=self._daemon.gateway.mode.value,
            stuck=self._stuck,
        )

    def _show(self) -> None:
        """A STATUS= line when what it says has changed."""
        text = self._text()
        if text != self._shown:
            self._shown = text
            self._notifier.send(status(text))
