"""The legacy system's own Binance USD-M calls, as it made them before exitd: signed REST.

Standard library only (urllib, hmac), like many an old trading script. `place_order` is what
the position monitor passes to the exit gateway as its `fallback`: the same order, sent
straight to the exchange, when the daemon cannot be reached. Conditional types go to the
algo endpoint, as Binance requires since 2025-12-09.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

CONDITIONAL = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)


class ExchangeError(Exception):
    """Binance answered with an error code."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class BinanceDirect:
    """Signed calls to one Binance USD-M futures REST base (or the simulator's)."""

    def __init__(self, rest_url: str, api_key: str, api_secret: str) -> None:
        self.rest_url = rest_url.rstrip("/")
        self.api_key = api_key
        self.api_secret = api_secret

    def position(self, symbol: str) -> dict[str, Any] | None:
        """The open position of `symbol` (positionRisk), or None when flat."""
        for item in self._signed("GET", "/fapi/v2/positionRisk", {"symbol": symbol}):
            if Decimal(item["positionAmt"]) != 0:
                return dict(item)
        return None

    def place_order(self, symbol: str, **order: Any) -> dict[str, Any]:
        """POST the order as given; a conditional one as an algo order with the same id."""
        params = {"symbol": symbol, **{k: _text(v) for k, v in order.items()}}
        if params.get("type") in CONDITIONAL:
            params["algoType"] = "CONDITIONAL"
            if "stopPrice" in params:
                params["triggerPrice"] = params.pop("stopPrice")
            if "newClientOrderId" in params:
                params["clientAlgoId"] = params.pop("newClientOrderId")
            return dict(self._signed("POST", "/fapi/v1/algoOrder", params))
        return dict(self._signed("POST", "/fapi/v1/order", params))

    def _signed(self, method: str, path: str, params: dict[str, str]) -> Any:
        query = urllib.parse.urlencode({**params, "timestamp": int(time.time() * 1000)})
        signature = hmac.new(self.api_secret.encode(), query.encode(), hashlib.sha256)
        url = f"{self.rest_url}{path}?{query}&signature={signature.hexdigest()}"
        request = urllib.request.Request(url, method=method)
        request.add_header("X-MBX-APIKEY", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read(), parse_float=Decimal)
        except urllib.error.HTTPError as error:
            raise ExchangeError(error.code, error.read().decode()) from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
