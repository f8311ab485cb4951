"""HMAC-SHA256 request signing (binance-usdm.md §2): the signature covers the exact query
string sent, so the string is built once here and sent as is, never re-encoded."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode


def signature(secret: str, payload: str) -> str:
    """hex(HMAC_SHA256(secret, payload)), Binance's `signature` parameter."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_query(params: Mapping[str, str], secret: str) -> str:
    """`params` url-encoded in their order, `signature` appended last (Binance requires it
    last; the server verifies the raw string, so the order here is the order signed)."""
    query = urlencode(params)
    return f"{query}&signature={signature(secret, query)}"


__all__ = ["signature", "signed_query"]
