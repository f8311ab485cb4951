"""`exitd replay` over every real price file in the fixtures: it runs, and its output adds up."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from exitd.cli import main
from tests.conftest import MARKET

LEGS = {"HARD_SL", "WORKING_STOP", "TRAILING_STOP", "TIME"}


@pytest.mark.parametrize("name", sorted(p.name for p in MARKET.glob("*.csv")))
@pytest.mark.parametrize("side", ["long", "short"])
def test_replay_of_a_real_file_accounts_for_every_unit(
    capsys: pytest.CaptureFixture[str], name: str, side: str
) -> None:
    code = main(
        [
            "replay",
            str(MARKET / name),
            "--side",
            side,
            "--qty",
            "1",
            "--json",
            "--hard-sl-pct",
            "0.3",
            "--tp",
            "0.02:0.25",
            "--tp",
            "0.05:0.25",
            "--be-trigger",
            "0.03",
            "--be-offset",
            "0.01",
            "--trail-activation",
            "0.06",
            "--trail-callback",
            "0.03",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [orjson.loads(line) for line in out.splitlines()]
    fills, summary = lines[:-1], lines[-1]["summary"]
    closed = sum(Decimal(f["qty"]) for f in fills)
    assert closed == Decimal(summary["closed_qty"])
    assert closed + Decimal(summary["open_qty"]) == Decimal(summary["qty"])
    assert [f["time_ms"] for f in fills] == sorted(f["time_ms"] for f in fills)
    for f in fills:
        assert f["leg"] in LEGS or f["leg"] in {"TP1", "TP2"}, f
    tp_prices = [Decimal(f["price"]) for f in fills if f["leg"].startswith("TP")]
    entry = Decimal(summary["entry_price"])
    sign = 1 if side == "long" else -1
    assert all(sign * (p - entry) > 0 for p in tp_prices)  # take-profits fill in profit
