"""When the daemon cannot be reached: typed errors, the fallback called and logged, and a
kept connection replaced after the daemon restarts. A refusal never falls back."""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest

from exitd.client import (
    AsyncExitGateway,
    CommandRefused,
    DaemonUnreachable,
    ExitGateway,
    ProtocolError,
)
from exitd.ops.config import parse_config
from tests.client.client_harness import departed
from tests.control.ctl_harness import listening
from tests.exchange.sim.server_harness import running
from tests.integration.harness import ENVIRON, config_text, daemon_running, live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
TAKE_PROFIT = {
    "side": "SELL",
    "type": "LIMIT",
    "price": "41500",
    "quantity": "0.5",
    "reduceOnly": "true",
    "timeInForce": "GTC",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def folder() -> Any:
    # A unix socket's path holds at most 107 bytes: a short folder, not pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="exitd-") as name:
        yield Path(name)


def test_no_socket_is_unreachable_and_nothing_was_delivered(folder: Path) -> None:
    gateway = ExitGateway(str(folder / "control.sock"))
    with pytest.raises(DaemonUnreachable) as unreachable:
        gateway.status()
    assert unreachable.value.delivered is False
    assert "no socket" in unreachable.value.reason
    assert str(folder / "control.sock") in str(unreachable.value)


def test_a_socket_nobody_listens_on_is_unreachable(folder: Path) -> None:
    """The file a crashed daemon leaves behind: connection refused."""
    path = folder / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(path))
        with pytest.raises(DaemonUnreachable) as unreachable:
            ExitGateway(str(path)).positions()
    assert "refused" in unreachable.value.reason


