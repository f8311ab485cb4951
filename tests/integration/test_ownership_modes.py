"""The three stages of DESIGN.md on the real simulator: observe (LEGACY), delegate (soft),
enforce (hard); and the safety net that leaves no position naked in any of them."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from exitd.actors.legacy import submit_order
from exitd.actors.messages import NotSent, NotSentReason
from exitd.engine import OrderSide
from exitd.exchange.port import Accepted, OrderRequest
from exitd.ops.metrics import OrderKind, OrderOutcome
from tests.integration.harness import WAIT_S, Live, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def legacy_stop(client_order_id: str, trigger: str = "39000") -> OrderRequest:
    return OrderRequest(
        SYMBOL,
        client_order_id,
        OrderSide.SELL,
        "STOP_MARKET",
        trigger_price=D(trigger),
        close_position=True,
    )


def ids_on_exchange(live: Live) -> set[str]:
    return {o.client_order_id for o in live.sim.account.ledger.orders if o.symbol == SYMBOL}


async def rest_foreign_take_profit(live: Live) -> None:
    """Someone else's reduce-only LIMIT, placed on the exchange directly."""
    params = {
        "symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "quantity": "0.1",
        "price": "41000", "timeInForce": "GTC", "reduceOnly": "true",
        "newClientOrderId": "someone-elses-tp",
    }  # fmt: skip
    placed = await live.client.call("POST", "/fapi/v1/order", params)
    assert placed.status == 200, placed.body


async def until(live: Live, condition: object) -> None:
    assert callable(condition)
    with anyio.fail_after(WAIT_S):
        while not condition():
            await live.daemon.activity.wait()


