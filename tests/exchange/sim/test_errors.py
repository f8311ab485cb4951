from exitd.exchange.sim import errors
from exitd.exchange.sim.errors import BinanceError, error_body, error_for


def test_error_body_is_code_and_msg() -> None:
    assert error_body(errors.INVALID_SYMBOL.error()) == {"code": -1121, "msg": "Invalid symbol."}


def test_templates_fill_parameter_names() -> None:
    e = errors.MANDATORY_PARAM.error("timestamp")
    assert e.msg == "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
    assert errors.PARAM_NOT_REQUIRED.error("price").msg == (
        "Parameter 'price' sent when not required."
    )
    assert errors.MIN_NOTIONAL.error("5").msg == (
        "Order's notional must be no smaller than 5 (unless you choose reduce only)."
    )


def test_both_timestamp_messages_are_binances() -> None:
    assert errors.OUTSIDE_RECV_WINDOW.error().msg == (
        "Timestamp for this request is outside of the recvWindow."
    )
    assert errors.AHEAD_OF_SERVER.error().msg == (
        "Timestamp for this request was 1000ms ahead of the server's time."
    )


def test_rate_limit_errors_carry_their_http_status() -> None:
    assert errors.TOO_MANY_REQUESTS.error(2400, retry_after=3).status == 429
    assert errors.TOO_MANY_ORDERS.error(300, "10 SECOND").status == 429
    assert errors.IP_BANNED.error(1).status == 418
    assert errors.INVALID_SIGNATURE.error().status == 400


def test_error_for_a_bare_code_uses_the_first_message() -> None:
    e = error_for(-4120)
    assert isinstance(e, BinanceError)
    assert e.msg.startswith("Order type not supported for this endpoint.")
    assert error_for(-1021).msg == "Timestamp for this request is outside of the recvWindow."
    assert error_for(-1007).status == 408
