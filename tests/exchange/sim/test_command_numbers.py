"""`exitd sim` numeric options out of range: exit 2 naming the option, before serving."""

from __future__ import annotations

import pytest

from exitd.cli import main


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--port", "99999999999999", "out of range (at most 65535)"),
        ("--port", "-1", "-1 is negative"),
        ("--port", "9" * 5000, "not an integer"),
        ("--speed", "nan", "not a decimal number"),
        ("--speed", "inf", "not a decimal number"),
        ("--speed", "1e999999999", "out of range"),
    ],
)
def test_a_numeric_option_out_of_range_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], option: str, value: str, reason: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sim", f"{option}={value}"])
    assert exited.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"exitd sim: error: argument {option}: ")
    assert reason in last
