"""config.toml's `[control]`: who may use the control socket, and how it guards itself.

The schema, the frozen value the control socket receives, and the step from one to the other.
Who is a reader or a writer is decided from SO_PEERCRED by `exitd.control.access`; this module
only says whom the operator named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, PlainValidator, StrictInt

from exitd.ops._config_schema import ConfigIssue, _Section, validate

Uid = Annotated[StrictInt, Field(ge=0, le=2**32 - 2)]


def _group(value: object) -> str | int:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", value):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32 - 1:
        return value
    raise ValueError("a group name (letters, digits, _ . -) or a gid")


GroupName = Annotated[str | int, PlainValidator(_group)]


class ControlModel(_Section):
    """Who may use the control socket (SO_PEERCRED), and how it guards itself."""

    read_uids: tuple[Uid, ...] = ()
    read_group: GroupName | None = None
    write_uids: tuple[Uid, ...] = ()
    write_group: GroupName | None = None
    max_clients: Annotated[StrictInt, Field(ge=1, le=4096)] = 64
    idle_timeout_s: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 30.0


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """The control socket's callers: readers run read-only commands, writers every one.
    With no writer named, the daemon's own uid is the writer."""

    read_uids: tuple[int, ...] = ()
    read_group: str | int | None = None
    write_uids: tuple[int, ...] = ()
    write_group: str | int | None = None
    max_clients: int = 64
    idle_timeout_s: float = 30.0


def control_settings(value: object, issues: list[ConfigIssue]) -> ControlSettings | None:
    """`[control]` as settings; its issues go to `issues`."""
    checked = validate(ControlModel, value, "control")
    issues += checked.issues
    model = checked.model
    if model is None:
        return None
    return ControlSettings(
        model.read_uids,
        model.read_group,
        model.write_uids,
        model.write_group,
        model.max_clients,
        model.idle_timeout_s,
    )
