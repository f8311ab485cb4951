"""Where cells run: in this process, on a local process pool, or on a Dask cluster.

Each runner takes cells and yields their results as they finish, in any order; the command
journals each one as it arrives. Closing the generator (an interruption, a cell limit)
cancels what has not started. A Dask cluster gets the same `run_cell` and the same cells as a
local pool: file paths and plan parameters, which its workers must be able to read.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

from exitd.sweep.cell import Cell, CellResult, run_cell

# Cells in flight per worker: enough to keep each busy, few enough to stop promptly.
_IN_FLIGHT_PER_WORKER = 4


class ClusterError(Exception):
    """The Dask cluster cannot be reached, or Dask is not installed."""


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_local(cells: Sequence[Cell], jobs: int) -> Generator[CellResult, None, None]:
    """The cells on `jobs` processes; with one job, in this process (no pickling at all)."""
    if jobs <= 1:
        for cell in cells:
            yield run_cell(cell)
        return
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_interrupts)
    try:
        pending: set[Future[CellResult]] = set()
        queued = iter(cells)
        limit = jobs * _IN_FLIGHT_PER_WORKER
        while True:
            for cell in queued:
                pending.add(pool.submit(run_cell, cell))
                if len(pending) >= limit:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Ctrl-C reaches the whole process group: the command stops the pool, not each worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_dask(cells: Sequence[Cell], address: str) -> Generator[CellResult, None, None]:
    """The cells on the Dask scheduler at `address` (tcp://HOST:8786), as they finish."""
    distributed = _distributed()
    _check_address(address)
    try:
        client = distributed.Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterError(f"--cluster {address}: cannot connect: {error}") from None
    try:
        # pure=False: a cell sent again (a rerun) is run again, never taken from a cache.
        futures = [client.submit(run_cell, cell, pure=False) for cell in cells]
        try:
            done = distributed.as_completed(futures, loop=client.loop, with_results=True)
            for _, result in done:
                yield result
        finally:
            client.cancel(futures)
    finally:
        client.close()


def _check_address(address: str) -> None:
    """A scheduler address as Dask takes it, refused here rather than deep inside Dask."""
    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        raise ClusterError(
            f"--cluster {address}: expected tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
        )


def _distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415  (optional: exitd[research])
    except ImportError:
        raise ClusterError("--cluster needs Dask: pip install 'exitd[research]'") from None
    return distributed
