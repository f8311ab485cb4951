"""A reconciliation whose read is older than the user stream's news: the news wins."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest
from structlog.testing import capture_logs

from exitd.exchange.port import OrderView
from tests.integration.harness import WAIT_S, live_daemon
from tests.integration.ledger_checks import leg_of, own_orders

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_position_read_just_before_a_take_profits_fill_does_not_undo_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read of positions (1 BTC) is made, TP1 fills (0.7 left) and its events reach the
    symbol actor, then the read's orders come back. Were the read's position taken as news,
    the actor would see the position grow back to 1, re-adopt it, place TP1 a second time
    and replace TP2."""
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        exchange = live.daemon.exchange
        read_orders = exchange.open_orders
        positions_read, fill_seen = anyio.Event(), anyio.Event()

        async def orders_after_the_fill() -> list[OrderView]:
            positions_read.set()
            await fill_seen.wait()
            return await read_orders()

        monkeypatch.setattr(exchange, "open_orders", orders_after_the_fill)
        actor = live.daemon.account.actors[SYMBOL]
        with capture_logs() as logs:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(live.daemon.account.reconcile)
                with anyio.fail_after(WAIT_S):
                    await positions_read.wait()
                    await live.price(SYMBOL, "40400")  # TP1 fills: 0.7 left
                    while (
                        actor.state is None
                        or actor.state.qty != live.sim.account.position(SYMBOL).amount
                    ):
                        await live.daemon.activity.wait()
                fill_seen.set()
            await live.settle(SYMBOL)
        assert live.sim.account.position(SYMBOL).amount == D("0.7")
        assert live.daemon.account.positions[SYMBOL].amount == D("0.7")
        placed = own_orders(live.sim.account.ledger, SYMBOL)
        take_profits = [
            (leg_of(o), o.price, o.history[-1].status) for o in placed if leg_of(o).startswith("TP")
        ]
        assert sorted(take_profits) == [("TP1", 40400, "FILLED"), ("TP2", 40800, "NEW")]
        assert not [e for e in logs if e["event"] == "plan.readopted"]
