"""The routes symbol actors plan with, swappable whole on a config reload.

A reload changes which profile a position adopted from now on gets; a plan already adopted
keeps its profile (`set-plan` changes a live plan). One object shared by every symbol actor
holds the current `ExitRouter`, a frozen value replaced in one assignment.
"""

from __future__ import annotations

from exitd.engine import ExitRouter
from exitd.engine.router import Route


class LiveRoutes:
    def __init__(self, router: ExitRouter) -> None:
        self.router = router

    def route(self, symbol: str) -> Route:
        return self.router.route(symbol)

    def replace(self, router: ExitRouter) -> None:
        self.router = router
