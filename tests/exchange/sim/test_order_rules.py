"""The pure parts of the order semantics: the reduce-only rule, good-till-position stops, the
TRIGGERING hold, the wire order of a moment's events and the order faults' parsing."""

from __future__ import annotations

from decimal import Decimal as D
from random import Random
from typing import Any

import pytest

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim import params_echo, payloads
from exitd.exchange.sim.account import Accepted, Rejected, SimAccount
from exitd.exchange.sim.book import (
    AlgoChanged,
    AlgoParams,
    AlgoStatus,
    BookOrder,
    Refusal,
    SimOrderType,
)
from exitd.exchange.sim.errors import BinanceError
from exitd.exchange.sim.faults import FaultError, Faults, parse_faults
from exitd.exchange.sim.reduce_only import open_reduce_only, rule
from exitd.exchange.sim.symbols import SYMBOLS
from exitd.exchange.sim.user_data import UserDataFeed

BUY, SELL = OrderSide.BUY, OrderSide.SELL
T = SimOrderType
S = "BTCUSDT"


@pytest.mark.parametrize(
    ("sign", "qty", "position", "already", "expected"),
    [
        (-1, "1", "1", "0", None),  # a sell closing a long
        (-1, "0.5", "1", "0.5", None),  # exactly what is left
        (-1, "0.6", "1", "0.5", Refusal.REDUCE_ONLY_EXCEEDS),
        (-1, "2", "1", "0", Refusal.REDUCE_ONLY_EXCEEDS),
        (1, "1", "1", "0", Refusal.REDUCE_ONLY),  # a buy on a long grows it
        (-1, "1", "0", "0", Refusal.REDUCE_ONLY),  # nothing to reduce
        (1, "1", "-2", "1", None),
    ],
)
def test_reduce_only_rule(
    sign: int, qty: str, position: str, already: str, expected: Refusal | None
) -> None:
    assert rule(sign, D(qty), D(position), D(already)) is expected


def test_open_reduce_only_counts_what_the_sides_reduce_only_orders_may_still_close() -> None:
    orders = [
        BookOrder(1, "a", SELL, T.LIMIT, D(2), reduce_only=True, executed_qty=D("0.5")),
        BookOrder(2, "b", SELL, T.LIMIT, D(3)),  # not reduce-only
        BookOrder(3, "c", BUY, T.LIMIT, D(4), reduce_only=True),  # the other side
    ]
    assert open_reduce_only(orders, -1) == D("1.5")
    assert open_reduce_only(orders, 1) == 4


def long_account(qty: str = "1") -> SimAccount:
    acc = SimAccount([S])
    acc.set_price(S, D(100), 0)
    acc.open_position(S, Side.LONG, D(qty), D(100), 0)
    return acc


def stop(
    acc: SimAccount, trigger: str, qty: str | None = "1", *, check: bool = False
) -> Accepted | Rejected:
    conditions = AlgoParams(trigger_price=D(trigger), reduce_only=qty is not None,
                            close_position=qty is None)  # fmt: skip
    quantity = None if qty is None else D(qty)
    return acc.place_algo_order(
        S, SELL, T.STOP_MARKET, quantity, 1, params=conditions, check_reduce_only=check
    )


def test_conditional_reduce_only_is_checked_at_placement_only_when_asked() -> None:
    acc = long_account()
    assert isinstance(stop(acc, "95"), Accepted)
    assert isinstance(stop(acc, "96"), Accepted)  # 2 > 1 open: the trigger will judge
    assert stop(acc, "97", check=True) == Rejected(Refusal.REDUCE_ONLY_EXCEEDS)
    flat = SimAccount([S])
    flat.set_price(S, D(100), 0)
    assert isinstance(stop(flat, "95"), Accepted)  # no position: accepted all the same
    assert stop(flat, "95", check=True) == Rejected(Refusal.REDUCE_ONLY)


def test_close_position_stops_need_a_position_and_expire_with_it() -> None:
    flat = SimAccount([S])
    flat.set_price(S, D(100), 0)
    assert stop(flat, "95", qty=None) == Rejected(Refusal.GTE_NO_POSITION)
    acc = long_account()
    hard, plain = stop(acc, "95", qty=None), stop(acc, "94")
    assert isinstance(hard, Accepted) and isinstance(plain, Accepted)
    events = acc.place_order(S, SELL, T.MARKET, D(1), 2)
    assert isinstance(events, Accepted)
    ended = [e for e in events.events if isinstance(e, AlgoChanged)]
    assert [(e.algo_id, e.status) for e in ended] == [(hard.order.order_id, AlgoStatus.EXPIRED)]
    assert acc.open_algo_orders() == [plain.order]


def test_a_triggered_reduce_only_stop_beyond_position_and_open_orders_is_rejected() -> None:
    acc = long_account()
    acc.place_order(S, SELL, T.LIMIT, D("0.5"), 1, price=D(120), reduce_only=True)
    placed = stop(acc, "95", qty="0.6")
    assert isinstance(placed, Accepted)
    events = acc.set_price(S, D(94), 2)
    statuses = [e.status for e in events if isinstance(e, AlgoChanged)]
    assert statuses == [AlgoStatus.TRIGGERING, AlgoStatus.REJECTED]
    assert acc.position(S).amount == 1 and placed.order.actual_order_id is None


