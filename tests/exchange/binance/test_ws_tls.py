"""The sans-I/O websocket connection and the market stream over wss on 127.0.0.1:0, with
certificates from a trustme CA: frames both ways, a ping, a close frame, mark prices across a
reconnect; a stranger CA's certificate and one for another host name refused."""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import pytest
import trustme
from binance_harness import D, fast_backoff, pump_market
from structlog.testing import capture_logs
from tls_certs import client_context, server_context
from ws_peer import Peer, PingAndEcho, serving

from exitd.exchange.binance.market_stream import BinanceMarketStream
from exitd.exchange.binance.ws_connection import connect
from exitd.exchange.port import MarkPrice, StreamReset

pytestmark = pytest.mark.anyio
WAIT_S = 5.0


@pytest.fixture(params=["asyncio", ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param  # the daemon runs on uvloop, whose TLS transport is its own


async def test_text_a_ping_and_a_close_frame_over_wss() -> None:
    ca = trustme.CA()
    script = PingAndEcho()

    texts: list[str] = []
    server = server_context(ca)
    async with serving(script, autoping=False, ssl_context=server.context) as served:
        assert served.ws_url.startswith("wss://127.0.0.1:")
        conn = await connect(
            f"{served.ws_url}/market/stream", texts.append, ssl_context=client_context(ca)
        )
        with anyio.fail_after(WAIT_S):
            await script.pong.wait()
            conn.send_text("back")
            await conn.wait_closed()
        assert [peer.tls for peer in served.peers] == [True]
    assert script.answers == [b"are you there"]
    assert texts == ["hello", "echo back"]
    assert conn.end_reason == "close frame 4000"
    assert server.sni == [None]  # an IP address is no server name


async def test_mark_prices_over_wss_across_a_reconnect() -> None:
    ca = trustme.CA()

    async def script(peer: Peer) -> None:
        await peer.answer_next()  # the subscription
        await peer.price("BTCUSDT", f"6000{peer.number}.5", time_ms=peer.number)
        if peer.number == 1:
            return  # the server closes the socket
        await peer.drain()

    async with (
        serving(script, ssl_context=server_context(ca).context) as served,
        anyio.create_task_group() as tasks,
    ):
        stream = BinanceMarketStream(
            served.ws_url, backoff=fast_backoff(), ssl_context=client_context(ca)
        )
        await stream.subscribe(["BTCUSDT"])
        events = pump_market(tasks, stream)
        assert (await events.next()) == StreamReset("connected")
        assert (await events.next()) == MarkPrice("BTCUSDT", D("60001.5"), 1)
        assert (await events.next()) == StreamReset("reconnected after the market stream closed")
        assert (await events.next()) == MarkPrice("BTCUSDT", D("60002.5"), 2)
        second = await served.connected(2)
        assert second.requests[0]["params"] == ["btcusdt@markPrice@1s"]
        assert [peer.tls for peer in served.peers] == [True, True]
        stream.close()
        assert await events.until_end() == []


@pytest.mark.parametrize(
    ("names", "why"),
    [((), "unable to get local issuer"), (("fapi.binance.com",), r"mismatch.*127\.0\.0\.1")],
    ids=["stranger-ca", "other-host"],
)
async def test_a_certificate_the_client_must_not_trust_is_refused(
    names: tuple[str, ...], why: str
) -> None:
    ca = trustme.CA()
    issuer = trustme.CA() if not names else ca  # the stranger CA, or ours for another name

    async def script(peer: Peer) -> None:
        await peer.drain()

    async with serving(script, ssl_context=server_context(issuer, *names).context) as served:
        url = f"{served.ws_url}/market/stream"
        # Ours, and the system's trust store, which knows no trustme CA.
        for context, reason in ((client_context(ca), why), (None, "local issuer")):
            with anyio.fail_after(WAIT_S), pytest.raises(ssl.SSLCertVerificationError) as e:
                await connect(url, print, ssl_context=context)
            assert e.match(reason)
        assert served.peers == []  # no upgrade request reached the server


async def test_the_market_stream_keeps_retrying_a_refused_certificate() -> None:
    async def script(peer: Peer) -> None:
        await peer.drain()

    stranger = trustme.CA()
    with capture_logs() as logs:
        async with (
            serving(script, ssl_context=server_context(stranger).context) as served,
            anyio.create_task_group() as tasks,
        ):
            stream = BinanceMarketStream(
                served.ws_url, backoff=fast_backoff(), ssl_context=client_context(trustme.CA())
            )
            events = pump_market(tasks, stream)

            def failures() -> list[str]:
                return [e["error"] for e in logs if e["event"] == "exchange.stream_connect_failed"]

            with anyio.fail_after(WAIT_S):
                while len(failures()) < 2:
                    await anyio.sleep(0.01)
            stream.close()
            assert await events.until_end() == []  # no reset, no price: never connected
            assert served.peers == []
    assert all("SSLCertVerificationError" in error for error in failures())
    assert "certificate verify failed" in failures()[0]
