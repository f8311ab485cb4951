"""`exitd ctl status` and `submit` against the real daemon on the simulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

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
