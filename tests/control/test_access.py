"""Who may talk to the control socket, checked for real: the kernel's SO_PEERCRED of the
`exitd ctl` process against the configured readers and writers (no mock)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from exitd.control.access import AccessPolicy, Group, Peer, Role, build_policy
from exitd.ops.config import ControlSettings
from exitd.ownership import Mode
from tests.control.ctl_harness import ctl, listening
from tests.integration.harness import live_daemon

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
OTHER_UID = os.getuid() + 4242  # a writer that is not the test's own uid


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    "readers", [f"read_uids = [{os.getuid()}]", f"read_group = {os.getgid()}"], ids=["uid", "gid"]
)
async def test_a_client_not_allowed_to_write_is_refused_a_write_and_may_still_read(
    tmp_path: Path, readers: str
) -> None:
    control = f"write_uids = [{OTHER_UID}]\n{readers}"
    async with live_daemon(tmp_path, control=control) as live:
        await listening(live)
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        assert stat.S_IMODE(live.socket_path.stat().st_mode) == 0o660
        status = await ctl(live, "--json", "status")
        assert status.code == 0, status.err
        assert (await ctl(live, "--json", "mode")).json == {"mode": "EXIT_BRAIN_V3"}
        plan = await ctl(live, "--json", "plan", SYMBOL)
        assert plan.code == 0 and plan.json["plan"] is not None
        with capture_logs() as logs:
            writes = [
                await ctl(live, "mode", "LEGACY"),
                await ctl(live, "pause", SYMBOL),
                await ctl(live, "flatten", SYMBOL),
                await ctl(live, "reload"),
                await ctl(
                    live, "submit", "--module", "position_monitor", SYMBOL, "sl", "side=SELL",
                    "type=STOP_MARKET", "stopPrice=39000", "quantity=0.1", "reduceOnly=true",
                    "newClientOrderId=pm-denied",
                ),
            ]  # fmt: skip
        for ran in writes:
            assert ran.code == 1 and "forbidden" in ran.err and "may only read" in ran.err
        refusals = [e for e in logs if e["event"] == "control.refused"]
        assert [e["cmd"] for e in refusals] == ["mode", "pause", "flatten", "reload", "submit"]
        assert {e["uid"] for e in refusals} == {os.getuid()}
        assert all(e["pid"] > 0 and e["pid"] != os.getpid() for e in refusals)
        assert live.daemon.gateway.mode is Mode.EXIT_BRAIN_V3
        assert live.sim.account.position(SYMBOL).amount == 1
        assert "pm-denied" not in {o.client_order_id for o in live.sim.account.ledger.orders}


async def test_a_client_neither_reader_nor_writer_may_not_even_read(tmp_path: Path) -> None:
    async with live_daemon(tmp_path, control=f"write_uids = [{OTHER_UID}]") as live:
        await listening(live)
        ran = await ctl(live, "status")
        assert ran.code == 1 and "forbidden" in ran.err


def test_roles_from_uids_and_groups() -> None:
    policy = AccessPolicy(
        read_uids=frozenset({10}),
        read_groups=(Group(500, frozenset({11})),),
        write_uids=frozenset({20}),
        write_groups=(Group(600, frozenset()),),
    )
    assert policy.role(Peer(1, 10, 1)) is Role.READ
    assert policy.role(Peer(1, 11, 1)) is Role.READ  # a supplementary member
    assert policy.role(Peer(1, 12, 500)) is Role.READ  # the primary group
    assert policy.role(Peer(1, 20, 1)) is Role.WRITE
    assert policy.role(Peer(1, 21, 600)) is Role.WRITE
    assert policy.role(Peer(1, 30, 1)) is Role.NONE


def test_with_no_writer_named_the_daemons_own_uid_writes() -> None:
    policy = build_policy(ControlSettings(), own_uid=777)
    assert policy.role(Peer(1, 777, 777)) is Role.WRITE
    assert policy.role(Peer(1, 778, 777)) is Role.NONE
    named = build_policy(ControlSettings(write_uids=(5,)), own_uid=777)
    assert named.role(Peer(1, 777, 777)) is Role.NONE
