"""The write connections over TLS on 127.0.0.1:0, with certificates from a trustme CA: a
signed order and a read on one kept-alive https connection, the idle refresh over it, and the
certificates a client must refuse (a stranger CA, another host name, no TLS at all) refused
before a byte of the request leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trustme
from test_warm_http import WAIT_S, App, aiohttp_server, body, until
from tls_certs import client_context, server_context

from exitd.exchange.binance.signing import Signer
from exitd.exchange.binance.warm_http import NotSent, WarmConnections

pytestmark = pytest.mark.anyio
SECRET = "not-a-real-secret"


@pytest.fixture(params=[{}, {"use_uvloop": True}], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Both loops the daemon runs on: uvloop drives TLS with its own transport."""
    return "asyncio", request.param


def signed_order() -> str:
    """A new order's query as RestClient sends it: every parameter, then the signature."""
    params = {
        "algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
        "clientAlgoId": "x-exitd-0123456789abcdef-stop-1", "workingType": "MARK_PRICE",
        "quantity": "0.012", "triggerPrice": "59312.5", "reduceOnly": "true",
        "recvWindow": "5000", "timestamp": "1764337000000",
    }  # fmt: skip
    return Signer(SECRET).signed_query(params)


def encrypted(app: App) -> bool:
    """Every request the server saw came over TLS."""
    return bool(app.transports) and all(
        t.get_extra_info("ssl_object") is not None for t in app.transports
    )


async def test_a_signed_post_and_a_get_share_one_kept_alive_https_connection() -> None:
    ca = trustme.CA()
    server = server_context(ca)
    async with aiohttp_server(server.context) as app:
        assert app.url.startswith("https://127.0.0.1:")
        pool = WarmConnections(app.url, ssl_context=client_context(ca))
        try:
            query = signed_order()
            posted = await pool.request("POST", f"/echo?{query}", {"X-MBX-APIKEY": "k"})
            assert posted.status == 200
            assert body(posted) == {
                "method": "POST", "path_qs": f"/echo?{query}", "key": "k", "agent": "exitd",
            }  # fmt: skip
            assert pool.idle_connections == 1  # kept alive after its answer
            read = await pool.request("GET", "/echo?symbol=BTCUSDT", {"X-MBX-APIKEY": "k"})
            assert body(read)["path_qs"] == "/echo?symbol=BTCUSDT"
        finally:
            await pool.aclose()
        assert len(app.peers) == 2 and app.connections == 1
        assert encrypted(app)
    assert server.sni == [None]  # an IP address is no server name (RFC 6066 §3)


async def test_on_a_warm_https_connection_the_request_leaves_before_it_is_awaited() -> None:
    ca = trustme.CA()
    async with aiohttp_server(server_context(ca).context) as app:
        pool = WarmConnections(app.url, ssl_context=client_context(ca))
        try:
            await pool.warm()  # the TCP and TLS handshakes, ahead of the write
            assert pool.idle_connections == 1
            pending = pool.request("DELETE", "/echo?id=7", {})
            await until(app.arrived.is_set)  # the server has it; nobody awaited `pending` yet
            assert body(await pending)["path_qs"] == "/echo?id=7"
        finally:
            await pool.aclose()
        assert app.connections == 1 and encrypted(app)


async def test_an_idle_https_connection_is_refreshed_past_the_idle_bound() -> None:
    ca = trustme.CA()
    async with aiohttp_server(server_context(ca).context) as app:
        pool = WarmConnections(
            app.url, ssl_context=client_context(ca), idle_s=0.3, refresh_target="/echo",
            refresh_s=0.05,
        )  # fmt: skip
        try:
            assert (await pool.request("POST", "/echo", {})).status == 200
            # Eight refreshes, each 0.05 s after the last answer: 0.4 s, past the idle bound;
            # the last one answered, so the connection is idle again rather than busy.
            await until(lambda: len(app.peers) >= 9 and pool.idle_connections == 1)
            assert (await pool.request("POST", "/echo", {})).status == 200
        finally:
            await pool.aclose()
        assert app.connections == 1 and encrypted(app)


async def test_a_certificate_from_a_stranger_ca_is_refused_before_sending() -> None:
    trusted, stranger = trustme.CA(), trustme.CA()
    async with aiohttp_server(server_context(stranger).context) as app:
        for context in (client_context(trusted), None):  # ours, and the system's trust store
            pool = WarmConnections(app.url, ssl_context=context)
            try:
                with pytest.raises(NotSent, match=r"SSLCertVerificationError.*local issuer"):
                    await pool.request("POST", f"/fapi/v1/order?{signed_order()}", {})
                assert pool.open_connections == 0
            finally:
                await pool.aclose()
        assert app.peers == []  # no request reached the server


async def test_a_certificate_for_another_host_name_is_refused() -> None:
    ca = trustme.CA()
    async with aiohttp_server(server_context(ca, "fapi.binance.com").context) as app:
        pool = WarmConnections(app.url, ssl_context=client_context(ca))
        try:
            with pytest.raises(NotSent, match=r"SSLCertVerificationError.*mismatch.*127\.0\.0\.1"):
                await pool.request("POST", f"/fapi/v1/order?{signed_order()}", {})
        finally:
            await pool.aclose()
        assert app.peers == []


async def test_a_name_in_the_url_is_sent_as_sni_and_checked_against_the_certificate() -> None:
    ca = trustme.CA()
    for names, accepted in ((("localhost",), True), (("127.0.0.1",), False)):
        server = server_context(ca, *names)
        async with aiohttp_server(server.context) as app:
            url = app.url.replace("127.0.0.1", "localhost")
            pool = WarmConnections(url, ssl_context=client_context(ca))
            try:
                if accepted:
                    assert (await pool.request("GET", "/echo", {})).status == 200
                else:
                    with pytest.raises(NotSent, match=r"mismatch.*localhost"):
                        await pool.request("GET", "/echo", {})
            finally:
                await pool.aclose()
            assert len(app.peers) == int(accepted)
        assert server.sni == ["localhost"]


@asynccontextmanager
async def plain_server(received: bytearray) -> AsyncIterator[str]:
    """A server without TLS that keeps what it receives and answers it as HTTP would."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.read(65536))
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_without_tls_gets_a_client_hello_never_the_request() -> None:
    received = bytearray()
    async with plain_server(received) as url:
        pool = WarmConnections(url, ssl_context=client_context(trustme.CA()), timeout_s=WAIT_S)
        try:
            with pytest.raises(NotSent, match="connect failed: SSLError"):
                await pool.request("POST", f"/fapi/v1/order?{signed_order()}", {})
            assert pool.open_connections == 0
        finally:
            await pool.aclose()
    assert received[:1] == b"\x16"  # a TLS handshake record: the ClientHello
    assert b"fapi" not in received and b"signature" not in received


async def test_a_context_for_a_plain_url_is_refused() -> None:
    with pytest.raises(ValueError, match="plain"):
        WarmConnections("http://127.0.0.1:9", ssl_context=client_context(trustme.CA()))
