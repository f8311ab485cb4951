"""Every read and plan command through `exitd ctl`, as JSON and as a table, against the
real daemon on the simulator (EXIT_BRAIN_V3, guard soft, a LONG position protected)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from exitd.ops.metrics import OrderOutcome
from exitd.ownership import Guard, Mode
from tests.control.ctl_harness import ctl, listening
from tests.integration.harness import Live, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def protected(tmp_path: Path) -> AsyncIterator[Live]:
    """A LONG 1 BTCUSDT at 40000 with its exits resting."""
    async with live_daemon(tmp_path) as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        yield live


def legs(plan: dict[str, object]) -> dict[str, dict[str, object]]:
    inner = plan["plan"]
    assert isinstance(inner, dict)
    return {leg["leg"]: leg for leg in inner["legs"]}


async def test_positions(tmp_path: Path) -> None:
    async with protected(tmp_path) as live:
        ran = await ctl(live, "--json", "positions")
        assert ran.code == 0, ran.err
        [position] = ran.json
        assert position["symbol"] == SYMBOL and position["side"] == "LONG"
        assert D(position["amount"]) == 1 and D(position["entryPrice"]) == 40000
        assert position["protected"] is True and position["paused"] is False
        table = await ctl(live, "positions")
        assert table.code == 0
        assert table.out.splitlines()[0].split()[:3] == ["SYMBOL", "SIDE", "AMOUNT"]
        assert SYMBOL in table.out.splitlines()[1]


async def test_orders_all_and_by_symbol(tmp_path: Path) -> None:
    async with protected(tmp_path) as live:
        ran = await ctl(live, "--json", "orders")
        assert ran.code == 0, ran.err
        shown = {o["clientOrderId"] for o in ran.json}
        assert shown == live.resting(SYMBOL)
        hard = [o for o in ran.json if o["leg"] == "HARD_SL"]
        assert len(hard) == 1 and hard[0]["module"] == "exit_brain_v3"
        assert D(hard[0]["triggerPrice"]) == D("39200")
        other = await ctl(live, "--json", "orders", "ETHUSDT")
        assert other.code == 0 and other.json == []
        table = await ctl(live, "orders", SYMBOL)
        assert table.code == 0
        assert "HARD_SL" in table.out and "TP1" in table.out


async def test_plan_shows_legs_orders_and_the_last_mark_processed(tmp_path: Path) -> None:
    async with protected(tmp_path) as live:
        await live.price(SYMBOL, "40100")
        await live.settle(SYMBOL)
        ran = await ctl(live, "--json", "plan", SYMBOL)
        assert ran.code == 0, ran.err
        plan = ran.json
        assert D(plan["lastMark"]["price"]) == D("40100")
        assert plan["inflight"] == 0 and plan["paused"] is False
        by_leg = legs(plan)
        assert D(str(by_leg["HARD_SL"]["price"])) == D("39200")
        [hard_order] = by_leg["HARD_SL"]["orders"]  # type: ignore[misc]
        assert hard_order["status"] == "live"
        assert by_leg["TP1"]["state"] == "working" and by_leg["BREAKEVEN"]["state"] == "waiting"
        assert {o["clientOrderId"] for o in plan["openOrders"]} == live.resting(SYMBOL)
        table = await ctl(live, "plan", SYMBOL)
        assert table.code == 0
        assert "40100" in table.out and "HARD_SL" in table.out and "BREAKEVEN" in table.out
        unknown = await ctl(live, "plan", "ETHUSDT")
        assert unknown.code == 1 and "not_found" in unknown.err


async def test_metrics_and_summary(tmp_path: Path) -> None:
    async with protected(tmp_path) as live:
        ran = await ctl(live, "--json", "metrics")
        assert ran.code == 0, ran.err
        placed = {
            (sample["labels"]["module"], sample["labels"]["kind"]): sample["value"]
            for sample in ran.json["exitd_orders"]["samples"]
            if sample["labels"]["outcome"] == "accepted"
        }
        assert placed[("exit_brain_v3", "sl")] == 1
        assert placed[("exit_brain_v3", "partial_tp")] == 2
        assert sum(placed.values()) == live.daemon.gateway.metrics.count(
            outcome=OrderOutcome.ACCEPTED
        )
        table = await ctl(live, "metrics")
        assert table.code == 0
        assert "exitd_orders_total" in table.out and "module=exit_brain_v3" in table.out
        summary = await ctl(live, "--json", "summary")
        assert summary.code == 0, summary.err
        assert summary.json["orders_by_module"]["exit_brain_v3"] == {"partial_tp": 2, "sl": 1}
        assert summary.json["total_conflicts"] == 0
        summary_table = await ctl(live, "summary")
        assert summary_table.code == 0
        header = summary_table.out.splitlines()[0].split()
        assert header == ["MODULE", "PARTIAL_TP", "SL"]


async def test_mode_and_guard_get_and_set(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await listening(live)
        got = await ctl(live, "--json", "mode")
        assert got.code == 0 and got.json == {"mode": "EXIT_BRAIN_V3"}
        changed = await ctl(live, "--json", "mode", "LEGACY")
        assert changed.json == {"mode": "LEGACY", "previous": "EXIT_BRAIN_V3"}
        assert live.daemon.gateway.mode is Mode.LEGACY
        table = await ctl(live, "mode", "EXIT_BRAIN_V3")
        assert table.code == 0 and table.out.strip() == "mode: EXIT_BRAIN_V3 (was LEGACY)"
        bad = await ctl(live, "mode", "SHADOW")
        assert bad.code == 1 and "bad_args" in bad.err
        guard = await ctl(live, "guard", "hard")
        assert guard.code == 0 and guard.out.strip() == "guard: hard (was soft)"
        assert live.daemon.gateway.ownership.guard is Guard.HARD
        assert (await ctl(live, "--json", "guard")).json == {"guard": "hard"}


async def test_pause_keeps_the_stops_and_moves_nothing_until_resumed(tmp_path: Path) -> None:
    async with protected(tmp_path) as live:
        before = live.resting(SYMBOL)
        paused = await ctl(live, "--json", "pause", SYMBOL)
        assert paused.code == 0 and paused.json == {"symbol": SYMBOL, "paused": True}
        await live.price(SYMBOL, "40330")  # past the breakeven trigger (0.8 %)
        await live.settle(SYMBOL)
        assert live.resting(SYMBOL) == before  # the hard stop and targets stay, nothing moves
        plan = (await ctl(live, "--json", "plan", SYMBOL)).json
        assert plan["paused"] is True and legs(plan)["BREAKEVEN"]["state"] == "waiting"
        resumed = await ctl(live, "resume", SYMBOL)
        assert resumed.code == 0 and resumed.out.strip() == f"{SYMBOL} resumed"
        await live.price(SYMBOL, "40331")
        await live.settle(SYMBOL)
        plan = (await ctl(live, "--json", "plan", SYMBOL)).json
        assert plan["paused"] is False and legs(plan)["BREAKEVEN"]["state"] == "armed"
        assert live.resting(SYMBOL) > before  # the working stop joined the hard stop


async def test_set_plan_changes_the_trail_and_a_legacy_module_is_logged_as_fallback(
    tmp_path: Path,
) -> None:
    async with protected(tmp_path) as live:
        ran = await ctl(live, "--json", "set-plan", SYMBOL, "trail.callback_pct=0.3")
        assert ran.code == 0, ran.err
        assert D(str(legs(ran.json)["TRAIL"]["callback_pct"])) == D("0.3")
        with capture_logs() as logs:
            table = await ctl(
                live, "set-plan", "--module", "trailing_stop_manager", SYMBOL,
                "trail.callback_pct=0.4",
            )  # fmt: skip
        assert table.code == 0, table.err
        assert "TRAIL" in table.out
        fallbacks = [e for e in logs if e["event"] == "plan.legacy_fallback"]
        assert [e["module"] for e in fallbacks] == ["trailing_stop_manager"]
        state = live.daemon.account.actors[SYMBOL].view.state
        assert state is not None and state.plan.profile.trail is not None
        assert state.plan.profile.trail.callback_pct == D("0.4")
        unknown = await ctl(live, "set-plan", "--module", "nobody", SYMBOL, "trail.callback_pct=1")
        assert unknown.code == 1 and "unknown_module" in unknown.err
        bad = await ctl(live, "set-plan", SYMBOL, "trail.callback_pct=-1")
        assert bad.code == 1 and "bad_args" in bad.err
        field = await ctl(live, "set-plan", SYMBOL, "entry_price=1")
        assert field.code == 1 and "not a field set-plan can change" in field.err


async def test_flatten_closes_the_position_reduce_only_at_market(tmp_path: Path) -> None:
    async with protected(tmp_path) as live:
        ran = await ctl(live, "--json", "flatten", SYMBOL)
        assert ran.code == 0, ran.err
        order = ran.json
        assert order["type"] == "MARKET" and order["side"] == "SELL"
        assert order["reduceOnly"] is True and D(order["quantity"]) == 1
        assert order["module"] == "operator"
        assert live.sim.account.position(SYMBOL).amount == 0
        metrics = await ctl(live, "--json", "metrics")
        flattens = [
            sample["value"]
            for sample in metrics.json["exitd_orders"]["samples"]
            if sample["labels"] == {"module": "operator", "kind": "time", "outcome": "accepted"}
        ]
        assert flattens == [1]  # the operator's own label, not "foreign"
        await live.settle(SYMBOL)
        assert not live.resting(SYMBOL)  # the exit brain cleaned up what was left
        again = await ctl(live, "flatten", SYMBOL)
        assert again.code == 1 and "no open position" in again.err


async def test_usage_errors_and_no_daemon_exit_2(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await listening(live)
        missing = await ctl(live, "plan")  # no symbol
        assert missing.code == 2 and "usage" in missing.err
        bad_pair = await ctl(live, "set-plan", SYMBOL, "trail.callback_pct")
        assert bad_pair.code == 2 and "NAME=VALUE" in bad_pair.err
        assert live.socket_path is not None
        live.socket_path.rename(live.socket_path.with_name("moved.sock"))
        gone = await ctl(live, "status")
        assert gone.code == 2
        assert gone.err.strip() == f"exitd ctl: daemon not running at {live.socket_path}"


async def test_pause_and_flatten_a_short_as_tables(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "SHORT", "0.5", "40000")
        await live.settle(SYMBOL)
        paused = await ctl(live, "pause", SYMBOL)
        assert paused.code == 0 and paused.out.startswith(f"{SYMBOL} paused")
        ran = await ctl(live, "flatten", SYMBOL)
        assert ran.code == 0, ran.err
        header, row = ran.out.splitlines()
        assert header.split()[:5] == ["SYMBOL", "MODULE", "LEG", "TYPE", "SIDE"]
        assert row.split()[:6] == [SYMBOL, "operator", "TIME", "MARKET", "BUY", "0.500"]
        assert live.sim.account.position(SYMBOL).amount == 0
