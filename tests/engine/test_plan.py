"""From a profile and a position to an ExitPlan (SPEC-exits.md: the legs, rounding, filters).

Expected prices and quantities are worked out by hand in the comments.
"""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    PlanRefused,
    Position,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    TrailMode,
    TrailSpec,
    build_plan,
    pct_price,
)

FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))


def _position(side=Side.LONG, qty="1", entry="100"):
    return Position("BTCUSDT", side, D(qty), D(entry))


def _tps(*pairs):
    return tuple(TakeProfitSpec(D(pct), D(fraction)) for pct, fraction in pairs)


def _legs(plan):
    return [(leg.number, leg.price, leg.qty) for leg in plan.take_profits]


def _notice_events(plan):
    return [n.event for n in plan.notices]


def test_pct_price_is_in_the_positions_favour():
    assert pct_price(D(100), Side.LONG, D(2)) == D(102)
    assert pct_price(D(100), Side.SHORT, D(2)) == D(98)
    assert pct_price(D(100), Side.LONG, D(-2)) == D(98)
    assert pct_price(D(100), Side.SHORT, D(-2)) == D(102)


class TestHardStop:
    @pytest.mark.parametrize(
        ("side", "entry", "pct", "expected"),
        [
            (Side.LONG, "100", "2", "98.0"),
            (Side.SHORT, "100", "2", "102.0"),
            # 123.45 * 0.985 = 121.59825 -> 121.6; 123.45 * 1.015 = 125.30175 -> 125.3
            (Side.LONG, "123.45", "1.5", "121.6"),
            (Side.SHORT, "123.45", "1.5", "125.3"),
            # 100 * 0.99995 = 99.995 -> half a tick -> away from zero -> 100.0 ... onto p=100:
            # moves one tick below.
            (Side.LONG, "100", "0.005", "99.9"),
        ],
    )
    def test_hard_stop_is_pct_price_of_minus_hard_sl_pct_rounded(self, side, entry, pct, expected):
        plan = build_plan(_position(side, entry=entry), FILTERS, ExitProfile(D(pct)), D(entry))
        assert plan.hard_sl_price == D(expected)

    def test_long_hard_stop_under_half_a_tick_moves_strictly_below_the_adoption_price(self):
        # 100 * (1 - 0.0004) = 99.96 rounds to 100.0 = p: the nearest tick below p is 99.9.
        plan = build_plan(_position(), FILTERS, ExitProfile(D("0.04")), D(100))
        assert plan.hard_sl_price == D("99.9")

    def test_short_hard_stop_under_half_a_tick_moves_strictly_above_the_adoption_price(self):
        plan = build_plan(_position(Side.SHORT), FILTERS, ExitProfile(D("0.04")), D(100))
        assert plan.hard_sl_price == D("100.1")

    def test_long_hard_stop_past_an_off_grid_adoption_price_moves_to_the_tick_below_it(self):
        # Adopted at 99.95, below the entry: 99.98 rounds to 100.0 >= 99.95 -> 99.9.
        plan = build_plan(_position(), FILTERS, ExitProfile(D("0.02")), D("99.95"))
        assert plan.hard_sl_price == D("99.9")

    def test_short_hard_stop_past_an_off_grid_adoption_price_moves_to_the_tick_above_it(self):
        # Adopted at 100.05: 100.02 rounds to 100.0 <= 100.05 -> 100.1.
        plan = build_plan(_position(Side.SHORT), FILTERS, ExitProfile(D("0.02")), D("100.05"))
        assert plan.hard_sl_price == D("100.1")

    def test_hard_stop_far_from_an_off_grid_adoption_price_is_only_rounded(self):
        plan = build_plan(_position(), FILTERS, ExitProfile(D(2)), D("100.03"))
        assert plan.hard_sl_price == D("98.0")


