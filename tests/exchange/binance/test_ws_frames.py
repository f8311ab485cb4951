"""Text frames taken without websockets' parser (ws_connection's fast path) against every way
a read can cut the stream: whole frames, frames cut anywhere, control and fragmented frames
in between, and frames a server must never send. The handshake is real (a loopback server);
the reads after it are fed to the connection's `data_received` as the loop would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from websockets.frames import Frame, Opcode
from ws_peer import Peer, serving

from exitd.exchange.binance.ws_connection import WsConnection, connect

pytestmark = pytest.mark.anyio

TEXTS = ["a", "b" * 125, "c" * 126, "d" * 300, "é" * 40, "f"]


@pytest.fixture(params=["asyncio", ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


def server_frame(opcode: Opcode, data: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=mask)


def stream() -> bytes:
    """Every text of TEXTS, with a ping after the second and the fourth sent in two pieces."""
    frames = [server_frame(Opcode.TEXT, t.encode()) for t in TEXTS]
    ping = server_frame(Opcode.PING, b"there?")
    fourth = TEXTS[3].encode()
    fragmented = server_frame(Opcode.TEXT, fourth[:100], fin=False) + server_frame(
        Opcode.CONT, fourth[100:]
    )
    return b"".join([*frames[:2], ping, frames[2], fragmented, *frames[4:]])


async def idle(peer: Peer) -> None:
    await peer.drain()


@asynccontextmanager
async def connected(texts: list[str]) -> AsyncIterator[WsConnection]:
    async with serving(idle) as served:
        conn = await connect(f"{served.ws_url}/market/stream", texts.append)
        try:
            yield conn
        finally:
            conn.close()


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4, 130, 131, 132, 133, 600, 700])
async def test_texts_arrive_once_in_order_wherever_the_reads_cut_the_stream(cut: int) -> None:
    data = stream()
    texts: list[str] = []
    async with connected(texts) as conn:
        conn.data_received(data[:cut])
        conn.data_received(data[cut:])
        assert texts == TEXTS
        assert conn.open


async def test_texts_arrive_in_order_a_byte_at_a_time() -> None:
    data = stream()
    texts: list[str] = []
    async with connected(texts) as conn:
        for i in range(len(data)):
            conn.data_received(data[i : i + 1])
        assert texts == TEXTS
        assert conn.open


async def test_a_masked_frame_from_the_server_ends_the_connection_and_delivers_nothing() -> None:
    texts: list[str] = []
    async with connected(texts) as conn:
        good = server_frame(Opcode.TEXT, b"before")
        conn.data_received(good + server_frame(Opcode.TEXT, b"masked", mask=True) + good)
        with anyio.fail_after(5):
            await conn.wait_closed()
        assert texts == ["before"]
        assert "ProtocolError" in conn.end_reason


async def test_a_text_frame_inside_a_fragmented_message_ends_the_connection() -> None:
    texts: list[str] = []
    async with connected(texts) as conn:
        conn.data_received(server_frame(Opcode.TEXT, b"half", fin=False))
        conn.data_received(server_frame(Opcode.TEXT, b"intruder"))  # a read of its own
        with anyio.fail_after(5):
            await conn.wait_closed()
        assert texts == []
        assert "ProtocolError" in conn.end_reason
