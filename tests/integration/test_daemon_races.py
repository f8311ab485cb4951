"""Races the daemon state machine (test_daemon_stateful.py) found, each as a plain example.

The running example of test_daemon_protects.py: a LONG of 1 BTCUSDT opened at 40000 by
someone else; the default profile puts its HARD_SL at 39200.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest

from tests.integration.harness import live_daemon, on_delayed_request, set_faults

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_position_opened_while_a_reconciliation_reads_gets_its_hard_stop(
    tmp_path: Path,
) -> None:
    """The reconciliation's read, made before the position opened, must not reach the actor
    the stream started for it: told "flat", it would end and leave the position naked until
    the next periodic reconciliation (30 s)."""
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        # The read's positions are taken at once; its open orders come 300 ms later.
        await set_faults(live, {"latency_ms": {"GET /fapi/v1/openOrders": 300}})
        arrived = on_delayed_request(live.sim)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(live.daemon.account.reconcile)
            with anyio.fail_after(5):
                await arrived.wait()  # positions read (none yet); the orders still to come
            await live.open(SYMBOL, "LONG", "1", "40000")  # an entry bot buys meanwhile
        assert (await live.client.admin("DELETE", "/sim/faults")).status == 200
        await live.settle(SYMBOL, timeout_s=3.0)  # the periodic reconciliation is 30 s away
        algo = live.sim.account.open_algo_orders(SYMBOL)
        assert [(o.trigger_price, o.close_position) for o in algo] == [(D("39200.0"), True)]
