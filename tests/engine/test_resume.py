"""A restart: the saved PlanProgress and the orders resting on the exchange rebuild the plan.

A long of 1 at E = 100 (tick 0.1, step 0.001): HARD_SL 98.0, TP1 101.0 and TP2 102.0 for 0.5
each, breakeven 100.5 from 101.0, a 0.5 % trail from 101.0.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from exitd.engine import (
    BreakevenSpec,
    CancelOrder,
    ExitProfile,
    Fill,
    Leg,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    PlaceOrder,
    PlanProgress,
    Position,
    PositionChanged,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    TrailSpec,
    adopt,
    build_plan,
    decide,
    decide_all,
    intent_from_resting,
    make_client_order_id,
    parse_client_order_id,
    progress,
    resume,
)

SYMBOL = "BTCUSDT"
FILTERS = SymbolFilters(tick_size=D("0.1"), step_size=D("0.001"), min_qty=D("0.001"))
PROFILE = ExitProfile(
    D(2),
    take_profits=(TakeProfitSpec(D(1), D("0.5")), TakeProfitSpec(D(2), D("0.5"))),
    breakeven=BreakevenSpec(offset_pct=D("0.5"), trigger_pct=D(1)),
    trail=TrailSpec(callback_pct=D("0.5"), activation_pct=D(1)),
)


def plan_for(qty="1", entry="100", price="100", side=Side.LONG, profile=PROFILE):
    return build_plan(Position(SYMBOL, side, D(qty), D(entry)), FILTERS, profile, D(price))


def places(decision, leg=None):
    return [
        r.intent
        for r in decision.requests
        if isinstance(r, PlaceOrder) and (leg is None or r.intent.leg is leg)
    ]


def cancels(decision):
    return [r.client_order_id for r in decision.requests if isinstance(r, CancelOrder)]


def resting(leg, seq, *, trigger=None, price=None, qty="1", tp_number=0, side=OrderSide.SELL):
    """An exit-brain order as the exchange lists it."""
    hard = leg is Leg.HARD_SL
    order_type = OrderType.LIMIT if leg is Leg.TAKE_PROFIT else OrderType.STOP_MARKET
    intent = intent_from_resting(
        make_client_order_id("eb", SYMBOL, leg, seq, tp_number),
        symbol=SYMBOL,
        side=side,
        type=order_type,
        quantity=None if hard else D(qty),
        price=None if price is None else D(price),
        trigger=None if trigger is None else D(trigger),
        reduce_only=not hard,
        close_position=hard,
    )
    assert intent is not None
    return intent


HARD = resting(Leg.HARD_SL, 1, trigger="98.0")
TP1 = resting(Leg.TAKE_PROFIT, 2, price="101.0", qty="0.5", tp_number=1)
TP2 = resting(Leg.TAKE_PROFIT, 3, price="102.0", qty="0.5", tp_number=2)


def seq(intent: OrderIntent) -> int:
    ref = parse_client_order_id(intent.client_order_id)
    assert ref is not None
    return ref.seq


def settled(state, decision):
    """Accept every place and confirm every cancel until quiet."""
    pending = list(decision.requests)
    while pending:
        request = pending.pop(0)
        if isinstance(request, PlaceOrder):
            event = OrderAccepted(request.intent.client_order_id, 0)
        else:
            event = OrderCancelled(request.client_order_id, 0)
        decision = decide(state, event)
        state = decision.state
        pending.extend(decision.requests)
    return state


def armed_state():
    """Adopted at 100, then 103: breakeven and trail armed (extreme 103, W 102.5); then TP1
    filled by 0.2 of its 0.5."""
    plan = plan_for()
    adopted = adopt(plan, Tick(0, D(100)))
    state = settled(adopted.state, adopted)
    decision = decide(state, Tick(1_000, D(103)))
    state = settled(decision.state, decision)
    tp1 = state.orders_of(Leg.TAKE_PROFIT, 1)[0].intent.client_order_id
    decision = decide_all(
        state, (Fill(tp1, D("0.2"), D(101), 2_000), PositionChanged(D("0.8"), 2_000))
    )
    return settled(decision.state, decision)


def as_resting(state):
    return [
        intent_from_resting(
            o.intent.client_order_id,
            symbol=o.intent.symbol,
            side=o.intent.side,
            type=o.intent.type,
            quantity=o.open_qty,
            price=o.intent.price,
            trigger=o.intent.trigger_price,
            reduce_only=o.intent.reduce_only,
            close_position=o.intent.close_position,
        )
        for o in state.orders
    ]


# --- the snapshot -------------------------------------------------------------------------------


def test_progress_round_trips_through_json_strings():
    state = armed_state()
    saved = progress(state)
    assert saved.trail_armed and saved.breakeven_armed
    assert saved.extreme == D(103)
    assert saved.tp_filled == (D("0.2"), D(0))
    raw = saved.to_json()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items())
    assert PlanProgress.from_json(raw) == saved
    fresh = progress(adopt(plan_for(), Tick(5, D(100))).state)
    assert fresh.extreme is None and fresh.tps_done == frozenset()
    assert PlanProgress.from_json(fresh.to_json()) == fresh


@pytest.mark.parametrize(
    "change",
    [{"entry_price": "abc"}, {"breakeven_armed": "yes"}, {"side": "UP"}, {"next_seq": None}],
)
def test_from_json_refuses_what_to_json_did_not_write(change):
    raw = progress(armed_state()).to_json()
    raw.update(change)
    if change.get("next_seq", "") is None:
        del raw["next_seq"]
    with pytest.raises(ValueError):
        PlanProgress.from_json(raw)


# --- resuming -----------------------------------------------------------------------------------


def test_resume_adopts_what_rests_and_places_nothing_twice():
    state = armed_state()
    saved = PlanProgress.from_json(progress(state).to_json())
    plan = plan_for(str(saved.initial_qty), str(saved.entry_price), str(saved.adoption_price))
    decision = resume(plan, saved, as_resting(state), state.qty, Tick(9_000, D("102.8")))
    assert decision.requests == ()
    assert decision.notices[0].event == "plan.resumed"
    new = decision.state
    assert {o.intent.client_order_id for o in new.orders} == {
        o.intent.client_order_id for o in state.orders
    }
    assert all(o.status is OrderStatus.LIVE for o in new.orders)
    assert new.working_stop.intent.trigger_price == D("102.5")
    assert (new.tp_filled, new.extreme, new.adopted_ms) == (state.tp_filled, D(103), 0)
    assert new.next_seq == state.next_seq


def test_resume_with_nothing_resting_places_every_leg_of_the_plan():
    decision = resume(plan_for(), None, [], D(1), Tick(0, D(100)))
    assert [i.label for i in places(decision)] == ["HARD_SL", "TP1", "TP2"]


def test_resume_places_only_the_missing_legs():
    decision = resume(plan_for(), None, [HARD, TP1], D(1), Tick(0, D(100)))
    assert [i.label for i in places(decision)] == ["TP2"]
    assert cancels(decision) == []


def test_resumed_client_ids_go_on_above_every_seq_seen():
    far = resting(Leg.TAKE_PROFIT, 35, price="101.0", qty="0.5", tp_number=1)
    decision = resume(plan_for(), None, [HARD, far], D(1), Tick(0, D(100)))
    assert [seq(i) for i in places(decision)] == [36]
    saved = progress(adopt(plan_for(), Tick(0, D(100)), first_seq=100).state)
    decision = resume(plan_for(), saved, [HARD, far], D(1), Tick(0, D(100)))
    assert min(seq(i) for i in places(decision)) >= 100


def test_of_two_resting_orders_of_one_leg_the_most_protective_stays():
    loose_hard = resting(Leg.HARD_SL, 4, trigger="97.5")
    tight = resting(Leg.WORKING_STOP, 5, trigger="100.5", qty="1")
    loose = resting(Leg.WORKING_STOP, 6, trigger="100.3", qty="1")
    decision = resume(
        plan_for(), None, [HARD, loose_hard, tight, loose, TP1, TP2], D(1), Tick(0, D(101))
    )
    assert sorted(cancels(decision)) == sorted([loose_hard.client_order_id, loose.client_order_id])
    assert places(decision) == []
    assert decision.state.working_stop.intent.client_order_id == tight.client_order_id


def test_a_resting_working_stop_is_the_floor_and_follows_q():
    saved = progress(armed_state())  # W 102.5 from the extreme 103
    tighter = resting(Leg.WORKING_STOP, 9, trigger="102.7", qty="0.8")
    decision = resume(plan_for(), saved, [HARD, TP1, TP2, tighter], D("0.8"), Tick(9, D(103)))
    assert places(decision) == []  # 102.5 would loosen it
    smaller = resting(Leg.WORKING_STOP, 9, trigger="102.7", qty="0.5")
    decision = resume(plan_for(), saved, [HARD, TP1, TP2, smaller], D("0.8"), Tick(9, D(103)))
    stop = places(decision)[0]
    assert (stop.leg, stop.trigger_price, stop.quantity) == (Leg.WORKING_STOP, D("102.7"), D("0.8"))


def test_resume_restores_the_trail_from_progress():
    saved = progress(armed_state())
    with_progress = resume(plan_for(), saved, [HARD], D("0.8"), Tick(9, D("102.8")))
    stop = places(with_progress, Leg.WORKING_STOP)[0]
    assert stop.trigger_price == D("102.5")  # the extreme 103 * 0.995 = 102.485 -> 102.5
    fresh = resume(plan_for(), None, [HARD], D("0.8"), Tick(9, D("102.8")))
    # armed again on this tick: 102.8 * 0.995 = 102.286 -> 102.3
    assert places(fresh, Leg.WORKING_STOP)[0].trigger_price == D("102.3")


def test_progress_of_another_position_is_ignored_but_its_ids_count():
    saved = progress(armed_state())
    other = plan_for(entry="101", price="101")
    decision = resume(other, saved, [], D(1), Tick(9, D(101)))
    assert not decision.state.trail_armed
    assert decision.state.tp_filled == (D(0), D(0))
    assert min(seq(i) for i in places(decision)) >= saved.next_seq


def test_no_hard_stop_resting_and_the_price_through_it_closes_at_market():
    decision = resume(plan_for(), None, [TP1], D(1), Tick(9, D("97.9")))
    close = places(decision)[0]
    assert (close.leg, close.type, close.quantity) == (Leg.HARD_SL, OrderType.MARKET, D(1))
    assert "hard_sl.breached_at_adoption" in [n.event for n in decision.notices]
    kept = resume(plan_for(), None, [HARD, TP1, TP2], D(1), Tick(9, D("97.9")))
    assert places(kept) == []


def test_a_flat_position_leaves_nothing_behind():
    decision = resume(plan_for(), None, [HARD, TP1, TP2], D(0), Tick(9, D(100)))
    assert sorted(cancels(decision)) == sorted(i.client_order_id for i in (HARD, TP1, TP2))
    assert places(decision) == []


def test_orders_for_the_other_side_or_an_unknown_target_are_cancelled():
    buy = resting(Leg.TAKE_PROFIT, 7, price="99.0", qty="0.5", tp_number=1, side=OrderSide.BUY)
    tp9 = resting(Leg.TAKE_PROFIT, 8, price="109.0", qty="0.5", tp_number=9)
    decision = resume(plan_for(), None, [HARD, TP1, TP2, buy, tp9], D(1), Tick(9, D(100)))
    assert sorted(cancels(decision)) == sorted([buy.client_order_id, tp9.client_order_id])
    # a fill of one of them counts for no target of the plan
    state = decide(decision.state, Fill(tp9.client_order_id, D("0.5"), D(109), 10)).state
    assert state.tps_done == frozenset()


def test_intent_from_resting_knows_only_the_exit_brains_orders():
    common = {
        "symbol": SYMBOL,
        "side": OrderSide.SELL,
        "type": OrderType.STOP_MARKET,
        "quantity": D(0),
        "trigger": D(98),
        "reduce_only": True,
        "close_position": True,
    }
    assert intent_from_resting("web_abc123", **common) is None
    assert intent_from_resting("xd.lg.BTCUSDT.SL.1", **common) is None
    assert intent_from_resting("xd.eb.BTCUSDT.XX.1", **common) is None
    hard = intent_from_resting("xd.eb.BTCUSDT.SL.1", **common)
    assert hard is not None
    assert (hard.leg, hard.quantity, hard.reduce_only, hard.close_position) == (
        Leg.HARD_SL,
        None,
        False,
        True,
    )
