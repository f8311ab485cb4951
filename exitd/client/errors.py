"""What can go wrong between a legacy module and the daemon, as types a caller can catch.

Two families that call for opposite reactions: `DaemonUnreachable` (nobody answered: the
caller may fall back to its old direct exchange call) and `CommandRefused` (the daemon
answered no: the guard or the exchange said so, and falling back would defeat it).
"""

from __future__ import annotations


class ExitGatewayError(Exception):
    """Anything the exit gateway client raises."""


class DaemonUnreachable(ExitGatewayError):
    """No answer from the daemon: no socket, connection refused, or a timeout.

    `delivered` tells whether the request had left in full before the line went quiet: when
    it had, a submit may have been placed; its `newClientOrderId` says which order to look for.
    """

    def __init__(self, socket_path: str, reason: str, *, delivered: bool = False) -> None:
        super().__init__(f"exitd at {socket_path} unreachable: {reason}")
        self.socket_path = socket_path
        self.reason = reason
        self.delivered = delivered


class CommandRefused(ExitGatewayError):
    """The daemon answered with an error: `code` to act on, `message` for people.

    Codes are docs/control.md's: `refused` (the ownership policy, e.g. guard hard),
    `rejected` (the exchange said no), `bad_args`, `unknown_module`, `forbidden`, …
    """

    def __init__(self, code: str, message: str, detail: object = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail


class ProtocolError(ExitGatewayError):
    """An answer that is not the control socket's protocol (another program on the socket?)."""
