"""What every exitd picture shares: matplotlib loaded on demand, saving, a time axis.

Plotting is an optional extra (`pip install 'exitd[plot]'`): nothing here imports matplotlib
until a picture is asked for, so the daemon and `exitd replay` without `--plot` never need it.
Numbers become floats here and only here, at the last step before pixels.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pictures need matplotlib: pip install 'exitd[plot]'"
# Buckets of a price line worth drawing (two points each): more would not show.
MAX_BUCKETS = 2000


_HTML = (".html", ".htm")


class PictureError(Exception):
    """A picture cannot be drawn or written; the message says why, for the user."""


class PlotUnavailable(PictureError):
    """matplotlib is not installed; the message says how to get it."""


def require_matplotlib() -> None:
    """Raise PlotUnavailable now, before a long run whose picture could not be drawn."""
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError as error:
        raise PlotUnavailable(INSTALL_HINT) from error


def check_target(path: str | Path) -> None:
    """Refuse, before any work, a picture that could not be drawn or written at `path`."""
    target = Path(path)
    if target.suffix.lower() not in (".png", *_HTML):
        raise PictureError(f"{target}: a picture is a .png or an .html file")
    if not target.parent.is_dir():
        raise PictureError(f"{target}: no such directory {target.parent}")
    require_matplotlib()


def new_figure(width_in: float = 14, height_in: float = 7.5) -> Figure:
    """A figure drawn off-screen: no display needed, same pixels on a server and a laptop."""
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError as error:
        raise PlotUnavailable(INSTALL_HINT) from error
    return Figure(figsize=(width_in, height_in), dpi=110)


def save(figure: Figure, path: str | Path, title: str) -> Path:
    """PNG, or an HTML page holding the figure as SVG when the name ends in .html."""
    target = Path(path)
    try:
        if target.suffix.lower() in _HTML:
            from matplotlib import rc_context  # noqa: PLC0415

            svg = io.StringIO()
            with rc_context({"svg.fonttype": "none"}):  # text as text: searchable, selectable
                figure.savefig(svg, format="svg", bbox_inches="tight")
            target.write_text(_page(title, svg.getvalue()), encoding="utf-8")
        else:
            figure.savefig(target, format="png", bbox_inches="tight")
    except OSError as error:
        raise PictureError(f"{target}: cannot write it: {error.strerror or error}") from None
    return target


def _page(title: str, svg: str) -> str:
    body = svg[svg.index("<svg") :]  # the XML prolog and doctype do not belong inside HTML
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{margin:1em;font-family:sans-serif}svg{max-width:100%;height:auto}</style>"
        f"</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


class PriceTrace:
    """A price line of any length in bounded memory, for drawing only.

    Consecutive ticks share a bucket that keeps its lowest and highest (exact, in time
    order); when the buckets outgrow `capacity`, neighbours merge and each bucket takes twice
    as many ticks. A 1,600-pixel-wide figure shows no more than a few thousand points anyway,
    and no spike is ever lost. Fills are never thinned: they are not drawn from here.
    """

    def __init__(self, capacity: int = MAX_BUCKETS) -> None:
        self._capacity = capacity
        self._per_bucket = 1
        self._in_last = 0
        self._buckets: list[tuple[tuple[int, Decimal], tuple[int, Decimal]]] = []

    def add(self, time_ms: int, price: Decimal) -> None:
        point = (time_ms, price)
        if not self._buckets or self._in_last == self._per_bucket:
            self._buckets.append((point, point))
            self._in_last = 1
            if len(self._buckets) > self._capacity:
                self._merge()
            return
        low, high = self._buckets[-1]
        self._buckets[-1] = (point if price < low[1] else low, point if price > high[1] else high)
        self._in_last += 1

    def _merge(self) -> None:
        pairs = zip(self._buckets[0::2], self._buckets[1::2], strict=False)
        merged = [(min(a[0], b[0], key=_price), max(a[1], b[1], key=_price)) for a, b in pairs]
        if len(self._buckets) % 2:
            merged.append(self._buckets[-1])  # alone, it keeps its count and fills up further
        else:
            self._in_last += self._per_bucket
        self._buckets = merged
        self._per_bucket *= 2

    def points(self) -> list[tuple[int, Decimal]]:
        """The kept ticks in time order."""
        out: list[tuple[int, Decimal]] = []
        for low, high in self._buckets:
            out.extend(sorted({low, high}))
        return out


def _price(point: tuple[int, Decimal]) -> Decimal:
    return point[1]


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """Elapsed time from an origin, in the unit that reads best for the span drawn."""

    origin_ms: int
    unit_ms: int
    unit: str

    @classmethod
    def spanning(cls, origin_ms: int, end_ms: int) -> TimeAxis:
        span_s = max(end_ms - origin_ms, 1) / 1000
        for unit_ms, unit, most in (
            (1000, "seconds", 600),
            (60_000, "minutes", 600 * 60),
            (3_600_000, "hours", 10 * 86400),
        ):
            if span_s <= most:
                return cls(origin_ms, unit_ms, unit)
        return cls(origin_ms, 86_400_000, "days")

    def at(self, time_ms: int) -> float:
        return (time_ms - self.origin_ms) / self.unit_ms

    def label(self, since: str) -> str:
        return f"{self.unit} since {since}"


def style_axes(axes: Axes, xlabel: str, ylabel: str) -> None:
    """Grid, labels and plain price ticks (63,950.5, never an offset like +6.39e4)."""
    from matplotlib.ticker import StrMethodFormatter  # noqa: PLC0415

    axes.grid(True, color="#dddddd", linewidth=0.6)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.10g}"))
    axes.ticklabel_format(axis="x", useOffset=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
