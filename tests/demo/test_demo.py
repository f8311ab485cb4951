"""`exitd demo` end to end, in-process: the simulator, the daemon and the bundled BTCUSDT
trades; what it prints is checked against the simulator's own ledger of the run."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest
import structlog

from exitd.cli import main
from exitd.pictures import INSTALL_HINT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# "  +4.68s  filled    TP1           0.150 @ 63975.90, realised +4.80": fixed columns.
LINE = re.compile(r"^  [ +-]{0,8}\d+\.\d\ds  (.{9}) (.{13}) ?(.*)$")


def timeline_of(out: str) -> list[tuple[str, str, str]]:
    """(what, leg, detail) of each timeline line."""
    section = out.split("timeline", 1)[1].split("summary:", 1)[0]
    matches = [LINE.match(line.ljust(40)) for line in section.splitlines()[1:] if line]
    assert all(matches), section
    return [(m[1].strip(), m[2].strip(), m[3]) for m in matches if m]


def test_demo_shows_the_position_protected_and_closed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir, scratch = tmp_path / "work", tmp_path / "tmp"
    workdir.mkdir()
    scratch.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    logging_before = structlog.get_config()

    code = main(["demo"])

    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert err == ""  # the daemon's logs stay out of the way without --verbose
    lines = timeline_of(out)
    whats = [what for what, _, _ in lines]
    assert whats[0] == "opened"
    assert ("adopted", "", "LONG 0.5 @ 63943.9, profile demo, hard stop 63848") in [
        (w, leg, d) for w, leg, d in lines
    ]
    legs_placed = {leg for what, leg, _ in lines if what == "placed"}
    assert {"HARD_SL", "TP1", "TP2"} <= legs_placed
    tp_fills = [d for what, leg, d in lines if what == "filled" and leg.startswith("TP")]
    assert tp_fills, out
    assert "flat" in whats
    closing_fill = max(i for i, what in enumerate(whats) if what == "filled")
    assert whats.index("flat") > closing_fill  # the exit, then flat
    assert whats.index("adopted") < whats.index("placed")
    assert "  position:          flat; realised P&L +" in out
    assert "orders by module:  exit_brain_v3 " in out
    picture = workdir / "exitd-demo.png"
    data = picture.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 30_000
    assert f"\n  picture:           {picture.name}\n" in out
    # Nothing left behind but the picture: state lived in a temporary directory, now gone.
    assert sorted(p.name for p in workdir.iterdir()) == ["exitd-demo.png"]
    assert list(scratch.iterdir()) == []
    assert structlog.get_config() == logging_before


def test_demo_asked_for_a_picture_without_matplotlib_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main(["demo", "--plot", str(tmp_path / "demo.png")])
    out, err = capsys.readouterr()
    assert code == 2
    assert err == f"exitd demo: {INSTALL_HINT}\n"
    assert out == ""


def test_demo_refuses_a_speed_it_cannot_run_at(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--speed", "0"]) == 2
    assert "--speed 0: allowed: more than 0" in capsys.readouterr().err


def test_demo_with_a_broken_config_says_what_is_wrong(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text("[profiles.demo]\nhard_sl_pct = -1\n")
    assert main(["demo", "--config", str(config), "--no-plot"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"exitd demo: {config}: profiles.demo.hard_sl_pct = -1: "
        "allowed: a percentage above 0 and below 100\n"
    )
