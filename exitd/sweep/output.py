"""How a sweep reads: a ranked table for people, CSV and Parquet for the next tool.

Computed figures are rounded to 8 places, as `exitd replay` prints money; parameters print
exactly as given. Parquet keeps them as decimals (decimal128), not floats, and needs pyarrow
(`exitd[research]`); without it the CSV is still written and the command says so.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from exitd.replay.report import money
from exitd.sweep.aggregate import PlanRow, leg_rank
from exitd.sweep.space import Value, tidy

_FIGURES = (
    "win_rate",
    "total_pnl",
    "mean_pnl",
    "total_r",
    "mean_r",
    "worst_pnl",
    "worst_r",
    "max_mae_pct",
    "mean_mae_pct",
)
_COUNTS = ("trades", "refused", "wins", "open_trades")
_PLACES = 8
_QUANTUM = Decimal(1).scaleb(-_PLACES)


class ParquetUnavailable(Exception):
    """pyarrow is not installed."""


def legs_of(rows: Sequence[PlanRow]) -> list[str]:
    return sorted({leg for row in rows for leg, _ in row.exits}, key=leg_rank)


def columns(rows: Sequence[PlanRow]) -> list[str]:
    params = [name for name, _ in rows[0].params] if rows else []
    legs = [f"exits_{leg}" for leg in legs_of(rows)]
    return ["rank", "plan", *params, *_COUNTS, *_FIGURES, *legs]


def records(rows: Sequence[PlanRow]) -> list[dict[str, Value | None]]:
    """Each ranked row as a flat record: rank, plan, parameters, counts, figures, exits."""
    legs = legs_of(rows)
    out: list[dict[str, Value | None]] = []
    for rank, row in enumerate(rows, 1):
        record: dict[str, Value | None] = {"rank": rank, "plan": row.plan_index}
        record.update(row.params)
        record.update({name: getattr(row, name) for name in _COUNTS})
        record.update({name: getattr(row, name) for name in _FIGURES})
        exits = dict(row.exits)
        record.update({f"exits_{leg}": exits.get(leg, 0) for leg in legs})
        out.append(record)
    return out


def write_csv(path: Path, rows: Sequence[PlanRow]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns(rows))
        for record in records(rows):
            writer.writerow(_text(value) for value in record.values())


def write_parquet(path: Path, rows: Sequence[PlanRow]) -> None:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415  (optional)
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError:
        raise ParquetUnavailable("Parquet needs pyarrow: pip install 'exitd[research]'") from None
    table_records = records(rows)
    arrays: dict[str, Any] = {}
    for name in columns(rows):
        values = [record[name] for record in table_records]
        arrays[name] = _arrow_column(pa, values, computed=name in _FIGURES)
    pq.write_table(pa.table(arrays), path)


def write_table(out: TextIO, rows: Sequence[PlanRow], quote: str, top: int) -> None:
    """The best `top` rows, aligned, one line each."""
    params = [name for name, _ in rows[0].params] if rows else []
    widths = [
        max(len(name), *(len(tidy(row.params[i][1])) for row in rows))
        for i, name in enumerate(params)
    ]
    head = [f"{'rank':>4}", *(f"{n:<{w}}" for n, w in zip(params, widths, strict=True))]
    head += [
        f"{'trades':>6}",
        f"{'win%':>6}",
        f"{'P&L ' + quote:>12}",
        f"{'mean':>10}",
        f"{'R':>8}",
        f"{'mean R':>7}",
        f"{'worst R':>7}",
        f"{'MAE%':>6}",
        "exits",
    ]
    out.write("  ".join(head) + "\n")
    for rank, row in enumerate(rows[:top], 1):
        cells = [f"{rank:>4}"]
        cells += [f"{tidy(v):<{w}}" for (_, v), w in zip(row.params, widths, strict=True)]
        cells += [
            f"{row.trades:>6}",
            f"{_fixed(row.win_rate, 100, '0.1'):>6}",
            f"{_fixed(row.total_pnl, 1, '0.01', sign=True):>12}",
            f"{_fixed(row.mean_pnl, 1, '0.01', sign=True):>10}",
            f"{_fixed(row.total_r, 1, '0.01', sign=True):>8}",
            f"{_fixed(row.mean_r, 1, '0.01', sign=True):>7}",
            f"{_fixed(row.worst_r, 1, '0.01', sign=True):>7}",
            f"{_fixed(row.max_mae_pct, 1, '0.001'):>6}",
            " ".join(f"{leg} {count}" for leg, count in row.exits) or "-",
        ]
        out.write("  ".join(cells) + "\n")
    if len(rows) > top:
        out.write(f"… {len(rows) - top} more plans in the CSV\n")


def _fixed(value: Decimal | None, scale: int, places: str, sign: bool = False) -> str:
    if value is None:
        return "-"
    number = (value * scale).quantize(Decimal(places))
    return f"{number:+f}" if sign else f"{number:f}"


def _text(value: Value | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return money(value)


def _arrow_column(pa: Any, values: list[Value | None], computed: bool) -> Any:
    """Whole numbers as int64; decimals as decimal128 at the column's own scale (8 for
    computed figures), so nothing passes through float."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, int) for v in present):
        return pa.array(values, type=pa.int64())
    if computed:
        scale = _PLACES
        quantum = _QUANTUM
    else:
        scale = max(_places(v) for v in present)
        quantum = Decimal(1).scaleb(-scale)
    exact = [None if v is None else Decimal(v).quantize(quantum) for v in values]
    return pa.array(exact, type=pa.decimal128(38, scale))


def _places(value: Value) -> int:
    if isinstance(value, int):
        return 0
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(-exponent, 0)
