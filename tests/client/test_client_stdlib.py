"""`exitd.client` imports in a fresh interpreter that cannot see any installed package, and
loads nothing outside the standard library: a legacy system needs none of exitd's
dependencies to use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import exitd

SOURCE = Path(exitd.__file__).resolve().parent.parent
PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import exitd.client
loaded = sorted(m.split(".")[0] for m in sys.modules)
print(json.dumps(sorted(set(loaded) - set(sys.stdlib_module_names) - {"__main__", "exitd"})))
"""


def test_the_client_imports_with_the_standard_library_alone() -> None:
    # -I: no environment, no user site; -S: no site-packages, so a third-party import fails.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_probe_sees_a_third_party_import() -> None:
    """The same probe fails on a module that needs anyio: the check above can fail."""
    probe = PROBE.replace("import exitd.client", "import exitd.control.server")
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr
