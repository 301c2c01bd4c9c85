"""`gitopsd demo`: one self-contained end-to-end run on embedded defaults.

Owns the demo's Atlas world (the projects and clusters ``manifests-example/`` targets, two
of them unlike the manifests), its throw-away workspace (a bare Git "remote" seeded from the
manifests by a user's commit, a config file, the emulator's API key in credential files) and the
narrated run: plan; apply with a report committed to the report branch; a change made in
Atlas by hand and the drift report that follows; the report branch's log and the report; and
a last apply that commits nothing. The emulator runs in this process on a free loopback port;
nothing outside the temporary directory is written, and nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import TextIO

from gitopsd import config, demo_daemon, publish, wiring
from gitopsd.core import plan_output
from gitopsd.core.outcome import CycleResult
from gitopsd.emulator import Emulator
from gitopsd.errors import GitopsdError

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
    """The Atlas the demo starts from: mostly as Git says, two clusters unlike the manifests."""
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
        # Observe mode in Git: as Git says today; step 3 of the demo changes it by hand.
        _schedule(
            PRODUCTION,
            "CatalogEvents",
            referenceHourOfDay=5,
            referenceMinuteOfHour=30,
            restoreWindowDays=2,
            policies=_policy(*STANDARD),
        ),
        # As Git says today; step 3 of the demo adds an item by hand.
        _schedule(
            PRODUCTION,
            "payments-ledger",
            referenceHourOfDay=4,
            referenceMinuteOfHour=15,
            restoreWindowDays=7,
            copySettings=[ledger_copy],
            policies=_policy(*CRITICAL),
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
        # The export bucket reporting-export names (manifests-example/schedules/payments.yaml).
        "exportBuckets": [
            {
                "projectId": PRODUCTION,
                "id": "6553f0a1c2b3d4e5f6a7b8c9",
                "bucketName": "acme-atlas-audit-exports",
            }
        ],
        "schedules": schedules,
    }


def _git(*args: str, cwd: Path) -> str:
    """Run ``git`` as the demo's user would, with a fixed identity and no outside config."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Platform Team",
        "GIT_AUTHOR_EMAIL": "platform@acme.example",
        "GIT_COMMITTER_NAME": "Platform Team",
        "GIT_COMMITTER_EMAIL": "platform@acme.example",
    }
    git = shutil.which("git")
    if git is None:
        raise GitopsdError("the demo needs the git command; install git")
    done = subprocess.run(  # noqa: S603 - fixed arguments, the demo's own repositories
        [git, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _repository(root: Path, manifests: Path) -> Path:
    """A bare "remote" holding ``manifests`` on ``main``, pushed from a user's clone."""
    remote = root / "atlas-backups.git"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=root)
    user = root / "user-clone"
    shutil.copytree(manifests, user)
    _git("init", "--quiet", "--initial-branch=main", cwd=user)
    _git("add", "--all", cwd=user)
    _git("commit", "--quiet", "-m", "Backup manifests for Acme's Atlas projects", cwd=user)
    _git("push", "--quiet", str(remote), "main", cwd=user)
    return remote


def _workspace(root: Path, remote: Path, emulator: Emulator) -> Path:
    secrets = root / "credentials"
    secrets.mkdir()
    (secrets / "atlas_public_key").write_text(emulator.credentials.public_key)
    (secrets / "atlas_private_key").write_text(emulator.credentials.private_key)
    path = root / "gitopsd.toml"
    path.write_text(
        f"""# Written by gitopsd demo; the same keys as config/gitopsd.example.toml.
[git]
url = "file://{remote}"
branch = "main"

[atlas]
base_url = "{emulator.url}"
public_key_file = "credentials/atlas_public_key"
private_key_file = "credentials/atlas_private_key"

[manifests]
exclude = ["drafts"]

[reconcile]
default_namespace = "default"

[report]
branch = "gitopsd/drift"
dir = "drift-report"

[state]
dir = "state"
""",
        encoding="utf-8",
    )
    return path


def _cycle(config_path: Path, *, write: bool) -> tuple[CycleResult, publish.Publication | None]:
    stop = threading.Event()
    with wiring.Runtime(config.load(config_path), stop=stop, dry_run=not write) as runtime:
        return runtime.cycle(write=write)


def _change_atlas_by_hand(emulator: Emulator) -> None:
    """Out-of-band changes: someone edits Atlas in its UI, behind Git's back."""
    ledger = _policy(*CRITICAL, ("monthly", 15, "months", 13))  # removing it is destructive
    for path, body in (
        (f"/_emulator/schedules/{PRODUCTION}/catalog-main", {"referenceHourOfDay": 11}),
        (f"/_emulator/schedules/{PRODUCTION}/CatalogEvents", {"restoreWindowDays": 1}),
        (f"/_emulator/schedules/{PRODUCTION}/payments-ledger", {"policies": ledger}),
    ):
        request = urllib.request.Request(  # noqa: S310 - the emulator on loopback
            emulator.url + path,
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


def _summary(markdown: str) -> str:
    """REPORT.md up to its graph: the verdict, the counts and the clusters that need a look."""
    return markdown.split("\n## Graph", 1)[0].rstrip()


def run(manifests: Path, out: TextIO | None = None) -> int:
    """The whole loop against the emulator and a local Git remote; 0 when it ran as intended."""
    if not manifests.is_dir():
        sys.stderr.write(f"gitopsd demo: {manifests} is not a directory of manifests\n")
        return 1
    with (
        tempfile.TemporaryDirectory(prefix="gitopsd-demo-") as tmp,
        Emulator(atlas_world()) as emulator,
    ):
        root = Path(tmp)
        remote = _repository(root, manifests)
        config_path = _workspace(root, remote, emulator)
        say = (out or sys.stdout).write
        say(
            f"gitopsd demo: a Git remote at {remote} holds {manifests} on main;\nan Atlas"
            f" emulator at {emulator.url} holds 7 clusters in 2 projects, some changed by"
            " hand.\n\n"
        )
        say("== 1. gitopsd plan: read Git and Atlas, write nothing\n\n")
        first, _ = _cycle(config_path, write=False)
        say(plan_output.render_text(first) + "\n\n")
        say("== 2. gitopsd apply: write what the guard allows, read it back, commit a report\n\n")
        applied, published = _cycle(config_path, write=True)
        assert published is not None
        say(plan_output.render_text(applied) + "\n\n" + _where(published) + "\n\n")
        say(
            "== 3. Someone changes Atlas by hand: catalog-main's snapshot hour moves to 11:30,"
            "\n   CatalogEvents (in observe mode in Git) keeps 1 day of PIT restore, not 2,"
            "\n   and payments-ledger gets an extra monthly item\n\n"
        )
        _change_atlas_by_hand(emulator)
        drifted, published = _cycle(config_path, write=True)
        assert published is not None
        say(plan_output.render_text(drifted) + "\n\n" + _where(published) + "\n\n")
        say("== 4. The report branch on the remote\n\n")
        log = _git("log", "--format=%h %s%n%b", "main..gitopsd/drift", cwd=remote)
        files = _git("diff", "--stat", "main...gitopsd/drift", cwd=remote)
        say(f"$ git log main..gitopsd/drift\n{log}\n\n$ git diff --stat main...gitopsd/drift\n")
        say(files + "\n\n")
        say(f"== 5. The report ({published.paths[0]}), up to its graph\n\n")
        say(_summary(published.paths[0].read_text(encoding="utf-8")) + "\n\n")
        say("== 6. gitopsd apply twice more: the report drops what was resolved, then nothing\n\n")
        for _ in range(2):
            _, again = _cycle(config_path, write=True)
            assert again is not None
            say(_where(again) + "\n")
        say("\n")
        say("== 7. gitopsd run: the daemon, a push and its webhook, then SIGTERM\n\n")
        demo_daemon.run(root, config_path, emulator, say, git=_git, project=STAGING)
        say(
            "What happened: gitopsd put catalog-main back as Git says. CatalogEvents is in"
            " observe mode,\nso its drift is only reported; its schedule also serves two other"
            " clusters, so the report\nexplains why it cannot offer a manifest edit that accepts"
            " it (for a cluster with its own\nschedule it would). The ledger's extra item stays:"
            " removing it is destructive, so the report\nasks to put it in Git or to allow its"
            ' removal with gitopsd.io/allow-destructive: "true".\nMore: docs/drift-reports.md.\n'
        )
    return 0


def _where(published: publish.Publication) -> str:
    lines = [f"report: {published.fingerprint[:19]}..."]
    if published.commit:
        lines.append(f"committed to {published.branch} as {published.commit[:12]}")
    else:
        lines.append(f"{published.branch or 'the report branch'} already holds this report")
    lines += [f"problem: {p}" for p in published.problems]
    return "\n".join(lines)
