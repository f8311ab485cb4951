"""The simulator's rate limits: request weight per IP, order counts per account, 429 then 418.

Binance's limits (binance-usdm.md §3): REQUEST_WEIGHT 2400 per minute per IP, ORDERS 300 per
10 seconds and 1200 per minute per account. The counters are FIXED windows aligned to the
interval (a minute window starts at a whole minute of Unix time): that is how the
`X-MBX-USED-WEIGHT-1M` header is observed to fall back to a small number at each whole
minute; the alignment is not stated in the fapi docs (UNCONFIRMED). A request refused with
429 adds nothing to the counters. A client that sends again before the `Retry-After` of its
429 has passed is banned with 418: 2 minutes first, doubling per ban up to 3 days (§3).
Time is an argument; the limiter keeps its own counters and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exitd.exchange.sim import errors

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000
BAN_MAX_MS = 3 * 24 * 60 * MINUTE_MS

# IP weight per (method, path), from the SDK docstrings quoted in binance-usdm.md §3 and §5.2.
ENDPOINT_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/fapi/v1/time"): 1,
    ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/premiumIndex"): 1,  # 10 without symbol
    ("GET", "/fapi/v1/leverageBracket"): 1,  # UNCONFIRMED (not in §3)
    ("POST", "/fapi/v1/order"): 0,
    ("PUT", "/fapi/v1/order"): 0,
    ("DELETE", "/fapi/v1/order"): 1,
    ("GET", "/fapi/v1/order"): 1,
    ("GET", "/fapi/v1/openOrder"): 1,
    ("GET", "/fapi/v1/openOrders"): 1,  # 40 without symbol
    ("DELETE", "/fapi/v1/allOpenOrders"): 1,
    ("GET", "/fapi/v1/allOrders"): 5,
    ("POST", "/fapi/v1/batchOrders"): 5,
    ("PUT", "/fapi/v1/batchOrders"): 5,
    ("DELETE", "/fapi/v1/batchOrders"): 1,
    ("POST", "/fapi/v1/algoOrder"): 0,
    ("DELETE", "/fapi/v1/algoOrder"): 1,
    ("GET", "/fapi/v1/algoOrder"): 1,
    ("DELETE", "/fapi/v1/algoOpenOrders"): 1,
    ("GET", "/fapi/v1/openAlgoOrders"): 1,  # 40 without symbol
    ("GET", "/fapi/v1/allAlgoOrders"): 5,
    ("GET", "/fapi/v1/userTrades"): 5,
    ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v2/account"): 5,
    ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v2/balance"): 5,  # UNCONFIRMED (not in §3)
    ("GET", "/fapi/v3/balance"): 5,  # UNCONFIRMED (not in §3)
    ("GET", "/fapi/v1/accountConfig"): 5,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("POST", "/fapi/v1/positionSide/dual"): 1,
    ("POST", "/fapi/v1/countdownCancelAll"): 10,
    ("GET", "/fapi/v1/rateLimit/order"): 1,
    ("POST", "/fapi/v1/listenKey"): 1,
    ("PUT", "/fapi/v1/listenKey"): 1,
    ("DELETE", "/fapi/v1/listenKey"): 1,
}

# Weight when the symbol is left out, for endpoints that then answer for every symbol.
_WEIGHT_WITHOUT_SYMBOL: dict[tuple[str, str], int] = {
    ("GET", "/fapi/v1/premiumIndex"): 10,
    ("GET", "/fapi/v1/openOrders"): 40,
    ("GET", "/fapi/v1/openAlgoOrders"): 40,
}

# (10-second count, 1-minute count) of the order endpoints (§3 table).
ORDER_COSTS: dict[tuple[str, str], tuple[int, int]] = {
    ("POST", "/fapi/v1/order"): (1, 1),
    ("PUT", "/fapi/v1/order"): (1, 1),
    ("POST", "/fapi/v1/algoOrder"): (1, 1),
    ("POST", "/fapi/v1/batchOrders"): (5, 1),
    ("PUT", "/fapi/v1/batchOrders"): (5, 1),
}

# Unlisted endpoints (e.g. the simulator's own /sim/ routes) weigh this much.
DEFAULT_WEIGHT = 1


def request_weight(method: str, path: str, params: Mapping[str, str]) -> int:
    """The IP weight Binance charges for one request."""
    key = (method.upper(), path)
    if "symbol" not in params and key in _WEIGHT_WITHOUT_SYMBOL:
        return _WEIGHT_WITHOUT_SYMBOL[key]
    return ENDPOINT_WEIGHTS.get(key, DEFAULT_WEIGHT)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits in force; tests and the benchmark choose low or high ones."""

    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    first_ban_ms: int = 2 * MINUTE_MS
    max_ban_ms: int = BAN_MAX_MS


