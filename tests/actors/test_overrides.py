"""set-plan overrides: fields changed by name, checked by the profile rules, refused clearly."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exitd.actors.overrides import OverrideRefused, apply_overrides, overridden
from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    OrderAccepted,
    PlaceOrder,
    Position,
    Side,
    SymbolFilters,
    Tick,
    TrailMode,
    TrailSpec,
    adopt,
    build_plan,
    decide_all,
)

FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))

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


def test_an_overridden_plan_keeps_the_positions_progress_and_what_rests() -> None:
    plan = build_plan(Position("BTCUSDT", Side.LONG, D(1), D(100)), FILTERS, PROFILE, D(100))
    placed = adopt(plan, Tick(0, D(100)), first_seq=5)
    cids = [r.intent.client_order_id for r in placed.requests if isinstance(r, PlaceOrder)]
    state = decide_all(placed.state, [OrderAccepted(c, 1) for c in cids]).state
    state = decide_all(state, [Tick(10, D(101))]).state
    decision = overridden(state, FILTERS, [("trail.callback_pct", "0.25")], Tick(20, D("100.5")))
    assert decision.state.plan.profile.trail == TrailSpec(
        callback_pct=D("0.25"), activation_pct=D("1.5")
    )
    assert decision.state.best_price == D(101)
    assert decision.state.plan.hard_sl_price == state.plan.hard_sl_price
    assert {o.intent.client_order_id for o in decision.state.orders} >= set(cids)
    assert not [r for r in decision.requests if isinstance(r, PlaceOrder)]
    with pytest.raises(OverrideRefused, match="never moves"):
        overridden(state, FILTERS, [("hard_sl_pct", "3")], Tick(20, D(100)))
