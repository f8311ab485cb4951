"""`exitd replay` on price files as Binance publishes them: a zip holding the CSV, a .csv.gz."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from exitd.cli import main
from tests.conftest import MARKET

CSV = MARKET / "ETHUSDT-trades-2023-02-02-first1000.csv"
ZIP = MARKET / "ETHUSDT-trades-2023-02-02-first1000.zip"
PLAN = [
    "--side",
    "long",
    "--qty",
    "1",
    "--tick-size",
    "0.01",
    "--hard-sl-pct",
    "0.01",
    "--tp",
    "0.005:0.5",
    "--be-trigger",
    "0.003",
    "--be-offset",
    "0.001",
    "--json",
]


def replay_out(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> str:
    code = main(["replay", str(path), *PLAN, *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def replay_error(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    code = main(["replay", str(path), *PLAN])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    return err


def test_the_zipped_fixture_holds_the_csv() -> None:
    with zipfile.ZipFile(ZIP) as archive:
        assert archive.namelist() == [CSV.name]
        assert archive.read(CSV.name) == CSV.read_bytes()


def test_replay_on_the_zip_equals_replay_on_the_csv(capsys: pytest.CaptureFixture[str]) -> None:
    on_csv = replay_out(capsys, CSV)
    assert on_csv.count('"leg"') == 2  # the exits the CSV gives (test_replay_cli works them out)
    assert replay_out(capsys, ZIP) == on_csv


def test_replay_on_a_csv_gz_equals_replay_on_the_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gz = tmp_path / f"{CSV.name}.gz"
    gz.write_bytes(gzip.compress(CSV.read_bytes()))
    assert replay_out(capsys, gz) == replay_out(capsys, CSV)


def test_an_archive_named_otherwise_is_read_by_its_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    renamed = tmp_path / CSV.name  # a zip saved under the CSV's name
    renamed.write_bytes(ZIP.read_bytes())
    assert replay_out(capsys, renamed) == replay_out(capsys, CSV)


@pytest.mark.parametrize("members", [0, 2])
def test_a_zip_without_exactly_one_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, members: int
) -> None:
    path = tmp_path / "ETHUSDT-trades-2023-02-02.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(members):
            archive.writestr(f"part{n}.csv", CSV.read_bytes())
    err = replay_error(capsys, path)
    assert f"{path}: zip archive holds {members} files" in err
    assert ("part0.csv, part1.csv" in err) == (members == 2)


def test_a_truncated_zip_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ETHUSDT-trades-2023-02-02.zip"
    path.write_bytes(ZIP.read_bytes()[:4000])
    assert f"{path}: damaged zip archive" in replay_error(capsys, path)


def test_a_zip_with_a_damaged_member_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "ETHUSDT-trades-2023-02-02.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(CSV.name, CSV.read_bytes())
    raw = bytearray(path.read_bytes())
    middle = raw.index(b"\n", len(raw) // 2) + 1
    raw[middle : middle + 4] = b"9999"  # still text, but the CRC no longer matches
    path.write_bytes(bytes(raw))
    assert f"{path}: cannot read: damaged archive: Bad CRC-32" in replay_error(capsys, path)


def test_a_truncated_gzip_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / f"{CSV.name}.gz"
    path.write_bytes(gzip.compress(CSV.read_bytes())[:-100])
    err = replay_error(capsys, path)
    assert f"{path}: cannot read: damaged archive: Compressed file ended" in err


@pytest.mark.parametrize(("suffix", "kind"), [(".zip", "zip"), (".csv.gz", "gzip")])
def test_text_named_as_an_archive_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str, kind: str
) -> None:
    path = tmp_path / f"ETHUSDT-trades{suffix}"
    path.write_bytes(CSV.read_bytes())
    assert f"{path}: not a {kind} archive" in replay_error(capsys, path)


def test_a_bad_row_in_a_gzip_names_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = CSV.read_text().splitlines(keepends=True)
    lines[500] = lines[500].replace(",", ";", 1)
    path = tmp_path / f"{CSV.name}.gz"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    assert f"{path}:501: 5 columns, expected 6" in replay_error(capsys, path)
