"""Price columns parsed once and kept: an Arrow IPC file per price file in a cache folder.

Arrow's IPC file (pyarrow, the `research` extra) is memory-mapped on later runs: the int64
columns become numpy arrays over the mapped pages with no parsing and no copy, which is what
makes a cached replay cost a fraction of a parse. An entry is keyed by the price file's size,
mtime and SHA-256 (and the layout and this module's version), so an edited or replaced file
is parsed again and a copied one is not. Without pyarrow, or with no cache folder, the
columns are built in memory each run; a cache folder that cannot be written only costs speed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from exitd.price_files import PriceFile, PriceFileError
from exitd.replay.columns import PriceColumns, columns_of
from exitd.replay.csv_columns import read_columns

_VERSION = "1"
_HASH_CHUNK = 1 << 23


class Cancelled(Exception):
    """The replay that wanted the columns ended before they were loaded."""


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """`$EXITD_CACHE_DIR`, else `$XDG_CACHE_HOME/exitd`, else `~/.cache/exitd`."""
    if environ.get("EXITD_CACHE_DIR"):
        return Path(environ["EXITD_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "exitd"


def load_columns(
    price_file: PriceFile, cache_dir: Path | None, cancel: threading.Event | None = None
) -> PriceColumns:
    """The columns of `price_file`: mapped from the cache, or parsed (and then cached).
    Once `cancel` is set it gives up, raising Cancelled, at the next chance (and writes
    nothing)."""
    stop = cancel or threading.Event()
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415  (research extra)
    except ImportError:
        return columns_of(price_file)
    if cache_dir is None:
        return read_columns(price_file) or columns_of(price_file)
    entry = cache_dir / _entry_name(price_file, stop)
    cached = _read(pa, entry)
    if cached is not None:
        return cached
    columns = read_columns(price_file) or columns_of(price_file)
    _check(stop)
    _write(pa, entry, columns)
    return columns


def _check(cancel: threading.Event) -> None:
    if cancel.is_set():
        raise Cancelled


def _entry_name(price_file: PriceFile, cancel: threading.Event) -> str:
    """The key: size, mtime (ns) and content hash, with the layout and this module's version."""
    path = price_file.path
    try:
        stat = os.stat(path)
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            # Large reads: hashlib lets go of the GIL for each, so the replay's own thread
            # runs meanwhile, and is asked for it back only once a chunk. (Not a memory map:
            # a file cut short while mapped kills the process with SIGBUS.)
            while chunk := file.read(_HASH_CHUNK):
                _check(cancel)
                digest.update(chunk)
    except OSError as exc:
        raise PriceFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    stem = Path(path).name.split(".")[0][:40]
    return (
        f"{stem}-{digest.hexdigest()[:32]}-{stat.st_size}-{stat.st_mtime_ns}"
        f"-{price_file.format.value}-v{_VERSION}.arrow"
    )


def _read(pa: Any, entry: Path) -> PriceColumns | None:
    """The entry mapped, or None if it is missing or not one this version wrote whole."""
    try:
        table = pa.ipc.open_file(pa.memory_map(str(entry), "r")).read_all()
        meta = table.schema.metadata or {}
        if meta.get(b"exitd_cache") != _VERSION.encode():
            return None
        scale = int(meta[b"scale"])
        times = _mapped(table, "time_ms")
        prices = _mapped(table, "price")
        exponents = _mapped(table, "exponent") if "exponent" in table.schema.names else None
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    if times.dtype != np.int64 or prices.dtype != np.int64 or len(times) != len(prices):
        return None
    return PriceColumns(times, prices, scale, exponents)


def _mapped(table: Any, name: str) -> Any:
    """A column as a numpy array over the mapped file, without a copy when it is one chunk."""
    column = table.column(name)
    if column.num_chunks == 1:
        return column.chunk(0).to_numpy(zero_copy_only=True)
    return column.to_numpy()


def _write(pa: Any, entry: Path, columns: PriceColumns) -> None:
    """Write the entry whole or not at all (a temporary file renamed into place)."""
    arrays = {"time_ms": pa.array(columns.times), "price": pa.array(columns.prices)}
    if columns.exponents is not None:
        arrays["exponent"] = pa.array(columns.exponents)
    meta = {"exitd_cache": _VERSION, "scale": str(columns.scale)}
    table = pa.table(arrays).replace_schema_metadata(meta)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as file, pa.ipc.new_file(file, table.schema) as writer:
                writer.write_table(table)
            os.replace(temporary, entry)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError:
        return  # a read-only or full cache folder: the replay goes on uncached
