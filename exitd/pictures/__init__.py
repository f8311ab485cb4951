"""Pictures of what exitd did, drawn with matplotlib when the `plot` extra is installed."""

from exitd.pictures.exit_path import ExitPicture, draw_exit_picture, write_exit_picture
from exitd.pictures.figures import (
    INSTALL_HINT,
    PictureError,
    PlotUnavailable,
    PriceTrace,
    TimeAxis,
    check_target,
    require_matplotlib,
)

__all__ = [
    "INSTALL_HINT",
    "ExitPicture",
    "PictureError",
    "PlotUnavailable",
    "PriceTrace",
    "TimeAxis",
    "check_target",
    "draw_exit_picture",
    "require_matplotlib",
    "write_exit_picture",
]
