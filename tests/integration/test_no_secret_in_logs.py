"""No secret in any log line: a full session of the real daemon on the simulator at debug
level, everything written to stdout and stderr captured, searched for the API key, the API
secret, every signature the simulator received and every listen key it handed out.

The session goes through adoption, a breakeven amendment answered 503 (an unknown outcome,
looked up), take-profit fills (one while the user stream is away, found by reconciliation),
an expired listen key and dropped sockets (reconnects), a legacy order the exchange refuses;
then the paths a library or a crash would take: an exception quoting a signed URL raised in a
frame holding the secret, aiohttp's loggers at debug and info with a signed URL and its
headers, and an uncaught exception.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import anyio
import orjson
import pytest
import structlog
from aiohttp import web

from exitd.actors.legacy import submit_order
from exitd.engine import OrderSide
from exitd.exchange.port import OrderRequest, Rejected
from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import parse_config
from exitd.ops.logs import configure_logging
from exitd.ops.metrics import OrderKind
from tests.exchange.sim.server_harness import API_KEY, API_SECRET, Client
from tests.integration.harness import ENVIRON, WAIT_S, Live, config_text, daemon_running
from tests.integration.test_faults import price_seen, set_faults

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
DOTTED = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The test process's logging as it was, after a test configured exitd's."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    yield
    structlog.configure(**saved)
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    sys.excepthook = hook
    logging.captureWarnings(False)


class Seen:
    """What crossed the wire that must never be logged: signatures, keys, listen keys."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    @web.middleware
    async def record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        for name in ("signature", "listenKey"):
            if name in request.query:
                self.values.add(request.query[name])
        if "X-MBX-APIKEY" in request.headers:
            self.values.add(request.headers["X-MBX-APIKEY"])
        return await handler(request)


def legacy_stop(client_order_id: str) -> OrderRequest:
    return OrderRequest(
        SYMBOL,
        client_order_id,
        OrderSide.SELL,
        "STOP_MARKET",
        trigger_price=D("39000"),
        close_position=True,
    )


async def session(live: Live) -> None:
    await live.price(SYMBOL, "40000")
    await live.open(SYMBOL, "LONG", "1", "40000")
    await live.settle(SYMBOL)
    await set_faults(
        live, {"unknown_status": {"POST /fapi/v1/algoOrder": {"rate": 1.0, "answer": "timeout"}}}
    )
    await live.price(SYMBOL, "40350")  # breakeven: the working stop, answered 503
    await live.settle(SYMBOL)
    await set_faults(live, {"expire_listen_key": True, "refuse_websockets_s": 1})
    await live.price(SYMBOL, "40400")  # TP1 fills while the user stream is away
    await live.settle(SYMBOL)
    await set_faults(live, {"drop_websockets": True})
    await price_seen(live, SYMBOL, "40390")
    with anyio.fail_after(WAIT_S):  # the user stream back too: connected, new key, new socket
        while live.daemon.account.user_stream_connections < 3:
            await live.daemon.activity.wait()
    await live.settle(SYMBOL)
    await live.price(SYMBOL, "40800")  # TP2 fills, seen on the new stream
    await live.settle(SYMBOL)
    answer = await submit_order(
        live.daemon.gateway.mailbox, "position_monitor", OrderKind.SL, legacy_stop("pm-sl-1")
    )
    assert isinstance(answer.outcome, Rejected)


def library_and_crash_paths(signature: str) -> None:
    signed = f"http://127.0.0.1/fapi/v1/order?symbol={SYMBOL}&timestamp=1&signature={signature}"
    api_secret = API_SECRET  # a frame holding the secret: its locals must never be printed

    def send() -> None:
        raise RuntimeError(f"POST {signed} failed with key {API_KEY} ({len(api_secret)})")

    try:
        send()
    except RuntimeError:
        structlog.get_logger("exitd.test").exception("test.adapter_failed")
    logging.getLogger("aiohttp.client").debug(
        "request %s headers %r", signed, {"X-MBX-APIKEY": API_KEY}
    )
    logging.getLogger("aiohttp.access").info('127.0.0.1 "GET %s HTTP/1.1" 200', signed)
    try:
        raise ValueError(f"crashed reading {signed}")
    except ValueError:
        sys.excepthook(*sys.exc_info())


async def test_a_debug_session_logs_no_key_secret_signature_or_listen_key(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("debug", "json")  # as `exitd run` does, onto the captured stdout
    seen = Seen()
    sim = SimExchange(api_key=API_KEY, api_secret=API_SECRET)
    sim.app.middlewares.insert(0, seen.record)
    await sim.start()
    try:
        text = config_text(sim).replace('log_level = "warning"', 'log_level = "debug"')
        config = parse_config(text, "test.toml", ENVIRON, base_dir=tmp_path)
        async with aiohttp.ClientSession() as http, daemon_running(config) as daemon:
            live = Live(sim, Client(http, sim.rest_url, sim.clock), daemon, tmp_path / "state")
            with anyio.fail_after(60):
                await session(live)
    finally:
        await sim.stop()
    signatures = [v for v in seen.values if v not in (API_KEY,) and len(v) == 64]
    assert signatures, "the simulator saw no signed request"
    library_and_crash_paths(signatures[0])

    out, err = capfd.readouterr()
    logged = out + err
    for must in ("plan.adopted", "exit_gateway.unknown", "exit.filled", "exchange.refused",
                 "reconcile.ended_unseen", "price_feed.reconnected", "test.adapter_failed",
                 "aiohttp.access", "daemon.uncaught"):  # fmt: skip
        assert must in logged, f"{must} was not logged: the capture missed the session"
    assert API_KEY not in logged
    assert API_SECRET not in logged
    for value in seen.values:
        assert value not in logged
    assert "signature=***" in logged  # there, and masked

    lines = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    own = [line for line in lines if "logger" not in line]  # stdlib lines name their logger
    assert all(DOTTED.fullmatch(line["event"]) for line in own), [
        line["event"] for line in own if not DOTTED.fullmatch(line["event"])
    ]
    [failure] = [line for line in lines if line["event"] == "test.adapter_failed"]
    frames = [f for e in failure["exception"] for f in e["frames"]]
    assert frames and all("locals" not in f for f in frames)
