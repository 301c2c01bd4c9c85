"""Incremental cycles and corrections carried across a stopped cycle, over real HTTP.

A ``wiring.Runtime`` is what the daemon holds between cycles: these tests run its cycles in
this process against the emulator and a manifests directory, full and incremental, and read
the emulator's request log and state, the published report and the state database.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator

import pytest
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, World

from gitopsd import config, publish, reconcile, wiring
from gitopsd.core import report
from gitopsd.core.diff import FieldChange, Severity
from gitopsd.core.document import Span
from gitopsd.core.model import ClusterKey, ProjectKey
from gitopsd.core.outcome import Correction
from gitopsd.core.plan import ActionKind
from gitopsd.core.report_model import ClusterEntry
from gitopsd.errors import GitopsdError
from gitopsd.source import Displaced, Published, ReportCommit

CLUSTERS = ("alpha-db", "bravo-db", "charlie-db")
SCHEDULE_PATH = f"/api/atlas/v2/groups/{PROJECT_ID}/clusters/{{}}/backup/schedule"


def write_manifests(world: World, windows: dict[str, int] | None = None) -> None:
    """One project and policy; each cluster its own schedule (restore window per cluster)."""
    windows = windows or {}
    parts = [project(atlas_name=PROJECT_NAME), policy(items=ITEMS)]
    for cluster in CLUSTERS:
        name = cluster.removesuffix("-db")
        window = windows.get(cluster, 2)
        text = schedule(name=f"{name}-nightly").replace(
            "restoreWindowDays: 2", f"restoreWindowDays: {window}"
        )
        parts += [text, deployment(name=name, cluster=cluster, schedule_name=f"{name}-nightly")]
    world.write("backups.yaml", docs(*parts))


def seed_matching(world: World) -> None:
    """Every cluster IDLE with backup on and the schedule Git asks for."""
    world.seed(
        {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [
                {"projectId": PROJECT_ID, "name": c, "backupEnabled": True, "instanceSize": "M30"}
                for c in CLUSTERS
            ],
            "schedules": [
                {"projectId": PROJECT_ID, "clusterName": c, **MATCHING} for c in CLUSTERS
            ],
        }
    )


@pytest.fixture
def runtime(world: World) -> Iterator[wiring.Runtime]:
    """The daemon's long-lived runtime over the world, after a first full cycle."""
    write_manifests(world)
    seed_matching(world)
    settings = config.load(world.config())
    with wiring.Runtime(settings, stop=threading.Event(), long_lived=True) as made:
        _, published = made.cycle(write=True)
        assert published is not None
        assert published.drift.summary.count(report.ReportStatus.IN_SYNC) == len(CLUSTERS)
        world.forget_requests()
        yield made


def schedule_reads(world: World) -> set[str]:
    """The clusters whose schedule was read (GET) since the log was last cleared."""
    return {
        c
        for c in CLUSTERS
        for e in world.requests()
        if e["method"] == "GET" and e["path"] == SCHEDULE_PATH.format(c)
    }


class RefusingSink:
    """A report branch whose remote refuses every push."""

    def publish(self, commit: ReportCommit) -> Published:  # noqa: D102
        raise GitopsdError(f"the remote refused the push of {commit.fingerprint}")

    def displaced(self, base: str, paths: tuple[str, ...]) -> tuple[Displaced, ...]:  # noqa: D102
        del base, paths  # nothing stands in the report's way
        return ()


def window_restored(published: publish.Publication | None, cluster: str) -> ClusterEntry:
    """The report's entry for ``cluster``, checked: its drifted restore window was resolved."""
    assert published is not None
    found = entry(published.drift, cluster)
    assert found.resolved
    assert found.drift
    assert [c.path for c in found.changes] == ["/schedule/restoreWindowDays"]
    return found


def entry(drift: report.DriftReport, cluster: str) -> ClusterEntry:
    """The report's entry for ``cluster``."""
    return next(c for c in drift.clusters if c.key.cluster == cluster)


