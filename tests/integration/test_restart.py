"""A daemon stopped mid-plan and started again on the same simulator and state_dir.

A LONG of 1 BTCUSDT at 40000 with targets far away (TP1 42000, TP2 42400), so the stops do
the work: HARD_SL 39200; breakeven arms at 40330 (stop 40040); the trail arms at 40800
(stop 40596) and moves at 41000 (stop 40795). The restarted daemon must re-attach what
rests, place nothing twice, use no client id again, and never loosen the working stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from anyio.abc import Process, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from exitd.actors.runtime import Pulse
from exitd.engine import parse_client_order_id
from exitd.exchange.sim.ledger import Ledger
from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import parse_config
from tests.exchange.sim.server_harness import Client, running
from tests.integration.harness import (
    ENVIRON,
    Live,
    config_text,
    daemon_running,
    on_delayed_request,
)
from tests.integration.ledger_checks import (
    assert_invariants,
    leg_of,
    leg_of_id,
    open_exit_orders,
    own_orders,
)
from tests.integration.notify_socket import listening

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
FAR_TARGETS = """
[profiles.default]
hard_sl_pct = 2.0
take_profits = [{ pct = 5.0, fraction = 0.3 }, { pct = 6.0, fraction = 0.3 }]

[profiles.default.breakeven]
trigger_pct = 0.8
offset_pct = 0.1

[profiles.default.trail]
activation_pct = 1.5
callback_pct = 0.5
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def seq(client_order_id: str) -> int:
    ref = parse_client_order_id(client_order_id)
    assert ref is not None
    return ref.seq


def created(ledger: Ledger) -> list[str]:
    """Client ids of the exit brain's accepted orders, in the order the exchange took them."""
    return [o.client_order_id for o in own_orders(ledger, SYMBOL) if o.refusal is None]


def working_stop(sim: SimExchange) -> D | None:
    (stop,) = [o for o in sim.account.open_algo_orders(SYMBOL) if not o.close_position]
    return stop.trigger_price


@asynccontextmanager
async def daemon_on(sim: SimExchange, client: Client, tmp_path: Path) -> AsyncIterator[Live]:
    """A daemon on `sim` with `tmp_path/state`; leaving cancels it abruptly (a crash)."""
    text = config_text(sim, profiles=FAR_TARGETS)
    config = parse_config(text, "test.toml", ENVIRON, base_dir=tmp_path)
    async with daemon_running(config) as daemon:
        yield Live(sim, client, daemon, tmp_path / "state")


async def run_up(live: Live) -> None:
    """Adoption, breakeven, the trail armed and moved once, then the price falls back (so a
    trail started afresh at the restart's price would sit lower: 40900 × 0.995 = 40695.5)."""
    await live.price(SYMBOL, "40000")
    await live.open(SYMBOL, "LONG", "1", "40000")
    await live.settle(SYMBOL)
    for price in ("40330", "40800", "41000", "40900"):
        await live.price(SYMBOL, price)
        await live.settle(SYMBOL)
    assert working_stop(live.sim) == D("40795.0")


@pytest.mark.parametrize("keep_snapshot", [True, False], ids=["snapshot", "no-snapshot"])
async def test_a_restarted_daemon_re_attaches_its_orders_and_the_trail_goes_on(
    tmp_path: Path, keep_snapshot: bool
) -> None:
    async with running() as (sim, client):
        async with daemon_on(sim, client, tmp_path) as live:
            await run_up(live)
        ledger = sim.account.ledger
        before = created(ledger)
        resting = live.resting(SYMBOL)
        assert {leg_of(o) for o in own_orders(ledger, SYMBOL) if o.client_order_id in resting} == {
            "HARD_SL",
            "TP1",
            "TP2",
            "WORKING_STOP",
        }
        snapshot = tmp_path / "state" / f"{SYMBOL}.json"
        assert snapshot.exists()
        if not keep_snapshot:
            snapshot.unlink()

        async with daemon_on(sim, client, tmp_path) as live:
            await live.settle(SYMBOL)
            assert live.daemon.account.actors[SYMBOL].state is not None  # re-adopted
            # Nothing placed again, nothing missing, nothing looser than the resting stop.
            assert created(ledger) == before
            assert live.resting(SYMBOL) == resting

            await live.price(SYMBOL, "41000")  # the best price again: W = 40795, as resting
            await live.settle(SYMBOL)
            assert created(ledger) == before
            await live.price(SYMBOL, "41200")  # a new best: W = 40994
            await live.settle(SYMBOL)
            assert working_stop(sim) == D("40994.0")
            await live.price(SYMBOL, "40900")  # through it: flat, and nothing left behind
            await live.settle(SYMBOL)
            assert sim.account.position(SYMBOL).amount == 0
            assert open_exit_orders(ledger, SYMBOL) == []

        after = created(ledger)
        new = after[len(before) :]
        assert after[: len(before)] == before
        assert [leg_of_id(cid) for cid in new] == ["WORKING_STOP"]
        assert min(seq(cid) for cid in new) > max(seq(cid) for cid in before)
        assert_invariants(ledger, SYMBOL)


