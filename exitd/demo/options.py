"""`exitd demo`'s options, apart from the command so `exitd --help` loads no daemon."""

from __future__ import annotations

import argparse

DEFAULT_SPEED = 50.0
DEFAULT_PLOT = "exitd-demo.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="take the profiles, symbol routes and safety settings from FILE "
        "(the exchange is always the embedded simulator)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        metavar="X",
        help=f"replay speed of the prices, x real time (default {DEFAULT_SPEED:g})",
    )
    pictures = parser.add_mutually_exclusive_group()
    pictures.add_argument(
        "--plot",
        metavar="FILE",
        help=f"picture of the exit: PNG, or HTML if FILE ends in .html (default {DEFAULT_PLOT}, "
        "written when exitd[plot] is installed)",
    )
    pictures.add_argument("--no-plot", action="store_true", help="no picture")
    parser.add_argument("--verbose", action="store_true", help="the daemon's logs on stderr")
