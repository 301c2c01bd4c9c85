"""Plans and cycle results as text for people and as stable JSON for machines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.builders import (
    blocked_cluster,
    cluster_key,
    default_items,
    desired_cluster,
    desired_schedule,
    desired_state,
    failed_observation,
    item,
    observation_of,
    observed_cluster,
    observed_schedule,
    problem,
)

from gitopsd.core import report, report_json
from gitopsd.core.model import DesiredCluster, Mode
from gitopsd.core.outcome import ActionResult, ClusterResult, CycleResult, Outcome
from gitopsd.core.plan import (
    ClusterPlan,
    Failure,
    Hold,
    Observation,
    Options,
    Plan,
    Status,
    compute,
)
from gitopsd.core.plan_output import render_json, render_text, summary

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
REVISION = "main@4f2a9c1"


def atlas(name: str = "orders", **cluster_overrides) -> Observation:
    """What Atlas holds for the baseline cluster ``name``, the cluster bent as told."""
    return observation_of(desired_cluster(name), **cluster_overrides)


def without(frequency: str) -> list:
    """The baseline items less the ``frequency`` one."""
    return [i for i in default_items() if str(i.frequency) != frequency]


def keep(*frequencies: str) -> list:
    """The baseline items of the given frequencies."""
    return [i for i in default_items() if str(i.frequency) in frequencies]


def plan_of(
    *pairs: tuple[DesiredCluster, Observation], options: Options | None = None, **state
) -> Plan:
    """The plan of the clusters against their observations."""
    desired = desired_state(*(d for d, _ in pairs), **state)
    return compute(desired, {d.key: seen for d, seen in pairs}, options or Options())


def cycle(plan: Plan, **overrides) -> CycleResult:
    """A planned (not applied) cycle at ``REVISION``."""
    values: dict = {"revision": REVISION, "plan": plan, "problems": plan.problems, "clusters": ()}
    values.update(overrides)
    return CycleResult(**values)


def text(*pairs: tuple[DesiredCluster, Observation], **state) -> list[str]:
    """The text rendering of a plan, as lines."""
    return render_text(cycle(plan_of(*pairs, **state))).splitlines()


def as_json(*pairs: tuple[DesiredCluster, Observation], **state) -> dict:
    """The JSON rendering of a plan, parsed."""
    return json.loads(render_json(cycle(plan_of(*pairs, **state))))


def in_sync(name: str = "orders") -> tuple[DesiredCluster, Observation]:
    """A converged cluster."""
    return desired_cluster(name), atlas(name)


def window(days: int = 14, name: str = "orders", **cluster) -> tuple[DesiredCluster, Observation]:
    """A cluster whose restore window Git changes from 7 to ``days``."""
    return desired_cluster(name, schedule=desired_schedule(restore_window_days=days)), atlas(
        name, **cluster
    )


def removal(name: str = "orders") -> tuple[DesiredCluster, Observation]:
    """A cluster whose manifest drops the daily item."""
    return desired_cluster(name, schedule=desired_schedule(items=without("daily"))), atlas(name)


def missing(name: str = "ghost") -> tuple[DesiredCluster, Observation]:
    """A cluster Atlas does not have."""
    return desired_cluster(name), Observation(cluster=None)


def applied(plan: Plan, *results: ClusterResult) -> CycleResult:
    """An applied cycle with the given results."""
    return cycle(plan, clusters=results, applied=True)


def ran(cluster: ClusterPlan, *outcomes: Outcome, converged: bool = True, **extra) -> ClusterResult:
    """A cluster result whose actions ended as ``outcomes``."""
    results = tuple(
        ActionResult(kind=a.kind, outcome=o, changes=a.changes, **extra)
        for a, o in zip(cluster.actions, outcomes, strict=True)
    )
    return ClusterResult(plan=cluster, results=results, converged=converged)


# -- text --------------------------------------------------------------------------------------


def test_text_heads_a_changed_cluster_with_a_tilde():
    """A cluster with changes opens with ~, its key, status, deployment and mode."""
    assert (
        text(window())[0]
        == "~ Production/orders  [pending]  deployment default/orders, enforce mode"
    )


def test_text_shows_a_change_as_atlas_to_git_with_severity():
    """A field reads path: atlas → git [severity], then where Git asked for it."""
    assert "    /schedule/restoreWindowDays: 7 → 14  [low]  (backups.yaml:22:1)" in text(window())


def test_text_marks_destructive_changes():
    """A destructive change carries the word in its brackets."""
    lines = text(removal())
    assert (
        "    /schedule/policyItems/daily/1: 7 days → (none)  [critical, destructive]"
        "  (backups.yaml:40:1)" in lines
    )


def test_text_shows_flags_as_true_and_false():
    """Boolean values read true and false."""
    lines = text((desired_cluster(), atlas(pit_enabled=False)))
    assert "    /pitEnabled: false → true  [low]  (backups.yaml:10:1)" in lines


def test_text_lists_planned_actions():
    """Actions to send read planned: <kind>."""
    assert "    planned: patch-schedule" in text(window())


def test_text_shows_why_an_action_is_blocked():
    """A blocked action shows the guard's reason."""
    lines = text(removal())
    at = next(n for n, line in enumerate(lines) if line.startswith("    blocked: patch-schedule: "))
    assert lines[at].startswith("    blocked: patch-schedule: destructive: removes the daily item")
    assert lines[at + 1].startswith("      To allow it")
    assert 'gitopsd.io/allow-destructive: "true"' in lines[at + 1]