# --- the real `exitd run`, as a process --------------------------------------------------------

Line = dict[str, Any]


class DaemonProcess:
    """`exitd run --config FILE` as systemd would run it; its JSON log lines, as they come."""

    def __init__(self, process: Process, tasks: TaskGroup) -> None:
        self.process = process
        self.lines: list[Line] = []
        self._pulse = Pulse()
        tasks.start_soon(self._read)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        stdout = BufferedByteReceiveStream(self.process.stdout)
        while True:
            try:
                raw = await stdout.receive_until(b"\n", 1 << 20)
            except (anyio.EndOfStream, anyio.IncompleteRead):
                self._pulse.notify()
                return
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(line, dict):
                self.lines.append(line)
                self._pulse.notify()

    def seen(self, event: str, **fields: Any) -> list[Line]:
        return [
            line
            for line in self.lines
            if line.get("event") == event and all(line.get(k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self,
        test: Callable[[], bool],
        timeout_s: float = 10.0,
        poke: Callable[[], Any] | None = None,
    ) -> None:
        """Until `test()` holds, woken by each log line; `poke` is sent again every half
        second meanwhile (a price the process may not have subscribed to yet)."""
        with anyio.fail_after(timeout_s):
            while not test():
                assert self.process.returncode is None, f"exitd exited: {self.lines[-3:]}"
                if poke is not None:
                    await poke()
                with anyio.move_on_after(0.5 if poke is not None else timeout_s):
                    await self._pulse.wait()


@asynccontextmanager
async def exitd_process(
    sim: SimExchange, tmp_path: Path, environ: Mapping[str, str] | None = None
) -> AsyncIterator[DaemonProcess]:
    config = tmp_path / "exitd.toml"
    text = config_text(sim, profiles=FAR_TARGETS).replace(
        'log_level = "warning"', 'log_level = "info"'
    )
    config.write_text(text)
    env = {**os.environ, **ENVIRON, **(environ or {})}
    command = [sys.executable, "-m", "exitd.cli", "run", "--config", str(config)]
    with (tmp_path / "stderr.txt").open("ab") as stderr:
        async with anyio.create_task_group() as tasks:
            process = await anyio.open_process(
                command, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
            try:
                yield DaemonProcess(process, tasks)
            finally:
                if process.returncode is None:
                    process.kill()
                with anyio.fail_after(10):
                    await process.wait()
                await process.aclose()


async def test_after_sigkill_the_restarted_process_re_attaches_and_places_nothing_twice(
    tmp_path: Path,
) -> None:
    async with running() as (sim, client):
        live_price = _pricer(client)
        await live_price("40000")
        async with exitd_process(sim, tmp_path) as first:
            await first.wait_for(lambda: bool(first.seen("daemon.started")))
            body = {"symbol": SYMBOL, "side": "LONG", "qty": "1", "price": "40000"}
            assert (await client.admin("POST", "/sim/position", body)).status == 200
            await first.wait_for(lambda: len(first.seen("exit_gateway.placed")) == 3)
            assert {line["leg"] for line in first.seen("exit_gateway.placed")} == {
                "HARD_SL", "TP1", "TP2"
            }  # fmt: skip
            # Breakeven, then the trail: its stop replaces breakeven's (placed, then cancelled).
            await first.wait_for(
                lambda: bool(first.seen("exit_gateway.placed", leg="WORKING_STOP")),
                poke=lambda: live_price("40330"),
            )
            await live_price("40800")
            await first.wait_for(lambda: bool(first.seen("exit_gateway.cancelled")))
            assert working_stop(sim) == D("40596.0")
            first.process.send_signal(signal.SIGKILL)
            with anyio.fail_after(5):
                assert await first.process.wait() == -signal.SIGKILL

        ledger = sim.account.ledger
        before = created(ledger)
        resting = _resting(sim)
        async with exitd_process(sim, tmp_path) as second:
            await second.wait_for(lambda: bool(second.seen("plan.adopted")))
            (adopted,) = second.seen("plan.adopted")
            assert adopted["reattached"] == 4
            await second.wait_for(
                lambda: bool(second.seen("exit_gateway.cancelled")),
                poke=lambda: live_price("41000"),
            )
            assert working_stop(sim) == D("40795.0")
            second.process.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                assert await second.process.wait() == 0

        after = created(ledger)
        new = after[len(before) :]
        assert after[: len(before)] == before
        assert [leg_of_id(cid) for cid in new] == ["WORKING_STOP"]  # no HARD_SL or TP again
        assert min(seq(cid) for cid in new) > max(seq(cid) for cid in before)
        kept = {cid for cid in resting if leg_of_id(cid) != "WORKING_STOP"}
        assert kept <= _resting(sim) and len(_resting(sim)) == 4
        assert_invariants(ledger, SYMBOL)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_signal_exits_0_within_10_s_and_leaves_every_stop_resting(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """As systemd stops the unit: READY=1 first, STOPPING=1 once the signal came."""
    async with running() as (sim, client), listening() as notify:
        await _pricer(client)("40000")
        environ = {"NOTIFY_SOCKET": str(notify.path)}
        async with exitd_process(sim, tmp_path, environ) as daemon:
            await notify.wait_for(lambda: bool(notify.having("READY", "1")))
            body = {"symbol": SYMBOL, "side": "LONG", "qty": "1", "price": "40000"}
            assert (await client.admin("POST", "/sim/position", body)).status == 200
            await daemon.wait_for(lambda: len(daemon.seen("exit_gateway.placed")) == 3)
            resting = _resting(sim)
            orders = len(sim.account.ledger.orders)
            assert not notify.having("STOPPING")
            daemon.process.send_signal(signum)
            with anyio.fail_after(10):
                assert await daemon.process.wait() == 0
            assert daemon.seen("daemon.stopping", signal=signum.name)
            assert daemon.seen("daemon.stopped")
            await notify.wait_for(lambda: bool(notify.having("STOPPING", "1")))
        assert len(resting) == 3
        assert _resting(sim) == resting
        assert len(sim.account.ledger.orders) == orders
        assert all(o.status == "NEW" for o in own_orders(sim.account.ledger, SYMBOL))


def _pricer(client: Client) -> Callable[[str], Any]:
    async def price(value: str) -> None:
        answer = await client.admin("POST", "/sim/price", {"symbol": SYMBOL, "price": value})
        assert answer.status == 200, answer.body

    return price


def _resting(sim: SimExchange) -> set[str]:
    account = sim.account
    orders = [*account.open_orders(SYMBOL), *account.open_algo_orders(SYMBOL)]
    return {o.client_order_id for o in orders if leg_of_id(o.client_order_id) is not None}


async def test_a_stop_that_lands_after_the_crash_is_not_left_beside_the_new_ones(
    tmp_path: Path,
) -> None:
    """The crash comes between sending the trail's stop and its answer (RELIABILITY.md §2
    row 27): the exchange takes it after the new daemon has adopted the position."""
    async with running() as (sim, client):
        async with daemon_on(sim, client, tmp_path) as live:
            await live.price(SYMBOL, "40000")
            await live.open(SYMBOL, "LONG", "1", "40000")
            await live.settle(SYMBOL)
            await live.price(SYMBOL, "40330")  # breakeven: its stop at 40040
            await live.settle(SYMBOL)
            slow = {"latency_ms": {"POST /fapi/v1/algoOrder": 1000}}
            assert (await client.admin("POST", "/sim/faults", slow)).status == 200
            arrived = on_delayed_request(sim)
            await live.price(SYMBOL, "40800")  # the trail's stop at 40596 goes out, slowly
            with anyio.fail_after(5):
                await arrived.wait()  # at the exchange, not yet executed: crash now
            (late,) = live.daemon.gateway.inflight(SYMBOL)
        assert (await client.admin("DELETE", "/sim/faults")).status == 200
        ledger = sim.account.ledger
        assert late.client_order_id not in created(ledger)

        async with daemon_on(sim, client, tmp_path) as live:
            with anyio.fail_after(5):
                while late.client_order_id not in created(ledger):
                    await live.daemon.activity.wait()
            await live.settle(SYMBOL)
            stops = [o for o in sim.account.open_algo_orders(SYMBOL) if not o.close_position]
            assert [o.trigger_price for o in stops] == [D("40596.0")]
            await live.price(SYMBOL, "41000")
            await live.settle(SYMBOL)
            assert working_stop(sim) == D("40795.0")
        assert_invariants(ledger, SYMBOL)
