"""HMAC-SHA256 request signing (binance-usdm.md §2): the signature covers the exact query
string sent, so the string is built once here and sent as is, never re-encoded."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import urlencode

# The characters `urlencode` leaves as they are (its quote_plus's always-safe set).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def query_string(params: Mapping[str, str]) -> str:
    """`urlencode(params)`, exactly. An order's parts (symbols, client ids, decimals, flags)
    are all unreserved characters, joined here as they are (one check over all of them at
    once): urlencode quoted each of them one by one, which was most of the time an order
    spent being signed."""
    if not _UNRESERVED.fullmatch("".join(params) + "".join(params.values())):
        return urlencode(params)
    return "&".join(f"{key}={value}" for key, value in params.items())


class Signer:
    """Signs with one secret; the HMAC's keyed state is computed once and copied per request."""

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def signature(self, payload: str) -> str:
        """hex(HMAC_SHA256(secret, payload)), Binance's `signature` parameter."""
        mac = self._keyed.copy()
        mac.update(payload.encode())
        return mac.hexdigest()

    def signed_query(self, params: Mapping[str, str]) -> str:
        """`params` url-encoded in their order, `signature` appended last (Binance requires
        it last; the server verifies the raw string, so the order here is the order signed)."""
        query = query_string(params)
        return f"{query}&signature={self.signature(query)}"


__all__ = ["Signer", "query_string"]
