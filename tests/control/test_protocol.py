"""The wire format (pure): requests read strictly, answers written exactly."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from exitd.control.protocol import (
    Code,
    CommandError,
    failed,
    ok,
    parse_request,
    request_id_of,
    symbol_arg,
)


def test_a_request_and_its_numbers_read_exactly() -> None:
    request = parse_request(b'{"id": 7, "cmd": "submit", "args": {"price": 0.1}}')
    assert request.id == 7 and request.cmd == "submit"
    assert request.args["price"] == Decimal("0.1")  # no float on the way


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"{", Code.BAD_JSON),
        (b'{"cmd": "status", "args": {"x": Infinity}}', Code.BAD_JSON),
        (b"\xff", Code.BAD_JSON),
        (b"null", Code.BAD_REQUEST),
        (b'{"id": true, "cmd": "status"}', Code.BAD_REQUEST),
        (b'{"id": 1, "cmd": ""}', Code.BAD_REQUEST),
        (b'{"id": 1, "cmd": "status", "args": "x"}', Code.BAD_REQUEST),
    ],
)
def test_bad_lines(line: bytes, code: Code) -> None:
    with pytest.raises(CommandError) as refused:
        parse_request(line)
    assert refused.value.code is code


def test_the_id_of_a_bad_request_is_echoed_when_readable() -> None:
    assert request_id_of(b'{"id": "a1", "cmd": 5}') == "a1"
    assert request_id_of(b"garbage") is None


def test_answers_carry_decimals_as_exact_text() -> None:
    answer = orjson.loads(ok(3, {"price": Decimal("39000.10")}))
    assert answer == {"id": 3, "ok": True, "result": {"price": "39000.10"}}
    error = CommandError(Code.REJECTED, "no", {"exchangeCode": -2021})
    assert orjson.loads(failed(3, error)) == {
        "id": 3,
        "ok": False,
        "error": {"code": "rejected", "message": "no", "detail": {"exchangeCode": -2021}},
    }


def test_symbols_are_letters_and_digits() -> None:
    assert symbol_arg({"symbol": "btcusdt"}) == "BTCUSDT"
    for bad in ("BTC/USDT", "", 5, "A" * 40):
        with pytest.raises(CommandError):
            symbol_arg({"symbol": bad})