def test_text_shows_why_an_action_is_skipped():
    """A skipped action shows why it waits."""
    lines = text(window(paused=True))
    assert (
        "    skipped: patch-schedule: the cluster is paused;"
        " the schedule is written once it is resumed" in lines
    )


def test_text_shows_observed_actions():
    """In observe mode actions read observed, with the mode in the heading."""
    lines = render_text(cycle(plan_of(window(), options=Options(mode=Mode.OBSERVE)))).splitlines()
    assert lines[0].endswith("observe mode")
    assert "    observed: patch-schedule: observe mode: reported, never written" in lines


def test_text_leaves_in_sync_clusters_out():
    """Clusters in sync are not listed."""
    assert not any("Production/billing" in line for line in text(window(), in_sync("billing")))


def test_text_counts_in_sync_clusters_in_the_summary_line():
    """The last line counts every cluster by status, in sync included, and those needing a look."""
    assert text(window(), in_sync("billing"))[-1] == (
        f"Plan at {REVISION}: 2 clusters: 0 drifted, 1 pending, 0 blocked, 0 skipped, 0 errors,"
        " 1 in sync; 1 needs attention"
    )


def test_text_calls_a_drifted_cluster_drifted_as_the_report_does():
    """A cluster Atlas changed out of band reads drifted, in its block and in the counts."""
    plan = plan_of(window())
    lines = render_text(cycle(plan, settled=frozenset({cluster_key()}))).splitlines()
    assert lines[0] == "~ Production/orders  [drifted]  deployment default/orders, enforce mode"
    assert lines[-1].endswith(
        "1 cluster: 1 drifted, 0 pending, 0 blocked, 0 skipped, 0 errors,"
        " 0 in sync; 1 needs attention"
    )


def test_text_names_drift_beside_another_status():
    """A drifted cluster the guard holds reads drifted, blocked (as the commit message says)."""
    plan = plan_of(removal())
    lines = render_text(cycle(plan, settled=frozenset({cluster_key()}))).splitlines()
    assert lines[0].startswith("~ Production/orders  [drifted, blocked]")


def test_text_says_nothing_to_change_when_in_sync():
    """A plan with every cluster in sync says so before the summary."""
    assert text(in_sync())[:1] == ["Atlas matches the manifests: nothing to change."]


def test_text_marks_errors_with_a_bang_and_the_error_code():
    """A failed cluster opens with ! and its error shows the error code."""
    lines = text(missing())
    assert lines[0] == "! Production/ghost  [error]  deployment default/ghost, enforce mode"
    assert lines[1].startswith("    error: cluster ghost does not exist in project Production;")
    assert lines[1].endswith(" [CLUSTER_NOT_FOUND]")


def test_text_shows_atlas_error_code_and_detail():
    """An Atlas failure shows its message, error code and detail verbatim."""
    lines = text((desired_cluster(), failed_observation()))
    assert (
        lines[1]
        == "    error: Atlas answered 500 three times [UNEXPECTED_ERROR]: Unexpected error."
    )


