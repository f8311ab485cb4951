"""The fast replay gives the tick-by-tick loop's result, fill for fill, on random paths and plans.

Examples per run: EXITD_REPLAY_EXAMPLES (default 300, enough for CI's time); set it to a few
thousand for a thorough check: `EXITD_REPLAY_EXAMPLES=5000 pytest tests/replay/test_fast_replay.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from exitd.engine import (
    BreakevenSpec,
    ExitPlan,
    ExitProfile,
    ExitState,
    PlanRefused,
    Position,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    TrailMode,
    TrailSpec,
    build_plan,
    profile_problems,
)
from exitd.engine.state import NEVER_MS
from exitd.replay.columns import PriceColumns, columns_of
from exitd.replay.fast import ReplayResult, replay_fills
from exitd.replay.hybrid import run_hybrid
from exitd.replay.quiet import quiet_band
from exitd.replay.runner import ExitFill, Replay

EXAMPLES = int(os.environ.get("EXITD_REPLAY_EXAMPLES", "300"))
D = Decimal


@st.composite
def paths(draw: st.DrawFn) -> list[Tick]:
    """A random walk on a 0.1 grid, mostly small steps and repeats (quiet-heavy, as real
    trades are), sometimes a gap; times with equal, close and far neighbours; prices written
    with one or two decimals, so the columns keep per-row exponents."""
    length = draw(st.integers(2, 400))
    # Mostly repeats and one-tick steps, now and then a jump through several legs at once.
    moves = [0] * 8 + [1, -1] * 4 + [2, -2, 3, -3, 12, -12, 60, -60]
    steps = draw(st.lists(st.sampled_from(moves), min_size=length, max_size=length))
    gaps = draw(
        st.lists(
            st.sampled_from([0, 1000, 1000, 2000, 1, 250, 7000, 40_000]),
            min_size=length,
            max_size=length,
        )
    )
    two_places = draw(st.lists(st.booleans(), min_size=length, max_size=length))
    ticks, level, time_ms = [], 1000, 1_700_000_000_000
    for step, gap, places in zip(steps, gaps, two_places, strict=True):
        level = max(level + step, 1)
        time_ms += gap
        price = D(level).scaleb(-1)
        ticks.append(Tick(time_ms, price.quantize(D("0.01")) if places else price))
    return ticks


PCTS = ["0.02", "0.05", "0.1", "0.2", "0.4", "0.8", "1.5", "3"]


@st.composite
def profiles(draw: st.DrawFn) -> ExitProfile:
    tp_pcts = sorted(set(draw(st.lists(st.sampled_from(PCTS), max_size=3))), key=D)
    fractions = [draw(st.sampled_from(["0.01", "0.1", "0.25", "0.3"])) for _ in tp_pcts]
    take_profits = tuple(
        TakeProfitSpec(D(p), D(f)) for p, f in zip(tp_pcts, fractions, strict=True)
    )
    breakeven = None
    if draw(st.booleans()):
        by_tp = take_profits and draw(st.booleans())
        breakeven = BreakevenSpec(
            offset_pct=D(draw(st.sampled_from(["0", "0.01", "0.03"]))),
            trigger_pct=None if by_tp else D(draw(st.sampled_from(PCTS[1:6]))),
            after_tp=draw(st.integers(1, len(take_profits))) if by_tp else None,
        )
    trail = None
    if draw(st.booleans()):
        mode = draw(st.sampled_from(TrailMode))
        exchange = mode is TrailMode.EXCHANGE
        by_tp = take_profits and draw(st.booleans())
        callbacks = ["0.1", "0.2", "0.5", "1"] if exchange else ["0.03", "0.1", "0.25", "1"]
        trail = TrailSpec(
            callback_pct=D(draw(st.sampled_from(callbacks))),
            activation_pct=None if by_tp else D(draw(st.sampled_from(["0", *PCTS[:5]]))),
            after_tp=draw(st.integers(1, len(take_profits))) if by_tp else None,
            min_step_pct=D(draw(st.sampled_from(["0", "0", "0.01", "0.05", "0.3"]))),
            mode=mode,
        )
    time_limit = draw(st.one_of(st.none(), st.integers(1, 400)))
    profile = ExitProfile(
        hard_sl_pct=D(draw(st.sampled_from(["0.05", "0.2", "0.5", "1", "2.5"]))),
        take_profits=take_profits,
        breakeven=breakeven,
        trail=trail,
        time_limit_s=time_limit,
    )
    assume(not profile_problems(profile))
    return profile


@dataclass(frozen=True)
class Case:
    """A plan entered at tick `start` of `path`."""

    path: list[Tick]
    plan: ExitPlan
    start: int
    slippage: Decimal


@st.composite
def cases(draw: st.DrawFn) -> Case:
    path = draw(paths())
    start = int(draw(st.floats(0, 0.5)) * (len(path) - 1))
    entry = path[start]
    filters = SymbolFilters(
        D(draw(st.sampled_from(["0.1", "0.1", "0.01", "0.5"]))),
        D("0.001"),
        D(draw(st.sampled_from(["0.001", "0.001", "0.05"]))),  # 0.05: small take-profits merge
        D(draw(st.sampled_from(["0", "0", "20"]))),
    )
    qty = D(draw(st.sampled_from(["1", "0.1", "0.007", "3"])))
    position = Position("BTCUSDT", draw(st.sampled_from(Side)), qty, entry.price)
    try:
        plan = build_plan(position, filters, draw(profiles()), entry.price)
    except PlanRefused:
        assume(False)
        raise
    return Case(path, plan, start, D(draw(st.sampled_from(["0", "0", "0.05"]))))


def outcome_of(result: ReplayResult) -> tuple[object, ...]:
    """Everything a replay reports, prices by their exact text (exponent included)."""
    fills = [(f.time_ms, f.leg, str(f.price), str(f.qty), str(f.pnl)) for f in result.fills]
    last = result.outcome.last_tick
    return (
        fills,
        result.outcome.ticks,
        last.time_ms,
        str(last.price),
        result.outcome.state,
        result.notices,
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=cases())
def test_fast_replay_equals_the_tick_loop(case: Case) -> None:
    path, plan, start, slippage = case.path, case.plan, case.start, case.slippage
    columns = columns_of(path)
    assert [str(t.price) for t in columns.ticks()] == [str(t.price) for t in path]

    fast = replay_fills(columns, plan, start, slippage_pct=slippage)
    exact = replay_fills(columns, plan, start, slippage_pct=slippage, exact_loop=True)
    assert outcome_of(fast) == outcome_of(exact)
    for fill in fast.fills:  # what the examples cover: --hypothesis-show-statistics
        event(f"exit by {fill.leg}")

    # The exact loop over columns is the plain loop over the ticks themselves.
    plain = Replay(plan, slippage)
    plain_fills = tuple(plain.run(path[start], path[start + 1 :]))
    assert plain.outcome is not None
    assert outcome_of(ReplayResult(plain_fills, plain.outcome, tuple(plain.notices))) == (
        outcome_of(exact)
    )


class LoadedAfter:
    """Columns that turn up at the replay's `after`-th look: the loader thread, timed."""

    def __init__(self, columns: PriceColumns, after: int) -> None:
        self.columns, self.after, self.looks, self.cancelled = columns, after, 0, False

    def ready(self) -> PriceColumns | None:
        self.looks += 1
        return self.columns if self.looks > self.after else None

    def cancel(self) -> None:
        self.cancelled = True


