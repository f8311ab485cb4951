"""From trades to plan rows: totals, win rate, worst trade, exits by leg, ranking."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from exitd.sweep.aggregate import (
    METRICS,
    equity_curve,
    influence,
    leg_rank,
    plan_row,
    plan_rows,
    ranked,
    surface,
)
from exitd.sweep.cell import CellResult, Trade
from exitd.sweep.space import Axis

D = Decimal


def trade(
    pnl: str, r: str, end: int = 0, exits: tuple[tuple[str, int], ...] = (), mae: str = "0"
) -> Trade:
    return Trade(0, "long", D(100), end, D(pnl), D(r), D(0), exits, D(mae), D(0))


def test_a_row_adds_up_the_trades_of_every_file() -> None:
    cells = [
        CellResult(
            "0/0",
            0,
            (trade("10", "1", exits=(("TP1", 1), ("HARD_SL", 1))), trade("-5", "-0.5", mae="0.7")),
        ),
        CellResult("0/1", 0, (trade("0", "0", exits=(("TIME", 1),)),), refused=("x",)),
    ]
    row = plan_row(0, (("hard_sl_pct", D(1)),), cells)
    assert (row.trades, row.wins, row.refused) == (3, 1, 1)
    assert row.total_pnl == D(5)
    assert row.total_r == D("0.5")
    assert row.mean_pnl == D(5) / 3
    assert row.win_rate == D(1) / 3
    assert (row.worst_pnl, row.worst_r) == (D(-5), D("-0.5"))
    assert row.max_mae_pct == D("0.7")
    assert row.exits == (("HARD_SL", 1), ("TP1", 1), ("TIME", 1))


def test_a_plan_without_trades_has_no_means_and_ranks_last() -> None:
    axes = [Axis("hard_sl_pct", (D(1), D(2)))]
    rows = plan_rows(axes, {0: (D(1),), 1: (D(2),)}, [CellResult("1/0", 1, (trade("-1", "-1"),))])
    empty = rows[0]
    assert (empty.trades, empty.mean_r, empty.win_rate) == (0, None, None)
    for metric in METRICS:
        assert ranked(rows, metric)[-1].plan_index == 0, metric


@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=12))
def test_ranking_puts_the_best_first_each_way(totals: list[int]) -> None:
    axes = [Axis("time_limit_s", tuple(range(1, len(totals) + 1)))]
    points = {i: (i + 1,) for i in range(len(totals))}
    results = [
        CellResult(f"{i}/0", i, (trade(str(t), str(t), mae=str(abs(t))),))
        for i, t in enumerate(totals)
    ]
    rows = plan_rows(axes, points, results)
    by_r = [row.total_r for row in ranked(rows, "total_r")]
    assert by_r == sorted(by_r, reverse=True)
    by_mae = [row.max_mae_pct for row in ranked(rows, "max_mae_pct")]
    assert by_mae == sorted(by_mae)  # type: ignore[type-var]


def test_the_parameter_that_moves_the_metric_most_comes_first() -> None:
    axes = [Axis("hard_sl_pct", (D(1), D(2))), Axis("trail.callback_pct", (D("0.1"), D("0.2")))]
    points = {0: (D(1), D("0.1")), 1: (D(1), D("0.2")), 2: (D(2), D("0.1")), 3: (D(2), D("0.2"))}
    # the callback moves R by 10, the stop by 1
    r = {0: "0", 1: "10", 2: "1", 3: "11"}
    results = [CellResult(f"{i}/0", i, (trade(r[i], r[i]),)) for i in points]
    rows = plan_rows(axes, points, results)
    assert influence(rows, axes, "total_r") == ["trail.callback_pct", "hard_sl_pct"]
    heat = surface(rows, axes, "hard_sl_pct", "trail.callback_pct", "total_r")
    assert heat[(D(2), D("0.2"))] == D(11)


def test_the_equity_curve_sums_trades_in_the_order_they_closed() -> None:
    curve = equity_curve(
        [trade("5", "1", end=30), trade("-2", "-1", end=10), trade("1", "0", end=20)]
    )
    assert curve == [(10, D(-2)), (20, D(-1)), (30, D(4))]


def test_legs_are_listed_as_a_plan_lives() -> None:
    legs = ["TIME", "TP10", "WORKING_STOP", "TP2", "HARD_SL", "OTHER", "TRAILING_STOP"]
    assert sorted(legs, key=leg_rank) == [
        "HARD_SL",
        "TP2",
        "TP10",
        "WORKING_STOP",
        "TRAILING_STOP",
        "TIME",
        "OTHER",
    ]
