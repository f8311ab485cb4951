"""The safety net's emergency stop: its write, and a stop that did not land tried again."""

from __future__ import annotations

from decimal import Decimal as D

from exitd.actors.messages import NotSent, NotSentReason, WriteAnswer
from exitd.actors.safety_net import NakedWatch, emergency_write
from exitd.engine import OrderSide, SymbolFilters
from exitd.exchange.port import (
    Accepted,
    OrderState,
    OrderView,
    PositionView,
    Rejected,
    RejectKind,
)
from exitd.ops.metrics import OrderKind
from exitd.ownership import SAFETY_NET

SYMBOL = "ETHUSDT"
FILTERS = SymbolFilters(tick_size=D("0.01"), step_size=D("0.001"), min_qty=D("0.001"))
POSITION = PositionView(SYMBOL, D(2), D(2000), 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_emergency_stop_goes_as_the_safety_nets_protective_hard_stop() -> None:
    watch = NakedWatch(10.0, D(3), Clock())
    assert watch.look(POSITION, [], FILTERS, D(2000), 1) is None  # naked from now: grace
    clock = Clock()
    watch = NakedWatch(0.0, D(3), clock)
    alert = watch.look(POSITION, [], FILTERS, D(2000), 1)
    assert alert is not None
    write = emergency_write(alert.stop)
    assert (write.module, write.kind, write.leg, write.protective) == (
        SAFETY_NET, OrderKind.SL, "HARD_SL", True,
    )  # fmt: skip
    assert write.order is alert.stop and write.order.trigger_price == D("1940.00")


def test_a_stop_that_did_not_land_is_placed_again_after_the_next_grace() -> None:
    clock = Clock()
    watch = NakedWatch(10.0, D(3), clock)
    assert watch.look(POSITION, [], FILTERS, D(2000), 1) is None
    clock.now = 10.0
    alert = watch.look(POSITION, [], FILTERS, D(2000), 2)
    assert alert is not None
    write = emergency_write(alert.stop)
    clock.now = 30.0
    watch.answered(WriteAnswer(write, Accepted(_resting(alert.stop.client_order_id))))
    assert watch.look(POSITION, [], FILTERS, D(2000), 3) is None  # on its way: not twice
    watch.answered(WriteAnswer(write, Rejected(RejectKind.OTHER, "would trigger")))
    clock.now = 39.9
    assert watch.look(POSITION, [], FILTERS, D(2000), 4) is None
    clock.now = 40.0
    again = watch.look(POSITION, [], FILTERS, D(2000), 5)
    assert again is not None and again.naked_s == 10.0
    watch.answered(WriteAnswer(write, NotSent(NotSentReason.REFUSED, "hard guard")))
    clock.now = 49.0
    assert watch.look(POSITION, [], FILTERS, D(2000), 6) is None
    clock.now = 50.0
    assert watch.look(POSITION, [], FILTERS, D(2000), 7) is not None


def _resting(cid: str) -> OrderView:
    return OrderView(
        SYMBOL, cid, "9", OrderSide.SELL, "STOP_MARKET", OrderState.NEW, True, None, D(0), None,
        D("1940"), False, True, 2,
    )  # fmt: skip
