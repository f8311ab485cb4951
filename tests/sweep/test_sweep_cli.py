"""`exitd sweep` end to end over two real fixture paths: its rows are what `exitd replay`
gives plan by plan, a run killed midway resumes with only what was left, and a Dask cluster
of two workers gives the same table."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import pickle
import signal
import subprocess
import sys
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from exitd.cli import main
from exitd.price_files import open_price_file
from exitd.replay.report import money
from tests.conftest import MARKET

FILES = [
    MARKET / "btcusdt-um-trades-2023-04-04_05.csv",
    MARKET / "btcusdt-um-trades-2024-07-18_19.csv",
]
HARD_SL = ["0.1", "0.2", "0.3"]
CALLBACK = ["0.02", "0.04", "0.06"]
BASE = ["--tp", "0.05:0.3", "--be-trigger", "0.04", "--be-offset", "0.01"]
BASE += ["--trail-activation", "0.05", "--qty", "0.5"]
EVERY_MS = 5 * 60_000
SWEEP = [
    *map(str, FILES),
    "--grid",
    "hard_sl_pct=0.1:0.3:0.1",
    "--grid",
    "trail.callback_pct=0.02,0.04,0.06",
    "--entries",
    "every:5m",
    "--side",
    "both",
    *BASE,
]
CELLS = len(HARD_SL) * len(CALLBACK) * len(FILES)


@dataclass(frozen=True)
class Replayed:
    """One `exitd replay --json` run: its fills and summary, and the prices it lived through."""

    fills: list[dict[str, str]]
    summary: dict[str, str]
    mae_pct: Decimal


def _replay(path: Path, start: int, side: str, sl: str, cb: str) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    args = ["replay", str(path), "--side", side, "--start", str(start), "--json"]
    args += ["--hard-sl-pct", sl, "--trail-callback", cb, *BASE]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(args) == 0, err.getvalue()
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return {"fills": lines[:-1], "summary": lines[-1]["summary"]}


@pytest.fixture(scope="module")
def replays() -> dict[tuple[str, str], list[Replayed]]:
    """Every position of the sweep, each by its own `exitd replay` run."""
    found: dict[tuple[str, str], list[Replayed]] = {}
    paths = {path: list(open_price_file(path)) for path in FILES}
    for sl, cb in itertools.product(HARD_SL, CALLBACK):
        runs = found.setdefault((sl, cb), [])
        for path, ticks in paths.items():
            times = [t.time_ms for t in ticks]
            for entry_ms in range(times[0], times[-1] + 1, EVERY_MS):
                start = bisect_left(times, entry_ms)
                for side in ("long", "short"):
                    run = _replay(path, start, side, sl, cb)
                    summary = run["summary"]
                    assert isinstance(summary, dict)
                    lived = [t.price for t in ticks[start : start + summary["ticks"]]]
                    entry = ticks[start].price
                    worst = entry - min(lived) if side == "long" else max(lived) - entry
                    fills = run["fills"]
                    assert isinstance(fills, list)
                    runs.append(Replayed(fills, summary, max(worst, Decimal(0)) * 100 / entry))
    return found


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted sweep in this process, with its outputs and journal."""
    out_dir = tmp_path_factory.mktemp("reference")
    code, out, err = _sweep([*SWEEP, "--jobs", "1", "--out", str(out_dir)])
    assert code == 0, err
    (out_dir / "table.txt").write_text(out)
    return out_dir


@pytest.fixture(scope="module")
def reference(reference_dir: Path) -> tuple[str, str]:
    """The reference sweep's table and CSV."""
    return (reference_dir / "table.txt").read_text(), (reference_dir / "sweep.csv").read_text()


