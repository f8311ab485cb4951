"""Fixtures of the third-party client tests: a fresh simulator per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sim_thread import RunningSim


@pytest.fixture
def sim() -> Iterator[RunningSim]:
    """A fresh simulator for one test, stopped when it ends."""
    running = RunningSim()
    running.start()
    try:
        yield running
    finally:
        running.stop()
