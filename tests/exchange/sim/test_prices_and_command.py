"""Price sources and the `exitd sim` command."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from exitd.cli import main
from exitd.exchange.sim.prices import FileReplay, RandomWalk, infer_symbol, on_tick, walk_steps
from exitd.exchange.sim.server import SimExchange
from exitd.exchange.sim.symbols import SYMBOLS

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_walk_is_seeded_and_on_the_tick_grid() -> None:
    symbols = ["BTCUSDT", "XRPUSDT"]
    first = list(islice(walk_steps(symbols, 1), 200))
    assert first == list(islice(walk_steps(symbols, 1), 200))
    assert first != list(islice(walk_steps(symbols, 2), 200))
    for step in first:
        for symbol, price in step.items():
            assert price % Decimal(SYMBOLS[symbol].tick_size) == 0
    btc = [step["BTCUSDT"] for step in first]
    assert len(set(btc)) > 10 and all(Decimal(50000) < p < Decimal(80000) for p in btc)


def test_adding_a_symbol_keeps_the_others_path() -> None:
    alone = [s["BTCUSDT"] for s in islice(walk_steps(["BTCUSDT"], 5), 50)]
    both = [s["BTCUSDT"] for s in islice(walk_steps(["BTCUSDT", "ETHUSDT"], 5), 50)]
    assert alone == both


def test_prices_are_rounded_to_the_tick() -> None:
    assert on_tick("BTCUSDT", Decimal("65000.04")) == Decimal("65000.0")
    assert on_tick("BTCUSDT", Decimal("65000.06")) == Decimal("65000.1")


def test_infer_symbol_from_the_file_name() -> None:
    assert infer_symbol("/x/ethusdt-um-trades.csv", ["BTCUSDT", "ETHUSDT"]) == "ETHUSDT"
    assert infer_symbol("/x/prices.csv", ["BTCUSDT", "ETHUSDT"]) == "BTCUSDT"


class _Hub:
    """Stand-in hub: counts what the exchange publishes (the hub is not under test here)."""

    def __init__(self) -> None:
        self.prices: list[tuple[str, Decimal]] = []
        self.listen_keys: Any = None

    def routes(self) -> list[Any]:
        return []

    def publish_price(self, symbol: str, price: Decimal, time_ms: int) -> None:
        self.prices.append((symbol, price))

    def publish_account(self, events: Any, account: Any, time_ms: int) -> None:
        pass

    async def drop_all(self) -> None:
        pass

    def refuse_connections_until(self, time_ms: int) -> None:
        pass

    def expire_listen_keys(self) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.mark.anyio
async def test_file_replay_pushes_every_tick_as_fast_as_possible(market_dir: Path) -> None:
    path = market_dir / "ethusdt-um-trades-2024-07-18_19.csv"
    hub = _Hub()
    ex = SimExchange(api_key="k", api_secret="s", symbols=["ETHUSDT"], hub=hub)
    await FileReplay(str(path), "ETHUSDT", speed=0).run(ex)
    assert len(hub.prices) == 13_655
    assert ex.mark_price("ETHUSDT") == hub.prices[-1][1]


@pytest.mark.anyio
async def test_walk_pushes_through_the_exchange() -> None:
    import anyio  # noqa: PLC0415

    hub = _Hub()
    ex = SimExchange(api_key="k", api_secret="s", hub=hub)
    with anyio.move_on_after(0.2):
        await RandomWalk(seed=1, interval_ms=10).run(ex)
    assert {s for s, _ in hub.prices} == {"BTCUSDT", "ETHUSDT"}
    assert ex.mark_price("BTCUSDT") is not None


def test_sim_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--symbols", "NOPEUSDT"]) == 2
    assert "NOPEUSDT" in capsys.readouterr().err
    assert main(["sim", "--prices", "/nonexistent.csv"]) == 2


def _signed_get(base: str, path: str, key: str, secret: str) -> Any:
    query = urlencode({"timestamp": time.time_ns() // 1_000_000})
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = Request(f"{base}{path}?{query}&signature={sig}", headers={"X-MBX-APIKEY": key})
    with urlopen(request, timeout=5) as response:
        return response.status


def test_exitd_sim_serves_until_sigint() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exitd.cli", "sim", "--walk", "1", "--api-key", "abc"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = dict(proc.stdout.readline().rstrip("\n").split(None, 1) for _ in range(2))
        key_line = proc.stdout.readline().split()
        secret_line = proc.stdout.readline().split()
        assert key_line[-1] == "abc" and len(secret_line[-1]) == 64
        assert lines["WEBSOCKET"].startswith("ws://127.0.0.1:")
        assert _signed_get(lines["REST"], "/fapi/v2/balance", "abc", secret_line[-1]) == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