def _sweep(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sweep", *args])
    return code, out.getvalue(), err.getvalue()


def _csv_rows(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    names = lines[0].split(",")
    return [dict(zip(names, line.split(","), strict=True)) for line in lines[1:]]


def _journal(out_dir: Path) -> list[dict[str, object]]:
    (path,) = out_dir.glob("journal-*.jsonl")
    complete = []
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            complete.append(orjson.loads(line))
    return complete


def test_nine_ranked_rows_equal_nine_plans_of_separate_replays(
    reference: tuple[str, str], replays: dict[tuple[str, str], list[Replayed]]
) -> None:
    table, csv_text = reference
    rows = _csv_rows(csv_text)
    assert len(rows) == 9
    assert {(r["hard_sl_pct"], r["trail.callback_pct"]) for r in rows} == set(replays)
    for row in rows:
        runs = replays[(row["hard_sl_pct"], row["trail.callback_pct"])]
        pnl = [Decimal(run.summary["pnl"]) for run in runs]
        r = [Decimal(run.summary["r"]) for run in runs]
        assert int(row["trades"]) == len(runs)
        assert int(row["wins"]) == sum(1 for p in pnl if p > 0)
        assert int(row["open_trades"]) == sum(1 for run in runs if Decimal(run.summary["open_qty"]))
        assert Decimal(row["total_pnl"]) == sum(pnl)
        assert Decimal(row["worst_pnl"]) == min(pnl)
        assert Decimal(row["worst_r"]) == min(r)
        assert Decimal(row["win_rate"]) == (Decimal(int(row["wins"])) / len(runs)).quantize(
            Decimal("1e-8")
        )
        # replay prints each R to 8 places; the sweep sums them exactly, then rounds once
        assert abs(Decimal(row["total_r"]) - sum(r)) <= Decimal("5e-9") * (len(r) + 1)
        legs = Counter(fill["leg"] for run in runs for fill in run.fills)
        assert {
            k.removeprefix("exits_"): int(v)
            for k, v in row.items()
            if k.startswith("exits_") and int(v)
        } == dict(legs)
        assert Decimal(row["max_mae_pct"]) == max(run.mae_pct for run in runs).quantize(
            Decimal("1e-8")
        )
    # ranked by total R, best first, and printed in that order
    totals = [Decimal(row["total_r"]) for row in rows]
    assert totals == sorted(totals, reverse=True)
    printed = [line.split()[1:3] for line in table.splitlines()[1:]]
    assert printed == [[row["hard_sl_pct"], row["trail.callback_pct"]] for row in rows]
    assert [line.split()[5] for line in table.splitlines()[1:]] == [
        f"{Decimal(row['total_pnl']).quantize(Decimal('0.01')):+f}" for row in rows
    ]


def test_each_trade_in_the_journal_is_the_replay_of_its_position(
    reference_dir: Path, replays: dict[tuple[str, str], list[Replayed]]
) -> None:
    by_plan: dict[tuple[str, str], list[list[object]]] = {}
    for line in _journal(reference_dir):
        plan = line["plan"]
        assert isinstance(plan, int)
        sl, cb = HARD_SL[plan // 3], CALLBACK[plan % 3]
        trades = line["trades"]
        assert isinstance(trades, list)
        by_plan.setdefault((sl, cb), []).extend(trades)
    for key, runs in replays.items():
        want = sorted(
            (
                run.summary["entry_time_ms"],
                run.summary["side"],
                run.summary["pnl"],
                run.summary["r"],
                run.summary["mfe_pct"],
            )
            for run in runs
        )
        got = sorted(
            (t[0], t[1], money(Decimal(t[4])), money(Decimal(t[5])), money(Decimal(t[9])))
            for t in by_plan[key]
        )
        assert got == want, key


@pytest.mark.parametrize(
    ("stop", "jobs", "code"),
    [(signal.SIGKILL, "1", -signal.SIGKILL), (signal.SIGINT, "2", 130)],
    ids=["killed", "ctrl-c"],
)
def test_an_interrupted_sweep_resumes_with_only_the_cells_left(
    tmp_path: Path, reference: tuple[str, str], stop: signal.Signals, jobs: str, code: int
) -> None:
    # The 18 cells take seconds; the signal comes when the first is journaled.
    command = [sys.executable, "-m", "exitd.cli", "sweep", *SWEEP, "--jobs", jobs]
    command += ["--progress", "--out", str(tmp_path)]
    with subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL) as first:
        assert first.stderr is not None
        seen = b""
        while b"cells" not in seen:  # the bar is drawn when the first cell is journaled
            chunk = first.stderr.read1(4096)
            assert chunk, f"the sweep ended before its first cell: {seen!r}"
            seen += chunk
        first.send_signal(stop)
        assert first.wait() == code
        said = seen + first.stderr.read()
    if stop == signal.SIGINT:
        assert b"run the same command again to finish" in said
        assert b"Traceback" not in said
    done = [line["key"] for line in _journal(tmp_path)]
    assert 1 <= len(done) < CELLS

    code, out, err = _sweep([*SWEEP, "--jobs", "1", "--out", str(tmp_path)])
    assert code == 0, err
    assert f"resuming: {len(done)} of {CELLS} cells" in err
    keys = [line["key"] for line in _journal(tmp_path)]
    assert keys[: len(done)] == done
    assert len(keys) == len(set(keys)) == CELLS  # each cell ran exactly once over both runs
    assert (out, (tmp_path / "sweep.csv").read_text()) == reference


def test_a_cell_limit_stops_and_a_rerun_finishes_the_rest(
    tmp_path: Path, reference: tuple[str, str]
) -> None:
    args = [*SWEEP, "--jobs", "2", "--out", str(tmp_path)]
    code, out, err = _sweep([*args, "--max-cells", "5"])
    assert code == 3, err
    assert "5 of 18 cells done" in err
    assert out == ""
    assert not (tmp_path / "sweep.csv").exists()
    assert len(_journal(tmp_path)) == 5
    code, out, err = _sweep(args)
    assert code == 0, err
    assert "resuming: 5 of 18 cells" in err
    keys = [line["key"] for line in _journal(tmp_path)]
    assert len(keys) == len(set(keys)) == CELLS
    assert (out, (tmp_path / "sweep.csv").read_text()) == reference


def test_a_changed_space_does_not_resume_from_another_journal(tmp_path: Path) -> None:
    args = [str(FILES[0]), "--grid", "hard_sl_pct=0.1,0.2", "--jobs", "1", "--out", str(tmp_path)]
    assert _sweep(args)[0] == 0
    code, _, err = _sweep([*args[:-4], "--grid", "time_limit_s=60", *args[-4:]])
    assert code == 0, err
    assert "resuming" not in err
    assert len(list(tmp_path.glob("journal-*.jsonl"))) == 2


@pytest.fixture
def dask_scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


def test_a_dask_cluster_of_two_workers_gives_the_same_table(
    tmp_path: Path, dask_scheduler: str, reference: tuple[str, str]
) -> None:
    code, out, err = _sweep([*SWEEP, "--cluster", dask_scheduler, "--out", str(tmp_path)])
    assert code == 0, err
    assert (out, (tmp_path / "sweep.csv").read_text()) == reference


def test_a_cell_ships_the_file_reference_not_its_ticks() -> None:
    from exitd.cli import _parser  # noqa: PLC0415
    from exitd.sweep.command import plan_sweep  # noqa: PLC0415

    sweep = plan_sweep(_parser().parse_args(["sweep", *SWEEP]), os.environ)
    assert len(sweep.cells) == CELLS
    for cell in sweep.cells:
        shipped = pickle.dumps(cell)
        assert str(Path(cell.path).resolve()).encode() in shipped
        assert len(shipped) < Path(cell.path).stat().st_size // 50


def test_the_plot_draws_a_png_and_a_missing_matplotlib_is_said_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    picture = tmp_path / "sweep.png"
    args = [
        str(FILES[1]),
        "--grid",
        "hard_sl_pct=0.1,0.2",
        "--grid",
        "trail.callback_pct=0.02,0.04",
    ]
    args += ["--trail-activation", "0.05", "--jobs", "1", "--plot", str(picture)]
    code, out, err = _sweep(args)
    assert code == 0, err
    assert picture.read_bytes().startswith(b"\x89PNG")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = _sweep([*args[:-1], str(tmp_path / "other.png")])
    assert code == 2
    assert "pip install 'exitd[plot]'" in err
    assert out == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "stop=1,2"], "'stop' is not a plan parameter"),
        (["--grid", "hard_sl_pct=3:1:1"], "ends before it starts"),
        (["--grid", "tp2.pct=1,2"], "1 take-profit"),
        (["--entries", "every:5x"], "every:N"),
        (["--random", "0"], "at least one plan"),
        (["--grid", "breakeven.offset_pct=0.05,0.06"], "every plan of the space is refused"),
        (["--jobs", "0"], "--jobs 0"),
        (["--cluster", "scheduler:bar"], "expected tcp://HOST:PORT"),
        (["--cluster", "tcp://:8786"], "expected tcp://HOST:PORT"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(extra: list[str], message: str) -> None:
    code, out, err = _sweep([*SWEEP, *extra])
    assert code == 2
    assert message in err
    assert err.startswith("exitd sweep: ")
    assert out == ""


def test_a_file_given_twice_is_refused() -> None:
    code, out, err = _sweep([str(FILES[0]), *SWEEP])
    assert code == 2
    assert f"{FILES[0]} is given more than once" in err
    assert out == ""


def test_an_out_dir_that_cannot_be_made_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, out, err = _sweep([*SWEEP, "--out", str(blocker / "out")])
    assert code == 2
    assert err.startswith(f"exitd sweep: {blocker / 'out'}: ")
    assert out == ""


def test_a_trade_list_and_a_random_space_file_drive_the_sweep(tmp_path: Path) -> None:
    times = [tick.time_ms for tick in open_price_file(FILES[1])]
    trades = tmp_path / "trades.csv"
    trades.write_text(f"time,side\n{times[0] + 60_000},short\n{times[0] + 120_000},long\n")
    space = tmp_path / "space.toml"
    space.write_text('random = 3\nseed = 1\n[grid]\nhard_sl_pct = "0.1:0.5:0.1"\n')
    code, out, err = _sweep(
        [str(FILES[1]), "--space", str(space), "--entries", str(trades), "--out", str(tmp_path)]
    )
    assert code == 0, err
    rows = _csv_rows((tmp_path / "sweep.csv").read_text())
    assert len(rows) == 3
    assert len(out.splitlines()) == 1 + 3
    assert {row["trades"] for row in rows} == {"2"}
    (line, *_) = _journal(tmp_path)
    sides_and_starts = sorted((t[1], t[0]) for t in line["trades"])  # type: ignore[union-attr]
    assert [side for side, _ in sides_and_starts] == ["long", "short"]
    long_entry = sides_and_starts[0][1]
    assert long_entry == times[bisect_left(times, times[0] + 120_000)]
