"""The real daemon against the real simulator over loopback, and how to wait for it.

`live_daemon` starts a simulator on 127.0.0.1:0 and `exitd run`'s actor tree pointed at it
through the Binance adapter, in one event loop; leaving the block cancels the daemon's task
group (an abrupt stop, as a crash would be) and stops the simulator. `settle` waits, on the
daemon's activity pulse, until the daemon's view of a symbol agrees with the simulator's:
the last mark processed, nothing queued or in flight, the engine's orders exactly those
resting on the exchange and its size the exchange's.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from exitd.actors.reconcile_view import is_own
from exitd.daemon import Daemon, run_daemon
from exitd.engine import OrderStatus
from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import Config, parse_config
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, Answer, Client, running

WAIT_S = 10.0
ENVIRON = {"EXITD_API_KEY": API_KEY, "EXITD_API_SECRET": API_SECRET}

PROFILES = """
[profiles.default]
hard_sl_pct = 2.0
take_profits = [{ pct = 1.0, fraction = 0.3 }, { pct = 2.0, fraction = 0.3 }]

[profiles.default.breakeven]
trigger_pct = 0.8
offset_pct = 0.1

[profiles.default.trail]
activation_pct = 1.5
callback_pct = 0.5
"""


def config_text(
    sim: SimExchange,
    *,
    mode: str = "EXIT_BRAIN_V3",
    guard: str = "soft",
    profiles: str = PROFILES,
    grace_s: float = 1.0,
    socket_path: Path | str = "control.sock",
    control: str = "idle_timeout_s = 2.0",
) -> str:
    return f"""
[daemon]
state_dir = "state"
socket_path = "{socket_path}"
log_format = "json"
log_level = "warning"

[control]
{control}

[exits]
mode = "{mode}"
exit_brain_v3_enabled = true
guard = "{guard}"

[exchange]
kind = "sim"
rest_url = "{sim.rest_url}"
ws_url = "{sim.ws_url}"
api_key = {{ env = "EXITD_API_KEY" }}
api_secret = {{ env = "EXITD_API_SECRET" }}

[safety]
emergency_sl_pct = 2.0
new_position_grace_s = {grace_s}
{profiles}
"""


@dataclass
class Live:
    sim: SimExchange
    client: Client
    daemon: Daemon
    state_dir: Path
    socket_path: Path | None = None  # the control socket, where the test knows it

    async def price(self, symbol: str, price: Decimal | str) -> Answer:
        answer = await self.client.admin(
            "POST", "/sim/price", {"symbol": symbol, "price": str(price)}
        )
        assert answer.status == 200, answer.body
        return answer

    async def open(self, symbol: str, side: str, qty: str, price: str) -> Answer:
        """A position opened by someone else (an entry bot), at `price`."""
        body = {"symbol": symbol, "side": side, "qty": qty, "price": price}
        answer = await self.client.admin("POST", "/sim/position", body)
        assert answer.status == 200, answer.body
        return answer

    def resting(self, symbol: str) -> set[str]:
        """Client ids of the exit brain's orders resting on the simulator for `symbol`."""
        account = self.sim.account
        orders = [*account.open_orders(symbol), *account.open_algo_orders(symbol)]
        return {o.client_order_id for o in orders if is_own(o.client_order_id)}

    def agrees(self, symbol: str) -> bool:
        """The daemon's view of `symbol` is the simulator's (RELIABILITY.md Q4)."""
        position = self.sim.account.position(symbol)
        actor = self.daemon.account.actors.get(symbol)
        if f"symbol:{symbol}" not in self.daemon.supervisor:
            actor = None
        gateway = self.daemon.gateway
        if gateway.inflight(symbol):
            return False
        if actor is None:
            return position.amount == 0 and not self.resting(symbol)
        if actor.mailbox.receive.statistics().current_buffer_used or actor.pending:
            return False
        mark = self.sim.mark_price(symbol)
        if mark is not None and (actor.last_mark is None or actor.last_mark.price != mark):
            return False
        state = actor.state
        if state is None:
            return position.amount == 0 and not self.resting(symbol)
        if any(o.status is not OrderStatus.LIVE for o in state.orders):
            return False
        live = {o.intent.client_order_id for o in state.orders}
        return state.qty == abs(position.amount) and live == self.resting(symbol)

    async def settle(self, symbol: str, timeout_s: float = WAIT_S) -> None:
        with anyio.fail_after(timeout_s):
            while not self.agrees(symbol):
                await self.daemon.activity.wait()


@asynccontextmanager
async def live_daemon(
    tmp_path: Path, *, sim_kwargs: dict[str, Any] | None = None, **config: Any
) -> AsyncIterator[Live]:
    # A unix socket's path holds at most 107 bytes: a short folder, not pytest's tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="exitd-"))
    socket_path = folder / "control.sock"
    try:
        async with running(**(sim_kwargs or {})) as (sim, client):
            text = config_text(sim, socket_path=socket_path, **config)
            parsed = parse_config(text, "test.toml", ENVIRON, base_dir=tmp_path)
            async with daemon_running(parsed) as daemon:
                yield Live(sim, client, daemon, tmp_path / "state", socket_path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def daemon_running(
    config: Config, environ: dict[str, str] = ENVIRON
) -> AsyncIterator[Daemon]:
    """The daemon's tree until the block ends, then cancelled abruptly."""
    started = anyio.Event()
    daemons: list[Daemon] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(partial(run_daemon, config, environ, started=started, on_start=daemons))
        with anyio.fail_after(WAIT_S):
            await started.wait()
            await daemons[0].account.reconciled.wait()
        yield daemons[0]
        tasks.cancel_scope.cancel()


async def set_faults(live: Live, body: dict[str, Any]) -> None:
    answer = await live.client.admin("POST", "/sim/faults", body)
    assert answer.status == 200, answer.body


def on_delayed_request(sim: SimExchange) -> anyio.Event:
    """Set when the simulator starts holding a request back (`latency_ms`): it has arrived."""
    arrived = anyio.Event()
    delay_of = sim.faults.latency_ms

    def latency_ms(method: str, path: str) -> int:
        delay = delay_of(method, path)
        if delay:
            arrived.set()
        return delay

    sim.faults.latency_ms = latency_ms  # type: ignore[method-assign]
    return arrived
