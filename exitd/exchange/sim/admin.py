"""The simulator's admin routes under /sim/: what tests, benchmarks and the demo drive.

Unsigned, so they refuse any peer that is not loopback (403): the simulator binds 127.0.0.1,
but a proxy in front of it must not turn the admin door into a remote one. Bad input is a
400 with a message saying what was wrong; decimals travel as strings both ways.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import Enum
from random import Random
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from exitd.engine.model import Side
from exitd.exchange.sim.book import Trade
from exitd.exchange.sim.endpoints import json_response, log
from exitd.exchange.sim.faults import FaultError, parse_faults
from exitd.exchange.sim.numbers import MAX_MAGNITUDE, parse_decimal

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


class AdminError(Exception):
    """Bad admin input: answered 400 with this message."""


def jsonable(value: Any) -> Any:
    """Dataclasses, decimals (as strings) and enums (as values), recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.name.startswith("_")}  # fmt: skip
    if isinstance(value, Decimal):
        return format(value, "f")  # str() would give "7.85E-8" for a small commission
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        # orjson, not json: it refuses NaN and Infinity, and nesting deeper than 1024 with a
        # ValueError where json would raise RecursionError.
        body = orjson.loads(await request.read())
    except ValueError as exc:
        raise AdminError("the body must be JSON") from exc
    if not isinstance(body, dict):
        raise AdminError("the body must be a JSON object")
    return body


def _decimal(body: dict[str, Any], name: str, upper: Decimal) -> Decimal:
    """A positive decimal, at most `upper`: plain digits only (no exponent, NaN, spaces)."""
    raw = body.get(name)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise AdminError(f'{name!r} must be a decimal string, e.g. "65000.5"')
    value = parse_decimal(str(raw)) if isinstance(raw, str) else Decimal(raw)
    if value is None:
        raise AdminError(f"{name!r} is not a plain decimal: {str(raw)[:40]!r}")
    if value <= 0:
        raise AdminError(f"{name!r} must be positive, got {raw!r}")
    if value > upper:
        raise AdminError(f"{name!r} must be at most {upper}, got {str(raw)[:40]}")
    return value


def _symbol(ex: SimExchange, body: dict[str, Any]) -> str:
    symbol = body.get("symbol")
    if symbol not in ex.account.markets:
        raise AdminError(f"unknown symbol {symbol!r}; this simulator lists {list(ex.symbols)}")
    assert isinstance(symbol, str)
    return symbol


def _price(ex: SimExchange, body: dict[str, Any], symbol: str) -> Decimal:
    """A price on `symbol`'s tick: an off-grid mark would fill off the grid Binance trades on."""
    spec = ex.spec(symbol)
    price = _decimal(body, "price", Decimal(spec.max_price) or MAX_MAGNITUDE)
    tick = Decimal(spec.tick_size)
    if price % tick:
        raise AdminError(f"'price' {price} is not a multiple of {symbol}'s tick size {tick}")
    return price


def _fill(trade: Trade) -> dict[str, Any]:
    return jsonable(trade)  # type: ignore[no-any-return]


Route = Callable[[web.Request], Awaitable[Any]]


def _guarded(handler: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Loopback peers only (403), bad input 400, anything unexpected a logged 500."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.remote not in LOOPBACK:
            return json_response({"error": "admin routes answer loopback peers only"}, 403)
        try:
            return json_response(await handler(request))
        except AdminError as e:
            return json_response({"error": str(e)}, 400)
        except Exception:
            log.exception("sim.admin_failed", path=request.path)
            return json_response({"error": "internal error, see the simulator's log"}, 500)

    return handle


class _Admin:
    """The /sim/ handlers of one exchange."""

    def __init__(self, ex: SimExchange) -> None:
        self.ex = ex

    async def position(self, request: web.Request) -> Any:
        ex, body = self.ex, await _body(request)
        symbol = _symbol(ex, body)
        side = body.get("side")
        if side not in ("LONG", "SHORT"):
            raise AdminError(f'\'side\' must be "LONG" or "SHORT", got {side!r}')
        # An entry bot's MARKET order: Binance caps it at MARKET_LOT_SIZE's maxQty.
        qty = _decimal(body, "qty", Decimal(ex.spec(symbol).market_max_qty))
        price = _price(ex, body, symbol)
        now = ex.clock()
        events = ex.account.open_position(symbol, Side[side], qty, price, now)
        if not events:
            raise AdminError(f"the exchange refused a {side} MARKET of {qty} {symbol}")
        ex.publish(events, now)
        return jsonable(ex.account.position(symbol))

    async def price(self, request: web.Request) -> Any:
        body = await _body(request)
        symbol = _symbol(self.ex, body)
        events = self.ex.push_price(symbol, _price(self.ex, body, symbol), self.ex.clock())
        return {"fills": [_fill(e) for e in events if isinstance(e, Trade)]}

    async def ledger(self, request: web.Request) -> Any:
        account = self.ex.account
        book = account.ledger
        return {
            "wallet_balance": jsonable(account.wallet_balance),
            "symbols": {
                s: {
                    "orders": jsonable([o for o in book.orders if o.symbol == s]),
                    "fills": jsonable([f for f in book.fills if f.symbol == s]),
                    "positions": jsonable(book.positions.get(s, [])),
                    "position": jsonable(account.position(s)),
                }
                for s in self.ex.symbols
            },
        }

    async def set_faults(self, request: web.Request) -> Any:
        try:
            plan = parse_faults(await _body(request))
        except FaultError as e:
            raise AdminError(str(e)) from e
        ex, now = self.ex, self.ex.clock()
        ex.faults.apply(plan, now)
        ex.account.event_shuffle = Random(plan.seed) if plan.shuffle_events else None
        ex.publish(ex.account.hold_triggers(plan.stuck_triggering, now), now)
        if plan.drop_websockets:
            await ex.hub.drop_all()
        if plan.refuse_websockets_s:
            ex.hub.refuse_connections_until(now + int(plan.refuse_websockets_s * 1000))
        if plan.expire_listen_key:
            ex.hub.expire_listen_keys()
        return {"faults": jsonable(plan)}

    async def clear_faults(self, request: web.Request) -> Any:
        self.ex.faults.clear()
        self.ex.account.event_shuffle = None
        now = self.ex.clock()
        self.ex.publish(self.ex.account.hold_triggers(False, now), now)  # held children go
        self.ex.limiter.lift_bans()  # a storm's cooldown or ban must not outlive the storm
        self.ex.hub.refuse_connections_until(0)
        return {"faults": None}

    async def reset(self, request: web.Request) -> Any:
        self.ex.reset()
        return {"reset": True}


def admin_routes(ex: SimExchange) -> list[web.RouteDef]:
    """The /sim/ routes of `ex`."""
    admin = _Admin(ex)
    return [
        web.post("/sim/position", _guarded(admin.position)),
        web.post("/sim/price", _guarded(admin.price)),
        web.get("/sim/ledger", _guarded(admin.ledger)),
        web.post("/sim/faults", _guarded(admin.set_faults)),
        web.delete("/sim/faults", _guarded(admin.clear_faults)),
        web.post("/sim/reset", _guarded(admin.reset)),
    ]
