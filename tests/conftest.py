"""Shared test fixtures: where the real Binance data lives (tests/fixtures, in the repository)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Copies of the files the tests read; tests/fixtures/README.md says where each came from.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MARKET = FIXTURES / "market"
PAYLOADS = FIXTURES / "payloads"


@pytest.fixture
def market_dir() -> Path:
    if not MARKET.is_dir():
        pytest.fail(f"the test fixtures are missing: {MARKET}")
    return MARKET


@pytest.fixture(autouse=True, scope="session")
def _replay_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`exitd replay` caches parsed price files (exitd/replay/cache.py): never in ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EXITD_CACHE_DIR", str(tmp_path_factory.mktemp("exitd-cache")))
        yield
