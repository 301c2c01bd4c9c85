"""Bad input at scale: 1,000 valid clusters converge beside 50 broken files, each reported.

A user's clone pushes to a bare remote: 1,000 AtlasDeployments in 10 projects (one file each,
on 20 schedules over 3 policies), and the 50 files of ``support.broken_manifests``, which
cover every problem code of docs/problems.md that a file can carry, plus valid deployments
that refer into broken files. The emulator holds all 1,000 clusters drifted four ways (backup
off, a moved snapshot hour, a short restore window with PIT off, short retentions without
copies) and the quarantined clusters of the blocked deployments. One ``gitopsd apply`` (the
real command line, in process) must converge every valid cluster, report every broken file at
its file and line, and leave every deployment that depends on a broken file out of the plan,
with nothing sent to Atlas for it.

The cycle runs once per module (``applied``); each test reads a different side of its result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import broken_manifests as broken
from support import manifests as m
from support.gitworld import Remote, User
from support.world import Run, World

from gitopsd.emulator import Emulator

PROJECTS = 10
CLUSTERS = 1_000
SCHEDULES = 20
REPORT_JSON = "drift-report/report.json"
REPORT_MD = "drift-report/REPORT.md"
BRANCH = "gitopsd/drift"
QUARANTINE_ID = "6b" + "0" * 22
WARN_CLUSTER = "warn-db"
APPLY_BUDGET_S = 45.0
"""The cycle's share of the 60 s test timeout; measured at about 7 s (docs/reliability.md)."""

Item = tuple[str, int, str, int]
POLICIES: tuple[tuple[Item, ...], ...] = (
    (("hourly", 6, "days", 2), ("daily", 1, "days", 7), ("weekly", 6, "weeks", 4),
     ("monthly", 40, "months", 12)),
    (("hourly", 12, "days", 2), ("daily", 1, "days", 7)),
    (("daily", 1, "days", 7), ("weekly", 1, "weeks", 4)),
)  # fmt: skip
COPY = {"cloudProvider": "AWS", "regionName": "US_WEST_2", "frequencies": ["DAILY"]}


def project_id(p: int) -> str:
    """The emulator id of fleet project ``p``."""
    return f"6a{p:022x}"


@dataclass(frozen=True, slots=True)
class Desired:
    """What Git asks of one valid cluster."""

    project: str
    cluster: str
    schedule: int
    pit: bool | None

    @property
    def policy(self) -> int:
        """The policy behind its schedule."""
        return self.schedule % len(POLICIES)


def schedule_fields(s: int) -> dict[str, object]:
    """Schedule ``s`` as Atlas holds it when converged."""
    return {
        "referenceHourOfDay": s % 24,
        "referenceMinuteOfHour": s * 7 % 60,
        "restoreWindowDays": 2 + s % 3,
        "copySettings": [COPY | {"shouldCopyOplogs": False}] if s % 5 == 0 else [],
    }