def test_text_lists_unplanned_deployments_with_their_problems():
    """Deployments kept out by manifest problems are listed with x and each problem's place."""
    reason = problem(12, "backupRef names schedule nightly, which does not exist")
    lines = text(blocked=[blocked_cluster("legacy", reason)])
    assert lines[:2] == [
        "x default/legacy  [not planned]",
        (
            "    backups.yaml:12:5: dangling-reference: backupRef names schedule nightly, which"
            " does not exist"
        ),
    ]


def test_summary_mentions_unplanned_deployments():
    """The summary line counts deployments the manifests keep out."""
    plan = plan_of(in_sync(), blocked=[blocked_cluster("legacy", problem(12, "broken"))])
    said = summary(report.compute(cycle(plan)))
    assert said.endswith("; 1 deployment not planned (manifest problems)")


def test_text_lists_fields_atlas_holds_that_manifests_cannot_express():
    """Unmanaged fields Atlas holds are named, left as they are."""
    seen = Observation(
        cluster=observed_cluster(),
        schedule=observed_schedule(restore_window_days=3, unmanaged=("extraRetentionSettings",)),
    )
    lines = text((desired_cluster(), seen))
    assert "    unmanaged in Atlas, left as they are: extraRetentionSettings" in lines


def test_text_is_plain_without_colour():
    """No escape codes unless colour is asked for."""
    assert "\x1b[" not in render_text(cycle(plan_of(window(), missing())))


def test_text_colours_cluster_headings_when_asked():
    """With colour, ~ headings are yellow and ! headings red."""
    lines = render_text(cycle(plan_of(window(), missing())), colour=True).splitlines()
    assert lines[0].startswith("\x1b[31m! Production/ghost")
    assert any(line.startswith("\x1b[33m~ Production/orders") for line in lines)


def test_text_lists_clusters_in_key_order():
    """Clusters appear sorted by project and cluster name."""
    pairs = (window(14, name="zeta"), window(21, name="alpha"))
    headings = [line for line in text(*pairs) if line[:1] == "~"]
    assert [h.split()[1] for h in headings] == ["Production/alpha", "Production/zeta"]


# -- text: the same thing said once ------------------------------------------------------------


def test_clusters_whose_lines_are_the_same_share_one_block():
    """300 clusters blocked alike print one block naming three of them and counting the rest."""
    lines = text(*(removal(f"c{n:03}") for n in range(300)))
    assert lines[0] == (
        "~ 300 clusters  [blocked]  enforce mode: Production/c000,"
        " Production/c001, Production/c002, … (and 297 more)"
    )
    assert sum(1 for line in lines if "blocked: patch-schedule" in line) == 1
    assert sum(1 for line in lines if line.startswith("~ ")) == 1


def test_a_reason_shared_by_different_blocks_is_said_once_with_its_clusters():
    """Paused clusters with different changes keep their own lines; the reason is said once."""
    lines = text(*(window(10 + n, name=f"c{n}", paused=True) for n in range(5)))
    assert lines.count("    skipped: patch-schedule (reason below, shared by 5 clusters)") == 5
    assert lines[-2] == (
        "skipped: patch-schedule: the cluster is paused; the schedule is written once it is"
        " resumed — 5 clusters: Production/c0, Production/c1, Production/c2, … (and 2 more)"
    )
    assert "    /schedule/restoreWindowDays: 7 → 14  [low]  (backups.yaml:22:1)" in lines


def test_a_multi_line_reason_said_once_ends_with_its_clusters():
    """A shared guard reason keeps its lines and names its clusters at its end."""
    pairs = [removal("a"), removal("b")]
    pairs.append(
        (
            desired_cluster("c", schedule=desired_schedule(items=without("daily"))),
            atlas("c", pit_enabled=False),
        )
    )
    lines = text(*pairs)
    start = lines.index(next(line for line in lines if line.startswith("blocked: patch-schedule")))
    assert lines[start].startswith("blocked: patch-schedule: destructive: removes the daily item")
    assert lines[start + 1].startswith("  To allow it, annotate the deployment")
    assert lines[start + 1].endswith(" — 3 clusters: Production/a, Production/b, Production/c")


