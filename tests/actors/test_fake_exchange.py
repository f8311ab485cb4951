"""The fake exchange keeps Binance's rules the gateway's safety depends on, and its fates work."""

from __future__ import annotations

from decimal import Decimal

import anyio
import anyio.lowlevel
import pytest

from exitd.engine.model import OrderSide
from exitd.exchange.port import (
    Accepted,
    NotFound,
    OrderRequest,
    OrderState,
    OrderView,
    RateUsage,
    Rejected,
    RejectKind,
    Unknown,
)
from tests.actors.fake_exchange import FakeExchange, Fate, Method

pytestmark = pytest.mark.anyio
WAIT_S = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stop(cid: str, symbol: str = "BTCUSDT", close_position: bool = False) -> OrderRequest:
    return OrderRequest(
        symbol,
        cid,
        OrderSide.SELL,
        "STOP_MARKET",
        quantity=None if close_position else Decimal("0.5"),
        trigger_price=Decimal(90),
        reduce_only=not close_position,
        close_position=close_position,
    )


def take_profit(cid: str, qty: str = "0.3") -> OrderRequest:
    return OrderRequest(
        "BTCUSDT",
        cid,
        OrderSide.SELL,
        "LIMIT",
        quantity=Decimal(qty),
        price=Decimal(110),
        reduce_only=True,
        time_in_force="GTC",
    )


def long_fake(parking: bool = False) -> FakeExchange:
    fake = FakeExchange(parking=parking)
    fake.set_position("BTCUSDT", Decimal(1))
    return fake


async def test_an_open_client_id_is_a_duplicate_a_closed_one_makes_a_second_order() -> None:
    fake = long_fake()
    first = await fake.place(stop("a"))
    assert isinstance(first, Accepted)
    duplicate = await fake.place(stop("a"))
    assert isinstance(duplicate, Rejected)
    assert duplicate.kind is RejectKind.DUPLICATE_ID
    assert duplicate.code == -4116
    assert isinstance(await fake.cancel("BTCUSDT", "a", True), Accepted)
    again = await fake.place(stop("a"))
    assert isinstance(again, Accepted)
    assert again.order.exchange_id != first.order.exchange_id
    assert fake.created == ["a", "a"]
    found = await fake.query("BTCUSDT", "a", True)
    assert isinstance(found, OrderView)
    assert found.exchange_id == again.order.exchange_id  # the newest with that id


async def test_regular_and_conditional_ids_live_on_their_own_endpoints() -> None:
    fake = long_fake()
    assert isinstance(await fake.place(take_profit("a")), Accepted)
    assert isinstance(await fake.query("BTCUSDT", "a", True), NotFound)
    refused = await fake.cancel("BTCUSDT", "a", True)
    assert isinstance(refused, Rejected)
    assert refused.kind is RejectKind.NOT_FOUND


async def test_exit_orders_need_a_position_to_close() -> None:
    fake = FakeExchange(parking=False)
    no_position = await fake.place(stop("a", close_position=True))
    assert isinstance(no_position, Rejected)
    assert no_position.kind is RejectKind.NO_POSITION
    fake.set_position("BTCUSDT", Decimal(-1))  # short: a SELL would add to it
    wrong_side = await fake.place(stop("b"))
    assert isinstance(wrong_side, Rejected)
    assert wrong_side.kind is RejectKind.REDUCE_ONLY


async def test_one_close_position_stop_per_side() -> None:
    fake = long_fake()
    assert isinstance(await fake.place(stop("a", close_position=True)), Accepted)
    second = await fake.place(stop("b", close_position=True))
    assert isinstance(second, Rejected)
    assert second.kind is RejectKind.CLOSE_POSITION_EXISTS


async def test_fill_reduces_the_position_and_closes_the_order() -> None:
    fake = long_fake()
    assert isinstance(await fake.place(take_profit("tp", "0.3")), Accepted)
    view = fake.fill("tp", conditional=False)
    assert view.state is OrderState.FILLED
    assert view.filled_qty == Decimal("0.3")
    assert fake.position("BTCUSDT") == Decimal("0.7")
    assert await fake.open_orders() == []
    positions = await fake.positions()
    assert [p.amount for p in positions] == [Decimal("0.7")]


async def test_parked_calls_wait_for_their_fate() -> None:
    fake = long_fake(parking=True)
    answers: dict[str, object] = {}

    async def call(name: str, request: OrderRequest) -> None:
        answers[name] = await fake.place(request)

    with anyio.fail_after(WAIT_S):
        async with anyio.create_task_group() as tasks:
            for name in ("deliver", "after", "before", "refuse"):
                tasks.start_soon(call, name, stop(name))
            while len(fake.pending) < 4:
                await anyio.lowlevel.checkpoint()
            assert answers == {}
            assert [c.method for c in fake.pending] == [Method.PLACE] * 4
            fake.refuse(3, RejectKind.RATE_LIMITED, retry_after_s=2.0)
            fake.drop_before_execute(2)
            fake.drop_after_execute(1)
            fake.deliver(0)
    assert isinstance(answers["deliver"], Accepted)
    assert isinstance(answers["after"], Unknown)
    assert isinstance(answers["before"], Unknown)
    refused = answers["refuse"]
    assert isinstance(refused, Rejected)
    assert refused.retry_after_s == 2.0
    assert fake.created == ["after", "deliver"]  # a lost answer: executed all the same
    assert [(e.call.client_order_id, e.fate, e.executed) for e in fake.log] == [
        ("refuse", Fate.REFUSE, False),
        ("before", Fate.DROP_BEFORE_EXECUTE, False),
        ("after", Fate.DROP_AFTER_EXECUTE, True),
        ("deliver", Fate.DELIVER, True),
    ]
    assert all(c.returned for c in fake.calls)


async def test_a_write_delivered_after_its_recv_window_is_refused() -> None:
    fake = long_fake(parking=True)
    answer: list[object] = []

    async def call() -> None:
        answer.append(await fake.place(stop("late")))

    with anyio.fail_after(WAIT_S):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call)
            while not fake.pending:
                await anyio.lowlevel.checkpoint()
            fake.now_ms += fake.recv_window_ms + 1
            fake.deliver(0)
    assert isinstance(answer[0], Rejected)
    assert answer[0].kind is RejectKind.CLOCK
    assert fake.created == []


async def test_write_outcomes_carry_the_usage_the_test_sets() -> None:
    fake = long_fake()
    fake.usage = RateUsage(2000, 10, 100)
    placed = await fake.place(stop("a"))
    assert isinstance(placed, Accepted)
    assert placed.usage == RateUsage(2000, 10, 100)