class TestTakeProfitPricesAndNumbers:
    PROFILE = ExitProfile(D(2), take_profits=_tps(("1", "0.25"), ("2", "0.25"), ("3.5", "0.5")))

    def test_long_take_profits_are_numbered_from_the_nearest_outwards(self):
        plan = build_plan(_position(), FILTERS, self.PROFILE, D(100))
        assert _legs(plan) == [
            (1, D("101.0"), D("0.25")),
            (2, D("102.0"), D("0.25")),
            (3, D("103.5"), D("0.5")),
        ]
        assert plan.notices == ()

    def test_short_take_profits_are_below_the_entry_numbered_from_the_nearest(self):
        plan = build_plan(_position(Side.SHORT), FILTERS, self.PROFILE, D(100))
        assert _legs(plan) == [
            (1, D("99.0"), D("0.25")),
            (2, D("98.0"), D("0.25")),
            (3, D("96.5"), D("0.5")),
        ]

    def test_take_profit_price_rounds_half_a_tick_away_from_zero(self):
        # long: 123.45 * 1.01 = 124.6845 -> 124.7; short: 123.45 * 0.99 = 122.2155 -> 122.2
        profile = ExitProfile(D(2), take_profits=_tps(("1", "1")))
        long_plan = build_plan(_position(entry="123.45"), FILTERS, profile, D("123.45"))
        short_plan = build_plan(
            _position(Side.SHORT, entry="123.45"), FILTERS, profile, D("123.45")
        )
        assert long_plan.take_profits[0].price == D("124.7")
        assert short_plan.take_profits[0].price == D("122.2")

    def test_long_take_profit_rounding_onto_the_adoption_price_moves_one_tick_above(self):
        # 100 * 1.0004 = 100.04 -> 100.0 = p -> 100.1
        profile = ExitProfile(D(2), take_profits=_tps(("0.04", "0.5")))
        plan = build_plan(_position(), FILTERS, profile, D(100))
        assert plan.take_profits[0].price == D("100.1")

    def test_short_take_profit_rounding_onto_the_adoption_price_moves_one_tick_below(self):
        profile = ExitProfile(D(2), take_profits=_tps(("0.04", "0.5")))
        plan = build_plan(_position(Side.SHORT), FILTERS, profile, D(100))
        assert plan.take_profits[0].price == D("99.9")

    def test_long_take_profit_already_passed_at_adoption_moves_above_the_adoption_price(self):
        # TP at 102.0, but adopted at 102.54 (off grid): the nearest tick above is 102.6.
        profile = ExitProfile(D(2), take_profits=_tps(("2", "0.5")))
        plan = build_plan(_position(), FILTERS, profile, D("102.54"))
        assert plan.take_profits[0].price == D("102.6")

    def test_take_profit_quantity_rounds_down_to_step(self):
        # 0.333 * 0.01 = 0.00333 -> 0.003
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.333")))
        plan = build_plan(_position(qty="0.01"), FILTERS, profile, D(100))
        assert plan.take_profits[0].qty == D("0.003")


class TestTakeProfitTooSmallToStandAlone:
    COARSE = SymbolFilters(tick_size=D("0.1"), step_size=D("0.01"), min_qty=D("0.1"))

    def test_take_profit_below_min_qty_gives_its_fraction_to_the_next_target(self):
        # TP1: 0.05 < 0.1 -> merged; TP2: (0.05 + 0.05) * 1 = 0.10 stands; TP3: 0.30.
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.05"), ("2", "0.05"), ("3", "0.3")))
        plan = build_plan(_position(), self.COARSE, profile, D(100))
        assert _legs(plan) == [(2, D("102.0"), D("0.1")), (3, D("103.0"), D("0.3"))]
        assert _notice_events(plan) == ["exit_plan.take_profit_merged"]
        assert dict(plan.notices[0].detail)["take_profit"] == "TP1"
        assert dict(plan.notices[0].detail)["into"] == "TP2"

    def test_fractions_carry_through_several_targets_which_keep_their_numbers(self):
        # 0.03 -> 0.06 -> 0.09 all below 0.1; TP4 gets 0.03*3 + 0.5 = 0.59.
        profile = ExitProfile(
            D(2),
            take_profits=_tps(("1", "0.03"), ("2", "0.03"), ("3", "0.03"), ("4", "0.5")),
        )
        plan = build_plan(_position(), self.COARSE, profile, D(100))
        assert _legs(plan) == [(4, D("104.0"), D("0.59"))]
        assert _notice_events(plan).count("exit_plan.take_profit_merged") == 3

    def test_merged_fractions_are_added_before_rounding_down(self):
        # Q0 = 0.005, step 0.001, minQty 0.003. TP1: 0.3 * 0.005 = 0.0015 -> 0.001, too small.
        # TP2: (0.3 + 0.3) * 0.005 = 0.003 stands; rounding each first would give 0.002.
        filters = SymbolFilters(D("0.1"), D("0.001"), D("0.003"))
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.3"), ("2", "0.3")))
        plan = build_plan(_position(qty="0.005"), filters, profile, D(100))
        assert _legs(plan) == [(2, D("102.0"), D("0.003"))]

    def test_last_take_profit_that_cannot_stand_alone_is_dropped_and_the_plan_says_so(self):
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.5"), ("2", "0.05")))
        plan = build_plan(_position(), self.COARSE, profile, D(100))
        assert _legs(plan) == [(1, D("101.0"), D("0.5"))]
        assert _notice_events(plan) == ["exit_plan.take_profit_dropped"]
        assert dict(plan.notices[0].detail)["take_profit"] == "TP2"

    def test_all_take_profits_too_small_leaves_none(self):
        # 0.02 -> merged, 0.02 + 0.03 = 0.05 < 0.1 -> dropped.
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.02"), ("2", "0.03")))
        plan = build_plan(_position(), self.COARSE, profile, D(100))
        assert plan.take_profits == ()
        assert _notice_events(plan) == [
            "exit_plan.take_profit_merged",
            "exit_plan.take_profit_dropped",
        ]

    def test_take_profit_below_min_notional_gives_its_fraction_to_the_next_target(self):
        # E = 1000, Q0 = 0.01, minNotional 5. TP1: 0.003 at 1010.0 = 3.03 < 5 -> merged.
        # TP2: 0.6 * 0.01 = 0.006 at 1020.0 = 6.12 >= 5 -> stands.
        filters = SymbolFilters(D("0.1"), D("0.001"), D("0.001"), min_notional=D(5))
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.3"), ("2", "0.3")))
        plan = build_plan(_position(qty="0.01", entry="1000"), filters, profile, D(1000))
        assert _legs(plan) == [(2, D("1020.0"), D("0.006"))]

    def test_notional_exactly_at_min_notional_stands(self):
        # 0.5 * 1010.0 = 505 = minNotional: not below it.
        filters = SymbolFilters(D("0.1"), D("0.001"), D("0.001"), min_notional=D(505))
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.5")))
        plan = build_plan(_position(entry="1000"), filters, profile, D(1000))
        assert _legs(plan) == [(1, D("1010.0"), D("0.5"))]

    def test_notional_is_taken_at_the_rounded_take_profit_price(self):
        # 1000.04 * 1.01 = 1010.0404 -> 1010.0; 0.5 * 1010.0 = 505.0 < 505.01 (the raw price
        # would give 505.0202, above it): the order's own notional is what the exchange checks.
        filters = SymbolFilters(D("0.1"), D("0.001"), D("0.001"), min_notional=D("505.01"))
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.5")))
        plan = build_plan(_position(entry="1000.04"), filters, profile, D("1000.04"))
        assert plan.take_profits == ()
        assert _notice_events(plan) == ["exit_plan.take_profit_dropped"]


