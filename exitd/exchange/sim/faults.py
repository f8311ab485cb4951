"""Fault injection for the simulator (RELIABILITY.md §2): what `POST /sim/faults` sets.

The body (every key optional; a POST replaces the previous faults, `DELETE /sim/faults`
clears them). Endpoint keys are `"METHOD /path"`, `"/path"` (any method) or `"*"`; the most
specific one applies.

    {
      "seed": 7,                         # the RNG of the rates and the shuffle (default 0)
      "latency_ms": {"POST /fapi/v1/order": 250, "*": 5},
      "symbol_latency_ms": {"ETHUSDT": 2000},
      "errors": {"/fapi/v1/order": {"rate": 0.5, "kind": "unknown_error"}},
      "unknown_status": {"POST /fapi/v1/order": {"rate": 1.0, "answer": "timeout"}},
      "rate_limit_storm_s": 5,
      "drop_websockets": true,
      "refuse_websockets_s": 10,
      "expire_listen_key": true,
      "reduce_only_at_placement": true,
      "shuffle_events": true,
      "lost_orders": {"ms": 2000},
      "stuck_triggering": true
    }

- `latency_ms`: added before the request is handled (real time, not the sim clock).
- `symbol_latency_ms`: added to every /fapi request naming that symbol (`symbol` in the
  query or form body, or an item of `batchOrders`); requests for other symbols are served
  meanwhile, as a slow matching engine of one symbol would be.
- `errors`: with probability `rate` the request is refused WITHOUT being executed: `kind`
  `"unknown_error"` → HTTP 500 `{"code":-1000,…}`; `"service_unavailable"` → HTTP 503
  `{"code":-1001,"msg":"Service Unavailable."}` (Binance documents the message as a definite
  failure; the code on that body is UNCONFIRMED, its gateway may send none).
- `unknown_status`: with probability `rate` the request IS executed, then answered HTTP 503
  with `answer` `"timeout"` → `{"code":-1007,…}` or `"unknown_error"` → `{"code":-1000,
  "msg":"Unknown error, please check your request or try again later."}` (§7: status unknown).
- `rate_limit_storm_s`: every /fapi request gets 429 -1003 for that many seconds of sim
  time, with Retry-After to the storm's end; a client that sends again inside it is banned
  with 418 by the rate limiter, as a real one would be.
- `drop_websockets`, `refuse_websockets_s`, `expire_listen_key`: one-shot actions on the
  stream hub, done when the POST is received.
- `reduce_only_at_placement`: conditional (algo) reduce-only orders are checked against the
  position and the open reduce-only orders when placed, not only when they trigger (-2022 /
  -4118), so a make-before-break replacement of a stop is refused (whether Binance checks
  there is unconfirmed, binance-usdm.md §14).
- `shuffle_events`: the user-data events of one moment (one write or one price) go out in
  an order drawn from the `seed`ed RNG, as Binance promises no order (§14).
- `lost_orders`: an order (regular or algo) accepted while this is set answers -2013 to a
  query and -2011 to a cancel for `ms` of sim time after its acceptance (freqtrade#12681);
  it still rests, fills and shows in the open-order lists meanwhile. DELETE /sim/faults
  finds them all again.
- `stuck_triggering`: a conditional order that triggers stays in TRIGGERING (so reported;
  a cancel answers -2011) and its child is not placed until the fault is cleared (by a POST
  without it or DELETE /sim/faults), then it is placed at the price of that moment.
Only `/fapi/` paths are affected by the rates and storms; the admin routes and websockets
never are.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from exitd.exchange.sim import errors
from exitd.exchange.sim.endpoints import error_response, json_response
from exitd.exchange.sim.numbers import MAX_FIELDS

if TYPE_CHECKING:
    from exitd.exchange.sim.server import SimExchange

ERROR_KINDS: dict[str, tuple[int, dict[str, Any]]] = {
    "unknown_error": (500, errors.error_body(errors.UNKNOWN.error())),
    "service_unavailable": (503, {"code": -1001, "msg": "Service Unavailable."}),
}
MAX_LATENCY_MS = 600_000  # ten minutes: longer is a hang, not a latency
MAX_FAULT_S = 86_400.0  # a storm or a refusal longer than a day is a typo
UNKNOWN_ANSWERS: dict[str, dict[str, Any]] = {
    "timeout": errors.error_body(errors.TIMEOUT.error()),
    "unknown_error": {
        "code": -1000,
        "msg": "Unknown error, please check your request or try again later.",
    },
}


class FaultError(ValueError):
    """A fault body the simulator cannot apply; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class RateFault:
    rate: float
    kind: str


