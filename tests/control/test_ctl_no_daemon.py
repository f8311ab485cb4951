"""`exitd ctl` with no daemon to talk to: exit code 2 and a message that says what to try."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from exitd.control import ctl


def ran(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    ctl.add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = ctl.run(parser.parse_args(list(argv)), out, err)
    assert out.getvalue() == ""
    return code, err.getvalue().strip()


@pytest.mark.skipif(Path(ctl.DEFAULT_SOCKET).exists(), reason="a daemon's socket is here")
def test_a_bare_ctl_names_the_default_socket_and_the_options_to_reach_another() -> None:
    code, err = ran("status")
    assert code == 2
    assert err == (
        f"exitd ctl: daemon not running at {ctl.DEFAULT_SOCKET}"
        " (or give --config FILE or --socket PATH)"
    )


def test_a_config_that_is_not_toml_points_at_socket(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[daemon\n", encoding="utf-8")
    code, err = ran("--config", str(config), "reload")
    assert code == 2
    assert err.startswith(f"exitd ctl: cannot read the socket's path from {config}: ")
    assert err.endswith("; name it with --socket PATH")


def test_a_config_whose_socket_is_silent_gets_no_hint(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nsocket_path = "run/x.sock"\n', encoding="utf-8")
    code, err = ran("--config", str(config), "status")
    assert code == 2
    assert err == f"exitd ctl: daemon not running at {tmp_path / 'run/x.sock'}"
