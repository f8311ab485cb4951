"""The in-process door for legacy modules: their exit orders through the gateway.

A legacy module names itself; the gateway logs, counts and applies the ownership policy to
its write exactly as to the exit brain's (LEGACY: placed; EXIT_BRAIN_V3 soft: placed and
counted as a conflict; hard: refused before the exchange). The control socket's `submit`
(next issue) is a thin layer over this.
"""

from __future__ import annotations

import anyio

from exitd.actors.messages import GatewayMessage, PlaceWrite, Submit, WriteAnswer
from exitd.actors.runtime import Mailbox
from exitd.exchange.port import OrderRequest
from exitd.ops.metrics import OrderKind

_PROTECTIVE_KINDS = frozenset({OrderKind.SL, OrderKind.TRAILING, OrderKind.BREAKEVEN})


async def submit_order(
    gateway: Mailbox[GatewayMessage],
    module: str,
    kind: OrderKind,
    order: OrderRequest,
    *,
    timeout_s: float = 30.0,
) -> WriteAnswer:
    """Place `order` for `module` and wait for the gateway's answer."""
    write = PlaceWrite(module, order, kind, kind.value, protective=kind in _PROTECTIVE_KINDS)
    answers: Mailbox[WriteAnswer] = Mailbox.create(1)
    await gateway.send.send(Submit(write, answers.post))
    with anyio.fail_after(timeout_s):
        return await answers.receive.receive()
