"""Live = replay: the daemon on the simulator, fed a real price path one tick at a time (settled
after each), gives the same exits as `exitd replay`'s loop on the same path and plan: the same
leg, on the same tick, at the same price, for the same quantity.

Three real paths (the bundled BTCUSDT trades of 2024-07-19, ETHUSDT of the same day, BTCUSDT of
2021-01-08), four plan shapes scaled to each path's range, long and short.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal as D
from itertools import groupby
from pathlib import Path

import pytest

from exitd.engine import (
    BreakevenSpec,
    ExitProfile,
    Position,
    Side,
    SymbolFilters,
    TakeProfitSpec,
    Tick,
    TrailSpec,
    build_plan,
)
from exitd.engine.rounding import round_price
from exitd.ops.config import parse_config
from exitd.price_files import open_price_file
from exitd.replay.runner import Replay
from tests.exchange.sim.server_harness import running
from tests.integration.harness import ENVIRON, Live, config_text, daemon_running
from tests.integration.ledger_checks import assert_invariants, leg_of_id

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "market"
TICKS = 160

PATHS = {
    "btc-2024": ("BTCUSDT", ROOT / "exitd" / "data" / "btcusdt-um-trades-2024-07-18_19.csv", "0.5"),
    "eth-2024": ("ETHUSDT", FIXTURES / "ethusdt-um-trades-2024-07-18_19.csv", "5"),
    "btc-2021": ("BTCUSDT", FIXTURES / "BTCUSDT-trades-2021-01-08-first2001.csv", "0.5"),
}


def _pct(excursion_pct: D, share: str) -> D:
    return max((excursion_pct * D(share)).quantize(D("0.0001")), D("0.0001"))


# Each shape takes the path's best favourable and worst adverse excursion (in percent) for the
# side it protects, so every leg it has can be reached on the path.


def stops_and_targets(fav: D, adv: D) -> ExitProfile:
    return ExitProfile(
        hard_sl_pct=_pct(adv, "0.8"),
        take_profits=(
            TakeProfitSpec(_pct(fav, "0.3"), D("0.4")),
            TakeProfitSpec(_pct(fav, "0.6"), D("0.3")),
        ),
    )


def breakeven_and_trail(fav: D, adv: D) -> ExitProfile:
    return ExitProfile(
        hard_sl_pct=_pct(adv, "1.1"),
        breakeven=BreakevenSpec(offset_pct=_pct(fav, "0.05"), trigger_pct=_pct(fav, "0.3")),
        trail=TrailSpec(callback_pct=_pct(fav, "0.15"), activation_pct=_pct(fav, "0.4")),
    )


def legs_after_targets(fav: D, adv: D) -> ExitProfile:
    return ExitProfile(
        hard_sl_pct=_pct(adv, "1.1"),
        take_profits=(
            TakeProfitSpec(_pct(fav, "0.2"), D("0.3")),
            TakeProfitSpec(_pct(fav, "0.5"), D("0.3")),
        ),
        breakeven=BreakevenSpec(offset_pct=_pct(fav, "0.05"), after_tp=1),
        trail=TrailSpec(callback_pct=_pct(fav, "0.1"), after_tp=2, min_step_pct=D("0.001")),
    )


def tight_trail(fav: D, adv: D) -> ExitProfile:
    return ExitProfile(
        hard_sl_pct=_pct(adv, "0.5"),
        take_profits=(TakeProfitSpec(_pct(fav, "0.25"), D("0.5")),),
        trail=TrailSpec(callback_pct=_pct(fav + adv, "0.1"), activation_pct=D(0)),
    )


PLANS: dict[str, Callable[[D, D], ExitProfile]] = {
    "stops-and-targets": stops_and_targets,
    "breakeven-and-trail": breakeven_and_trail,
    "legs-after-targets": legs_after_targets,
    "tight-trail": tight_trail,
}

Exit = tuple[int, str, D, D]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def price_path(path: Path, tick_size: D, side: Side) -> list[D]:
    """`TICKS` of the file's prices on the symbol's grid, repeats folded (they change
    nothing), from the first stretch that goes both ways for `side`, so every leg can fire."""
    prices = (round_price(t.price, tick_size) for t in open_price_file(path))
    folded = [price for price, _ in groupby(prices)]
    best: tuple[D, list[D]] = (D(-1), folded[:TICKS])
    for start in range(0, max(len(folded) - TICKS, 1), 20):
        window = folded[start : start + TICKS]
        fav, adv = excursions(window, side)
        balance = min(fav, adv) / max(fav, adv, D("1e-9"))
        if balance >= D("0.35"):
            return window
        best = max(best, (balance, window), key=lambda b: b[0])
    return best[1]


def excursions(path: list[D], side: Side) -> tuple[D, D]:
    """The best favourable and the worst adverse move from the first price, in percent."""
    moves = [side.sign * (price - path[0]) * 100 / path[0] for price in path]
    return max(moves), -min(moves)


def replay_exits(
    profile: ExitProfile, side: Side, qty: D, *, symbol: str, filters: SymbolFilters, path: list[D]
) -> list[Exit]:
    plan = build_plan(Position(symbol, side, qty, path[0]), filters, profile, path[0])
    replay = Replay(plan)
    ticks = [Tick(i, price) for i, price in enumerate(path)]
    return [(f.time_ms, f.leg, f.price, f.qty) for f in replay.run(ticks[0], ticks[1:])]


async def live_exits(live: Live, symbol: str, side: Side, qty: str, path: list[D]) -> list[Exit]:
    ledger = live.sim.account.ledger
    await live.price(symbol, path[0])
    await live.open(symbol, side.name, qty, str(path[0]))
    await live.settle(symbol)
    seen = len(ledger.fills)
    exits: list[Exit] = []
    for index, price in enumerate(path[1:], start=1):
        await live.price(symbol, price)
        await live.settle(symbol)
        for fill in ledger.fills[seen:]:
            if fill.symbol == symbol and (leg := leg_of_id(fill.client_order_id)) is not None:
                exits.append((index, leg, fill.price, fill.qty))
        seen = len(ledger.fills)
        if live.sim.account.position(symbol).amount == 0:
            break
    assert_invariants(ledger, symbol)
    return exits


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT], ids=["long", "short"])
@pytest.mark.parametrize("plan_name", list(PLANS))
@pytest.mark.parametrize("path_name", list(PATHS))
async def test_live_gives_the_exits_replay_gives(
    tmp_path: Path, path_name: str, plan_name: str, side: Side
) -> None:
    symbol, path_file, qty = PATHS[path_name]
    async with running() as (sim, client):
        config = parse_config(config_text(sim), "test.toml", ENVIRON, base_dir=tmp_path)
        spec = sim.spec(symbol)
        filters = SymbolFilters(
            D(spec.tick_size), D(spec.step_size), D(spec.min_qty), D(spec.min_notional)
        )
        path = price_path(path_file, filters.tick_size, side)
        profile = PLANS[plan_name](*excursions(path, side))
        config = dataclasses.replace(config, profiles={"default": profile})
        expected = replay_exits(profile, side, D(qty), symbol=symbol, filters=filters, path=path)
        async with daemon_running(config) as daemon:
            live = Live(sim, client, daemon, tmp_path / "state")
            exits = await live_exits(live, symbol, side, qty, path)
    assert expected, "the plan should exit on this path, or the test proves nothing"
    assert exits == expected