def fleet() -> list[Desired]:
    """The 1,000 valid clusters: 100 per project, PIT on, off or unmanaged."""
    out = []
    for i in range(CLUSTERS):
        s = i % SCHEDULES
        hourly = any(kind == "hourly" for kind, *_ in POLICIES[s % len(POLICIES)])
        out.append(Desired(project_id(i // 100), f"c-{i:04d}", s, (i % 2 == 0) if hourly else None))
    return out


# -- the repository --------------------------------------------------------------------------


def policy_doc(p: int) -> str:
    """AtlasBackupPolicy fleet-pN."""
    items = "".join(
        f"\n    - frequencyType: {kind}\n      frequencyInterval: {interval}"
        f"\n      retentionUnit: {unit}\n      retentionValue: {value}"
        for kind, interval, unit, value in POLICIES[p]
    )
    return m.policy(name=f"fleet-p{p}", items=items) + "\n"


def schedule_doc(s: int) -> str:
    """AtlasBackupSchedule fleet-sNN, as ``schedule_fields`` says."""
    fields = schedule_fields(s)
    text = (
        f"apiVersion: atlas.mongodb.com/v1\nkind: AtlasBackupSchedule\n"
        f"metadata:\n  name: fleet-s{s:02d}\nspec:\n"
        f"  policy:\n    name: fleet-p{s % len(POLICIES)}\n"
        f"  referenceHourOfDay: {fields['referenceHourOfDay']}\n"
        f"  referenceMinuteOfHour: {fields['referenceMinuteOfHour']}\n"
        f"  restoreWindowDays: {fields['restoreWindowDays']}\n"
    )
    if fields["copySettings"]:
        text += (
            "  copySettings:\n    - cloudProvider: AWS\n      regionName: US_WEST_2\n"
            "      shouldCopyOplogs: false\n      frequencies: [DAILY]\n"
        )
    return text


def deployment_doc(d: Desired, p: int) -> str:
    """The AtlasDeployment of one valid cluster."""
    flags = "    backupEnabled: true\n"
    if d.pit is not None:
        flags += f"    pitEnabled: {str(d.pit).lower()}\n"
    return m.deployment(
        name=f"d-{d.cluster}",
        cluster=d.cluster,
        schedule_name=f"fleet-s{d.schedule:02d}",
        project_name=f"fleet-{p:02d}",
        flags=flags,
    ).lstrip("\n")


def write_repository(user: User, clusters: list[Desired]) -> None:
    """Every valid and broken file into the user's clone, committed and pushed."""
    root = user.path / "manifests"
    projects = [
        m.project(name=f"fleet-{p:02d}", atlas_name=f"Fleet {p:02d}") for p in range(PROJECTS)
    ]
    projects.append(m.project(name=broken.QUARANTINE, atlas_name=broken.QUARANTINE_ATLAS_NAME))
    user.write("manifests/fleet/projects.yaml", m.docs(*projects))
    user.write("manifests/fleet/policies.yaml", m.docs(*map(policy_doc, range(len(POLICIES)))))
    user.write("manifests/fleet/schedules.yaml", m.docs(*map(schedule_doc, range(SCHEDULES))))
    for n, d in enumerate(clusters):
        p = n // 100
        user.write(f"manifests/fleet/{p:02d}/{d.cluster}.yaml", deployment_doc(d, p))
    (root / "broken").mkdir(parents=True)
    for entry in (*broken.CATALOGUE, broken.operator_warning(project_id(0), WARN_CLUSTER)):
        target = root / entry.path
        if entry.link_to:
            target.symlink_to(entry.link_to)
        else:
            target.write_bytes(entry.data())
    user.write("manifests/dependents.yaml", broken.dependents_file())
    user.commit("1,000 clusters and 50 broken files")
    user.push()


# -- the emulator ----------------------------------------------------------------------------


def items(policy: tuple[Item, ...], *, daily_days: int = 7) -> list[dict[str, object]]:
    """Policy items as the emulator holds them; the daily one kept ``daily_days``."""
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    out = []
    for kind, interval, unit, value in policy:
        kept = daily_days if kind == "daily" else value
        out.append(dict(zip(keys, (kind, interval, unit, kept), strict=True)))
    return out


def drifted(n: int, d: Desired) -> tuple[dict[str, object], dict[str, object] | None]:
    """Cluster ``n`` and its schedule drifted one of four ways (n % 4)."""
    cluster: dict[str, object] = {
        "projectId": d.project,
        "name": d.cluster,
        "backupEnabled": True,
        "pitEnabled": bool(d.pit),
    }
    fields = schedule_fields(d.schedule)
    schedule: dict[str, object] = {
        "projectId": d.project,
        "clusterName": d.cluster,
        **fields,
        "policies": [{"policyItems": items(POLICIES[d.policy])}],
    }
    match n % 4:
        case 0:  # backup off: gitopsd turns it on, then replaces Atlas's default schedule
            return cluster | {"backupEnabled": False, "pitEnabled": False}, None
        case 1:  # the snapshot hour moved
            schedule["referenceHourOfDay"] = (int(str(fields["referenceHourOfDay"])) + 5) % 24
        case 2:  # a shorter restore window, and PIT off
            schedule["restoreWindowDays"] = 1
            cluster["pitEnabled"] = False
        case _:  # daily snapshots kept 5 days, not 7; no copies
            schedule["policies"] = [{"policyItems": items(POLICIES[d.policy], daily_days=5)}]
            schedule["copySettings"] = []
    return cluster, schedule


def seed_state(clusters: list[Desired]) -> dict[str, object]:
    """The emulator's world: the fleet drifted, the warned cluster, the quarantined ones."""
    projects = [{"id": project_id(p), "name": f"Fleet {p:02d}"} for p in range(PROJECTS)]
    projects.append({"id": QUARANTINE_ID, "name": broken.QUARANTINE_ATLAS_NAME})
    seeded = [drifted(n, d) for n, d in enumerate(clusters)]
    seeded.append(drifted(1, Desired(project_id(0), WARN_CLUSTER, 0, None)))
    quarantined: list[dict[str, object]] = [
        {"projectId": QUARANTINE_ID, "name": name, "backupEnabled": False, "pitEnabled": False}
        | ({"instanceSize": "M2"} if name == "q-40" else {})
        for name in broken.quarantine_clusters()
    ]
    return {
        "projects": projects,
        "clusters": [c for c, _ in seeded] + quarantined,
        "schedules": [s for _, s in seeded if s is not None],
    }


# -- one cycle for the module ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applied:
    """The world after one ``gitopsd apply``, and what it said."""

    world: World
    remote: Remote
    clusters: list[Desired]
    seeded: dict[str, object]
    result: Run
    apply_s: float
    report: dict[str, object]


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """The repository pushed, Atlas seeded, ``gitopsd apply`` run once (concurrency 16)."""
    root = tmp_path_factory.mktemp("scale")
    clusters = fleet()
    seeded = seed_state(clusters)
    home = root / "home"
    home.mkdir()
    remote = Remote(root / "remote.git", home)
    user = User(root / "user", remote, home)
    write_repository(user, clusters)
    with Emulator(seeded, updating_s=0) as emulator:
        (root / "world").mkdir()
        world = World(root / "world", emulator)
        git = f'url = "{remote.url}"\nbranch = "main"\npath = "manifests"'
        config = world.config(git=git)
        config.write_text(config.read_text().replace("[atlas]\n", "[atlas]\nconcurrency = 16\n"))
        started = time.perf_counter()
        result = world.run("apply")
        apply_s = time.perf_counter() - started
        report = json.loads(remote.show(BRANCH, REPORT_JSON))
        try:
            yield Applied(world, remote, clusters, seeded, result, apply_s, report)
        finally:
            world.admin.close()


def state_of(world: World) -> dict[str, dict[tuple[str, str], dict[str, object]]]:
    """The emulator's clusters and schedules, keyed by (project id, cluster name)."""
    state = world.admin.get("/_emulator/state").raise_for_status().json()
    return {
        "clusters": {(c["projectId"], c["name"]): c for c in state["clusters"]},
        "schedules": {(s["projectId"], s["clusterName"]): s for s in state["schedules"]},
    }


def essence(schedule: dict[str, object]) -> dict[str, object]:
    """The managed fields of a schedule, in a comparable form (items and copies as sets)."""
    (policy,) = schedule["policies"]  # type: ignore[misc]
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    copies = schedule.get("copySettings") or []
    return {
        "referenceHourOfDay": schedule["referenceHourOfDay"],
        "referenceMinuteOfHour": schedule["referenceMinuteOfHour"],
        "restoreWindowDays": schedule["restoreWindowDays"],
        "items": frozenset(tuple(i[k] for k in keys) for i in policy["policyItems"]),
        "copies": frozenset(
            (c["cloudProvider"], c["regionName"], bool(c.get("shouldCopyOplogs")),
             frozenset(c["frequencies"]))
            for c in copies  # type: ignore[union-attr]
        ),
    }  # fmt: skip


def wanted(d: Desired) -> dict[str, object]:
    """The managed fields Git asks of ``d``'s schedule."""
    return essence(
        schedule_fields(d.schedule) | {"policies": [{"policyItems": items(POLICIES[d.policy])}]}
    )


# -- the tests -------------------------------------------------------------------------------


def test_the_cycle_finishes_well_within_the_test_timeout(applied):
    """One apply over 1,000 drifted clusters and 50 broken files ends, exit 1, in budget."""
    assert applied.result.code == 1, applied.result.err[-2000:]
    assert applied.apply_s < APPLY_BUDGET_S, f"apply took {applied.apply_s:.1f} s"


def test_every_valid_cluster_converges_to_git(applied):
    """All 1,000 clusters (and the one with only a warning) hold what Git asks, read back."""
    state = state_of(applied.world)
    warned = Desired(project_id(0), WARN_CLUSTER, 0, None)
    wrong = []
    for d in [*applied.clusters, warned]:
        key = (d.project, d.cluster)
        cluster, schedule = state["clusters"][key], state["schedules"].get(key)
        pit_ok = d.pit is None or cluster["pitEnabled"] is d.pit
        if not (
            cluster["backupEnabled"] and pit_ok and schedule and essence(schedule) == wanted(d)
        ):
            wrong.append(d.cluster)
    assert wrong == [], f"{len(wrong)} clusters not converged, e.g. {wrong[:5]}"
    patched = {
        str(e["path"])
        for e in applied.world.requests()
        if e["method"] == "PATCH" and str(e["path"]).endswith("/backup/schedule")
    }
    assert len(patched) == CLUSTERS + 1  # every cluster was drifted, every one was written
    statuses = {c["key"]: c["status"] for c in applied.report["clusters"]}  # type: ignore[union-attr]
    assert len(statuses) == CLUSTERS + 1
    assert all(c["resolved"] for c in applied.report["clusters"])  # type: ignore[union-attr]


def test_every_broken_file_is_reported_with_file_and_line(applied):
    """Each of the 50 files has its problem code at its line in report.json and REPORT.md."""
    entries = (*broken.CATALOGUE, broken.operator_warning(project_id(0), WARN_CLUSTER))
    assert len(entries) == 50
    found = {
        (p["file"], p["code"], p["line"], p["severity"])
        for p in applied.report["problems"]  # type: ignore[union-attr]
    }
    missing = [
        (e.path, e.code, e.expected_line())
        for e in entries
        if (f"manifests/{e.path}", e.code, e.expected_line(), e.severity) not in found
    ]
    assert missing == []
    markdown = applied.remote.show(BRANCH, REPORT_MD)
    unlinked = [
        e.path for e in entries if f"(../manifests/{e.path}#L{e.expected_line()})" not in markdown
    ]
    assert unlinked == []


def test_every_problem_code_of_a_file_is_covered(applied):
    """The catalogue reaches every code docs/problems.md lists for a file or its documents."""
    documented = {
        line.split("`")[1]
        for line in (Path(__file__).parents[2] / "docs" / "problems.md").read_text().splitlines()
        if line.startswith("| `")
    }
    reported = {p["code"] for p in applied.report["problems"]}  # type: ignore[union-attr]
    assert documented - reported == set()


def test_problems_are_only_in_the_broken_files_and_their_dependents(applied):
    """No valid fleet file is blamed; the one dependent problem is the dangling reference."""
    blamed = {
        (p["file"], p["code"])
        for p in applied.report["problems"]  # type: ignore[union-attr]
        if not str(p["file"]).startswith("manifests/broken/")
    }
    assert blamed == {("manifests/dependents.yaml", "dangling-reference")}


def test_deployments_on_broken_files_are_not_planned(applied):
    """Every deployment that is broken or refers into a broken file is listed in notPlanned."""
    not_planned = {n["deployment"] for n in applied.report["notPlanned"]}  # type: ignore[union-attr]
    assert not_planned == broken.blocked_deployments()
    assert all(n["problems"] for n in applied.report["notPlanned"])  # type: ignore[union-attr]
    planned = {c["key"] for c in applied.report["clusters"]}  # type: ignore[union-attr]
    assert not [k for k in planned if k.startswith(broken.QUARANTINE_ATLAS_NAME + "/")]


def test_nothing_is_sent_to_atlas_for_a_deployment_that_is_not_planned(applied):
    """The quarantined clusters are as seeded, and no request touched them."""
    state = state_of(applied.world)
    seeded = {
        c["name"]: c
        for c in applied.seeded["clusters"]  # type: ignore[union-attr]
        if c["projectId"] == QUARANTINE_ID
    }
    for name, before in seeded.items():
        after = state["clusters"][(QUARANTINE_ID, name)]
        assert (after["backupEnabled"], after["pitEnabled"]) == (False, False), name
        assert before["backupEnabled"] is False
        assert (QUARANTINE_ID, name) not in state["schedules"]
    touched = [
        (e["method"], e["path"])
        for e in applied.world.requests()
        if f"/groups/{QUARANTINE_ID}/clusters/" in str(e["path"])
    ]
    assert touched == []


def test_the_command_line_names_every_broken_file(applied):
    """stderr lists each broken file's problem as file:line:column, as validate does."""
    err = applied.result.err
    entries = (*broken.CATALOGUE, broken.operator_warning(project_id(0), WARN_CLUSTER))
    unnamed = [e.path for e in entries if f"manifests/{e.path}:{e.expected_line()}:" not in err]
    assert unnamed == []


def test_a_plan_after_the_cycle_finds_nothing_to_do(applied):
    """Convergence read back by gitopsd itself: the next plan has no action and no write."""
    before = len(applied.world.requests())
    planned = applied.world.run("plan", "--format", "json")
    assert planned.code == 1, planned.err[-2000:]  # the broken files are still there
    body = json.loads(planned.out)
    statuses = {c["status"] for c in body["clusters"]}
    assert (len(body["clusters"]), statuses) == (CLUSTERS + 1, {"in-sync"})
    assert not [c for c in body["clusters"] if c["actions"]]
    assert len(body["notPlanned"]) == len(broken.blocked_deployments())
    later = applied.world.requests()[before:]
    assert not [e for e in later if e["method"] not in {"GET", "HEAD"}]
