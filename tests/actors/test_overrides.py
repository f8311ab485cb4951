"""set-plan overrides: fields changed by name, checked by the profile rules, refused clearly."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exitd.actors.overrides import OverrideRefused, apply_overrides
from exitd.engine import BreakevenSpec, ExitProfile, TrailMode, TrailSpec

PROFILE = ExitProfile(
    hard_sl_pct=D(2),
    breakeven=BreakevenSpec(offset_pct=D("0.1"), trigger_pct=D("0.8")),
    trail=TrailSpec(callback_pct=D("0.5"), activation_pct=D("1.5")),
)


def test_named_fields_change_and_the_rest_stay() -> None:
    changed = apply_overrides(PROFILE, [("trail.callback_pct", "0.25"), ("time_limit_s", "60")])
    assert changed.trail == TrailSpec(callback_pct=D("0.25"), activation_pct=D("1.5"))
    assert (changed.hard_sl_pct, changed.time_limit_s) == (PROFILE.hard_sl_pct, 60)
    assert changed.breakeven == PROFILE.breakeven


def test_the_hard_stop_is_not_a_field_an_open_position_can_change() -> None:
    with pytest.raises(OverrideRefused, match="never moves"):
        apply_overrides(PROFILE, [("hard_sl_pct", "3")])


def test_a_trail_can_be_added_and_its_mode_chosen() -> None:
    bare = ExitProfile(hard_sl_pct=D(2))
    changed = apply_overrides(bare, [("trail.mode", "exchange"), ("trail.activation_pct", "1")])
    assert changed.trail is not None and changed.trail.mode is TrailMode.EXCHANGE


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("trail.callback_pct", "-1", "callback_pct"),
        ("trail.callback_pct", "NaN", "trail.callback_pct"),
        ("breakeven.offset_pct", "0.9", "offset_pct"),  # not below its trigger
        ("take_profits", "1", "not a field"),
        ("trail.mode", "moon", "trail.mode"),
        ("time_limit_s", "1e9", "time_limit_s"),
    ],
)
def test_bad_overrides_are_refused_with_the_field_named(key: str, value: str, says: str) -> None:
    with pytest.raises(OverrideRefused) as refused:
        apply_overrides(PROFILE, [(key, value)])
    assert says in str(refused.value)
