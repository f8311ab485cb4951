"""The account's user-data stream (binance-usdm.md §9): listen key, connection, keepalive.

`events()` owns it all: it creates (or re-reads) the listen key with POST /fapi/v1/listenKey,
connects to `/private/ws?listenKey=…&events=…` (the routed form, §9.1), yields `StreamReset`,
then the account's events. Every 30 minutes it extends the key with PUT; a -1125 answer or a
`listenKeyExpired` event makes it create a key again, a closed socket makes it reconnect
with backoff, and each time the caller gets a new `StreamReset` to reconcile from. The key is
a bearer secret for the account's events: it never reaches a log (paths only).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import anyio
import orjson
import structlog
from yarl import URL

from exitd.exchange.binance.backoff import Backoff
from exitd.exchange.binance.codec import DECODE_ERRORS
from exitd.exchange.binance.codec_user import KeyExpired, unwrap, user_events
from exitd.exchange.binance.market_stream import HANDSHAKE_TIMEOUT_S
from exitd.exchange.binance.rest import Reply, RestClient
from exitd.exchange.port import OrderUpdate, PositionUpdate, Rejected, StreamReset, UserEvent

log = structlog.get_logger("exitd.exchange")
EVENTS = "ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/ALGO_UPDATE"
KEEPALIVE_S = 30 * 60.0  # the key lives 60 min from its last keepalive (§9.1)
KEEPALIVE_RETRY_S = 60.0
INVALID_LISTEN_KEY = -1125
_CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
           aiohttp.WSMsgType.ERROR)  # fmt: skip


class UserStream:
    """One account's events, over as many keys and connections as it takes."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        rest: RestClient,
        ws_url: str,
        *,
        backoff: Backoff | None = None,
        keepalive_s: float = KEEPALIVE_S,
        heartbeat_s: float = 30.0,
    ) -> None:
        self._session = session
        self._rest = rest
        self._url = f"{ws_url.rstrip('/')}/private/ws"
        self._backoff = backoff or Backoff()
        self._keepalive_s = keepalive_s
        self._heartbeat_s = heartbeat_s
        self._keepalive_at = 0.0

    async def events(self) -> AsyncIterator[UserEvent]:
        reason = "connected"
        while (ws := await self._connect()) is not None:
            self._keepalive_at = time.monotonic() + self._keepalive_s
            try:
                yield StreamReset(reason)
                while isinstance(batch := await self._next(ws), list):
                    for event in batch:
                        yield event
                reason = batch
            finally:
                await ws.close()

    async def _next(self, ws: aiohttp.ClientWebSocketResponse) -> list[UserEvent] | str:
        """The events of the next frame ([] after a keepalive); a str says why to reconnect."""
        try:
            message = await ws.receive(timeout=max(0.001, self._keepalive_at - time.monotonic()))
        except TimeoutError:
            return await self._keepalive()
        if message.type in _CLOSED:
            log.warning("exchange.stream_closed", stream="user", code=ws.close_code)
            return "reconnected after the user stream closed"
        if message.type is not aiohttp.WSMsgType.TEXT:
            return []
        decoded = _decode(message.data)
        if any(isinstance(e, KeyExpired) for e in decoded):
            log.warning("exchange.listen_key_expired")
            return "listen key expired, created again"
        return [e for e in decoded if isinstance(e, OrderUpdate | PositionUpdate)]

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        """A listen key and a socket for it, retrying with backoff until both work; None once
        the exchange (its session) is closed: the stream ends."""
        while not self._session.closed:
            key = await self._listen_key()
            if isinstance(key, str):
                url = URL(self._url).with_query(listenKey=key, events=EVENTS)
                try:
                    with anyio.fail_after(HANDSHAKE_TIMEOUT_S):
                        ws = await self._session.ws_connect(url, heartbeat=self._heartbeat_s)
                except (aiohttp.ClientError, OSError, TimeoutError) as e:
                    # str(e) would carry the URL, and with it the key.
                    log.warning("exchange.stream_connect_failed", stream="user",
                                error=type(e).__name__)  # fmt: skip
                else:
                    self._backoff.reset()
                    log.info("exchange.stream_connected", stream="user", path="/private/ws")
                    return ws
            # A rate limit or ban says how long to stay away; hammering would extend a ban.
            wait_after = key if isinstance(key, float) else 0.0
            await anyio.sleep(max(self._backoff.next_delay(), wait_after))
        return None

    async def _listen_key(self) -> str | float:
        """The key, or else the seconds the exchange asked us to wait (0 if it did not)."""
        outcome = await self._rest.user_stream("POST")
        if isinstance(outcome, Reply) and isinstance(outcome.body, dict):
            key = outcome.body.get("listenKey")
            if isinstance(key, str) and key:
                return key
        log.warning("exchange.listen_key_failed", reason=getattr(outcome, "reason", "no key"))
        return (outcome.retry_after_s or 0.0) if isinstance(outcome, Rejected) else 0.0

    async def _keepalive(self) -> list[UserEvent] | str:
        """Extend the key: [] when done or worth another try soon; a str when it is gone."""
        outcome = await self._rest.user_stream("PUT")
        if isinstance(outcome, Rejected) and outcome.code == INVALID_LISTEN_KEY:
            log.warning("exchange.listen_key_lost")
            return "listen key lost, created again"
        renewed = isinstance(outcome, Reply)
        if not renewed:
            log.warning("exchange.keepalive_failed", reason=getattr(outcome, "reason", ""))
        self._keepalive_at = time.monotonic() + (
            self._keepalive_s if renewed else KEEPALIVE_RETRY_S
        )
        return []


def _decode(data: str) -> list[UserEvent | KeyExpired]:
    """A frame's events; a malformed or unknown one is logged and skipped, never raised."""
    try:
        return list(user_events(unwrap(orjson.loads(data))))
    except DECODE_ERRORS as e:
        log.warning("exchange.bad_frame", stream="user", error=str(e))
        return []


__all__ = ["EVENTS", "UserStream"]
