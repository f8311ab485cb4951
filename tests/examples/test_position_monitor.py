"""examples/position_monitor.py, a legacy module in its own process, in the three stages of
DESIGN.md against the real daemon on the simulator; and with no daemon, by its fallback.
Checked on the simulator's ledger and the daemon's counters."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import anyio
import pytest

from exitd.ops.metrics import OrderKind, OrderOutcome
from tests.client.client_harness import departed
from tests.control.ctl_harness import listening
from tests.exchange.sim.server_harness import running
from tests.integration.harness import ENVIRON, Live, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def monitor(socket_path: Path, rest_url: str) -> dict[str, Any]:
    """One look of the position monitor; its JSON report."""
    argv = [sys.executable, str(EXAMPLES / "position_monitor.py"), "--socket", str(socket_path)]
    argv += ["--rest-url", rest_url, "--symbol", SYMBOL, "--once", "--json", "--timeout", "20"]
    with anyio.fail_after(60):
        done = await anyio.run_process(argv, env={**os.environ, **ENVIRON}, check=False)
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return report


def legacy_orders(live_sim: Any) -> dict[str, Any]:
    """The monitor's orders on the simulator (accepted ones), by client id."""
    return {
        o.client_order_id: o
        for o in live_sim.account.ledger.orders
        if o.symbol == SYMBOL and o.refusal is None and o.client_order_id.startswith("eg-")
    }


async def opened(live: Live, *, settle: bool) -> None:
    await listening(live)
    await live.price(SYMBOL, "40000")
    await live.open(SYMBOL, "LONG", "1", "40000")
    if settle:
        await live.settle(SYMBOL)


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {line["kind"]: line["outcome"] for line in report["exits"]}


async def test_observe_its_orders_are_placed_and_counted_under_its_module(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await opened(live, settle=False)
        report = await monitor(live.socket_path, live.sim.rest_url)
        await departed(live)
        assert outcomes(report) == {"sl": "placed", "tp": "placed"}
        assert {line["via"] for line in report["exits"]} == {"gateway"}
        placed = legacy_orders(live.sim)
        assert {line["clientOrderId"] for line in report["exits"]} == set(placed)
        prices = sorted(o.trigger_price for o in placed.values())
        assert prices == [D("39400"), D("41200")]
        metrics = live.daemon.gateway.metrics
        for kind in (OrderKind.SL, OrderKind.TP):
            assert metrics.count("position_monitor", kind, OrderOutcome.ACCEPTED) == 1
        assert metrics.total_conflicts == 0 and live.resting(SYMBOL) == set()
        assert report["read_only"] is False


async def test_delegate_its_orders_are_placed_as_conflicts_while_the_brain_protects(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, guard="soft") as live:
        await opened(live, settle=True)
        brain = live.resting(SYMBOL)
        report = await monitor(live.socket_path, live.sim.rest_url)
        await departed(live)
        assert outcomes(report) == {"sl": "placed", "tp": "placed"}
        assert len(legacy_orders(live.sim)) == 2
        metrics = live.daemon.gateway.metrics
        assert metrics.conflicts.get("position_monitor") == 2
        assert brain and brain <= live.resting(SYMBOL)


async def test_enforce_its_orders_are_refused_and_it_watches_the_brain(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, guard="hard") as live:
        await opened(live, settle=True)
        report = await monitor(live.socket_path, live.sim.rest_url)
        await departed(live)
        assert outcomes(report) == {"sl": "refused", "tp": "refused"}
        assert all("guard hard" in line["message"] for line in report["exits"])
        assert legacy_orders(live.sim) == {}
        assert report["read_only"] is True
        assert D(report["brain"]["legs"]["HARD_SL"]) == D("39200")
        assert report["brain"]["orders"] == len(live.resting(SYMBOL))
        metrics = live.daemon.gateway.metrics
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.REFUSED) == 1
        assert metrics.conflicts.get("position_monitor") == 2


async def test_no_daemon_its_old_direct_call_places_the_orders() -> None:
    folder = Path(tempfile.mkdtemp(prefix="exitd-"))
    async with running() as (sim, client):
        assert await client.admin("POST", "/sim/price", {"symbol": SYMBOL, "price": "40000"})
        body = {"symbol": SYMBOL, "side": "SHORT", "qty": "2", "price": "40000"}
        assert (await client.admin("POST", "/sim/position", body)).status == 200
        report = await monitor(folder / "control.sock", sim.rest_url)
        assert outcomes(report) == {"sl": "placed", "tp": "placed"}
        assert {line["via"] for line in report["exits"]} == {"fallback"}
        placed = legacy_orders(sim)
        assert {line["clientOrderId"] for line in report["exits"]} == set(placed)
        triggers = sorted((o.trigger_price, o.type, o.side.value) for o in placed.values())
        assert triggers == [
            (D("38800"), "TAKE_PROFIT_MARKET", "BUY"),
            (D("40600"), "STOP_MARKET", "BUY"),
        ]
    folder.rmdir()
