"""`exitd ctl submit` in the three stages of DESIGN.md, checked on the simulator's ledger:
LEGACY places and counts; EXIT_BRAIN_V3 soft places and counts a conflict; hard refuses
before the exchange. Unknown modules never reach the gateway's metrics labels."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from exitd.ops.metrics import OrderKind, OrderOutcome
from tests.control.ctl_harness import Ran, ctl, listening
from tests.integration.harness import Live, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def on_ledger(live: Live) -> set[str]:
    return {o.client_order_id for o in live.sim.account.ledger.orders if o.symbol == SYMBOL}


CLOSE_ALL = ("closePosition=true",)
REDUCE = ("quantity=0.2", "reduceOnly=true")


async def submit_stop(
    live: Live,
    cid: str,
    *flags: str,
    module: str = "position_monitor",
    size: tuple[str, ...] = CLOSE_ALL,
) -> Ran:
    return await ctl(
        live, *flags, "submit", "--module", module, SYMBOL, "sl", "side=SELL",
        "type=STOP_MARKET", "stopPrice=39000", *size, f"newClientOrderId={cid}",
    )  # fmt: skip


async def opened(live: Live) -> None:
    await listening(live)
    await live.price(SYMBOL, "40000")
    await live.open(SYMBOL, "LONG", "1", "40000")


async def test_legacy_stage_places_and_counts_as_a_table(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await opened(live)
        ran = await submit_stop(live, "pm-sl-legacy")
        assert ran.code == 0, ran.err
        assert ran.out.splitlines()[0].split()[:3] == ["SYMBOL", "MODULE", "LEG"]
        assert "pm-sl-legacy" in ran.out and "position_monitor" in ran.out
        assert "pm-sl-legacy" in on_ledger(live)
        metrics = live.daemon.gateway.metrics
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.ACCEPTED) == 1
        assert metrics.total_conflicts == 0


async def test_soft_stage_places_and_counts_a_conflict(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, guard="soft") as live:
        await opened(live)
        await live.settle(SYMBOL)
        # The exit brain's close-position HARD_SL rests: Binance takes no second one (-4130).
        twice = await submit_stop(live, "pm-sl-twice")
        assert twice.code == 1 and "rejected" in twice.err and "close_position_exists" in twice.err
        ran = await submit_stop(live, "pm-sl-soft", "--json", size=REDUCE)
        assert ran.code == 0, ran.err
        assert ran.json["clientOrderId"] == "pm-sl-soft"
        assert "pm-sl-soft" in on_ledger(live)
        metrics = live.daemon.gateway.metrics
        assert metrics.conflicts.get("position_monitor") == 2
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.ACCEPTED) == 1
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.REJECTED) == 1
        # Reconciliation finds the legacy stop resting: counted at submit, not again.
        with capture_logs() as logs:
            await live.daemon.account.reconcile()
            with anyio.fail_after(5):
                while not any(e.get("client_order_id") == "pm-sl-soft" for e in logs):
                    await live.daemon.activity.wait()
        assert (await ctl(live, "plan", SYMBOL)).code == 0  # through the gateway's mailbox
        assert dict(live.daemon.gateway.metrics.conflicts) == {"position_monitor": 2}


async def test_hard_stage_refuses_and_nothing_reaches_the_exchange(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, guard="hard") as live:
        await opened(live)
        await live.settle(SYMBOL)
        ran = await submit_stop(live, "pm-sl-hard", size=REDUCE)
        assert ran.code == 1
        assert "refused" in ran.err and "guard hard" in ran.err
        assert "pm-sl-hard" not in on_ledger(live)
        metrics = live.daemon.gateway.metrics
        assert metrics.count("position_monitor", OrderKind.SL, OrderOutcome.REFUSED) == 1
        assert metrics.conflicts.get("position_monitor") == 1


async def test_unknown_modules_and_bad_orders_never_reach_the_gateway(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await opened(live)
        for module in ("rogue_bot", "exit_brain_v3", "safety_net", "operator"):
            ran = await submit_stop(live, "x-1", module=module)
            assert ran.code == 1 and "unknown_module" in ran.err, module
        bad = [
            ("type=STOP_LOSS",),
            ("type=STOP_MARKET", "stopPrice=abc"),
            ("type=STOP_MARKET", "stopPrice=-5"),
            ("type=STOP_MARKET", "stopPrice=39000", "triggerPrice=38000"),
            ("type=STOP_MARKET", "stopPrice=39000", "reduceOnly=maybe"),
            ("type=STOP_MARKET", "stopPrice=39000", "leverage=20"),
        ]
        for params in bad:
            ran = await ctl(
                live, "submit", "--module", "position_monitor", SYMBOL, "sl", "side=SELL", *params
            )
            assert ran.code == 1 and "bad_args" in ran.err, params
        wrong_kind = await ctl(
            live, "submit", "--module", "position_monitor", SYMBOL, "stoploss", "side=SELL"
        )
        assert wrong_kind.code == 1 and "kind" in wrong_kind.err
        modules = set(live.daemon.gateway.metrics.by_module())
        assert modules <= {"exit_brain_v3"}, modules
        assert not any(cid.startswith("x-") for cid in on_ledger(live))


async def test_a_limit_take_profit_goes_to_the_regular_endpoint(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await opened(live)
        ran = await ctl(
            live, "--json", "submit", "--module", "hybrid_tpsl", SYMBOL, "tp", "side=SELL",
            "type=LIMIT", "quantity=0.5", "price=41000", "reduceOnly=true", "timeInForce=GTC",
            "newClientOrderId=ht-tp-1",
        )  # fmt: skip
        assert ran.code == 0, ran.err
        assert ran.json["conditional"] is False and ran.json["type"] == "LIMIT"
        regular = {o.client_order_id for o in live.sim.account.open_orders(SYMBOL)}
        assert "ht-tp-1" in regular
