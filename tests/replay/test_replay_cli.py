"""`exitd replay` end to end: exits worked out by hand on small paths, real and made up."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from exitd.cli import main


def replay_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[dict], dict]:
    code = main(["replay", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [orjson.loads(line) for line in out.splitlines()]
    return lines[:-1], lines[-1]["summary"]


def path_file(tmp_path: Path, *prices: str, step_ms: int = 1000) -> str:
    """A `time_ms,price` file with one tick a second."""
    path = tmp_path / "path.csv"
    path.write_text("".join(f"{i * step_ms},{p}\n" for i, p in enumerate(prices)))
    return str(path)


def fill(time_ms: int, leg: str, price: str, qty: str) -> dict:
    return {"time_ms": time_ms, "leg": leg, "price": price, "qty": qty}


def test_real_eth_trades_take_profit_then_breakeven_stop(
    capsys: pytest.CaptureFixture[str], market_dir: Path
) -> None:
    # ETHUSDT trades, long 1 at the first trade 1666.80 (tick 0.01).
    # TP1 at +0.005 % = 1666.883334 -> 1666.88, half the position.
    # Breakeven trigger +0.003 % = 1666.850004: tick 5 (1666.86) arms it;
    # its stop: +0.001 % = 1666.816668 -> 1666.82.
    # Tick 7 (1666.88) fills TP1 at its limit; the stop follows Q down to 0.5.
    # Nothing trades at or below 1666.82 until tick 58 (1666.8): the stop fills there.
    fills, summary = replay_json(
        capsys,
        str(market_dir / "ETHUSDT-trades-2023-02-02-first1000.csv"),
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.01",
        "--hard-sl-pct",
        "0.01",
        "--tp",
        "0.005:0.5",
        "--be-trigger",
        "0.003",
        "--be-offset",
        "0.001",
    )
    assert fills == [
        fill(1675329600239, "TP1", "1666.88", "0.500"),
        fill(1675329609326, "WORKING_STOP", "1666.8", "0.500"),
    ]
    assert Decimal(summary["pnl"]) == Decimal("0.04")
    assert summary["open_qty"] == "0"
    assert summary["ticks"] == 59


def test_long_take_profit_breakeven_and_trail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 100.0 entry; HARD_SL 98.0; TP1 101.0 x 0.5; breakeven at mfe 0.5 % -> 100.1;
    # trail from mfe 1.5 %, 1 % behind the extreme.
    # 100.6 arms breakeven (W 100.1); 101.2 fills TP1; 101.6 arms the trail (100.584 -> 100.6);
    # 102.0 moves it to 100.98 -> 101.0; 101.5 changes nothing; 100.9 fills the working stop.
    prices = path_file(
        tmp_path, "100.0", "100.3", "100.6", "101.2", "101.6", "102.0", "101.5", "100.9", "99.0"
    )
    fills, summary = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.1",
        "--hard-sl-pct",
        "2",
        "--tp",
        "1:0.5",
        "--be-trigger",
        "0.5",
        "--be-offset",
        "0.1",
        "--trail-activation",
        "1.5",
        "--trail-callback",
        "1",
    )
    assert fills == [
        fill(3000, "TP1", "101.0", "0.500"),
        fill(7000, "WORKING_STOP", "100.9", "0.500"),
    ]
    assert Decimal(summary["pnl"]) == Decimal("0.95")
    assert Decimal(summary["r"]) == Decimal("0.475")
    assert summary["ticks"] == 8  # it stops reading once the position is closed


def test_short_hard_stop_fills_at_the_tick_price(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Short 2 at 50.00, HARD_SL +1 % = 50.50; 50.49 does not reach it, 50.62 goes through it.
    prices = path_file(tmp_path, "50.00", "50.20", "50.49", "50.62")
    fills, summary = replay_json(
        capsys,
        prices,
        "--side",
        "short",
        "--qty",
        "2",
        "--tick-size",
        "0.01",
        "--hard-sl-pct",
        "1",
    )
    assert fills == [fill(3000, "HARD_SL", "50.62", "2")]
    assert Decimal(summary["r"]) == Decimal("-1.24")


def test_a_stop_fills_at_the_exact_price_of_a_tick_finer_than_the_tick_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Long 1 at 0.0054, HARD_SL -0.5 % = 0.005373 (on the 0.000001 tick); the path gaps
    # through it to 0.005358798, nine decimals: the fill is that price, not 8 places of it.
    prices = path_file(tmp_path, "0.0054", "0.005358798")
    argv = ["--side", "long", "--qty", "1", "--tick-size", "0.000001", "--hard-sl-pct", "0.5"]
    fills, summary = replay_json(capsys, prices, *argv)
    assert fills == [fill(1000, "HARD_SL", "0.005358798", "1")]
    assert summary["last_price"] == "0.005358798"
    assert Decimal(summary["pnl"]) == Decimal("-0.00004120")  # money: 8 places
    assert main(["replay", prices, *argv]) == 0
    timeline = capsys.readouterr().out.splitlines()
    assert timeline[3].split()[2:5] == ["HARD_SL", "0.005358798", "1"]
    assert timeline[4].endswith("at 0.005358798")


def test_a_trail_tighter_than_a_tick_moves_below_the_price(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Tick 0.5: the trail armed at once (activation 0), 0.1 % under 100.0 = 99.9, rounds to
    # 100.0, onto the price, so it moves to the nearest tick strictly below: 99.5.
    # 99.6 does not touch it; 99.5 does.
    prices = path_file(tmp_path, "100.0", "99.6", "99.5")
    fills, _ = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.5",
        "--hard-sl-pct",
        "2",
        "--trail-activation",
        "0",
        "--trail-callback",
        "0.1",
    )
    assert fills == [fill(2000, "WORKING_STOP", "99.5", "1")]


def test_time_limit_closes_at_market_on_the_tick_it_expires(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = path_file(tmp_path, "100.0", "100.5", "100.7", "100.9")
    fills, _ = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.1",
        "--hard-sl-pct",
        "2",
        "--time-limit",
        "2",
    )
    assert fills == [fill(2000, "TIME", "100.7", "1")]


def test_working_stop_beats_hard_stop_on_a_gap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Both stops are through on the gap to 90: the most protective (the working stop) fills
    # everything, and the HARD_SL is left with nothing to close.
    prices = path_file(tmp_path, "100.0", "101.0", "90.0")
    fills, _ = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.1",
        "--hard-sl-pct",
        "2",
        "--be-trigger",
        "0.5",
        "--be-offset",
        "0.1",
    )
    assert fills == [fill(2000, "WORKING_STOP", "90.0", "1")]


def test_exchange_trail_fires_a_callback_below_the_high(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Native trailing stop: activation +1 % = 101.0, callback 1 %. The high is 101.5, so it
    # fires at or below 100.485: 100.4.
    prices = path_file(tmp_path, "100.0", "100.5", "101.0", "101.5", "100.5", "100.4")
    fills, _ = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.1",
        "--hard-sl-pct",
        "2",
        "--trail-activation",
        "1",
        "--trail-callback",
        "1",
        "--trail-mode",
        "exchange",
    )
    assert fills == [fill(5000, "TRAILING_STOP", "100.4", "1")]


def test_small_take_profits_merge_and_the_last_is_dropped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Q0 0.010, min qty 0.005: TP1 (0.003) gives its fraction to TP2 (0.006 stands);
    # TP3 (0.002) is the last and still cannot stand: dropped, and the summary says so.
    prices = path_file(tmp_path, "100.0", "101.0", "102.0", "103.0")
    fills, summary = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "0.010",
        "--tick-size",
        "0.1",
        "--step-size",
        "0.001",
        "--min-qty",
        "0.005",
        "--hard-sl-pct",
        "2",
        "--tp",
        "1:0.3",
        "--tp",
        "2:0.3",
        "--tp",
        "3:0.2",
    )
    assert fills == [fill(2000, "TP2", "102.0", "0.006")]
    events = [n["event"] for n in summary["notices"]]
    assert events == ["exit_plan.take_profit_merged", "exit_plan.take_profit_dropped"]
    assert summary["open_qty"] == "0.004"


def test_start_enters_at_that_tick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prices = path_file(tmp_path, "90.0", "100.0", "98.0")
    fills, summary = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.1",
        "--start",
        "1",
        "--hard-sl-pct",
        "2",
    )
    assert summary["entry_price"] == "100.0"
    assert fills == [fill(2000, "HARD_SL", "98.0", "1")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hard-sl-pct", "0"], "--hard-sl-pct = 0: allowed: a percentage above 0"),
        (["--hard-sl-pct", "2", "--tp", "2:0.5", "--tp", "1:0.5"], "--tp = 1: allowed: strictly"),
        (["--hard-sl-pct", "2", "--tp", "1:0.7", "--tp", "2:0.5"], "a sum of at most 1"),
        (["--hard-sl-pct", "2", "--be-trigger", "0.5", "--be-offset", "0.5"], "--be-offset"),
        (["--hard-sl-pct", "2", "--start", "9"], "--start 9"),
        (["--side", "long", "--qty", "1", "--tick-size", "0.1"], "no plan"),
        (
            [
                "--hard-sl-pct",
                "2",
                "--trail-callback",
                "25",
                "--trail-activation",
                "1",
                "--trail-mode",
                "exchange",
            ],
            "--trail-callback = 25",
        ),
    ],
)
def test_a_bad_plan_or_option_exits_2_naming_the_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    prices = path_file(tmp_path, "100.0", "101.0")
    base = [] if "--side" in argv else ["--side", "long", "--qty", "1", "--tick-size", "0.1"]
    code = main(["replay", prices, *base, *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_bad_row_exits_2_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("0,100.0\n1000,101.0\n2000,-5\n")
    code = main(["replay", str(path), "--side", "long", "--qty", "1", "--hard-sl-pct", "2"])
    assert code == 2
    assert f"{path}:3:" in capsys.readouterr().err


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(
        ["replay", str(tmp_path / "nope.csv"), "--side", "long", "--qty", "1", "--hard-sl-pct", "2"]
    )
    assert code == 2
    assert "nope.csv" in capsys.readouterr().err


def test_text_timeline_names_legs_and_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = path_file(tmp_path, "100.0", "101.2", "97.0")
    code = main(
        [
            "replay",
            prices,
            "--side",
            "long",
            "--qty",
            "1",
            "--tick-size",
            "0.1",
            "--hard-sl-pct",
            "2",
            "--tp",
            "1:0.5",
            "--symbol",
            "ETHUSDT",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ETHUSDT long 1 @ 100.0" in out
    assert "TP1" in out and "HARD_SL" in out
    assert "P&L -1.00 USDT = -0.50 R" in out  # +0.5 on TP1, -1.5 on the rest at 97.0


def test_slippage_fills_a_stop_a_whole_tick_worse(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Long HARD_SL at 98.0 goes through at 97.9; 0.1 % adverse slippage gives 97.8021,
    # rounded against the seller onto the 0.1 tick: 97.8.
    prices = path_file(tmp_path, "100.0", "97.9")
    fills, _ = replay_json(
        capsys,
        prices,
        "--side",
        "long",
        "--qty",
        "1",
        "--tick-size",
        "0.1",
        "--hard-sl-pct",
        "2",
        "--slippage-pct",
        "0.1",
    )
    assert fills == [fill(1000, "HARD_SL", "97.8", "1")]
