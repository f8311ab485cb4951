"""The sans-I/O websocket connection on its own: it answers the server's pings, reports a
close frame, and fails its handshake clearly when refused or never answered."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import pytest
from aiohttp import web
from ws_peer import PingAndEcho, serving

from exitd.exchange.binance.ws_connection import HandshakeFailed, connect

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param  # the daemon runs on uvloop, whose transports differ


async def test_a_ping_from_the_server_is_answered_and_text_goes_both_ways() -> None:
    script = PingAndEcho()

    texts: list[str] = []
    async with serving(script, autoping=False) as served:
        conn = await connect(f"{served.ws_url}/market/stream", texts.append)
        with anyio.fail_after(5):
            await script.pong.wait()
            conn.send_text("back")
            await conn.wait_closed()
    assert script.answers == [b"are you there"]
    assert texts == ["hello", "echo back"]
    assert conn.end_reason == "close frame 4000"
    assert not conn.open


async def test_a_refused_upgrade_fails_the_handshake() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=503, text="Service Unavailable")

    app = web.Application()
    app.router.add_get("/market/stream", refuse)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        with anyio.fail_after(5), pytest.raises(HandshakeFailed, match="503"):
            await connect(f"ws://{host}:{port}/market/stream", print)
    finally:
        await runner.cleanup()


async def test_a_server_that_never_answers_the_upgrade_times_out() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with anyio.fail_after(5), pytest.raises(TimeoutError):
            await connect(f"ws://127.0.0.1:{port}/market/stream", print, handshake_timeout_s=0.2)
        assert len(accepted) == 1
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_url_that_is_not_a_websocket_url_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        await connect("http://127.0.0.1:1/market/stream", print)
