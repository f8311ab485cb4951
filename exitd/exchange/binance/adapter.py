"""`BinanceExchange`: the exchange port over Binance USD-M futures REST and websockets.

Conditional types go to the algo endpoints (`/fapi/v1/algoOrder`, clientAlgoId), LIMIT and
MARKET to `/fapi/v1/order` (binance-usdm.md §0, §5). A triggered algo order's child lives on
the regular endpoints under the algo order's client id (§14), so a conditional query or
cancel that the algo service no longer knows falls back to that child. Writes are sent once,
their first request in the call to `place` / `cancel` (on a warm connection); reads that find
no usable answer raise `ExchangeUnavailable`.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import structlog

from exitd.engine.model import SymbolFilters
from exitd.exchange.binance import codec
from exitd.exchange.binance.backoff import Backoff
from exitd.exchange.binance.market_stream import BinanceMarketStream
from exitd.exchange.binance.rest import Outcome, Reply, RestClient, wall_clock_ms
from exitd.exchange.binance.user_stream import UserStream
from exitd.exchange.port import (
    Accepted,
    ExchangeUnavailable,
    MarkPrice,
    NotFound,
    OrderRequest,
    OrderState,
    OrderView,
    PositionView,
    QueryOutcome,
    RateUsage,
    Rejected,
    RejectKind,
    Unknown,
    UserEvent,
    WriteOutcome,
)

log = structlog.get_logger("exitd.exchange")
T = TypeVar("T")
_WITH_CHILD = frozenset({OrderState.TRIGGERING, OrderState.TRIGGERED, OrderState.FINISHED})


def _num(value: Decimal) -> str:
    return format(value, "f")


def order_params(order: OrderRequest) -> tuple[str, dict[str, str]]:
    """(path, parameters) of a new order, in Binance's names (§4.1, §5.3)."""
    p: dict[str, str] = {"symbol": order.symbol, "side": order.side.value, "type": order.type}
    if order.conditional:
        p = {"algoType": "CONDITIONAL", **p, "clientAlgoId": order.client_order_id}
        p["workingType"] = order.working_type
    else:
        p["newClientOrderId"] = order.client_order_id
        p["newOrderRespType"] = "RESULT"  # MARKET answers with its fill, LIMIT with its state
    if order.time_in_force is not None:
        p["timeInForce"] = order.time_in_force
    elif order.type == "LIMIT":
        p["timeInForce"] = "GTC"
    optional = {
        "quantity": None if order.close_position else order.quantity,
        "price": order.price,
        "triggerPrice": order.trigger_price,
        "activatePrice": order.activation_price,
        "callbackRate": order.callback_rate,
    }
    p.update({name: _num(value) for name, value in optional.items() if value is not None})
    if order.close_position:
        p["closePosition"] = "true"
    elif order.reduce_only:
        p["reduceOnly"] = "true"
    return ("/fapi/v1/algoOrder" if order.conditional else "/fapi/v1/order"), p


