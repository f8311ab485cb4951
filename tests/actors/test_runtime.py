"""The supervisor restarts a crashing child alone, and escalates a crash loop."""

from __future__ import annotations

from collections import deque

import anyio
import pytest

from exitd.actors.runtime import (
    CrashLoop,
    Mailbox,
    Pulse,
    RestartPolicy,
    Supervisor,
    restart_allowed,
)


def test_restart_intensity_counts_only_crashes_inside_the_window() -> None:
    policy = RestartPolicy(intensity=2, period_s=5.0)
    crashes: deque[float] = deque()
    assert restart_allowed(crashes, 0.0, policy)
    assert restart_allowed(crashes, 1.0, policy)
    assert not restart_allowed(crashes, 2.0, policy)
    crashes.clear()
    assert restart_allowed(crashes, 0.0, policy)
    assert restart_allowed(crashes, 6.0, policy)
    assert restart_allowed(crashes, 12.0, policy)


def test_mailbox_post_refuses_when_full_and_drain_takes_what_waits() -> None:
    box: Mailbox[int] = Mailbox.create(2)
    assert box.post(1)
    assert box.post(2)
    assert not box.post(3)
    first = box.receive.receive_nowait()
    assert box.drain(first) == [1, 2]


@pytest.mark.anyio
async def test_mailbox_send_waits_while_full_and_goes_through_once_read() -> None:
    box: Mailbox[int] = Mailbox.create(1)
    assert box.post(1)
    sent = anyio.Event()

    async def sender() -> None:
        await box.send.send(2)
        sent.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sender)
            await anyio.wait_all_tasks_blocked()
            assert not sent.is_set()  # back-pressure: the mailbox is full
            assert box.receive.statistics().tasks_waiting_send == 1
            assert await box.receive.receive() == 1
            await sent.wait()
    assert box.drain(box.receive.receive_nowait()) == [2]


@pytest.mark.anyio
async def test_mailbox_receive_cancelled_while_waiting_leaves_it_usable() -> None:
    box: Mailbox[str] = Mailbox.create(4)
    with anyio.move_on_after(0.01):
        await box.receive.receive()
    assert not box.receive.reader_waiting
    assert box.post("later")
    with anyio.fail_after(5):
        assert await box.receive.receive() == "later"

    async def reader(got: list[str]) -> None:
        got.append(await box.receive.receive())

    got: list[str] = []
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reader, got)
            await anyio.wait_all_tasks_blocked()
            assert box.receive.reader_waiting
            assert box.post("woken")
    assert got == ["woken"]
    assert not box.receive.reader_waiting


@pytest.mark.anyio
async def test_a_crashing_child_restarts_alone_and_the_other_never_notices() -> None:
    steady_ticks: list[int] = []
    incarnations: list[int] = []
    restarted = anyio.Event()

    async def crashing(incarnation: int) -> None:
        incarnations.append(incarnation)
        if incarnation == 0:
            raise RuntimeError("poison message")
        restarted.set()
        await anyio.sleep_forever()

    async def steady(incarnation: int) -> None:
        assert incarnation == 0
        while True:
            steady_ticks.append(incarnation)
            await anyio.sleep(0.001)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            supervisor = Supervisor(tasks, RestartPolicy(intensity=3, period_s=5))
            supervisor.start("steady", steady)
            supervisor.start("crashing", crashing)
            await restarted.wait()
            assert "steady" in supervisor
            assert supervisor.restarts == {"crashing": 1}
            await supervisor.stop("crashing")
            assert "crashing" not in supervisor
            tasks.cancel_scope.cancel()
    assert incarnations == [0, 1]
    assert steady_ticks


@pytest.mark.anyio
async def test_a_crash_loop_escalates_so_the_daemon_exits() -> None:
    async def always_crashing(incarnation: int) -> None:
        raise RuntimeError(f"crash {incarnation}")

    with anyio.fail_after(5), pytest.raises(BaseExceptionGroup) as caught:
        async with anyio.create_task_group() as tasks:
            Supervisor(tasks, RestartPolicy(intensity=2, period_s=60)).start("bad", always_crashing)
    assert caught.group_contains(CrashLoop)


@pytest.mark.anyio
async def test_a_clean_return_stops_the_child_without_a_restart() -> None:
    runs: list[int] = []

    async def finishes(incarnation: int) -> None:
        runs.append(incarnation)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            supervisor = Supervisor(tasks)
            supervisor.start("once", finishes)
    assert runs == [0]
    assert "once" not in supervisor


@pytest.mark.anyio
async def test_a_pulse_wakes_every_waiter_on_the_next_notify_only() -> None:
    pulse = Pulse()
    pulse.notify()  # nobody waits: nothing to remember
    woke: list[int] = []
    waiting = anyio.Event()

    async def waiter(number: int) -> None:
        if number == 2:
            waiting.set()
        await pulse.wait()
        woke.append(number)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(waiter, 1)
        tasks.start_soon(waiter, 2)
        await waiting.wait()
        await anyio.wait_all_tasks_blocked()
        assert woke == []  # the notify before they waited woke nobody
        pulse.notify()
    assert sorted(woke) == [1, 2]
