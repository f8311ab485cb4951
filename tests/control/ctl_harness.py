"""`exitd ctl` as an operator runs it, against a live daemon on the simulator.

Each call is a real `python -m exitd.cli` process: its own pid and uid reach the daemon
through SO_PEERCRED, its exit code and output are what a shell script sees, and the daemon's
event loop keeps serving while the command waits for its answer.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import anyio

from tests.integration.harness import Live


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


async def exitd(*argv: str) -> Ran:
    """`exitd ARGV…` in a process of its own."""
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-m", "exitd.cli", *argv], check=False)
    return Ran(done.returncode, done.stdout.decode(), done.stderr.decode())


async def ctl(live: Live, *argv: str) -> Ran:
    """`exitd ctl --socket <the daemon's> ARGV…`."""
    assert live.socket_path is not None
    return await exitd("ctl", "--socket", str(live.socket_path), *argv)


async def listening(live: Live) -> None:
    control = live.daemon.control
    assert control is not None
    with anyio.fail_after(10):
        await control.listening.wait()
