"""`exitd ctl status` and `submit` against the real daemon on the simulator."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from subprocess import PIPE

import anyio
import pytest

from exitd.ops.metrics import OrderKind, OrderOutcome
from tests.control.ctl_harness import ctl, listening
from tests.integration.harness import live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_status_as_json_and_as_a_table(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", guard="hard") as live:
        await listening(live)
        ran = await ctl(live, "--json", "status")
        assert ran.code == 0, ran.err
        status = ran.json
        assert status["mode"] == "LEGACY"
        assert status["guard"] == "hard"
        names = {a["name"] for a in status["actors"]}
        assert {"gateway", "price_feed", "account", "control"} <= names
        assert status["exchange"]["reconciled"] is True
        table = await ctl(live, "status")
        assert table.code == 0
        assert "LEGACY" in table.out and "price_feed" in table.out


async def test_submit_in_legacy_places_the_order_and_counts_it(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        ran = await ctl(
            live, "--json", "submit", "--module", "position_monitor", SYMBOL, "sl",
            "side=SELL", "type=STOP_MARKET", "stopPrice=39000", "closePosition=true",
            "newClientOrderId=pm-sl-1",
        )  # fmt: skip
        assert ran.code == 0, ran.err
        placed = ran.json
        assert placed["clientOrderId"] == "pm-sl-1"
        assert Decimal(placed["triggerPrice"]) == Decimal("39000")
        assert placed["conditional"] is True
        algo = {o.client_order_id for o in live.sim.account.open_algo_orders(SYMBOL)}
        assert "pm-sl-1" in algo
        metrics = live.daemon.gateway.metrics
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.ACCEPTED) == 1


async def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`exitd ctl --json status | head -1`: the pipe closes before the answer is written."""

    def closed_early(argv: list[str]) -> tuple[int, str]:
        with subprocess.Popen(
            [sys.executable, "-m", "exitd.cli", *argv], stdout=PIPE, stderr=PIPE
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.close()
            err = process.stderr.read().decode()
            return process.wait(timeout=60), err

    async with live_daemon(tmp_path) as live:
        await listening(live)
        argv = ["ctl", "--socket", str(live.socket_path), "--json", "status"]
        with anyio.fail_after(60):
            code, err = await anyio.to_thread.run_sync(closed_early, argv)
        assert code == 0
        assert err == ""
