"""Numbers from outside (price files, command-line options, config): a finite decimal in a sane
range, or a reason why not.

The engine's arithmetic runs in Decimal's default context (28 digits, exponents to ±999999).
A value beyond these bounds would end a replay or a config check in a `decimal.Overflow` or
`InvalidOperation` traceback far from where it was read; refusing it here lets each reader say
where it came from (file and line, option, key). With at most 12 digits either side of the
point, a price divided by a tick, or a quantity by a step, always fits the 28 digits.
"""

from __future__ import annotations

import re
from decimal import Decimal

MAX_WHOLE_DIGITS = 12
MAX_PLACES = 12
_MAX = Decimal(10) ** MAX_WHOLE_DIGITS
_PLACES = Decimal(1).scaleb(-MAX_PLACES)
_MAX_TEXT = 64  # longer than any sane number however it is written
# ASCII digits only: Decimal itself would take "1_000", "١٢" and "Infinity".
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


class NumberError(ValueError):
    """Why a text is not a sane number; the caller adds where the text came from."""


def is_decimal_text(text: str) -> bool:
    """Whether `text` is written as a decimal number, whatever its size: ids and times are."""
    return _DECIMAL.fullmatch(text.strip()) is not None


def parse_decimal(text: str) -> Decimal:
    """`text` (surrounding whitespace ignored) as a finite decimal within `sane_decimal`'s range."""
    stripped = text.strip()
    if len(stripped) > _MAX_TEXT or not is_decimal_text(stripped):
        raise NumberError(f"{_shown(stripped)} is not a decimal number")
    return _judged(Decimal(stripped), stripped)


def sane_decimal(value: Decimal) -> Decimal:
    """`value` if finite, below 10^12 in size and with at most 12 decimal places.

    Places beyond 12 that are only trailing zeros are dropped, not refused. Works without
    the context, so even 1E+999999999 is judged rather than overflowing.
    """
    return _judged(value, str(value))


def _judged(value: Decimal, text: str) -> Decimal:
    if not value.is_finite():
        raise NumberError(f"{_shown(text)} is not a finite number")
    if value.copy_abs() >= _MAX:
        limit = f"at most {MAX_WHOLE_DIGITS} digits before the point"
        raise NumberError(f"{_shown(text)} is out of range ({limit})")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent >= -MAX_PLACES:
        return value
    if value.is_zero():
        return Decimal(0)
    exact = value.quantize(_PLACES)  # fits: |value| < 10^12, so at most 24 digits
    if exact != value:
        raise NumberError(f"{_shown(text)} has more than {MAX_PLACES} decimal places")
    return exact


def parse_int(text: str, low: int, high: int) -> int:
    """`text` as an integer from `low` to `high`, parsed only if short enough to be one."""
    stripped = text.strip()
    if len(stripped) > _MAX_TEXT or not _INTEGER.fullmatch(stripped):
        raise NumberError(f"{_shown(stripped)} is not an integer")
    value = int(stripped)
    if value < low:
        raise NumberError(f"{value} is negative" if low == 0 else f"{value} is below {low}")
    if value > high:
        raise NumberError(f"{value} is out of range (at most {high})")
    return value


def _shown(text: str) -> str:
    """A refused text as a message quotes it: cut short, so a 5,000-digit number stays a line."""
    return repr(text if len(text) <= 24 else text[:20] + "…")
