"""The gateway's pure write queue: lanes, superseding, protective first, budget and slots."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exitd.actors.messages import CancelWrite, PlaceWrite, Submit, WriteAnswer
from exitd.actors.write_queue import (
    CONDITIONAL_CAP,
    HARD_STOP_RESERVE,
    ORDERS_1M_LIMIT,
    ORDERS_10S_LIMIT,
    WEIGHT_1M_LIMIT,
    RateBudget,
    WriteQueue,
    slot_allows,
)
from exitd.engine.model import OrderSide
from exitd.exchange.port import OrderRequest, RateUsage
from exitd.ops.metrics import OrderKind
from exitd.ownership import EXIT_BRAIN

_PROTECTIVE = {"HARD_SL", "WORKING_STOP"}


def _ignore(answer: WriteAnswer) -> None:
    raise AssertionError(f"the queue never answers: {answer}")


def place(cid: str, leg: str = "TP1", symbol: str = "BTCUSDT", module: str = EXIT_BRAIN) -> Submit:
    conditional = leg in _PROTECTIVE
    order = OrderRequest(
        symbol=symbol,
        client_order_id=cid,
        side=OrderSide.SELL,
        type="STOP_MARKET" if conditional else "LIMIT",
        quantity=None if leg == "HARD_SL" else Decimal(1),
        price=None if conditional else Decimal(110),
        trigger_price=Decimal(90) if conditional else None,
        reduce_only=leg != "HARD_SL",
        close_position=leg == "HARD_SL",
    )
    kind = OrderKind.SL if leg == "HARD_SL" else OrderKind.TP
    return Submit(PlaceWrite(module, order, kind, leg, leg in _PROTECTIVE), _ignore)


def cancel(cid: str, symbol: str = "BTCUSDT", leg: str = "TP1") -> Submit:
    write = CancelWrite(EXIT_BRAIN, symbol, cid, False, OrderKind.TP, leg)
    return Submit(write, _ignore)


def cids(submits: object) -> list[str]:
    return [s.write.client_order_id for s in submits]  # type: ignore[attr-defined]


def send_all(queue: WriteQueue) -> list[str]:
    """Take and finish every write in the order the gateway would send them one at a time."""
    sent: list[str] = []
    while True:
        heads = list(queue.ready())
        if not heads:
            return sent
        queue.take(heads[0])
        queue.done(heads[0].write.symbol)
        sent.append(heads[0].write.client_order_id)


# --- superseding --------------------------------------------------------------------------------


def test_a_newer_place_for_the_same_leg_supersedes_the_queued_one() -> None:
    queue = WriteQueue()
    old, new = place("a", "TP1"), place("b", "TP1")
    assert queue.push(old) is None
    assert queue.push(new) is old
    assert cids(queue.waiting("BTCUSDT")) == ["b"]
    assert len(queue) == 1


@pytest.mark.parametrize("leg", ["HARD_SL", "TIME"])
def test_hard_stops_and_time_exits_are_never_superseded(leg: str) -> None:
    queue = WriteQueue()
    assert queue.push(place("a", leg)) is None
    assert queue.push(place("b", leg)) is None
    assert cids(queue.waiting("BTCUSDT")) == ["a", "b"]


def test_supersede_only_within_the_same_leg_module_and_symbol() -> None:
    queue = WriteQueue()
    assert queue.push(place("a", "TP1")) is None
    assert queue.push(place("b", "TP2")) is None
    assert queue.push(place("c", "TP1", module="hybrid_tpsl")) is None
    assert queue.push(place("d", "TP1", symbol="ETHUSDT")) is None
    assert len(queue) == 4


def test_a_cancel_supersedes_nothing_and_is_never_superseded() -> None:
    queue = WriteQueue()
    assert queue.push(cancel("x")) is None
    assert queue.push(cancel("x")) is None
    assert queue.push(place("a")) is None
    assert cids(queue.waiting("BTCUSDT")) == ["x", "x", "a"]


def test_a_place_already_taken_for_sending_is_not_superseded() -> None:
    queue = WriteQueue()
    first = place("a", "TP1")
    queue.push(first)
    queue.take(first)
    assert queue.push(place("b", "TP1")) is None
    assert cids(queue.waiting("BTCUSDT")) == ["b"]


# --- lanes ------------------------------------------------------------------------------------


def test_a_lane_keeps_the_order_writes_were_asked_for() -> None:
    queue = WriteQueue()
    for submit in (place("a", "TP1"), cancel("a"), place("b", "TP2"), cancel("old")):
        queue.push(submit)
    assert send_all(queue) == ["a", "a", "b", "old"]


def test_superseding_moves_the_new_place_behind_what_was_queued_since() -> None:
    queue = WriteQueue()
    for submit in (place("a", "TP1"), cancel("x"), place("b", "TP1")):
        queue.push(submit)
    assert send_all(queue) == ["x", "b"]


def test_a_busy_lane_offers_nothing_while_other_lanes_go_on() -> None:
    queue = WriteQueue()
    btc, eth = place("a", symbol="BTCUSDT"), place("e", symbol="ETHUSDT")
    queue.push(btc)
    queue.push(cancel("a", symbol="BTCUSDT"))
    queue.push(eth)
    queue.take(btc)
    assert cids(queue.ready()) == ["e"]
    queue.done("BTCUSDT")
    assert cids(queue.ready()) == ["a", "e"]


def test_a_write_put_back_goes_first_in_its_lane() -> None:
    queue = WriteQueue()
    first, second = place("a", "TP1"), place("b", "TP2")
    queue.push(first)
    queue.push(second)
    queue.take(first)
    queue.push_front(first)
    queue.done("BTCUSDT")
    assert send_all(queue) == ["a", "b"]


def test_an_empty_lane_is_dropped_when_done() -> None:
    queue = WriteQueue()
    write = place("a")
    queue.push(write)
    queue.take(write)
    queue.done("BTCUSDT")
    assert len(queue) == 0
    assert list(queue.ready()) == []
    assert queue.waiting("BTCUSDT") == ()


def test_protective_heads_leave_before_others() -> None:
    queue = WriteQueue()
    queue.push(place("tp", "TP1", symbol="AUSDT"))
    queue.push(cancel("c", symbol="BUSDT"))
    queue.push(place("ws", "WORKING_STOP", symbol="CUSDT"))
    queue.push(place("sl", "HARD_SL", symbol="DUSDT"))
    assert cids(queue.ready()) == ["ws", "sl", "tp", "c"]


def test_a_protective_write_behind_a_take_profit_waits_its_turn_in_its_lane() -> None:
    queue = WriteQueue()
    queue.push(place("tp", "TP1", symbol="AUSDT"))
    queue.push(place("sl", "HARD_SL", symbol="AUSDT"))
    queue.push(place("tp2", "TP1", symbol="BUSDT"))
    assert cids(queue.ready()) == ["tp", "tp2"]


# --- the rate budget --------------------------------------------------------------------------


def _budget(weight: int = 0, orders_10s: int = 0, orders_1m: int = 0) -> RateBudget:
    return RateBudget(RateUsage(weight, orders_10s, orders_1m), seen_at=100.0)


def test_the_budget_is_the_largest_share_of_any_limit() -> None:
    assert RateBudget().use(0.0) == 0
    assert _budget(weight=WEIGHT_1M_LIMIT // 2).use(100.0) == 0.5
    assert _budget(weight=10, orders_10s=ORDERS_10S_LIMIT).use(100.0) == 1
    assert _budget(orders_1m=ORDERS_1M_LIMIT * 3 // 4).use(100.0) == 0.75


def test_a_count_is_spent_once_its_window_has_passed() -> None:
    budget = _budget(weight=WEIGHT_1M_LIMIT // 2, orders_10s=ORDERS_10S_LIMIT)
    assert budget.use(109.9) == 1
    assert budget.use(110.0) == 0.5  # the 10 s order count is over, the minute is not
    assert budget.use(159.9) == 0.5
    assert budget.use(160.0) == 0
    assert budget.allows(place("tp", "TP1"), 160.0)
    assert not budget.allows(place("tp", "TP1"), 105.0)


@pytest.mark.parametrize(
    ("share", "tp", "working_stop", "hard_sl", "cancel_"),
    [
        (0.79, True, True, True, True),
        (0.80, False, True, True, False),
        (0.94, False, True, True, False),
        (0.95, False, False, True, False),
        (1.20, False, False, True, False),
    ],
)
def test_budget_thresholds_let_protective_then_hard_stops_only(
    share: float, tp: bool, working_stop: bool, hard_sl: bool, cancel_: bool
) -> None:
    budget = _budget(weight=round(WEIGHT_1M_LIMIT * share))
    assert budget.allows(place("a", "TP1"), 100.0) is tp
    assert budget.allows(place("b", "WORKING_STOP"), 100.0) is working_stop
    assert budget.allows(place("c", "HARD_SL"), 100.0) is hard_sl
    assert budget.allows(cancel("d"), 100.0) is cancel_


# --- conditional slots ------------------------------------------------------------------------


def test_hard_stops_may_take_the_reserved_conditional_slots() -> None:
    spare = CONDITIONAL_CAP - HARD_STOP_RESERVE
    assert slot_allows(place("ws", "WORKING_STOP"), spare - 1)
    assert not slot_allows(place("ws", "WORKING_STOP"), spare)
    assert slot_allows(place("sl", "HARD_SL"), spare)
    assert slot_allows(place("sl", "HARD_SL"), CONDITIONAL_CAP - 1)
    assert not slot_allows(place("sl", "HARD_SL"), CONDITIONAL_CAP)


def test_slots_bind_only_conditional_places() -> None:
    assert slot_allows(place("tp", "TP1"), CONDITIONAL_CAP)
    assert slot_allows(cancel("c"), CONDITIONAL_CAP)
