"""The write connections against real servers on 127.0.0.1:0: an aiohttp app for well-formed
answers, and a scripted asyncio server for what aiohttp would never send (a connection cut
mid-request, a silent server, garbage)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import orjson
import pytest
from aiohttp import web

from exitd.exchange.binance.warm_http import (
    MAX_BODY_BYTES,
    HttpAnswer,
    NoAnswer,
    NotSent,
    WarmConnections,
)

pytestmark = pytest.mark.anyio
WAIT_S = 5.0


@pytest.fixture(params=[{}, {"use_uvloop": True}], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Both loops the daemon runs on (`exitd run` takes uvloop where installed)."""
    return "asyncio", request.param


@dataclass
class App:
    url: str
    peers: list[tuple[str, int]] = field(default_factory=list)  # one per request
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)

    @property
    def connections(self) -> int:
        return len(set(self.peers))


@asynccontextmanager
async def aiohttp_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[App]:
    """The app on 127.0.0.1:0, over TLS with `ssl_context` (test_warm_http_tls.py)."""
    state = App("")

    def seen(request: web.Request) -> None:
        assert request.transport is not None
        state.peers.append(request.transport.get_extra_info("peername"))
        state.transports.append(request.transport)
        state.arrived.set()

    async def echo(request: web.Request) -> web.Response:
        seen(request)
        body = {
            "method": request.method,
            "path_qs": request.path_qs,
            "key": request.headers.get("X-MBX-APIKEY"),
            "agent": request.headers.get("User-Agent"),
        }
        return web.json_response(body, headers={"X-MBX-ORDER-COUNT-10S": "3"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        seen(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b'{"part":', b' "one",', b' "end": 2}'):
            await response.write(part)
        await response.write_eof()
        return response

    async def close(request: web.Request) -> web.Response:
        seen(request)
        response = web.json_response({"closing": True})
        response.force_close()
        return response

    async def big(request: web.Request) -> web.Response:
        seen(request)
        return web.Response(body=b"x" * (MAX_BODY_BYTES + 1))

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/close", close)
    app.router.add_get("/big", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"{'https' if ssl_context else 'http'}://{host}:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[str]:
    """Each connection: read one request head, then run `script`, then close."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def until(condition: Callable[[], bool]) -> None:
    """Wait (yielding to the loop, bounded by WAIT_S) until the condition holds."""
    with anyio.fail_after(WAIT_S):
        while not condition():
            await asyncio.sleep(0)


def body(answer: HttpAnswer) -> dict[str, object]:
    parsed = orjson.loads(answer.body)
    assert isinstance(parsed, dict)
    return parsed


async def test_sequential_requests_reuse_one_connection() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url)
        try:
            for n in range(5):
                answer = await pool.request("POST", f"/echo?n={n}", {"X-MBX-APIKEY": "k"})
                assert answer.status == 200
                assert body(answer) == {
                    "method": "POST", "path_qs": f"/echo?n={n}", "key": "k", "agent": "exitd",
                }  # fmt: skip
                assert {k.lower(): v for k, v in answer.headers.items()}[
                    "x-mbx-order-count-10s"
                ] == "3"
        finally:
            await pool.aclose()
        assert len(app.peers) == 5 and app.connections == 1


async def test_on_a_warm_connection_the_request_leaves_before_it_is_awaited() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url)
        try:
            await pool.warm()
            assert pool.idle_connections == 1
            pending = pool.request("DELETE", "/echo?id=7", {})
            with anyio.fail_after(WAIT_S):
                await app.arrived.wait()  # the server has it; nobody awaited `pending` yet
            assert body(await pending)["path_qs"] == "/echo?id=7"
        finally:
            await pool.aclose()
        assert app.connections == 1


async def test_a_connection_the_server_closes_while_idle_is_dropped() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url)
        try:
            assert (await pool.request("GET", "/echo", {})).status == 200
            assert pool.idle_connections == 1
            app.transports[-1].close()  # the server ends the idle keep-alive connection
            await until(lambda: pool.open_connections == 0)
            assert pool.idle_connections == 0
            assert (await pool.request("GET", "/echo", {})).status == 200
        finally:
            await pool.aclose()
        assert app.connections == 2


async def test_chunked_and_connection_close_answers() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url)
        try:
            chunked = await pool.request("GET", "/chunked", {})
            assert body(chunked) == {"part": "one", "end": 2}
            assert pool.idle_connections == 1  # chunked ends cleanly: still keep-alive
            closing = await pool.request("GET", "/close", {})
            assert body(closing) == {"closing": True}
            await until(lambda: pool.open_connections == 0)
            assert (await pool.request("GET", "/echo", {})).status == 200
        finally:
            await pool.aclose()
        assert app.connections == 2


async def test_an_oversized_answer_is_no_answer() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url)
        try:
            with pytest.raises(NoAnswer, match="body over"):
                await pool.request("GET", "/big", {})
            assert pool.idle_connections == 0
            assert (await pool.request("GET", "/echo", {})).status == 200
        finally:
            await pool.aclose()
        assert app.connections == 2


async def test_a_connection_cut_mid_request_is_no_answer() -> None:
    async def cut(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"half')

    async with scripted_server(cut) as url:
        pool = WarmConnections(url)
        try:
            with pytest.raises(NoAnswer, match="connection lost"):
                await pool.request("POST", "/fapi/v1/order?x=1", {})
            assert pool.open_connections == 0
        finally:
            await pool.aclose()


async def test_a_malformed_answer_is_no_answer() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SPDY/9 what\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with scripted_server(garbage) as url:
        pool = WarmConnections(url)
        try:
            with pytest.raises(NoAnswer, match="malformed"):
                await pool.request("GET", "/x", {})
        finally:
            await pool.aclose()


async def test_a_timeout_is_no_answer_and_its_connection_is_not_reused() -> None:
    opened: list[int] = []
    closed = asyncio.Event()

    async def silent_then_answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        opened.append(len(opened))
        if opened[-1] == 0:
            await reader.read()  # never answers; returns when the client closes
            closed.set()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.read()

    async with scripted_server(silent_then_answer) as url:
        pool = WarmConnections(url, timeout_s=0.2)
        try:
            with pytest.raises(NoAnswer, match="no answer within"):
                await pool.request("POST", "/fapi/v1/order", {})
            with anyio.fail_after(WAIT_S):
                await closed.wait()  # the client closed the timed-out connection
            answer = await pool.request("POST", "/fapi/v1/order", {})
            assert (answer.status, answer.body) == (200, b"{}")
        finally:
            await pool.aclose()
    assert len(opened) == 2


async def test_a_refused_connect_is_not_sent() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pool = WarmConnections(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(NotSent, match="connect failed"):
            await pool.request("POST", "/fapi/v1/order", {})
        assert pool.open_connections == 0
    finally:
        await pool.aclose()


async def test_requests_beyond_the_bound_wait_for_a_free_connection() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url, max_connections=2)
        try:
            answers = await asyncio.gather(
                *(pool.request("GET", f"/echo?n={n}", {}) for n in range(6))
            )
            assert [body(a)["path_qs"] for a in answers] == [f"/echo?n={n}" for n in range(6)]
        finally:
            await pool.aclose()
        assert app.connections == 2


async def test_a_line_break_in_a_header_is_refused_before_sending() -> None:
    pool = WarmConnections("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="CR or LF"):
        pool.request("GET", "/x", {"X-MBX-APIKEY": "k\r\nEvil: 1"})
    with pytest.raises(ValueError, match="CR or LF"):
        pool.request("GET", "/x HTTP/1.1\r\nEvil: 1", {})
    await pool.aclose()


async def test_oversized_headers_are_no_answer() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        filler = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"y" * 1000) for n in range(100))
        writer.write(b"HTTP/1.1 200 OK\r\n" + filler + b"Content-Length: 2\r\n\r\n{}")
        await writer.drain()
        await reader.read()

    async with scripted_server(huge) as url:
        pool = WarmConnections(url)
        try:
            with pytest.raises(NoAnswer, match="headers over"):
                await pool.request("GET", "/x", {})
            await until(lambda: pool.open_connections == 0)
        finally:
            await pool.aclose()


async def test_a_connection_idle_too_long_is_not_reused() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url, idle_s=0.0)
        try:
            for _ in range(3):
                assert (await pool.request("GET", "/echo", {})).status == 200
        finally:
            await pool.aclose()
        assert app.connections == 3


async def test_an_idle_connection_is_refreshed_and_stays_warm_past_the_idle_bound() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url, idle_s=0.3, refresh_target="/echo", refresh_s=0.05)
        try:
            assert (await pool.request("POST", "/echo", {})).status == 200
            started = asyncio.get_running_loop().time()
            await until(lambda: asyncio.get_running_loop().time() - started > 0.45)
            assert len(app.peers) >= 4  # refreshed every 0.05 s, each answer restarting it
            assert (await pool.request("POST", "/echo", {})).status == 200
        finally:
            await pool.aclose()
        assert app.connections == 1  # one connection all along, past the 0.3 s idle bound


async def test_only_keep_warm_idle_connections_are_refreshed_the_rest_close() -> None:
    async with aiohttp_server() as app:
        pool = WarmConnections(app.url, refresh_target="/echo", refresh_s=0.05, keep_warm=1)
        try:
            answers = await asyncio.gather(*(pool.request("POST", "/echo", {}) for _ in range(3)))
            assert [a.status for a in answers] == [200] * 3
            assert app.connections == 3
            await until(lambda: pool.open_connections == 1)
            refreshed = len(app.peers)
            await until(lambda: len(app.peers) > refreshed + 1)  # the one left is refreshed
            assert pool.open_connections == 1
        finally:
            await pool.aclose()
