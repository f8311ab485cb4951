"""The account around the markets: id spaces, algo orders, limits, wallet and ledger."""

from __future__ import annotations

from decimal import Decimal as D

from exitd.engine.model import OrderSide, Side
from exitd.exchange.sim.account import (
    FIRST_ALGO_ID,
    MAX_OPEN_CONDITIONAL,
    Accepted,
    AlgoParams,
    BalanceChanged,
    Rejected,
    SimAccount,
)
from exitd.exchange.sim.book import (
    AlgoChanged,
    AlgoStatus,
    OrderOpened,
    Refusal,
    SimOrderType,
    Trade,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
T = SimOrderType


def long_account(qty: str = "2") -> SimAccount:
    acc = SimAccount(["BTCUSDT", "ETHUSDT"])
    acc.set_price("BTCUSDT", D(100), 0)
    acc.open_position("BTCUSDT", Side.LONG, D(qty), D(100), 0)
    return acc


def stop(
    acc: SimAccount, trigger: str, cid: str | None = None, **kw: object
) -> Accepted | Rejected:
    params = AlgoParams(trigger_price=D(trigger), **kw)  # type: ignore[arg-type]
    qty = None if params.close_position else D(1)
    return acc.place_algo_order(
        "BTCUSDT", SELL, T.STOP_MARKET, qty, 1, params=params, client_algo_id=cid
    )


def test_open_position_is_a_filled_market_order_with_its_events() -> None:
    acc = SimAccount(["BTCUSDT"])
    events = acc.open_position("BTCUSDT", Side.SHORT, D(2), D(100), 5)
    assert [type(e).__name__ for e in events] == [
        "OrderOpened",
        "Trade",
        "BalanceChanged",
        "PositionMoved",
    ]
    assert acc.position("BTCUSDT").amount == -2
    assert acc.wallet_balance == D(10_000) - D("0.1")  # taker 0.05 % of 200


def test_conditional_types_are_refused_on_the_order_endpoint() -> None:
    acc = long_account()
    result = acc.place_order("BTCUSDT", SELL, T.STOP_MARKET, D(1), 1)
    assert result == Rejected(Refusal.USE_ALGO_ENDPOINT)
    assert acc.ledger.orders[-1].status == "REJECTED"


def test_algo_ids_and_order_ids_are_separate_spaces() -> None:
    acc = long_account()
    algo = stop(acc, "95")
    limit = acc.place_order("BTCUSDT", SELL, T.LIMIT, D(1), 1, price=D(120), reduce_only=True)
    assert isinstance(algo, Accepted) and isinstance(limit, Accepted)
    assert algo.order.order_id == FIRST_ALGO_ID and limit.order.order_id == 2  # entry: 1
    assert acc.open_orders("BTCUSDT") == [limit.order]
    assert acc.open_algo_orders() == [algo.order]
    assert acc.query_order("BTCUSDT", order_id=algo.order.order_id) is not algo.order


def test_client_ids_must_be_unique_among_open_orders_only() -> None:
    acc = long_account()
    first = acc.place_order(
        "BTCUSDT", SELL, T.LIMIT, D(1), 1, price=D(120), client_order_id="tp1", reduce_only=True
    )
    assert isinstance(first, Accepted)
    again = acc.place_order("BTCUSDT", SELL, T.LIMIT, D(1), 1, price=D(121), client_order_id="tp1")
    assert again == Rejected(Refusal.DUPLICATE_CLIENT_ID)
    assert isinstance(acc.cancel_order("BTCUSDT", 2, client_order_id="tp1"), Accepted)
    reused = acc.place_order("BTCUSDT", SELL, T.LIMIT, D(1), 3, price=D(121), client_order_id="tp1")
    assert isinstance(reused, Accepted)
    assert acc.query_order("BTCUSDT", client_order_id="tp1") is reused.order


def _limit_and_a_resting_child_with_its_client_id(acc: SimAccount) -> tuple[int, int]:
    """An open LIMIT "x", then a STOP with clientAlgoId "x" whose LIMIT child rests."""
    limit = acc.place_order("BTCUSDT", SELL, T.LIMIT, D(1), 1, price=D(120), client_order_id="x")
    params = AlgoParams(trigger_price=D(95), price=D(96))
    algo = acc.place_algo_order("BTCUSDT", SELL, T.STOP, D(1), 1, params=params, client_algo_id="x")
    assert isinstance(limit, Accepted) and isinstance(algo, Accepted)
    acc.set_price("BTCUSDT", D(95), 2)  # triggers; its child (sell at 96) rests
    child_id = algo.order.actual_order_id
    assert child_id is not None
    return limit.order.order_id, child_id


def test_a_triggered_child_does_not_hide_an_open_order_with_the_same_client_id() -> None:
    # The book was keyed by client id: the child replaced the open LIMIT, which never filled.
    acc = long_account()
    limit_id, child_id = _limit_and_a_resting_child_with_its_client_id(acc)
    assert [o.order_id for o in acc.open_orders("BTCUSDT")] == [limit_id, child_id]
    filled = {e.order_id for e in acc.set_price("BTCUSDT", D(120), 3) if isinstance(e, Trade)}
    assert filled == {limit_id, child_id}


def test_cancel_by_order_id_cancels_that_order_not_the_child_sharing_its_client_id() -> None:
    acc = long_account()
    limit_id, child_id = _limit_and_a_resting_child_with_its_client_id(acc)
    cancelled = acc.cancel_order("BTCUSDT", 3, order_id=limit_id)
    assert isinstance(cancelled, Accepted) and cancelled.order.order_id == limit_id
    assert [o.order_id for o in acc.open_orders("BTCUSDT")] == [child_id]


def test_trigger_events_come_in_causal_order_and_link_the_child() -> None:
    acc = long_account()
    placed = stop(acc, "95", cid="sl", reduce_only=True)
    assert isinstance(placed, Accepted)
    events = acc.set_price("BTCUSDT", D(94), 2)
    names = [e.status.value if isinstance(e, AlgoChanged) else type(e).__name__ for e in events]
    assert names == [
        "TRIGGERING",
        "TRIGGERED",
        "OrderOpened",
        "Trade",
        "BalanceChanged",
        "PositionMoved",
        "FINISHED",
    ]
    child_id = placed.order.actual_order_id
    assert child_id is not None
    assert next(e for e in events if isinstance(e, OrderOpened)).order_id == child_id
    child = acc.query_order("BTCUSDT", order_id=child_id)
    assert child is not None and child.algo_id == placed.order.order_id
    history = [s.status for s in acc.ledger.orders[-1].history]
    assert history == ["NEW", "FILLED"]
    algo_entry = next(o for o in acc.ledger.orders if o.algo)
    assert [s.status for s in algo_entry.history] == [
        "NEW",
        "TRIGGERING",
        "TRIGGERED",
        "FINISHED",
    ]


def test_triggered_algo_order_cannot_be_cancelled() -> None:
    acc = long_account()
    placed = stop(acc, "95", cid="sl", reduce_only=True)
    acc.set_price("BTCUSDT", D(94), 2)
    assert acc.cancel_algo_order(3, client_algo_id="sl") == Rejected(Refusal.UNKNOWN_ORDER)
    assert isinstance(placed, Accepted) and placed.order.algo_status is AlgoStatus.FINISHED


def test_second_close_position_stop_in_one_direction_is_refused() -> None:
    acc = long_account()
    assert isinstance(stop(acc, "95", close_position=True), Accepted)
    assert stop(acc, "90", close_position=True) == Rejected(Refusal.CLOSE_POSITION_EXISTS)
    tp = acc.place_algo_order(
        "BTCUSDT",
        SELL,
        T.TAKE_PROFIT_MARKET,
        None,
        1,
        params=AlgoParams(trigger_price=D(120), close_position=True),
    )
    assert isinstance(tp, Accepted)  # a stop and a take-profit may coexist


def test_at_most_200_open_conditional_orders_per_account() -> None:
    acc = long_account()
    for i in range(MAX_OPEN_CONDITIONAL):
        assert isinstance(stop(acc, str(90 - i % 50), reduce_only=True), Accepted)
    assert stop(acc, "80") == Rejected(Refusal.MAX_STOP_ORDERS)
    acc.cancel_algo_order(2, algo_id=FIRST_ALGO_ID)
    assert isinstance(stop(acc, "80"), Accepted)


def test_wallet_takes_realised_pnl_and_commission() -> None:
    acc = long_account("2")  # 200 notional: 0.1 taker fee
    acc.place_order("BTCUSDT", SELL, T.LIMIT, D(1), 1, price=D(110), reduce_only=True)
    events = acc.set_price("BTCUSDT", D(111), 2)
    (fill,) = [e for e in events if isinstance(e, Trade)]
    assert fill.maker and fill.realized_pnl == 10
    (balance,) = [e for e in events if isinstance(e, BalanceChanged)]
    assert balance.commission == D("0.022")  # maker 0.02 % of 110
    assert acc.wallet_balance == D(10_000) - D("0.1") + 10 - D("0.022")
    assert acc.ledger.fills[-1].commission == D("0.022")


def test_cancel_all_leaves_algo_orders_and_its_sibling_cancels_them() -> None:
    acc = long_account()
    acc.place_order("BTCUSDT", SELL, T.LIMIT, D(1), 1, price=D(120), reduce_only=True)
    stop(acc, "95", reduce_only=True)
    acc.cancel_all_orders("BTCUSDT", 2)
    assert acc.open_orders() == [] and len(acc.open_algo_orders()) == 1
    acc.cancel_all_algo_orders("BTCUSDT", 3)
    assert acc.open_algo_orders() == []


def test_unknown_symbol_and_bad_parameters_are_refused() -> None:
    acc = long_account()
    assert acc.place_order("XYZUSDT", BUY, T.MARKET, D(1), 1) == Rejected(Refusal.UNKNOWN_SYMBOL)
    assert acc.place_order("BTCUSDT", BUY, T.LIMIT, D(1), 1) == Rejected(Refusal.BAD_PARAMETERS)
    both = acc.place_algo_order(
        "BTCUSDT", SELL, T.STOP_MARKET, D(1), 1, params=AlgoParams(D(95), close_position=True)
    )
    assert both == Rejected(Refusal.BAD_PARAMETERS)
    limit = acc.place_algo_order("BTCUSDT", SELL, T.LIMIT, D(1), 1)
    assert limit == Rejected(Refusal.NOT_CONDITIONAL)


def test_ledger_keeps_the_position_history_per_symbol() -> None:
    acc = long_account("2")
    acc.place_order("BTCUSDT", SELL, T.MARKET, D(2), 1)
    amounts = [p.amount for p in acc.ledger.positions["BTCUSDT"]]
    assert amounts == [2, 0]
    assert "ETHUSDT" not in acc.ledger.positions
