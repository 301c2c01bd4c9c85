"""The locked dependency set: the venv is the lock, a stale lock stops `make test`, warnings fail.

Real files and real processes: ``scripts/lock.py`` and ``make`` on copies of the project's own
pyproject.toml, requirements.lock and Makefile, and pytest on a test file written here under the
project's own warning filters. Nothing here reaches a package index.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK_SCRIPT = REPO / "scripts" / "lock.py"


def _lock(*args: str, root: Path = REPO, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, str(LOCK_SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the lock is made from and checked by."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    names = ("pyproject.toml", "requirements.lock", "requirements-runtime.lock", "Makefile")
    for name in (*names, "scripts/lock.py"):
        shutil.copy2(REPO / name, root / name)
    return root


def test_every_installed_distribution_is_pinned_by_the_lock():
    """The environment running the suite holds exactly the lock's pins, plus gitopsd itself."""
    done = _lock("pins")
    assert done.returncode == 0, done.stdout + done.stderr
    locked = set(done.stdout.split())
    installed = {
        f"{_normalize(dist.metadata['Name'])}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if _normalize(dist.metadata["Name"]) != "gitopsd"
    }
    assert len(locked) > 40
    assert installed - locked == set(), "installed but not locked: run `make clean test`"
    assert locked - installed == set(), "locked but not installed: run `make clean test`"


def _blocks(path: Path) -> dict[str, str]:
    """Each pin of a lock with its hash lines, comments left out."""
    blocks: dict[str, str] = {}
    name = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        pin = re.match(r"^([A-Za-z0-9][\w.-]*)==", line)
        if pin:
            name = _normalize(pin.group(1))
            blocks[name] = line
        elif name and line.strip().startswith("--hash="):
            blocks[name] += line
    return blocks


def _runtime_closure() -> set[str]:
    """gitopsd's runtime requirements and theirs, as the environment resolves them."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [Requirement(req) for req in importlib.metadata.requires("gitopsd") or ()]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = _normalize(req.name)
        if name in seen:
            continue
        seen.add(name)
        todo.extend(Requirement(r) for r in importlib.metadata.requires(req.name) or ())
    return seen


def test_the_runtime_lock_is_the_runtime_part_of_the_lock():
    """requirements-runtime.lock pins exactly what gitopsd needs, as requirements.lock does."""
    full = _blocks(REPO / "requirements.lock")
    runtime = _blocks(REPO / "requirements-runtime.lock")
    assert set(runtime) == _runtime_closure()
    assert {name: full[name] for name in runtime} == runtime


def test_the_committed_lock_is_made_from_pyproject():
    """requirements.lock records the digest of pyproject.toml's dependency inputs as they are."""
    done = _lock("check")
    assert (done.returncode, done.stdout) == (0, "")


def test_a_dependency_added_without_a_new_lock_fails_with_one_line(project: Path):
    """A dependency added to pyproject.toml and not locked is named as a stale lock, exit 1."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"pathspec>=0.12",', '"pathspec>=0.12",\n    "rich>=13",'))
    done = _lock("check", root=project)
    assert done.returncode == 1
    assert done.stdout.count("\n") == 1
    assert "requirements.lock is out of date" in done.stdout
    assert "make lock" in done.stdout


def test_a_changed_range_or_tool_group_needs_a_new_lock(project: Path):
    """Raising a bound or changing the tools group is a dependency change too."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    for changed in (text.replace('"uv>=0.13"', '"uv>=0.14"'), text.replace("<0.20", "<0.21")):
        assert changed != text
        pyproject.write_text(changed, encoding="utf-8")
        assert _lock("check", root=project).returncode == 1


def test_comments_and_tool_settings_need_no_new_lock(project: Path):
    """Only dependency inputs count: a comment or a ruff setting leaves the lock current."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    changed = text.replace("line-length = 100", "line-length = 99").replace(
        "dependencies = [", "dependencies = [  # a comment", 1
    )
    assert changed != text
    pyproject.write_text(changed, encoding="utf-8")
    done = _lock("check", root=project)
    assert (done.returncode, done.stdout) == (0, "")


def test_a_build_backend_missing_from_the_tools_group_is_refused(project: Path):
    """The build backend must be pinned, since gitopsd is installed without build isolation."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('    "hatchling>=1.25",\n', "", 1), encoding="utf-8")
    done = _lock("check", root=project)
    assert done.returncode == 1
    assert "[build-system] requires 'hatchling>=1.25'" in done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_stops_at_a_stale_lock_before_installing_anything(project: Path):
    """`make test` on a changed pyproject.toml says what to do and builds no environment."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"pathspec>=0.12",', '"pathspec>=0.13",'), encoding="utf-8")
    done = subprocess.run(
        ["make", "-C", str(project), "test", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    assert "gitopsd: requirements.lock is out of date" in done.stdout
    assert not (project / ".venv").exists()


def test_a_failed_install_is_one_line_naming_the_log(project: Path, tmp_path: Path):
    """With no index to install from, install says which step failed and where the output is."""
    empty = tmp_path / "no-packages"
    empty.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PIP_") and key != "VIRTUAL_ENV"
    }
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty)}
    done = _lock("install", ".venv", root=project, env=env)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("gitopsd: setting up .venv from requirements.lock")
    assert len(lines) == 2
    assert "installing the pinned pip failed" in lines[1]
    log = project / ".cache" / "install.log"
    assert str(log) in lines[1]
    assert "No matching distribution" in log.read_text(encoding="utf-8")
    assert not (project / ".venv" / ".lock-sha256").exists()


WARNING_TESTS = """
import warnings

from cryptography.utils import CryptographyDeprecationWarning


def test_our_own_deprecation():
    warnings.warn("old", DeprecationWarning, stacklevel=1)


def test_dsa_attributed_to_another_module():
    warnings.warn_explicit(
        "DSA is deprecated", CryptographyDeprecationWarning, "x.py", 1, module="gitopsd.x"
    )


def test_dsa_attributed_to_asyncssh():
    warnings.warn_explicit(
        "DSA is deprecated", CryptographyDeprecationWarning, "m.py", 1,
        module="asyncssh.crypto.misc",
    )
"""


def test_warnings_fail_tests_except_the_one_named_upstream_cause(tmp_path: Path):
    """Under the project's filters our own warnings fail; only asyncssh's DSA one is let pass."""
    test_file = tmp_path / "test_warnings_policy.py"
    test_file.write_text(textwrap.dedent(WARNING_TESTS), encoding="utf-8")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml")),
            *("--rootdir", str(REPO), "-p", "no:randomly", "-p", "no:cacheprovider"),
            *("-q", "-rA", str(test_file)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    outcome = {
        name: status
        for status, name in re.findall(r"^(PASSED|FAILED) \S+::(\w+)", done.stdout, re.MULTILINE)
    }
    assert outcome == {
        "test_our_own_deprecation": "FAILED",
        "test_dsa_attributed_to_another_module": "FAILED",
        "test_dsa_attributed_to_asyncssh": "PASSED",
    }, done.stdout
