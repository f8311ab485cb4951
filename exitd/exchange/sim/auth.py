"""Signed-request checks of the simulator: API key, timestamp window and HMAC-SHA256 signature.

Binance signs the RAW bytes it received: the query string exactly as sent (minus the
`signature` parameter) followed directly by the raw form body (binance-usdm.md §2). So this
module never re-encodes or sorts parameters before verifying; the server must hand it
`request.rel_url.raw_query_string` and the undecoded body. Pure: time is an argument.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from exitd.exchange.sim import errors
from exitd.exchange.sim.params import integer

DEFAULT_RECV_WINDOW_MS = 5000
# 60000 is spot's documented maximum; fapi's is UNCONFIRMED (binance-usdm.md §2).
MAX_RECV_WINDOW_MS = 60000
# Binance refuses a timestamp 1000 ms or more ahead of its clock (§2 server logic).
MAX_AHEAD_MS = 1000


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload`, as a client computes `signature`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def split_signature(raw: str) -> tuple[str, str | None]:
    """`raw` without its `signature=` parameters (wherever they sit) and the signature sent.

    Binance requires the signature last, but a client that puts it elsewhere must still be
    verified over exactly the other bytes, so each `&`-separated part is kept verbatim.
    """
    if not raw:
        return "", None
    kept: list[str] = []
    signature: str | None = None
    for part in raw.split("&"):
        name, _, value = part.partition("=")
        if name == "signature":
            signature = value
        else:
            kept.append(part)
    return "&".join(kept), signature


def merge_params(query: str, body: str) -> dict[str, str]:
    """Query and form body as one mapping; the QUERY value wins on a duplicate (§2)."""
    merged = _parse(body)
    merged.update(_parse(query))
    return merged


def _parse(raw: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in params:
            raise errors.DUPLICATE_PARAM.error()
        params[name] = value
    return params


def check_api_key(api_key: str | None, secrets: Mapping[str, str]) -> str:
    """The secret for the `X-MBX-APIKEY` sent: -2014 if absent/blank, -2015 if unknown."""
    if api_key is None or not api_key.strip():
        raise errors.BAD_API_KEY_FORMAT.error()
    secret = secrets.get(api_key)
    if secret is None:
        raise errors.REJECTED_API_KEY.error()
    return secret


def check_timestamp(params: Mapping[str, str], server_time_ms: int) -> None:
    """Accept iff: `timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow`."""
    # Binance answers a malformed timestamp with -1102 naming it; recvWindow likewise (its
    # exact answer for a malformed recvWindow is UNCONFIRMED).
    timestamp = integer(params, "timestamp", malformed=errors.MANDATORY_PARAM)
    if timestamp is None:
        raise errors.MANDATORY_PARAM.error("timestamp")
    recv_window = integer(params, "recvWindow", malformed=errors.MANDATORY_PARAM)
    if recv_window is None:
        recv_window = DEFAULT_RECV_WINDOW_MS
    if recv_window > MAX_RECV_WINDOW_MS:
        raise errors.BAD_RECV_WINDOW.error()
    if timestamp >= server_time_ms + MAX_AHEAD_MS:
        raise errors.AHEAD_OF_SERVER.error()
    if server_time_ms - timestamp > recv_window:
        raise errors.OUTSIDE_RECV_WINDOW.error()


def verify_signature(secret: str, query: str, body: str) -> None:
    """-1102 when no signature was sent, -1022 when it does not match (hex, any case)."""
    unsigned_query, in_query = split_signature(query)
    unsigned_body, in_body = split_signature(body)
    sent = in_query if in_query is not None else in_body
    if not sent:
        raise errors.MANDATORY_PARAM.error("signature")
    expected = sign(secret, unsigned_query + unsigned_body)
    if not hmac.compare_digest(expected.encode(), sent.lower().encode()):
        raise errors.INVALID_SIGNATURE.error()


def authenticate(
    *,
    api_key: str | None,
    query: str,
    body: str,
    secrets: Mapping[str, str],
    server_time_ms: int,
) -> dict[str, str]:
    """Check a SIGNED request and return its merged parameters (query wins).

    Order of checks (Binance's own order is UNCONFIRMED): key, parameter syntax, timestamp
    window, signature — a stale request is told -1021 before its signature is looked at,
    which is what clients with a skewed clock report seeing.
    """
    secret = check_api_key(api_key, secrets)
    params = merge_params(query, body)
    check_timestamp(params, server_time_ms)
    verify_signature(secret, query, body)
    params.pop("signature", None)
    return params