@settings(
    max_examples=max(EXAMPLES // 3, 50),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=cases(), after=st.integers(0, 40), every=st.integers(1, 5))
def test_the_switch_to_the_fast_path_may_fall_on_any_tick(
    case: Case, after: int, every: int
) -> None:
    path, plan, start, slippage = case.path, case.plan, case.start, case.slippage
    columns = columns_of(path)
    source = LoadedAfter(columns, after)
    replay = Replay(plan, slippage)
    fills = tuple(
        run_hybrid(replay, path[start], start, path[start + 1 :], source, check_every=every)
    )
    assert replay.outcome is not None
    exact = replay_fills(columns, plan, start, slippage_pct=slippage, exact_loop=True)
    hybrid = ReplayResult(fills, replay.outcome, tuple(replay.notices))
    assert outcome_of(hybrid) == outcome_of(exact)
    assert source.cancelled  # the loader is told to stop, whichever path finished


def book_of(replay: Replay) -> str:
    """Everything the simulator's matching holds for the replay, as text to compare."""
    market = replay.market
    return repr(
        (market.position, sorted(market.conditionals.items()), sorted(market.orders.items()))
    )


@settings(
    max_examples=max(EXAMPLES // 3, 50),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(case=cases(), at=st.floats(0, 1))
def test_the_edges_of_the_quiet_band_are_quiet(case: Case, at: float) -> None:
    """A tick at either edge of the band, at the last moment before its deadline, changes
    neither the engine's state nor the book: the band never calls a loud tick quiet, even
    where the plan's other legs happen to cover the same edge."""
    path, plan, start = case.path, case.plan, case.start
    scale = columns_of(path).scale

    def replayed(upto: int) -> tuple[Replay, ExitState]:
        replay = Replay(plan, case.slippage)
        state = replay.enter(path[start], [])
        for tick in path[start + 1 : upto + 1]:
            state = replay.step(state, tick, [])
        return replay, state

    # The ticks after which the fast replay would skip: a band, a deadline still ahead.
    replay, state = replayed(start)
    skipping = []
    for index in range(start, len(path)):
        if index > start:
            state = replay.step(state, path[index], [])
        if state.done:
            break
        band = quiet_band(state, replay.market, scale)
        if band is not None and band.deadline_ms > path[index].time_ms:
            skipping.append(index)
    assume(skipping)
    upto = skipping[int(at * (len(skipping) - 1))]
    replay, state = replayed(upto)
    band = quiet_band(state, replay.market, scale)
    assert band is not None
    time_ms = path[upto].time_ms if band.deadline_ms == NEVER_MS else band.deadline_ms - 1
    for edge in {band.low, min(band.high, band.low + 10**6)}:
        replay, state = replayed(upto)
        book = book_of(replay)
        fills: list[ExitFill] = []
        after = replay.step(state, Tick(time_ms, D(edge).scaleb(-scale)), fills)
        assert after is state
        assert fills == []
        assert book_of(replay) == book
