"""`exitd check-config [FILE]`: the effective config, or every issue in it, one per line.

It prints the config the daemon would run (defaults filled, environment overrides applied,
secrets shown only as their source) so an operator sees what will happen before a start or a
SIGHUP reload. Exit status 0 when valid, 2 when not; it never shows a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

import orjson

from exitd.ops.config import ConfigError, effective_config, load_config

EXIT_VALID = 0
EXIT_INVALID = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in the checker, not in the config


def run_check_config(path: str, environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """Check the config at `path` as the daemon would read it under `environ`."""
    try:
        config = load_config(path, environ)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=err)
        return EXIT_INVALID
    except Exception as exc:
        # The promise is an answer, never a traceback; this branch means a bug in the checker.
        print(f"{path}: internal error while checking: {type(exc).__name__}: {exc}", file=err)
        return EXIT_INTERNAL
    text = orjson.dumps(effective_config(config), option=orjson.OPT_INDENT_2).decode()
    print(text, file=out)
    return EXIT_VALID
