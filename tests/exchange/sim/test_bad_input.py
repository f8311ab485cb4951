"""Bad input never gets a 500 or a hang: every kind of malformed request, over aiohttp and raw
sockets, is answered within a timeout with a 4xx in the exchange's JSON shape, changes
nothing (ledger, faults, prices), and the simulator serves a good request afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
import orjson
import pytest
from server_harness import API_KEY, API_SECRET, Client, running

from exitd.exchange.sim.numbers import MAX_BODY_BYTES, MAX_FIELDS
from exitd.exchange.sim.server import SimExchange

pytestmark = pytest.mark.anyio
ANSWER_WITHIN_S = 5.0
BODY_TIMEOUT_S = 0.5
HUGE_INT = "1" * 5000
POSITION_AS_NUMBER = b'{"symbol":"BTCUSDT","side":"LONG","price":"65000","qty":1' + b"0" * 25 + b"}"
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


Send = Callable[[SimExchange, Client], Awaitable[Reply]]


async def _raw(port: int, data: bytes) -> Reply:
    """Send `data` on a fresh socket (and nothing more: it may be half a request); read the
    answer's head and its Content-Length of body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return Reply(status, orjson.loads(await reader.readexactly(length)))
    finally:
        writer.close()


def _signed(params: dict[str, str], clock: Callable[[], int]) -> str:
    query = urlencode({**params, "timestamp": clock()})
    sig = hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={sig}"


async def _fapi(client: Client, method: str, path: str, params: dict[str, str]) -> Reply:
    answer = await client.call(method, path, params)
    return Reply(answer.status, answer.body)


async def _fapi_body(client: Client, path: str, body: str | bytes) -> Reply:
    """A POST whose parameters travel in a form body, as ccxt and the SDK send them."""
    headers = {"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    async with client.session.post(f"{client.base}{path}", data=body, headers=headers) as r:
        return Reply(r.status, orjson.loads(await r.read()))


async def _admin(client: Client, method: str, path: str, body: bytes) -> Reply:
    async with client.session.request(method, f"{client.base}{path}", data=body) as r:
        return Reply(r.status, orjson.loads(await r.read()))


ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.010", "price": "60000"}  # fmt: skip


def order(**changes: str) -> Send:
    return lambda ex, c: _fapi(c, "POST", "/fapi/v1/order", {**ORDER, **changes})


def fapi(method: str, path: str, **params: str) -> Send:
    return lambda ex, c: _fapi(c, method, path, params)


def admin(method: str, path: str, body: Any) -> Send:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return lambda ex, c: _admin(c, method, path, raw)


def raw(data: bytes) -> Send:
    return lambda ex, c: _raw(ex.port, data)


def signed_body(path: str, params: dict[str, str]) -> Send:
    return lambda ex, c: _fapi_body(c, path, _signed(params, c.clock))


def _position(qty: str, price: str = "65000") -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "LONG", "qty": qty, "price": price}


def _price(price: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "price": price}


