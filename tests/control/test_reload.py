"""`exitd ctl reload` and SIGHUP: a valid config applies without dropping positions; a
broken one is refused with its issues, the old config kept and the daemon running."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from exitd.ops.config import load_config
from exitd.ownership import Guard, Mode
from tests.control.ctl_harness import ctl, exitd, listening
from tests.exchange.sim.server_harness import running
from tests.integration.harness import ENVIRON, PROFILES, WAIT_S, Live, config_text, daemon_running

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
WIDE = (
    PROFILES
    + """
[profiles.wide]
hard_sl_pct = 5.0

[symbols.ETHUSDT]
profile = "wide"
"""
)
BROKEN = 'guard = "medium"'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Setup:
    """The daemon's config file, rewritten by the test as an operator would."""

    def __init__(self, path: Path, text: Callable[..., str]) -> None:
        self.path = path
        self.text = text

    def write(self, broken: bool = False, **options: Any) -> None:
        text = self.text(**options)
        if broken:
            text = text.replace('guard = "', f'{BROKEN}\nnot_a_key = 1\n# guard = "', 1)
        self.path.write_text(text)


@asynccontextmanager
async def from_file(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[Live, Setup]]:
    folder = Path(tempfile.mkdtemp(prefix="exitd-"))
    socket_path = folder / "control.sock"
    try:
        async with running() as (sim, client):
            setup = Setup(
                tmp_path / "exitd.toml",
                lambda **more: config_text(sim, socket_path=socket_path, **{**options, **more}),
            )
            setup.write()
            async with daemon_running(load_config(setup.path, ENVIRON)) as daemon:
                live = Live(sim, client, daemon, tmp_path / "state", socket_path)
                await listening(live)
                yield live, setup
            assert not socket_path.exists()  # a clean stop takes its socket along
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def until(live: Live, condition: Callable[[], bool]) -> None:
    with anyio.fail_after(WAIT_S):
        while not condition():
            await live.daemon.activity.wait()


async def test_reload_applies_a_valid_config_and_keeps_the_positions(tmp_path: Path) -> None:
    async with from_file(tmp_path) as (live, setup):
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        resting = live.resting(SYMBOL)
        actor = live.daemon.account.actors[SYMBOL]
        setup.write(guard="hard", profiles=WIDE)
        ran = await ctl(live, "--json", "reload")
        assert ran.code == 0, ran.err
        assert ran.json["guard"] == "hard" and ran.json["routes"] == {"ETHUSDT": "wide"}
        assert ran.json["positions_kept"] == 1 and ran.json["restart_needed_for"] == []
        assert live.daemon.gateway.ownership.guard is Guard.HARD
        assert live.daemon.account.actors[SYMBOL] is actor and live.resting(SYMBOL) == resting
        # A position opened from now on gets the new route's profile.
        await live.price("ETHUSDT", "2000")
        await live.open("ETHUSDT", "LONG", "1", "2000")
        await live.settle("ETHUSDT")
        plan = await ctl(live, "--json", "plan", "ETHUSDT")
        assert plan.json["plan"]["profile"] == "wide"
        table = await ctl(live, "reload")
        assert table.code == 0 and "restart_needed_for" in table.out


async def test_reload_refuses_a_broken_config_and_keeps_the_old_one(tmp_path: Path) -> None:
    async with from_file(tmp_path) as (live, setup):
        setup.write(broken=True, guard="hard")
        # `--config` still finds the socket in a file the daemon refuses.
        ran = await exitd("ctl", "--config", str(setup.path), "reload")
        assert ran.code == 1
        assert "invalid_config" in ran.err and "kept" in ran.err
        assert "exits.guard" in ran.err and "not_a_key" in ran.err
        assert live.daemon.gateway.ownership.guard is Guard.SOFT
        assert (await ctl(live, "--json", "status")).json["guard"] == "soft"


async def test_sighup_reloads_refusing_a_broken_file_and_applying_a_valid_one(
    tmp_path: Path,
) -> None:
    async with from_file(tmp_path) as (live, setup):
        control = live.daemon.control
        assert control is not None
        with anyio.fail_after(WAIT_S):
            await control.desk.hangup_ready.wait()
        with capture_logs() as logs:
            setup.write(broken=True, guard="hard")
            os.kill(os.getpid(), signal.SIGHUP)
            await until(live, lambda: any(e["event"] == "config.reload_refused" for e in logs))
        [refused] = [e for e in logs if e["event"] == "config.reload_refused"]
        assert any("exits.guard" in line for line in refused["issues"])
        assert live.daemon.gateway.ownership.guard is Guard.SOFT
        setup.write(guard="hard", mode="LEGACY")
        os.kill(os.getpid(), signal.SIGHUP)
        await until(live, lambda: live.daemon.gateway.ownership.guard is Guard.HARD)
        assert live.daemon.gateway.mode is Mode.LEGACY
        status = await ctl(live, "--json", "status")
        assert status.code == 0 and status.json["mode"] == "LEGACY"


async def test_the_mode_rule_holds_for_ctl_and_reload(tmp_path: Path) -> None:
    async with from_file(tmp_path, mode="LEGACY") as (live, setup):
        setup.path.write_text(
            setup.path.read_text().replace(
                "exit_brain_v3_enabled = true", "exit_brain_v3_enabled = false"
            )
        )
        assert (await ctl(live, "reload")).code == 0
        ran = await ctl(live, "mode", "EXIT_BRAIN_V3")
        assert ran.code == 1 and "mode_rule" in ran.err and "exit_brain_v3_enabled" in ran.err
        assert live.daemon.gateway.mode is Mode.LEGACY
        setup.path.write_text(
            setup.path.read_text().replace('mode = "LEGACY"', 'mode = "EXIT_BRAIN_V3"')
        )
        refused = await ctl(live, "reload")
        assert refused.code == 1 and "exits.mode" in refused.err
        assert live.daemon.gateway.mode is Mode.LEGACY


async def test_ctl_finds_the_socket_in_the_config_file(tmp_path: Path) -> None:
    async with from_file(tmp_path) as (_, setup):
        ran = await exitd("ctl", "--config", str(setup.path), "--json", "status")
        assert ran.code == 0, ran.err
        assert ran.json["config"] == str(setup.path)
