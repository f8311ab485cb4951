"""The [control] section: who may use the control socket, and its limits."""

from __future__ import annotations

import pytest

from exitd.ops.config import ConfigError, ControlSettings, parse_config


def control_of(text: str) -> ControlSettings:
    return parse_config(text, "test.toml", {}).control


def test_defaults_when_the_section_is_left_out() -> None:
    assert control_of("") == ControlSettings()


def test_uids_groups_and_limits() -> None:
    control = control_of(
        '[control]\nread_uids = [1001, 1002]\nread_group = "exitd-read"\n'
        "write_uids = [1000]\nwrite_group = 998\nmax_clients = 8\nidle_timeout_s = 0.5\n"
    )
    assert control == ControlSettings((1001, 1002), "exitd-read", (1000,), 998, 8, 0.5)


def test_every_issue_in_one_pass() -> None:
    with pytest.raises(ConfigError) as refused:
        control_of(
            '[control]\nread_uids = [-1]\nwrite_group = true\nread_group = "bad name"\n'
            'max_clients = 0\nidle_timeout_s = "soon"\nwrite_uid = 5\n'
        )
    keys = {issue.key for issue in refused.value.issues}
    assert keys == {
        "control.read_uids[0]",
        "control.write_group",
        "control.read_group",
        "control.max_clients",
        "control.idle_timeout_s",
        "control.write_uid",
    }
