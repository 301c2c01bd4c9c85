"""systemd/ as systemd reads it: `systemd-analyze verify` and `security`, and systemd-tmpfiles.

The unit is copied into tmp_path with ExecStart= pointing at this environment's real
``gitopsd`` (verify checks that the command exists and is executable) and is otherwise used as
shipped. Verify must print nothing at all: it exits 0 even after warnings such as an unknown
key. The tools come with systemd; without them these tests skip, except in CI (``CI=true``)
where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gitopsd import config, credentials

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD_DIR / "gitopsd.service"
TMPFILES = SYSTEMD_DIR / "gitopsd.tmpfiles"
SHIPPED_EXEC = "ExecStart=/usr/local/bin/gitopsd "
MAX_EXPOSURE = 2.0
SECRETS = (
    "atlas_client_id",
    "atlas_client_secret",
    "atlas_public_key",
    "atlas_private_key",
    "git_token",
    "git_ssh_key",
    "forge_token",
    "webhook_secret",
)
TOOL_TIMEOUT_S = 30
# The default level, set so that a SYSTEMD_LOG_LEVEL in the caller's environment cannot hide
# a warning.
ENV = {**os.environ, "SYSTEMD_LOG_LEVEL": "info", "SYSTEMD_PAGER": "cat"}


def tool(name: str) -> str:
    """The path of a systemd tool; skip (fail in CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (it comes with systemd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must check the systemd unit", pytrace=False)
        pytest.skip(message)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool with the default log level; output captured as text."""
    return subprocess.run(
        args, capture_output=True, text=True, env=ENV, timeout=TOOL_TIMEOUT_S, check=False
    )


def settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of every assignment, in order; comments and blanks skipped."""
    section, out = "", []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(key: str, section: str = "Service") -> list[str]:
    """Every value of ``key`` in ``section`` of the shipped unit."""
    return [v for s, k, v in settings(UNIT.read_text(encoding="utf-8")) if (s, k) == (section, key)]


@pytest.fixture
def unit(tmp_path) -> Path:
    """The shipped unit, with ExecStart= pointing at this environment's gitopsd."""
    gitopsd = Path(sys.executable).parent / "gitopsd"
    assert os.access(gitopsd, os.X_OK), f"{gitopsd} is missing: pip install -e . first"
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(SHIPPED_EXEC) == 1
    path = tmp_path / "gitopsd.service"
    path.write_text(text.replace(SHIPPED_EXEC, f"ExecStart={gitopsd} "), encoding="utf-8")
    return path


def test_unit_verifies_without_any_output(unit):
    """`systemd-analyze verify` accepts the unit and prints nothing: no warning at all."""
    result = run(tool("systemd-analyze"), "verify", "--man=no", "--no-pager", str(unit))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unit_security_exposure_is_at_most_two(unit):
    """The offline security review rates the unit's exposure at 2.0 or less."""
    threshold = f"--threshold={round(MAX_EXPOSURE * 10)}"  # the scale is exposure x 10
    result = run(
        tool("systemd-analyze"), "security", "--offline=yes", threshold, "--no-pager", str(unit)
    )
    found = re.search(r"Overall exposure level for gitopsd\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_loads_every_secret_as_a_credential():
    """Each secret gitopsd reads from $CREDENTIALS_DIRECTORY has a LoadCredential= line."""
    loaded = dict(value.split(":", 1) for value in values("LoadCredential"))
    assert set(loaded) == set(SECRETS)
    assert set(credentials.CREDENTIAL_NAMES.values()) <= set(loaded)
    assert set(credentials.SECRETS) <= set(loaded)
    # A relative source is looked up in /etc/credstore/ and skipped when absent; an absolute
    # path that does not exist would fail the start.
    assert all(source == f"gitopsd.{name}" for name, source in loaded.items())


def test_unit_state_directory_is_the_default_state_dir():
    """StateDirectory= makes /var/lib/gitopsd, the default [state] dir."""
    assert values("DynamicUser") == ["yes"]
    assert [f"/var/lib/{name}" for name in values("StateDirectory")] == [config.StateSettings().dir]


def test_unit_does_not_restart_on_a_configuration_error():
    """Exit code 78 (bad configuration) is not restarted; other failures are, within limits."""
    assert values("Restart") == ["on-failure"]
    assert values("RestartPreventExitStatus") == ["78"]
    assert values("StartLimitIntervalSec", "Unit")
    assert values("StartLimitBurst", "Unit")


def test_unit_notifies_with_a_watchdog():
    """Type=notify from the main process only, with a watchdog and a reload by SIGHUP."""
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    assert values("WatchdogSec") == ["120"]
    assert values("ExecReload") == ["/bin/kill -HUP $MAINPID"]


def test_tmpfiles_create_the_configuration_and_credential_directories(tmp_path):
    """systemd-tmpfiles accepts the file silently and makes /etc/gitopsd and /etc/credstore.

    Not as root, the owner columns become '-' (the caller): only root may chown to root.
    """
    text = TMPFILES.read_text(encoding="utf-8")
    if os.geteuid() != 0:
        text = text.replace(" root root ", " -    -    ")
    conf = tmp_path / "gitopsd.conf"
    conf.write_text(text, encoding="utf-8")
    root = tmp_path / "root"
    (root / "etc" / "credstore").mkdir(parents=True)
    (root / "etc" / "credstore" / "gitopsd.git_token").write_text("placeholder\n")
    (root / "etc" / "credstore" / "gitopsd.git_token").chmod(0o644)
    result = run(tool("systemd-tmpfiles"), f"--root={root}", "--create", str(conf))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    modes = {
        path: (root / path).stat().st_mode & 0o7777
        for path in ("etc/gitopsd", "etc/credstore", "etc/credstore/gitopsd.git_token")
    }
    assert modes == {
        "etc/gitopsd": 0o755,
        "etc/credstore": 0o700,
        "etc/credstore/gitopsd.git_token": 0o600,
    }
