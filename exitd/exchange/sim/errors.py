"""Binance's error answers, as the simulator sends them: code, exact message, HTTP status.

Messages are copied from Binance's USD-M error page as quoted in binance-usdm.md §7 unless a
comment says otherwise; a client that matches on text must see the exchange's own words. This
module owns the table and nothing else: it must never decide *when* an error applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class BinanceError(Exception):
    """A refusal in the exchange's terms; `status` is the HTTP status it travels with."""

    def __init__(self, code: int, msg: str, status: int = 400, retry_after: int | None = None):
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.retry_after = retry_after


def error_body(e: BinanceError) -> dict[str, Any]:
    """The JSON body Binance sends with an error: `{"code": -1121, "msg": "Invalid symbol."}`."""
    return {"code": e.code, "msg": e.msg}


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One of Binance's messages for a code; `%s` placeholders are filled by `error()`."""

    code: int
    template: str
    status: int = 400

    def error(self, *args: object, retry_after: int | None = None) -> BinanceError:
        msg = self.template % args if args else self.template
        return BinanceError(self.code, msg, self.status, retry_after)


# --- 10xx: server, network, authentication --------------------------------------------------
UNKNOWN = ErrorSpec(-1000, "An unknown error occured while processing the request.", 500)
# HTTP status of -1007 is 408 per [GI] ("timeout waiting for backend"); the exact pairing of
# code and status is UNCONFIRMED, so is 503 for -1008.
TIMEOUT = ErrorSpec(
    -1007,
    "Timeout waiting for response from backend server. "
    "Send status unknown; execution status unknown.",
    408,
)
SERVER_BUSY = ErrorSpec(
    -1008,
    "Server is currently overloaded with other requests. Please try again in a few minutes.",
    503,
)
THROTTLED = ErrorSpec(
    -1008,
    "Request throttled by system-level protection. "
    "Reduce-only/close-position orders are exempt. Please try again.",
    503,
)
TOO_MANY_REQUESTS = ErrorSpec(
    -1003,
    "Too many requests; current limit is %s requests per minute. "
    "Please use the websocket for live updates to avoid polling the API.",
    429,
)
IP_BANNED = ErrorSpec(
    -1003,
    "Way too many requests; IP banned until %s. "
    "Please use the websocket for live updates to avoid bans.",
    418,
)
TOO_MANY_ORDERS = ErrorSpec(-1015, "Too many new orders; current limit is %s orders per %s.", 429)
OUTSIDE_RECV_WINDOW = ErrorSpec(-1021, "Timestamp for this request is outside of the recvWindow.")
AHEAD_OF_SERVER = ErrorSpec(
    -1021, "Timestamp for this request was 1000ms ahead of the server's time."
)
INVALID_SIGNATURE = ErrorSpec(-1022, "Signature for this request is not valid.")

# --- 11xx: request content ------------------------------------------------------------------
ILLEGAL_CHARS = ErrorSpec(-1100, "Illegal characters found in a parameter.")
DUPLICATE_PARAM = ErrorSpec(-1101, "Duplicate values for a parameter detected.")
MANDATORY_PARAM = ErrorSpec(
    -1102, "Mandatory parameter '%s' was not sent, was empty/null, or malformed."
)
EITHER_PARAM = ErrorSpec(-1102, "Param '%s' or '%s' must be sent, but both were empty/null!")
NOT_ALL_READ = ErrorSpec(
    -1104, "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'."
)
PARAM_NOT_REQUIRED = ErrorSpec(-1106, "Parameter '%s' sent when not required.")
BAD_PRECISION = ErrorSpec(-1111, "Precision is over the maximum defined for this asset.")
INVALID_TIF = ErrorSpec(-1115, "Invalid timeInForce.")
INVALID_ORDER_TYPE = ErrorSpec(-1116, "Invalid orderType.")
INVALID_SIDE = ErrorSpec(-1117, "Invalid side.")
INVALID_SYMBOL = ErrorSpec(-1121, "Invalid symbol.")
INVALID_LISTEN_KEY = ErrorSpec(-1125, "This listenKey does not exist.")
INVALID_PARAMETER = ErrorSpec(-1130, "Data sent for parameter '%s' is not valid.")
# -1131 BAD_RECV_WINDOW: spot's answer to recvWindow > 60000, text as observed in public issues
# (binance-exchange/binance-java-api#313, sammchardy/python-binance#432). The fapi error page
# has no -1131, so fapi's answer is UNCONFIRMED.
BAD_RECV_WINDOW = ErrorSpec(-1131, "'recvWindow' must be less than 60000.")
INVALID_RESP_TYPE = ErrorSpec(-1136, "Invalid newOrderRespType.")

# --- 2xxx: order and key outcomes -----------------------------------------------------------
UNKNOWN_ORDER = ErrorSpec(-2011, "Unknown order sent.")
NO_SUCH_ORDER = ErrorSpec(-2013, "Order does not exist.")
# Missing or malformed X-MBX-APIKEY → -2014 (a public log shows a no-key request answered
# HTTP 400 -2014); an unknown key → -2015 with HTTP 401, as fapi answered in ccxt/ccxt#14993
# (whose 401 also carried X-MBX-USED-WEIGHT-1M: weight is charged before the key is checked).
BAD_API_KEY_FORMAT = ErrorSpec(-2014, "API-key format invalid.")
REJECTED_API_KEY = ErrorSpec(-2015, "Invalid API-key, IP, or permissions for action.", 401)
MARGIN_INSUFFICIENT = ErrorSpec(-2019, "Margin is insufficient.")
WOULD_TRIGGER = ErrorSpec(-2021, "Order would immediately trigger.")
REDUCE_ONLY_REJECTED = ErrorSpec(-2022, "ReduceOnly Order is rejected.")

