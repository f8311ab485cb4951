"""The symbol actor's wake timer bounds its wait for messages, never its work: an adoption
whose exchange read takes longer than the timer's second still completes."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest

from exitd.actors.messages import ExchangeState, GatewayMessage, InflightQuery, PlaceWrite, Submit
from exitd.actors.runtime import Mailbox, Pulse
from exitd.actors.snapshots import SnapshotStore
from exitd.actors.symbol import SymbolActor, SymbolContext
from exitd.engine import ExitProfile, ExitRouter, SymbolFilters
from exitd.exchange.port import MarkPrice, NotFound, PositionView, QueryOutcome
from exitd.ownership import Mode

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(D("0.1"), D("0.001"), D("0.001"))
SLOW_READ_S = 1.5  # longer than the actor's 1 s wake


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def not_found(symbol: str, client_order_id: str, conditional: bool) -> QueryOutcome:
    return NotFound()


async def test_an_adoption_slower_than_the_wake_timer_completes(tmp_path: Path) -> None:
    gateway: Mailbox[GatewayMessage] = Mailbox.create(64)
    reads = 0

    async def fetch_state(symbol: str, fresh: bool = False) -> ExchangeState:
        nonlocal reads
        reads += 1
        position = PositionView(symbol, D(1), D(40000), 1)
        if reads == 1:  # at start: a position, but no mark price yet to plan from
            return ExchangeState(position, (), None, 1)
        await anyio.sleep(SLOW_READ_S)  # a slow exchange, not synchronisation
        return ExchangeState(position, (), D(40000), 2)

    context = SymbolContext(
        router=ExitRouter({"default": ExitProfile(D(2))}, {}, D(2)),
        filters=lambda symbol: FILTERS,
        gateway=gateway,
        submit=gateway.post,
        snapshots=SnapshotStore(tmp_path),
        fetch_state=fetch_state,
        query_order=not_found,
        mode=lambda: Mode.EXIT_BRAIN_V3,
        new_position_grace_s=5.0,
        emergency_sl_pct=D(2),
        activity=Pulse(),
    )
    actor = SymbolActor(SYMBOL, context)
    placed: list[PlaceWrite] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(actor.run, 0)
        with anyio.fail_after(SLOW_READ_S + 5):
            async for message in gateway.receive:
                if isinstance(message, InflightQuery):
                    message.reply(())
                    if reads == 1:  # started without a plan: now the first mark comes
                        assert actor.mailbox.post(MarkPrice(SYMBOL, D(40000), 2))
                elif isinstance(message, Submit) and isinstance(message.write, PlaceWrite):
                    placed.append(message.write)
                    break
        tasks.cancel_scope.cancel()
    assert reads == 2
    assert [w.leg for w in placed] == ["HARD_SL"]
