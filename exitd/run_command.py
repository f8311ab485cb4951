"""`exitd run --config FILE`: load and check the config, set up logging, run the daemon."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from functools import partial
from typing import TextIO

import anyio

from exitd.daemon import run_daemon
from exitd.ops.config import ConfigError, SecretUnavailable, load_config
from exitd.ops.logs import configure_logging


def _loop_options() -> dict[str, bool]:
    """uvloop where installed: the same asyncio, a sixth less CPU per tick (BENCHMARKS.md)."""
    return {"use_uvloop": importlib.util.find_spec("uvloop") is not None}


def run_command(path: str, environ: Mapping[str, str], err: TextIO) -> int:
    """0 after SIGINT/SIGTERM; 1 on a crash loop; 2 on a config that cannot run."""
    try:
        config = load_config(path, environ)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=err)
        return 2
    configure_logging(config.daemon.log_level.value, config.daemon.log_format.value)
    try:
        return anyio.run(partial(run_daemon, config, environ), backend_options=_loop_options())
    except (SecretUnavailable, ValueError) as exc:
        print(f"exitd run: {exc}", file=err)
        return 2
    except KeyboardInterrupt:
        return 0
