"""The outcome table: every HTTP status and Binance code the adapter maps, and what it maps
them to (RELIABILITY.md §2 rows 2, 3, 5, 8-16)."""

from __future__ import annotations

from typing import Any

import pytest

from exitd.exchange.binance.errors import Answer, classify, is_error, retry_after_s, usage_of
from exitd.exchange.port import RateUsage, Rejected, RejectKind, Unknown

UNKNOWN = "unknown"
R = RejectKind

# (status, body, outcome): a RejectKind, or UNKNOWN
TABLE: list[tuple[int, Any, RejectKind | str]] = [
    # status unknown: the request may have been executed
    (503, {"code": -1000, "msg": "Unknown error, please check your request or try again later."},
     UNKNOWN),
    (503, {"msg": "Unknown error, please check your request or try again later."}, UNKNOWN),
    (408, {"code": -1007, "msg": "Timeout waiting for response from backend server. "
                                 "Send status unknown; execution status unknown."}, UNKNOWN),
    (503, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, UNKNOWN),
    (400, {"code": -1006, "msg": "An unexpected response was received from the message bus."},
     UNKNOWN),
    (500, {"code": -1000, "msg": "An unknown error occured while processing the request."},
     UNKNOWN),
    (502, None, UNKNOWN),
    (504, {"code": -1001, "msg": "Gateway timeout"}, UNKNOWN),
    (400, None, UNKNOWN),  # an unreadable body after sending proves nothing
    (200, None, UNKNOWN),
    # definite failures Binance says to resend (row 3)
    (503, {"code": -1001, "msg": "Service Unavailable."}, R.OTHER),
    (503, {"msg": "Service Unavailable."}, R.OTHER),
    (503, {"code": -1001, "msg": "Internal error; unable to process your request. "
                                 "Please try again."}, R.OTHER),
    (503, {"code": -1008, "msg": "Request throttled by system-level protection. "
                                 "Reduce-only/close-position orders are exempt."}, R.RATE_LIMITED),
    # business refusals
    (400, {"code": -2021, "msg": "Order would immediately trigger."}, R.WOULD_TRIGGER),
    (400, {"code": -4142, "msg": "REJECT: take profit or stop order will be triggered "
                                 "immediately"}, R.WOULD_TRIGGER),
    (400, {"code": -2022, "msg": "ReduceOnly Order is rejected."}, R.REDUCE_ONLY),
    (400, {"code": -4118, "msg": "ReduceOnly Order Failed."}, R.REDUCE_ONLY),
    (400, {"code": -4116, "msg": "clientOrderId is duplicated"}, R.DUPLICATE_ID),
    (400, {"code": -4130, "msg": "An open stop or take profit order with GTE and closePosition "
                                 "in the direction is existing."}, R.CLOSE_POSITION_EXISTS),
    (400, {"code": -4509, "msg": "Time in Force (TIF) GTE can only be used with open "
                                 "positions."}, R.NO_POSITION),
    (400, {"code": -2013, "msg": "Order does not exist."}, R.NOT_FOUND),
    (400, {"code": -2011, "msg": "Unknown order sent."}, R.NOT_FOUND),
    (429, {"code": -1003, "msg": "Too many requests."}, R.RATE_LIMITED),
    (429, None, R.RATE_LIMITED),
    (400, {"code": -1003, "msg": "Too many requests."}, R.RATE_LIMITED),
    (429, {"code": -1015, "msg": "Too many new orders."}, R.RATE_LIMITED),
    (418, {"code": -1003, "msg": "Way too many requests; IP banned until 1."}, R.BANNED),
    (418, None, R.BANNED),
    (400, {"code": -4045, "msg": "Reach max stop order limit."}, R.TOO_MANY_ORDERS),
    (400, {"code": -4164, "msg": "Order's notional must be no smaller than 5.0"}, R.NOTIONAL),
    (400, {"code": -1121, "msg": "Invalid symbol."}, R.BAD_SYMBOL),
    (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
     R.CLOCK),
    (400, {"code": -5028, "msg": "Timestamp for this request is outside of the ME recvWindow."},
     R.CLOCK),
    (400, {"code": -4120, "msg": "Order type not supported for this endpoint."}, R.OTHER),
    (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, R.OTHER),
    (400, {"code": -1102, "msg": "Mandatory parameter 'quantity' was not sent."}, R.OTHER),
    (200, {"code": -2022, "msg": "ReduceOnly Order is rejected."}, R.REDUCE_ONLY),  # batch item
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "expected"), TABLE)
def test_every_answer_maps_to_its_outcome(status: int, body: Any, expected: Any) -> None:
    answer = Answer(status, body, {"X-MBX-USED-WEIGHT-1M": "7"})
    assert is_error(answer)
    outcome = classify(answer)
    if expected == UNKNOWN:
        assert isinstance(outcome, Unknown), outcome
    else:
        assert isinstance(outcome, Rejected), outcome
        assert outcome.kind is expected
        assert outcome.code == (body or {}).get("code")
    assert outcome.usage == RateUsage(weight_1m=7)


def test_results_are_not_errors() -> None:
    assert not is_error(Answer(200, {"orderId": 1}, {}))
    assert not is_error(Answer(200, [], {}))
    # the algo cancel answer carries a positive string code
    assert not is_error(Answer(200, {"algoId": 1, "code": "200", "msg": "success"}, {}))


def test_retry_after_travels_with_rate_limits_and_bans() -> None:
    limited = classify(Answer(429, {"code": -1003, "msg": "x"}, {"Retry-After": "12"}))
    banned = classify(Answer(418, {"code": -1003, "msg": "x"}, {"retry-after": "120"}))
    assert isinstance(limited, Rejected) and limited.retry_after_s == 12
    assert isinstance(banned, Rejected) and banned.retry_after_s == 120
    assert retry_after_s({"Retry-After": "soon"}) is None


def test_usage_headers_are_read_case_insensitively() -> None:
    headers = {"x-mbx-used-weight-1m": "40", "X-MBX-ORDER-COUNT-10S": "3",
               "X-Mbx-Order-Count-1M": "9"}  # fmt: skip
    assert usage_of(headers) == RateUsage(weight_1m=40, orders_10s=3, orders_1m=9)
    assert usage_of({"Content-Type": "application/json"}) is None
