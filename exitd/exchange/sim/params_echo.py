"""Order parameters the simulator only records and echoes, and one it refuses by name.

`selfTradePreventionMode` and `priceProtect` change nothing in a one-account book, but a
client reads them back in answers, queries and stream events, so they are kept as sent.
`activationPrice` is the trailing parameter's name before 2025-12-22; `algoOrder` reads
`activatePrice` (binance-usdm.md §5.1, §14). Taking the old name silently as "no activation"
would arm a trailing stop at once, so it is refused naming it (-1106 "Parameter
'activationPrice' sent when not required."); what Binance answers is unconfirmed.
"""

from __future__ import annotations

from collections.abc import Mapping

from exitd.exchange.sim import errors

STP_MODES = frozenset({"NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"})


def stp_mode(params: Mapping[str, str]) -> str | None:
    """`selfTradePreventionMode` as sent (None when not sent); -1130 for a mode Binance lacks."""
    raw = params.get("selfTradePreventionMode") or None
    if raw is not None and raw not in STP_MODES:
        raise errors.INVALID_PARAMETER.error("selfTradePreventionMode")
    return raw


def refuse_activation_price(params: Mapping[str, str]) -> None:
    """-1106 for the pre-2025-12-22 `activationPrice` on `POST /fapi/v1/algoOrder`."""
    if params.get("activationPrice", "") != "":
        raise errors.PARAM_NOT_REQUIRED.error("activationPrice")
