"""The gateway's log lines about one write.

Every line about a write names the same five things (module, symbol, kind, leg, client id),
so a write can be followed through the log; a place adds its order's fields. The usual
write's `exit_gateway.submit` line is rendered after its request is on its way
(`write_submit_lines`, run in the gateway's task group), never before it.
"""

from __future__ import annotations

import structlog

from exitd.actors.messages import CancelWrite, PlaceWrite, Submit
from exitd.engine.client_ids import parse_client_order_id

log = structlog.get_logger("exitd.gateway")


def write_log(write: PlaceWrite | CancelWrite) -> structlog.typing.FilteringBoundLogger:
    """The gateway's logger for one write: every line about it names the same five things."""
    bound: structlog.typing.FilteringBoundLogger = log.bind(
        module=write.module,
        symbol=write.symbol,
        kind=write.kind.value,
        leg=write.leg,
        client_order_id=write.client_order_id,
    )
    return bound


def write_action(write: PlaceWrite | CancelWrite) -> str:
    return "cancel" if isinstance(write, CancelWrite) else write.order.type


async def write_submit_lines(writes: list[PlaceWrite | CancelWrite]) -> None:
    for write in writes:
        write_log(write).info("exit_gateway.submit", action=write_action(write))


def order_fields(submit: Submit) -> dict[str, object]:
    write = submit.write
    if not isinstance(write, PlaceWrite):
        return {}
    order = write.order
    ref = parse_client_order_id(order.client_order_id)
    fields: dict[str, object] = {"type": order.type, "side": order.side.value}
    for name in ("quantity", "price", "trigger_price"):
        value = getattr(order, name)
        if value is not None:
            fields[name] = str(value)
    if order.close_position:
        fields["close_position"] = True
    if ref is None:
        fields["foreign_id"] = True
    return fields
