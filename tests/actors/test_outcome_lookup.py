"""Unknown outcomes: what a lookup by client id settles, and when the next one is due."""

from __future__ import annotations

from decimal import Decimal as D

from exitd.actors.messages import CancelWrite, PlaceWrite, Submit, WriteAnswer
from exitd.actors.outcome_lookup import (
    LOOKUP_FIRST_S,
    LOOKUP_MAX_S,
    InFlight,
    LookAgain,
    SendAgain,
    Settled,
    after_lookup,
    after_restart,
    duplicate_id,
    looked_up_as_conditional,
    lookup_due,
    unknown_outcome,
)
from exitd.engine import OrderSide
from exitd.exchange.port import (
    Accepted,
    NotFound,
    OrderRequest,
    OrderState,
    OrderView,
    Rejected,
    RejectKind,
    Unknown,
)
from exitd.ops.metrics import OrderKind

SYMBOL = "BTCUSDT"
CID = "xb-BTCUSDT-hs-1"
RECV_WINDOW_S = 5.0


def _ignore(answer: WriteAnswer) -> None:
    del answer


def place(type_: str = "STOP_MARKET") -> Submit:
    order = OrderRequest(
        SYMBOL, CID, OrderSide.SELL, type_, quantity=D("1"), trigger_price=D("39000"),
        reduce_only=True,
    )  # fmt: skip
    return Submit(PlaceWrite("exit_brain", order, OrderKind.SL, "HARD_SL", True), _ignore, 1.5)


def cancel(conditional: bool = True) -> Submit:
    write = CancelWrite("exit_brain", SYMBOL, CID, conditional, OrderKind.SL, "stale")
    return Submit(write, _ignore)


def found(state: OrderState) -> OrderView:
    return OrderView(
        SYMBOL, CID, "7", OrderSide.SELL, "STOP_MARKET", state, True, D("1"), D("0"), None,
        D("39000"), True, False, 1_000,
    )  # fmt: skip


def unknown(submit: Submit, sent_at: float = 100.0, lookups: int = 0) -> InFlight:
    return InFlight(submit, sent_at, unknown=True, lookup_at=sent_at, lookups=lookups, looking=True)


def test_a_send_cut_off_by_a_crash_is_looked_up_at_once_after_the_restart() -> None:
    sending = InFlight(place(), 100.0)
    restarted = after_restart(sending, 250.0)
    assert restarted == InFlight(sending.submit, 100.0, unknown=True, lookup_at=250.0)


def test_a_lookup_cut_off_by_a_crash_is_started_again_on_its_schedule() -> None:
    looking = InFlight(place(), 100.0, unknown=True, lookup_at=103.0, lookups=2, looking=True)
    again = after_restart(looking, 250.0)
    assert again.looking is False
    assert (again.lookup_at, again.lookups, again.unknown) == (103.0, 2, True)
    waiting = InFlight(place(), 100.0, unknown=True, lookup_at=103.0)
    assert after_restart(waiting, 250.0) is waiting


def test_an_unknown_outcome_waits_a_moment_and_a_duplicate_id_is_read_at_once() -> None:
    sending = InFlight(place(), 100.0)
    later = unknown_outcome(sending, 120.0)
    assert later.unknown and later.lookup_at == 120.0 + LOOKUP_FIRST_S
    now = duplicate_id(sending, 120.0)
    assert now.unknown and now.lookup_at == 120.0
    assert not lookup_due(later, 120.5)
    assert lookup_due(later, 121.0)
    assert lookup_due(now, 120.0)


def test_a_lookup_is_not_due_while_one_runs_or_for_a_write_still_being_sent() -> None:
    assert not lookup_due(InFlight(place(), 100.0), 500.0)
    running = InFlight(place(), 100.0, unknown=True, lookup_at=101.0, looking=True)
    assert not lookup_due(running, 500.0)


def test_the_order_is_read_where_its_type_rests() -> None:
    assert looked_up_as_conditional(place().write)
    assert not looked_up_as_conditional(place("LIMIT").write)
    assert looked_up_as_conditional(cancel(conditional=True).write)
    assert not looked_up_as_conditional(cancel(conditional=False).write)


def test_a_place_found_on_the_exchange_is_accepted_whatever_its_state() -> None:
    for state in (OrderState.NEW, OrderState.FILLED, OrderState.CANCELED):
        view = found(state)
        settled = after_lookup(unknown(place()), view, 101.0, RECV_WINDOW_S)
        assert settled == Settled(Accepted(view))


def test_a_cancel_whose_order_is_still_open_goes_out_again() -> None:
    assert isinstance(
        after_lookup(unknown(cancel()), found(OrderState.NEW), 101.0, RECV_WINDOW_S), SendAgain
    )
    done = found(OrderState.CANCELED)
    assert after_lookup(unknown(cancel()), done, 101.0, RECV_WINDOW_S) == Settled(Accepted(done))


def test_a_cancel_of_an_order_gone_is_answered_not_found() -> None:
    for gone in (NotFound(), Rejected(RejectKind.NOT_FOUND, "unknown order")):
        settled = after_lookup(unknown(cancel()), gone, 101.0, RECV_WINDOW_S)
        assert isinstance(settled, Settled) and isinstance(settled.outcome, Rejected)
        assert settled.outcome.kind is RejectKind.NOT_FOUND


def test_a_place_not_found_is_given_up_only_past_its_recv_window() -> None:
    deadline = 100.0 + RECV_WINDOW_S + LOOKUP_FIRST_S
    early = after_lookup(unknown(place()), NotFound(), deadline, RECV_WINDOW_S)
    assert isinstance(early, LookAgain)
    late = after_lookup(unknown(place()), NotFound(), deadline + 0.01, RECV_WINDOW_S)
    assert isinstance(late, Settled) and isinstance(late.outcome, Rejected)
    assert late.outcome.kind is RejectKind.OTHER
    assert "never placed" in late.outcome.reason


def test_an_unreadable_answer_backs_off_doubling_up_to_the_cap() -> None:
    waits = []
    for lookups in range(6):
        again = after_lookup(
            unknown(place(), lookups=lookups), Unknown("timeout"), 200.0, RECV_WINDOW_S
        )
        assert isinstance(again, LookAgain)
        assert again.entry.lookups == lookups + 1 and not again.entry.looking
        assert again.entry.unknown and again.entry.sent_at == 100.0
        waits.append(again.entry.lookup_at - 200.0)
    assert waits == [2.0, 4.0, 8.0, LOOKUP_MAX_S, LOOKUP_MAX_S, LOOKUP_MAX_S]


def test_a_rate_limited_lookup_proves_nothing_and_is_looked_up_again() -> None:
    limited = Rejected(RejectKind.RATE_LIMITED, "too many requests")
    assert isinstance(after_lookup(unknown(place()), limited, 500.0, RECV_WINDOW_S), LookAgain)
    assert isinstance(after_lookup(unknown(cancel()), limited, 500.0, RECV_WINDOW_S), LookAgain)
