"""The daemon under `Type=notify`: what it tells a real NOTIFY_SOCKET while it runs on the
simulator (RELIABILITY.md §4).

READY=1 must mean "protected": the simulator's HARD_SLs are looked at the moment it arrives,
with the stops' endpoint held back a second so a READY sent any earlier would find them
missing. The watchdog pings must stop while a critical actor is stuck: the simulator holds
one request of that actor's for longer than the watchdog timeout.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import parse_config
from tests.exchange.sim.server_harness import Client, running
from tests.integration.harness import ENVIRON, config_text, daemon_running
from tests.integration.ledger_checks import leg_of_id
from tests.integration.notify_socket import NotifyListener, listening

pytestmark = pytest.mark.anyio
POSITIONS = {"BTCUSDT": "40000", "ETHUSDT": "2000"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def hard_sls(sim: SimExchange) -> set[str]:
    """The symbols with a HARD_SL of the exit brain's resting on the simulator."""
    return {
        symbol
        for symbol in POSITIONS
        for o in sim.account.open_algo_orders(symbol)
        if leg_of_id(o.client_order_id) == "HARD_SL"
    }


async def admin(client: Client, path: str, body: Mapping[str, object]) -> None:
    answer = await client.admin("POST", path, body)
    assert answer.status == 200, answer.body


async def open_position(client: Client, symbol: str, price: str) -> None:
    await admin(client, "/sim/price", {"symbol": symbol, "price": price})
    body = {"symbol": symbol, "side": "LONG", "qty": "1", "price": price}
    await admin(client, "/sim/position", body)


def environ_for(notify: NotifyListener, **extra: str) -> dict[str, str]:
    return {**ENVIRON, "NOTIFY_SOCKET": str(notify.path), **extra}


async def test_ready_comes_once_every_open_position_has_its_hard_sl_resting(
    tmp_path: Path,
) -> None:
    async with running() as (sim, client):
        for symbol, price in POSITIONS.items():
            await open_position(client, symbol, price)
        await admin(client, "/sim/faults", {"latency_ms": {"POST /fapi/v1/algoOrder": 1000}})
        async with listening(look=lambda: hard_sls(sim)) as notify:
            environ = environ_for(notify)
            config = parse_config(config_text(sim), "test.toml", environ, base_dir=tmp_path)
            async with daemon_running(config, environ):
                await notify.wait_for(lambda: bool(notify.having("READY")))
                assert sim.account.position("BTCUSDT").amount == 1  # still open, still guarded
            await notify.wait_for(lambda: bool(notify.having("STOPPING")))

    (ready,) = notify.having("READY", "1")
    assert notify.received[ready].seen == set(POSITIONS)
    assert notify.received[ready].get("STATUS") == "protecting 2 positions, mode EXIT_BRAIN_V3"
    before = [n.get("STATUS") for n in notify.received[:ready]]
    assert before[:2] == [
        "starting: reconciling the account",
        "starting: waiting for the stop of BTCUSDT, ETHUSDT",
    ]
    assert all(s is not None and s.startswith("starting: ") for s in before)
    assert not notify.having("WATCHDOG")  # systemd asked for no watchdog
    (stopping,) = notify.having("STOPPING", "1")
    assert stopping == len(notify.received) - 1
    assert notify.received[stopping].get("STATUS") == "stopping: every stop stays on the exchange"


def closing_stops(sim: SimExchange, symbol: str) -> list[str]:
    """Client ids of the stops resting to close a LONG, whoever placed them."""
    return [
        o.client_order_id
        for o in sim.account.open_algo_orders(symbol)
        if o.side.value == "SELL" and o.type.value == "STOP_MARKET"
    ]


async def test_in_legacy_ready_waits_for_the_safety_nets_stop_on_a_naked_position(
    tmp_path: Path,
) -> None:
    """The brain places nothing in LEGACY: a position nobody protects gets the emergency stop
    after the grace (1 s here), and only then is the daemon ready."""
    async with running() as (sim, client):
        await open_position(client, "BTCUSDT", "40000")
        async with listening(look=lambda: closing_stops(sim, "BTCUSDT")) as notify:
            environ = environ_for(notify)
            text = config_text(sim, mode="LEGACY")
            config = parse_config(text, "test.toml", environ, base_dir=tmp_path)
            async with daemon_running(config, environ):
                await notify.wait_for(lambda: bool(notify.having("READY")))
    (ready,) = notify.having("READY", "1")
    stops = notify.received[ready].seen
    assert isinstance(stops, list) and len(stops) == 1
    assert stops[0].startswith("xd.sn.BTCUSDT.SL.")
    assert notify.received[ready].get("STATUS") == "protecting 1 position, mode LEGACY"
    assert "starting: waiting for the stop of BTCUSDT" in notify.statuses()


@pytest.mark.parametrize(
    ("actor", "held"),
    [
        ("gateway", "POST /fapi/v1/algoOrder"),  # the HARD_SL's placement
        ("account", "GET /fapi/v3/positionRisk"),  # the account read a new position starts with
    ],
)
async def test_watchdog_pings_stop_while_a_critical_actor_is_stuck(
    tmp_path: Path, actor: str, held: str
) -> None:
    async with running() as (sim, client), listening() as notify:
        await admin(client, "/sim/price", {"symbol": "BTCUSDT", "price": "40000"})
        # A 1 s watchdog: pings every 0.5 s; one piece of work over 1 s is a hang.
        environ = environ_for(notify, WATCHDOG_USEC="1000000")
        config = parse_config(config_text(sim), "test.toml", environ, base_dir=tmp_path)
        async with daemon_running(config, environ) as daemon:

            def pings_after(index: int) -> list[int]:
                return [i for i in notify.having("WATCHDOG", "1") if i > index]

            await notify.wait_for(lambda: bool(notify.having("READY")))
            (ready,) = notify.having("READY")
            # Idle but healthy: it pings (and the account's last read is over a second old).
            await notify.wait_for(lambda: len(pings_after(ready)) >= 4)

            await admin(client, "/sim/faults", {"latency_ms": {held: 4000}})
            await open_position(client, "BTCUSDT", "40000")

            def stuck_at() -> int | None:
                return notify.first("STATUS", lambda s: f"{actor} stuck for" in s)

            await notify.wait_for(lambda: stuck_at() is not None)
            stuck = stuck_at()
            assert stuck is not None
            assert (notify.received[stuck].get("STATUS") or "").startswith("no progress (")

            def recovered_at() -> int | None:
                return notify.first("STATUS", lambda s: not s.startswith("no progress"), stuck)

            await notify.wait_for(lambda: recovered_at() is not None)
            recovered = recovered_at()
            assert recovered is not None
            assert [i for i in pings_after(stuck) if i < recovered] == []
            await notify.wait_for(lambda: bool(pings_after(recovered)))
            await notify.wait_for(lambda: hard_sls(sim) == {"BTCUSDT"})
            assert daemon.gateway.liveness.stuck_s() < 1