def test_a_reason_of_one_cluster_stays_in_its_block():
    """A reason no other cluster shares is said where it belongs."""
    lines = text(window(paused=True), window(21, name="billing"))
    assert (
        "    skipped: patch-schedule: the cluster is paused;"
        " the schedule is written once it is resumed" in lines
    )


def test_json_stays_per_cluster_when_text_groups():
    """The JSON lists every cluster of a group on its own."""
    body = as_json(*(removal(f"c{n}") for n in range(4)))
    assert [c["cluster"] for c in body["clusters"]] == ["c0", "c1", "c2", "c3"]


# -- text after applying -----------------------------------------------------------------------


def test_applied_text_shows_each_action_outcome():
    """After applying, actions read with their outcome and the summary says Applied."""
    plan = plan_of(
        (
            desired_cluster(schedule=desired_schedule(restore_window_days=14)),
            atlas(pit_enabled=False),
        )
    )
    (cluster,) = plan.clusters
    lines = render_text(applied(plan, ran(cluster, Outcome.APPLIED, Outcome.APPLIED))).splitlines()
    assert lines[0].startswith("~ Production/orders  [pending, resolved]")
    assert [line for line in lines if "applied:" in line] == [
        "    applied: patch-cluster",
        "    applied: patch-schedule",
    ]
    assert lines[-1] == (
        f"Applied at {REVISION}: 2 writes sent and read back. 1 cluster: 0 drifted,"
        " 1 pending (1 resolved this cycle), 0 blocked, 0 skipped, 0 errors, 0 in sync;"
        " no cluster needs attention"
    )


def test_applied_text_counts_failed_writes():
    """An apply whose write failed says so on its last line."""
    plan = plan_of(window())
    (cluster,) = plan.clusters
    failure = Failure(message="Atlas refused the schedule", status=400)
    result = ran(cluster, Outcome.FAILED, converged=False, failure=failure)
    last = render_text(applied(plan, result)).splitlines()[-1]
    assert last.startswith(f"Applied at {REVISION}: 1 write failed. 1 cluster:")


def test_applied_text_with_nothing_sent_says_nothing_was_written():
    """An apply that held everything back says it wrote nothing."""
    plan = plan_of(removal())
    (cluster,) = plan.clusters
    last = render_text(applied(plan, ran(cluster, Outcome.BLOCKED, converged=False)))
    assert last.splitlines()[-1].startswith(f"Applied at {REVISION}: nothing written. 1 cluster:")


def test_dry_run_text_says_nothing_was_written_and_counts_the_writes():
    """A dry run never says applied: it wrote nothing, and says how many writes it would send."""
    plan = plan_of((desired_cluster(), atlas(pit_enabled=False)))
    (cluster,) = plan.clusters
    done = ran(cluster, Outcome.WOULD_APPLY, converged=False)
    out = render_text(cycle(plan, clusters=(done,), applied=True, dry_run=True))
    assert "Applied" not in out
    assert out.splitlines()[-1].startswith(
        f"Dry run at {REVISION}: nothing was written to Atlas; 1 write would be sent. 1 cluster:"
    )


def test_applied_text_shows_atlas_failure_under_the_action():
    """A failed action is followed by Atlas's error, verbatim."""
    plan = plan_of(window())
    (cluster,) = plan.clusters
    failure = Failure(
        message="Atlas refused the schedule",
        error_code="INVALID_ATTRIBUTE",
        detail="Invalid attribute restoreWindowDays specified.",
        status=400,
    )
    result = ran(
        cluster, Outcome.FAILED, converged=False, failure=failure, reason="Atlas answered 400"
    )
    lines = render_text(applied(plan, result)).splitlines()
    assert lines[0].startswith("! Production/orders  [error]")
    assert lines[-3:-1] == [
        "    failed: patch-schedule: Atlas answered 400",
        (
            "      Atlas: Atlas refused the schedule [INVALID_ATTRIBUTE]:"
            " Invalid attribute restoreWindowDays specified."
        ),
    ]


def test_dry_run_text_lists_the_requests_not_sent():
    """A dry run lists the requests it would have sent."""
    out = render_text(
        cycle(
            plan_of(window()),
            dry_run=True,
            dry_run_lines=("PATCH /api/atlas/v2/groups/x/clusters/orders/backup/schedule",),
        )
    )
    assert (
        "dry run, not sent:\n    PATCH /api/atlas/v2/groups/x/clusters/orders/backup/schedule\n"
        in out
    )


