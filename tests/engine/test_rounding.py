"""Rounding onto the exchange grid (SPEC-exits.md, "Rounding and exchange filters").

Every expected value here is worked out by hand from the SPEC, never computed by the code under
test: prices round to the nearest tick with half a tick away from zero, quantities round down,
and a price that lands on or past the current price moves to the nearest tick strictly on its
own side.
"""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitd.engine.rounding import (
    on_grid,
    price_above,
    price_below,
    round_price,
    round_qty_down,
    tick_above,
    tick_below,
)


@pytest.mark.parametrize(
    ("price", "tick", "expected"),
    [
        (D("100.05"), D("0.1"), D("100.1")),  # exactly half a tick: away from zero
        (D("100.15"), D("0.1"), D("100.2")),
        (D("100.25"), D("0.1"), D("100.3")),  # banker's rounding would give 100.2
        (D("100.049999"), D("0.1"), D("100.0")),
        (D("100.050001"), D("0.1"), D("100.1")),
        (D("100.25"), D("0.5"), D("100.5")),  # half of a 0.5 tick
        (D("100.2499"), D("0.5"), D("100.0")),
        (D("0.123450"), D("0.00001"), D("0.12345")),
        (D("0.123455"), D("0.00001"), D("0.12346")),
        (D("27345.5"), D("1"), D("27346")),
        (D("27344.5"), D("1"), D("27345")),  # banker's rounding would give 27344
        (D("100.0"), D("0.1"), D("100.0")),  # on grid stays
    ],
)
def test_price_rounds_to_nearest_tick_with_half_tick_away_from_zero(price, tick, expected):
    rounded = round_price(price, tick)
    assert rounded == expected
    assert on_grid(rounded, tick)


@pytest.mark.parametrize(
    ("qty", "step", "expected"),
    [
        (D("0.0019"), D("0.001"), D("0.001")),
        (D("0.0010"), D("0.001"), D("0.001")),
        (D("1.23999"), D("0.01"), D("1.23")),
        (D("0.0009"), D("0.001"), D("0")),
        (D("7.9"), D("1"), D("7")),
        (D("2.5"), D("0.5"), D("2.5")),
        (D("2.99"), D("0.5"), D("2.5")),
    ],
)
def test_quantity_rounds_down_to_step(qty, step, expected):
    assert round_qty_down(qty, step) == expected


@pytest.mark.parametrize(
    ("price", "tick", "below", "above"),
    [
        (D("100.0"), D("0.1"), D("99.9"), D("100.1")),  # on grid: the neighbours
        (D("100.05"), D("0.1"), D("100.0"), D("100.1")),  # off grid: the enclosing ticks
        (D("100.01"), D("0.1"), D("100.0"), D("100.1")),
        (D("100.09"), D("0.1"), D("100.0"), D("100.1")),
        (D("3"), D("0.5"), D("2.5"), D("3.5")),
    ],
)
def test_tick_strictly_below_and_above(price, tick, below, above):
    assert tick_below(price, tick) == below
    assert tick_above(price, tick) == above


class TestStopBelowCurrentPrice:
    """A long's stop (and a short's take-profit) must stay strictly below `p`."""

    def test_raw_price_well_below_is_only_rounded(self):
        assert price_below(D("98.04"), D("100.0"), D("0.1")) == D("98.0")

    def test_price_rounding_onto_an_on_grid_current_price_moves_one_tick_below(self):
        # 99.96 rounds to 100.0, which is p itself.
        assert price_below(D("99.96"), D("100.0"), D("0.1")) == D("99.9")

    def test_price_rounding_past_an_on_grid_current_price_moves_one_tick_below(self):
        assert price_below(D("100.3"), D("100.0"), D("0.1")) == D("99.9")

    def test_price_rounding_past_an_off_grid_current_price_moves_to_the_tick_below_it(self):
        # 100.05 rounds to 100.1 > p = 100.03: the nearest tick strictly below p is 100.0.
        assert price_below(D("100.05"), D("100.03"), D("0.1")) == D("100.0")

    def test_price_rounding_just_under_an_off_grid_current_price_stays(self):
        # 100.02 rounds to 100.0 < p = 100.03: already strictly below.
        assert price_below(D("100.02"), D("100.03"), D("0.1")) == D("100.0")

    def test_price_rounding_onto_an_off_grid_current_price_is_impossible_and_below_is_kept(self):
        # p = 99.95 is off grid, 99.93 rounds to 99.9 < p.
        assert price_below(D("99.93"), D("99.95"), D("0.1")) == D("99.9")


class TestStopAboveCurrentPrice:
    """A short's stop (and a long's take-profit) must stay strictly above `p`."""

    def test_raw_price_well_above_is_only_rounded(self):
        assert price_above(D("101.96"), D("100.0"), D("0.1")) == D("102.0")

    def test_price_rounding_onto_an_on_grid_current_price_moves_one_tick_above(self):
        assert price_above(D("100.04"), D("100.0"), D("0.1")) == D("100.1")

    def test_price_rounding_past_an_on_grid_current_price_moves_one_tick_above(self):
        assert price_above(D("99.7"), D("100.0"), D("0.1")) == D("100.1")

    def test_price_rounding_past_an_off_grid_current_price_moves_to_the_tick_above_it(self):
        # 99.96 rounds to 100.0 < p = 100.03: the nearest tick strictly above p is 100.1.
        assert price_above(D("99.96"), D("100.03"), D("0.1")) == D("100.1")

    def test_price_rounding_just_over_an_off_grid_current_price_stays(self):
        assert price_above(D("100.06"), D("100.03"), D("0.1")) == D("100.1")


def test_rounding_is_exact_decimal_without_float_noise():
    # 0.1 + 0.2 in float is 0.30000000000000004; in Decimal it is exact and on grid.
    assert round_price(D("0.1") + D("0.2"), D("0.1")) == D("0.3")
    assert round_qty_down(D("0.3") * 3, D("0.1")) == D("0.9")


_ticks = st.sampled_from([D("0.01"), D("0.1"), D("0.5"), D("1"), D("0.00001")])


@given(
    tick=_ticks,
    raw_ticks=st.integers(1, 10**7),
    raw_frac=st.integers(0, 999),
    p_ticks=st.integers(2, 10**7),
    p_frac=st.integers(0, 999),
)
def test_sided_prices_are_on_grid_and_strictly_on_their_side(
    tick, raw_ticks, raw_frac, p_ticks, p_frac
):
    raw = (D(raw_ticks) + D(raw_frac) / 1000) * tick
    current = (D(p_ticks) + D(p_frac) / 1000) * tick
    below = price_below(raw, current, tick)
    above = price_above(raw, current, tick)
    assert on_grid(below, tick)
    assert on_grid(above, tick)
    assert below < current < above
    # Each is either the plain rounding of `raw`, or the nearest tick on its side of `p`.
    nearest = round_price(raw, tick)
    assert below == nearest or (nearest >= current and current - below <= tick)
    assert above == nearest or (nearest <= current and above - current <= tick)
    # And the rounding itself is within half a tick.
    assert abs(nearest - raw) * 2 <= tick
