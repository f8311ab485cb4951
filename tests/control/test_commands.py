"""Which role may run which command (pure)."""

from __future__ import annotations

import pytest

from exitd.control.access import Role
from exitd.control.commands import COMMANDS, authorise
from exitd.control.protocol import Code, CommandError

READS = ("status", "positions", "orders", "plan", "metrics", "summary")
WRITES = ("pause", "resume", "set-plan", "flatten", "submit", "reload")


def refused(command: str, args: dict[str, object], role: Role) -> Code | None:
    try:
        authorise(command, args, role)
    except CommandError as error:
        return error.code
    return None


def test_every_command_is_a_read_or_a_write() -> None:
    assert set(COMMANDS) == {*READS, *WRITES, "mode", "guard"}


@pytest.mark.parametrize("command", READS)
def test_readers_and_writers_read(command: str) -> None:
    assert refused(command, {}, Role.READ) is None
    assert refused(command, {}, Role.WRITE) is None
    assert refused(command, {}, Role.NONE) is Code.FORBIDDEN


@pytest.mark.parametrize("command", WRITES)
def test_only_writers_write(command: str) -> None:
    assert refused(command, {}, Role.WRITE) is None
    assert refused(command, {}, Role.READ) is Code.FORBIDDEN


@pytest.mark.parametrize(("command", "value"), [("mode", "LEGACY"), ("guard", "hard")])
def test_mode_and_guard_read_for_readers_and_set_for_writers(command: str, value: str) -> None:
    assert refused(command, {}, Role.READ) is None
    assert refused(command, {command: value}, Role.READ) is Code.FORBIDDEN
    assert refused(command, {command: value}, Role.WRITE) is None


def test_an_unknown_command_is_named_before_any_role() -> None:
    assert refused("rm", {}, Role.NONE) is Code.UNKNOWN_COMMAND
