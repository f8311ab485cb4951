"""The picture of one position's exit: the price path, the plan's levels, the stops as they
moved, and every fill by leg.

It draws what a run recorded and decides nothing: `exitd replay --plot` and `exitd demo` hand
it their own records (Decimal until here). Only the price line is thinned for drawing; every
fill is drawn where it happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from exitd.pictures.figures import TimeAxis, new_figure, save, style_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_ENTRY_COLOUR = "#1f4e9c"
_HARD_SL_COLOUR = "#c62828"
_TP_COLOUR = "#2e7d32"
_STOP_COLOURS = {"WORKING_STOP": "#ef6c00", "TRAILING_STOP": "#8e24aa"}
# Marker and colour of each leg's fills: take-profits share a shape, shaded by number.
_FILL_STYLE = {
    "HARD_SL": ("X", _HARD_SL_COLOUR),
    "WORKING_STOP": ("v", "#ef6c00"),
    "TRAILING_STOP": ("v", "#8e24aa"),
    "TIME": ("s", "#546e7a"),
}
_TP_SHADES = ("#43a047", "#1b5e20", "#66bb6a", "#2e7d32", "#81c784")


class FillMark(Protocol):
    """A fill as the picture needs it: `exitd.replay.runner.ExitFill` is one."""

    @property
    def time_ms(self) -> int: ...
    @property
    def leg(self) -> str: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def qty(self) -> Decimal: ...


class StopStep(Protocol):
    """A stop's trigger from a time on (None: gone): `exitd.replay.runner.StopMove` is one."""

    @property
    def time_ms(self) -> int: ...
    @property
    def leg(self) -> str: ...
    @property
    def trigger_price(self) -> Decimal | None: ...


@dataclass(frozen=True, slots=True)
class ExitPicture:
    """Everything one exit picture shows; `prices` are (time_ms, price) in time order."""

    title: str
    subtitle: str
    prices: Sequence[tuple[int, Decimal]]  # already thinned for drawing: see PriceTrace
    entry_time_ms: int
    entry_price: Decimal
    hard_sl: Decimal | None
    take_profits: Sequence[tuple[str, Decimal]]
    stops: Sequence[StopStep]
    fills: Sequence[FillMark]
    quote: str = "USDT"
    time_note: str = "entry"


def write_exit_picture(picture: ExitPicture, path: str | Path) -> Path:
    """Draw `picture` into `path` (PNG, or HTML by its name); PlotUnavailable without matplotlib."""
    return save(draw_exit_picture(picture), path, picture.title)


def draw_exit_picture(picture: ExitPicture) -> Figure:
    figure = new_figure()
    axes = figure.add_subplot()
    end_ms = max(
        [picture.entry_time_ms]
        + [t for t, _ in picture.prices[-1:]]
        + [f.time_ms for f in picture.fills]
    )
    time_axis = TimeAxis.spanning(picture.entry_time_ms, end_ms)
    xs = [time_axis.at(t) for t, _ in picture.prices]
    ys = [float(p) for _, p in picture.prices]
    axes.plot(xs, ys, color="#37474f", linewidth=0.8, label="price", zorder=2)
    x_end = time_axis.at(end_ms)
    right = x_end * 1.06 if x_end > 0 else 1.0
    _levels(axes, picture, right)
    _stops(axes, picture.stops, time_axis, x_end)
    _fills(axes, picture.fills, time_axis)
    axes.set_xlim(min([0.0, *xs]), right)
    axes.set_title(f"{picture.title}\n{picture.subtitle}", fontsize=12, loc="left")
    style_axes(axes, time_axis.label(picture.time_note), f"price ({picture.quote})")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return figure


def _levels(axes: Axes, picture: ExitPicture, x_end: float) -> None:
    """Entry, hard stop and take-profits: flat lines, named in the legend and above their
    right end, where the eye goes after following the price."""
    levels = [("entry", picture.entry_price, _ENTRY_COLOUR, "--")]
    if picture.hard_sl is not None:
        levels.append(("hard stop", picture.hard_sl, _HARD_SL_COLOUR, "--"))
    levels += [(name, price, _TP_COLOUR, ":") for name, price in picture.take_profits]
    for name, price, colour, style in levels:
        text = f"{name} {price}"
        axes.axhline(
            float(price), color=colour, linestyle=style, linewidth=1.1, zorder=1, label=text
        )
        axes.annotate(
            text,
            (x_end, float(price)),
            xytext=(0, 2),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=8,
            color=colour,
        )
    axes.plot(
        [0.0],
        [float(picture.entry_price)],
        marker="o",
        markersize=8,
        color=_ENTRY_COLOUR,
        linestyle="none",
        zorder=4,
    )


def _stops(axes: Axes, stops: Sequence[StopStep], time_axis: TimeAxis, x_end: float) -> None:
    """Each moving stop leg as a step line: flat while it rests, a jump when it ratchets."""
    for leg, colour in _STOP_COLOURS.items():
        steps = [s for s in stops if s.leg == leg]
        if not steps:
            continue
        xs = [time_axis.at(s.time_ms) for s in steps]
        ys = [float("nan") if s.trigger_price is None else float(s.trigger_price) for s in steps]
        if steps[-1].trigger_price is not None:  # still resting when the record ends
            xs.append(x_end)
            ys.append(ys[-1])
        label = "working stop" if leg == "WORKING_STOP" else "trailing stop"
        axes.step(xs, ys, where="post", color=colour, linewidth=1.6, label=label, zorder=3)


def _fills(axes: Axes, fills: Sequence[FillMark], time_axis: TimeAxis) -> None:
    """Every fill at its time and price, one legend entry per leg with its total size."""
    for leg in dict.fromkeys(f.leg for f in fills):
        mine = [f for f in fills if f.leg == leg]
        marker, colour = _fill_style(leg)
        qty = sum((f.qty for f in mine), Decimal(0))
        prices = sorted({f.price for f in mine})
        at = f"@ {prices[0]}" if len(prices) == 1 else f"@ {prices[0]}…{prices[-1]}"
        axes.scatter(
            [time_axis.at(f.time_ms) for f in mine],
            [float(f.price) for f in mine],
            marker=marker,
            s=110,
            color=colour,
            edgecolors="black",
            linewidths=0.7,
            zorder=5,
            label=f"{leg} filled {qty} {at}",
        )


def _fill_style(leg: str) -> tuple[str, str]:
    if leg.startswith("TP") and leg[2:].isdigit():
        return "^", _TP_SHADES[(int(leg[2:]) - 1) % len(_TP_SHADES)]
    return _FILL_STYLE.get(leg, ("o", "#000000"))
