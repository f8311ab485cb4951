"""How the simulator prints numbers, for REST answers and stream events alike.

One rounding rule (half-up) and one padding rule: a price or quantity of a listed symbol is
printed with exactly that symbol's pricePrecision / quantityPrecision decimals, as Binance
prints them ("65000.10", "0.010"); a symbol the simulator does not list prints plainly. The
one difference Binance itself makes is kept, and named: its streams write a price or
quantity that is zero or absent as "0" (a MARKET order's `p`, an unfilled `ap`), where its
REST answers pad it ("0.00"). Never a signed zero, never an exponent. Pure.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from exitd.exchange.sim.symbols import SYMBOLS

_ZERO = Decimal(0)
MONEY_PLACES = 8  # balances, P&L, commissions: "23.72469206"
MARK_PLACES = 8  # mark prices, REST and stream: "11793.63104562"
# Binance funds every 8 h from 00:00 UTC. The simulator charges no funding, so the rate it
# shows (premiumIndex lastFundingRate, markPriceUpdate `r`) is zero, never an invented figure.
FUNDING_INTERVAL_MS = 8 * 3600 * 1000
FUNDING_RATE = _ZERO


def next_funding_ms(time_ms: int) -> int:
    """The next funding instant after `time_ms`."""
    return (time_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def fixed(value: Decimal | None, places: int) -> str:
    """Fixed point with exactly `places` decimals, rounded half-up; None prints as zero."""
    v = _ZERO if value is None else value
    rounded = v.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    # A zero that is negative (a short's P&L at its entry, -0.000000001 rounded) would print
    # as "-0.00000000"; Binance never sends a signed zero.
    return f"{rounded.copy_abs() if rounded == 0 else rounded:f}"


def plain(value: Decimal) -> str:
    """A computed decimal as Binance prints one: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def price(symbol: str, value: Decimal | None) -> str:
    """A price padded to the symbol's pricePrecision (REST)."""
    spec = SYMBOLS.get(symbol)
    if spec is None:
        return plain(value or _ZERO)
    return fixed(value, spec.price_precision)


def qty(symbol: str, value: Decimal | None) -> str:
    """A quantity padded to the symbol's quantityPrecision (REST)."""
    spec = SYMBOLS.get(symbol)
    if spec is None:
        return plain(value or _ZERO)
    return fixed(value, spec.quantity_precision)


def stream_price(symbol: str, value: Decimal | None) -> str:
    """A price in a stream event: padded, but "0" when zero or absent."""
    return price(symbol, value) if value else "0"


def stream_qty(symbol: str, value: Decimal | None) -> str:
    """A quantity in a stream event: padded, but "0" when zero or absent."""
    return qty(symbol, value) if value else "0"
