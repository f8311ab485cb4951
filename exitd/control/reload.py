"""`reload` and SIGHUP: read the config file again and apply what can change while running.

Profiles and routes (for positions adopted from now on), mode, guard, the legacy modules and
the control socket's callers apply at once, and no position is dropped: the actors keep
running, plans already adopted keep theirs. An invalid file is refused with every issue and
the config in force stays. Sections a running daemon cannot change (the exchange, the
socket's path, the state folder, logging, the safety net) are named for a restart.
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import replace

import anyio
import structlog

from exitd.actors.gateway import OwnershipRules
from exitd.control.access import build_policy
from exitd.control.desk import Desk
from exitd.control.protocol import Code, CommandError
from exitd.ops.config import Config, ConfigError, load_config, router

log = structlog.get_logger("exitd.control")


def _restart_needed(old: Config, new: Config) -> list[str]:
    changed = []
    if old.exchange != new.exchange:
        changed.append("exchange")
    if old.safety != new.safety:
        changed.append("safety")
    if old.daemon != new.daemon:
        changed.append("daemon")
    control = replace(new.control, read_uids=(), read_group=None, write_uids=(), write_group=None)
    if replace(old.control, read_uids=(), read_group=None, write_uids=(), write_group=None) != (
        control
    ):
        changed.append("control.max_clients/idle_timeout_s")
    return changed


def reload_config(desk: Desk) -> dict[str, object]:
    """Apply the config file anew, or CommandError(INVALID_CONFIG) keeping the old one."""
    path = desk.config_path
    try:
        new = load_config(path, desk.environ)
    except ConfigError as exc:
        lines = exc.lines()
        log.error("config.reload_refused", path=str(path), issues=lines)
        raise CommandError(
            Code.INVALID_CONFIG, f"{path}: refused, the config in force is kept", lines
        ) from None
    daemon = desk.daemon
    old = daemon.config
    exits = new.exits
    daemon.gateway.set_ownership(OwnershipRules(exits.mode, exits.guard, exits.legacy_modules))
    desk.routes.replace(router(new))
    desk.policy = build_policy(new.control)
    daemon.config = new
    restart = _restart_needed(old, new)
    result: dict[str, object] = {
        "config": str(path.absolute()),
        "mode": exits.mode.value,
        "guard": exits.guard.value,
        "legacy_modules": list(exits.legacy_modules),
        "profiles": sorted(new.profiles),
        "routes": dict(sorted(new.symbol_profiles.items())),
        "positions_kept": len(daemon.account.positions),
        "restart_needed_for": restart,
    }
    log.warning(
        "config.reloaded",
        path=str(path),
        mode=exits.mode.value,
        guard=exits.guard.value,
        restart_needed_for=restart,
    )
    return result


async def reload_on_hangup(desk: Desk) -> None:
    """SIGHUP: the same reload as the command; a refused file is logged, nothing stops."""
    with anyio.open_signal_receiver(signal.SIGHUP) as signals:
        desk.hangup_ready.set()
        async for _ in signals:
            log.info("config.reload_requested", signal="SIGHUP")
            # A refused file is logged with every issue; the config in force stays.
            with contextlib.suppress(CommandError):
                reload_config(desk)
            desk.daemon.activity.notify()
