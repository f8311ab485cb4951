"""Bad input of every kind at the control socket: each gets a clear error or a closed
connection, and the daemon keeps serving (`exitd ctl status` answers afterwards)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.control.ctl_harness import ctl, listening
from tests.integration.harness import Live, live_daemon

pytestmark = pytest.mark.anyio
WAIT_S = 20.0
VALID = (
    b'{"id": 1, "cmd": "status"}',
    b'{"id": 2, "cmd": "plan", "args": {"symbol": "BTCUSDT"}}',
    b'{"id": 3, "cmd": "mode", "args": {"mode": "LEGACY"}}',
    b'{"id": 4, "cmd": "submit", "args": {"module": "position_monitor", "symbol": "BTCUSDT", '
    b'"kind": "sl", "order": {"side": "SELL", "type": "STOP_MARKET", "stopPrice": "1"}}}',
)
MALFORMED = [
    (b"hello", "bad_json"),
    (b"\xff\xfe\x00garbage", "bad_json"),
    (b"[1, 2, 3]", "bad_request"),
    (b'"status"', "bad_request"),
    (b'{"id": 1}', "bad_request"),
    (b'{"id": [1], "cmd": "status"}', "bad_request"),
    (b'{"id": 1, "cmd": "status", "extra": 1}', "bad_request"),
    (b'{"id": 1, "cmd": "status", "args": [1]}', "bad_request"),
    (b'{"id": 1, "cmd": "launch_missiles"}', "unknown_command"),
    (b'{"id": 1, "cmd": "plan", "args": {"symbol": 5}}', "bad_args"),
    (b'{"id": 1, "cmd": "plan", "args": {"symbol": "BTC/USDT"}}', "bad_args"),
    (b'{"id": 1, "cmd": "status", "args": {"verbose": true}}', "bad_args"),
    (b'{"id": 1, "cmd": "mode", "args": {"mode": 3}}', "bad_args"),
    (b'{"id": 1, "cmd": "set-plan", "args": {"symbol": "BTCUSDT", "overrides": "x"}}', "bad_args"),
    (b'{"id": 1, "cmd": "submit", "args": {"module": "position_monitor", "symbol": "BTCUSDT", '
     b'"kind": "sl", "order": {"side": "SELL", "type": "MARKET", "quantity": NaN}}}', "bad_json"),
    (b'{"id": 1, "cmd": "submit", "args": {"module": "position_monitor", "symbol": "BTCUSDT", '
     b'"kind": "sl", "order": {"side": "SELL", "type": "MARKET", "quantity": true}}}', "bad_args"),
    (b"[" * 30_000 + b"]" * 30_000, "bad_json"),  # nested deeper than the parser goes
]  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Conn:
    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.lines = BufferedByteReceiveStream(stream)

    async def ask(self, line: bytes) -> dict[str, Any]:
        await self.stream.send(line + b"\n")
        return await self.answer()

    async def answer(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(await self.lines.receive_until(b"\n", 1 << 20))
        return answer

    async def closed(self) -> bool:
        """True once the server closed the connection."""
        try:
            await self.lines.receive(1)
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
            return True
        except ConnectionResetError:
            return True
        return False


async def connect(live: Live) -> Conn:
    return Conn(await anyio.connect_unix(live.socket_path))


async def still_serving(live: Live) -> None:
    ran = await ctl(live, "--json", "status")
    assert ran.code == 0, ran.err
    assert ran.json["actors"]
    assert live.daemon.supervisor.restarts.get("control", 0) == 0


async def test_malformed_requests_get_their_error_code(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY") as live:
        await listening(live)
        for line, code in MALFORMED:
            conn = await connect(live)
            with anyio.fail_after(WAIT_S):
                answer = await conn.ask(line)
            assert answer["ok"] is False, line[:80]
            assert answer["error"]["code"] == code, (line[:80], answer)
            assert answer["error"]["message"]
            await conn.stream.aclose()
        await still_serving(live)


async def test_random_bytes_and_mutated_requests(tmp_path: Path) -> None:
    rng = random.Random(7)
    async with live_daemon(tmp_path, mode="LEGACY") as live:
        await listening(live)
        conn = await connect(live)
        with anyio.fail_after(WAIT_S * 3):
            for i in range(400):
                if i % 2:
                    raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                else:
                    raw = bytearray(rng.choice(VALID))
                    for _ in range(rng.randrange(1, 6)):
                        raw[rng.randrange(len(raw))] = rng.randrange(256)
                line = bytes(raw).replace(b"\n", b"").replace(b"\r", b"")
                if not line.strip():
                    continue
                answer = await conn.ask(line)
                assert set(answer) >= {"id", "ok"}
                if not answer["ok"]:
                    assert answer["error"]["code"] and answer["error"]["message"]
        await still_serving(live)


async def test_huge_lines_are_refused_and_the_connection_closed(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await listening(live)
        for payload in (b"a" * (70 * 1024), b'{"id": 1, "cmd": "status", "args": {"x": "'
                        + b"y" * (65 * 1024) + b'"}}\n'):  # fmt: skip
            conn = await connect(live)
            with anyio.fail_after(WAIT_S):
                await conn.stream.send(payload)
                answer = await conn.answer()
                assert answer["error"]["code"] == "line_too_long"
                assert await conn.closed()
        await still_serving(live)


async def test_stalled_and_surplus_clients_are_closed_and_others_still_served(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path, control="idle_timeout_s = 1.0\nmax_clients = 8") as live:
        await listening(live)
        stalled = [await connect(live) for _ in range(8)]
        with anyio.fail_after(WAIT_S):
            for conn in stalled:  # each is served, then sends half a line and stalls
                assert (await conn.ask(b'{"id": 1, "cmd": "status"}'))["ok"] is True
                await conn.stream.send(b'{"id": 2, "cmd": "sta')
            surplus = await connect(live)
            answer = await surplus.answer()
            assert answer["error"]["code"] == "busy"
            assert await surplus.closed()
            for conn in stalled:  # closed by the idle timeout, not by the test
                assert await conn.closed()
        await still_serving(live)


async def test_a_hundred_clients_at_once(tmp_path: Path) -> None:
    answers: list[str] = []
    async with live_daemon(tmp_path) as live:
        await listening(live)

        async def client(n: int) -> None:
            try:
                conn = await connect(live)
                for line in (b'{"id": %d, "cmd": "status"}' % n, b"nonsense"):
                    answer = await conn.ask(line)
                    answers.append("ok" if answer["ok"] else answer["error"]["code"])
                    if not answer["ok"] and answer["error"]["code"] == "busy":
                        return
                await conn.stream.aclose()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
                answers.append("closed")  # turned away while still sending

        with anyio.fail_after(WAIT_S * 2):
            async with anyio.create_task_group() as tasks:
                for n in range(100):
                    tasks.start_soon(client, n)
        assert len(answers) >= 100
        assert set(answers) <= {"ok", "bad_json", "busy", "closed"}
        assert answers.count("ok") >= 64
        await still_serving(live)


async def test_clients_that_hang_up_early(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await listening(live)
        for line in (b"", b'{"id": 1, "cmd": "status"}\n', b'{"id": 1, "cmd": "orders"}\n'):
            conn = await connect(live)
            if line:
                await conn.stream.send(line)
            await conn.stream.aclose()  # before any answer is read
        await still_serving(live)
