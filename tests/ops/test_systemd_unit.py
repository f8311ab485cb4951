"""The shipped units: `systemd-analyze verify` says nothing at all about them, and
`systemd-analyze security --offline=true` scores their exposure at most 1.5 (RELIABILITY.md
§4). Neither needs a running systemd, only the tool (`.ci/run` installs it when missing).

verify insists that ExecStart='s program exists and is executable. The units are verified as
copies whose install prefix /opt/exitd/venv is replaced by this test run's environment (where
pip installed the `exitd` command): one string, in ExecStart= only; nothing else differs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exitd.ops.config import SecretKind, SecretSource, load_config

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("exitd.service", "exitd@.service")
PREFIX = "/opt/exitd/venv"
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(
    ANALYZE is None,
    reason="systemd-analyze is not installed (apt-get install systemd; .ci/run does it)",
)


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "--no-pager", *args], capture_output=True, text=True, timeout=120, check=False
    )


def systemd_version() -> int:
    found = re.search(r"systemd (\d+)", analyze("--version").stdout)
    assert found is not None
    return int(found.group(1))


def installed_prefix(tmp_path: Path) -> str:
    """This environment's prefix if pip installed `exitd` there, else a stand-in."""
    exitd = Path(sys.executable).parent / "exitd"
    if not exitd.is_file():
        exitd = tmp_path / "venv" / "bin" / "exitd"
        exitd.parent.mkdir(parents=True)
        exitd.write_text("#!/bin/sh\n")
        exitd.chmod(0o755)
    return str(exitd.parent.parent)


@pytest.fixture
def units(tmp_path: Path) -> Path:
    prefix = installed_prefix(tmp_path)
    copies = tmp_path / "units"
    copies.mkdir()
    for name in UNITS:
        text = (SYSTEMD / name).read_text()
        assert [line for line in text.splitlines() if PREFIX in line] == [
            line for line in text.splitlines() if line.startswith(f"ExecStart={PREFIX}/bin/exitd ")
        ]
        (copies / name).write_text(text.replace(PREFIX, prefix))
    return copies


@needs_analyze
@pytest.mark.parametrize("unit", [*UNITS, "exitd@main.service"])
def test_the_units_verify_without_a_word(units: Path, unit: str) -> None:
    done = analyze("verify", str(units / unit))
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_analyze
def test_verify_would_speak_up_about_a_broken_unit(units: Path) -> None:
    """The check above can fail: a misspelt setting is reported (as a warning, exit 0)."""
    unit = units / "exitd.service"
    unit.write_text(unit.read_text().replace("KillMode=mixed", "KillMode=mixd"))
    assert "mixd" in analyze("verify", str(unit)).stderr


@needs_analyze
@pytest.mark.parametrize("unit", UNITS)
def test_the_units_expose_at_most_1_5(unit: str) -> None:
    # --threshold is on a 0-100 scale (exposure x 10): above 15 fails.
    done = analyze("security", "--offline=true", "--threshold=15", str(SYSTEMD / unit))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found is not None, done.stdout + done.stderr
    assert float(found.group(1)) <= 1.5
    assert done.returncode == 0, done.stderr


@needs_analyze
def test_the_plain_credentials_drop_in_verifies(units: Path) -> None:
    drop_in = units / "exitd.service.d"
    drop_in.mkdir()
    shutil.copy(SYSTEMD / "plain-credentials.conf", drop_in)
    done = analyze("verify", str(units / "exitd.service"))
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@needs_analyze
def test_the_restart_backoff_drop_in_verifies_where_systemd_knows_its_keys(units: Path) -> None:
    version = systemd_version()
    if version < 254:
        pytest.skip(f"systemd {version} predates RestartSteps= (254): the drop-in is for newer")
    drop_in = units / "exitd.service.d"
    drop_in.mkdir()
    shutil.copy(SYSTEMD / "restart-backoff.conf", drop_in)
    done = analyze("verify", str(units / "exitd.service"))
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def unit_values(name: str, key: str) -> list[str]:
    text = (SYSTEMD / name).read_text()
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def test_the_service_config_lives_where_the_unit_lets_it_write_and_reads_its_credentials() -> None:
    config = load_config(str(SYSTEMD / "config.toml"), {})
    (runtime,) = unit_values("exitd.service", "RuntimeDirectory")
    (state,) = unit_values("exitd.service", "StateDirectory")
    assert config.daemon.socket_path.parent == Path("/run") / runtime
    assert config.daemon.state_dir == Path("/var/lib") / state
    loaded = unit_values("exitd.service", "LoadCredentialEncrypted")
    credentials = {value.split(":", 1)[0] for value in loaded}
    assert credentials == {"binance_api_key", "binance_api_secret"}
    assert config.exchange.api_key == SecretSource(SecretKind.CREDENTIAL, "binance_api_key")
    assert config.exchange.api_secret == SecretSource(SecretKind.CREDENTIAL, "binance_api_secret")
    (start,) = unit_values("exitd.service", "ExecStart")
    assert start.endswith("run --config /etc/exitd/config.toml")


def test_the_template_keeps_each_account_apart() -> None:
    (start,) = unit_values("exitd@.service", "ExecStart")
    assert start.endswith("run --config /etc/exitd/%i.toml")
    assert unit_values("exitd@.service", "RuntimeDirectory") == ["exitd/%i"]
    assert unit_values("exitd@.service", "StateDirectory") == ["exitd/%i"]
    for value in unit_values("exitd@.service", "LoadCredentialEncrypted"):
        assert "/exitd-%i." in value
