"""Who may write exits: modes, guards, module names and their client-id codes.

This is the ownership policy of DESIGN.md ("Why it exists"): LEGACY observes, EXIT_BRAIN_V3
with guard soft delegates, with guard hard enforces. It is pure (no I/O, no clock); the
gateway asks `check_write` before every order and the config loader asks `validate_mode`, so
each rule lives here once. It must never import actors or the exchange.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import product
from string import ascii_lowercase

from exitd.engine.client_ids import EXIT_BRAIN_CODE


class Mode(Enum):
    """Who owns exits: the legacy modules (the exit brain in shadow), or the exit brain."""

    LEGACY = "LEGACY"
    EXIT_BRAIN_V3 = "EXIT_BRAIN_V3"


class Guard(Enum):
    """What a legacy write meets in mode EXIT_BRAIN_V3: a logged conflict, or a refusal."""

    SOFT = "soft"
    HARD = "hard"


class WriteOutcome(Enum):
    ALLOWED = "allowed"
    # Soft guard: logged and counted as an ownership conflict, still forwarded.
    CONFLICT_ALLOWED = "conflict_allowed"
    REFUSED = "refused"
    # LEGACY mode: the exit brain's request is logged as what it would do, never sent.
    SHADOW = "shadow"


EXIT_BRAIN = "exit_brain_v3"
# exitd's own last line of defence: the emergency stop of a position nobody protects. It may
# write in every mode, and only close-position stops (the gateway checks).
SAFETY_NET = "safety_net"
# A person at the control socket (`exitd ctl flatten`): above every module, in every mode.
OPERATOR = "operator"
DEFAULT_LEGACY_MODULES: tuple[str, ...] = (
    "position_monitor",
    "trailing_stop_manager",
    "safe_order_executor",
    "event_driven_executor",
    "hybrid_tpsl",
)
# The seed system's modules keep fixed codes whether or not they are configured, so an id on
# the exchange means the same module after any config change.
KNOWN_MODULE_CODES: Mapping[str, str] = {
    EXIT_BRAIN: EXIT_BRAIN_CODE,
    SAFETY_NET: "sn",
    OPERATOR: "op",
    "position_monitor": "pm",
    "trailing_stop_manager": "ts",
    "safe_order_executor": "so",
    "event_driven_executor": "ed",
    "hybrid_tpsl": "ht",
}
MODULE_NAME = re.compile(r"^[a-z0-9_]+$")
_ALL_CODES = tuple(a + b for a, b in product(ascii_lowercase, repeat=2))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gateway's answer to one write: what happens to it, and why (for the log and for the
    error a refused module receives)."""

    outcome: WriteOutcome
    reason: str
    # A legacy write while the exit brain owns exits, forwarded (soft) or refused (hard): the
    # gateway counts it as an ownership conflict. An unknown module's refusal is not one.
    ownership_conflict: bool = False

    @property
    def forwarded(self) -> bool:
        """Whether the order goes to the exchange."""
        return self.outcome in (WriteOutcome.ALLOWED, WriteOutcome.CONFLICT_ALLOWED)


def validate_mode(mode: Mode, exit_brain_v3_enabled: bool) -> str | None:
    """Why `mode` may not run with this flag, or None when it may.

    The flag is the operator's explicit consent to hand exits to the brain; a mode switch
    (config, environment or control socket) alone must never do it.
    """
    if mode is Mode.EXIT_BRAIN_V3 and not exit_brain_v3_enabled:
        return "LEGACY unless exit_brain_v3_enabled is true (EXIT_BRAIN_V3 needs the flag)"
    return None


def check_write(mode: Mode, guard: Guard, module: str, legacy_modules: Iterable[str]) -> Verdict:
    """May `module` place or cancel an exit order now? The single ownership rule."""
    if module == SAFETY_NET:
        reason = "safety net: a naked position gets its emergency stop in every mode"
        return Verdict(WriteOutcome.ALLOWED, reason)
    if module == OPERATOR:
        return Verdict(WriteOutcome.ALLOWED, "operator: a command at the control socket")
    if module == EXIT_BRAIN:
        if mode is Mode.LEGACY:
            return Verdict(
                WriteOutcome.SHADOW,
                "mode LEGACY: the exit brain runs in shadow; its order is logged, not sent",
            )
        return Verdict(WriteOutcome.ALLOWED, "mode EXIT_BRAIN_V3: the exit brain owns exits")
    if module not in tuple(legacy_modules):
        return Verdict(
            WriteOutcome.REFUSED,
            f"unknown module {module!r}: neither {EXIT_BRAIN} nor a module listed in "
            "exits.legacy_modules",
        )
    if mode is Mode.LEGACY:
        return Verdict(WriteOutcome.ALLOWED, f"mode LEGACY: legacy module {module!r} may write")
    if guard is Guard.SOFT:
        return Verdict(
            WriteOutcome.CONFLICT_ALLOWED,
            f"ownership conflict: mode EXIT_BRAIN_V3 gives exits to {EXIT_BRAIN}; legacy "
            f"module {module!r} wrote anyway (guard soft: forwarded and counted)",
            ownership_conflict=True,
        )
    return Verdict(
        WriteOutcome.REFUSED,
        f"ownership conflict: mode EXIT_BRAIN_V3 with guard hard lets only {EXIT_BRAIN} write "
        f"exits; legacy module {module!r} is read-only",
        ownership_conflict=True,
    )


def module_codes(legacy_modules: Iterable[str]) -> Mapping[str, str]:
    """The 2-letter client-id code of every module that may write (DESIGN.md, client ids).

    A module the seed system did not have gets a code from a CRC-32 of its name, so the code
    is the same in every run and on every host; only when that code is taken (by a known
    module or an earlier name in sorted order) does it probe to the next free one. So a code
    changes only if a colliding module is added or removed, and never for the known modules.
    """
    codes = dict(KNOWN_MODULE_CODES)
    taken = set(codes.values())
    for module in sorted(set(legacy_modules) - set(codes)):
        start = zlib.crc32(module.encode()) % len(_ALL_CODES)
        for step in range(len(_ALL_CODES)):
            code = _ALL_CODES[(start + step) % len(_ALL_CODES)]
            if code not in taken:
                break
        else:  # pragma: no cover - 670 free codes; a config cannot list that many modules
            raise ValueError("no free module code left")
        codes[module] = code
        taken.add(code)
    return codes


def module_for_code(code: str, legacy_modules: Iterable[str]) -> str | None:
    """The module an exitd client id's code names, or None when no writing module has it."""
    for module, module_code in module_codes(legacy_modules).items():
        if module_code == code:
            return module
    return None
