"""`exitd replay` on numbers out of any sane range: exit 2 naming where, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exitd.cli import main
from tests.test_numbers import NUMERIC_TEXT

PLAN = ["--side", "long", "--qty", "1", "--hard-sl-pct", "1"]
PATH = "1700000000000,0.005\n1700000001000,0.0051\n"


def replay(prices: Path, *argv: str) -> int:
    return main(["replay", str(prices), *PLAN, *argv])


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("1e999999999", "'1e999999999' is out of range"),
        ("-1e999999999", "'-1e999999999' is out of range"),
        ("1e-999999999", "'1e-999999999' has more than 12 decimal places"),
        ("NaN", "'NaN' is not a decimal number"),
        ("Infinity", "'Infinity' is not a decimal number"),
        ("sNaN", "'sNaN' is not a decimal number"),
        ("9" * 5000, "'99999999999999999999…' is not a decimal number"),
    ],
)
def test_a_price_out_of_range_exits_2_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, price: str, reason: str
) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text(f"{PATH}1700000009999,{price}\n")
    assert replay(prices) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"exitd replay: {prices}:3: price {reason}")
    assert err.count("\n") == 1
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--tick-size", "1e999999999", "out of range"),
        ("--tick-size", "1e-999999999", "more than 12 decimal places"),
        ("--qty", "1e30", "out of range"),
        ("--slippage-pct", "NaN", "not a decimal number"),
        ("--min-notional", "-1e999999999", "out of range"),
        ("--hard-sl-pct", "sNaN", "not a decimal number"),
        ("--tp", "1e999999999:0.5", "out of range"),
        ("--start", "1" + "0" * 30, "out of range"),
        ("--time-limit", "9" * 5000, "not an integer"),
    ],
)
def test_an_option_out_of_range_exits_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, value: str, reason: str
) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text(PATH)
    with pytest.raises(SystemExit) as exited:
        replay(prices, f"{option}={value}")
    assert exited.value.code == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"exitd replay: error: argument {option}: ")
    assert reason in err


def test_a_take_profit_beyond_a_hundredfold_move_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "p.csv"
    prices.write_text(PATH)
    assert replay(prices, "--tp", "99999999999:0.5") == 2
    assert "--tp = 99999999999: allowed: a percentage of at most 10000" in capsys.readouterr().err
    assert replay(prices, "--tp", "10000:0.5") == 0


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(price=NUMERIC_TEXT, row=st.integers(0, 2))
def test_replay_never_raises_on_any_numeric_text_in_a_price_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, price: str, row: int
) -> None:
    rows = ["1700000000000,0.005", "1700000001000,0.0051", "1700000002000,0.0049"]
    rows[row] = f"{1700000000000 + 1000 * row},{price.replace(',', '')}"
    prices = tmp_path / "p.csv"
    prices.write_text("\n".join(rows) + "\n")
    code = replay(prices, "--tick-size", "0.0001", "--tp", "1:0.5")
    err = capsys.readouterr().err
    assert code in (0, 2)
    assert (code == 2) == err.startswith("exitd replay: "), err
