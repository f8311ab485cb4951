"""The daemon under the simulator's faults (RELIABILITY.md §2), judged from the sim's ledger.

The running example of test_daemon_protects.py: a LONG of 1 BTCUSDT at 40000; HARD_SL 39200,
TP1 40400 (0.3), TP2 40800 (0.3), breakeven at 40320 (stop 40040), the trail from 40600,
0.5 % behind the best price.
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest

from exitd.exchange.sim.streams import StreamHub
from exitd.ops.metrics import OrderOutcome
from tests.integration.harness import Live, live_daemon, set_faults
from tests.integration.ledger_checks import assert_invariants, leg_of, open_exit_orders, own_orders

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"
OTHER = "ETHUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def clear_faults(live: Live) -> None:
    answer = await live.client.admin("DELETE", "/sim/faults")
    assert answer.status == 200, answer.body


async def price_seen(live: Live, symbol: str, price: str, timeout_s: float = 10.0) -> None:
    """Publish `price` until the symbol actor has it: after a dropped socket the price feed
    is back only after its reconnect backoff, and a mark sent meanwhile reaches nobody."""
    with anyio.fail_after(timeout_s):
        while True:
            sent_ms = live.sim.clock()
            await live.price(symbol, price)
            with anyio.move_on_after(0.25):
                while not _has_mark(live, symbol, D(price), sent_ms):
                    await live.daemon.activity.wait()
                return


def _has_mark(live: Live, symbol: str, price: D, since_ms: int) -> bool:
    actor = live.daemon.account.actors.get(symbol)
    mark = None if actor is None else actor.last_mark
    return mark is not None and mark.price == price and mark.time_ms >= since_ms


def listen_key(live: Live) -> str | None:
    hub = live.sim.hub
    assert isinstance(hub, StreamHub)
    return hub.listen_keys.active


def unknown_answers(live: Live) -> int:
    orders = live.daemon.gateway.metrics.orders
    return sum(n for (_, _, outcome), n in orders.items() if outcome is OrderOutcome.UNKNOWN)


def working_stops(live: Live, symbol: str) -> list[tuple[D | None, D]]:
    return [
        (o.trigger_price, o.quantity)
        for o in live.sim.account.open_algo_orders(symbol)
        if not o.close_position
    ]


def legs_created(live: Live, symbol: str) -> Counter[str]:
    ledger = live.sim.account.ledger
    return Counter(leg_of(o) for o in own_orders(ledger, symbol) if o.refusal is None)


async def test_an_order_executed_but_answered_503_is_looked_up_never_sent_again(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await set_faults(
            live,
            {
                "unknown_status": {
                    "POST /fapi/v1/algoOrder": {"rate": 1.0, "answer": "timeout"},
                    "POST /fapi/v1/order": {"rate": 1.0, "answer": "unknown_error"},
                }
            },
        )
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        # Every answer was a 503: each order was then found by its client id, not sent again.
        assert unknown_answers(live) == 3
        assert legs_created(live, SYMBOL) == {"HARD_SL": 1, "TP1": 1, "TP2": 1}
        ledger = live.sim.account.ledger
        assert {o.client_order_id for o in own_orders(ledger, SYMBOL)} == live.resting(SYMBOL)
        assert_invariants(ledger, SYMBOL)


async def test_after_the_websockets_drop_the_daemon_reconnects_and_the_trail_goes_on(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "SHORT", "1", "40000")  # a short: no target in the way down
        await live.settle(SYMBOL)
        for price in ("39900", "39700", "39380"):  # the trail arms at -1.5 % (39400)
            await live.price(SYMBOL, price)
            await live.settle(SYMBOL)
        assert working_stops(live, SYMBOL) == [(D("39576.9"), D("0.700"))]  # 39380 × 1.005

        old_key = listen_key(live)
        await set_faults(live, {"drop_websockets": True})
        await price_seen(live, SYMBOL, "39000")
        await live.settle(SYMBOL)
        assert working_stops(live, SYMBOL) == [(D("39195.0"), D("0.400"))]  # TP2 at 39200
        assert listen_key(live) == old_key  # the same key, a new socket

        await live.price(SYMBOL, "39200")  # back through the working stop: flat
        await live.settle(SYMBOL)
        ledger = live.sim.account.ledger
        assert live.sim.account.position(SYMBOL).amount == 0
        assert open_exit_orders(ledger, SYMBOL) == []
        assert_invariants(ledger, SYMBOL)


async def test_a_fill_while_the_listen_key_is_expired_is_not_missed(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        old_key = listen_key(live)
        # The key lapses and no new socket is let in for a second: TP1 fills in that gap.
        await set_faults(live, {"expire_listen_key": True, "refuse_websockets_s": 1})
        await live.price(SYMBOL, "40400")
        assert live.sim.account.position(SYMBOL).amount == D("0.700")
        await live.settle(SYMBOL)
        new_key = listen_key(live)
        assert new_key is not None and new_key != old_key
        assert working_stops(live, SYMBOL) == [(D("40040.0"), D("0.700"))]  # breakeven, for Q
        assert legs_created(live, SYMBOL)["TP1"] == 1  # TP1 was seen filled, not re-placed

        await live.price(SYMBOL, "40800")  # TP2, over the new key's stream
        await live.settle(SYMBOL, timeout_s=3.0)  # the 30 s reconcile would be too late
        assert live.sim.account.position(SYMBOL).amount == D("0.400")
        assert working_stops(live, SYMBOL) == [(D("40596.0"), D("0.400"))]  # the trail armed
        assert_invariants(live.sim.account.ledger, SYMBOL)


async def test_a_rate_limit_storm_gets_no_ban_and_the_hard_stop_goes_first(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.price(OTHER, "2000")
        # A storm while a position appears: the daemon must wait out Retry-After, not 418.
        await set_faults(live, {"rate_limit_storm_s": 3})
        await live.open(SYMBOL, "LONG", "1", "40000")
        await price_seen(live, SYMBOL, "40000")  # its mark could not be read over REST
        await live.settle(SYMBOL)
        assert legs_created(live, SYMBOL) == {"HARD_SL": 1, "TP1": 1, "TP2": 1}

        # A storm that breaks in while the stops are on their way: they wait, HARD_SL first.
        await set_faults(live, {"latency_ms": {"POST /fapi/v1/algoOrder": 300}})
        await live.open(OTHER, "LONG", "1", "2000")
        with anyio.fail_after(5):
            while not live.daemon.gateway.inflight(OTHER):
                await live.daemon.activity.wait()
        await set_faults(live, {"rate_limit_storm_s": 1})
        await live.settle(OTHER)
        ledger = live.sim.account.ledger
        other = [o for o in own_orders(ledger, OTHER) if o.refusal is None]
        assert [leg_of(o) for o in other] == ["HARD_SL", "TP1", "TP2"]
        for state in live.sim.limiter._ips.values():
            assert state.bans == 0, "banned with 418"
        rate_limited = sum(
            n for (_, _, outcome), n in live.daemon.gateway.metrics.orders.items()
            if outcome is OrderOutcome.REJECTED
        )  # fmt: skip
        assert rate_limited == 0
        assert_invariants(ledger, SYMBOL)
        assert_invariants(ledger, OTHER)


async def test_a_slow_symbol_does_not_hold_up_another_symbols_hard_stop(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.price(OTHER, "2000")
        await set_faults(live, {"symbol_latency_ms": {OTHER: 2000}})
        await live.open(OTHER, "LONG", "1", "2000")
        with anyio.fail_after(5):  # its HARD_SL is in the gateway, on its slow way
            while not live.daemon.gateway.inflight(OTHER):
                await live.daemon.activity.wait()
        await live.open(SYMBOL, "LONG", "1", "40000")
        with anyio.fail_after(5):
            while not any(o.close_position for o in live.sim.account.open_algo_orders(SYMBOL)):
                await live.daemon.activity.wait()
        rested = time.monotonic()
        actor = live.daemon.account.actors[SYMBOL]
        assert actor.started_at is not None
        assert rested - actor.started_at < 0.2
        assert not live.sim.account.open_algo_orders(OTHER)  # still on its way
        await clear_faults(live)  # what is already on its way stays slow
        await live.settle(OTHER)
        assert legs_created(live, OTHER)["HARD_SL"] == 1
        ledger = live.sim.account.ledger
        assert_invariants(ledger, SYMBOL)
        assert_invariants(ledger, OTHER)


async def test_a_503_service_unavailable_is_a_refusal_sent_again_under_the_same_leg(
    tmp_path: Path,
) -> None:
    """Binance documents "Service Unavailable." as a definite failure: nothing to look up;
    the stop goes again once the exchange serves, and rests once."""
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        refuse = {"rate": 1.0, "kind": "service_unavailable"}
        await set_faults(live, {"errors": {"POST /fapi/v1/algoOrder": refuse}})
        await live.open(SYMBOL, "LONG", "1", "40000")
        with anyio.fail_after(5):
            while not live.daemon.gateway.metrics.orders:
                await live.daemon.activity.wait()
        assert not live.sim.account.open_algo_orders(SYMBOL)
        await clear_faults(live)
        with anyio.fail_after(5):  # the engine places it again after its backoff (1 s)
            while not any(o.close_position for o in live.sim.account.open_algo_orders(SYMBOL)):
                await live.daemon.activity.wait()
        await live.settle(SYMBOL)
        assert legs_created(live, SYMBOL) == {"HARD_SL": 1, "TP1": 1, "TP2": 1}
        assert unknown_answers(live) == 0  # a definite refusal: nothing was looked up
        assert_invariants(live.sim.account.ledger, SYMBOL)


async def test_a_cancel_answered_503_is_looked_up_and_the_trail_goes_on(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        await live.price(SYMBOL, "40330")  # breakeven: 40040
        await live.settle(SYMBOL)
        unknown = {"rate": 1.0, "answer": "timeout"}
        await set_faults(live, {"unknown_status": {"DELETE /fapi/v1/algoOrder": unknown}})
        await live.price(SYMBOL, "40800")  # TP1, TP2 fill; the trail: 40596 replaces 40040
        await live.settle(SYMBOL)
        assert unknown_answers(live) == 2  # both cancels: found gone by the stream or a lookup
        assert working_stops(live, SYMBOL) == [(D("40596.0"), D("0.400"))]
        await clear_faults(live)
        await live.price(SYMBOL, "41000")
        await live.settle(SYMBOL)
        assert working_stops(live, SYMBOL) == [(D("40795.0"), D("0.400"))]
        assert_invariants(live.sim.account.ledger, SYMBOL)
