"""Every replay test runs twice: on the fast path (columns, skipping quiet ticks) and on the
plain reader's tick-by-tick loop (`--exact-loop`); both must give what the test expects."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from exitd.replay import command


@pytest.fixture(autouse=True, params=["fast", "exact-loop"])
def replay_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "exact-loop":
        add: Callable[[argparse.ArgumentParser], None] = command.add_arguments

        def add_exact(parser: argparse.ArgumentParser) -> None:
            add(parser)
            parser.set_defaults(exact_loop=True)

        monkeypatch.setattr(command, "add_arguments", add_exact)
    return str(request.param)
