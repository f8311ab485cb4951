"""Order counters: what the gateway records, and how it reads back."""

from __future__ import annotations

from exitd.ops.metrics import OrderKind, OrderMetrics, OrderOutcome

SL, TP, PARTIAL_TP, TRAILING = (
    OrderKind.SL,
    OrderKind.TP,
    OrderKind.PARTIAL_TP,
    OrderKind.TRAILING,
)
ACCEPTED, SHADOW, REFUSED = OrderOutcome.ACCEPTED, OrderOutcome.SHADOW, OrderOutcome.REFUSED


def _sample() -> OrderMetrics:
    metrics = OrderMetrics()
    for _ in range(3):
        metrics = metrics.record_order("exit_brain_v3", PARTIAL_TP, ACCEPTED)
    metrics = metrics.record_order("exit_brain_v3", SL, ACCEPTED)
    metrics = metrics.record_order("position_monitor", TRAILING, REFUSED)
    metrics = metrics.record_order("position_monitor", TP, SHADOW)
    return metrics.record_conflict("position_monitor").record_conflict("position_monitor")


def test_order_kinds_are_the_seed_systems_six() -> None:
    assert [kind.value for kind in OrderKind] == [
        "sl",
        "tp",
        "partial_tp",
        "breakeven",
        "trailing",
        "time",
    ]


def test_recording_returns_a_new_value_and_leaves_the_old_one_alone() -> None:
    before = OrderMetrics()
    after = before.record_order("exit_brain_v3", SL, ACCEPTED).record_conflict("hybrid_tpsl")
    assert before.total_orders == 0
    assert before.total_conflicts == 0
    assert after.total_orders == 1
    assert after.total_conflicts == 1


def test_counts_break_down_by_module_kind_and_outcome() -> None:
    metrics = _sample()
    assert metrics.total_orders == 6
    assert metrics.by_module() == {"exit_brain_v3": 4, "position_monitor": 2}
    assert metrics.by_kind() == {SL: 1, TP: 1, PARTIAL_TP: 3, TRAILING: 1}
    assert metrics.by_outcome() == {ACCEPTED: 4, REFUSED: 1, SHADOW: 1}
    assert metrics.count(module="exit_brain_v3", kind=PARTIAL_TP) == 3
    assert metrics.count(outcome=REFUSED) == 1
    assert metrics.count(kind=OrderKind.TIME) == 0
    assert metrics.conflicts == {"position_monitor": 2}
