"""Config numbers out of any sane range: `exitd check-config` exits 2 naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from exitd.cli import main

BIG = "9" * 4000  # TOML reads it; no sane setting is this long
HUGE = "9" * 5000  # beyond Python's 4300-digit limit on reading an integer


@pytest.mark.parametrize(
    ("toml", "key", "reason"),
    [
        ("[safety]\nemergency_sl_pct = 1e999999999", "safety.emergency_sl_pct", "out of range"),
        ("[safety]\nemergency_sl_pct = -1e999999999", "safety.emergency_sl_pct", "out of range"),
        ("[safety]\nemergency_sl_pct = 1e-999999999", "safety.emergency_sl_pct", "12 decimal"),
        ("[safety]\nemergency_sl_pct = nan", "safety.emergency_sl_pct", "not a finite number"),
        ("[safety]\nemergency_sl_pct = -inf", "safety.emergency_sl_pct", "not a finite number"),
        ('[safety]\nemergency_sl_pct = "sNaN"', "safety.emergency_sl_pct", "not a decimal"),
        (f"[safety]\nemergency_sl_pct = {BIG}", "safety.emergency_sl_pct", "out of range"),
        (
            "[profiles.default]\nhard_sl_pct = 1\ntake_profits = [{pct = 1e999, fraction = 1}]",
            "profiles.default.take_profits[0].pct",
            "out of range",
        ),
        (
            "[profiles.default]\nhard_sl_pct = 1\ntake_profits = [{pct = 20000, fraction = 1}]",
            "profiles.default.take_profits[0].pct",
            "at most 10000",
        ),
        (f"[profiles.default]\nhard_sl_pct = 1\ntime_limit_s = {BIG}", "time_limit_s", "less"),
        (f"[exchange.sim]\nwalk_seed = {BIG}", "exchange.sim.walk_seed", "less than"),
        ("[exchange.sim]\nspeed = 1e999999999", "exchange.sim.speed", "finite"),
    ],
)
def test_a_number_out_of_range_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, toml: str, key: str, reason: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml + "\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    (line,) = [ln for ln in err.splitlines() if key in ln]
    assert reason in line
    assert len(line) < 400  # a 4,000-digit value is not echoed whole
    assert "Traceback" not in err and "internal error" not in err


def test_an_integer_too_long_to_read_is_a_toml_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[safety]\nemergency_sl_pct = {HUGE}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"{path}: invalid TOML: an integer of more than 4300 digits\n"


def test_a_number_string_may_end_in_a_newline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[safety]\nemergency_sl_pct = "1.5\\n"\n')
    assert main(["check-config", str(path)]) == 0
    assert '"emergency_sl_pct": "1.5"' in capsys.readouterr().out
