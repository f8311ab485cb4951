"""How the simulator prints numbers, for REST answers and stream events alike.

One rounding rule (half-up) and one padding rule: a price or quantity of a listed symbol is
printed with exactly that symbol's pricePrecision / quantityPrecision decimals, as Binance
prints them ("65000.10", "0.010"); a symbol the simulator does not list prints plainly. The
one difference Binance itself makes is kept, and named: its streams write a price or
quantity that is zero or absent as "0" (a MARKET order's `p`, an unfilled `ap`), where its
REST answers pad it ("0.00"). Never a signed zero, never an exponent. Pure.

It also holds the bounds on what the simulator accepts, in one place: a number from the wire
is plain digits (no exponent, sign only where asked, no whitespace, NaN or Infinity) of a
bounded length, and a request, its URL, body and JSON are bounded too, so no input can make
the simulator compute forever, run out of memory, or answer 500.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from exitd.exchange.sim.symbols import SYMBOLS

_ZERO = Decimal(0)

# --- bounds on input ------------------------------------------------------------------------
MAX_INTEGER_DIGITS = 19  # a signed 64-bit long, as Binance's ids and times are
MAX_WHOLE_DIGITS = 20  # digits before the point of a decimal
MAX_FRACTION_DIGITS = 20  # and after it
MAX_MAGNITUDE = Decimal("1e15")  # the largest price or quantity the admin routes accept
MAX_URL_BYTES = 8190  # aiohttp's request-line limit; longer: 414
MAX_BODY_BYTES = 1 << 20  # longer: 413
BODY_TIMEOUT_S = 10.0  # a body not received in full by then: 408, connection closed
MAX_FIELDS = 1000  # parameters in one request
_DECIMAL = re.compile(rf"-?[0-9]{{1,{MAX_WHOLE_DIGITS}}}(\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?")
_INTEGER = re.compile(rf"[0-9]{{1,{MAX_INTEGER_DIGITS}}}")


def parse_decimal(text: str) -> Decimal | None:
    """`text` as a Decimal if it is a plain, bounded decimal ("-12.5"), else None."""
    return Decimal(text) if _DECIMAL.fullmatch(text) else None


def parse_integer(text: str) -> int | None:
    """`text` as an int if it is plain ASCII digits fitting a long, else None."""
    return int(text) if _INTEGER.fullmatch(text) else None


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
