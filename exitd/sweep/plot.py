"""`exitd sweep --plot FILE`: where the good plans are, and how the best one earned.

A heatmap of the ranking metric for each pair of the (up to three) parameters that move it
most, averaged over the other parameters, with the best plan's cell marked; then the best
plan's equity curve. matplotlib is optional (`exitd[plot]`) and loads only here; figures are
converted to float only to be drawn.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exitd.sweep.aggregate import PlanRow, equity_curve, influence, surface
from exitd.sweep.cell import Trade
from exitd.sweep.space import Axis, tidy

_MOST = 3  # parameters pictured: three make three pairs, more would not read


class PlotUnavailable(Exception):
    """matplotlib is not installed."""


def pyplot() -> Any:
    """matplotlib's pyplot on a file backend, or a clear message that it is missing."""
    try:
        import matplotlib  # noqa: PLC0415  (optional: exitd[plot])

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib: pip install 'exitd[plot]'") from None
    return plt


def draw(
    path: Path,
    *,
    rows: Sequence[PlanRow],
    axes: Sequence[Axis],
    metric: str,
    best_trades: Sequence[Trade],
    quote: str,
) -> None:
    """Write the picture of a ranked sweep (`rows[0]` is the best plan) to `path`."""
    plt = pyplot()
    varied = [axis for axis in axes if len(axis.values) > 1]
    names = influence(rows, varied, metric)[:_MOST]
    pairs = list(itertools.combinations(names, 2))
    panels = len(pairs) + 1
    cols = min(panels, 2)
    lines = math.ceil(panels / cols)
    figure, grid = plt.subplots(lines, cols, figsize=(6 * cols, 4.6 * lines), squeeze=False)
    places = [ax for line in grid for ax in line]
    best = rows[0]
    for ax, (first, second) in zip(places, pairs, strict=False):
        _heatmap(ax, rows=rows, axes=varied, pair=(first, second), metric=metric, best=best)
    _equity(places[len(pairs)], best, best_trades, quote)
    for spare in places[panels:]:
        spare.set_visible(False)
    if not pairs:
        figure.suptitle("one parameter swept: no surface to draw", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _heatmap(
    ax: Any,
    *,
    rows: Sequence[PlanRow],
    axes: Sequence[Axis],
    pair: tuple[str, str],
    metric: str,
    best: PlanRow,
) -> None:
    from matplotlib.patches import Rectangle  # noqa: PLC0415  (loaded by pyplot() already)

    first, second = pair
    by_name = {axis.name: axis for axis in axes}
    xs, ys = by_name[first].values, by_name[second].values
    means = surface(rows, axes, first, second, metric)
    cells = [[float(means[(x, y)]) if (x, y) in means else float("nan") for x in xs] for y in ys]
    image = ax.imshow(cells, origin="lower", aspect="auto", cmap="RdYlGn")
    ax.figure.colorbar(image, ax=ax, label=f"mean {metric}")
    ax.set_xticks(range(len(xs)), [tidy(x) for x in xs], rotation=45)
    ax.set_yticks(range(len(ys)), [tidy(y) for y in ys])
    ax.set_xlabel(first)
    ax.set_ylabel(second)
    params = dict(best.params)
    bx, by = xs.index(params[first]), ys.index(params[second])
    ax.add_patch(
        Rectangle((bx - 0.5, by - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2.5)
    )
    for j, row in enumerate(cells):
        for i, value in enumerate(row):
            if not math.isnan(value):  # a pair no plan reached stays blank
                weight = "bold" if (i, j) == (bx, by) else "normal"
                ax.text(i, j, f"{value:.2f}", ha="center", va="center", fontsize=8, weight=weight)
    ax.set_title(f"mean {metric}: {first} × {second}\n(boxed: the best plan)", fontsize=9)


def _equity(ax: Any, best: PlanRow, trades: Sequence[Trade], quote: str) -> None:
    # By trade number, not by date: the paths of a sweep may lie months apart.
    curve = equity_curve(trades)
    totals = [0.0, *(float(total) for _, total in curve)]
    ax.plot(range(len(totals)), totals, marker="o", markersize=3, color="tab:blue")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("trades, in the order they closed")
    ax.set_ylabel(f"cumulative P&L ({quote})")
    label = "\n".join(f"{name} = {tidy(value)}" for name, value in best.params)
    ax.set_title(f"equity curve of the best plan ({best.trades} trades)", fontsize=9)
    ax.legend([label], loc="best", fontsize=8, handlelength=0, handletextpad=0)
