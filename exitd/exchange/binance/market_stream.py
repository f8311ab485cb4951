"""Mark prices over one websocket: `/market/stream` plus SUBSCRIBE/UNSUBSCRIBE messages
(binance-usdm.md §8.1, §8.3; `/market` is the route that serves `@markPrice` since 2026-04).

`run(deliver)` owns the connection (ws_connection.py, websockets' sans-I/O parser on an
asyncio Protocol): it connects, subscribes every current symbol and, when the exchange has
answered, delivers `StreamReset`, then every price from inside the frame's own callback: a
frame wakes no task and arms no timeout. When the socket ends it reconnects (with backoff
after a connection that never came up) and does it again; it returns once `close()` is
called (the exchange closed). `subscribe()`/`unsubscribe()` change the set and, while
connected, send the request and wait (bounded) for its answer, so a caller knows the exchange
has taken it.

The run task sleeps until the next thing is due: the earliest moment a subscribed symbol
could turn stale (reported once as `StreamStale` until it ticks again), the heartbeat (a
ping after `heartbeat_s` of silence, a reconnect after another `heartbeat_s` without an
answer), or the subscription's answer on a fresh socket.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import orjson
import structlog

from exitd.exchange.binance.backoff import Backoff
from exitd.exchange.binance.codec import DECODE_ERRORS, BadPayload, mark_price_update
from exitd.exchange.binance.codec_user import unwrap
from exitd.exchange.binance.ws_connection import WsConnection, connect
from exitd.exchange.port import MarketEvent, MarkPrice, StreamReset, StreamStale

log = structlog.get_logger("exitd.exchange")
HANDSHAKE_TIMEOUT_S = 10.0  # aiohttp's session default would wait 5 minutes


def stream_name(symbol: str) -> str:
    return f"{symbol.lower()}@markPrice@1s"


def _ignore(_event: MarketEvent) -> None:
    """Where events go while nobody runs the stream."""


class BinanceMarketStream:
    """A `MarketStream` on one connection to `<ws_url>/market/stream`."""

    def __init__(
        self,
        ws_url: str,
        *,
        stale_after_s: float = 10.0,
        backoff: Backoff | None = None,
        heartbeat_s: float = 30.0,
        answer_timeout_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._url = f"{ws_url.rstrip('/')}/market/stream"
        self._ssl_context = ssl_context  # wss: None verifies with the system's trust store
        self._stale_after_s = stale_after_s
        self._backoff = backoff or Backoff()
        self._heartbeat_s = heartbeat_s
        self._answer_timeout_s = answer_timeout_s
        self._last_tick: dict[str, float] = {}  # subscribed symbol -> monotonic time of news
        self._stale: set[str] = set()
        # No fresh symbol can be stale before this (monotonic); inf: no fresh symbol.
        self._check_at = math.inf
        self._deliver: Callable[[MarketEvent], None] = _ignore
        self._conn: WsConnection | None = None
        self._live = False  # the current connection's StreamReset was delivered
        self._reset: tuple[int, str] | None = None  # (resubscribe's id, the reset's reason)
        self._answer_due = math.inf  # the resubscribe's answer must come by then
        self._pinged_at: float | None = None  # a heartbeat ping still unanswered
        self._next_id = 0
        self._answers: dict[int, anyio.Event] = {}
        self._closed = False
        self._closing = anyio.Event()

    # --- the port -------------------------------------------------------------------------------

    async def subscribe(self, symbols: Sequence[str]) -> None:
        new = [s for s in dict.fromkeys(symbols) if s not in self._last_tick]
        if not new:
            return
        now = time.monotonic()
        self._last_tick.update(dict.fromkeys(new, now))
        self._check_at = min(self._check_at, now + self._stale_after_s)
        await self._request("SUBSCRIBE", new)

    async def unsubscribe(self, symbols: Sequence[str]) -> None:
        gone = [s for s in dict.fromkeys(symbols) if s in self._last_tick]
        for symbol in gone:
            del self._last_tick[symbol]
            self._stale.discard(symbol)
        if gone:
            await self._request("UNSUBSCRIBE", gone)

    async def run(self, deliver: Callable[[MarketEvent], None]) -> None:
        """Deliver the stream's events until `close()`; raises what `deliver` raised."""
        self._deliver = deliver
        reason = "connected"
        try:
            while (conn := await self._connect(reason)) is not None:
                try:
                    await self._watch(conn)
                finally:
                    self._conn = None
                    conn.close()
                if self._closed:
                    return
                log.warning("exchange.stream_closed", stream="market", reason=conn.end_reason)
                if self._live:
                    reason = "reconnected after the market stream closed"
                else:
                    await self._pause()
        finally:
            self._deliver = _ignore
            self._live = False

    def close(self) -> None:
        """End `run` (the exchange is closed): the connection goes, no other is made."""
        self._closed = True
        self._closing.set()
        if self._conn is not None:
            self._conn.close(reason="the exchange closed")

    # --- connection -----------------------------------------------------------------------------

    async def _connect(self, reason: str) -> WsConnection | None:
        """A connection whose subscription is under way (its answer delivers the reset),
        retrying with backoff until one opens; None once closed."""
        while not self._closed:
            try:
                conn = await connect(
                    self._url, self._on_text, handshake_timeout_s=HANDSHAKE_TIMEOUT_S,
                    ssl_context=self._ssl_context,
                )  # fmt: skip
            except (OSError, TimeoutError) as e:
                log.warning("exchange.stream_connect_failed", stream="market",
                            error=f"{type(e).__name__}: {e}")  # fmt: skip
                await self._pause()
                continue
            if self._closed:
                conn.close(reason="the exchange closed")
                return None
            self._conn = conn
            self._live = False
            self._pinged_at = None
            symbols = list(self._last_tick)
            if symbols:
                request_id = self._new_id()
                self._reset = (request_id, reason)
                self._answer_due = time.monotonic() + self._answer_timeout_s
                conn.send_text(_request_frame("SUBSCRIBE", symbols, request_id))
            else:
                try:
                    self._go_live(reason)
                except BaseException:
                    self._conn = None
                    conn.close()
                    raise
            return conn
        return None

    async def _pause(self) -> None:
        with anyio.move_on_after(self._backoff.next_delay()):
            await self._closing.wait()

    async def _watch(self, conn: WsConnection) -> None:
        """Until the connection ends, waking only when a check is due."""
        while True:
            with anyio.move_on_after(max(0.0, self._wake_at(conn) - time.monotonic())):
                await conn.wait_closed()
                return
            now = time.monotonic()
            if not self._live and now >= self._answer_due:
                log.warning("exchange.stream_subscribe_failed", stream="market",
                            error="no answer to the subscription")  # fmt: skip
                self._answer_due = math.inf
                conn.abort("no answer to the subscription")
            if self._live and now >= self._check_at:
                self._stale_check(now)
            self._heartbeat(conn, now)

    def _wake_at(self, conn: WsConnection) -> float:
        """The next due check; never later than `stale_after_s` from now, so a symbol
        subscribed or ticking again meanwhile is not checked late."""
        now = time.monotonic()
        due = min(self._check_at if self._live else self._answer_due, now + self._stale_after_s)
        if self._pinged_at is not None and conn.received_at <= self._pinged_at:
            return min(due, self._pinged_at + self._heartbeat_s)
        return min(due, conn.received_at + self._heartbeat_s)

    def _heartbeat(self, conn: WsConnection, now: float) -> None:
        if self._pinged_at is not None and conn.received_at > self._pinged_at:
            self._pinged_at = None  # something came in: the peer is alive
        if self._pinged_at is None:
            if now - conn.received_at >= self._heartbeat_s:
                conn.ping()
                self._pinged_at = now
        elif now - self._pinged_at >= self._heartbeat_s:
            conn.abort(f"no answer to a ping in {self._heartbeat_s:g} s")

    def _go_live(self, reason: str) -> None:
        """The subscription stands: from now on every price counts, and the owner knows
        that prices may have been missed."""
        self._reset = None
        self._answer_due = math.inf
        self._live = True
        self._backoff.reset()
        now = time.monotonic()
        self._last_tick = dict.fromkeys(self._last_tick, now)
        self._stale.clear()
        self._check_at = now + self._stale_after_s if self._last_tick else math.inf
        self._deliver(StreamReset(reason))

    async def _request(self, method: str, symbols: list[str]) -> None:
        """Send a (UN)SUBSCRIBE on the open socket and wait for its answer (bounded); with no
        socket, the next connection subscribes the whole set anyway."""
        conn = self._conn
        if conn is None or not conn.open:
            return
        request_id = self._new_id()
        answered = self._answers[request_id] = anyio.Event()
        try:
            conn.send_text(_request_frame(method, symbols, request_id))
            with anyio.move_on_after(self._answer_timeout_s):
                await answered.wait()
        finally:
            self._answers.pop(request_id, None)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- reading: called by the connection for every text frame ---------------------------------

    def _on_text(self, text: str) -> None:
        price = self._decode(text)
        if price is None or not self._live or price.symbol not in self._last_tick:
            return
        now = time.monotonic()
        self._last_tick[price.symbol] = now
        if self._stale and price.symbol in self._stale:
            self._stale.discard(price.symbol)
            self._check_at = min(self._check_at, now + self._stale_after_s)
        self._deliver(price)

    def _decode(self, data: str) -> MarkPrice | None:
        try:
            message = orjson.loads(data)  # once: a frame is either an answer or a payload
            if isinstance(message, dict) and "id" in message and "stream" not in message:
                self._answered(message)
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
        if self._reset is not None and request_id == self._reset[0]:
            self._go_live(self._reset[1])  # a refusal too: reconnecting would not fix it
            return
        event = self._answers.get(request_id) if isinstance(request_id, int) else None
        if event is not None:
            event.set()

    def _stale_check(self, now: float) -> None:
        silent = {
            s: now - t
            for s, t in self._last_tick.items()
            if s not in self._stale and now - t >= self._stale_after_s
        }
        self._stale.update(silent)
        fresh = [t for s, t in self._last_tick.items() if s not in self._stale]
        self._check_at = min(fresh) + self._stale_after_s if fresh else math.inf
        if silent:
            self._deliver(StreamStale(tuple(sorted(silent)), int(max(silent.values()) * 1000)))


def _request_frame(method: str, symbols: list[str], request_id: int) -> str:
    params = [stream_name(s) for s in symbols]
    return orjson.dumps({"method": method, "params": params, "id": request_id}).decode()


__all__ = ["HANDSHAKE_TIMEOUT_S", "BinanceMarketStream", "stream_name"]
