"""`exitd run` against the simulator: every position adopted, its exits as SPEC-exits.md says.

The running example: a LONG of 1 BTCUSDT opened at 40000 by someone else (POST /sim/position).
The default profile puts the HARD_SL at 39200 (2 %), TP1 at 40400 (0.3) and TP2 at 40800 (0.3);
breakeven arms at +0.8 % (40320) with its stop at 40040; the trail arms at +1.5 % (40600) and
follows 0.5 % behind the best price.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import anyio
import pytest

from exitd.actors.messages import Pause, PlanOverride
from exitd.exchange.sim.book import SimOrderType
from tests.integration.harness import live_daemon
from tests.integration.ledger_checks import assert_invariants, leg_of, open_exit_orders, own_orders

pytestmark = pytest.mark.anyio
SYMBOL = "BTCUSDT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_new_position_has_its_hard_stop_and_take_profits_within_a_second(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL, timeout_s=1.0)
        algo = live.sim.account.open_algo_orders(SYMBOL)
        limits = live.sim.account.open_orders(SYMBOL)
        assert [(o.type, o.trigger_price, o.close_position) for o in algo] == [
            (SimOrderType.STOP_MARKET, D("39200.0"), True)
        ]
        assert sorted((o.price, o.quantity, o.reduce_only) for o in limits) == [
            (D("40400.0"), D("0.300"), True),
            (D("40800.0"), D("0.300"), True),
        ]


async def test_breakeven_trail_and_take_profits_run_as_the_spec_says(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        for price in ("40100", "40330"):  # +0.825 %: breakeven arms, its stop at 40040
            await live.price(SYMBOL, price)
            await live.settle(SYMBOL)
        stops = [o for o in live.sim.account.open_algo_orders(SYMBOL) if not o.close_position]
        assert [(o.trigger_price, o.quantity) for o in stops] == [(D("40040.0"), D("1.000"))]

        await live.price(SYMBOL, "40400")  # TP1 fills; TP2 rests untouched
        await live.settle(SYMBOL)
        ledger = live.sim.account.ledger
        tp2 = [o for o in own_orders(ledger, SYMBOL) if leg_of(o) == "TP2"]
        assert len(tp2) == 1 and tp2[0].status == "NEW"
        stops = [o for o in live.sim.account.open_algo_orders(SYMBOL) if not o.close_position]
        assert [(o.trigger_price, o.quantity) for o in stops] == [(D("40040.0"), D("0.700"))]

        for price in ("40650", "41000"):  # the trail arms at 40650; at 41000 W = 40795
            await live.price(SYMBOL, price)
            await live.settle(SYMBOL)
        stops = [o for o in live.sim.account.open_algo_orders(SYMBOL) if not o.close_position]
        assert [o.trigger_price for o in stops] == [D("40795.0")]
        assert live.sim.account.position(SYMBOL).amount == D("0.400")  # TP2 filled at 40800

        await live.price(SYMBOL, "40790")  # through the working stop: flat
        await live.settle(SYMBOL)
        assert live.sim.account.position(SYMBOL).amount == 0
        assert open_exit_orders(ledger, SYMBOL) == []
        assert live.sim.account.open_orders(SYMBOL) == []
        assert live.sim.account.open_algo_orders(SYMBOL) == []
        # The close-position HARD_SL expires with the position: nothing is placed again.
        assert [o.refusal for o in own_orders(ledger, SYMBOL) if o.refusal] == []
        assert_invariants(ledger, SYMBOL)


async def test_a_short_is_protected_on_the_other_side(tmp_path: Path) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "SHORT", "0.5", "40000")
        await live.settle(SYMBOL)
        (hard,) = live.sim.account.open_algo_orders(SYMBOL)
        assert (hard.trigger_price, hard.side.value) == (D("40800.0"), "BUY")
        await live.price(SYMBOL, "40900")  # through the hard stop
        await live.settle(SYMBOL)
        assert live.sim.account.position(SYMBOL).amount == 0
        with anyio.fail_after(5):
            while live.sim.account.open_orders(SYMBOL):
                await live.daemon.activity.wait()
        assert_invariants(live.sim.account.ledger, SYMBOL)


async def test_a_paused_symbol_keeps_its_hard_stop_and_set_plan_tightens_the_trail(
    tmp_path: Path,
) -> None:
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        actor = live.daemon.account.actors[SYMBOL]
        assert actor.mailbox.post(Pause(True))
        await live.price(SYMBOL, "40700")  # TP1 fills on the exchange; the brain moves nothing
        await live.settle(SYMBOL)
        working = [o for o in live.sim.account.open_algo_orders(SYMBOL) if not o.close_position]
        hard = [o for o in live.sim.account.open_algo_orders(SYMBOL) if o.close_position]
        assert working == [] and [o.trigger_price for o in hard] == [D("39200.0")]

        assert actor.mailbox.post(Pause(False))
        await live.price(SYMBOL, "40710")  # the trail armed: 40710 * 0.995 = 40506.45
        await live.settle(SYMBOL)
        working = [o for o in live.sim.account.open_algo_orders(SYMBOL) if not o.close_position]
        assert [o.trigger_price for o in working] == [D("40506.5")]

        assert actor.mailbox.post(PlanOverride((("trail.callback_pct", "0.2"),)))
        await live.price(SYMBOL, "40711")  # 40711 * 0.998 = 40629.578
        await live.settle(SYMBOL)
        working = [o for o in live.sim.account.open_algo_orders(SYMBOL) if not o.close_position]
        assert [o.trigger_price for o in working] == [D("40629.6")]
        assert_invariants(live.sim.account.ledger, SYMBOL)


async def test_the_time_leg_closes_at_market_on_a_quiet_feed(tmp_path: Path) -> None:
    profiles = """
[profiles.default]
hard_sl_pct = 2.0
time_limit_s = 1
"""
    async with live_daemon(tmp_path, profiles=profiles) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        with anyio.fail_after(5):  # no price moves: only the engine's deadline can close it
            while live.sim.account.position(SYMBOL).amount != 0:
                await live.daemon.activity.wait()
        ledger = live.sim.account.ledger
        time_fills = [f for f in ledger.fills if f.client_order_id.startswith("xd.eb.BTCUSDT.TM.")]
        assert [(f.qty, f.price) for f in time_fills] == [(D("1.000"), D("40000.0"))]
        await live.settle(SYMBOL)
        assert open_exit_orders(ledger, SYMBOL) == []


async def test_a_position_opened_just_after_another_closed_gets_its_own_stops(
    tmp_path: Path,
) -> None:
    """The account's last read, under a second old, still lists the closed position's
    orders: the next position's actor must not take them for its own resting stops."""
    async with live_daemon(tmp_path) as live:
        await live.price(SYMBOL, "40000")
        await live.open(SYMBOL, "LONG", "1", "40000")
        await live.settle(SYMBOL)
        await live.daemon.account.reconcile()  # a read made now, the first position's orders in it
        await live.price(SYMBOL, "39100")  # through the HARD_SL at 39200: flat
        await live.settle(SYMBOL)
        assert live.sim.account.position(SYMBOL).amount == 0
        await live.open(SYMBOL, "LONG", "1", "39100")  # an entry bot buys again at once
        await live.settle(SYMBOL, timeout_s=1.0)
        algo = live.sim.account.open_algo_orders(SYMBOL)
        assert [(o.trigger_price, o.close_position) for o in algo] == [(D("38318.00"), True)]
        assert {leg_of(o) for o in open_exit_orders(live.sim.account.ledger, SYMBOL)} == {
            "HARD_SL",
            "TP1",
            "TP2",
        }