CASES: dict[str, Send] = {
    # integers of thousands of digits
    "orderId of 5000 digits": fapi("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=HUGE_INT),
    "quantity of 5000 digits": order(quantity=HUGE_INT),
    "timestamp of 5000 digits": lambda ex, c: _fapi_call_ts(c, HUGE_INT),
    "recvWindow of 5000 digits": fapi("GET", "/fapi/v2/balance", recvWindow=HUGE_INT),
    "leverage of 5000 digits": fapi(
        "POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage=HUGE_INT
    ),
    "orderId of 20 digits": fapi("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId="9" * 20),
    # exponents, NaN, Infinity
    "quantity 1e999": order(quantity="1e999"),
    "price 1e999": order(price="1e999"),
    "quantity NaN": order(quantity="NaN"),
    "price Infinity": order(price="Infinity"),
    "price -Infinity": order(price="-Infinity"),
    "timestamp 1e999": lambda ex, c: _fapi_call_ts(c, "1e999"),
    # a trailing newline
    "quantity with a trailing newline": order(quantity="0.010\n"),
    "price with a trailing newline": order(price="60000\n"),
    "orderId with a trailing newline": fapi(
        "GET", "/fapi/v1/order", symbol="BTCUSDT", orderId="1\n"
    ),
    "leverage with a trailing newline": fapi(
        "POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage="20\n"
    ),
    # JSON nested thousands deep
    "batchOrders nested 5000 deep": signed_body("/fapi/v1/batchOrders", {"batchOrders": DEEP}),
    "orderIdList nested 5000 deep": lambda ex, c: _fapi_body_delete(c, DEEP),
    "batch item with a NaN": signed_body(
        "/fapi/v1/batchOrders", {"batchOrders": '[{"symbol":"BTCUSDT","quantity":NaN}]'}
    ),
    # unknown paths and methods
    "unknown /fapi path": fapi("GET", "/fapi/v1/nothingHere"),
    "unknown root path": raw(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"),
    "PUT on an order route": fapi("PUT", "/fapi/v1/order", **ORDER),
    "PATCH on an admin route": admin("PATCH", "/sim/price", _price("65000")),
    "a method that is no token": raw(b"G(T /fapi/v1/time HTTP/1.1\r\nHost: x\r\n\r\n"),
    "not HTTP at all": raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    # oversized URLs and bodies, too many parameters
    "a URL of 20000 bytes": raw(b"GET /fapi/v1/time?a=" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"),
    "a body of 2 MiB": lambda ex, c: _fapi_body(c, "/fapi/v1/order", b"a" * (2 * MAX_BODY_BYTES)),
    "an admin body of 2 MiB": admin("POST", "/sim/price", b" " * (2 * MAX_BODY_BYTES)),
    "too many parameters": lambda ex, c: _fapi_body(
        c, "/fapi/v1/order", "&".join(f"p{i}=1" for i in range(MAX_FIELDS + 1))
    ),
    # half a body, then nothing
    "half a body, then a stall": raw(
        b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nsymbol=BTC"
    ),
    "half an admin body, then a stall": raw(
        b'POST /sim/price HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"symbol"'
    ),
    # admin bodies that would leave the account in a state it cannot serve
    "a position of 1e25": admin("POST", "/sim/position", _position("1e25")),
    "a position of 10^25 in digits": admin("POST", "/sim/position", _position("1" + "0" * 25)),
    "a position of 10^25 as a JSON number": admin("POST", "/sim/position", POSITION_AS_NUMBER),
    "a position above MARKET_LOT_SIZE": admin("POST", "/sim/position", _position("1001")),
    "a position at a price of 1e999": admin("POST", "/sim/position", _position("1", "1e999")),
    "a price of 0": admin("POST", "/sim/price", _price("0")),
    "a negative price": admin("POST", "/sim/price", _price("-65000")),
    "a price of 1e999": admin("POST", "/sim/price", _price("1e999")),
    "a price of 1e999 as a JSON number": admin(
        "POST", "/sim/price", b'{"symbol":"BTCUSDT","price":1e999}'
    ),
    "a price of NaN": admin("POST", "/sim/price", _price("NaN")),
    "a price NaN as JSON": admin("POST", "/sim/price", b'{"symbol":"BTCUSDT","price":NaN}'),
    "a price with a trailing newline": admin("POST", "/sim/price", _price("65000\n")),
    "a price above the symbol's maxPrice": admin("POST", "/sim/price", _price("9999999")),
    "a price of 5000 digits": admin("POST", "/sim/price", _price(HUGE_INT)),
    "a fault rate of NaN": admin("POST", "/sim/faults", b'{"errors": {"*": {"rate": NaN}}}'),
    "a fault rate of 1e999": admin("POST", "/sim/faults", b'{"errors": {"*": {"rate": 1e999}}}'),
    "a latency of Infinity": admin("POST", "/sim/faults", b'{"latency_ms": {"*": Infinity}}'),
    "a latency of a year": admin("POST", "/sim/faults", {"latency_ms": {"*": 31_536_000_000}}),
    "a storm of 1e300 s": admin("POST", "/sim/faults", {"rate_limit_storm_s": 1e300}),
    "a fault body nested 100000 deep": admin("POST", "/sim/faults", b"[" * 100_000),
    "an admin body that is no JSON": admin("POST", "/sim/position", b"\xff\xfe{"),
}


async def _fapi_call_ts(client: Client, timestamp: str) -> Reply:
    answer = await client.call("GET", "/fapi/v2/balance", timestamp=timestamp)  # type: ignore[arg-type]
    return Reply(answer.status, answer.body)


async def _fapi_body_delete(client: Client, ids: str) -> Reply:
    body = _signed({"symbol": "BTCUSDT", "orderIdList": ids}, client.clock)
    headers = {"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"}
    url = f"{client.base}/fapi/v1/batchOrders"
    async with client.session.delete(url, data=body, headers=headers) as r:
        return Reply(r.status, orjson.loads(await r.read()))


async def _state(ex: SimExchange, client: Client) -> tuple[Any, ...]:
    ledger = await client.admin("GET", "/sim/ledger")
    assert ledger.status == 200
    marks = {s: ex.mark_price(s) for s in ex.symbols}
    return ledger.body, repr(ex.faults.plan), ex.faults.storm_until_ms, marks


async def _serves(client: Client) -> None:
    assert (await client.call("GET", "/fapi/v1/time", signed=False)).status == 200
    balance = await client.call("GET", "/fapi/v2/balance")
    assert balance.status == 200, balance.body
    price = await client.admin("POST", "/sim/price", _price("65000.1"))
    assert price.status == 200, price.body


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_is_a_4xx_in_json_and_changes_nothing(name: str) -> None:
    async with running(body_timeout_s=BODY_TIMEOUT_S) as (ex, client):
        await client.admin("POST", "/sim/price", _price("65000"))
        await client.admin("POST", "/sim/position", _position("0.010"))
        placed = await client.call("POST", "/fapi/v1/order", ORDER)
        assert placed.status == 200, placed.body
        before = await _state(ex, client)
        with anyio.fail_after(ANSWER_WITHIN_S):
            reply = await CASES[name](ex, client)
        assert 400 <= reply.status < 500, (reply.status, reply.body)
        if isinstance(reply.body, dict) and "error" in reply.body:
            assert isinstance(reply.body["error"], str) and reply.body["error"]
        else:
            assert isinstance(reply.body, dict), reply.body
            assert isinstance(reply.body["code"], int) and reply.body["code"] < 0
            assert isinstance(reply.body["msg"], str) and reply.body["msg"]
        assert await _state(ex, client) == before
        await _serves(client)


async def test_admin_answers_keep_the_admin_shape() -> None:
    async with running() as (_ex, client):
        for method, path, body in (("PATCH", "/sim/price", b"{}"), ("GET", "/sim/nothing", b""),
                                   ("POST", "/sim/price", b'{"price": NaN}')):  # fmt: skip
            reply = await _admin(client, method, path, body)
            assert 400 <= reply.status < 500 and set(reply.body) == {"error"}, reply


async def test_a_stalled_body_does_not_stall_other_clients() -> None:
    async with running(body_timeout_s=3.0) as (ex, client):
        reader, writer = await asyncio.open_connection("127.0.0.1", ex.port)
        writer.write(b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nsy")
        await writer.drain()
        try:
            with anyio.fail_after(2.0):  # well before the stalled body times out
                await _serves(client)
            with anyio.fail_after(ANSWER_WITHIN_S):
                head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408")
        finally:
            writer.close()