class BinanceExchange:
    """The `Exchange` port on Binance USD-M (or anything speaking its protocol: the sim)."""

    def __init__(
        self,
        rest_url: str,
        ws_url: str,
        api_key: str,
        api_secret: str,
        recv_window_ms: int = 5000,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        timeout_s: float = 10.0,
        stale_after_s: float = 10.0,
        backoff: Callable[[], Backoff] = Backoff,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._rest_url = rest_url
        self._ssl_context = ssl_context  # https/wss: None verifies with the system's trust store
        self._ws_url = ws_url.rstrip("/")
        self._credentials = (api_key, api_secret)
        self._recv_window_ms = recv_window_ms
        self._clock = clock
        self._timeout_s = timeout_s
        self._stale_after_s = stale_after_s
        self._backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        self._rest_client: RestClient | None = None
        self._market_streams: list[BinanceMarketStream] = []

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> BinanceExchange:
        rest = self._rest()
        await rest.sync_time()
        await rest.warm_up()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for stream in self._market_streams:
            stream.close()
        self._market_streams.clear()
        if self._rest_client is not None:
            self._rest_client.close()  # no await before the session's close: shutdown cancels
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._rest_client = None

    @property
    def usage(self) -> RateUsage | None:
        """The exchange's latest count of this client's weight and orders (X-MBX-*)."""
        return None if self._rest_client is None else self._rest_client.last_usage

    def _rest(self) -> RestClient:
        if self._rest_client is None:
            tls = self._ssl_context
            connector = None if tls is None else aiohttp.TCPConnector(ssl=tls)
            self._session = aiohttp.ClientSession(connector=connector)
            key, secret = self._credentials
            self._rest_client = RestClient(
                self._session, self._rest_url, key, secret,
                recv_window_ms=self._recv_window_ms, clock=self._clock, timeout_s=self._timeout_s,
                ssl_context=tls,
            )  # fmt: skip
        return self._rest_client

    # --- writes ---------------------------------------------------------------------------------

    def place(self, order: OrderRequest) -> Awaitable[WriteOutcome]:
        path, params = order_params(order)
        sent = self._rest().start_write("POST", path, params)
        return _accepted_when(sent, codec.algo_order if order.conditional else codec.regular_order)

    def cancel(
        self, symbol: str, client_order_id: str, conditional: bool
    ) -> Awaitable[WriteOutcome]:
        rest = self._rest()
        if not conditional:
            regular = {"symbol": symbol, "origClientOrderId": client_order_id}
            return _accepted_when(rest.start_write("DELETE", "/fapi/v1/order", regular))
        sent = rest.start_write("DELETE", "/fapi/v1/algoOrder", {"clientAlgoId": client_order_id})
        return self._algo_cancelled(sent, symbol, client_order_id)

    async def _algo_cancelled(
        self, sent: Awaitable[Outcome], symbol: str, client_order_id: str
    ) -> WriteOutcome:
        outcome = await sent
        if isinstance(outcome, Rejected) and outcome.kind is RejectKind.NOT_FOUND:
            # Triggered: the algo service let go of it; its child works under the same id.
            regular = {"symbol": symbol, "origClientOrderId": client_order_id}
            child = await self._rest().write("DELETE", "/fapi/v1/order", regular)
            return outcome if _not_found(child) else _accepted(child)
        if not isinstance(outcome, Reply):
            return outcome
        # The answer is only {algoId, clientAlgoId, code, msg}: read the order back.
        found = await self.query(symbol, client_order_id, conditional=True)
        if isinstance(found, OrderView):
            return Accepted(found, outcome.usage)
        return Unknown(f"cancel accepted, order not read back: {found}", outcome.usage)

    # --- reads ----------------------------------------------------------------------------------

    async def query(self, symbol: str, client_order_id: str, conditional: bool) -> QueryOutcome:
        rest = self._rest()
        regular = {"symbol": symbol, "origClientOrderId": client_order_id}
        if not conditional:
            return _found(await rest.read("/fapi/v1/order", regular), codec.regular_order)
        outcome = await rest.read("/fapi/v1/algoOrder", {"clientAlgoId": client_order_id})
        if _not_found(outcome):
            return _found(await rest.read("/fapi/v1/order", regular), codec.regular_order)
        algo = _found(outcome, codec.algo_order)
        if not isinstance(algo, OrderView) or algo.state not in _WITH_CHILD:
            return algo
        assert isinstance(outcome, Reply)
        child_id = outcome.body.get("actualOrderId") if isinstance(outcome.body, dict) else None
        if not child_id:
            return algo
        child = _found(
            await rest.read("/fapi/v1/order", {"symbol": symbol, "orderId": str(child_id)}),
            codec.regular_order,
        )
        if isinstance(child, NotFound):
            return algo
        if not isinstance(child, OrderView):
            return child
        return codec.algo_order(outcome.body, filled=child.filled_qty)

    async def open_orders(self) -> Sequence[OrderView]:
        rest = self._rest()
        regular = _listed(await rest.read("/fapi/v1/openOrders"), codec.regular_order)
        algos = _listed(await rest.read("/fapi/v1/openAlgoOrders"), codec.algo_order)
        return [*regular, *algos]

    async def positions(self) -> Sequence[PositionView]:
        listed = _listed(await self._rest().read("/fapi/v3/positionRisk"), codec.position)
        return [p for p in listed if p.amount != 0]

    async def symbol_filters(self) -> Mapping[str, SymbolFilters]:
        outcome = await self._rest().read("/fapi/v1/exchangeInfo", signed=False)
        return _decoded(outcome, codec.symbol_filters)

    async def mark_price(self, symbol: str) -> MarkPrice:
        outcome = await self._rest().read("/fapi/v1/premiumIndex", {"symbol": symbol}, signed=False)
        mark = _decoded(outcome, codec.premium_index)
        if mark.price <= 0:  # a symbol with no mark yet (the sim before its first price)
            raise ExchangeUnavailable(f"{symbol}: no mark price")
        return mark

    # --- streams --------------------------------------------------------------------------------

    def market_stream(self) -> BinanceMarketStream:
        stream = BinanceMarketStream(
            self._ws_url,
            stale_after_s=self._stale_after_s,
            backoff=self._backoff(),
            ssl_context=self._ssl_context,
        )
        self._market_streams.append(stream)  # closing the exchange ends it
        return stream

    def user_events(self) -> AsyncIterator[UserEvent]:
        rest = self._rest()
        assert self._session is not None
        return UserStream(self._session, rest, self._ws_url, backoff=self._backoff()).events()


# --- outcome helpers ----------------------------------------------------------------------------


def _not_found(outcome: Outcome) -> bool:
    return isinstance(outcome, Rejected) and outcome.kind is RejectKind.NOT_FOUND


async def _accepted_when(
    sent: Awaitable[Outcome], decode: Callable[[Any], OrderView] = codec.regular_order
) -> WriteOutcome:
    return _accepted(await sent, decode)


def _accepted(
    outcome: Outcome, decode: Callable[[Any], OrderView] = codec.regular_order
) -> WriteOutcome:
    if not isinstance(outcome, Reply):
        return outcome
    try:
        return Accepted(decode(outcome.body), outcome.usage)
    except codec.DECODE_ERRORS as e:
        log.warning("exchange.bad_frame", kind="order answer", error=str(e))
        return Unknown(f"unreadable answer: {e}", outcome.usage)


def _found(outcome: Outcome, decode: Callable[[Any], OrderView]) -> QueryOutcome:
    if _not_found(outcome):
        return NotFound()
    accepted = _accepted(outcome, decode)
    return accepted.order if isinstance(accepted, Accepted) else accepted


def _decoded(outcome: Outcome, decode: Callable[[Any], T]) -> T:
    if not isinstance(outcome, Reply):
        raise ExchangeUnavailable(outcome.reason)
    try:
        return decode(outcome.body)
    except codec.DECODE_ERRORS as e:
        raise ExchangeUnavailable(f"unreadable answer: {e}") from e


def _listed(outcome: Outcome, decode: Callable[[Any], T]) -> list[T]:
    def decode_all(body: Any) -> list[T]:
        if not isinstance(body, list):
            raise codec.BadPayload("expected a list")
        return [decode(item) for item in body]

    return _decoded(outcome, decode_all)


__all__ = ["BinanceExchange", "order_params"]
