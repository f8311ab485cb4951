"""Shared test fixtures: where the real Binance data lives."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
MARKET = FIXTURES / "market"
PAYLOADS = FIXTURES / "payloads"


@pytest.fixture
def market_dir() -> Path:
    if not MARKET.is_dir():
        pytest.fail(f"the shared fixtures are missing: {MARKET}")
    return MARKET
