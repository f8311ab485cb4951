"""The sweep's parameter space: exact Decimal values, names, random draws, the plan each
point makes."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitd.engine import ExitProfile, TakeProfitSpec, TrailSpec
from exitd.sweep.space import (
    Axis,
    SpaceError,
    apply_point,
    canonical_name,
    load_space_file,
    make_space,
    parse_grid_option,
    parse_values,
    tidy,
)

D = Decimal


def test_a_range_is_exact_and_includes_its_stop() -> None:
    assert parse_values("hard_sl_pct", "1:3:0.5") == (D(1), D("1.5"), D(2), D("2.5"), D(3))
    # 0.1 steps that a float would drift on: 0.1 + 0.2 != 0.3 in binary
    assert parse_values("x", "0.1:0.3:0.1") == (D("0.1"), D("0.2"), D("0.3"))
    assert parse_values("x", "0:1:0.3") == (D(0), D("0.3"), D("0.6"), D("0.9"))


def test_a_list_keeps_its_order_and_refuses_a_repeat() -> None:
    assert parse_values("x", "0.3,0.1,0.2") == (D("0.3"), D("0.1"), D("0.2"))
    with pytest.raises(SpaceError, match="twice"):
        parse_values("x", "0.1,0.10")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:3:0", "step"),
        ("3:1:0.5", "ends before it starts"),
        ("1:3", "expected"),
        ("0.1,abc", "abc"),
        ("1:1000000:0.001", "at most"),
    ],
)
def test_a_bad_value_list_says_why(text: str, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        parse_values("hard_sl_pct", text)


def test_take_profit_names_have_a_short_form() -> None:
    assert canonical_name("tp1.pct") == "take_profits[0].pct"
    assert canonical_name("take_profits[1].fraction") == "take_profits[1].fraction"
    assert parse_grid_option("tp2.fraction=0.2,0.3").name == "take_profits[1].fraction"
    with pytest.raises(SpaceError, match="tp1"):
        canonical_name("tp0.pct")
    with pytest.raises(SpaceError, match="not a plan parameter"):
        parse_grid_option("trail.callback=0.1")
    with pytest.raises(SpaceError, match="NAME=VALUES"):
        parse_grid_option("hard_sl_pct")


def test_counting_fields_are_whole_numbers() -> None:
    assert parse_grid_option("time_limit_s=60:180:60").values == (60, 120, 180)
    with pytest.raises(SpaceError, match="time_limit_s"):
        parse_grid_option("time_limit_s=1.5")


def test_a_grid_is_every_combination_in_product_order() -> None:
    a = Axis("hard_sl_pct", (D(1), D(2)))
    b = Axis("trail.callback_pct", (D("0.1"), D("0.2"), D("0.3")))
    space = make_space([a, b])
    assert space.points() == list(itertools.product(a.values, b.values))


@given(st.integers(1, 40), st.integers(0, 2**32))
def test_a_random_draw_is_distinct_grid_points_the_same_for_the_same_seed(
    n: int, seed: int
) -> None:
    axes = [Axis("hard_sl_pct", tuple(D(i) for i in range(1, 6))), Axis("time_limit_s", (1, 2, 3))]
    drawn = make_space(axes, n, seed).points()
    grid = make_space(axes).points()
    assert len(drawn) == min(n, len(grid))
    assert len(set(drawn)) == len(drawn)
    assert set(drawn) <= set(grid)
    assert drawn == make_space(axes, n, seed).points()


def test_a_space_refuses_a_field_twice_and_nothing_to_sweep() -> None:
    axis = Axis("hard_sl_pct", (D(1),))
    with pytest.raises(SpaceError, match="more than once"):
        make_space([axis, axis])
    with pytest.raises(SpaceError, match="no parameter"):
        make_space([])
    with pytest.raises(SpaceError, match="at least one"):
        make_space([axis], 0)


def test_a_point_overrides_the_base_and_creates_a_missing_trail_or_breakeven() -> None:
    base = ExitProfile(hard_sl_pct=D(1), take_profits=(TakeProfitSpec(D(1), D("0.5")),))
    axes = [
        Axis("take_profits[0].pct", (D(2),)),
        Axis("trail.callback_pct", (D("0.3"),)),
        Axis("trail.activation_pct", (D("0.5"),)),
        Axis("breakeven.trigger_pct", (D("0.4"),)),
        Axis("hard_sl_pct", (D("1.5"),)),
    ]
    profile = apply_point(base, axes, (D(2), D("0.3"), D("0.5"), D("0.4"), D("1.5")))
    assert profile.hard_sl_pct == D("1.5")
    assert profile.take_profits == (TakeProfitSpec(D(2), D("0.5")),)
    assert profile.trail == TrailSpec(callback_pct=D("0.3"), activation_pct=D("0.5"))
    assert profile.breakeven is not None
    assert profile.breakeven.trigger_pct == D("0.4")
    assert profile.breakeven.offset_pct == 0


def test_a_point_cannot_invent_a_take_profit_or_a_trail_without_its_callback() -> None:
    base = ExitProfile(hard_sl_pct=D(1))
    with pytest.raises(SpaceError, match="take-profit"):
        apply_point(base, [Axis("take_profits[0].pct", (D(1),))], (D(1),))
    with pytest.raises(SpaceError, match="callback_pct"):
        apply_point(base, [Axis("trail.activation_pct", (D(1),))], (D(1),))


def test_a_space_file_reads_floats_as_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_text(
        'random = 4\nseed = 9\n[grid]\nhard_sl_pct = "0.5:1.5:0.5"\n'
        'trail.callback_pct = [0.1, 0.2]\n"tp1.pct" = "1,2"\n'
    )
    space = load_space_file(path)
    assert [axis.name for axis in space.axes] == [
        "hard_sl_pct",
        "trail.callback_pct",
        "take_profits[0].pct",
    ]
    assert space.axes[1].values == (D("0.1"), D("0.2"))
    assert (space.random, space.seed) == (4, 9)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[grid]\n", "at least one"),
        ("colour = 1\n[grid]\nhard_sl_pct = [1]\n", "unknown keys"),
        ("[grid]\nhard_sl_pct = true\n", "expected"),
        ("random = 1.5\n[grid]\nhard_sl_pct = [1]\n", "whole number"),
        ("[grid\n", "not TOML"),
    ],
)
def test_a_bad_space_file_says_where(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "space.toml"
    path.write_text(body)
    with pytest.raises(SpaceError, match=message):
        load_space_file(path)


def test_values_print_as_people_write_them() -> None:
    assert [tidy(v) for v in (D("2.0"), D("0.150"), D("100"), 60)] == ["2", "0.15", "100", "60"]
