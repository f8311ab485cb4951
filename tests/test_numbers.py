"""Numbers from outside: a finite decimal in a sane range, or a `NumberError`, never more."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitd.numbers import MAX_PLACES, MAX_WHOLE_DIGITS, NumberError, parse_decimal, parse_int

# Texts a user or a file may hold: what Decimal reads, and what only looks like a number.
NUMERIC_TEXT = st.one_of(
    st.text(alphabet="0123456789+-.eE_ \n", max_size=30),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.integers(min_value=-(10**4000), max_value=10**4000).map(str),
    st.integers(1, 6000).map("9".__mul__),
    st.builds(
        "{}e{}".format,
        st.integers(-(10**30), 10**30),
        st.integers(-(10**12), 10**12),
    ),
    st.sampled_from(["NaN", "sNaN", "-Infinity", "inf", "١٢", "1_000", "0x10"]),
    st.text(max_size=10),
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("28145.10", Decimal("28145.10")),
        (" 2.81451E+4\n", Decimal("28145.1")),
        ("-0.5", Decimal("-0.5")),
        ("999999999999.999999999999", Decimal("999999999999.999999999999")),
        ("0.000000000001", Decimal("1E-12")),
        ("28145.10000000000000", Decimal("28145.100000000000")),  # zeros only: kept exactly
        ("0E-999999999", Decimal(0)),
    ],
)
def test_sane_numbers_are_read_exactly(text: str, value: Decimal) -> None:
    parsed = parse_decimal(text)
    assert parsed == value
    assert str(parsed) == str(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e999999999", "out of range"),
        ("-1e999999999", "out of range"),
        ("1000000000000", "out of range"),
        ("1e-999999999", "more than 12 decimal places"),
        ("0.0000000000001", "more than 12 decimal places"),
        ("NaN", "not a decimal number"),
        ("sNaN", "not a decimal number"),
        ("Infinity", "not a decimal number"),
        ("9" * 5000, "not a decimal number"),
        ("1_000", "not a decimal number"),
        ("١٢", "not a decimal number"),
        ("1e9999999999", "not a decimal number"),
        ("", "not a decimal number"),
    ],
)
def test_other_numbers_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(NumberError, match=reason) as caught:
        parse_decimal(text)
    assert len(str(caught.value)) < 120  # a 5,000-digit number is not echoed whole


@given(NUMERIC_TEXT)
def test_any_text_is_a_sane_decimal_or_a_number_error(text: str) -> None:
    try:
        value = parse_decimal(text)
    except NumberError:
        return
    assert value.is_finite()
    assert value.copy_abs() < Decimal(10) ** MAX_WHOLE_DIGITS
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int) and exponent >= -MAX_PLACES
    assert value == Decimal(text.strip())  # exact, never rounded


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1", "-1 is negative"),
        ("11", "out of range"),
        ("9" * 5000, "not an integer"),
        ("1.0", "not an integer"),
    ],
)
def test_integers_are_refused_outside_their_range(text: str, reason: str) -> None:
    with pytest.raises(NumberError, match=reason):
        parse_int(text, 0, 10)
    assert parse_int(" 10\n", 0, 10) == 10
