"""The simulator's websockets: market streams and the account's user-data stream, served
under Binance's routed paths (binance-usdm.md §8, §9).

Routes: `/public` carries `@bookTicker`, `/market` `@markPrice`, `@markPrice@1s`,
`!markPrice@arr` and `@aggTrade`, `/private` the listen key's events; each in the ws form
(`/<route>/ws/<a>/<b>`, bare payloads) and the stream form (`/<route>/stream?streams=a/b`,
`{"stream": name, "data": payload}`). The un-routed `/ws/...` and `/stream` deliver only
`/public` streams, as Binance's do since 2026-04-23, plus a listen key's events on the old
`/ws/<listenKey>` form. A stream subscribed on a route that does not serve it is listed but
silent, as on Binance; names are matched exactly (Binance's are lower-case symbols).

Publishing is called synchronously from request handlers and must never block them: each
connection has a bounded outbox drained by its own writer task, and a client that lets its
outbox fill is disconnected (close 1008) rather than stalling the exchange or growing
memory. A price source (prices.py) pushes trades as they come and marks on Binance's
schedule: `@markPrice` every 3 s, `@markPrice@1s` every second; POST /sim/price moves both
and pushes every stream at once, so tests stay tick-synchronous.

Limits as Binance's: 10 incoming messages per second (counted over data frames; pings are
answered inside aiohttp and not counted) then disconnect, 1024 streams per connection, a
ping frame every 3 minutes (aiohttp's heartbeat, which closes after 90 s without a pong
where Binance waits 10 minutes), and a 24 h connection lifetime.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from exitd.exchange.sim import events as enc
from exitd.exchange.sim.account import AccountEvent, SimAccount
from exitd.exchange.sim.listen_keys import ListenKeys
from exitd.exchange.sim.mark_cadence import MarkCadence
from exitd.exchange.sim.stream_requests import Subscriptions, answer_request
from exitd.exchange.sim.user_data import Encoded, UserDataFeed

MAX_STREAMS = 1024
MAX_INCOMING_PER_SECOND = 10
PING_INTERVAL_S = 180.0
LIFETIME_S = 24 * 3600.0
OUTBOX_SIZE = 4096  # frames; a client this far behind is not reading
# aiohttp waits for the socket to drain with no limit; a peer that stops reading would hold a
# close or a send forever (and with it the fault endpoint, shutdown and the writer).
CLOSE_TIMEOUT_S = 1.0
SEND_TIMEOUT_S = 1.0


class Route(Enum):
    """Where a connection came in; decides which streams it may receive."""

    PUBLIC = "public"
    MARKET = "market"
    PRIVATE = "private"
    LEGACY = "legacy"  # no routed path: public streams and old-style listen keys only


_PUBLIC_KINDS = ("@bookticker", "!bookticker", "@depth")


def _is_listen_key(name: str) -> bool:
    return "@" not in name and not name.startswith("!")


def serves(route: Route, name: str) -> bool:
    """Whether Binance delivers stream `name` on `route` (§8.1)."""
    if _is_listen_key(name):
        return route in (Route.PRIVATE, Route.LEGACY)
    public = any(kind in name.lower() for kind in _PUBLIC_KINDS)
    if public:
        return route in (Route.PUBLIC, Route.LEGACY)
    return route is Route.MARKET


@dataclass(eq=False, slots=True)
class _Client:
    """One websocket connection: its subscriptions, outbox and incoming-message history."""

    ws: web.WebSocketResponse
    route: Route
    subs: Subscriptions
    transport: asyncio.Transport | None = None  # aborted when the peer stops reading
    outbox: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(OUTBOX_SIZE))
    received: deque[float] = field(default_factory=deque)

    def push(self, frame: bytes) -> None:
        """Queue a frame; a full outbox means a client too slow to keep: drop it."""
        try:
            self.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            while not self.outbox.empty():
                self.outbox.get_nowait()
            self.outbox.put_nowait(None)  # the writer closes the socket

    async def close(self, code: int, message: bytes) -> None:
        """Close within CLOSE_TIMEOUT_S, else abort: a peer that does not read never takes
        the close frame, and a graceful transport close would wait for it to read."""
        if not self.ws.prepared:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def flooding(self, now: float) -> bool:
        """More than 10 messages within the last second (§8.2)."""
        self.received.append(now)
        while self.received and now - self.received[0] >= 1.0:
            self.received.popleft()
        return len(self.received) > MAX_INCOMING_PER_SECOND


class StreamHub:
    """Every live websocket of the simulator, and what the exchange publishes to them."""

    def __init__(self, clock: Callable[[], int], symbols: Sequence[str]) -> None:
        self._clock = clock
        self._symbols = list(symbols)
        self.listen_keys = ListenKeys(clock, self._listen_key_ended)
        self._clients: set[_Client] = set()
        self._by_stream: dict[str, set[_Client]] = {}
        self._marks: dict[str, Any] = {}  # symbol -> its latest markPriceUpdate
        self._agg_id = 0
        self._update_id = 0
        self._refuse_until_ms = 0
        self._closed = False
        self._feed = UserDataFeed()
        self._last_event_ms = 0

    # --- the server's side ----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        routes = []
        for route in (Route.PUBLIC, Route.MARKET, Route.PRIVATE):
            base = f"/{route.value}"
            routes += [
                web.get(f"{base}/ws", self._handler(route, combined=False)),
                web.get(f"{base}/ws/{{streams:.+}}", self._handler(route, combined=False)),
                web.get(f"{base}/stream", self._handler(route, combined=True)),
            ]
        return [
            *routes,
            web.get("/ws", self._handler(Route.LEGACY, combined=False)),
            web.get("/ws/{streams:.+}", self._handler(Route.LEGACY, combined=False)),
            web.get("/stream", self._handler(Route.LEGACY, combined=True)),
        ]

    def publish_price(self, symbol: str, price: Decimal, time_ms: int) -> None:
        """One tick of `symbol` that moves trade and mark alike: every mark stream at once,
        a trade and the book ticker."""
        self.publish_marks({symbol: price}, time_ms, tuple(MarkCadence))
        self.publish_trade(symbol, price, time_ms)

    def publish_marks(
        self, marks: Mapping[str, Decimal], time_ms: int, cadences: Collection[MarkCadence]
    ) -> None:
        """Marks to the streams of `cadences`: each symbol's own, then each array once."""
        for symbol, mark in marks.items():
            update = enc.mark_price_update(symbol, mark, time_ms)
            self._marks[symbol] = update
            for cadence in cadences:
                name = f"{symbol.lower()}@markPrice{cadence.stream_suffix()}"
                self._publish(name, _constant(update))
        every = lambda: list(self._marks.values())  # noqa: E731
        for cadence in cadences:
            self._publish(f"!markPrice@arr{cadence.stream_suffix()}", every)

    def publish_trade(self, symbol: str, price: Decimal, time_ms: int) -> None:
        """A trade of `symbol` at `price`: aggTrade and the book ticker around it."""
        low = symbol.lower()
        self._agg_id += 1
        agg, trade_id = self._agg_id, self._agg_id
        self._publish(
            f"{low}@aggTrade", lambda: enc.agg_trade(symbol, agg, trade_id, price, time_ms)
        )
        self._update_id += 1
        update = self._update_id
        ticker = lambda: enc.book_ticker(symbol, update, price, time_ms)  # noqa: E731
        self._publish(f"{low}@bookTicker", ticker)
        self._publish("!bookTicker", ticker)

    def publish_account(
        self, events: Sequence[AccountEvent], account: SimAccount, time_ms: int
    ) -> None:
        """The account's events to every stream of its listen key, ordered by `E`."""
        self._last_event_ms = max(self._last_event_ms, time_ms)
        key = self.listen_keys.active
        if key is None or not self._by_stream.get(key):
            return  # nobody listens: encoding every fill's payloads would be wasted work
        encoded = self._feed.encode(events, account, self._last_event_ms)
        if encoded:
            self._publish_user(key, encoded)

    async def drop_all(self) -> None:
        """Fault: close every websocket now (close code 1001, going away), all at once, so
        one client that stopped reading delays the others by CLOSE_TIMEOUT_S at most."""
        async with asyncio.TaskGroup() as tasks:
            for client in list(self._clients):
                tasks.create_task(client.close(WSCloseCode.GOING_AWAY, b"dropped"))

    def refuse_connections_until(self, time_ms: int) -> None:
        """Fault: handshakes before `time_ms` get HTTP 503, as a gateway refusing them."""
        self._refuse_until_ms = time_ms

    def expire_listen_keys(self) -> None:
        """Fault: the key lapses: listenKeyExpired to its streams; keepalive then gives -1125."""
        self.listen_keys.expire()

    async def close(self) -> None:
        self._closed = True
        await self.drop_all()

    # --- publishing -----------------------------------------------------------------------------

    def _publish(self, name: str, payload: Callable[[], Any]) -> None:
        """Encode once, only if someone listens; wrap for combined connections."""
        clients = self._by_stream.get(name)
        if not clients:
            return
        raw = orjson.dumps(payload())
        wrapped = b'{"stream":' + orjson.dumps(name) + b',"data":' + raw + b"}"
        for client in clients:
            if serves(client.route, name):
                client.push(wrapped if client.subs.combined else raw)

    def _publish_user(self, key: str, encoded: list[Encoded]) -> None:
        clients = self._by_stream.get(key)
        if not clients:
            return
        frames = [(kind, orjson.dumps(payload)) for kind, payload in encoded]
        prefix = b'{"stream":' + orjson.dumps(key) + b',"data":'
        for client in clients:
            wanted = client.subs.listen_keys.get(key)
            if not serves(client.route, key):
                continue
            for kind, raw in frames:
                if wanted is None or kind in wanted or kind == "listenKeyExpired":
                    client.push(prefix + raw + b"}" if client.subs.combined else raw)

    def _listen_key_ended(self, key: str, expired: bool) -> None:
        if expired:
            payload = enc.listen_key_expired(key, max(self._last_event_ms, self._clock()))
            self._publish_user(key, [("listenKeyExpired", payload)])
        for client in self._by_stream.pop(key, set()):
            client.subs.remove([key])

    # --- connections ----------------------------------------------------------------------------

    def _handler(self, route: Route, *, combined: bool) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, route, combined)

        return handle

    async def _serve(
        self, request: web.Request, route: Route, combined: bool
    ) -> web.StreamResponse:
        if self._closed or self._clock() < self._refuse_until_ms:
            return web.Response(status=503, text="Service Unavailable")
        subs = Subscriptions(combined)
        _initial_subscriptions(request, subs)
        if len(subs) > MAX_STREAMS:
            return web.json_response({"code": 4, "msg": "Too many subscriptions"}, status=400)
        ws = web.WebSocketResponse(heartbeat=PING_INTERVAL_S, autoping=True)
        client = _Client(ws, route, subs, request.transport)
        # Listed before the handshake completes: a client may rely on everything published
        # after its connect returns.
        self._clients.add(client)
        self._index(client, subs.names())
        try:
            await ws.prepare(request)
            async with asyncio.TaskGroup() as tasks:
                writer = tasks.create_task(_write(client))
                try:
                    async with asyncio.timeout(LIFETIME_S):
                        await self._read(client)
                except TimeoutError:
                    pass  # Binance disconnects after 24 h
                writer.cancel()
        finally:
            self._forget(client)
            await client.close(WSCloseCode.OK, b"")
        return ws

    async def _read(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        async for message in client.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            if client.flooding(loop.time()):
                await client.close(WSCloseCode.POLICY_VIOLATION, b"Too many")
                return
            # A binary frame that is not UTF-8 must get the invalid-JSON answer, not end the
            # connection's task group with a UnicodeDecodeError.
            text = (
                message.data
                if message.type is WSMsgType.TEXT
                else message.data.decode("utf-8", "replace")
            )
            before = set(client.subs.names())
            answer = answer_request(text, client.subs, MAX_STREAMS)
            after = set(client.subs.names())
            self._unindex(client, before - after)
            self._index(client, after - before)
            client.push(orjson.dumps(answer))

    def _index(self, client: _Client, names: Iterable[str]) -> None:
        for name in names:
            self._by_stream.setdefault(name, set()).add(client)

    def _unindex(self, client: _Client, names: Iterable[str]) -> None:
        for name in names:
            listeners = self._by_stream.get(name)
            if listeners is not None:
                listeners.discard(client)
                if not listeners:
                    del self._by_stream[name]

    def _forget(self, client: _Client) -> None:
        self._clients.discard(client)
        self._unindex(client, client.subs.names())


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _initial_subscriptions(request: web.Request, subs: Subscriptions) -> None:
    """Streams named in the URL: the ws form's path, `streams=`, or `listenKey=`+`events=`."""
    path_streams = request.match_info.get("streams", "")
    names = [n for n in path_streams.split("/") if n]
    names += [n for v in request.query.getall("streams", []) for n in v.split("/") if n]
    subs.add(names)
    key: str | None = None
    for param, value in request.query.items():
        if param == "listenKey":
            key = value
            subs.add([key])
        elif param == "events" and key is not None:
            subs.listen_keys[key] = frozenset(e for e in value.split("/") if e)


async def _write(client: _Client) -> None:
    """Drain the outbox onto the socket; a None in it means: close, too slow."""
    try:
        while True:
            frame = await client.outbox.get()
            if frame is None:
                await client.close(WSCloseCode.POLICY_VIOLATION, b"Too slow")
                return
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await client.ws.send_frame(frame, WSMsgType.TEXT)
            except TimeoutError:
                # Too slow as well, and its socket is full: a close frame would not get through.
                client.abort()
                return
    except ConnectionResetError:
        return  # the socket went; the reader notices and ends the connection


__all__ = ["ListenKeys", "Route", "StreamHub", "serves"]
