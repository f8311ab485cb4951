"""Each fault of POST /sim/faults, against the real server (RELIABILITY.md §2)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anyio
import pytest
from server_harness import Client, running

from exitd.exchange.sim.faults import FaultError, named_symbols, parse_faults
from exitd.exchange.sim.limits import RateLimits

pytestmark = pytest.mark.anyio
ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.002",
    "price": "60000",
    "newClientOrderId": "xd-fault-1",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _faults(client: Client, body: dict[str, Any]) -> None:
    answer = await client.admin("POST", "/sim/faults", body)
    assert answer.status == 200, answer.body


async def _time(client: Client) -> int:
    return (await client.call("GET", "/fapi/v1/time", signed=False)).status


async def test_latency_is_added_to_the_endpoint_only() -> None:
    async with running() as (_ex, client):
        await _faults(client, {"latency_ms": {"GET /fapi/v1/time": 300}})
        started = time.monotonic()
        assert await _time(client) == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        await client.call("GET", "/fapi/v1/ping", signed=False)
        assert time.monotonic() - started < 0.3


async def test_error_rate_refuses_without_executing() -> None:
    async with running() as (ex, client):
        await _faults(client, {"errors": {"POST /fapi/v1/order": {"rate": 1.0}}})
        answer = await client.call("POST", "/fapi/v1/order", ORDER)
        assert (answer.status, answer.body["code"]) == (500, -1000)
        assert ex.account.ledger.orders == []
        await _faults(client, {"errors": {"/fapi/v1/order": {"kind": "service_unavailable"}}})
        answer = await client.call("POST", "/fapi/v1/order", ORDER)
        assert (answer.status, answer.body["msg"]) == (503, "Service Unavailable.")
        assert ex.account.ledger.orders == []


async def test_error_rate_is_seeded() -> None:
    async with running() as (_ex, client):
        patterns = []
        for _ in range(2):
            await _faults(client, {"seed": 3, "errors": {"*": {"rate": 0.5}}})
            patterns.append([await _time(client) for _ in range(16)])
        assert patterns[0] == patterns[1]
        assert set(patterns[0]) == {200, 500}


async def test_unknown_status_answers_503_but_the_order_is_executed() -> None:
    async with running() as (ex, client):
        await client.admin("POST", "/sim/price", {"symbol": "BTCUSDT", "price": "65000"})
        await _faults(client, {"unknown_status": {"POST /fapi/v1/order": {"answer": "timeout"}}})
        answer = await client.call("POST", "/fapi/v1/order", ORDER)
        assert (answer.status, answer.body["code"]) == (503, -1007)
        query = await client.call(
            "GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": "xd-fault-1"}
        )
        assert query.status == 200 and query.body["status"] == "NEW"
        await _faults(client, {"unknown_status": {"/fapi/v1/order": {"answer": "unknown_error"}}})
        answer = await client.call("POST", "/fapi/v1/order", {**ORDER, "newClientOrderId": "b"})
        assert answer.status == 503
        assert answer.body["msg"] == "Unknown error, please check your request or try again later."
        assert len(ex.account.open_orders("BTCUSDT")) == 2


async def test_429_storm_then_418_when_the_client_keeps_going() -> None:
    async with running() as (_ex, client):
        await _faults(client, {"rate_limit_storm_s": 30})
        first = await client.call("GET", "/fapi/v1/time", signed=False)
        assert (first.status, first.body["code"]) == (429, -1003)
        assert 1 <= int(first.headers["Retry-After"]) <= 30
        second = await client.call("GET", "/fapi/v1/time", signed=False)
        assert (second.status, second.body["code"]) == (418, -1003)


@pytest.mark.parametrize("banned", [False, True])
async def test_clearing_faults_lifts_the_storms_cooldown_and_ban(banned: bool) -> None:
    # The limiter kept the storm's Retry-After cooldown (and any ban it led to), so the first
    # request after DELETE /sim/faults was banned with 418 for minutes.
    async with running() as (_ex, client):
        await _faults(client, {"rate_limit_storm_s": 30})
        assert await _time(client) == 429
        if banned:
            assert await _time(client) == 418
        assert (await client.admin("DELETE", "/sim/faults")).status == 200
        assert await _time(client) == 200


async def test_418_after_persisting_past_the_weight_limit() -> None:
    now = [1_700_000_000_000]
    async with running(clock=lambda: now[0], limits=RateLimits(weight_per_minute=3)) as (
        _ex,
        client,
    ):
        assert [await _time(client) for _ in range(3)] == [200, 200, 200]
        limited = await client.call("GET", "/fapi/v1/time", signed=False)
        assert limited.status == 429 and "Retry-After" in limited.headers
        assert await _time(client) == 418
        now[0] += 125_000  # past the 2-minute first ban
        assert await _time(client) == 200


async def test_clearing_faults_restores_service() -> None:
    async with running() as (_ex, client):
        await _faults(client, {"errors": {"*": {"rate": 1.0}}, "latency_ms": {"*": 50}})
        assert await _time(client) == 500
        await client.admin("DELETE", "/sim/faults")
        assert await _time(client) == 200


async def test_drop_every_websocket_now() -> None:
    async with running() as (ex, client):
        ws = await client.session.ws_connect(f"{ex.ws_url}/market/ws/btcusdt@markPrice")
        try:
            await _faults(client, {"drop_websockets": True})
            with anyio.fail_after(5):
                message = await ws.receive()
            assert message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            )
        finally:
            await ws.close()


async def test_refuse_websocket_connects_for_a_while() -> None:
    now = [1_700_000_000_000]
    async with running(clock=lambda: now[0]) as (ex, client):
        await _faults(client, {"refuse_websockets_s": 10})
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await client.session.ws_connect(f"{ex.ws_url}/market/ws/btcusdt@markPrice")
        now[0] += 10_001
        async with client.session.ws_connect(f"{ex.ws_url}/market/ws/btcusdt@markPrice"):
            pass


async def test_expire_the_listen_key() -> None:
    async with running() as (_ex, client):
        await client.call("POST", "/fapi/v1/listenKey", signed=False)
        await _faults(client, {"expire_listen_key": True})
        kept = await client.call("PUT", "/fapi/v1/listenKey", signed=False)
        assert (kept.status, kept.body["code"]) == (400, -1125)


async def test_bad_fault_bodies_are_400() -> None:
    async with running() as (_ex, client):
        answer = await client.admin("POST", "/sim/faults", {"latency": 5})
        assert answer.status == 400 and "unknown fault keys" in answer.body["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"errors": {"*": {"rate": 2}}},
        {"errors": {"*": {"kind": "nope"}}},
        {"unknown_status": {"*": 1}},
        {"latency_ms": {"*": -1}},
        {"seed": "x"},
        {"drop_websockets": "yes"},
        [],
    ],
)
def test_parse_faults_refuses_bad_values(body: Any) -> None:
    with pytest.raises(FaultError):
        parse_faults(body)


async def test_symbol_latency_delays_only_requests_naming_the_symbol() -> None:
    async with running() as (_ex, client):
        await _faults(client, {"symbol_latency_ms": {"ETHUSDT": 2000}})
        slow_done = anyio.Event()
        finished: list[str] = []

        async def slow(params: dict[str, Any]) -> None:
            answer = await client.call("GET", "/fapi/v1/openOrders", params)
            assert answer.status == 200
            finished.append(params["symbol"])
            slow_done.set()

        async with anyio.create_task_group() as tasks:
            started = time.monotonic()
            tasks.start_soon(slow, {"symbol": "ETHUSDT"})
            # Served while the ETHUSDT request waits: the server is not blocked by it.
            for _ in range(3):
                fast = await client.call("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
                assert fast.status == 200
                assert not slow_done.is_set()
            assert time.monotonic() - started < 2.0
            with anyio.fail_after(10):
                await slow_done.wait()
            assert time.monotonic() - started >= 2.0
        assert finished == ["ETHUSDT"]


async def test_symbol_latency_reads_form_bodies_and_batch_items() -> None:
    assert named_symbols("symbol=ETHUSDT&timestamp=1", "") == {"ETHUSDT"}
    assert named_symbols("timestamp=1", "symbol=BTCUSDT&side=BUY") == {"BTCUSDT"}
    batch = 'batchOrders=[{"symbol":"ETHUSDT"},{"symbol":"XRPUSDT"}]'
    assert named_symbols(batch, "") == {"ETHUSDT", "XRPUSDT"}
    assert named_symbols("batchOrders=[[[", "") == set()
    with pytest.raises(FaultError):
        parse_faults({"symbol_latency_ms": {"ETHUSDT": float("nan")}})
    with pytest.raises(FaultError):
        parse_faults({"symbol_latency_ms": {"ETHUSDT": 10**9}})
