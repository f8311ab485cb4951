"""The read commands through both flavours of the client, against the real daemon on the
simulator (EXIT_BRAIN_V3, guard soft, a LONG position protected), compared with what the
simulator and the daemon hold."""

from __future__ import annotations

import threading
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import anyio
import pytest

from exitd.client import AsyncExitGateway, CommandRefused, ExitGateway
from tests.client.client_harness import departed
from tests.control.ctl_harness import listening
from tests.integration.harness import Live, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def protected(live: Live) -> None:
    await listening(live)
    await live.price(SYMBOL, "40000")
    await live.open(SYMBOL, "LONG", "1", "40000")
    await live.settle(SYMBOL)


def check_reads(live: Live, reads: dict[str, Any]) -> None:
    assert reads["status"]["mode"] == "EXIT_BRAIN_V3" and reads["status"]["guard"] == "soft"
    assert reads["status"]["positions"] == 1
    [position] = reads["positions"]
    assert position["symbol"] == SYMBOL and D(position["amount"]) == 1
    assert position["protected"] is True
    assert {o["clientOrderId"] for o in reads["orders"]} == live.resting(SYMBOL)
    assert reads["other_orders"] == []
    legs = {leg["leg"]: leg for leg in reads["plan"]["plan"]["legs"]}
    assert D(legs["HARD_SL"]["price"]) == D("39200")
    assert D(reads["plan"]["lastMark"]["price"]) == 40000
    metrics = live.daemon.gateway.metrics
    counted = {
        (s["labels"]["module"], s["labels"]["kind"], s["labels"]["outcome"]): s["value"]
        for s in reads["metrics"]["exitd_orders"]["samples"]
    }
    assert counted == {(m, k.value, o.value): n for (m, k, o), n in metrics.orders.items()}
    assert sum(counted.values()) == metrics.total_orders > 0
    summary = reads["summary"]
    assert summary["total_orders"] == metrics.total_orders
    assert set(summary["orders_by_module"]) == {"exit_brain_v3"}


def read_all(gateway: ExitGateway) -> dict[str, Any]:
    return {
        "status": gateway.status(),
        "positions": gateway.positions(),
        "orders": gateway.orders(),
        "other_orders": gateway.orders("ETHUSDT"),
        "plan": gateway.plan(SYMBOL),
        "metrics": gateway.metrics(),
        "summary": gateway.summary(),
    }


async def test_every_read_command_through_the_blocking_client(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await protected(live)
        with ExitGateway(str(live.socket_path)) as gateway:
            reads = await anyio.to_thread.run_sync(read_all, gateway)
            with pytest.raises(CommandRefused) as unknown:
                await anyio.to_thread.run_sync(gateway.plan, "NOPEUSDT")
        await departed(live)
        check_reads(live, reads)
        assert unknown.value.code == "not_found"


async def test_every_read_command_through_the_asyncio_client(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await protected(live)
        async with AsyncExitGateway(str(live.socket_path)) as gateway:
            reads = {
                "status": await gateway.status(),
                "positions": await gateway.positions(),
                "orders": await gateway.orders(),
                "other_orders": await gateway.orders("ETHUSDT"),
                "plan": await gateway.plan(SYMBOL),
                "metrics": await gateway.metrics(),
                "summary": await gateway.summary(),
            }
            with pytest.raises(CommandRefused) as unknown:
                await gateway.call("no-such-command")
        await departed(live)
        check_reads(live, reads)
        assert unknown.value.code == "unknown_command"


async def test_threads_share_one_blocking_client(tmp_path: Path) -> None:
    """Many threads at once on one connection: each gets the answer to its own request."""
    async with live_daemon(tmp_path) as live:
        await protected(live)
        gateway = ExitGateway(str(live.socket_path))
        answers: dict[int, Any] = {}
        failures: list[BaseException] = []

        def ask(n: int) -> None:
            try:
                symbol = SYMBOL if n % 2 else "ETHUSDT"
                answers[n] = (symbol, gateway.orders(symbol))
            except BaseException as exc:  # the test reports what a thread met
                failures.append(exc)

        def crowd() -> None:
            threads = [threading.Thread(target=ask, args=(n,)) for n in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        with gateway:
            await anyio.to_thread.run_sync(crowd)
        await departed(live)
        assert failures == []
        assert len(answers) == 16
        for symbol, orders in answers.values():
            assert {o["symbol"] for o in orders} <= {symbol}
            assert bool(orders) is (symbol == SYMBOL)