async def test_legacy_mode_the_brain_only_logs_and_a_legacy_order_is_placed_and_counted(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        with capture_logs() as logs:
            await live.price(SYMBOL, "40000")
            await live.open(SYMBOL, "LONG", "1", "40000")
            metrics = lambda: live.daemon.gateway.metrics  # noqa: E731
            await until(live, lambda: metrics().count(outcome=OrderOutcome.SHADOW) >= 3)
        shadows = [e for e in logs if e["event"] == "exit_gateway.shadow"]
        assert {e["leg"] for e in shadows} >= {"HARD_SL", "TP1", "TP2"}
        assert all(e["module"] == "exit_brain_v3" for e in shadows)
        assert not any(cid.startswith("xd.eb.") for cid in ids_on_exchange(live))

        answer = await submit_order(
            live.daemon.gateway.mailbox, "position_monitor", OrderKind.SL, legacy_stop("pm-sl-1")
        )
        assert isinstance(answer.outcome, Accepted)
        assert "pm-sl-1" in ids_on_exchange(live)
        counted = live.daemon.gateway.metrics.count(
            module="position_monitor", kind=OrderKind.SL, outcome=OrderOutcome.ACCEPTED
        )
        assert counted == 1
        assert live.daemon.gateway.metrics.total_conflicts == 0


async def test_legacy_mode_a_naked_position_gets_the_emergency_stop_after_the_grace(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=0.5) as live:
        await live.price(SYMBOL, "40000")
        with capture_logs() as logs:
            await live.open(SYMBOL, "LONG", "1", "40000")

            def emergency() -> list[object]:
                return [
                    o
                    for o in live.sim.account.open_algo_orders(SYMBOL)
                    if o.client_order_id.startswith("xd.sn.")
                ]

            await until(live, emergency)
        (stop,) = emergency()
        assert (stop.trigger_price, stop.close_position) == (D("39200.0"), True)
        assert any(e["event"] == "safety.naked_position" for e in logs)


async def test_legacy_mode_a_position_with_a_legacy_stop_is_left_to_its_owner(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=0.3) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        answer = await submit_order(
            live.daemon.gateway.mailbox, "position_monitor", OrderKind.SL, legacy_stop("pm-sl-2")
        )
        assert isinstance(answer.outcome, Accepted)
        for price in ("40010", "40020", "40030"):  # time passes; the actor looks again each tick
            await live.price(SYMBOL, price)
            await until(live, lambda p=price: _processed(live, p))
        with anyio.move_on_after(1.0):  # well past the grace: still nothing from the safety net
            while True:
                await live.daemon.activity.wait()
        assert not any(cid.startswith("xd.sn.") for cid in ids_on_exchange(live))


def _processed(live: Live, price: str) -> bool:
    actor = live.daemon.account.actors.get(SYMBOL)
    return actor is not None and actor.last_mark is not None and actor.last_mark.price == D(price)


async def test_soft_guard_forwards_a_legacy_order_and_counts_the_conflict(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="EXIT_BRAIN_V3", guard="soft") as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        with capture_logs() as logs:
            answer = await submit_order(
                live.daemon.gateway.mailbox,
                "trailing_stop_manager",
                OrderKind.TRAILING,
                OrderRequest(
                    SYMBOL,
                    "ts-1",
                    OrderSide.SELL,
                    "STOP_MARKET",
                    D("0.5"),
                    trigger_price=D("39500"),
                    reduce_only=True,
                ),
            )
        assert isinstance(answer.outcome, Accepted)
        assert "ts-1" in ids_on_exchange(live)
        assert live.daemon.gateway.metrics.conflicts == {"trailing_stop_manager": 1}
        assert any(e["event"] == "exit_guard.ownership_conflict" for e in logs)


async def test_hard_guard_refuses_a_legacy_order_before_the_exchange(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="EXIT_BRAIN_V3", guard="hard") as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        answer = await submit_order(
            live.daemon.gateway.mailbox, "hybrid_tpsl", OrderKind.SL, legacy_stop("ht-1")
        )
        assert isinstance(answer.outcome, NotSent)
        assert answer.outcome.reason is NotSentReason.REFUSED
        assert "guard hard" in answer.outcome.message
        assert "ht-1" not in ids_on_exchange(live)
        assert (
            live.daemon.gateway.metrics.count(module="hybrid_tpsl", outcome=OrderOutcome.REFUSED)
            == 1
        )
        assert live.daemon.gateway.metrics.conflicts == {"hybrid_tpsl": 1}


async def test_a_legacy_order_sent_again_is_one_conflict(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="EXIT_BRAIN_V3", guard="hard") as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        for _ in range(3):  # a module retrying the same order
            answer = await submit_order(
                live.daemon.gateway.mailbox, "hybrid_tpsl", OrderKind.SL, legacy_stop("ht-1")
            )
            assert isinstance(answer.outcome, NotSent)
        await submit_order(
            live.daemon.gateway.mailbox, "hybrid_tpsl", OrderKind.SL, legacy_stop("ht-2")
        )
        metrics = live.daemon.gateway.metrics
        assert metrics.count(module="hybrid_tpsl", outcome=OrderOutcome.REFUSED) == 4
        assert metrics.conflicts == {"hybrid_tpsl": 2}


async def test_a_foreign_exit_order_on_an_owned_symbol_is_a_counted_conflict(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, mode="EXIT_BRAIN_V3", guard="hard") as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        await rest_foreign_take_profit(live)
        with capture_logs() as logs:
            await live.daemon.account.reconcile()
            await until(live, lambda: live.daemon.gateway.metrics.total_conflicts == 1)
        assert live.daemon.gateway.metrics.conflicts == {"foreign": 1}
        (event,) = [e for e in logs if e["event"] == "exit_guard.ownership_conflict"]
        assert event["client_order_id"] == "someone-elses-tp"
        await live.daemon.account.reconcile()  # seen again: counted once
        await live.settle(SYMBOL)
        assert live.daemon.gateway.metrics.conflicts == {"foreign": 1}


async def test_a_foreign_exit_order_still_resting_for_the_next_position_is_counted_once(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, mode="EXIT_BRAIN_V3", guard="soft") as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        await rest_foreign_take_profit(live)
        await live.daemon.account.reconcile()
        await until(live, lambda: live.daemon.gateway.metrics.total_conflicts == 1)
        first = live.daemon.account.actors[SYMBOL]
        await live.price(SYMBOL, "38000")  # through the hard stop: flat
        await live.settle(SYMBOL)
        assert live.sim.account.position(SYMBOL).amount == 0
        assert "someone-elses-tp" in {
            o.client_order_id for o in live.sim.account.open_orders(SYMBOL)
        }
        with capture_logs() as logs:
            await live.open(SYMBOL, "LONG", "1", "38000")  # the next position: a new actor
            await live.settle(SYMBOL)
            await live.daemon.account.reconcile()
            await until(
                live, lambda: any(e["event"] == "exit_guard.ownership_conflict" for e in logs)
            )
            await live.settle(SYMBOL)
        gateway = live.daemon.gateway.mailbox.receive
        await until(live, lambda: not gateway.statistics().current_buffer_used)  # sighting read
        assert live.daemon.account.actors[SYMBOL] is not first
        seen = [e for e in logs if e["event"] == "exit_guard.ownership_conflict"]
        assert [e["client_order_id"] for e in seen] == ["someone-elses-tp"]  # seen anew
        assert live.daemon.gateway.metrics.conflicts == {"foreign": 1}  # one order, counted once
