"""Price files as Binance publishes them: a `.zip` holding one CSV, or a `.csv.gz`.

Told apart by their first bytes, not their names, so a renamed download still reads; a name
that promises an archive the bytes do not hold is refused rather than read as text. A bad
archive is the file's fault, and says so as `ArchiveError`, which the reader turns into its
own error naming the file.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from contextlib import ExitStack
from typing import IO, cast

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # a zip with no member at all
_GZIP_MAGIC = b"\x1f\x8b"

# What a damaged archive raises while it is read.
ARCHIVE_FAULTS: tuple[type[Exception], ...] = (
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    gzip.BadGzipFile,
)


# Opening a zip member: RuntimeError for an encrypted one, NotImplementedError for an unknown
# compression method.
_ZIP_FAULTS: tuple[type[Exception], ...] = (*ARCHIVE_FAULTS, NotImplementedError, RuntimeError)


class ArchiveError(Exception):
    """An archive that cannot hold a price file: empty, several members, damaged."""


def open_binary(path: str, stack: ExitStack) -> tuple[IO[bytes], IO[bytes]]:
    """The file's bytes, decompressed when it is a zip or gzip archive, and the raw file
    under them (its position tells how far the reading has got); closed with `stack`."""
    raw: IO[bytes] = stack.enter_context(open(path, "rb"))  # noqa: SIM115
    magic = raw.read(4)
    raw.seek(0)
    lower = path.lower()
    if magic in (_ZIP_MAGIC, _EMPTY_ZIP_MAGIC):
        return _zip_member(raw, stack), raw
    if magic.startswith(_GZIP_MAGIC):
        unzipped = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        return cast(IO[bytes], unzipped), raw
    if lower.endswith(".zip"):
        raise ArchiveError("not a zip archive")
    if lower.endswith((".gz", ".gzip")):
        raise ArchiveError("not a gzip archive")
    return raw, raw


def _zip_member(raw: IO[bytes], stack: ExitStack) -> IO[bytes]:
    """The one file of a Binance zip (its CSV); anything else is refused, naming the members."""
    try:
        archive = stack.enter_context(zipfile.ZipFile(raw))
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            names = ", ".join(info.filename for info in members[:5])
            more = ", …" if len(members) > 5 else ""
            held = f" ({names}{more})" if members else ""
            raise ArchiveError(
                f"zip archive holds {len(members)} files{held}; expected one price CSV"
            )
        return stack.enter_context(archive.open(members[0]))
    except _ZIP_FAULTS as exc:
        raise ArchiveError(f"damaged zip archive: {exc}") from None
