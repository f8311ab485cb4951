"""`exitd replay --plot`: the exit drawn to PNG or HTML, the stop's moves exact, and a clear
way out when matplotlib is missing."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

from exitd.cli import main
from exitd.engine import ExitProfile, Position, Side, SymbolFilters, TrailSpec, build_plan
from exitd.pictures import INSTALL_HINT
from exitd.price_files import open_price_file
from exitd.replay.runner import Replay, StopMove

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRAIL = ("--hard-sl-pct", "5", "--trail-activation", "1", "--trail-callback", "1")


def path_file(tmp_path: Path, *prices: str) -> Path:
    """A `time_ms,price` file with one tick a second."""
    path = tmp_path / "xusdt.csv"
    path.write_text("".join(f"{(i + 1) * 1000},{p}\n" for i, p in enumerate(prices)))
    return path


TRAIL_PATH = ("100", "100.5", "101", "102", "103", "102.5", "101.5", "100")


def replay(path: Path, *extra: str) -> int:
    return main(
        ["replay", str(path), "--side", "long", "--qty", "1", "--tick-size", "0.1", *TRAIL, *extra]
    )


def test_working_stop_moves_are_recorded_exactly(tmp_path: Path) -> None:
    # Long 1 at 100.0, HARD_SL -5 % = 95.0; the trail arms at mfe 1 % (101) and rests 1 %
    # behind the best price, on the nearest tick: 101 -> 99.99 -> 100.0; 102 -> 100.98 ->
    # 101.0; 103 -> 101.97 -> 102.0; 102.5 changes nothing; 101.5 goes through 102.0 and
    # fills at the tick. Both stops are gone once the position is flat.
    ticks = list(open_price_file(str(path_file(tmp_path, *TRAIL_PATH))))
    profile = ExitProfile(
        hard_sl_pct=Decimal(5), trail=TrailSpec(callback_pct=Decimal(1), activation_pct=Decimal(1))
    )
    filters = SymbolFilters(Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(0))
    position = Position("XUSDT", Side.LONG, Decimal(1), ticks[0].price)
    run = Replay(build_plan(position, filters, profile, ticks[0].price, "t"))
    fills = list(run.run(ticks[0], ticks[1:]))
    assert [(f.leg, f.price, f.time_ms) for f in fills] == [
        ("WORKING_STOP", Decimal("101.5"), 7000)
    ]
    assert run.stop_moves == [
        StopMove(1000, "HARD_SL", Decimal("95.0")),
        StopMove(3000, "WORKING_STOP", Decimal("100.0")),
        StopMove(4000, "WORKING_STOP", Decimal("101.0")),
        StopMove(5000, "WORKING_STOP", Decimal("102.0")),
        StopMove(7000, "WORKING_STOP", None),
        StopMove(7000, "HARD_SL", None),
    ]


def test_plot_writes_a_png_and_leaves_the_timeline_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = path_file(tmp_path, *TRAIL_PATH)
    assert replay(prices) == 0
    without = capsys.readouterr().out
    picture = tmp_path / "exit.png"
    assert replay(prices, "--plot", str(picture)) == 0
    out, err = capsys.readouterr()
    assert out == without
    assert str(picture) in err
    data = picture.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000  # a drawn figure, not an empty canvas


def test_plot_to_html_embeds_the_figure_as_svg(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    picture = tmp_path / "exit.html"
    assert replay(path_file(tmp_path, *TRAIL_PATH), "--plot", str(picture)) == 0
    page = picture.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>XUSDT long 1, profile inline</title>" in page
    assert page.count("<svg") == 1
    assert "<?xml" not in page
    assert ">WORKING_STOP filled 1 @ 101.5<" in page  # the legend, as SVG text


def test_without_matplotlib_the_command_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    picture = tmp_path / "exit.png"
    assert replay(path_file(tmp_path, *TRAIL_PATH), "--plot", str(picture)) == 2
    out, err = capsys.readouterr()
    assert err == f"exitd replay: {INSTALL_HINT}\n"
    assert "pip install 'exitd[plot]'" in err
    assert out == ""  # refused before replaying anything
    assert not picture.exists()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("exit.jpg", "a picture is a .png or an .html file"),
        ("missing/exit.png", "no such directory"),
    ],
)
def test_a_picture_that_cannot_be_written_is_refused_before_the_replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, problem: str
) -> None:
    target = tmp_path / name
    assert replay(path_file(tmp_path, *TRAIL_PATH), "--plot", str(target)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"exitd replay: {target}: ")
    assert problem in err
    assert not target.exists()
