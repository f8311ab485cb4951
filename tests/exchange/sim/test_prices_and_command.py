"""Price sources and the `exitd sim` command."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Mapping
from decimal import Decimal
from decimal import Decimal as D
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import anyio
import pytest

from exitd.cli import main
from exitd.exchange.sim.command import _symbols as command_symbols
from exitd.exchange.sim.mark_cadence import MarkCadence
from exitd.exchange.sim.prices import (
    FileReplay,
    RandomWalk,
    infer_symbol,
    mark_schedule,
    on_tick,
    walk_steps,
)
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
        self.trades: list[tuple[str, Decimal]] = []
        self.marks: list[tuple[str, Decimal, tuple[MarkCadence, ...]]] = []
        self.listen_keys: Any = None

    def routes(self) -> list[Any]:
        return []

    def publish_price(self, symbol: str, price: Decimal, time_ms: int) -> None:
        self.prices.append((symbol, price))

    def publish_trade(self, symbol: str, price: Decimal, time_ms: int) -> None:
        self.trades.append((symbol, price))

    def publish_marks(
        self, marks: Mapping[str, Decimal], time_ms: int, cadences: Collection[MarkCadence]
    ) -> None:
        self.marks += [(symbol, mark, tuple(cadences)) for symbol, mark in marks.items()]

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
    await FileReplay(str(path), "ETHUSDT", speed=0, mark_interval_s=3600).run(ex)
    assert len(hub.trades) == 13_655
    assert ex.last_price("ETHUSDT") == hub.trades[-1][1]
    # Trades alone never publish a mark; the first one sets it, the schedule moves it.
    assert hub.marks == [] and hub.prices == []
    assert ex.mark_price("ETHUSDT") == hub.trades[0][1] != hub.trades[-1][1]


@pytest.mark.anyio
async def test_file_replay_of_trades_and_marks_uses_both(tmp_path: Path) -> None:
    trades, marks = tmp_path / "ethusdt-trades.csv", tmp_path / "ethusdt-marks.csv"
    trades.write_text("1721260800000,3400.00\n1721260800001,3401.00\n")
    marks.write_text("1721260800000,3399.50\n1721260800001,3399.80\n")
    hub = _Hub()
    ex = SimExchange(api_key="k", api_secret="s", symbols=["ETHUSDT"], hub=hub)
    await FileReplay(str(trades), "ETHUSDT", speed=0, marks=str(marks)).run(ex)
    assert [p for _, p in hub.trades] == [D("3400.00"), D("3401.00")]
    assert [m for _, m, _ in hub.marks] == [D("3399.50"), D("3399.80")]
    assert (ex.last_price("ETHUSDT"), ex.mark_price("ETHUSDT")) == (D("3401"), D("3399.8"))


@pytest.mark.anyio
async def test_mark_schedule_sends_1s_streams_thrice_as_often_as_3s_ones() -> None:
    hub = _Hub()
    ex = SimExchange(api_key="k", api_secret="s", symbols=["BTCUSDT"], hub=hub)
    ex.push_trade("BTCUSDT", D(65000), ex.clock())
    ex.push_trade("BTCUSDT", D(65010), ex.clock())
    assert ex.mark_price("BTCUSDT") == D(65000)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(mark_schedule, ex, 0.01)
            while len(hub.marks) < 6:
                await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()
    cadences = [c for _, _, c in hub.marks[:6]]
    fast = [MarkCadence.EVERY_1S in c for c in cadences]
    slow = [MarkCadence.EVERY_3S in c for c in cadences]
    assert fast == [True] * 6
    assert slow == [False, False, True, False, False, True]
    assert ex.mark_price("BTCUSDT") == D(65010)  # the mark caught up with the last trade


@pytest.mark.anyio
async def test_walk_pushes_through_the_exchange() -> None:
    hub = _Hub()
    ex = SimExchange(api_key="k", api_secret="s", hub=hub)
    with anyio.move_on_after(0.2):
        await RandomWalk(seed=1, interval_ms=10).run(ex)
    assert {s for s, _ in hub.trades} == {"BTCUSDT", "ETHUSDT"}
    assert ex.mark_price("BTCUSDT") is not None


def test_symbols_all_lists_the_whole_recorded_listing() -> None:
    names = command_symbols("all", 0)
    assert len(names) == 122 and {"BTCUSDT", "ETHUSDT", "BTCUSDT_210924"} <= set(names)
    assert command_symbols("btcusdt, ethusdt", 3) == ["BTCUSDT", "ETHUSDT"]


def test_sim_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--symbols", "NOPEUSDT"]) == 2
    assert "NOPEUSDT" in capsys.readouterr().err
    assert main(["sim", "--prices", "/nonexistent.csv"]) == 2
    assert main(["sim", "--synthetic-symbols", "-1"]) == 2
    assert "--synthetic-symbols" in capsys.readouterr().err
    assert main(["sim", "--walk", "1", "--marks", "/x.csv"]) == 2
    assert "--marks needs --prices" in capsys.readouterr().err


def _signed_get(base: str, path: str, key: str, secret: str) -> Any:
    query = urlencode({"timestamp": time.time_ns() // 1_000_000})
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    request = Request(f"{base}{path}?{query}&signature={sig}", headers={"X-MBX-APIKEY": key})
    with urlopen(request, timeout=5) as response:
        return response.status


def test_exitd_sim_serves_until_sigint() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = ["sim", "--walk", "1", "--api-key", "abc", "--synthetic-symbols", "200"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "exitd.cli", *argv],
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
        with urlopen(f"{lines['REST']}/fapi/v1/exchangeInfo", timeout=5) as response:
            listed = [s["symbol"] for s in json.load(response)["symbols"]]
        assert len(listed) == 202 and listed[-1] == "SYN0200USDT"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
