import pytest

from exitd.exchange.sim import auth
from exitd.exchange.sim.errors import BinanceError

KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
SECRETS = {KEY: SECRET}
NOW = 1591702613943
VECTOR = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
VECTOR_SIG = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def _auth(query: str, body: str = "", now: int = NOW, key: str | None = KEY) -> dict[str, str]:
    return auth.authenticate(
        api_key=key, query=query, body=body, secrets=SECRETS, server_time_ms=now
    )


def _code(query: str, body: str = "", now: int = NOW, key: str | None = KEY) -> tuple[int, str]:
    with pytest.raises(BinanceError) as info:
        _auth(query, body, now, key)
    return info.value.code, info.value.msg


def test_official_hmac_vector() -> None:
    assert auth.sign(SECRET, VECTOR) == VECTOR_SIG


def test_signed_query_is_accepted_and_signature_dropped() -> None:
    params = _auth(f"{VECTOR}&signature={VECTOR_SIG}")
    assert params["symbol"] == "BTCUSDT"
    assert "signature" not in params


def test_signature_is_case_insensitive() -> None:
    _auth(f"{VECTOR}&signature={VECTOR_SIG.upper()}")


def test_params_split_between_query_and_body_sign_without_separator() -> None:
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
    sig = auth.sign(SECRET, query + body)
    params = _auth(query, f"{body}&signature={sig}")
    assert params["quantity"] == "1"
    assert params["timeInForce"] == "GTC"


def test_signature_not_last_is_still_verified_over_the_other_bytes() -> None:
    sig = auth.sign(SECRET, VECTOR)
    _auth(f"signature={sig}&{VECTOR}")


def test_query_value_wins_over_body() -> None:
    query = f"price=9100&recvWindow=5000&timestamp={NOW}"
    body = "price=9000"
    sig = auth.sign(SECRET, query + body)
    assert _auth(f"{query}&signature={sig}", body)["price"] == "9100"


def test_raw_query_is_signed_not_a_reencoding() -> None:
    query = f"newClientOrderId=a%2Fb&timestamp={NOW}"
    sig = auth.sign(SECRET, query)
    assert _auth(f"{query}&signature={sig}")["newClientOrderId"] == "a/b"


def test_bad_signature_is_1022() -> None:
    assert _code(f"{VECTOR}&signature={'0' * 64}") == (
        -1022,
        "Signature for this request is not valid.",
    )


def test_missing_signature_and_timestamp_are_1102() -> None:
    assert _code(VECTOR)[0] == -1102
    assert "'signature'" in _code(VECTOR)[1]
    query = "symbol=BTCUSDT"
    assert _code(f"{query}&signature={auth.sign(SECRET, query)}") == (
        -1102,
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    )


def test_missing_key_is_2014_unknown_key_is_2015() -> None:
    signed = f"{VECTOR}&signature={VECTOR_SIG}"
    assert _code(signed, key=None)[0] == -2014
    assert _code(signed, key=" ")[0] == -2014
    assert _code(signed, key="nope") == (-2015, "Invalid API-key, IP, or permissions for action.")


def _at(timestamp: int, recv_window: int | None = None) -> str:
    query = f"timestamp={timestamp}"
    if recv_window is not None:
        query += f"&recvWindow={recv_window}"
    return f"{query}&signature={auth.sign(SECRET, query)}"


def test_timestamp_999_ms_ahead_passes_1000_ahead_fails() -> None:
    _auth(_at(NOW + 999))
    assert _code(_at(NOW + 1000)) == (
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )


def test_timestamp_exactly_recv_window_behind_passes_one_more_fails() -> None:
    _auth(_at(NOW - 5000))
    assert _code(_at(NOW - 5001)) == (
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    _auth(_at(NOW - 20000, 20000))
    assert _code(_at(NOW - 20001, 20000))[0] == -1021


def test_recv_window_over_60000_is_refused() -> None:
    _auth(_at(NOW, 60000))
    assert _code(_at(NOW, 60001))[0] == -1131


def test_malformed_timestamp_is_1102() -> None:
    assert _code(_at(0).replace("timestamp=0", "timestamp=12a"))[0] == -1102


def test_duplicate_in_one_source_is_1101() -> None:
    query = f"timestamp={NOW}&price=1&price=2"
    assert _code(f"{query}&signature={auth.sign(SECRET, query)}")[0] == -1101


def test_split_signature_without_signature() -> None:
    assert auth.split_signature("") == ("", None)
    assert auth.split_signature("a=1&b=2") == ("a=1&b=2", None)
