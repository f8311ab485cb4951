"""examples/stages.py, the one-command walk through a migration stage, as a newcomer runs it:
its own simulator and daemon, the monitor in a process of its own. Each stage's report says
what DESIGN.md promises for it."""

from __future__ import annotations

import json
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import anyio
import pytest

pytestmark = pytest.mark.anyio
STAGES = Path(__file__).resolve().parents[2] / "examples" / "stages.py"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def stage(name: str, *flags: str) -> tuple[int, str, str]:
    with anyio.fail_after(120):
        done = await anyio.run_process([sys.executable, str(STAGES), name, *flags], check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def by_module(report: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for order in report["orders"]:
        found.setdefault(order["module"], []).append(order["type"])
    return {module: sorted(types) for module, types in found.items()}


@pytest.mark.parametrize("name", ["observe", "delegate", "enforce"])
async def test_each_stage_runs_and_reports_what_the_design_promises(name: str) -> None:
    code, out, err = await stage(name, "--json")
    assert code == 0, err
    assert "InvalidStateError" not in err
    report = json.loads(out.splitlines()[-1])
    outcomes = {line["kind"]: line["outcome"] for line in report["monitor"]["exits"]}
    summary = report["summary"]
    legacy = ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
    brain = ["LIMIT", "LIMIT", "STOP_MARKET"]
    if name == "observe":
        assert outcomes == {"sl": "placed", "tp": "placed"}
        # The monitor's ids are its own: the daemon shows them as foreign orders.
        assert by_module(report) == {"foreign": legacy}
        assert summary["conflicts"] == {}
    elif name == "delegate":
        assert outcomes == {"sl": "placed", "tp": "placed"}
        assert by_module(report) == {"foreign": legacy, "exit_brain_v3": brain}
        assert summary["conflicts"] == {"position_monitor": 2}
    else:
        assert outcomes == {"sl": "refused", "tp": "refused"}
        assert by_module(report) == {"exit_brain_v3": brain}
        assert report["monitor"]["read_only"] is True
        assert D(report["monitor"]["brain"]["legs"]["HARD_SL"]) == D("39200")
        assert summary["conflicts"] == {"position_monitor": 2}
    assert summary["orders_by_module"]["position_monitor"] == {"sl": 1, "tp": 1}


async def test_the_table_names_the_stage_and_its_mode() -> None:
    code, out, err = await stage("delegate")
    assert code == 0, err
    assert out.splitlines()[0] == "== stage delegate: mode EXIT_BRAIN_V3 guard soft"
    assert "conflicts {'position_monitor': 2}" in out
