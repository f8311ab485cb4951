"""Each order type's trigger and fill rule on one symbol, with values worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

from exitd.engine.model import OrderSide
from exitd.exchange.sim.book import (
    AlgoChanged,
    AlgoStatus,
    BookOrder,
    OrderClosed,
    OrderOpened,
    OrderState,
    PositionMoved,
    Refusal,
    SimOrderType,
    TimeInForce,
    Trade,
)
from exitd.exchange.sim.matching import SymbolMarket

BUY, SELL = OrderSide.BUY, OrderSide.SELL
T = SimOrderType


def market_long(qty: str = "2", price: str = "100", slippage: str = "0") -> SymbolMarket:
    """A market at `price` holding a long of `qty` entered at `price`."""
    m = SymbolMarket("BTCUSDT", slippage_pct=D(slippage))
    m.step(D(price), 0)
    m.submit(BookOrder(1, "entry", BUY, T.MARKET, D(qty)), 0)
    return m


def order(oid: int, side: OrderSide, kind: SimOrderType, qty: str = "1", **kw: object) -> BookOrder:
    return BookOrder(oid, f"o{oid}", side, kind, D(qty), **kw)  # type: ignore[arg-type]


def trades(events: list[object]) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade)]


def test_market_fills_at_once_at_the_price_plus_slippage() -> None:
    m = SymbolMarket("BTCUSDT", slippage_pct=D("0.1"))
    m.step(D(100), 0)
    events = m.submit(order(1, BUY, T.MARKET, "2"), 5)
    assert isinstance(events, list)
    assert isinstance(events[0], OrderOpened)
    (fill,) = trades(events)
    assert (fill.qty, fill.price, fill.maker) == (D(2), D("100.1"), False)
    assert m.position == 2 and m.entry_price == D("100.1")
    assert isinstance(events[-1], PositionMoved) and events[-1].amount == 2


def test_a_slipped_fill_is_rounded_onto_the_tick_against_the_taker() -> None:
    # 0.07 % of 100 put fills at 100.07 and 99.93, off a 0.10 price grid.
    m = SymbolMarket("BTCUSDT", slippage_pct=D("0.07"), tick_size=D("0.10"))
    m.step(D(100), 0)
    (buy,) = trades(m.submit(order(1, BUY, T.MARKET, "2"), 1))  # type: ignore[arg-type]
    (sell,) = trades(m.submit(order(2, SELL, T.MARKET, "1"), 2))  # type: ignore[arg-type]
    assert (buy.price, sell.price) == (D("100.10"), D("99.90"))


def test_gtc_limit_rests_then_fills_at_its_limit_price_as_maker() -> None:
    m = market_long()
    assert m.submit(order(2, SELL, T.LIMIT, "1", price=D(110), reduce_only=True), 1) != []
    assert trades(m.step(D(109), 2)) == []
    (fill,) = trades(m.step(D(115), 3))  # a gap through the limit still fills at the limit
    assert (fill.qty, fill.price, fill.maker, fill.realized_pnl) == (D(1), D(110), True, D(10))
    assert m.position == 1


def test_crossing_gtc_limit_takes_at_once_at_the_current_price() -> None:
    m = SymbolMarket("BTCUSDT")
    m.step(D(100), 0)
    events = m.submit(order(1, BUY, T.LIMIT, "1", price=D(105)), 1)
    assert isinstance(events, list)
    (fill,) = trades(events)
    assert (fill.price, fill.maker) == (D(100), False)  # a taker gets the better price


def test_crossing_limit_never_fills_past_its_price_with_slippage() -> None:
    m = SymbolMarket("BTCUSDT", slippage_pct=D(1))
    m.step(D(100), 0)
    events = m.submit(order(1, BUY, T.LIMIT, "1", price=D("100.5")), 1)
    assert isinstance(events, list)
    assert trades(events)[0].price == D("100.5")  # 101 with slippage, capped at the limit


def test_post_only_limit_that_would_cross_is_refused() -> None:
    m = SymbolMarket("BTCUSDT")
    m.step(D(100), 0)
    gtx = order(1, BUY, T.LIMIT, "1", price=D(100), time_in_force=TimeInForce.GTX)
    assert m.submit(gtx, 1) is Refusal.POST_ONLY
    resting = order(2, BUY, T.LIMIT, "1", price=D(99), time_in_force=TimeInForce.GTX)
    assert isinstance(m.submit(resting, 1), list) and 2 in m.orders


def test_ioc_that_cannot_take_expires_and_fok_is_refused() -> None:
    m = SymbolMarket("BTCUSDT")
    m.step(D(100), 0)
    ioc = order(1, BUY, T.LIMIT, "1", price=D(99), time_in_force=TimeInForce.IOC)
    events = m.submit(ioc, 1)
    assert isinstance(events, list)
    assert isinstance(events[-1], OrderClosed) and events[-1].state is OrderState.EXPIRED
    fok = order(2, BUY, T.LIMIT, "1", price=D(99), time_in_force=TimeInForce.FOK)
    assert m.submit(fok, 1) is Refusal.FOK_UNFILLED
    assert m.orders == {}


def test_reduce_only_larger_than_the_position_is_refused_4118() -> None:
    m = market_long("2")
    ioc = order(2, SELL, T.LIMIT, "5", price=D(90), reduce_only=True, time_in_force=TimeInForce.IOC)
    assert m.submit(ioc, 1) is Refusal.REDUCE_ONLY_EXCEEDS
    assert m.position == 2 and m.orders == {}


def test_reduce_only_limit_after_the_position_shrank_fills_what_it_may_and_expires() -> None:
    m = market_long("2")
    limit = order(2, SELL, T.LIMIT, "2", price=D(110), reduce_only=True)
    assert isinstance(m.submit(limit, 1), list)
    assert isinstance(m.submit(order(3, SELL, T.MARKET, "1"), 2), list)  # the position: 1
    events = m.step(D(111), 3)
    assert trades(events)[0].qty == 1 and m.position == 0
    assert limit.state is OrderState.PARTIALLY_FILLED  # flat: it stays, as on Binance
    (closed,) = m.step(D(112), 4)  # crossed again with nothing to reduce: it expires
    assert isinstance(closed, OrderClosed) and closed.state is OrderState.EXPIRED
    assert limit.state is OrderState.EXPIRED and limit.executed_qty == 1


def test_reduce_only_with_nothing_to_reduce_is_refused() -> None:
    m = market_long()
    assert m.submit(order(2, BUY, T.MARKET, "1", reduce_only=True), 1) is Refusal.REDUCE_ONLY


def test_stop_market_triggers_at_or_below_its_level_and_places_a_market_child() -> None:
    m = market_long("2", slippage="0.5")
    stop = order(7, SELL, T.STOP_MARKET, "2", trigger_price=D(95), reduce_only=True)
    (new,) = m.submit(stop, 1)  # type: ignore[misc]
    assert isinstance(new, AlgoChanged) and new.status is AlgoStatus.NEW
    assert m.step(D("95.01"), 2) == []
    events = m.step(D(90), 3)  # a gap: the fill is at the tick's price, not the trigger
    statuses = [e.status for e in events if isinstance(e, AlgoChanged)]
    assert statuses == [AlgoStatus.TRIGGERING, AlgoStatus.TRIGGERED, AlgoStatus.FINISHED]
    (fill,) = trades(events)
    assert fill.price == D("89.55") and fill.qty == 2 and fill.client_order_id == "o7"
    assert fill.order_id == stop.actual_order_id != stop.order_id
    assert stop.executed_qty == 2 and m.position == 0


def test_take_profit_market_triggers_on_the_favourable_side() -> None:
    m = market_long()
    tp = order(3, SELL, T.TAKE_PROFIT_MARKET, "1", trigger_price=D(110), reduce_only=True)
    assert m.submit(tp, 1) != Refusal.WOULD_TRIGGER
    assert trades(m.step(D(109), 2)) == []
    assert trades(m.step(D(110), 3))[0].price == 110
    wrong = order(4, SELL, T.TAKE_PROFIT_MARKET, "1", trigger_price=D(100), reduce_only=True)
    assert m.submit(wrong, 4) is Refusal.WOULD_TRIGGER  # already at or above it


def test_stop_limit_places_a_limit_that_rests_when_the_price_gaps_past_it() -> None:
    m = market_long()
    stop = order(3, SELL, T.STOP, "1", trigger_price=D(95), price=D(94), reduce_only=True)
    m.submit(stop, 1)
    events = m.step(D(93), 2)  # triggered, but 93 is below the sell limit of 94
    assert trades(events) == [] and stop.algo_status is AlgoStatus.TRIGGERED
    (fill,) = trades(m.step(D(94), 3))
    assert (fill.price, fill.maker) == (D(94), True)
    assert stop.algo_status is AlgoStatus.FINISHED


def test_take_profit_limit_takes_at_once_when_its_limit_crosses() -> None:
    m = market_long()
    tp = order(3, SELL, T.TAKE_PROFIT, "1", trigger_price=D(110), price=D(108), reduce_only=True)
    m.submit(tp, 1)
    (fill,) = trades(m.step(D(111), 2))
    assert (fill.price, fill.maker) == (D(111), False)  # the child sells at the better price


def test_trailing_stop_activates_then_triggers_at_callback_from_the_highest_price() -> None:
    m = market_long()
    trail = order(4, SELL, T.TRAILING_STOP_MARKET, "2", activation_price=D(105), callback_rate=D(2))
    trail.reduce_only = True
    assert isinstance(m.submit(trail, 1), list)
    assert trades(m.step(D(104), 2)) == []  # not active yet; 104 * 0.98 would be 101.92
    assert trades(m.step(D(110), 3)) == []  # active; level 110 * 0.98 = 107.8
    assert trades(m.step(D("107.9"), 4)) == []
    (fill,) = trades(m.step(D("107.8"), 5))
    assert fill.price == D("107.8") and m.position == 0


def test_trailing_activation_on_the_wrong_side_would_trigger() -> None:
    m = market_long()
    trail = order(4, SELL, T.TRAILING_STOP_MARKET, "1", activation_price=D(99), callback_rate=D(1))
    assert m.submit(trail, 1) is Refusal.WOULD_TRIGGER


def test_most_protective_stop_first_and_close_position_covers_what_is_open() -> None:
    m = market_long("3")
    m.submit(order(5, SELL, T.STOP_MARKET, "1", trigger_price=D(95), reduce_only=True), 1)
    hard = order(6, SELL, T.STOP_MARKET, "0", trigger_price=D(90), close_position=True)
    m.submit(hard, 1)
    m.submit(order(7, SELL, T.LIMIT, "1", price=D(120), reduce_only=True), 1)
    events = m.step(D(80), 2)
    fills = trades(events)
    assert [(f.client_order_id, f.qty) for f in fills] == [("o5", 1), ("o6", 2)]
    assert m.position == 0 and m.conditionals == {}
    # The plain reduce-only limit outlives the position, as on Binance (§14).
    assert [o.client_order_id for o in m.orders.values()] == ["o7"]
    assert not [e for e in events if isinstance(e, OrderClosed)]


def test_close_position_first_on_a_tie() -> None:
    m = market_long("3")
    m.submit(order(5, SELL, T.STOP_MARKET, "1", trigger_price=D(95), reduce_only=True), 1)
    m.submit(order(6, SELL, T.STOP_MARKET, "0", trigger_price=D(95), close_position=True), 1)
    fills = trades(m.step(D(95), 2))
    assert [(f.client_order_id, f.qty) for f in fills] == [("o6", 3)]


def test_reduce_only_stop_that_would_flip_is_rejected_at_trigger() -> None:
    m = market_long("1")
    stop = order(5, SELL, T.STOP_MARKET, "1", trigger_price=D(95), reduce_only=True)
    m.submit(stop, 1)
    m.submit(order(6, SELL, T.MARKET, "2"), 2)  # the account went short 1: the stop would add
    events = m.step(D(94), 3)
    assert trades(events) == [] and stop.algo_status is AlgoStatus.REJECTED
    assert m.position == -1


def test_limits_fill_in_price_then_time_priority_at_their_own_prices() -> None:
    m = market_long("3")
    for oid, price in ((2, "112"), (3, "110"), (4, "110")):
        m.submit(order(oid, SELL, T.LIMIT, "1", price=D(price), reduce_only=True), 1)
    fills = trades(m.step(D(115), 2))
    assert [(f.client_order_id, f.price) for f in fills] == [
        ("o3", D(110)),
        ("o4", D(110)),
        ("o2", D(112)),
    ]


def test_opening_adding_and_flipping_average_and_realise() -> None:
    m = market_long("1", "100")
    m.step(D(110), 1)
    m.submit(order(2, BUY, T.MARKET, "1"), 1)
    assert m.entry_price == 105 and m.position == 2
    m.step(D(120), 2)
    events = m.submit(order(3, SELL, T.MARKET, "3"), 2)
    assert isinstance(events, list)
    assert trades(events)[0].realized_pnl == 30  # 2 closed at 120 - 105
    assert m.position == -1 and m.entry_price == 120


def test_cancel_of_a_conditional_order_and_the_narrow_view() -> None:
    m = market_long()
    m.submit(order(5, SELL, T.STOP_MARKET, "1", trigger_price=D(95), reduce_only=True), 1)
    closed = m.cancel("o5", 2)
    assert isinstance(closed, OrderClosed) and closed.state is OrderState.CANCELED
    assert m.cancel("o5", 3) is Refusal.UNKNOWN_ORDER
