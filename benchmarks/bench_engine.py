"""Engine and replay throughput over a real price file.

Measures, in one run on one file:
- read:    a bare loop that only reads the file's prices (the floor any replay pays);
- quiet:   `decide` on ticks that change nothing (a long adopted at the file's high);
- trail:   `decide` on ticks that each move a daemon trail, plus the ack of every
           replacement (a make-before-break round: place, ack, cancel, ack);
- replay:  `exitd replay`'s loop end to end (file → matching → engine), on the same file.
Each figure is also given as a ratio to `read`, which holds across machines where an absolute
figure does not.

    python benchmarks/bench_engine.py [PRICE_FILE] [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from exitd.engine import (
    BreakevenSpec,
    CancelOrder,
    ExitProfile,
    OrderAccepted,
    OrderCancelled,
    PlaceOrder,
    Position,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    TrailSpec,
    adopt,
    build_plan,
    decide,
    decide_all,
)
from exitd.price_files import open_price_file
from exitd.replay import Replay

DEFAULT_FILE = (
    Path(__file__).resolve().parents[1]
    / "tests/fixtures/market/btcusdt-um-trades-2023-04-04_05.csv"
)
FILTERS = SymbolFilters(Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal(5))
PROFILE = ExitProfile(
    hard_sl_pct=Decimal("0.5"),
    take_profits=(
        TakeProfitSpec(Decimal("0.05"), Decimal("0.3")),
        TakeProfitSpec(Decimal("0.1"), Decimal("0.3")),
    ),
    breakeven=BreakevenSpec(offset_pct=Decimal("0.01"), trigger_pct=Decimal("0.03")),
    trail=TrailSpec(callback_pct=Decimal("0.02"), activation_pct=Decimal("0.04")),
)


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """The fastest of `repeat` runs (seconds) and the ticks one run handles."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        best = min(best, time.perf_counter() - start)
    return best, count


def read_prices(path: Path) -> int:
    count = 0
    for _ in open_price_file(path):
        count += 1
    return count


def quiet_ticks(ticks: list[Tick]) -> Callable[[], int]:
    high = max(t.price for t in ticks)
    plan = build_plan(Position("BTCUSDT", Side.LONG, Decimal(1), high), FILTERS, PROFILE, high)
    state = adopt(plan, Tick(ticks[0].time_ms, high)).state
    state = decide(state, Tick(ticks[0].time_ms, high)).state  # settle: the next tick is quiet

    def run() -> int:
        for tick in ticks:
            decision = decide(state, tick)
            assert not decision.requests
        return len(ticks)

    return run


def trailing_ticks(ticks: list[Tick]) -> Callable[[], int]:
    """A steady climb (the file's price range, stepped a tick at a time) under a live trail."""
    low = min(t.price for t in ticks)
    climb = [Tick(ticks[0].time_ms + i, low + FILTERS.tick_size * i) for i in range(len(ticks))]
    profile = ExitProfile(
        hard_sl_pct=Decimal(1),
        trail=TrailSpec(callback_pct=Decimal("0.01"), activation_pct=Decimal(0)),
    )
    plan = build_plan(Position("BTCUSDT", Side.LONG, Decimal(1), low), FILTERS, profile, low)
    start = adopt(plan, climb[0])

    def run() -> int:
        state = _acknowledge(start.state, start.requests, climb[0].time_ms)
        for tick in climb[1:]:
            decision = decide(state, tick)
            state = _acknowledge(decision.state, decision.requests, tick.time_ms)
        return len(climb)

    return run


def _acknowledge(state, requests, time_ms):  # type: ignore[no-untyped-def]
    while requests:
        answers = [
            OrderAccepted(r.intent.client_order_id, time_ms)
            if isinstance(r, PlaceOrder)
            else OrderCancelled(r.client_order_id, time_ms)
            for r in requests
            if isinstance(r, PlaceOrder | CancelOrder)
        ]
        decision = decide_all(state, answers)
        state, requests = decision.state, decision.requests
    return state


def replay_file(path: Path) -> Callable[[], int]:
    def run() -> int:
        ticks = iter(open_price_file(path))
        entry = next(ticks)
        plan = build_plan(
            Position("BTCUSDT", Side.LONG, Decimal(1), entry.price),
            FILTERS,
            ExitProfile(
                hard_sl_pct=Decimal(5), take_profits=(TakeProfitSpec(Decimal(5), Decimal("0.5")),)
            ),
            entry.price,
        )
        replay = Replay(plan)
        for _ in replay.run(entry, ticks):
            pass
        assert replay.outcome is not None
        return replay.outcome.ticks

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prices", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ticks = list(open_price_file(args.prices))
    read_s, read_n = best_of(args.repeat, lambda: read_prices(args.prices))
    floor = read_s / read_n
    print(f"file: {args.prices.name}, {read_n} ticks; best of {args.repeat} runs")
    print(f"{'measure':<8} {'ticks/s':>12} {'µs/tick':>9} {'× read':>8}")
    for name, run in (
        ("read", lambda: read_prices(args.prices)),
        ("quiet", quiet_ticks(ticks)),
        ("trail", trailing_ticks(ticks)),
        ("replay", replay_file(args.prices)),
    ):
        seconds, count = (read_s, read_n) if name == "read" else best_of(args.repeat, run)
        per_tick = seconds / count
        print(
            f"{name:<8} {count / seconds:>12,.0f} {per_tick * 1e6:>9.2f} {per_tick / floor:>8.2f}"
        )


if __name__ == "__main__":
    main()