@dataclass(slots=True)
class _Window:
    """A fixed window's counter: reset when `now` crosses into the next interval."""

    interval_ms: int
    start_ms: int = -1
    used: int = 0

    def current(self, now_ms: int) -> int:
        start = now_ms - now_ms % self.interval_ms
        if start != self.start_ms:
            self.start_ms, self.used = start, 0
        return self.used

    def seconds_left(self, now_ms: int) -> int:
        """`Retry-After`: whole seconds until the window ends, never 0."""
        end = self.start_ms + self.interval_ms
        return max(1, -(-(end - now_ms) // 1000))


@dataclass(slots=True)
class _IpState:
    weight: _Window = field(default_factory=lambda: _Window(MINUTE_MS))
    cooldown_until_ms: int = 0  # end of the Retry-After of the last 429
    banned_until_ms: int = 0
    bans: int = 0


@dataclass(slots=True)
class _AccountState:
    ten_seconds: _Window = field(default_factory=lambda: _Window(TEN_SECONDS_MS))
    minute: _Window = field(default_factory=lambda: _Window(MINUTE_MS))


@dataclass(frozen=True, slots=True)
class Admission:
    """What a request that may go ahead carries back: the usage headers."""

    headers: dict[str, str]


class RateLimiter:
    """Counts weight per IP and orders per account; refuses with 429, then bans with 418."""

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        self._ips: dict[str, _IpState] = {}
        self._accounts: dict[str, _AccountState] = {}

    def admit(
        self,
        *,
        ip: str,
        account: str | None,
        method: str,
        path: str,
        params: Mapping[str, str],
        now_ms: int,
    ) -> Admission:
        """Charge one request or raise the exchange's 429/418 `BinanceError`.

        `account` is None for requests without an API key (they carry no order count).
        """
        state = self._ips.setdefault(ip, _IpState())
        self._check_ban(state, now_ms)
        weight = request_weight(method, path, params)
        used = state.weight.current(now_ms)
        if used + weight > self.limits.weight_per_minute:
            raise self._refuse(
                state, state.weight, now_ms, errors.TOO_MANY_REQUESTS, self.limits.weight_per_minute
            )
        cost = ORDER_COSTS.get((method.upper(), path))
        if cost is not None and account is not None:
            self._charge_orders(
                state, self._accounts.setdefault(account, _AccountState()), cost, now_ms
            )
        state.weight.used += weight
        return Admission(
            self.headers(ip=ip, account=account, orders=cost is not None, now_ms=now_ms)
        )

    def headers(self, *, ip: str, account: str | None, orders: bool, now_ms: int) -> dict[str, str]:
        """The usage headers: weight on every answer, order counts on order answers."""
        state = self._ips.setdefault(ip, _IpState())
        out = {"X-MBX-USED-WEIGHT-1M": str(state.weight.current(now_ms))}
        if orders and account is not None:
            acct = self._accounts.setdefault(account, _AccountState())
            out["X-MBX-ORDER-COUNT-10S"] = str(acct.ten_seconds.current(now_ms))
            out["X-MBX-ORDER-COUNT-1M"] = str(acct.minute.current(now_ms))
        return out

    def impose(self, *, ip: str, now_ms: int, until_ms: int) -> errors.BinanceError:
        """A 429 the fault injector imposes until `until_ms` (a storm), with a real one's rules:
        its Retry-After starts a cooldown, and a request inside it is banned with 418."""
        state = self._ips.setdefault(ip, _IpState())
        self._check_ban(state, now_ms)
        retry_after = max(1, -(-(until_ms - now_ms) // 1000))
        state.cooldown_until_ms = max(state.cooldown_until_ms, now_ms + retry_after * 1000)
        return errors.TOO_MANY_REQUESTS.error(
            self.limits.weight_per_minute, retry_after=retry_after
        )

    def lift_bans(self) -> None:
        """Forget every 429 cooldown and 418 ban: the fault that caused them was cleared."""
        for state in self._ips.values():
            state.cooldown_until_ms = state.banned_until_ms = state.bans = 0

    def _charge_orders(
        self, state: _IpState, acct: _AccountState, cost: tuple[int, int], now_ms: int
    ) -> None:
        # Message wording "%s orders per %s" with "10 SECOND"/"1 MINUTE" is UNCONFIRMED.
        pairs = (
            (acct.ten_seconds, cost[0], self.limits.orders_per_10s, "10 SECOND"),
            (acct.minute, cost[1], self.limits.orders_per_minute, "1 MINUTE"),
        )
        for window, count, limit, label in pairs:
            if window.current(now_ms) + count > limit:
                raise self._refuse(state, window, now_ms, errors.TOO_MANY_ORDERS, limit, label)
        for window, count, _, _ in pairs:
            window.used += count

    def _refuse(
        self,
        state: _IpState,
        window: _Window,
        now_ms: int,
        spec: errors.ErrorSpec,
        *args: object,
    ) -> errors.BinanceError:
        retry_after = window.seconds_left(now_ms)
        state.cooldown_until_ms = max(state.cooldown_until_ms, now_ms + retry_after * 1000)
        return spec.error(*args, retry_after=retry_after)

    def _check_ban(self, state: _IpState, now_ms: int) -> None:
        """418 while banned; a request inside a 429's Retry-After starts (or doubles) a ban."""
        if now_ms < state.banned_until_ms:
            raise self._banned(state, now_ms)
        if now_ms < state.cooldown_until_ms:
            ban_ms = min(self.limits.first_ban_ms * 2**state.bans, self.limits.max_ban_ms)
            state.bans += 1
            state.banned_until_ms = now_ms + ban_ms
            state.cooldown_until_ms = 0
            raise self._banned(state, now_ms)

    @staticmethod
    def _banned(state: _IpState, now_ms: int) -> errors.BinanceError:
        retry_after = max(1, -(-(state.banned_until_ms - now_ms) // 1000))
        return errors.IP_BANNED.error(state.banned_until_ms, retry_after=retry_after)
