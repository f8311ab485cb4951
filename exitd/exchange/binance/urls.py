"""Base URLs per exchange kind (binance-usdm.md §1): the config's presets, or those given.

REST paths (`/fapi/...`) and websocket routes (`/market/stream`, `/private/ws`) are appended
by the adapter, so a base is scheme and host only, as in `exitd.ops.config.DEFAULT_URLS`.
"""

from __future__ import annotations

from exitd.ops.config import DEFAULT_URLS, ExchangeKind


def endpoints(
    kind: ExchangeKind | str, rest_url: str | None = None, ws_url: str | None = None
) -> tuple[str, str]:
    """(rest_url, ws_url): the given ones, else the preset of `kind`; a kind without a
    preset (the sim, which binds a free port) must be given both."""
    preset_rest, preset_ws = DEFAULT_URLS[ExchangeKind(kind)]
    rest, ws = rest_url or preset_rest, ws_url or preset_ws
    if rest is None or ws is None:
        raise ValueError(f"{ExchangeKind(kind).value}: rest_url and ws_url must be given")
    return rest.rstrip("/"), ws.rstrip("/")


__all__ = ["endpoints"]
