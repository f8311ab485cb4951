"""Latency histograms the hot paths record into, read whole when metrics are scraped.

An observation is one bisect over a dozen bounds and two additions, with no lock and no
allocation: the gateway records one per write, on the path of every stop. The owner is the
only writer; a scrape, in the same event loop, reads a consistent `snapshot` between two
observations. Nothing here knows Prometheus: exitd.ops.prometheus turns a snapshot into a
metric family.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

# Seconds: a loopback simulator answers in about a millisecond, Binance in tens of them, a
# write held back by the rate budget or an unknown outcome's lookup in seconds.
BOUNDS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """Counts per bucket, each bucket counting the observations at or below its bound (the
    last bucket, +Inf, counts every one), and the sum of all observations."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum_s: float

    @property
    def count(self) -> int:
        return self.cumulative[-1]


class LatencyHistogram:
    """Observations in seconds, bucketed by `BOUNDS_S`."""

    __slots__ = ("_counts", "_sum")

    def __init__(self) -> None:
        self._counts = [0] * (len(BOUNDS_S) + 1)
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        # A clock read twice can go back by a hair on some platforms: never a negative time.
        seconds = max(seconds, 0.0)
        self._counts[bisect_left(BOUNDS_S, seconds)] += 1
        self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        cumulative, total = [], 0
        for n in self._counts:
            total += n
            cumulative.append(total)
        return HistogramSnapshot(BOUNDS_S, tuple(cumulative), self._sum)


@dataclass(frozen=True, slots=True)
class GatewayLatency:
    """The gateway's two latencies: a write's round trip, from leaving the queue to its
    answer (lookups of an unknown outcome included), and tick to request, from a mark price
    handed to a symbol actor to the write it caused leaving the gateway."""

    round_trip: LatencyHistogram
    tick_to_request: LatencyHistogram

    @classmethod
    def create(cls) -> GatewayLatency:
        return cls(LatencyHistogram(), LatencyHistogram())
