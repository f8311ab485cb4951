"""PriceTrace: a long price line thinned for drawing, its lows and highs all kept."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from exitd.pictures import PriceTrace

prices = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=3000)


@given(prices, st.integers(min_value=2, max_value=64))
def test_trace_keeps_extremes_in_time_order_within_bounds(ticks: list[int], capacity: int) -> None:
    trace = PriceTrace(capacity)
    for time_ms, price in enumerate(ticks):
        trace.add(time_ms, Decimal(price))
    points = trace.points()
    times = [t for t, _ in points]
    assert times == sorted(set(times)), "one point per tick, in time order"
    assert all(Decimal(ticks[t]) == p for t, p in points), "only real ticks, exactly"
    assert len(points) <= 2 * (capacity + 1)
    kept = [p for _, p in points]
    assert min(kept) == min(ticks)
    assert max(kept) == max(ticks)


def test_short_line_is_kept_whole() -> None:
    trace = PriceTrace(100)
    ticks = [Decimal("63943.90"), Decimal("63944.1"), Decimal("63943.9"), Decimal("63950")]
    for time_ms, price in enumerate(ticks):
        trace.add(time_ms, price)
    assert trace.points() == list(enumerate(ticks))


def test_every_spike_of_a_long_line_survives() -> None:
    # 200,000 flat ticks with a one-tick spike up and one down: drawn, both must show.
    trace = PriceTrace(500)
    for time_ms in range(200_000):
        price = Decimal(100)
        if time_ms == 123_457:
            price = Decimal(130)
        elif time_ms == 7:
            price = Decimal(70)
        trace.add(time_ms, price)
    points = trace.points()
    assert len(points) <= 1002
    assert (123_457, Decimal(130)) in points
    assert (7, Decimal(70)) in points
