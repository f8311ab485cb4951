"""Signing against Binance's documented HMAC example (binance-usdm.md §2, GI example)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from exitd.exchange.binance.signing import signature, signed_query

SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
PAYLOAD = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
EXPECTED = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_signature_matches_binance_documented_example() -> None:
    assert signature(SECRET, PAYLOAD) == EXPECTED


def test_signed_query_signs_the_string_it_sends_and_puts_the_signature_last() -> None:
    params = dict(parse_qsl(PAYLOAD))
    query = signed_query(params, SECRET)
    assert query == f"{PAYLOAD}&signature={EXPECTED}"


def test_signed_query_encodes_before_signing() -> None:
    query = signed_query({"clientAlgoId": "a:b/c", "timestamp": "1"}, SECRET)
    sent, _, sig = query.rpartition("&signature=")
    assert sent == "clientAlgoId=a%3Ab%2Fc&timestamp=1"
    assert sig == signature(SECRET, sent)
