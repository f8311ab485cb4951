"""The read-only commands: status, positions, orders, plan, metrics, summary."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import anyio

from exitd.actors.messages import InflightQuery
from exitd.actors.runtime import Mailbox
from exitd.control.desk import Desk
from exitd.control.orders import order_json
from exitd.control.protocol import Code, CommandError, symbol_arg
from exitd.control.views import plan_json, position_json, summary_json
from exitd.exchange.port import ExchangeUnavailable, OrderRequest

_GATEWAY_S = 5.0


async def status(desk: Desk, args: Mapping[str, Any]) -> object:
    daemon = desk.daemon
    rules = daemon.gateway.ownership
    supervisor = daemon.supervisor
    account = daemon.account
    return {
        "mode": rules.mode.value,
        "guard": rules.guard.value,
        "exit_brain_v3_enabled": desk.config.exits.exit_brain_v3_enabled,
        "legacy_modules": list(rules.legacy_modules),
        "uptime_s": round(time.monotonic() - desk.started_at, 3),
        "pid": os.getpid(),
        "config": str(desk.config_path.absolute()),
        "exchange": {
            "kind": desk.config.exchange.kind.value,
            "rest_url": desk.config.exchange.rest_url,
            "reconciled": account.reconciled.is_set(),
            "reconciliations": account.reconciliations,
            "mark_prices": daemon.price_feed.ticks,
        },
        "actors": [
            {"name": name, "running": True, "restarts": supervisor.restarts.get(name, 0)}
            for name in supervisor.names
        ],
        "positions": len(account.positions),
        "orders": daemon.gateway.metrics.total_orders,
        "conflicts": daemon.gateway.metrics.total_conflicts,
    }


async def positions(desk: Desk, args: Mapping[str, Any]) -> object:
    actors = desk.daemon.account.actors
    return [
        position_json(p, actors[s].view if s in actors else None)
        for s, p in sorted(desk.daemon.account.positions.items())
    ]


async def orders(desk: Desk, args: Mapping[str, Any]) -> object:
    """The exchange's open orders, read now (regular and algo), with module and leg."""
    symbol = symbol_arg(args, required=False)
    try:
        found = await desk.daemon.exchange.open_orders()
    except ExchangeUnavailable as exc:
        raise CommandError(Code.UNAVAILABLE, f"the exchange did not answer: {exc}") from None
    return [
        order_json(o)
        for o in sorted(found, key=lambda o: (o.symbol, o.client_order_id))
        if symbol in (None, o.symbol)
    ]


async def plan(desk: Desk, args: Mapping[str, Any]) -> object:
    symbol = symbol_arg(args)
    assert symbol is not None
    view = desk.actor(symbol).view
    return plan_json(view, len(await inflight(desk, symbol)))


async def inflight(desk: Desk, symbol: str) -> tuple[OrderRequest, ...]:
    """Asked through the gateway's mailbox: answered after every write queued before it."""
    answer: Mailbox[tuple[OrderRequest, ...]] = Mailbox.create(1)
    with anyio.move_on_after(_GATEWAY_S):
        await desk.daemon.gateway.mailbox.send.send(InflightQuery(symbol, answer.post))
        return await answer.receive.receive()
    raise CommandError(Code.TIMEOUT, f"the gateway did not answer within {_GATEWAY_S:g} s")


def metrics_source(desk: Desk) -> dict[str, object]:
    """What `metrics` shows; one place to swap the source (e.g. the Prometheus registry)."""
    return desk.daemon.gateway.metrics.as_dict()


async def metrics(desk: Desk, args: Mapping[str, Any]) -> object:
    return metrics_source(desk)


async def summary(desk: Desk, args: Mapping[str, Any]) -> object:
    return summary_json(desk.daemon.gateway.metrics)
