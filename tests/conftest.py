"""Shared test fixtures: where the real Binance data lives (tests/fixtures, in the repository)."""

from __future__ import annotations

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
