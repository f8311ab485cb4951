"""The ExitRouter: which profile protects a position.

A symbol routed in `[symbols.X]` gets its profile, any other symbol the `default` profile; with
neither, the position still gets the emergency hard stop, and the route says `delegation_gap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from exitd.engine.profile import ExitProfile

DEFAULT_PROFILE = "default"
EMERGENCY_PROFILE = "emergency"


@dataclass(frozen=True, slots=True)
class Route:
    profile_name: str
    profile: ExitProfile
    delegation_gap: bool = False


class RouteSource(Protocol):
    """Anything that routes a symbol: an ExitRouter, or a holder a reload swaps it in."""

    def route(self, symbol: str) -> Route: ...


@dataclass(frozen=True, slots=True)
class ExitRouter:
    profiles: Mapping[str, ExitProfile]
    symbol_profiles: Mapping[str, str]
    emergency_sl_pct: Decimal

    def route(self, symbol: str) -> Route:
        name = self.symbol_profiles.get(symbol, DEFAULT_PROFILE)
        profile = self.profiles.get(name)
        if profile is None:
            return Route(
                EMERGENCY_PROFILE, ExitProfile.emergency(self.emergency_sl_pct), delegation_gap=True
            )
        return Route(name, profile)
