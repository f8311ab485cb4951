"""The ownership policy: who may write exits in each mode and guard, and the module codes."""

from __future__ import annotations

import pytest

from exitd.engine import Leg, make_client_order_id, parse_client_order_id
from exitd.ownership import (
    DEFAULT_LEGACY_MODULES,
    EXIT_BRAIN,
    KNOWN_MODULE_CODES,
    Guard,
    Mode,
    WriteOutcome,
    check_write,
    module_codes,
    module_for_code,
    validate_mode,
)

LEGACY_MODULE = "position_monitor"
UNKNOWN_MODULE = "rogue_bot"
ALLOWED, CONFLICT, REFUSED, SHADOW = (
    WriteOutcome.ALLOWED,
    WriteOutcome.CONFLICT_ALLOWED,
    WriteOutcome.REFUSED,
    WriteOutcome.SHADOW,
)

# (mode, guard, module, outcome, counted as an ownership conflict): every combination.
TABLE = [
    (Mode.LEGACY, Guard.SOFT, EXIT_BRAIN, SHADOW, False),
    (Mode.LEGACY, Guard.HARD, EXIT_BRAIN, SHADOW, False),
    (Mode.LEGACY, Guard.SOFT, LEGACY_MODULE, ALLOWED, False),
    (Mode.LEGACY, Guard.HARD, LEGACY_MODULE, ALLOWED, False),
    (Mode.LEGACY, Guard.SOFT, UNKNOWN_MODULE, REFUSED, False),
    (Mode.LEGACY, Guard.HARD, UNKNOWN_MODULE, REFUSED, False),
    (Mode.EXIT_BRAIN_V3, Guard.SOFT, EXIT_BRAIN, ALLOWED, False),
    (Mode.EXIT_BRAIN_V3, Guard.HARD, EXIT_BRAIN, ALLOWED, False),
    (Mode.EXIT_BRAIN_V3, Guard.SOFT, LEGACY_MODULE, CONFLICT, True),
    (Mode.EXIT_BRAIN_V3, Guard.HARD, LEGACY_MODULE, REFUSED, True),
    (Mode.EXIT_BRAIN_V3, Guard.SOFT, UNKNOWN_MODULE, REFUSED, False),
    (Mode.EXIT_BRAIN_V3, Guard.HARD, UNKNOWN_MODULE, REFUSED, False),
]


@pytest.mark.parametrize(("mode", "guard", "module", "outcome", "conflict"), TABLE)
def test_check_write_follows_the_ownership_table(
    mode: Mode, guard: Guard, module: str, outcome: WriteOutcome, conflict: bool
) -> None:
    verdict = check_write(mode, guard, module, DEFAULT_LEGACY_MODULES)
    assert verdict.outcome is outcome
    assert verdict.ownership_conflict is conflict
    assert verdict.forwarded is (outcome in (ALLOWED, CONFLICT))
    assert verdict.reason


def test_table_covers_every_mode_guard_and_module_kind() -> None:
    combos = {(mode, guard, module) for mode, guard, module, _, _ in TABLE}
    modules = (EXIT_BRAIN, LEGACY_MODULE, UNKNOWN_MODULE)
    assert combos == {(m, g, x) for m in Mode for g in Guard for x in modules}


def test_a_refused_legacy_write_says_why_in_the_modules_terms() -> None:
    verdict = check_write(Mode.EXIT_BRAIN_V3, Guard.HARD, "hybrid_tpsl", DEFAULT_LEGACY_MODULES)
    assert "hybrid_tpsl" in verdict.reason
    assert "guard hard" in verdict.reason
    assert "read-only" in verdict.reason


def test_an_unknown_module_is_named_in_its_refusal() -> None:
    verdict = check_write(Mode.LEGACY, Guard.SOFT, UNKNOWN_MODULE, DEFAULT_LEGACY_MODULES)
    assert UNKNOWN_MODULE in verdict.reason
    assert "exits.legacy_modules" in verdict.reason


def test_a_default_module_left_out_of_the_config_is_unknown() -> None:
    verdict = check_write(Mode.LEGACY, Guard.SOFT, LEGACY_MODULE, ["hybrid_tpsl"])
    assert verdict.outcome is REFUSED


def test_a_configured_module_outside_the_seed_list_may_write_in_legacy_mode() -> None:
    verdict = check_write(Mode.LEGACY, Guard.HARD, "risk_guard", ["risk_guard"])
    assert verdict.outcome is ALLOWED


def test_legacy_modules_may_be_any_iterable_even_a_generator() -> None:
    verdict = check_write(Mode.LEGACY, Guard.SOFT, "a", (m for m in ["a", "b"]))
    assert verdict.outcome is ALLOWED


@pytest.mark.parametrize(
    ("mode", "enabled", "valid"),
    [
        (Mode.LEGACY, False, True),
        (Mode.LEGACY, True, True),
        (Mode.EXIT_BRAIN_V3, True, True),
        (Mode.EXIT_BRAIN_V3, False, False),
    ],
)
def test_exit_brain_v3_needs_the_flag(mode: Mode, enabled: bool, valid: bool) -> None:
    assert (validate_mode(mode, enabled) is None) is valid


def test_seed_modules_keep_their_codes() -> None:
    codes = module_codes(DEFAULT_LEGACY_MODULES)
    assert codes[EXIT_BRAIN] == "eb"
    assert {m: codes[m] for m in DEFAULT_LEGACY_MODULES} == {
        "position_monitor": "pm",
        "trailing_stop_manager": "ts",
        "safe_order_executor": "so",
        "event_driven_executor": "ed",
        "hybrid_tpsl": "ht",
    }


def test_other_modules_get_distinct_two_letter_codes() -> None:
    modules = [f"module_{i}" for i in range(200)]
    codes = module_codes(modules)
    assert len(set(codes.values())) == len(codes) == len(KNOWN_MODULE_CODES) + 200
    assert all(len(code) == 2 and code.isalpha() and code.islower() for code in codes.values())


def test_a_modules_code_does_not_depend_on_the_order_of_the_list() -> None:
    modules = ["risk_guard", "grid_bot", "dca_engine"]
    assert module_codes(modules) == module_codes(list(reversed(modules)))
    assert module_codes(["risk_guard"])["risk_guard"] == module_codes(modules)["risk_guard"]


def test_a_code_names_its_module_back() -> None:
    modules = ["risk_guard", *DEFAULT_LEGACY_MODULES]
    for module, code in module_codes(modules).items():
        assert module_for_code(code, modules) == module
    assert module_for_code("zz", []) is None


def test_module_codes_fit_client_order_ids() -> None:
    code = module_codes(["risk_guard"])["risk_guard"]
    cid = make_client_order_id(code, "BTCUSDT", Leg.HARD_SL, 7)
    ref = parse_client_order_id(cid)
    assert ref is not None
    assert ref.module_code == code
