"""A scripted websocket server on 127.0.0.1:0 for what the simulator will not do: hold an
answer, ignore pings, send an oversized or broken frame. Each connection runs the test's
`script(peer)`; the server closes every socket and stops on exit."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from aiohttp import WSMsgType, web


@dataclass
class Peer:
    """The server's side of one connection."""

    ws: web.WebSocketResponse
    number: int  # 1 for the first connection
    tls: bool = False  # came over TLS (serving with an ssl_context)
    pings: int = 0
    answer_pings: bool = False  # with autoping off: pong by hand, counting them
    pinged: anyio.Event = field(default_factory=anyio.Event)  # set (and renewed) per ping
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def request(self) -> dict[str, Any]:
        """The client's next text message (pings counted, unanswered with autoping off)."""
        while True:
            message = await self.ws.receive()
            if message.type is WSMsgType.PING:
                self.pings += 1
                if self.answer_pings:
                    await self.ws.pong(message.data)
                self.pinged.set()
                self.pinged = anyio.Event()
            elif message.type is WSMsgType.TEXT:
                request: dict[str, Any] = orjson.loads(message.data)
                self.requests.append(request)
                return request
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                raise ConnectionError("the client went")

    async def answer(self, request: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps({"result": None, "id": request["id"]}).decode())

    async def answer_next(self) -> dict[str, Any]:
        request = await self.request()
        await self.answer(request)
        return request

    async def price(self, symbol: str, price: str, time_ms: int = 1) -> None:
        data = {"e": "markPriceUpdate", "E": time_ms, "s": symbol, "p": price}
        frame = {"stream": f"{symbol.lower()}@markPrice@1s", "data": data}
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def drain(self) -> None:
        """Read (and answer) until the client goes: keeps the connection up."""
        try:
            while True:
                await self.answer_next()
        except ConnectionError:
            return


@dataclass
class Served:
    ws_url: str
    peers: list[Peer]
    connected: Callable[[int], Awaitable[Peer]]


@asynccontextmanager
async def serving(
    script: Callable[[Peer], Awaitable[None]],
    *,
    autoping: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Served]:
    """The server on 127.0.0.1:0; over TLS (a wss:// URL) with `ssl_context`."""
    peers: list[Peer] = []
    arrived = anyio.Event()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        nonlocal arrived
        ws = web.WebSocketResponse(autoping=autoping)
        await ws.prepare(request)
        assert request.transport is not None
        tls = request.transport.get_extra_info("ssl_object") is not None
        peer = Peer(ws, len(peers) + 1, tls)
        peers.append(peer)
        arrived.set()
        arrived = anyio.Event()
        with suppress(ConnectionError):  # the client went: nothing more to play
            await script(peer)
        await ws.close()
        return ws

    async def connected(number: int) -> Peer:
        """The `number`-th connection, once it has been accepted (within 5 s)."""
        with anyio.fail_after(5):
            while len(peers) < number:
                await arrived.wait()
        return peers[number - 1]

    app = web.Application()
    app.router.add_get("/market/stream", handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Served(f"{'wss' if ssl_context else 'ws'}://{host}:{port}", peers, connected)
    finally:
        for peer in peers:
            await peer.ws.close()
        await runner.cleanup()


class PingAndEcho:
    """A peer's script: text, a ping, an echo of the client's text, then a close frame."""

    def __init__(self) -> None:
        self.pong = anyio.Event()
        self.answers: list[bytes] = []

    async def __call__(self, peer: Peer) -> None:
        await peer.ws.send_str("hello")
        await peer.ws.ping(b"are you there")
        message = await peer.ws.receive()
        if message.type is WSMsgType.PONG:
            self.answers.append(message.data)
            self.pong.set()
        echo = await peer.ws.receive()
        await peer.ws.send_str(f"echo {echo.data}")
        await peer.ws.close(code=4000, message=b"done")