# -- outcomes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "converged", "status"),
    [
        ((Outcome.APPLIED,), True, Status.IN_SYNC),
        ((Outcome.APPLIED,), False, Status.PENDING),
        ((Outcome.WOULD_APPLY,), False, Status.PENDING),
        ((Outcome.OBSERVED,), False, Status.PENDING),
        ((Outcome.SKIPPED,), False, Status.SKIPPED),
        ((Outcome.BLOCKED,), False, Status.BLOCKED),
        ((Outcome.FAILED,), False, Status.ERROR),
    ],
)
def test_cluster_result_status_follows_the_worst_outcome(outcomes, converged, status):
    """A cluster's status after a cycle comes from its outcomes and the read-back."""
    (cluster,) = plan_of(window()).clusters
    assert ran(cluster, *outcomes, converged=converged).status is status


@pytest.mark.parametrize(
    ("hold", "outcome"),
    [
        (Hold.BLOCKED, Outcome.BLOCKED),
        (Hold.SKIPPED, Outcome.SKIPPED),
        (Hold.OBSERVED, Outcome.OBSERVED),
    ],
)
def test_held_action_ends_in_the_matching_outcome(hold, outcome):
    """Each hold maps to its outcome."""
    assert Outcome.of_hold(hold) is outcome


def test_cycle_statuses_come_from_results_once_applied():
    """Statuses are the plan's before applying and the results' after."""
    plan = plan_of(window())
    (cluster,) = plan.clusters
    done = ran(cluster, Outcome.APPLIED, converged=True)
    assert (cycle(plan).statuses, applied(plan, done).statuses) == (
        (Status.PENDING,),
        (Status.IN_SYNC,),
    )


# -- JSON --------------------------------------------------------------------------------------


def test_json_has_schema_version_2():
    """The JSON carries schemaVersion 2 (the report's statuses and field changes)."""
    assert as_json(window())["schemaVersion"] == 2


def test_json_kind_is_plan_before_applying():
    """A plan renders as kind plan."""
    assert as_json(window())["kind"] == "plan"


def test_json_kind_is_apply_after_applying():
    """An applied cycle renders as kind apply; the cluster keeps its status, resolved."""
    plan = plan_of(window())
    (cluster,) = plan.clusters
    body = json.loads(render_json(applied(plan, ran(cluster, Outcome.APPLIED))))
    (entry,) = body["clusters"]
    assert (body["kind"], entry["status"], entry["resolved"], entry["actions"][0]["outcome"]) == (
        "apply",
        "pending",
        True,
        "applied",
    )


def test_json_says_drifted_as_the_report_does():
    """A cluster Atlas changed out of band is drifted in the plan's JSON, counted so too."""
    body = json.loads(render_json(cycle(plan_of(window()), settled=frozenset({cluster_key()}))))
    (entry,) = body["clusters"]
    assert (entry["status"], entry["drift"], entry["origin"]) == ("drifted", True, "atlas")
    assert body["summary"]["byStatus"]["drifted"] == 1


def test_json_clusters_are_the_objects_report_json_has():
    """Each cluster of the plan's JSON is the very object report.json lists for it."""
    planned = cycle(representative_plan())
    body = json.loads(render_json(planned))
    drift = report.compute(planned)
    assert body["clusters"] == [report_json.cluster_json(c) for c in drift.clusters]


def test_json_lists_in_sync_clusters_too():
    """Every cluster is listed, in sync or not, sorted by key."""
    body = as_json(window(name="zeta"), in_sync("alpha"))
    assert [(c["cluster"], c["status"]) for c in body["clusters"]] == [
        ("alpha", "in-sync"),
        ("zeta", "pending"),
    ]


def test_json_summary_counts_every_status_and_unplanned():
    """The summary is report.json's: clusters per status, drift, resolved, not planned."""
    body = as_json(window(), in_sync("billing"), missing(), blocked=[blocked_cluster("legacy")])
    assert body["summary"] == {
        "byStatus": {
            "blocked": 0,
            "drifted": 0,
            "error": 1,
            "in-sync": 1,
            "pending": 1,
            "skipped": 0,
        },
        "clusters": 3,
        "drift": 0,
        "driftCorrected": 0,
        "notPlanned": 1,
        "orphans": 0,
        "problems": 0,
        "resolved": 0,
    }