def test_a_git_change_reads_and_writes_only_the_clusters_it_changes(world, runtime):
    """An incremental cycle reads one schedule and writes it; the report still covers all three."""
    write_manifests(world, {"bravo-db": 3})
    result, published = runtime.cycle(write=True, full=False)
    assert not result.full
    assert schedule_reads(world) == {"bravo-db"}
    assert world.writes() == [("PATCH", SCHEDULE_PATH.format("bravo-db"))]
    assert world.schedule("bravo-db")["restoreWindowDays"] == 3
    assert published is not None
    bravo = entry(published.drift, "bravo-db")
    assert bravo.resolved
    assert not bravo.drift
    assert published.drift.summary.clusters == len(CLUSTERS)
    assert published.drift.summary.count(report.ReportStatus.IN_SYNC) == 2


def test_drift_made_in_atlas_waits_for_the_next_full_cycle(world, runtime):
    """Drift in a cluster Git did not change is left to the full cycle, which corrects it."""
    world.drift_schedule("alpha-db", {"restoreWindowDays": 1})
    write_manifests(world, {"bravo-db": 3})
    runtime.cycle(write=True, full=False)
    assert "alpha-db" not in schedule_reads(world)
    assert world.schedule("alpha-db")["restoreWindowDays"] == 1
    world.forget_requests()
    result, published = runtime.cycle(write=True, full=True)
    assert result.full
    assert schedule_reads(world) == set(CLUSTERS)
    assert world.schedule("alpha-db")["restoreWindowDays"] == 2
    assert published is not None
    assert published.drift.summary.drift_corrected == 1


def test_a_cluster_not_in_sync_is_read_again_by_every_incremental_cycle(world, runtime):
    """A blocked cluster is read by each incremental cycle, whatever file changed."""
    write_manifests(world, {"charlie-db": 1})  # shortening the window is held back
    _, published = runtime.cycle(write=True, full=False)
    assert published is not None
    assert entry(published.drift, "charlie-db").status is report.ReportStatus.BLOCKED
    world.forget_requests()
    write_manifests(world, {"charlie-db": 1, "alpha-db": 3})
    _, published = runtime.cycle(write=True, full=False)
    assert schedule_reads(world) == {"alpha-db", "charlie-db"}
    assert published is not None
    assert entry(published.drift, "charlie-db").status is report.ReportStatus.BLOCKED
    assert world.schedule("charlie-db")["restoreWindowDays"] == 2


def test_the_first_cycle_of_a_runtime_reads_every_cluster(world, runtime):
    """Nothing is known in sync after a start (or a reload): the first cycle reads everything."""
    settings = runtime.settings
    with wiring.Runtime(settings, stop=threading.Event()) as fresh:
        result, _ = fresh.cycle(write=True, full=False)
    assert result.full
    assert schedule_reads(world) == set(CLUSTERS)


def test_an_unchanged_file_is_not_parsed_again(world, runtime):
    """The runtime's parse cache serves unchanged files and parses changed ones."""
    world.write("other.yaml", docs(project(name="spare", atlas_name="Spare")))
    world.write("broken.yaml", "kind: [unclosed\n")
    states = []
    for hits in (1, 3):  # backups.yaml, unchanged; then all three
        result, _ = runtime.cycle(write=True, full=False)
        assert runtime.parsed is not None
        assert runtime.parsed.files.hits == hits
        assert [(p.file, p.line) for p in result.problems] == [("broken.yaml", 1)]
        states.append(result.desired)
    assert states[1] is states[0]  # nothing changed: the last desired state, not rebuilt
    (world.repo / "blob.yaml").write_bytes(b"kind: \x00\x01")  # a new file, not readable
    result, _ = runtime.cycle(write=True, full=False)
    assert [(p.file, p.code) for p in result.problems] == [
        ("blob.yaml", "file-binary"),
        ("broken.yaml", "yaml-syntax"),
    ]
    (world.repo / "blob.yaml").unlink()
    write_manifests(world, {"alpha-db": 3})
    runtime.cycle(write=True, full=False)
    assert runtime.parsed.files.hits == 2
    assert world.schedule("alpha-db")["restoreWindowDays"] == 3


