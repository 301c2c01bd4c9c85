"""A small world for reconcile tests: a manifests directory, a config file, the emulator.

``World`` writes real manifest files and a real TOML config (credentials in real files), runs
the real command line in this process, and reads the emulator's state and request log over
its admin API. Nothing of gitopsd is replaced.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gitopsd import cli
from gitopsd.emulator import Emulator

PROJECT_ID = "32b6e34b3d91647abb20e7b8"
PROJECT_NAME = "Production"


@dataclass(frozen=True, slots=True)
class Run:
    """One command's exit code and output."""

    code: int
    out: str
    err: str

    def json(self) -> dict[str, object]:
        """The standard output parsed as JSON."""
        parsed = json.loads(self.out)
        assert isinstance(parsed, dict)
        return parsed


def key_files(directory: Path, emulator: Emulator) -> Path:
    """The emulator's API key as ``public_key`` and ``private_key`` files in a new directory."""
    directory.mkdir()
    (directory / "public_key").write_text(emulator.credentials.public_key)
    (directory / "private_key").write_text(emulator.credentials.private_key)
    return directory


class World:
    """Manifests, config and emulator of one test."""

    def __init__(self, root: Path, emulator: Emulator) -> None:
        self.root = root
        self.repo = root / "repo"
        self.repo.mkdir()
        self.emulator = emulator
        self.admin = httpx.Client(base_url=emulator.url, timeout=10)
        self.secrets = key_files(root / "secrets", emulator)

    def write(self, name: str, text: str) -> Path:
        """Write a dedented file under the manifests directory."""
        path = self.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def config(self, reconcile: str = "", extra: str = "", git: str = "") -> Path:
        """Write gitopsd.toml pointing at the repo, the emulator and the secret files.

        ``git`` replaces the ``[git]`` keys (e.g. another url and a path).
        """
        path = self.root / "gitopsd.toml"
        path.write_text(
            f"""
[git]
{git or f'url = "{self.repo}"'}

[atlas]
base_url = "{self.emulator.url}"
public_key_file = "{self.secrets / "public_key"}"
private_key_file = "{self.secrets / "private_key"}"
timeout_s = 5
max_attempts = 4

[reconcile]
default_namespace = "default"
{reconcile}

[state]
dir = "{self.root / "state"}"
{extra}
""",
            encoding="utf-8",
        )
        return path

    def run(self, *args: str) -> Run:
        """Run the command line in this process with the config; capture its output."""
        config = self.root / "gitopsd.toml"
        if not config.exists():
            self.config()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*args, "--config", str(config)])
        assert "Traceback" not in out.getvalue() + err.getvalue(), err.getvalue()
        return Run(code, out.getvalue(), err.getvalue())

    # -- the emulator's side -------------------------------------------------------------

    def seed(self, state: dict[str, object]) -> None:
        """Replace the emulator's world."""
        self.admin.put("/_emulator/state", json=state).raise_for_status()

    def schedule(self, cluster: str, project_id: str = PROJECT_ID) -> dict[str, object]:
        """A cluster's schedule as the emulator holds it."""
        state = self.admin.get("/_emulator/state").raise_for_status().json()
        for s in state["schedules"]:
            if s["projectId"] == project_id and s["clusterName"] == cluster:
                return dict(s)
        raise AssertionError(f"no schedule for {cluster}")

    def cluster(self, name: str, project_id: str = PROJECT_ID) -> dict[str, object]:
        """A cluster as the emulator holds it."""
        state = self.admin.get("/_emulator/state").raise_for_status().json()
        for c in state["clusters"]:
            if c["projectId"] == project_id and c["name"] == name:
                return dict(c)
        raise AssertionError(f"no cluster {name}")

    def drift_schedule(self, cluster: str, fields: dict[str, object]) -> None:
        """Change a schedule behind gitopsd's back."""
        path = f"/_emulator/schedules/{PROJECT_ID}/{cluster}"
        self.admin.patch(path, json=fields).raise_for_status()

    def drift_cluster(self, cluster: str, fields: dict[str, object]) -> None:
        """Change a cluster behind gitopsd's back."""
        self.admin.patch(f"/_emulator/clusters/{PROJECT_ID}/{cluster}", json=fields)

    def requests(self) -> list[dict[str, object]]:
        """The emulator's request log."""
        log = self.admin.get("/_emulator/requests").raise_for_status().json()["requests"]
        return [dict(e) for e in log]

    def forget_requests(self) -> None:
        """Clear the request log."""
        self.admin.delete("/_emulator/requests").raise_for_status()

    def writes(self) -> list[tuple[str, str]]:
        """Every write in the request log, as (method, path)."""
        return [
            (str(e["method"]), str(e["path"]))
            for e in self.requests()
            if e["method"] not in {"GET", "HEAD"} and str(e["path"]).startswith("/api/atlas")
        ]


def items(*specs: tuple[str, int, str, int]) -> list[dict[str, object]]:
    """Policy items for a seeded schedule: (type, interval, unit, value)."""
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    return [dict(zip(keys, s, strict=True)) for s in specs]


MATCHING = {
    "referenceHourOfDay": 3,
    "referenceMinuteOfHour": 30,
    "restoreWindowDays": 2,
    "copySettings": [],
    "policies": [{"policyItems": items(("hourly", 6, "days", 2), ("daily", 1, "days", 7))}],
}
"""A schedule as Atlas holds it when it matches ``support.manifests``' default schedule and
policy (hourly 6 h kept 2 days, daily kept 7 days, 03:30, a 2-day restore window)."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """An empty emulator and an empty manifests directory."""
    with Emulator({"projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}]}) as emulator:
        made = World(tmp_path, emulator)
        try:
            yield made
        finally:
            made.admin.close()
