"""Profile validation: `profile_problems` is the single source of the refusal rules."""

from decimal import Decimal as D

import pytest

from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    TakeProfitSpec,
    TrailMode,
    TrailSpec,
    profile_problems,
)


def _fields(profile):
    return [p.field for p in profile_problems(profile)]


def _tps(*pairs):
    return tuple(TakeProfitSpec(D(pct), D(fraction)) for pct, fraction in pairs)


FULL = ExitProfile(
    hard_sl_pct=D(2),
    take_profits=_tps(("1", "0.3"), ("2", "0.3"), ("4", "0.4")),
    breakeven=BreakevenSpec(D("0.1"), trigger_pct=D("0.8"), after_tp=1),
    trail=TrailSpec(D("0.5"), activation_pct=D("1.5"), after_tp=2, min_step_pct=D("0.1")),
    time_limit_s=3600,
)


def test_a_consistent_profile_has_no_problems():
    assert profile_problems(FULL) == ()


def test_the_emergency_profile_is_the_hard_stop_alone():
    profile = ExitProfile.emergency(D(3))
    assert profile == ExitProfile(hard_sl_pct=D(3))
    assert profile_problems(profile) == ()


def test_each_problem_names_the_field_the_value_and_what_is_allowed():
    (problem,) = profile_problems(ExitProfile(D(-1)))
    assert problem.field == "hard_sl_pct"
    assert problem.value == D(-1)
    assert "above 0" in problem.allowed


@pytest.mark.parametrize("pct", ["0", "-2"])
def test_hard_stop_must_be_positive(pct):
    assert _fields(ExitProfile(D(pct))) == ["hard_sl_pct"]


def test_take_profit_pct_must_be_positive_and_strictly_increasing():
    assert _fields(ExitProfile(D(2), take_profits=_tps(("0", "0.5")))) == ["take_profits[0].pct"]
    assert _fields(ExitProfile(D(2), take_profits=_tps(("2", "0.2"), ("2", "0.2")))) == [
        "take_profits[1].pct"
    ]
    assert _fields(
        ExitProfile(D(2), take_profits=_tps(("1", "0.2"), ("3", "0.2"), ("2", "0.2")))
    ) == ["take_profits[2].pct"]


def test_take_profit_fractions_must_sum_to_at_most_one():
    assert _fields(ExitProfile(D(2), take_profits=_tps(("1", "0.5"), ("2", "0.51")))) == [
        "take_profits"
    ]
    assert _fields(ExitProfile(D(2), take_profits=_tps(("1", "0.5"), ("2", "0.5")))) == []


def test_breakeven_needs_a_trigger_or_a_take_profit():
    assert _fields(ExitProfile(D(2), breakeven=BreakevenSpec(D(0)))) == ["breakeven"]


def test_breakeven_offset_must_be_below_its_trigger():
    be = BreakevenSpec(D("0.5"), trigger_pct=D("0.5"))
    assert _fields(ExitProfile(D(2), breakeven=be)) == ["breakeven.offset_pct"]


def test_breakeven_may_sit_below_the_entry_with_a_negative_offset():
    be = BreakevenSpec(D("-0.5"), trigger_pct=D(0))
    assert _fields(ExitProfile(D(2), breakeven=be)) == []


def test_breakeven_offset_must_be_below_the_take_profit_that_arms_it():
    profile = ExitProfile(
        D(2), take_profits=_tps(("1", "0.5")), breakeven=BreakevenSpec(D(1), after_tp=1)
    )
    assert _fields(profile) == ["breakeven.offset_pct"]


@pytest.mark.parametrize("after_tp", [0, 3])
def test_after_tp_must_name_an_existing_take_profit(after_tp):
    tps = _tps(("1", "0.5"), ("2", "0.5"))
    be = ExitProfile(D(2), take_profits=tps, breakeven=BreakevenSpec(D(0), after_tp=after_tp))
    trail = ExitProfile(D(2), take_profits=tps, trail=TrailSpec(D(1), after_tp=after_tp))
    assert "breakeven.after_tp" in _fields(be)
    assert "trail.after_tp" in _fields(trail)


def test_trail_needs_an_activation_or_a_take_profit():
    assert _fields(ExitProfile(D(2), trail=TrailSpec(D(1)))) == ["trail"]


def test_trail_min_step_must_not_be_negative():
    trail = TrailSpec(D(1), activation_pct=D(1), min_step_pct=D("-0.1"))
    assert _fields(ExitProfile(D(2), trail=trail)) == ["trail.min_step_pct"]


@pytest.mark.parametrize("callback", ["0.001", "0.37", "7.25", "42"])
def test_daemon_trail_takes_any_positive_distance(callback):
    trail = TrailSpec(D(callback), activation_pct=D(1))
    assert _fields(ExitProfile(D(2), trail=trail)) == []


@pytest.mark.parametrize(
    ("callback", "ok"),
    [("0.1", True), ("20", True), ("5.5", True), ("0.05", False), ("20.1", False), ("1.25", False)],
)
def test_exchange_trail_callback_is_what_binance_accepts(callback, ok):
    trail = TrailSpec(D(callback), activation_pct=D(1), mode=TrailMode.EXCHANGE)
    assert (_fields(ExitProfile(D(2), trail=trail)) == []) is ok


def test_exchange_trail_has_one_activation_not_both():
    trail = TrailSpec(D(1), activation_pct=D(1), after_tp=1, mode=TrailMode.EXCHANGE)
    profile = ExitProfile(D(2), take_profits=_tps(("1", "0.5")), trail=trail)
    assert _fields(profile) == ["trail.after_tp"]


@pytest.mark.parametrize("seconds", [0, -5])
def test_time_limit_must_be_positive(seconds):
    assert _fields(ExitProfile(D(2), time_limit_s=seconds)) == ["time_limit_s"]