def test_a_held_trigger_places_its_child_only_when_released() -> None:
    acc = long_account()
    placed = stop(acc, "95", qty=None)
    assert isinstance(placed, Accepted)
    assert acc.hold_triggers(True, 1) == []
    held = acc.set_price(S, D(94), 2)
    assert [e.status for e in held if isinstance(e, AlgoChanged)] == [AlgoStatus.TRIGGERING]
    assert acc.open_algo_orders() == [placed.order]  # reported, in TRIGGERING
    assert acc.cancel_algo_order(3, algo_id=placed.order.order_id) == Rejected(
        Refusal.UNKNOWN_ORDER
    )
    assert acc.set_price(S, D(93), 3) == [] and acc.position(S).amount == 1
    released = acc.hold_triggers(False, 4)
    statuses = [e.status for e in released if isinstance(e, AlgoChanged)]
    assert statuses == [AlgoStatus.TRIGGERED, AlgoStatus.FINISHED]
    assert acc.position(S).amount == 0 and acc.open_algo_orders() == []


def _stopped_out() -> tuple[SimAccount, list[Any]]:
    acc = long_account()
    assert isinstance(stop(acc, "95", qty=None), Accepted)
    return acc, acc.set_price(S, D(94), 2)


def test_a_moments_events_go_out_in_the_order_live_logs_show() -> None:
    acc, batch = _stopped_out()
    names = [(name, p["o"].get("X", "") if "o" in p else "") for name, p in
             UserDataFeed().encode(batch, acc, 2)]  # fmt: skip
    assert names == [
        ("ALGO_UPDATE", "TRIGGERING"),
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("TRADE_LITE", ""),
        ("ACCOUNT_UPDATE", ""),
        ("ORDER_TRADE_UPDATE", "FILLED"),
        ("ALGO_UPDATE", "TRIGGERED"),
        ("ALGO_UPDATE", "FINISHED"),
    ]


def test_a_childs_rest_view_and_its_stream_events_agree_on_the_defaults() -> None:
    acc, batch = _stopped_out()
    (filled,) = [p for name, p in UserDataFeed().encode(batch, acc, 2)
                 if name == "ORDER_TRADE_UPDATE" and p["o"]["X"] == "FILLED"]  # fmt: skip
    child = acc.query_order(S, order_id=filled["o"]["i"])
    assert child is not None and child.algo_id is not None
    found = acc.query_algo_order(algo_id=child.algo_id)
    assert found is not None
    rest = payloads.order_query(SYMBOLS[S], child, found[1])
    o = filled["o"]
    assert (rest["selfTradePreventionMode"], rest["priceProtect"]) == (o["V"], o["pP"])
    assert (rest["origType"], rest["stopPrice"], rest["workingType"]) == (o["ot"], o["sp"], o["wt"])
    assert (rest["goodTillDate"], rest["closePosition"]) == (o["gtd"], o["cp"])


def test_the_shuffle_draws_from_the_accounts_rng() -> None:
    acc, batch = _stopped_out()
    plain = UserDataFeed().encode(batch, acc, 2)
    acc.event_shuffle = Random(3)
    shuffled = UserDataFeed().encode(batch, acc, 2)
    acc.event_shuffle = Random(3)
    assert UserDataFeed().encode(batch, acc, 2) == shuffled
    assert shuffled != plain
    assert sorted(map(repr, shuffled)) == sorted(map(repr, plain))


def test_order_fault_keys_parse_and_bad_ones_are_refused() -> None:
    plan = parse_faults({"reduce_only_at_placement": True, "shuffle_events": True,
                         "lost_orders": {"ms": 2000}, "stuck_triggering": True})  # fmt: skip
    assert plan.reduce_only_at_placement and plan.shuffle_events and plan.stuck_triggering
    assert plan.lost_orders_ms == 2000
    for bad in ({"lost_orders": 2000}, {"lost_orders": {"ms": -1}}, {"shuffle_events": 1}):
        with pytest.raises(FaultError):
            parse_faults(bad)


def test_lost_orders_are_missed_for_their_window_then_found() -> None:
    faults = Faults()
    faults.accepted((S, 1), 1_000)  # no fault yet: never lost
    faults.apply(parse_faults({"lost_orders": {"ms": 2000}}), 1_000)
    faults.accepted((S, 2), 1_000)
    assert not faults.lost((S, 1), 1_500)
    assert faults.lost((S, 2), 2_999) and not faults.lost((S, 2), 3_000)
    faults.clear()
    faults.accepted((S, 3), 3_000)
    assert not faults.lost((S, 3), 3_000)


def test_echoed_parameters_and_the_refused_old_activation_name() -> None:
    assert params_echo.stp_mode({"selfTradePreventionMode": "EXPIRE_TAKER"}) == "EXPIRE_TAKER"
    assert params_echo.stp_mode({}) is None
    with pytest.raises(BinanceError) as bad:
        params_echo.stp_mode({"selfTradePreventionMode": "EXPIRE_NOBODY"})
    assert bad.value.code == -1130
    with pytest.raises(BinanceError) as old:
        params_echo.refuse_activation_price({"activationPrice": "66000"})
    assert (old.value.code, old.value.msg) == (
        -1106,
        "Parameter 'activationPrice' sent when not required.",
    )
