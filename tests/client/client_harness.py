"""What the client tests share: waiting until the daemon has seen a client leave.

The daemon runs in the test's event loop. Leaving `live_daemon` cancels it; a client that
closed its connection a moment before leaves the server's read about to be woken, and
anyio's unix stream then sets a result on a cancelled future (an `InvalidStateError`
reported by the loop). Waiting for the server to count the client gone avoids that race,
which belongs to shutdown, not to the client.
"""

from __future__ import annotations

import anyio

from tests.integration.harness import Live


async def departed(live: Live, timeout_s: float = 5.0) -> None:
    """Until the control server holds no client connection."""
    control = live.daemon.control
    assert control is not None
    with anyio.fail_after(timeout_s):
        while control.clients:
            await anyio.sleep(0.005)
