"""Pictures of what exitd did, drawn with matplotlib when the `plot` extra is installed."""

from exitd.pictures.exit_path import ExitPicture, draw_exit_picture, write_exit_picture
from exitd.pictures.figures import (
    INSTALL_HINT,
    PlotUnavailable,
    PriceTrace,
    TimeAxis,
    require_matplotlib,
)

__all__ = [
    "INSTALL_HINT",
    "ExitPicture",
    "PlotUnavailable",
    "PriceTrace",
    "TimeAxis",
    "draw_exit_picture",
    "require_matplotlib",
    "write_exit_picture",
]