def test_json_change_carries_values_severity_and_source():
    """A change lists path, both values, severity, destructive, why and source."""
    (change,) = as_json(removal())["clusters"][0]["changes"]
    assert change == {
        "atlas": "7 days",
        "destructive": True,
        "git": None,
        "path": "/schedule/policyItems/daily/1",
        "severity": "critical",
        "source": {"column": 1, "file": "backups.yaml", "line": 40},
        "why": "removes the daily item (kept 7 days)",
    }


def test_json_error_carries_the_error_code():
    """A failed cluster's failure carries Atlas's errorCode, detail and HTTP status."""
    (cluster,) = as_json((desired_cluster(), failed_observation()))["clusters"]
    assert cluster["failure"] == {
        "detail": "Unexpected error.",
        "errorCode": "UNEXPECTED_ERROR",
        "message": "Atlas answered 500 three times",
        "status": 500,
    }


def _assert_keys_sorted(value: object) -> None:
    if isinstance(value, dict):
        assert list(value) == sorted(value)
        for inner in value.values():
            _assert_keys_sorted(inner)
    elif isinstance(value, list):
        for inner in value:
            _assert_keys_sorted(inner)


def test_json_keys_are_sorted_at_every_level():
    """Every object's keys are sorted."""
    _assert_keys_sorted(json.loads(render_json(cycle(representative_plan()))))


def test_json_is_byte_identical_for_equal_inputs():
    """Equal plans built in a different order render to the same bytes."""
    first = representative_plan()
    second = representative_plan(reverse=True)
    assert render_json(cycle(first)).encode() == render_json(cycle(second)).encode()


def test_text_is_identical_for_equal_inputs():
    """Equal plans built in a different order render to the same text."""
    assert render_text(cycle(representative_plan())) == render_text(
        cycle(representative_plan(reverse=True))
    )


# -- golden files ------------------------------------------------------------------------------


def representative_plan(*, reverse: bool = False) -> Plan:
    """A plan with one cluster in each status, drift of every severity and a broken manifest."""
    pairs = [
        in_sync("analytics"),
        (
            desired_cluster(
                "billing",
                schedule=desired_schedule(
                    reference_hour_of_day=5,
                    restore_window_days=14,
                    items=[*without("daily"), item("daily", 1, 14)],
                ),
            ),
            atlas("billing", pit_enabled=False),
        ),
        (
            desired_cluster(
                "orders",
                schedule=desired_schedule(
                    items=[item("hourly", 6, 1, line=42), *keep("weekly", "monthly")]
                ),
            ),
            Observation(
                cluster=observed_cluster("orders"),
                schedule=observed_schedule("orders", unmanaged=("extraRetentionSettings",)),
            ),
        ),
        window(name="reports", paused=True),
        missing("ghost"),
        (
            desired_cluster("sandbox", key=cluster_key("sandbox", project="Staging")),
            atlas("sandbox", instance_size="M2"),
        ),
        (
            desired_cluster(
                "inventory",
                mode=Mode.OBSERVE,
                schedule=desired_schedule(reference_minute_of_hour=0),
            ),
            atlas("inventory"),
        ),
    ]
    if reverse:
        pairs.reverse()
    reason = problem(
        12, "backupRef names AtlasBackupSchedule default/nightly, which does not exist"
    )
    broken = problem(3, "unknown field autoExportExabled", code="unknown-field")
    return plan_of(*pairs, blocked=[blocked_cluster("legacy", reason)], problems=[broken, reason])


def _golden(name: str, rendered: str) -> str:
    """The golden file's text; rewritten first when GITOPSD_UPDATE_GOLDEN=1 (review the diff)."""
    path = GOLDEN / name
    if os.environ.get("GITOPSD_UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def test_text_matches_the_golden_file():
    """The representative plan renders exactly as tests/data/golden/plan.txt."""
    rendered = render_text(cycle(representative_plan())) + "\n"
    assert rendered == _golden("plan.txt", rendered)


def test_json_matches_the_golden_file():
    """The representative plan renders exactly as tests/data/golden/plan.json."""
    rendered = render_json(cycle(representative_plan())) + "\n"
    assert rendered == _golden("plan.json", rendered)
