"""`ExitGateway.submit` and `AsyncExitGateway.submit` in the three stages of DESIGN.md,
against the real daemon on the simulator: checked on the simulator's ledger and the
daemon's counters. The blocking client runs in a worker thread, as a legacy module's thread
would: the daemon shares the test's event loop."""

from __future__ import annotations

from decimal import Decimal as D
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from exitd.client import AsyncExitGateway, CommandRefused, ExitGateway
from exitd.ops.metrics import OrderKind, OrderOutcome
from tests.client.client_harness import departed
from tests.control.ctl_harness import listening
from tests.integration.harness import Live, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
STOP = {
    "side": "SELL",
    "type": "STOP_MARKET",
    "stopPrice": "39000",
    "quantity": "0.5",
    "reduceOnly": "true",
}
TAKE_PROFIT = {
    "side": "SELL",
    "type": "LIMIT",
    "price": D("41500"),
    "quantity": D("0.5"),
    "reduceOnly": True,
    "timeInForce": "GTC",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def on_ledger(live: Live) -> dict[str, Any]:
    return {o.client_order_id: o for o in live.sim.account.ledger.orders if o.symbol == SYMBOL}


async def opened(live: Live, *, settle: bool) -> None:
    await listening(live)
    await live.price(SYMBOL, "40000")
    await live.open(SYMBOL, "LONG", "1", "40000")
    if settle:
        await live.settle(SYMBOL)


async def submit(gateway: ExitGateway, kind: str, order: dict[str, Any]) -> Any:
    return await anyio.to_thread.run_sync(partial(gateway.submit, SYMBOL, kind, **order))


async def test_observe_places_the_legacy_orders_and_counts_them_under_its_module(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await opened(live, settle=False)
        with ExitGateway(str(live.socket_path), "position_monitor") as gateway:
            stop = await submit(gateway, "sl", STOP)
            take = await submit(gateway, "tp", TAKE_PROFIT)
        await departed(live)
        placed = on_ledger(live)
        assert stop["clientOrderId"] in placed and take["clientOrderId"] in placed
        assert stop["module"] == "position_monitor" and stop["conditional"] is True
        assert D(stop["triggerPrice"]) == 39000 and D(take["price"]) == D("41500")
        assert take["conditional"] is False and take["status"] == "NEW"
        metrics = live.daemon.gateway.metrics
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.ACCEPTED) == 1
        assert metrics.count("position_monitor", OrderKind.TP, OrderOutcome.ACCEPTED) == 1
        assert metrics.total_conflicts == 0
        # The exit brain shadows: nothing of its own on the exchange.
        assert live.resting(SYMBOL) == set()


async def test_delegate_places_and_counts_an_ownership_conflict(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, guard="soft") as live:
        await opened(live, settle=True)
        brain = live.resting(SYMBOL)
        assert brain, "the exit brain protects the position"
        with ExitGateway(str(live.socket_path), "position_monitor") as gateway:
            stop = await submit(gateway, "sl", {**STOP, "reduceOnly": True})
        await departed(live)
        assert stop["clientOrderId"] in on_ledger(live)
        metrics = live.daemon.gateway.metrics
        assert metrics.conflicts.get("position_monitor") == 1
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.ACCEPTED) == 1
        assert brain <= live.resting(SYMBOL)


async def test_enforce_refuses_with_the_reason_and_nothing_reaches_the_exchange(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, guard="hard") as live:
        await opened(live, settle=True)
        before = set(on_ledger(live))
        called: list[dict[str, Any]] = []
        gateway = ExitGateway(
            str(live.socket_path), "position_monitor", fallback=lambda **o: called.append(o)
        )
        with gateway, pytest.raises(CommandRefused) as refused:
            await submit(gateway, "sl", {**STOP, "newClientOrderId": "pm-hard-1"})
        await departed(live)
        assert refused.value.code == "refused" and "guard hard" in refused.value.message
        assert refused.value.detail["clientOrderId"] == "pm-hard-1"
        assert called == [], "a refusal never falls back"
        assert set(on_ledger(live)) == before
        metrics = live.daemon.gateway.metrics
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.REFUSED) == 1
        assert metrics.conflicts.get("position_monitor") == 1


async def test_an_exchange_rejection_is_a_refusal_with_the_exchange_code(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, guard="soft") as live:
        await opened(live, settle=True)
        gateway = ExitGateway(str(live.socket_path), "position_monitor")
        # The brain's close-position HARD_SL rests: Binance takes no second one (-4130).
        with gateway, pytest.raises(CommandRefused) as rejected:
            await submit(
                gateway,
                "sl",
                {**STOP, "closePosition": True, "quantity": None, "reduceOnly": None},
            )
        await departed(live)
        assert rejected.value.code == "rejected"
        assert rejected.value.detail["reject"] == "close_position_exists"


@pytest.mark.parametrize(
    ("mode", "guard"), [("LEGACY", "soft"), ("EXIT_BRAIN_V3", "soft"), ("EXIT_BRAIN_V3", "hard")]
)
async def test_async_gateway_in_each_stage(tmp_path: Path, mode: str, guard: str) -> None:
    async with live_daemon(tmp_path, mode=mode, guard=guard, grace_s=30) as live:
        await opened(live, settle=False)
        async with AsyncExitGateway(str(live.socket_path), "hybrid_tpsl") as gateway:
            if guard == "hard":
                with pytest.raises(CommandRefused) as refused:
                    await gateway.submit(SYMBOL, "tp", **TAKE_PROFIT)
                assert refused.value.code == "refused"
                assert refused.value.detail["clientOrderId"] not in on_ledger(live)
                outcome = OrderOutcome.REFUSED
            else:
                take = await gateway.submit(SYMBOL, "tp", **TAKE_PROFIT)
                assert take["clientOrderId"] in on_ledger(live)
                assert take["module"] == "hybrid_tpsl"
                outcome = OrderOutcome.ACCEPTED
        await departed(live)
        metrics = live.daemon.gateway.metrics
        assert metrics.count("hybrid_tpsl", OrderKind.TP, outcome) == 1
        assert metrics.conflicts.get("hybrid_tpsl", 0) == (0 if mode == "LEGACY" else 1)
