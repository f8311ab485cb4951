"""The daemon's figures, read from its actors when asked, as Prometheus metric families.

Nothing is pushed into Prometheus objects on the way of a stop: at scrape time a collector
reads what the actors keep anyway (the gateway's `OrderMetrics` value and latency
histograms, the symbol actors' corrections and naked-position watches, the streams'
connection counts, the account's positions). `figures` is the one place that turns them into
metric families; `render` makes the Prometheus text of them and `figures_json` the same
samples as plain data for `exitd ctl metrics`, so the two can never disagree.

Module names become label values only when the config lists them (or they are exitd's own);
any other name a refused write carried is counted under "foreign", so nobody can grow the
label set by sending writes in made-up names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exitd.actors.write_queue import CONDITIONAL_CAP
from exitd.ops.latency import HistogramSnapshot
from exitd.ops.metrics import OrderMetrics
from exitd.ownership import EXIT_BRAIN, OPERATOR, SAFETY_NET

if TYPE_CHECKING:
    from exitd.daemon import Daemon

FOREIGN = "foreign"


def figures(daemon: Daemon) -> list[Metric]:
    """Every figure of the running daemon, as it is now."""
    gateway, account, feed = daemon.gateway, daemon.account, daemon.price_feed
    modules = frozenset((*daemon.config.exits.legacy_modules, EXIT_BRAIN, SAFETY_NET, OPERATOR))
    corrections = account.corrections()
    naked = [s for s in (actor.naked_s() for actor in account.actors.values()) if s > 0]
    slots_used = gateway.conditional_slots_used()
    return [
        *_order_counters(gateway.metrics, modules),
        _counter(
            "exitd_stream_reconnects",
            "Reconnects of the exchange's streams (the first connection is not one).",
            "stream",
            {
                "market": max(feed.connections - 1, 0),
                "user": max(account.user_stream_connections - 1, 0),
            },
        ),
        _counter(
            "exitd_reconcile_corrections",
            "What reconciliation put right: orders placed again, orders cancelled, fills "
            "the user stream never delivered.",
            "correction",
            {
                "placed": corrections.placed,
                "cancelled": corrections.cancelled,
                "missed_fill": corrections.missed_fills,
            },
        ),
        _gauge("exitd_positions", "Open positions on the account.", len(account.positions)),
        _gauge("exitd_naked_positions", "Positions seen with no stop at all.", len(naked)),
        _gauge(
            "exitd_naked_position_seconds",
            "How long the longest-naked position has had no stop (0: none is naked).",
            max(naked, default=0.0),
        ),
        _gauge(
            "exitd_rate_budget_use_ratio",
            "The largest share of any exchange rate limit in use (above 0.8 only protective "
            "writes leave).",
            gateway.rate_budget_use(),
        ),
        _gauge(
            "exitd_conditional_order_slots_used",
            "Conditional orders open or on their way.",
            slots_used,
        ),
        _gauge(
            "exitd_conditional_order_slots_free",
            f"Conditional-order slots left of the account's {CONDITIONAL_CAP}.",
            max(CONDITIONAL_CAP - slots_used, 0),
        ),
        _histogram(
            "exitd_gateway_latency_seconds",
            "A write's round trip: from leaving the gateway's queue to the exchange's answer.",
            gateway.latency.round_trip.snapshot(),
        ),
        _histogram(
            "exitd_tick_to_request_seconds",
            "From a mark price handed to its symbol actor to the write it caused leaving "
            "the gateway.",
            gateway.latency.tick_to_request.snapshot(),
        ),
    ]


def figures_json(daemon: Daemon) -> dict[str, object]:
    """The same samples as `render`, as plain data: {family: {type, help, samples}}."""
    return {
        family.name: {
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": s.value} for s in family.samples
            ],
        }
        for family in figures(daemon)
    }


class _DaemonCollector(Collector):
    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def collect(self) -> Iterable[Metric]:
        return figures(self._daemon)


def registry_for(daemon: Daemon) -> CollectorRegistry:
    """A registry of this daemon's figures alone: never the process-wide default one, so two
    daemons in one process (tests, a restart) never share or clash."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DaemonCollector(daemon))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """Prometheus' text exposition format of everything `registry` collects."""
    return generate_latest(registry)


def _order_counters(metrics: OrderMetrics, modules: frozenset[str]) -> Iterator[Metric]:
    orders = CounterMetricFamily(
        "exitd_orders",
        "Orders through the exit gateway, by module, kind and outcome.",
        labels=("module", "kind", "outcome"),
    )
    by_labels: Counter[tuple[str, str, str]] = Counter()
    for (module, kind, outcome), n in metrics.orders.items():
        by_labels[(_module(module, modules), kind.value, outcome.value)] += n
    for labels, n in sorted(by_labels.items()):
        orders.add_metric(labels, n)
    yield orders
    conflicts: Counter[str] = Counter()
    for module, n in metrics.conflicts.items():
        conflicts[_module(module, modules)] += n
    yield _counter(
        "exitd_ownership_conflicts",
        "Exit orders from legacy modules or foreign ids while the exit brain owns exits.",
        "module",
        conflicts,
    )
    yield _counter(
        "exitd_refusals",
        "Orders refused by the gateway or rejected by the exchange, by why.",
        "code",
        metrics.refusals,
    )


def _module(name: str, modules: frozenset[str]) -> str:
    return name if name in modules else FOREIGN


def _counter(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=(label,))
    for value, n in sorted(counts.items()):
        family.add_metric((value,), n)
    return family


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=value)


def _histogram(name: str, documentation: str, snapshot: HistogramSnapshot) -> Metric:
    buckets = [
        (f"{bound:g}", float(n))
        for bound, n in zip(snapshot.bounds, snapshot.cumulative, strict=False)
    ]
    buckets.append(("+Inf", float(snapshot.count)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=snapshot.sum_s)
