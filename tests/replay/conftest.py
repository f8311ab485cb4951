"""The `exitd replay` tests (test_replay_*.py) each run twice: on the fast path (columns,
skipping quiet ticks) and on the plain reader's tick-by-tick loop (`--exact-loop`); both must
give what the test expects.

Live, the command switches to the fast path whenever the columns are loaded (hybrid.py); here
the "fast" path waits for them at the first tick after the entry, so that every tick after it
is the fast path's, whatever the timing (test_fast_replay.py moves the switch around)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from exitd.replay import command, hybrid
from exitd.replay.columns import PriceColumns

PATHS = ["fast", "exact-loop"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__.rsplit(".", 1)[-1].startswith("test_replay_"):
        metafunc.parametrize("replay_path", PATHS, indirect=True)


@pytest.fixture(autouse=True)
def replay_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(getattr(request, "param", "fast"))
    if path == "fast":
        ready = hybrid.ColumnsLoader.ready

        def ready_now(loader: hybrid.ColumnsLoader) -> PriceColumns | None:
            loader.wait(60)
            return ready(loader)

        monkeypatch.setattr(hybrid, "CHECK_EVERY", 1)
        monkeypatch.setattr(hybrid.ColumnsLoader, "ready", ready_now)
    if path == "exact-loop":
        add: Callable[[argparse.ArgumentParser], None] = command.add_arguments

        def add_exact(parser: argparse.ArgumentParser) -> None:
            add(parser)
            parser.set_defaults(exact_loop=True)

        monkeypatch.setattr(command, "add_arguments", add_exact)
    return path
