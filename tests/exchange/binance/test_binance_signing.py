"""Signing against Binance's documented HMAC example (binance-usdm.md §2, GI example)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from exitd.exchange.binance.signing import Signer, query_string

SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
PAYLOAD = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
EXPECTED = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_signature_matches_binance_documented_example() -> None:
    assert Signer(SECRET).signature(PAYLOAD) == EXPECTED


def test_signed_query_signs_the_string_it_sends_and_puts_the_signature_last() -> None:
    params = dict(parse_qsl(PAYLOAD))
    query = Signer(SECRET).signed_query(params)
    assert query == f"{PAYLOAD}&signature={EXPECTED}"


def test_signed_query_encodes_before_signing() -> None:
    signer = Signer(SECRET)
    query = signer.signed_query({"clientAlgoId": "a:b/c", "timestamp": "1"})
    sent, _, sig = query.rpartition("&signature=")
    assert sent == "clientAlgoId=a%3Ab%2Fc&timestamp=1"
    assert sig == signer.signature(sent)


def test_a_signer_signs_each_payload_afresh() -> None:
    signer = Signer(SECRET)
    first = signer.signature("timestamp=1")
    assert signer.signature(PAYLOAD) == EXPECTED
    assert signer.signature("timestamp=1") == first != EXPECTED


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.one_of(st.from_regex(r"[A-Za-z0-9_.~-]*", fullmatch=True), st.text(max_size=12)),
        max_size=6,
    )
)
def test_query_string_is_urlencode(params: dict[str, str]) -> None:
    assert query_string(params) == urlencode(params)