@dataclass(slots=True)
class FaultPlan:
    """A parsed `POST /sim/faults` body."""

    seed: int = 0
    latency_ms: dict[str, int] = field(default_factory=dict)
    symbol_latency_ms: dict[str, int] = field(default_factory=dict)
    errors: dict[str, RateFault] = field(default_factory=dict)
    unknown_status: dict[str, RateFault] = field(default_factory=dict)
    rate_limit_storm_s: float = 0
    drop_websockets: bool = False
    refuse_websockets_s: float = 0
    expire_listen_key: bool = False
    reduce_only_at_placement: bool = False
    shuffle_events: bool = False
    lost_orders_ms: int = 0
    stuck_triggering: bool = False


def _number(value: object, where: str, *, upper: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise FaultError(f"{where}: expected a non-negative number, got {value!r}")
    if upper is not None and value > upper:
        raise FaultError(f"{where}: must be at most {upper}, got {value!r}")
    return float(value)


def _table(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    table = body.get(name, {})
    if not isinstance(table, dict):
        raise FaultError(f"{name}: expected an object of endpoint → value")
    return table


def _rate_faults(
    body: Mapping[str, Any], name: str, field_name: str, allowed: Mapping[str, Any]
) -> dict[str, RateFault]:
    out: dict[str, RateFault] = {}
    for key, spec in _table(body, name).items():
        if not isinstance(spec, dict):
            raise FaultError(f"{name}[{key!r}]: expected {{'rate', '{field_name}'}}")
        rate = _number(spec.get("rate", 1.0), f"{name}[{key!r}].rate", upper=1.0)
        kind = spec.get(field_name, next(iter(allowed)))
        if kind not in allowed:
            raise FaultError(
                f"{name}[{key!r}].{field_name}: one of {sorted(allowed)}, got {kind!r}"
            )
        out[key] = RateFault(rate, kind)
    return out


_KEYS = {"seed", "latency_ms", "symbol_latency_ms", "errors", "unknown_status",
         "rate_limit_storm_s", "drop_websockets", "refuse_websockets_s", "expire_listen_key",
         "reduce_only_at_placement", "shuffle_events", "lost_orders",
         "stuck_triggering"}  # fmt: skip
_FLAGS = ("drop_websockets", "expire_listen_key", "reduce_only_at_placement", "shuffle_events",
          "stuck_triggering")  # fmt: skip


def parse_faults(body: object) -> FaultPlan:
    """Validate a fault body; unknown keys are refused so a typo never silently does nothing."""
    if not isinstance(body, dict):
        raise FaultError("the body must be a JSON object")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise FaultError(f"unknown fault keys {unknown}; known: {sorted(_KEYS)}")
    seed = body.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FaultError(f"seed: expected an integer, got {seed!r}")
    latency = {
        k: int(_number(v, f"latency_ms[{k!r}]", upper=MAX_LATENCY_MS))
        for k, v in _table(body, "latency_ms").items()
    }
    by_symbol = {
        k: int(_number(v, f"symbol_latency_ms[{k!r}]", upper=MAX_LATENCY_MS))
        for k, v in _table(body, "symbol_latency_ms").items()
    }
    flags = {}
    for name in _FLAGS:
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise FaultError(f"{name}: expected true or false, got {value!r}")
        flags[name] = value
    return FaultPlan(
        seed=seed,
        latency_ms=latency,
        symbol_latency_ms=by_symbol,
        errors=_rate_faults(body, "errors", "kind", ERROR_KINDS),
        unknown_status=_rate_faults(body, "unknown_status", "answer", UNKNOWN_ANSWERS),
        rate_limit_storm_s=_number(
            body.get("rate_limit_storm_s", 0), "rate_limit_storm_s", upper=MAX_FAULT_S
        ),
        refuse_websockets_s=_number(
            body.get("refuse_websockets_s", 0), "refuse_websockets_s", upper=MAX_FAULT_S
        ),
        lost_orders_ms=_lost_orders_ms(body),
        **flags,
    )


def _lost_orders_ms(body: Mapping[str, Any]) -> int:
    spec = body.get("lost_orders")
    if spec is None:
        return 0
    if not isinstance(spec, dict) or set(spec) != {"ms"}:
        raise FaultError('lost_orders: expected {"ms": <milliseconds>}')
    return int(_number(spec["ms"], "lost_orders.ms"))


def _lookup(table: Mapping[str, Any], method: str, path: str) -> Any:
    for key in (f"{method} {path}", path, "*"):
        if key in table:
            return table[key]
    return None


class Faults:
    """The faults in force and their seeded RNG; read by the middleware on every request."""

    def __init__(self, seed: int = 0) -> None:
        self.plan = FaultPlan(seed=seed)
        self.storm_until_ms = 0
        self._rng = random.Random(seed)
        self._lost_until: dict[tuple[str, int], int] = {}  # (symbol or "algo", id) -> ms

    def apply(self, plan: FaultPlan, now_ms: int) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        storm_ms = int(plan.rate_limit_storm_s * 1000)
        self.storm_until_ms = now_ms + storm_ms if storm_ms else 0

    def clear(self) -> None:
        self.apply(FaultPlan(seed=self.plan.seed), 0)
        self._lost_until.clear()

    def accepted(self, key: tuple[str, int], now_ms: int) -> None:
        """An order was accepted: under `lost_orders` lookups miss it for a while."""
        if self.plan.lost_orders_ms:
            self._lost_until[key] = now_ms + self.plan.lost_orders_ms

    def lost(self, key: tuple[str, int], now_ms: int) -> bool:
        """Whether lookups of the order `key` must miss it now."""
        return now_ms < self._lost_until.get(key, 0)

    def latency_ms(self, method: str, path: str) -> int:
        value = _lookup(self.plan.latency_ms, method, path)
        return int(value) if value else 0

    def symbol_latency_ms(self, symbols: Iterable[str]) -> int:
        """The longest delay of the symbols a request names."""
        table = self.plan.symbol_latency_ms
        return max((table.get(s, 0) for s in symbols), default=0)

    def _draw(self, table: Mapping[str, RateFault], method: str, path: str) -> str | None:
        fault: RateFault | None = _lookup(table, method, path)
        if fault is None or self._rng.random() >= fault.rate:
            return None
        return fault.kind

    def error(self, method: str, path: str) -> str | None:
        return self._draw(self.plan.errors, method, path)

    def unknown_status(self, method: str, path: str) -> str | None:
        return self._draw(self.plan.unknown_status, method, path)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def named_symbols(query: str, body: str) -> set[str]:
    """Every symbol a request names: `symbol=` in query or form body, and batchOrders items."""
    try:
        pairs = parse_qsl(query, max_num_fields=MAX_FIELDS)
        pairs += parse_qsl(body, max_num_fields=MAX_FIELDS)
    except ValueError:
        return set()  # too many fields: the endpoint refuses it, undelayed
    names = {value for key, value in pairs if key == "symbol"}
    for key, value in pairs:
        if key != "batchOrders":
            continue
        try:
            items = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if isinstance(items, list):
            names |= {str(i.get("symbol")) for i in items if isinstance(i, dict)}
    return names


def _usage_headers(response: web.StreamResponse) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.upper().startswith("X-MBX-")}


def faults_middleware(ex: SimExchange) -> Any:
    """The aiohttp middleware that applies `ex.faults` to every /fapi request."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/fapi/"):
            return await handler(request)
        faults, method, path = ex.faults, request.method, request.path
        delay = faults.latency_ms(method, path)
        if faults.plan.symbol_latency_ms:
            raw = await request.read() if request.body_exists else b""
            named = named_symbols(request.rel_url.raw_query_string, raw.decode("utf-8", "replace"))
            delay += faults.symbol_latency_ms(named)
        if delay:
            await asyncio.sleep(delay / 1000)
        now, ip = ex.clock(), request.remote or "unknown"
        usage = ex.limiter.headers(ip=ip, account=None, orders=False, now_ms=now)
        if now < faults.storm_until_ms:
            try:
                refusal = ex.limiter.impose(ip=ip, now_ms=now, until_ms=faults.storm_until_ms)
            except errors.BinanceError as banned:
                refusal = banned
            return error_response(refusal, usage)
        kind = faults.error(method, path)
        if kind is not None:
            status, body = ERROR_KINDS[kind]
            return json_response(body, status, usage)
        response = await handler(request)
        answer = faults.unknown_status(method, path)
        if answer is not None:
            return json_response(UNKNOWN_ANSWERS[answer], 503, _usage_headers(response))
        return response

    return middleware
