"""The command table and the dispatch of one request: access, arguments, the handler.

Read-only commands are open to readers and writers; the rest only to writers. `mode` and
`guard` without an argument are reads. A handler's CommandError becomes the error answer;
anything else is logged with its traceback and answered `internal`, and the daemon goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from exitd.control import reads, writes
from exitd.control.access import Peer, Role
from exitd.control.desk import Desk
from exitd.control.protocol import Code, CommandError, Request, check_keys
from exitd.control.reload import reload_config

log = structlog.get_logger("exitd.control")

Handler = Callable[[Desk, Mapping[str, Any]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Command:
    handler: Handler
    args: tuple[str, ...]
    write: bool
    # For get-or-set commands: the argument whose presence makes it a write.
    sets: str | None = None

    def writes(self, args: Mapping[str, Any]) -> bool:
        return self.write or (self.sets is not None and args.get(self.sets) is not None)


async def _reload(desk: Desk, args: Mapping[str, Any]) -> object:
    return reload_config(desk)


COMMANDS: Mapping[str, Command] = {
    "status": Command(reads.status, (), write=False),
    "positions": Command(reads.positions, (), write=False),
    "orders": Command(reads.orders, ("symbol",), write=False),
    "plan": Command(reads.plan, ("symbol",), write=False),
    "metrics": Command(reads.metrics, (), write=False),
    "summary": Command(reads.summary, (), write=False),
    "mode": Command(writes.mode, ("mode",), write=False, sets="mode"),
    "guard": Command(writes.guard, ("guard",), write=False, sets="guard"),
    "pause": Command(writes.pause, ("symbol",), write=True),
    "resume": Command(writes.resume, ("symbol",), write=True),
    "set-plan": Command(writes.set_plan, ("symbol", "overrides", "module"), write=True),
    "flatten": Command(writes.flatten, ("symbol",), write=True),
    "submit": Command(writes.submit, ("module", "symbol", "kind", "order"), write=True),
    "reload": Command(_reload, (), write=True),
}


def authorise(command: str, args: Mapping[str, Any], role: Role) -> None:
    """CommandError(UNKNOWN_COMMAND / FORBIDDEN) unless `role` may run it. Pure."""
    found = COMMANDS.get(command)
    if found is None:
        raise CommandError(
            Code.UNKNOWN_COMMAND, f"unknown command {command!r}: one of {', '.join(COMMANDS)}"
        )
    if role is Role.NONE:
        raise CommandError(Code.FORBIDDEN, "this uid may not use the control socket")
    if found.writes(args) and role is not Role.WRITE:
        raise CommandError(Code.FORBIDDEN, f"{command}: a write; this uid may only read")


async def run_command(desk: Desk, request: Request, peer: Peer) -> object:
    """The result of `request` from `peer`, or CommandError."""
    try:
        authorise(request.cmd, request.args, desk.policy.role(peer))
    except CommandError as refused:
        if refused.code is Code.FORBIDDEN:
            log.warning(
                "control.refused", cmd=request.cmd, uid=peer.uid, gid=peer.gid, pid=peer.pid
            )
        raise
    command = COMMANDS[request.cmd]
    check_keys(request.args, command.args)
    if command.writes(request.args):
        log.info("control.write", cmd=request.cmd, uid=peer.uid, pid=peer.pid)
    try:
        return await command.handler(desk, request.args)
    except CommandError:
        raise
    except Exception as exc:
        log.error("control.failed", cmd=request.cmd, error=repr(exc), exc_info=True)
        raise CommandError(Code.INTERNAL, f"{request.cmd} failed: {type(exc).__name__}") from exc
