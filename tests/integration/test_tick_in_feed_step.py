"""A tick decided in the price feed's own step (`SymbolActor.deliver_price`): the amendment
it causes goes out from there, and an error deciding it is the symbol actor's crash, answered
by its supervisor, never the feed's. Same running example as test_daemon_protects.py: a LONG
of 1 BTCUSDT at 40000, breakeven arming at 40320 with its stop at 40040."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest

import exitd.actors.symbol as symbol_actor
from exitd.engine import Decision, Event, ExitState, Leg, Tick
from tests.integration.harness import live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_an_error_deciding_a_tick_in_the_feeds_step_restarts_the_symbol_actor_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decide = symbol_actor.decide
    failed_in: list[asyncio.Task[object] | None] = []

    def failing_once(state: ExitState, event: Event) -> Decision:
        if not failed_in and isinstance(event, Tick) and event.price == D("40330"):
            failed_in.append(asyncio.current_task())
            raise RuntimeError("an engine bug")
        return decide(state, event)

    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        supervisor = live.daemon.supervisor
        mailbox = live.daemon.account.actors[SYMBOL].mailbox.receive
        with anyio.fail_after(5):  # parked on its mailbox: the next tick is the feed's to decide
            while not mailbox.reader_waiting:
                await live.daemon.activity.wait()
        monkeypatch.setattr(symbol_actor, "decide", failing_once)
        await live.price(SYMBOL, "40330")  # arms breakeven: not a quiet tick
        with anyio.fail_after(10):
            while supervisor.restarts.get(f"symbol:{SYMBOL}", 0) < 1:
                await live.daemon.activity.wait()
        await live.settle(SYMBOL)
        assert failed_in == [None]  # raised in the feed's callback, outside any task
        assert "price_feed" not in supervisor.restarts
        await live.price(SYMBOL, "40340")  # the restarted actor decides the next tick
        await live.settle(SYMBOL)
        state = live.daemon.account.actors[SYMBOL].state
        assert state is not None
        assert any(o.intent.leg is Leg.WORKING_STOP for o in state.orders)