def test_a_correction_made_by_a_cycle_that_stopped_before_reporting_is_reported_next(
    world, runtime
):
    """A correction written by a cycle that never published shows in the next report, once."""
    world.drift_schedule("alpha-db", {"restoreWindowDays": 1})
    # A cycle that writes and never publishes: what a kill between the two leaves behind.
    reconcile.run_cycle(runtime.deps(), threading.Event(), write=True, full=True)
    assert world.schedule("alpha-db")["restoreWindowDays"] == 2
    assert set(runtime.memory.unreported()) == {f"{PROJECT_NAME}/alpha-db"}

    _, published = runtime.cycle(write=True)
    alpha = window_restored(published, "alpha-db")
    assert "stopped before reporting" in alpha.actions[0].reason
    assert published is not None
    assert "1 resolved" in report.subject(published.drift)
    assert runtime.memory.unreported() == {}

    _, published = runtime.cycle(write=True)
    assert published is not None
    assert published.drift.summary.resolved == 0


def test_a_correction_recorded_but_never_sent_leaves_the_cycle_s_own_findings(world, runtime):
    """A record whose write never went out gives way to what the cycle itself finds."""
    key = ClusterKey(project=ProjectKey(name=PROJECT_NAME), cluster="alpha-db")
    stale = Correction(
        key=key,
        drift=False,
        actions=(
            (
                ActionKind.PATCH_SCHEDULE,
                (
                    FieldChange(
                        path="/schedule/referenceHourOfDay",
                        atlas=1,
                        git=3,
                        severity=Severity.MEDIUM,
                        destructive=False,
                        why="recorded earlier",
                        source=Span("backups.yaml", 1, 1),
                    ),
                ),
            ),
        ),
        revision="0" * 40,
    )
    runtime.memory.remember_unreported([(str(key), json.dumps(stale.to_json()))])
    world.drift_schedule("alpha-db", {"restoreWindowDays": 1})
    _, published = runtime.cycle(write=True)
    window_restored(published, "alpha-db")
    assert runtime.memory.unreported() == {}


def test_a_report_that_fails_to_publish_keeps_the_corrections_for_the_next(world, runtime):
    """A push refused: the corrections stay recorded and the next report shows them."""
    world.drift_schedule("alpha-db", {"restoreWindowDays": 1})
    result = reconcile.run_cycle(runtime.deps(), threading.Event(), write=True)
    deps = runtime.publish_deps()

    checkout = runtime.source.checkout()
    failed = publish.publish(result, checkout, dataclasses.replace(deps, sink=RefusingSink()))
    assert failed.problems
    assert set(runtime.memory.unreported()) == {f"{PROJECT_NAME}/alpha-db"}
    _, published = runtime.cycle(write=True)
    assert published is not None
    assert entry(published.drift, "alpha-db").resolved


def test_corrections_survive_in_the_state_database_across_runtimes(world, runtime):
    """A restarted process (a new runtime) reports the corrections the old one left."""
    world.drift_schedule("bravo-db", {"restoreWindowDays": 1})
    reconcile.run_cycle(runtime.deps(), threading.Event(), write=True)
    with wiring.Runtime(runtime.settings, stop=threading.Event()) as restarted:
        _, published = restarted.cycle(write=True, full=False)
    assert published is not None
    assert entry(published.drift, "bravo-db").resolved


def test_a_damaged_record_is_ignored_and_cleared(world, runtime):
    """Records the code cannot read (not JSON, the wrong shape) change nothing and go away."""
    runtime.memory.remember_unreported(
        [(f"{PROJECT_NAME}/alpha-db", "not json"), (f"{PROJECT_NAME}/bravo-db", '{"drift": 1}')]
    )
    _, published = runtime.cycle(write=True)
    assert published is not None
    assert published.drift.summary.resolved == 0
    assert published.drift.summary.count(report.ReportStatus.IN_SYNC) == len(CLUSTERS)
    assert runtime.memory.unreported() == {}