def test_fallback_gets_the_same_order_and_is_logged(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    called: list[dict[str, Any]] = []

    def direct(**order: Any) -> dict[str, Any]:
        called.append(order)
        return {"orderId": 7, "clientOrderId": order["newClientOrderId"]}

    gateway = ExitGateway(str(folder / "control.sock"), "hybrid_tpsl", fallback=direct)
    with caplog.at_level(logging.WARNING, logger="exitd.client"):
        placed = gateway.submit(SYMBOL, "tp", **TAKE_PROFIT)
    [order] = called
    assert order == {"symbol": SYMBOL, **TAKE_PROFIT, "newClientOrderId": order["newClientOrderId"]}
    assert placed == {"orderId": 7, "clientOrderId": order["newClientOrderId"]}
    [record] = [r for r in caplog.records if r.getMessage() == "exit_gateway.fallback"]
    fields = record.__dict__
    assert fields["legacy_module"] == "hybrid_tpsl" and fields["kind"] == "tp"
    assert fields["symbol"] == SYMBOL and fields["delivered"] is False
    assert fields["client_order_id"] == order["newClientOrderId"]
    assert "no socket" in fields["reason"]


def test_a_fallback_per_submit_wins_and_keeps_the_callers_id(folder: Path) -> None:
    default: list[str] = []
    chosen: list[str] = []
    gateway = ExitGateway(
        str(folder / "control.sock"), fallback=lambda **o: default.append(o["newClientOrderId"])
    )
    order = {**TAKE_PROFIT, "newClientOrderId": "pm-tp-7", "price": None}
    gateway.submit(SYMBOL, "tp", fallback=lambda **o: chosen.append(o), **order)
    assert default == []
    without_price = {k: v for k, v in TAKE_PROFIT.items() if k != "price"}
    assert chosen == [{"symbol": SYMBOL, **without_price, "newClientOrderId": "pm-tp-7"}]


async def test_asyncio_fallback_may_be_a_coroutine(folder: Path) -> None:
    async def direct(**order: Any) -> str:
        return str(order["newClientOrderId"])

    gateway = AsyncExitGateway(str(folder / "control.sock"), fallback=direct)
    placed = await gateway.submit(SYMBOL, "tp", **TAKE_PROFIT)
    assert placed.startswith("eg-")
    with pytest.raises(DaemonUnreachable):
        await gateway.status()


async def test_refusal_never_falls_back_blocking_and_asyncio(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, guard="hard") as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        called: list[object] = []
        path = str(live.socket_path)
        blocking = ExitGateway(path, "hybrid_tpsl", fallback=lambda **o: called.append(o))
        with blocking, pytest.raises(CommandRefused) as refused:
            await anyio.to_thread.run_sync(partial(blocking.submit, SYMBOL, "tp", **TAKE_PROFIT))
        assert refused.value.code == "refused"
        unknown = ExitGateway(path, "rogue_bot", fallback=lambda **o: called.append(o))
        with unknown, pytest.raises(CommandRefused) as rogue:
            await anyio.to_thread.run_sync(partial(unknown.submit, SYMBOL, "tp", **TAKE_PROFIT))
        assert rogue.value.code == "unknown_module"
        gateway = AsyncExitGateway(path, "hybrid_tpsl", fallback=lambda **o: called.append(o))
        async with gateway:
            with pytest.raises(CommandRefused):
                await gateway.submit(SYMBOL, "tp", **TAKE_PROFIT)
        await departed(live)
        assert called == []


async def test_a_kept_connection_survives_a_daemon_restart(folder: Path, tmp_path: Path) -> None:
    """The daemon closes every connection when it stops; the next request reconnects."""
    path = folder / "control.sock"
    async with running() as (sim, _client):
        config = parse_config(
            config_text(sim, socket_path=path), "test.toml", ENVIRON, base_dir=tmp_path
        )
        blocking = ExitGateway(str(path))
        asyncio_flavour = AsyncExitGateway(str(path))
        connections: list[tuple[object, object]] = []
        for _ in range(2):
            async with daemon_running(config) as daemon:
                assert daemon.control is not None
                with anyio.fail_after(10):
                    await daemon.control.listening.wait()
                status = await anyio.to_thread.run_sync(blocking.status)
                assert status["mode"] == "EXIT_BRAIN_V3"
                assert (await asyncio_flavour.status())["mode"] == "EXIT_BRAIN_V3"
                connections.append((blocking._sock, asyncio_flavour._stream))
        first, second = connections
        assert first[0] is not second[0] and first[1] is not second[1]
        with pytest.raises(DaemonUnreachable) as gone:
            await anyio.to_thread.run_sync(blocking.status)
        assert gone.value.delivered is False
        with pytest.raises(DaemonUnreachable):
            await asyncio_flavour.status()


async def test_a_lost_answer_falls_back_with_the_same_id_and_one_order_results(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The exchange is slow, so the daemon's answer outlasts the client's timeout: the order
    may be placed or not. The fallback sends the very same client order id, and the
    exchange keeps one order with it whoever arrives first."""
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        slow = {"symbol_latency_ms": {SYMBOL: 1000}}
        assert (await live.client.admin("POST", "/sim/faults", slow)).status == 200
        answers: list[Any] = []

        async def direct(symbol: str, **order: Any) -> Any:
            answer = await live.client.call("POST", "/fapi/v1/order", {"symbol": symbol, **order})
            answers.append(answer.body)
            return answer.body

        gateway = AsyncExitGateway(
            str(live.socket_path), "hybrid_tpsl", timeout_s=0.2, fallback=direct
        )
        order = {**TAKE_PROFIT, "newClientOrderId": "ht-tp-lost"}
        with caplog.at_level(logging.WARNING, logger="exitd.client"):
            async with gateway:
                await gateway.submit(SYMBOL, "tp", **order)
        [record] = [r for r in caplog.records if r.getMessage() == "exit_gateway.fallback"]
        assert record.__dict__["delivered"] is True
        assert len(answers) == 1
        gateway_state = live.daemon.gateway
        with anyio.fail_after(10):
            while gateway_state.inflight(SYMBOL):
                await live.daemon.activity.wait()
        await departed(live)
        sent = [o for o in live.sim.account.ledger.orders if o.client_order_id == "ht-tp-lost"]
        assert [o.refusal for o in sent if o.refusal is not None] == ["duplicate_client_id"]
        assert len([o for o in sent if o.refusal is None]) == 1


async def test_a_slow_answer_is_unreachable_after_the_timeout_blocking(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, mode="LEGACY", grace_s=30) as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        slow = {"symbol_latency_ms": {SYMBOL: 1000}}
        assert (await live.client.admin("POST", "/sim/faults", slow)).status == 200
        gateway = ExitGateway(str(live.socket_path), "hybrid_tpsl", timeout_s=0.2)
        order = {**TAKE_PROFIT, "newClientOrderId": "ht-tp-slow"}
        with gateway, pytest.raises(DaemonUnreachable) as slow_answer:
            await anyio.to_thread.run_sync(partial(gateway.submit, SYMBOL, "tp", **order))
        assert slow_answer.value.delivered is True
        assert "no answer within 0.2 s" in slow_answer.value.reason
        with anyio.fail_after(10):
            while live.daemon.gateway.inflight(SYMBOL):
                await live.daemon.activity.wait()
        await departed(live)
        # The daemon went on and placed it: what `delivered` warns of.
        assert any(o.client_order_id == "ht-tp-slow" for o in live.sim.account.open_orders(SYMBOL))


def test_a_program_that_does_not_speak_the_protocol(folder: Path) -> None:
    path = str(folder / "other.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(path)
        other.listen(1)

        def answer_nonsense() -> None:
            connection, _ = other.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"220 smtp ready\n")

        server = threading.Thread(target=answer_nonsense)
        server.start()
        gateway = ExitGateway(path, connect_timeout_s=5, timeout_s=5)
        with pytest.raises(ProtocolError):
            gateway.status()
        server.join(5)
        assert gateway._sock is None, "a connection out of step is dropped"
