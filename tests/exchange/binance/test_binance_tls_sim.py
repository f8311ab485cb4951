"""The adapter end to end against the simulator served over TLS (https and wss on
127.0.0.1:0, a trustme certificate): a signed stop placed, read back and cancelled over the
warm connections, its events on the user stream, a mark price on the market stream; with a
certificate from a CA it does not trust, nothing reaches the exchange."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
import pytest
import trustme
from binance_harness import D, Rig, fast_backoff, pump, pump_market
from test_binance_writes_sim import stop, update
from tls_certs import client_context, server_context

from exitd.exchange.binance import BinanceExchange
from exitd.exchange.port import (
    Accepted,
    MarkPrice,
    OrderState,
    OrderView,
    Rejected,
    RejectKind,
    StreamReset,
)
from exitd.exchange.sim.server import SimExchange
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, Client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def tls_rig(server_ca: trustme.CA, client_ca: trustme.CA) -> AsyncIterator[Rig]:
    """The simulator over TLS with a certificate from `server_ca`; the adapter trusts
    `client_ca`, the test's admin client `server_ca`."""
    sim = SimExchange(api_key=API_KEY, api_secret=API_SECRET)
    await sim.start(server_context(server_ca).context)
    try:
        connector = aiohttp.TCPConnector(ssl=client_context(server_ca))
        async with aiohttp.ClientSession(connector=connector) as session:
            exchange = BinanceExchange(
                sim.rest_url, sim.ws_url, API_KEY, API_SECRET, backoff=fast_backoff,
                ssl_context=client_context(client_ca),
            )  # fmt: skip
            async with exchange:
                yield Rig(sim, Client(session, sim.rest_url, sim.clock), exchange)
    finally:
        await sim.stop()


async def test_a_signed_stop_and_the_streams_over_https_and_wss() -> None:
    ca = trustme.CA()
    async with tls_rig(ca, ca) as r, anyio.create_task_group() as tasks:
        assert r.sim.rest_url.startswith("https://") and r.sim.ws_url.startswith("wss://")
        user = pump(tasks, r.exchange.user_events())
        assert (await user.next()) == StreamReset("connected")
        stream = r.exchange.market_stream()
        marks = pump_market(tasks, stream)
        assert (await marks.next()) == StreamReset("connected")
        await stream.subscribe(["BTCUSDT"])
        await r.position("BTCUSDT", "LONG", "0.010", "60000")
        await r.price("BTCUSDT", "60010.5")
        tick = await marks.next()
        assert tick == MarkPrice("BTCUSDT", D("60010.5"), tick.time_ms)

        placed = await r.exchange.place(stop("xd-tls-1", "58000"))
        assert isinstance(placed, Accepted), placed
        await user.next(update("xd-tls-1", OrderState.NEW))
        assert "xd-tls-1" in [order.client_order_id for order in r.sim.account.ledger.orders]
        found = await r.exchange.query("BTCUSDT", "xd-tls-1", conditional=True)
        assert isinstance(found, OrderView) and found.trigger_price == D("58000")
        cancelled = await r.exchange.cancel("BTCUSDT", "xd-tls-1", conditional=True)
        assert isinstance(cancelled, Accepted) and cancelled.order.state is OrderState.CANCELED
        tasks.cancel_scope.cancel()


async def test_an_untrusted_certificate_sends_no_order() -> None:
    async with tls_rig(trustme.CA(), trustme.CA()) as r:
        placed = await r.exchange.place(stop("xd-tls-2", "58000"))
        assert isinstance(placed, Rejected) and placed.kind is RejectKind.OTHER
        assert "SSLCertVerificationError" in placed.reason
        assert "local issuer" in placed.reason
        assert r.sim.account.ledger.orders == []
