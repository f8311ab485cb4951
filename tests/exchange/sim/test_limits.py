import pytest

from exitd.exchange.sim.errors import BinanceError
from exitd.exchange.sim.limits import RateLimiter, RateLimits, request_weight

T0 = 1_700_000_080_000  # 40 s into a whole minute: the window ends at T0 + 20 s


def _admit(
    lim: RateLimiter, now: int, path: str = "/fapi/v1/time", method: str = "GET", *,
    params: dict[str, str] | None = None, ip: str = "1.1.1.1",
) -> dict[str, str]:  # fmt: skip
    return lim.admit(ip=ip, account="acct", method=method, path=path, params=params or {},
                     now_ms=now).headers  # fmt: skip


def test_weights_from_the_table() -> None:
    assert request_weight("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}) == 1
    assert request_weight("GET", "/fapi/v1/openOrders", {}) == 40
    assert request_weight("GET", "/fapi/v1/premiumIndex", {}) == 10
    assert request_weight("GET", "/fapi/v1/positionSide/dual", {}) == 30
    assert request_weight("POST", "/fapi/v1/order", {}) == 0
    assert request_weight("get", "/fapi/v3/account", {}) == 5


def test_used_weight_header_counts_in_a_fixed_minute() -> None:
    lim = RateLimiter()
    assert _admit(lim, T0) == {"X-MBX-USED-WEIGHT-1M": "1"}
    assert _admit(lim, T0 + 1, "/fapi/v3/account")["X-MBX-USED-WEIGHT-1M"] == "6"
    # the window is aligned to the whole minute: 20 s later a new one starts
    assert _admit(lim, T0 + 20_000)["X-MBX-USED-WEIGHT-1M"] == "1"


def test_order_responses_carry_order_counts() -> None:
    lim = RateLimiter()
    h = _admit(lim, T0, "/fapi/v1/order", "POST")
    assert h == {"X-MBX-USED-WEIGHT-1M": "0", "X-MBX-ORDER-COUNT-10S": "1",
                 "X-MBX-ORDER-COUNT-1M": "1"}  # fmt: skip
    h = _admit(lim, T0 + 1, "/fapi/v1/batchOrders", "POST")
    assert h["X-MBX-ORDER-COUNT-10S"] == "6"
    assert h["X-MBX-ORDER-COUNT-1M"] == "2"
    assert h["X-MBX-USED-WEIGHT-1M"] == "5"


def test_weight_over_limit_is_429_then_418_with_doubling_bans() -> None:
    lim = RateLimiter(RateLimits(weight_per_minute=3))
    for i in range(3):
        _admit(lim, T0 + i)
    with pytest.raises(BinanceError) as info:
        _admit(lim, T0 + 500)
    e = info.value
    assert (e.status, e.code, e.retry_after) == (429, -1003, 20)
    assert e.msg.startswith("Too many requests; current limit is 3 requests per minute.")
    with pytest.raises(BinanceError) as info:
        _admit(lim, T0 + 1000)
    ban = info.value
    assert (ban.status, ban.code, ban.retry_after) == (418, -1003, 120)
    assert ban.msg.startswith(f"Way too many requests; IP banned until {T0 + 1000 + 120_000}.")
    with pytest.raises(BinanceError) as info:
        _admit(lim, T0 + 60_000)
    assert (info.value.status, info.value.retry_after) == (418, 61)
    # after the ban, the counters are fresh; a new 429 then a second offence doubles the ban
    after = T0 + 1000 + 120_000
    for i in range(3):
        _admit(lim, after + i)
    with pytest.raises(BinanceError):
        _admit(lim, after + 10)
    with pytest.raises(BinanceError) as info:
        _admit(lim, after + 11)
    assert info.value.retry_after == 240


def test_waiting_out_a_429_avoids_the_ban() -> None:
    lim = RateLimiter(RateLimits(weight_per_minute=1))
    _admit(lim, T0)
    with pytest.raises(BinanceError) as info:
        _admit(lim, T0 + 1)
    retry_after = info.value.retry_after
    assert info.value.status == 429 and retry_after is not None
    assert _admit(lim, T0 + 1 + retry_after * 1000)["X-MBX-USED-WEIGHT-1M"] == "1"


def test_ten_second_order_limit_is_1015_per_account() -> None:
    lim = RateLimiter(RateLimits(orders_per_10s=2))
    _admit(lim, T0, "/fapi/v1/order", "POST")
    _admit(lim, T0 + 1, "/fapi/v1/algoOrder", "POST")
    with pytest.raises(BinanceError) as info:
        _admit(lim, T0 + 2, "/fapi/v1/order", "POST", ip="2.2.2.2")
    e = info.value
    assert (e.status, e.code, e.retry_after) == (429, -1015, 10)
    assert e.msg == "Too many new orders; current limit is 2 orders per 10 SECOND."


def test_minute_order_limit() -> None:
    lim = RateLimiter(RateLimits(orders_per_minute=1))
    _admit(lim, T0, "/fapi/v1/order", "POST")
    with pytest.raises(BinanceError) as info:
        _admit(lim, T0 + 15_000, "/fapi/v1/order", "POST")
    assert info.value.code == -1015
    assert info.value.retry_after == 5
    assert "1 MINUTE" in info.value.msg


def test_requests_without_account_have_no_order_count() -> None:
    lim = RateLimiter()
    h = lim.admit(ip="x", account=None, method="POST", path="/fapi/v1/order", params={},
                  now_ms=T0).headers  # fmt: skip
    assert h == {"X-MBX-USED-WEIGHT-1M": "0"}
