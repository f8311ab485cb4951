"""The engine is pure: it imports the standard library and itself, nothing else (DESIGN.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import exitd.engine

ENGINE = Path(exitd.engine.__file__).parent
# Modules a pure core has no business with, even from the standard library.
IMPURE = {
    "asyncio",
    "socket",
    "ssl",
    "http",
    "urllib",
    "threading",
    "subprocess",
    "time",
    "random",
    "os",
    "logging",
    "sqlite3",
    "select",
    "selectors",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_imports_only_the_standard_library_and_itself() -> None:
    sources = sorted(ENGINE.glob("*.py"))
    assert len(sources) > 5
    for source in sources:
        for name in imported_modules(source):
            top = name.split(".")[0]
            if top == "exitd":
                assert name.startswith("exitd.engine"), f"{source.name} imports {name}"
            else:
                assert top in sys.stdlib_module_names, f"{source.name} imports {name}"
                assert top not in IMPURE, f"{source.name} imports {name}: no I/O, no clock"