@given(
    qty_steps=st.integers(1, 10_000),
    fractions=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    min_qty_steps=st.integers(1, 50),
    side=st.sampled_from(Side),
)
def test_sum_of_take_profit_quantities_never_exceeds_q0(qty_steps, fractions, min_qty_steps, side):
    step = D("0.001")
    total = sum(fractions)
    scale = max(total, 100)  # fractions in hundredths, their sum at most 1
    tps = tuple(TakeProfitSpec(D(i + 1), D(f) / scale) for i, f in enumerate(fractions))
    filters = SymbolFilters(D("0.1"), step, step * min_qty_steps)
    q0 = step * qty_steps
    plan = build_plan(_position(side, qty=str(q0)), filters, ExitProfile(D(50), tps), D(100))
    assert sum((leg.qty for leg in plan.take_profits), D(0)) <= q0
    numbers = [leg.number for leg in plan.take_profits]
    assert numbers == sorted(set(numbers))
    for leg in plan.take_profits:
        assert leg.qty >= filters.min_qty
        assert leg.qty % step == 0
        assert leg.price % filters.tick_size == 0


class TestPlanRefusals:
    """Each refusal rule of SPEC-exits.md, and its boundary that is still accepted."""

    def _refused_fields(self, profile, side=Side.LONG):
        with pytest.raises(PlanRefused) as refused:
            build_plan(_position(side), FILTERS, profile, D(100))
        return {p.field for p in refused.value.problems}

    @pytest.mark.parametrize("pct", ["0", "-1"])
    def test_hard_stop_distance_not_positive_is_refused(self, pct):
        assert "hard_sl_pct" in self._refused_fields(ExitProfile(D(pct)))

    @pytest.mark.parametrize("pct", ["0", "-0.5"])
    def test_take_profit_distance_not_positive_is_refused(self, pct):
        profile = ExitProfile(D(2), take_profits=_tps((pct, "0.5")))
        assert "take_profits[0].pct" in self._refused_fields(profile)

    @pytest.mark.parametrize("callback", ["0", "-1"])
    def test_trail_callback_not_positive_is_refused(self, callback):
        profile = ExitProfile(D(2), trail=TrailSpec(D(callback), activation_pct=D(1)))
        assert "trail.callback_pct" in self._refused_fields(profile)

    @pytest.mark.parametrize("callback", ["0", "-1"])
    def test_exchange_trail_callback_not_positive_is_refused(self, callback):
        trail = TrailSpec(D(callback), activation_pct=D(1), mode=TrailMode.EXCHANGE)
        assert "trail.callback_pct" in self._refused_fields(ExitProfile(D(2), trail=trail))

    @pytest.mark.parametrize("pcts", [("1", "1"), ("2", "1")])
    def test_take_profit_pcts_not_strictly_increasing_are_refused(self, pcts):
        profile = ExitProfile(D(2), take_profits=_tps((pcts[0], "0.3"), (pcts[1], "0.3")))
        assert "take_profits[1].pct" in self._refused_fields(profile)

    def test_take_profit_fractions_above_one_are_refused(self):
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.6"), ("2", "0.5")))
        assert "take_profits" in self._refused_fields(profile)

    def test_take_profit_fractions_adding_to_exactly_one_are_accepted(self):
        profile = ExitProfile(D(2), take_profits=_tps(("1", "0.5"), ("2", "0.25"), ("3", "0.25")))
        plan = build_plan(_position(), FILTERS, profile, D(100))
        assert sum(leg.qty for leg in plan.take_profits) == D(1)

    @pytest.mark.parametrize("offset", ["1", "1.5"])
    def test_breakeven_offset_not_below_its_trigger_is_refused(self, offset):
        profile = ExitProfile(D(2), breakeven=BreakevenSpec(D(offset), trigger_pct=D(1)))
        assert "breakeven.offset_pct" in self._refused_fields(profile)

    def test_breakeven_offset_just_below_its_trigger_is_accepted(self):
        profile = ExitProfile(D(2), breakeven=BreakevenSpec(D("0.99"), trigger_pct=D(1)))
        assert build_plan(_position(), FILTERS, profile, D(100)).profile is profile

    @pytest.mark.parametrize("offset", ["1", "1.2"])
    def test_breakeven_offset_not_below_the_take_profit_that_arms_it_is_refused(self, offset):
        profile = ExitProfile(
            D(2),
            take_profits=_tps(("1", "0.5"), ("2", "0.5")),
            breakeven=BreakevenSpec(D(offset), after_tp=1),
        )
        assert "breakeven.offset_pct" in self._refused_fields(profile)

    def test_breakeven_offset_below_the_take_profit_that_arms_it_is_accepted(self):
        profile = ExitProfile(
            D(2),
            take_profits=_tps(("1", "0.5"), ("2", "0.5")),
            breakeven=BreakevenSpec(D("0.9"), after_tp=1),
        )
        build_plan(_position(), FILTERS, profile, D(100))

    def test_breakeven_with_trigger_and_take_profit_must_be_below_both(self):
        # Below the trigger 3 but not below TP1's 1.
        profile = ExitProfile(
            D(2),
            take_profits=_tps(("1", "0.5")),
            breakeven=BreakevenSpec(D("1.5"), trigger_pct=D(3), after_tp=1),
        )
        assert "breakeven.offset_pct" in self._refused_fields(profile)

    def test_refusal_lists_every_problem_and_names_the_fields(self):
        profile = ExitProfile(
            D(0),
            take_profits=_tps(("2", "0.7"), ("1", "0.7")),
            trail=TrailSpec(D(0), activation_pct=D(1)),
        )
        fields = self._refused_fields(profile)
        assert {"hard_sl_pct", "take_profits[1].pct", "take_profits", "trail.callback_pct"} <= (
            fields
        )

    def test_refused_plan_message_says_what_is_allowed(self):
        with pytest.raises(PlanRefused, match="hard_sl_pct"):
            build_plan(_position(), FILTERS, ExitProfile(D(0)), D(100))

    @pytest.mark.parametrize("qty", ["0", "-1"])
    def test_position_without_positive_size_is_refused(self, qty):
        with pytest.raises(PlanRefused):
            build_plan(_position(qty=qty), FILTERS, ExitProfile(D(2)), D(100))

    @pytest.mark.parametrize("pct", ["100", "99.97"])
    def test_short_take_profit_at_or_below_zero_price_is_never_planned(self, pct):
        profile = ExitProfile(D(2), take_profits=_tps((pct, "0.5")))
        try:
            plan = build_plan(_position(Side.SHORT), FILTERS, profile, D(100))
        except PlanRefused:
            return
        assert all(leg.price > 0 for leg in plan.take_profits)


class TestExchangeTrailActivation:
    def _plan(self, activation, adoption="100", side=Side.LONG):
        trail = TrailSpec(D("0.5"), activation_pct=activation, mode=TrailMode.EXCHANGE)
        return build_plan(_position(side), FILTERS, ExitProfile(D(2), trail=trail), D(adoption))

    def test_activation_price_is_pct_price_rounded_to_the_tick(self):
        # 100 * 1.0104 = 101.04 -> 101.0; short: 98.96 -> 99.0
        assert self._plan(D("1.04")).trail_activation_price == D("101.0")
        assert self._plan(D("1.04"), side=Side.SHORT).trail_activation_price == D("99.0")

    def test_activation_price_onto_the_adoption_price_moves_one_tick_in_favour(self):
        assert self._plan(D(1), adoption="101.0").trail_activation_price == D("101.1")

    def test_zero_activation_lets_the_exchange_activate_at_once(self):
        assert self._plan(D(0)).trail_activation_price is None
