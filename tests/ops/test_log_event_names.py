"""Event names are stable, dotted and lowercase: dashboards and alerts match on them."""

from __future__ import annotations

import re
from pathlib import Path

import exitd

PACKAGE = Path(exitd.__file__).parent
LOG_CALL = re.compile(
    r"\b(?:log|_log|bound|logger)\.(?:debug|info|warning|error|critical|exception)\(\s*\"([^\"]*)\""
)
DOTTED = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")


def test_every_logged_event_name_is_dotted_and_lowercase() -> None:
    names = {
        (str(path.relative_to(PACKAGE)), name)
        for path in PACKAGE.rglob("*.py")
        for name in LOG_CALL.findall(path.read_text(encoding="utf-8"))
    }
    assert len(names) > 50  # the pattern does find exitd's log calls
    assert [(path, name) for path, name in sorted(names) if not DOTTED.fullmatch(name)] == []
