"""The sd_notify protocol by hand, with the standard library (no libsystemd binding).

A notification is one datagram of newline-separated `NAME=value` assignments sent to the
AF_UNIX socket systemd names in `$NOTIFY_SOCKET`; a leading `@` there means Linux's abstract
namespace. Without `NOTIFY_SOCKET` (not under systemd, or not `Type=notify`) nothing is sent.
`WATCHDOG_USEC` asks for `WATCHDOG=1` pings at least that often; `WATCHDOG_PID`, when set,
says which process it asks (sd_watchdog_enabled(3)).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from types import TracebackType

import structlog

log = structlog.get_logger("exitd.systemd")

READY = "READY=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"


def status(text: str) -> str:
    """A `STATUS=` assignment: one line, as `systemctl status` shows it."""
    return "STATUS=" + " ".join(text.split())


def datagram(assignments: tuple[str, ...]) -> bytes:
    return "\n".join(assignments).encode()


def notify_address(environ: Mapping[str, str]) -> str | bytes | None:
    """Where notifications go: a path, an abstract address (bytes starting with NUL), or
    None when systemd asked for none (or for a kind of socket exitd does not speak)."""
    value = environ.get("NOTIFY_SOCKET", "")
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_timeout_s(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog timeout systemd set for this process (`WatchdogSec=`), or None."""
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Notifier:
    """The sender: one datagram per `send`, never blocking, never raising (systemd may be
    gone at shutdown; a lost notification must not stop the daemon)."""

    def __init__(self, address: str | bytes) -> None:
        self._address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier | None:
        address = notify_address(environ)
        given = environ.get("NOTIFY_SOCKET")
        if address is None:
            if given:
                log.warning("systemd.notify_socket_unsupported", notify_socket=given)
            return None
        return cls(address)

    def send(self, *assignments: str) -> bool:
        try:
            self._socket.sendto(datagram(assignments), self._address)
        except OSError as exc:
            log.warning("systemd.notify_failed", sent=assignments[0], error=str(exc))
            return False
        return True

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
