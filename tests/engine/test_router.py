"""The ExitRouter: per-symbol profile, else `default`, else the emergency hard stop."""

from decimal import Decimal as D

from exitd.engine import ExitProfile, ExitRouter, TakeProfitSpec

DEFAULT = ExitProfile(D(2), take_profits=(TakeProfitSpec(D(1), D("0.5")),))
SCALP = ExitProfile(D("0.5"))


def test_a_routed_symbol_gets_its_own_profile():
    router = ExitRouter({"default": DEFAULT, "scalp": SCALP}, {"BTCUSDT": "scalp"}, D(5))
    route = router.route("BTCUSDT")
    assert (route.profile_name, route.profile, route.delegation_gap) == ("scalp", SCALP, False)


def test_any_other_symbol_gets_the_default_profile():
    router = ExitRouter({"default": DEFAULT, "scalp": SCALP}, {"BTCUSDT": "scalp"}, D(5))
    route = router.route("ETHUSDT")
    assert (route.profile_name, route.profile, route.delegation_gap) == (
        "default",
        DEFAULT,
        False,
    )


def test_a_symbol_with_no_route_gets_the_emergency_stop_and_a_delegation_gap():
    router = ExitRouter({"scalp": SCALP}, {"BTCUSDT": "scalp"}, D("7.5"))
    route = router.route("ETHUSDT")
    assert route.delegation_gap is True
    assert route.profile_name == "emergency"
    assert route.profile == ExitProfile(hard_sl_pct=D("7.5"))
    assert route.profile.take_profits == ()
    assert route.profile.breakeven is None
    assert route.profile.trail is None


def test_routes_of_one_symbol_do_not_leak_to_another():
    router = ExitRouter({"default": DEFAULT, "scalp": SCALP}, {"BTCUSDT": "scalp"}, D(5))
    assert router.route("BTCUSDTX").profile is DEFAULT
    assert router.route("btcusdt").profile is DEFAULT
