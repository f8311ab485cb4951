"""The real daemon tree on the real simulator, driven by random sequences of account events.

Each example starts a simulator and `exitd run`'s actor tree (tests/integration/harness.py) on
one event loop in a portal thread; the rules are what happens to an account: an entry bot
opens, adds to, reduces or flips a position; the price moves through breakeven, the trail, the
targets and the stops; someone else closes at market or rests and cancels a reduce-only order;
reconciliation runs; a symbol actor crashes; the whole daemon restarts on its state_dir. After
every rule the test waits until the daemon's view agrees with the simulator's (`Live.settle`),
then judges the simulator's books and ledger (the ground truth), for every symbol.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import Future
from contextlib import AbstractContextManager, ExitStack
from decimal import ROUND_DOWN
from decimal import Decimal as D
from functools import partial
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from exitd.actors.messages import Woken
from exitd.daemon import Daemon
from exitd.engine import Leg, OrderSide
from exitd.exchange.sim.ledger import LedgerOrder
from exitd.exchange.sim.server import SimExchange
from exitd.ops.config import parse_config
from tests.exchange.sim.server_harness import Client, running
from tests.integration.harness import ENVIRON, WAIT_S, Live, config_text, daemon_running
from tests.integration.ledger_checks import assert_stops_never_loosen, leg_of_id, own_orders

SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = {"BTCUSDT": D("40000"), "ETHUSDT": D("2000")}
TICK = {"BTCUSDT": D("0.1"), "ETHUSDT": D("0.01")}
STEP = D("0.001")
# Position sizes, a few per symbol, odd enough that the targets' fractions round.
SIZES = {"BTCUSDT": ("0.013", "0.05", "0.2"), "ETHUSDT": ("0.7", "1.5", "4.003")}
# Price steps in %: across breakeven (0.8), the targets (1, 2), the trail (1.5) and the
# HARD_SL (2), both ways; prices stay within ±8 % of the start (PERCENT_PRICE allows 10 %).
MOVES = (D("-2.5"), D("-1.6"), D("-0.9"), D("-0.4"), D("0.4"), D("0.9"), D("1.6"), D("2.5"))
BAND = D("0.08")
# Just past the default profile's levels, in % from the entry: breakeven's trigger, TP1, the
# trail's activation, TP2, and back through breakeven's stop and the HARD_SL.
LEVELS = (D("0.85"), D("1.05"), D("1.55"), D("2.05"), D("2.6"), D("0.05"), D("-0.5"), D("-2.1"))
CRASHES_PER_RUN = 2  # the supervisor gives up after 3 within 5 s: a crash loop is not the test's
# An example packs minutes of account reads (weight 85 each: at every start, restart,
# reconciliation and new position) into seconds. Past 80 % of Binance's 2400 a minute the
# daemon sends only protective writes (RateBudget), so a target's cancel would wait out the
# minute: the rules that read stop at half of it.
WEIGHT_SHARE = 0.5
# What `two_things_at_once` may do, back to back.
ACTIONS = ("open", "close", "price", "reconcile", "crash", "restart")


# The portal into the test's event loop, for the machine's thread.
PORTAL: list[BlockingPortal] = []


def on_tick(symbol: str, price: D) -> D:
    tick = TICK[symbol]
    return (price / tick).to_integral_value() * tick


def on_step(qty: D) -> D:
    return qty.quantize(STEP, rounding=ROUND_DOWN)


def closing_side(amount: D) -> OrderSide:
    return OrderSide.SELL if amount > 0 else OrderSide.BUY


def is_exitd(client_order_id: str) -> bool:
    """The exit brain's or the safety net's (every id exitd places starts so)."""
    return client_order_id.startswith("xd.")


class DaemonMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._exit = ExitStack()
        self.folder = Path(tempfile.mkdtemp(prefix="exitd-"))  # a unix socket's short path
        self._exit.callback(shutil.rmtree, self.folder, ignore_errors=True)
        self.portal = PORTAL[0]
        self.sim: SimExchange
        self.client: Client
        self.sim, self.client = self._exit.enter_context(
            self.portal.wrap_async_context_manager(running())
        )
        self.prices = dict(START)
        self._daemon: AbstractContextManager[Daemon] | None = None
        self.live = self._start_daemon()
        for symbol, price in self.prices.items():
            self.portal.call(self.live.price, symbol, price)
        self.crashes = 0
        self.foreign: dict[str, list[str]] = {s: [] for s in SYMBOLS}  # ids of others' orders
        self.foreign_count = 0
        # Per symbol, how many of its own ledger orders came before the position's current
        # adoption: "never loosen" holds within one adoption (SPEC-exits.md).
        self.lifetime_from = dict.fromkeys(SYMBOLS, 0)
        self.steps: list[str] = []

    # --- the daemon -------------------------------------------------------------------------

    def _start_daemon(self) -> Live:
        text = config_text(self.sim, socket_path=self.folder / "control.sock")
        config = parse_config(text, "test.toml", ENVIRON, base_dir=self.folder)
        self._daemon = self.portal.wrap_async_context_manager(daemon_running(config))
        daemon = self._daemon.__enter__()
        return Live(self.sim, self.client, daemon, self.folder / "state")

    def _stop_daemon(self) -> None:
        if self._daemon is not None:
            daemon, self._daemon = self._daemon, None
            daemon.__exit__(None, None, None)

    def teardown(self) -> None:
        try:
            self._stop_daemon()
        finally:
            self._exit.close()

    def _settle(self) -> None:
        for symbol in SYMBOLS:
            try:
                self.portal.call(self.live.settle, symbol, WAIT_S)
            except TimeoutError:
                raise AssertionError(
                    f"{symbol}: the daemon never agreed with the simulator after "
                    f"{self.steps}: {self._describe(symbol)}"
                ) from None

    def _describe(self, symbol: str) -> str:
        account = self.sim.account
        actor = self.live.daemon.account.actors.get(symbol)
        state = None if actor is None else actor.state
        orders = (
            [] if state is None else [(o.intent.client_order_id, o.status) for o in state.orders]
        )
        return (
            f"position {account.position(symbol).amount}"
            f", resting {sorted(self.live.resting(symbol))}"
            f", engine qty {None if state is None else state.qty} orders {orders}"
            f", inflight {self.live.daemon.gateway.inflight(symbol)}"
        )

    def _did(self, step: str) -> None:
        self.steps.append(step)
        self._settle()

    def _position(self, symbol: str) -> D:
        return self.sim.account.position(symbol).amount

    def _reads_allowed(self) -> bool:
        """Whether the request weight used this minute leaves room for more account reads."""
        return self.portal.call(self._weight_share) < WEIGHT_SHARE

    def _weight_share(self) -> float:
        limiter = self.sim.limiter
        now = self.sim.clock()
        used = max((s.weight.current(now) for s in limiter._ips.values()), default=0)
        return used / limiter.limits.weight_per_minute

    def _new_lifetime(self, symbol: str) -> None:
        self.lifetime_from[symbol] = len(own_orders(self.sim.account.ledger, symbol))

    # --- rules ------------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(("LONG", "SHORT")),
        size=st.integers(0, 2),
    )
    def entry_bot_trades(self, symbol: str, side: str, size: int) -> None:
        """A new position, an add, a reduce or a flip: an entry bot's MARKET order."""
        if not self._reads_allowed():
            return
        if self._adopts_anew(symbol, side, size):
            self._new_lifetime(symbol)  # the daemon is at rest: what follows is the new one's
        self._did(self._open(symbol, side, size))

    def _adopts_anew(self, symbol: str, side: str, size: int) -> bool:
        """Whether the trade opens, adds to (a re-adoption) or flips the position."""
        signed = D(SIZES[symbol][size]) * (1 if side == "LONG" else -1)
        before = self._position(symbol)
        return before == 0 or before * signed > 0 or before * (before + signed) < 0

    def _open(self, symbol: str, side: str, size: int) -> str:
        if not self._reads_allowed():  # its new actor reads the account
            return f"no open on {symbol}: the weight is spent"
        qty = SIZES[symbol][size]
        price = str(self.prices[symbol])
        self.portal.call(self.live.open, symbol, side, qty, price)
        return f"open {symbol} {side} {qty} at {price}"

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.sampled_from(MOVES))
    def price_moves(self, symbol: str, move: D) -> None:
        self._did(self._move_to(symbol, self.prices[symbol] * (1 + move / 100)))

    def _move_to(self, symbol: str, wanted: D) -> str:
        start = START[symbol]
        price = on_tick(symbol, min(max(wanted, start * (1 - BAND)), start * (1 + BAND)))
        self.prices[symbol] = price
        self.portal.call(self.live.price, symbol, price)
        return f"price {symbol} {price}"

    # What a rule draws never depends on the simulator's state (a rule with nothing to act on
    # does nothing): the daemon's timing varies between runs, and Hypothesis must be able to
    # replay a failing sequence.

    @rule(symbol=st.sampled_from(SYMBOLS), level=st.sampled_from(LEVELS))
    def price_crosses_a_level_of_the_plan(self, symbol: str, level: D) -> None:
        """Just past a level of the position's plan (in its favour when positive)."""
        position = self.sim.account.position(symbol)
        if position.amount == 0:
            return
        sign = 1 if position.amount > 0 else -1
        self._did(self._move_to(symbol, position.entry_price * (1 + sign * level / 100)))

    @rule(symbol=st.sampled_from(SYMBOLS))
    def someone_closes_at_market(self, symbol: str) -> None:
        """A reduce-only MARKET for the whole position (Binance lets it past resting targets)."""
        self._did(self._close(symbol))

    def _close(self, symbol: str) -> str:
        amount = self._position(symbol)
        if amount == 0:
            return f"nothing to close on {symbol}"
        self.foreign_count += 1
        params = {
            "symbol": symbol,
            "side": closing_side(amount).value,
            "type": "MARKET",
            "quantity": str(abs(amount)),
            "reduceOnly": "true",
            "newClientOrderId": f"other-close-{self.foreign_count}",
        }
        answer = self.portal.call(self.client.call, "POST", "/fapi/v1/order", params)
        assert answer.status == 200, answer.body
        return f"close {symbol} at market"

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        first=st.sampled_from(ACTIONS),
        second=st.sampled_from(ACTIONS),
        side=st.sampled_from(("LONG", "SHORT")),
        size=st.integers(0, 2),
        move=st.sampled_from(MOVES),
    )
    def two_things_at_once(
        self, *, symbol: str, first: str, second: str, side: str, size: int, move: D
    ) -> None:
        """Two events on one symbol with no wait between them: the daemon sees the second
        (or reconciles, crashes, is killed) while it still acts on the first (the bug of the
        cached read was such a pair)."""
        done = []
        reads: list[Future[None]] = []
        adopted = False
        for action in (first, second):
            if action == "open":
                adopted = adopted or self._adopts_anew(symbol, side, size)
                done.append(self._open(symbol, side, size))
            elif action == "close":
                done.append(self._close(symbol))
            elif action == "reconcile" and not self._reads_allowed():
                done.append("no reconcile: the weight is spent")
            elif action == "reconcile":  # under way while the next thing happens
                reads.append(self.portal.start_task_soon(self.live.daemon.account.reconcile))
                done.append("reconcile")
            elif action == "crash":
                done.append(self._crash(symbol))
            elif action == "restart":
                for read in reads:  # a read of the daemon about to die must not outlive it
                    read.result(WAIT_S)
                reads.clear()
                done.append(self._restart())
            else:
                done.append(self._move_to(symbol, self.prices[symbol] * (1 + move / 100)))
        for read in reads:
            read.result(WAIT_S)
        self._did(" + ".join(done))
        if adopted:
            # Which orders the old adoption placed while the new one began is a race: the
            # new lifetime is judged from the first order placed at rest.
            self._new_lifetime(symbol)

    @rule(symbol=st.sampled_from(SYMBOLS), fraction=st.sampled_from((D("0.1"), D("0.25"))))
    def someone_rests_a_reduce_only_limit(self, symbol: str, fraction: D) -> None:
        """Another bot's GTC reduce-only target, 3 % away on the profit side."""
        amount = self._position(symbol)
        if amount == 0:
            return
        side = closing_side(amount)
        away = D("1.03") if amount > 0 else D("0.97")
        self.foreign_count += 1
        cid = f"other-tp-{self.foreign_count}"
        params = {
            "symbol": symbol,
            "side": side.value,
            "type": "LIMIT",
            "quantity": str(max(on_step(abs(amount) * fraction), STEP)),
            "price": str(on_tick(symbol, self.prices[symbol] * away)),
            "timeInForce": "GTC",
            "reduceOnly": "true",
            "newClientOrderId": cid,
        }
        answer = self.portal.call(self.client.call, "POST", "/fapi/v1/order", params)
        if answer.status == 200:  # else refused by the reduce-only rule beside the targets
            self.foreign[symbol].append(cid)
        self._did(f"foreign limit {cid} {symbol} {params['side']} {params['quantity']}")

    @rule(symbol=st.sampled_from(SYMBOLS), which=st.integers(0, 3))
    def someone_cancels_their_order(self, symbol: str, which: int) -> None:
        resting = self._resting_foreign(symbol)
        if not resting:
            return
        cid = resting[which % len(resting)]
        params = {"symbol": symbol, "origClientOrderId": cid}
        answer = self.portal.call(self.client.call, "DELETE", "/fapi/v1/order", params)
        assert answer.status == 200, answer.body
        self._did(f"cancel {cid}")

    def _resting_foreign(self, symbol: str) -> list[str]:
        ids = {o.client_order_id for o in self.sim.account.open_orders(symbol)}
        return [cid for cid in self.foreign[symbol] if cid in ids]

    @rule()
    def reconciliation_runs(self) -> None:
        if not self._reads_allowed():
            return
        self.portal.call(self.live.daemon.account.reconcile)
        self._did("reconcile")

    @rule(symbol=st.sampled_from(SYMBOLS))
    def a_symbol_actor_crashes(self, symbol: str) -> None:
        self._did(self._crash(symbol))

    def _crash(self, symbol: str) -> str:
        daemon = self.live.daemon
        actor = daemon.account.actors.get(symbol)
        if actor is None or f"symbol:{symbol}" not in daemon.supervisor:
            return f"no actor of {symbol} to crash"
        if self.crashes >= CRASHES_PER_RUN or not self._reads_allowed():
            return f"no more crashes of {symbol}"
        self.crashes += 1
        started_at = actor.started_at
        assert actor.mailbox.post(Woken(RuntimeError("a crash the test caused")))
        self.portal.call(self._restarted, symbol, started_at)
        return f"crash {symbol}"

    async def _restarted(self, symbol: str, started_at: float | None) -> None:
        """Until the supervisor has started the crashed actor again (or it ended)."""
        daemon = self.live.daemon
        actor = daemon.account.actors[symbol]
        with anyio.fail_after(WAIT_S):
            while f"symbol:{symbol}" in daemon.supervisor and actor.started_at == started_at:
                await daemon.activity.wait()

    @rule()
    def the_daemon_restarts(self) -> None:
        """Killed abruptly and started again on the same state_dir and simulator."""
        self._did(self._restart())

    def _restart(self) -> str:
        if not self._reads_allowed():
            return "no restart: the weight is spent"
        self._stop_daemon()
        self.live = self._start_daemon()
        self.crashes = 0
        return "restart"

    # --- invariants -------------------------------------------------------------------------

    # Each judged on the loop's thread, so the daemon does not move while it is judged.

    @invariant()
    def an_open_position_has_one_hard_stop_and_a_flat_one_no_exit_orders(self) -> None:
        self.portal.call(self._protected)

    def _protected(self) -> None:
        for symbol in SYMBOLS:
            amount = self._position(symbol)
            algos = self.sim.account.open_algo_orders(symbol)
            regular = self.sim.account.open_orders(symbol)
            if amount == 0:
                left = [
                    o.client_order_id for o in [*algos, *regular] if is_exitd(o.client_order_id)
                ]
                assert not left, f"{symbol} flat with exit orders {left} after {self.steps}"
                continue
            hard = [o for o in algos if leg_of_id(o.client_order_id) == Leg.HARD_SL.value]
            assert len(hard) == 1, f"{symbol} {amount}: HARD_SL {hard} after {self.steps}"
            (stop,) = hard
            assert stop.close_position and stop.side is closing_side(amount), stop
            mark = self.sim.mark_price(symbol)
            assert mark is not None and stop.trigger_price is not None
            assert (mark - stop.trigger_price) * amount > 0, f"{stop} beyond the mark {mark}"

    @invariant()
    def the_ledger_keeps_the_reliability_invariants(self) -> None:
        self.portal.call(self._ledger_holds)

    def _ledger_holds(self) -> None:
        ledger = self.sim.account.ledger
        for symbol in SYMBOLS:
            orders = own_orders(ledger, symbol)
            accepted = [o.client_order_id for o in orders if o.refusal is None]
            assert len(accepted) == len(set(accepted)), (
                f"a client id created twice (I5): {accepted}"
            )
            for order in orders:
                assert order.reduce_only or order.close_position, f"not reduce-only (I1): {order}"
            lifetime: list[LedgerOrder] = orders[self.lifetime_from[symbol] :]
            assert_stops_never_loosen(lifetime)

    @invariant()
    def the_daemon_agrees_with_the_simulator(self) -> None:
        """At rest, within `WAIT_S` (RELIABILITY.md Q4): `Live.settle` fails otherwise."""
        self._settle()


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_daemon_keeps_every_position_protected_whatever_happens() -> None:
    """The machine runs in a worker thread; the simulator and the daemon on this loop in the
    main thread (the daemon listens for signals, which only the main thread may)."""
    async with BlockingPortal() as portal:
        PORTAL[:] = [portal]
        try:
            run = partial(run_state_machine_as_test, DaemonMachine, settings=SETTINGS)
            await anyio.to_thread.run_sync(run)
        finally:
            PORTAL.clear()
