"""Mark prices over one websocket: `/market/stream` plus SUBSCRIBE/UNSUBSCRIBE messages
(binance-usdm.md §8.1, §8.3; `/market` is the route that serves `@markPrice` since 2026-04).

The connection is owned by `events()`: it connects, subscribes every current symbol, yields
`StreamReset`, then prices; when the socket ends it reconnects with backoff and does it again.
`subscribe()`/`unsubscribe()` change the set and, while connected, send the request and wait
(bounded) for its answer, so a caller knows the exchange has taken it. A subscribed symbol
silent for `stale_after_s` is reported once as `StreamStale` until it ticks again (the symbols
are scanned only when the earliest of them could be stale, not on every frame); a dead
socket is found by aiohttp's ping heartbeat, which closes it and so triggers a reconnect.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import anyio
import orjson
import structlog

from exitd.exchange.binance.backoff import Backoff
from exitd.exchange.binance.codec import DECODE_ERRORS, BadPayload, mark_price_update
from exitd.exchange.binance.codec_user import unwrap
from exitd.exchange.port import MarketEvent, MarkPrice, StreamReset, StreamStale

log = structlog.get_logger("exitd.exchange")
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
           aiohttp.WSMsgType.ERROR)  # fmt: skip
_IDLE_WAIT_S = 60.0  # nothing subscribed: wake now and then anyway
HANDSHAKE_TIMEOUT_S = 10.0  # the session's own default would wait 5 minutes


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@markPrice@1s"


class BinanceMarketStream:
    """A `MarketStream` on one connection to `<ws_url>/market/stream`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ws_url: str,
        *,
        stale_after_s: float = 10.0,
        backoff: Backoff | None = None,
        heartbeat_s: float = 30.0,
        answer_timeout_s: float = 5.0,
    ) -> None:
        self._session = session
        self._url = f"{ws_url.rstrip('/')}/market/stream"
        self._stale_after_s = stale_after_s
        self._backoff = backoff or Backoff()
        self._heartbeat_s = heartbeat_s
        self._answer_timeout_s = answer_timeout_s
        self._last_tick: dict[str, float] = {}  # subscribed symbol -> monotonic time of news
        self._stale: set[str] = set()
        # No fresh symbol can be stale before this (monotonic); inf: no fresh symbol.
        self._check_at = math.inf
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 0
        self._answers: dict[int, anyio.Event] = {}

    # --- the port -------------------------------------------------------------------------------

    async def subscribe(self, symbols: Sequence[str]) -> None:
        new = [s for s in dict.fromkeys(symbols) if s not in self._last_tick]
        now = time.monotonic()
        self._last_tick.update(dict.fromkeys(new, now))
        if new:
            self._check_at = min(self._check_at, now + self._stale_after_s)
        if new:
            await self._request("SUBSCRIBE", new)

    async def unsubscribe(self, symbols: Sequence[str]) -> None:
        gone = [s for s in dict.fromkeys(symbols) if s in self._last_tick]
        for symbol in gone:
            del self._last_tick[symbol]
            self._stale.discard(symbol)
        if gone:
            await self._request("UNSUBSCRIBE", gone)

    async def events(self) -> AsyncIterator[MarketEvent]:
        reason = "connected"
        while (ws := await self._connect()) is not None:
            try:
                yield StreamReset(reason)
                while (batch := await self._next(ws)) is not None:
                    for event in batch:
                        yield event
                reason = "reconnected after the market stream closed"
                log.warning("exchange.stream_closed", stream="market", code=ws.close_code)
            finally:
                self._ws = None
                await ws.close()

    # --- connection -----------------------------------------------------------------------------

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        """Connect and subscribe the current symbols, retrying with backoff until it works;
        None once the exchange (its session) is closed: the stream ends."""
        while not self._session.closed:
            try:
                with anyio.fail_after(HANDSHAKE_TIMEOUT_S):
                    ws = await self._session.ws_connect(self._url, heartbeat=self._heartbeat_s)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                log.warning("exchange.stream_connect_failed", stream="market",
                            error=type(e).__name__)  # fmt: skip
            else:
                if await self._resubscribe(ws):
                    self._backoff.reset()
                    return ws
                await ws.close()
            await anyio.sleep(self._backoff.next_delay())
        return None

    async def _resubscribe(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Subscribe everything on a fresh socket and wait for the answer: only then is a
        price pushed after our StreamReset sure to reach us."""
        self._ws = ws
        symbols = list(self._last_tick)
        now = time.monotonic()
        self._last_tick = dict.fromkeys(symbols, now)
        self._stale.clear()
        self._check_at = now + self._stale_after_s if symbols else math.inf
        if not symbols:
            return True
        request_id = self._new_id()
        try:
            await ws.send_str(_request_frame("SUBSCRIBE", symbols, request_id))
            with anyio.fail_after(self._answer_timeout_s):
                while True:
                    message = await ws.receive()
                    if message.type in _CLOSED:
                        return False
                    answer = _answer(message.data)
                    if answer is not None:
                        self._answered(answer)  # a concurrent subscribe() may wait for its own
                        if answer.get("id") == request_id:
                            return True  # a refusal is logged; reconnecting would not fix it
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as e:
            log.warning("exchange.stream_subscribe_failed", stream="market",
                        error=type(e).__name__)  # fmt: skip
            return False

    async def _request(self, method: str, symbols: list[str]) -> None:
        """Send a (UN)SUBSCRIBE on the live socket and wait for its answer (bounded); with no
        socket, the next connection subscribes the whole set anyway."""
        ws = self._ws
        if ws is None or ws.closed:
            return
        request_id = self._new_id()
        answered = self._answers[request_id] = anyio.Event()
        try:
            await ws.send_str(_request_frame(method, symbols, request_id))
            with anyio.move_on_after(self._answer_timeout_s):
                await answered.wait()
        except (aiohttp.ClientError, ConnectionError) as e:
            log.warning("exchange.stream_request_failed", stream="market", method=method,
                        error=type(e).__name__)  # fmt: skip
        finally:
            self._answers.pop(request_id, None)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- reading --------------------------------------------------------------------------------

    async def _next(self, ws: aiohttp.ClientWebSocketResponse) -> list[MarketEvent] | None:
        """The events of the next frame or stale deadline; None when the socket ended."""
        try:
            message = await ws.receive(timeout=self._wait_s())
        except TimeoutError:
            return self._stale_check()
        if message.type in _CLOSED:
            return None
        if message.type is not aiohttp.WSMsgType.TEXT:
            return []
        events: list[MarketEvent] = []
        price = self._decode(message.data)
        if price is not None and price.symbol in self._last_tick:
            now = time.monotonic()
            self._last_tick[price.symbol] = now
            if price.symbol in self._stale:
                self._stale.discard(price.symbol)
                self._check_at = min(self._check_at, now + self._stale_after_s)
            events.append(price)
        stale = self._stale_check()
        return events + stale

    def _decode(self, data: str) -> MarkPrice | None:
        try:
            message = orjson.loads(data)  # once: a frame is either an answer or a payload
            answer = _as_answer(message)
            if answer is not None:
                self._answered(answer)
                return None
            payload = unwrap(message)
            if payload.get("e") != "markPriceUpdate":
                raise BadPayload(f"unexpected event {payload.get('e')!r}")
            return mark_price_update(payload)
        except DECODE_ERRORS as e:
            log.warning("exchange.bad_frame", stream="market", error=str(e))
            return None

    def _answered(self, message: dict[str, Any]) -> None:
        if message.get("error") is not None:
            log.warning("exchange.stream_request_refused", stream="market",
                        error=message.get("error"))  # fmt: skip
        request_id = message.get("id")
        event = self._answers.get(request_id) if isinstance(request_id, int) else None
        if event is not None:
            event.set()

    def _wait_s(self) -> float:
        """Until the next symbol would turn stale (aiohttp reads 0 as "no timeout")."""
        if self._check_at == math.inf:
            return _IDLE_WAIT_S
        return max(0.001, self._check_at - time.monotonic())

    def _stale_check(self) -> list[MarketEvent]:
        now = time.monotonic()
        if now < self._check_at:
            return []
        silent = {
            s: now - t
            for s, t in self._last_tick.items()
            if s not in self._stale and now - t >= self._stale_after_s
        }
        self._stale.update(silent)
        fresh = [t for s, t in self._last_tick.items() if s not in self._stale]
        self._check_at = min(fresh) + self._stale_after_s if fresh else math.inf
        if not silent:
            return []
        return [StreamStale(tuple(sorted(silent)), int(max(silent.values()) * 1000))]


def _request_frame(method: str, symbols: list[str], request_id: int) -> str:
    params = [stream_name(s) for s in symbols]
    return orjson.dumps({"method": method, "params": params, "id": request_id}).decode()


def _answer(data: Any) -> dict[str, Any] | None:
    """A request's answer frame (`{"result"|"error", "id"}`), else None."""
    try:
        message = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return _as_answer(message)


def _as_answer(message: Any) -> dict[str, Any] | None:
    if isinstance(message, dict) and "id" in message and "stream" not in message:
        return message
    return None


__all__ = ["BinanceMarketStream", "stream_name"]
