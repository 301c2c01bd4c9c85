"""`gitopsd demo`: one self-contained end-to-end run on embedded defaults.

Owns the demo's Atlas world (the projects and clusters ``manifests-example/`` targets, with
some drift planted), its throw-away workspace (a copy of the manifests, a config file, the
emulator's API key in credential files) and the narrated run: plan, apply, plan again. The
emulator runs in this process on a free loopback port; nothing outside the temporary
directory is written, and nothing leaves the machine.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from gitopsd import config, reconcile, wiring
from gitopsd.core import plan_output
from gitopsd.core.outcome import CycleResult
from gitopsd.emulator import Emulator

PRODUCTION = "65a1c0ffee00000000000001"
STAGING = "65a1c0ffee00000000000002"

Spec = tuple[str, int, str, int]
STANDARD: tuple[Spec, ...] = (
    ("hourly", 6, "days", 2),
    ("daily", 1, "days", 7),
    ("weekly", 6, "weeks", 4),
    ("monthly", 40, "months", 12),
)
CRITICAL: tuple[Spec, ...] = (
    ("hourly", 6, "days", 7),
    ("daily", 1, "days", 30),
    ("weekly", 7, "weeks", 13),
    ("monthly", 40, "months", 13),
    ("yearly", 1, "years", 7),
)
STAGING_SHORT: tuple[Spec, ...] = (("daily", 1, "days", 5), ("weekly", 1, "weeks", 2))
ALL_FREQUENCIES = ["HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND"]


def _policy(*items: Spec) -> list[dict[str, object]]:
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    return [{"policyItems": [dict(zip(keys, i, strict=True)) for i in items]}]


def _schedule(project: str, cluster: str, **fields: object) -> dict[str, object]:
    return {"projectId": project, "clusterName": cluster, "copySettings": [], **fields}


def atlas_world() -> dict[str, object]:
    """The Atlas the demo starts from: mostly as Git says, with drift here and there."""
    clusters = [
        (PRODUCTION, "catalog-search", "M20", True, False),
        (PRODUCTION, "catalog-main", "M30", True, False),  # Git turns PIT on
        (PRODUCTION, "CatalogEvents", "M20", True, False),
        (PRODUCTION, "payments-ledger", "M40", True, True),
        (PRODUCTION, "payments-reporting", "M30", False, False),  # Git turns backup on
        (STAGING, "catalog-staging", "M10", True, False),
        (STAGING, "payments-staging", "M10", True, False),
    ]
    ledger_copy = {
        "cloudProvider": "AWS",
        "regionName": "US_WEST_2",
        "shouldCopyOplogs": True,
        "frequencies": ALL_FREQUENCIES,
    }
    schedules = [
        _schedule(
            PRODUCTION,
            "catalog-search",
            referenceHourOfDay=5,
            referenceMinuteOfHour=30,
            restoreWindowDays=2,
            policies=_policy(*STANDARD),
        ),
        # Someone moved the snapshot hour and shortened the daily retention by hand.
        _schedule(
            PRODUCTION,
            "catalog-main",
            referenceHourOfDay=9,
            referenceMinuteOfHour=30,
            restoreWindowDays=2,
            policies=_policy(STANDARD[0], ("daily", 1, "days", 3), *STANDARD[2:]),
        ),
        # Observe mode in Git: this drift is reported, never written.
        _schedule(
            PRODUCTION,
            "CatalogEvents",
            referenceHourOfDay=5,
            referenceMinuteOfHour=30,
            restoreWindowDays=1,
            policies=_policy(*STANDARD),
        ),
        # An extra item added by hand: removing it is destructive, so the guard blocks it.
        _schedule(
            PRODUCTION,
            "payments-ledger",
            referenceHourOfDay=4,
            referenceMinuteOfHour=15,
            restoreWindowDays=7,
            copySettings=[ledger_copy],
            policies=_policy(*CRITICAL, ("monthly", 15, "months", 13)),
        ),
        _schedule(
            STAGING,
            "catalog-staging",
            referenceHourOfDay=1,
            referenceMinuteOfHour=0,
            policies=_policy(*STAGING_SHORT),
        ),
        _schedule(
            STAGING,
            "payments-staging",
            referenceHourOfDay=1,
            referenceMinuteOfHour=0,
            policies=_policy(*STAGING_SHORT),
        ),
    ]
    return {
        "projects": [
            {"id": PRODUCTION, "name": "Acme Production"},
            {"id": STAGING, "name": "Acme Staging"},
        ],
        "clusters": [
            {
                "projectId": project,
                "name": name,
                "instanceSize": size,
                "backupEnabled": backup,
                "pitEnabled": pit,
            }
            for project, name, size, backup, pit in clusters
        ],
        "schedules": schedules,
    }


def _workspace(root: Path, manifests: Path, emulator: Emulator) -> Path:
    repo = root / "repo"
    shutil.copytree(manifests, repo)
    secrets = root / "credentials"
    secrets.mkdir()
    (secrets / "atlas_public_key").write_text(emulator.credentials.public_key)
    (secrets / "atlas_private_key").write_text(emulator.credentials.private_key)
    path = root / "gitopsd.toml"
    path.write_text(
        f"""# Written by gitopsd demo; the same keys as config/gitopsd.example.toml.
[git]
url = "{repo}"

[atlas]
base_url = "{emulator.url}"
public_key_file = "credentials/atlas_public_key"
private_key_file = "credentials/atlas_private_key"

[manifests]
exclude = ["drafts"]

[reconcile]
default_namespace = "default"

[state]
dir = "state"
""",
        encoding="utf-8",
    )
    return path


def _cycle(config_path: Path, *, write: bool) -> CycleResult:
    stop = threading.Event()
    with wiring.Runtime(config.load(config_path), stop=stop, dry_run=not write) as runtime:
        return reconcile.run_cycle(runtime.deps(), stop, write=write)


def run(manifests: Path, out: TextIO | None = None) -> int:
    """Plan, apply and plan again against the emulator; 0 when the demo ran as intended."""
    if not manifests.is_dir():
        sys.stderr.write(f"gitopsd demo: {manifests} is not a directory of manifests\n")
        return 1
    with (
        tempfile.TemporaryDirectory(prefix="gitopsd-demo-") as tmp,
        Emulator(atlas_world()) as emulator,
    ):
        config_path = _workspace(Path(tmp), manifests, emulator)
        say = (out or sys.stdout).write
        say(
            f"gitopsd demo: manifests copied from {manifests}; an Atlas emulator at"
            f" {emulator.url}\nholds 7 clusters in 2 projects, some changed by hand.\n\n"
        )
        say("== 1. gitopsd plan: read Git and Atlas, write nothing\n\n")
        first = _cycle(config_path, write=False)
        say(plan_output.render_text(first) + "\n\n")
        say("== 2. gitopsd apply: write what the guard allows, read it back\n\n")
        applied = _cycle(config_path, write=True)
        say(plan_output.render_text(applied) + "\n\n")
        say("== 3. gitopsd plan again\n\n")
        again = _cycle(config_path, write=False)
        say(plan_output.render_text(again) + "\n\n")
        say(
            "What happened: drifted clusters were put back as Git says and read back; the"
            " ledger's\nextra item stays, because removing it is destructive and needs the"
            ' annotation\ngitopsd.io/allow-destructive: "true"; CatalogEvents is in observe'
            " mode, so its drift\nis only reported. Run it yourself: docs/reconcile.md.\n"
        )
    return 0
