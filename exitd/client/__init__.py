"""The legacy-module client of exitd's control socket: standard library only.

A legacy trading system routes its exit orders through the daemon's gateway with
`ExitGateway(socket_path, module="position_monitor").submit(symbol, kind, **order)`, where
`order` holds Binance's own parameters, and reads what the daemon sees (status, positions,
orders, plan, metrics, summary). `AsyncExitGateway` is the same for asyncio. Nothing here
imports a third-party module, so any Python 3.11 process can use it without exitd's
dependencies installed.
"""

from exitd.client.aio import AsyncExitGateway
from exitd.client.errors import CommandRefused, DaemonUnreachable, ExitGatewayError, ProtocolError
from exitd.client.sync import ExitGateway

__all__ = [
    "AsyncExitGateway",
    "CommandRefused",
    "DaemonUnreachable",
    "ExitGateway",
    "ExitGatewayError",
    "ProtocolError",
]
