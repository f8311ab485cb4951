"""What keeps a write from going out at all, and what the gateway's lines say about one."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from exitd.actors.messages import CancelWrite, PlaceWrite, Submit, WriteAnswer
from exitd.actors.write_lines import order_fields, write_action
from exitd.actors.write_rules import write_problem
from exitd.engine import OrderSide
from exitd.exchange.port import OrderRequest
from exitd.ops.metrics import OrderKind
from exitd.ownership import EXIT_BRAIN, SAFETY_NET

TP = OrderRequest(
    "BTCUSDT", "xd.eb.BTCUSDT.TP1.5", OrderSide.SELL, "LIMIT", D("0.5"), D("101"),
    reduce_only=True, time_in_force="GTC",
)  # fmt: skip
STOP = OrderRequest(
    "BTCUSDT", "xd.sn.BTCUSDT.SL.6", OrderSide.SELL, "STOP_MARKET", trigger_price=D("98"),
    close_position=True,
)  # fmt: skip


def _ignore(answer: WriteAnswer) -> None:
    del answer


def place(order: OrderRequest, module: str = EXIT_BRAIN) -> Submit:
    return Submit(PlaceWrite(module, order, OrderKind.TP, "TP1", False), _ignore)


def test_a_reduce_only_take_profit_and_a_close_position_stop_may_go_out() -> None:
    assert write_problem(place(TP)) is None
    assert write_problem(place(STOP, SAFETY_NET)) is None
    cancel = CancelWrite(EXIT_BRAIN, "BTCUSDT", "xd.eb.BTCUSDT.TP1.5", False, OrderKind.TP, "TP1")
    assert write_problem(Submit(cancel, _ignore)) is None


@pytest.mark.parametrize(
    ("order", "module", "says"),
    [
        (replace(TP, reduce_only=False), EXIT_BRAIN, "reduce-only or close-position"),
        (replace(TP, client_order_id="x" * 37), EXIT_BRAIN, "1 to 36 characters"),
        (replace(TP, client_order_id=""), EXIT_BRAIN, "1 to 36 characters"),
        (replace(TP, type="ICEBERG"), EXIT_BRAIN, "order type 'ICEBERG'"),
        (TP, SAFETY_NET, "close-position stops only"),
        (replace(STOP, quantity=D(1)), EXIT_BRAIN, "without a quantity"),
        (replace(TP, quantity=D(0)), EXIT_BRAIN, "a positive quantity"),
        (replace(TP, price=D("NaN")), EXIT_BRAIN, "price NaN"),
        (replace(STOP, trigger_price=D(-1)), EXIT_BRAIN, "trigger_price -1"),
    ],
)
def test_a_write_unfit_to_go_out_is_refused_with_the_reason(
    order: OrderRequest, module: str, says: str
) -> None:
    problem = write_problem(place(order, module))
    assert problem is not None and says in problem


def test_a_place_is_logged_with_its_orders_fields_and_a_cancel_without() -> None:
    assert order_fields(place(TP)) == {
        "type": "LIMIT", "side": "SELL", "quantity": "0.5", "price": "101",
    }  # fmt: skip
    assert order_fields(place(replace(STOP, client_order_id="web_1"))) == {
        "type": "STOP_MARKET", "side": "SELL", "trigger_price": "98", "close_position": True,
        "foreign_id": True,
    }  # fmt: skip
    cancel = CancelWrite(EXIT_BRAIN, "BTCUSDT", "xd.eb.BTCUSDT.TP1.5", False, OrderKind.TP, "TP1")
    assert order_fields(Submit(cancel, _ignore)) == {}
    assert (write_action(cancel), write_action(place(STOP).write)) == ("cancel", "STOP_MARKET")
