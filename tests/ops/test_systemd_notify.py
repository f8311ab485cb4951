"""The sd_notify protocol against real AF_UNIX datagram sockets, path and abstract."""

from __future__ import annotations

import secrets
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from exitd.actors.liveness import Liveness
from exitd.ops.service_health import ActorHealth, status_text, stuck_actors
from exitd.ops.systemd_notify import (
    READY,
    STOPPING,
    WATCHDOG,
    Notifier,
    notify_address,
    status,
    watchdog_timeout_s,
)


@pytest.fixture
def bound() -> Iterator[tuple[socket.socket, str]]:
    """systemd's end: a datagram socket bound at a short path."""
    with tempfile.TemporaryDirectory(prefix="exitd-sd-") as directory:
        path = str(Path(directory) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(5)
            yield sock, path


def test_assignments_go_in_one_datagram_to_the_named_path(
    bound: tuple[socket.socket, str],
) -> None:
    sock, path = bound
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier is not None
    with notifier:
        assert notifier.send(READY, status("protecting 2 positions,\nmode LEGACY"))
        assert notifier.send(WATCHDOG)
        assert notifier.send(STOPPING)
    assert sock.recv(4096) == b"READY=1\nSTATUS=protecting 2 positions, mode LEGACY"
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sock.recv(4096) == b"STOPPING=1"


def test_an_at_sign_names_an_abstract_socket() -> None:
    name = f"exitd-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": f"@{name}"})
        assert notifier is not None
        with notifier:
            assert notifier.send(READY)
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize("value", ["", "@", "relative/path", "vsock:2:1234"])
def test_no_socket_or_one_exitd_cannot_use_means_no_notifier(value: str) -> None:
    assert notify_address({"NOTIFY_SOCKET": value}) is None
    assert Notifier.from_environ({"NOTIFY_SOCKET": value}) is None
    assert Notifier.from_environ({}) is None


def test_a_socket_gone_is_reported_not_raised(bound: tuple[socket.socket, str]) -> None:
    sock, path = bound
    sock.close()
    Path(path).unlink()
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier is not None
    with notifier:
        assert notifier.send(STOPPING) is False


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4243"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_timeout_is_for_this_process_only(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_timeout_s(environ, pid=4242) == expected


def test_stuck_actors_are_named_with_why() -> None:
    actors = [
        ActorHealth("gateway", running=True, busy_s=31.0),
        ActorHealth("account", running=False, busy_s=0.0),
        ActorHealth("price_feed", running=True, busy_s=29.0),
        ActorHealth("gateway", running=True, busy_s=0.0, answering=False),
    ]
    assert stuck_actors(actors, limit_s=30.0) == [
        "gateway stuck for 31 s",
        "account not running",
        "gateway not answering",
    ]
    assert stuck_actors([ActorHealth("account", running=True, busy_s=0.0)], 30.0) == []


def line(
    *,
    reconciled: bool = True,
    ready: bool = True,
    unprotected: tuple[str, ...] = (),
    positions: int = 7,
    stuck: tuple[str, ...] = (),
) -> str:
    return status_text(
        reconciled=reconciled, ready=ready, unprotected=unprotected, positions=positions,
        mode="LEGACY", stuck=stuck,
    )  # fmt: skip


def test_the_status_line_says_what_start_up_waits_for_then_positions_and_mode() -> None:
    assert line(reconciled=False, ready=False) == "starting: reconciling the account"
    symbols = tuple(f"S{i}USDT" for i in range(7))
    assert line(ready=False, unprotected=symbols) == (
        "starting: waiting for the stop of S0USDT, S1USDT, S2USDT, S3USDT, S4USDT and 2 more"
    )
    assert line(ready=False, unprotected=symbols[:1]) == "starting: waiting for the stop of S0USDT"
    assert line() == "protecting 7 positions, mode LEGACY"
    assert line(positions=1, stuck=("gateway stuck for 31 s",)) == (
        "no progress (gateway stuck for 31 s): watchdog pings withheld; "
        "protecting 1 position, mode LEGACY"
    )


def test_liveness_counts_from_the_oldest_work_still_in_progress() -> None:
    now = [100.0]
    liveness = Liveness(lambda: now[0])
    assert liveness.stuck_s() == 0.0
    with liveness.working():
        now[0] = 103.0
        with liveness.working():
            now[0] = 110.0
            assert liveness.stuck_s() == 10.0
        assert liveness.stuck_s() == 10.0
    assert liveness.stuck_s() == 0.0
    with pytest.raises(RuntimeError), liveness.working():
        raise RuntimeError("a failed request ends its work too")
    assert liveness.stuck_s() == 0.0