# --- 4xxx: filters and order rules ----------------------------------------------------------
# Messages below not quoted in binance-usdm.md §7 were checked against a stored copy of the
# USD-M error-code page (developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
PRICE_NEGATIVE = ErrorSpec(-4001, "Price less than 0.")
PRICE_ABOVE_MAX = ErrorSpec(-4002, "Price greater than max price.")
QTY_NOT_POSITIVE = ErrorSpec(-4003, "Quantity less than zero.")
QTY_BELOW_MIN = ErrorSpec(-4004, "Quantity less than min quantity.")
QTY_ABOVE_MAX = ErrorSpec(-4005, "Quantity greater than max quantity.")
PRICE_BELOW_MIN = ErrorSpec(-4013, "Price less than min price.")
PRICE_OFF_TICK = ErrorSpec(-4014, "Price not increased by tick size.")
CLIENT_ID_INVALID = ErrorSpec(-4015, "Client order id is not valid.")
CLIENT_ID_TOO_LONG = ErrorSpec(-4015, "Client order id length should not be more than 36 chars")
PRICE_ABOVE_MULTIPLIER_UP = ErrorSpec(-4016, "Price is higher than mark price multiplier cap.")
QTY_OFF_STEP = ErrorSpec(-4023, "Qty not increased by step size.")
PRICE_BELOW_MULTIPLIER_DOWN = ErrorSpec(-4024, "Price is lower than mark price multiplier floor.")
MAX_STOP_ORDERS = ErrorSpec(-4045, "Reach max stop order limit.")
INVALID_WORKING_TYPE = ErrorSpec(-4031, "Invalid parameter working type")
INVALID_POSITION_SIDE = ErrorSpec(-4060, "Invalid position side.")
POSITION_SIDE_MISMATCH = ErrorSpec(-4061, "Order's position side does not match user's setting.")
REDUCE_ONLY_CONFLICT = ErrorSpec(-4062, "Invalid or improper reduceOnly value.")
BATCH_SIZE = ErrorSpec(-4082, "Invalid number of batch place orders.")
DUPLICATE_CLIENT_ID = ErrorSpec(-4116, "clientOrderId is duplicated")
# -4118: the Binance FAQ "Summary of Failed Orders" and a live answer (Qubx#386, §14).
REDUCE_ONLY_FAILED = ErrorSpec(
    -4118, "ReduceOnly Order Failed. Please check your existing position and open orders"
)
USE_ALGO_ENDPOINT = ErrorSpec(
    -4120,
    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
)
# -4130 is observed in public code only, not on the official page (binance-usdm.md §5.4).
CLOSE_POSITION_EXISTS = ErrorSpec(
    -4130,
    "An open stop or take profit order with GTE and closePosition in the direction is existing.",
)
# -4509: observed in public reports only (sieblyio/binance#609), not on the official page.
GTE_NO_POSITION = ErrorSpec(-4509, "Time in Force (TIF) GTE can only be used with open positions.")
MARKET_PERCENT_PRICE = ErrorSpec(
    -4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit"
)
INVALID_ACTIVATION_PRICE = ErrorSpec(-4135, "Invalid activation price")
# callbackRate outside 0.1–20: code and text UNCONFIRMED. The official page lists no code for
# it; -4136 is the unlisted gap between INVALID_ACTIVATION_PRICE and
# QUANTITY_EXISTS_WITH_CLOSE_POSITION, and public bots treat it next to -2021 as a
# trailing-order answer.
INVALID_CALLBACK_RATE = ErrorSpec(-4136, "Invalid callback rate")
QTY_WITH_CLOSE_POSITION = ErrorSpec(-4137, "Quantity must be zero with closePosition equals true")
REDUCE_ONLY_WITH_CLOSE_POSITION = ErrorSpec(
    -4138, "Reduce only must be true with closePosition equals true"
)
MIN_NOTIONAL = ErrorSpec(
    -4164, "Order's notional must be no smaller than %s (unless you choose reduce only)."
)

# --- 5xxx: time-in-force outcomes -----------------------------------------------------------
FOK_REJECTED = ErrorSpec(
    -5021, "Due to the order could not be filled immediately, the FOK order has been rejected."
)
GTX_REJECTED = ErrorSpec(
    -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected."
)
BAD_GOOD_TILL_DATE = ErrorSpec(
    -5040,
    "The goodTillDate timestamp must be greater than the current time plus 600 seconds "
    "and smaller than 253402300799000 (UTC 9999-12-31 23:59:59)",
)


def _primary_messages() -> dict[int, ErrorSpec]:
    """The first message defined for each code, for callers that only know the code."""
    table: dict[int, ErrorSpec] = {}
    for value in globals().values():
        if isinstance(value, ErrorSpec):
            table.setdefault(value.code, value)
    return table


BY_CODE: dict[int, ErrorSpec] = _primary_messages()


def error_for(code: int, *args: object) -> BinanceError:
    """The exchange's error for a bare code (fault injection names codes, not messages)."""
    return BY_CODE[code].error(*args)
