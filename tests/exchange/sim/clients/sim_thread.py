"""The simulator for the third-party client tests: a real `SimExchange` on 127.0.0.1:0,
served from its own event loop in a background thread.

The clients under test (the official SDK's REST client, ccxt's sync `binanceusdm`) block on
`requests`, so the exchange cannot share their thread; the SDK's websocket client runs on the
test's own loop. Admin calls go through the stdlib with no proxy, so nothing here can reach
beyond loopback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from typing import Any

from exitd.exchange.sim.server import SimExchange

API_KEY = "client-key-" + "c" * 53
API_SECRET = "client-secret-" + "d" * 50
START_TIMEOUT_S = 10.0
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RunningSim:
    """A started simulator on its own loop; admin endpoints as plain calls."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim", daemon=True)
        self.exchange: SimExchange | None = None

    def start(self) -> None:
        self._thread.start()
        self.exchange = self._run(self._start())

    def stop(self) -> None:
        try:
            if self.exchange is not None:
                self._run(self.exchange.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
            self._loop.close()

    async def _start(self) -> SimExchange:
        exchange = SimExchange(api_key=API_KEY, api_secret=API_SECRET)
        await exchange.start()
        return exchange

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(START_TIMEOUT_S)

    def clock_ms(self) -> int:
        """The exchange's clock (Unix ms), the one its answers are stamped with."""
        assert self.exchange is not None
        return self.exchange.clock()

    @property
    def rest_url(self) -> str:
        assert self.exchange is not None
        return self.exchange.rest_url

    @property
    def ws_url(self) -> str:
        assert self.exchange is not None
        return self.exchange.ws_url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """One /sim/ call; its JSON answer (an HTTP error raises)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.rest_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with _NO_PROXY.open(request, timeout=START_TIMEOUT_S) as response:
            return json.loads(response.read())

    def price(self, symbol: str, price: str) -> Any:
        return self.admin("POST", "/sim/price", {"symbol": symbol, "price": price})

    def position(self, symbol: str, side: str, qty: str, price: str) -> Any:
        body = {"symbol": symbol, "side": side, "qty": qty, "price": price}
        return self.admin("POST", "/sim/position", body)
