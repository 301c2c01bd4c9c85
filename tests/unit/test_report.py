"""The drift report's model: classification, resolution, fingerprint and commit message."""

from __future__ import annotations

import dataclasses
import re

import pytest
from support.builders import (
    adoption,
    blocked_cluster,
    cluster_key,
    cluster_result,
    cycle_result,
    default_items,
    desired_cluster,
    desired_schedule,
    edit,
    failed_observation,
    observation_of,
    plan_of,
    problem,
    source_note,
    source_state,
)

from gitopsd.core import report
from gitopsd.core.model import ClusterKey, DesiredCluster, Mode
from gitopsd.core.outcome import ActionResult, ClusterResult, CycleResult, Outcome
from gitopsd.core.plan import Failure, Observation, Options, Plan
from gitopsd.core.report import Origin, ReportStatus

ORDERS = cluster_key("orders")


def in_sync(name: str = "orders") -> tuple[DesiredCluster, Observation]:
    """A converged cluster."""
    return desired_cluster(name), observation_of(desired_cluster(name))


def window(name: str = "orders", days: int = 14, **cluster) -> tuple[DesiredCluster, Observation]:
    """A cluster whose restore window differs: Git asks for ``days``, Atlas holds 7."""
    wanted = desired_cluster(name, schedule=desired_schedule(restore_window_days=days))
    return wanted, observation_of(desired_cluster(name), **cluster)


def removal(name: str = "orders") -> tuple[DesiredCluster, Observation]:
    """A cluster whose manifest drops the daily item: blocked by the guard."""
    items = [i for i in default_items() if str(i.frequency) != "daily"]
    return desired_cluster(name, schedule=desired_schedule(items=items)), observation_of(
        desired_cluster(name)
    )


def missing(name: str = "ghost") -> tuple[DesiredCluster, Observation]:
    """A cluster Atlas does not have."""
    return desired_cluster(name), Observation(cluster=None)


def planned(
    *pairs: tuple[DesiredCluster, Observation],
    settled: frozenset[ClusterKey] = frozenset(),
    options: Options | None = None,
    **state,
) -> CycleResult:
    """A plan-only cycle of ``pairs``."""
    return cycle_result(plan_of(*pairs, options=options, **state), settled=settled)


def applied(plan: Plan, *outcomes: Outcome, converged: bool = True, **overrides) -> CycleResult:
    """An applied cycle of a one-cluster ``plan`` whose actions ended as ``outcomes``."""
    (cluster,) = plan.clusters
    failure = overrides.pop("failure", None)
    result = cluster_result(cluster, *outcomes, converged=converged, failure=failure)
    return cycle_result(plan, clusters=(result,), applied=True, **overrides)


def entry(cycle: CycleResult, **adoptions):
    """The report entry of the only cluster of ``cycle``."""
    (only,) = report.compute(cycle, **adoptions).clusters
    return only


# -- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "settled", "status"),
    [
        (in_sync(), False, ReportStatus.IN_SYNC),
        (in_sync(), True, ReportStatus.IN_SYNC),
        (window(), False, ReportStatus.PENDING),
        (window(), True, ReportStatus.DRIFTED),
        (removal(), False, ReportStatus.BLOCKED),
        (removal(), True, ReportStatus.BLOCKED),
        (window(paused=True), False, ReportStatus.SKIPPED),
        (window(paused=True), True, ReportStatus.SKIPPED),
        (missing("orders"), False, ReportStatus.ERROR),
        ((desired_cluster(), failed_observation()), True, ReportStatus.ERROR),
    ],
)
def test_classify_gives_each_planned_cluster_one_status(pair, settled, status):
    """A plan's clusters classify by failure, guard, wait, then drift against pending."""
    cycle = planned(pair, settled=frozenset({ORDERS}) if settled else frozenset())
    assert report.classify(cycle) == {ORDERS: status}


@pytest.mark.parametrize(
    ("settled", "status"), [(False, ReportStatus.PENDING), (True, ReportStatus.DRIFTED)]
)
def test_observe_mode_changes_are_drift_or_pending_by_settled(settled, status):
    """In observe mode nothing is written; a change is drifted when settled, else pending."""
    cycle = planned(
        window(),
        settled=frozenset({ORDERS}) if settled else frozenset(),
        options=Options(mode=Mode.OBSERVE),
    )
    assert report.classify(cycle)[ORDERS] is status


def test_drift_is_atlas_changing_while_git_did_not():
    """Only the settled cluster's change reads as drift; the other one is a Git change."""
    cycle = planned(window("alpha"), window("beta"), settled=frozenset({cluster_key("alpha")}))
    assert report.classify(cycle) == {
        cluster_key("alpha"): ReportStatus.DRIFTED,
        cluster_key("beta"): ReportStatus.PENDING,
    }


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome.APPLIED, ReportStatus.PENDING),
        (Outcome.WOULD_APPLY, ReportStatus.PENDING),
        (Outcome.OBSERVED, ReportStatus.PENDING),
        (Outcome.SKIPPED, ReportStatus.SKIPPED),
        (Outcome.BLOCKED, ReportStatus.BLOCKED),
        (Outcome.FAILED, ReportStatus.ERROR),
    ],
)
def test_applied_cycles_classify_by_outcome(outcome, status):
    """After applying, the outcomes decide: failed is an error, then blocked, then skipped."""
    cycle = applied(plan_of(window()), outcome, converged=False)
    assert report.classify(cycle)[ORDERS] is status


def test_plan_only_cycles_ignore_cluster_results():
    """A cycle that did not apply classifies from the plan even if results are present."""
    plan = plan_of(window())
    cycle = dataclasses.replace(applied(plan, Outcome.FAILED), applied=False)
    assert report.classify(cycle)[ORDERS] is ReportStatus.PENDING


def test_blocked_drift_keeps_its_drift_flag():
    """A blocked cluster whose cause is out-of-band drift is marked as drift."""
    found = entry(planned(removal(), settled=frozenset({ORDERS})))
    assert (found.status, found.drift) == (ReportStatus.BLOCKED, True)


def test_a_pending_cluster_is_not_drift():
    """A Git change on a cluster that was not settled is not drift."""
    assert entry(planned(window())).drift is False


def test_an_error_without_changes_is_not_drift():
    """A cluster that could not be read has no changes, so no drift, even when settled."""
    found = entry(planned((desired_cluster(), failed_observation()), settled=frozenset({ORDERS})))
    assert (found.status, found.drift) == (ReportStatus.ERROR, False)


def test_applied_and_read_back_is_resolved():
    """A cluster whose actions all applied and read back is resolved, status kept."""
    found = entry(applied(plan_of(window()), Outcome.APPLIED, converged=True))
    assert (found.status, found.resolved) == (ReportStatus.PENDING, True)


def test_corrected_drift_counts_as_drift_corrected():
    """Drift that gitopsd restored counts as drift, corrected and resolved."""
    cycle = applied(plan_of(window()), Outcome.APPLIED, settled=frozenset({ORDERS}))
    summary = report.compute(cycle).summary
    assert (
        summary.count(ReportStatus.DRIFTED),
        summary.drift,
        summary.drift_corrected,
        summary.resolved,
    ) == (1, 1, 1, 1)


def test_applied_but_not_read_back_is_not_resolved():
    """An applied action that Atlas does not read back leaves the cluster unresolved."""
    assert entry(applied(plan_of(window()), Outcome.APPLIED, converged=False)).resolved is False


def test_a_dry_run_resolves_nothing():
    """Would-apply is not applied."""
    cycle = applied(plan_of(window()), Outcome.WOULD_APPLY, converged=False, dry_run=True)
    assert entry(cycle).resolved is False


def test_an_in_sync_cluster_is_not_resolved():
    """Nothing to resolve when nothing differed."""
    plan = plan_of(in_sync())
    assert entry(applied(plan, converged=True)).resolved is False


def test_summary_counts_every_status_in_report_order():
    """The summary lists each status, zeros included, in ReportStatus order."""
    cycle = planned(window("a"), window("b"), removal("c"), in_sync("d"), missing("e"))
    assert report.compute(cycle).summary.by_status == (
        (ReportStatus.DRIFTED, 0),
        (ReportStatus.PENDING, 2),
        (ReportStatus.BLOCKED, 1),
        (ReportStatus.SKIPPED, 0),
        (ReportStatus.ERROR, 1),
        (ReportStatus.IN_SYNC, 1),
    )


# -- what an entry carries ---------------------------------------------------------------------


def test_changes_carry_values_severity_and_manifest_line():
    """A change keeps path, Git and Atlas values, severity and the line Git set it on."""
    (change,) = entry(planned(window(days=3))).changes
    assert (change.path, change.git, change.atlas, str(change.severity), change.destructive) == (
        "/schedule/restoreWindowDays",
        3,
        7,
        "high",
        True,
    )
    assert (change.source.file, change.source.line) == ("backups.yaml", 22)


def test_failed_actions_keep_atlas_error_code_and_detail_verbatim():
    """A failed action carries Atlas's errorCode, detail and status as they came."""
    failure = Failure(
        message="Atlas refused the schedule",
        error_code="INVALID_ATTRIBUTE",
        detail="Invalid attribute restoreWindowDays specified.",
        status=400,
    )
    cycle = applied(plan_of(window()), Outcome.FAILED, converged=False, failure=failure)
    (action,) = entry(cycle).actions
    assert (action.outcome, action.failure) == ("failed", failure)


def test_held_actions_keep_their_reason():
    """A blocked action in a plan keeps the guard's reason."""
    (action,) = entry(planned(removal())).actions
    assert action.outcome == "blocked"
    assert action.reason.startswith("destructive: removes the daily item")


def test_entry_links_the_deployment_schedule_and_policy_manifests():
    """The deployment, schedule and policy are named with where they are written."""
    found = entry(planned(window()))
    assert [
        (str(r.resource), r.source.line)
        for r in (found.deployment, found.schedule, found.policy)
        if r is not None and r.source is not None
    ] == [
        ("AtlasDeployment/default/orders", 1),
        ("AtlasBackupSchedule/default/standard", 14),
        ("AtlasBackupPolicy/default/standard", 40),
    ]


def test_adoption_is_kept_for_drift_only():
    """An adoption passed for a pending cluster is left out; for a drifted one it is kept."""
    edits = adoption(ORDERS, edit())
    pending = entry(planned(window()), adoptions={ORDERS: edits})
    drifted = entry(planned(window(), settled=frozenset({ORDERS})), adoptions={ORDERS: edits})
    assert (pending.adoption, drifted.adoption) == (None, edits)


def test_adoption_edits_are_sorted():
    """Edits come sorted by file, resource and pointer, whatever order they were given in."""
    first = edit("/schedule/referenceHourOfDay", 9, path=("spec", "referenceHourOfDay"))
    second = edit("/schedule/restoreWindowDays", 3)
    found = entry(
        planned(window(), settled=frozenset({ORDERS})),
        adoptions={ORDERS: adoption(ORDERS, second, first)},
    )
    assert found.adoption is not None
    assert [e.pointer for e in found.adoption.edits] == [first.pointer, second.pointer]


def test_orphans_and_not_planned_deployments_are_listed():
    """Orphans come from the desired state, unplanned deployments from the plan."""
    from support.builders import desired_state, resource

    from gitopsd.core.model import Kind

    reason = problem(12, "backupRef names a schedule that does not exist")
    plan = plan_of(in_sync(), blocked=[blocked_cluster("legacy", reason)], problems=[reason])
    desired = dataclasses.replace(
        desired_state(desired_cluster()),
        orphan_schedules=(resource(Kind.SCHEDULE, "weekend"),),
        orphan_policies=(resource(Kind.POLICY, "archive"),),
    )
    drift = report.compute(cycle_result(plan, desired=desired))
    assert [n.deployment for n in drift.not_planned] == ["default/legacy"]
    assert [str(r) for r in drift.orphans.schedules + drift.orphans.policies] == [
        "AtlasBackupSchedule/default/weekend",
        "AtlasBackupPolicy/default/archive",
    ]


# -- resolution advice -------------------------------------------------------------------------


def test_observe_drift_that_can_be_adopted_says_merge():
    """Adoptable drift in observe mode asks to merge the pull request or revert Atlas."""
    cycle = planned(window(), settled=frozenset({ORDERS}), options=Options(mode=Mode.OBSERVE))
    found = entry(cycle, adoptions={ORDERS: adoption(ORDERS, edit())})
    assert found.resolution.startswith("Merge this pull request to accept Atlas's values")
    assert "revert the change in Atlas" in found.resolution


def test_observe_drift_that_cannot_be_adopted_says_why():
    """Drift that cannot be adopted names the reason."""
    cycle = planned(window(), settled=frozenset({ORDERS}), options=Options(mode=Mode.OBSERVE))
    why = "schedule default/standard also serves Production/billing"
    found = entry(cycle, adoptions={ORDERS: adoption(ORDERS, reason=why)})
    assert f"gitopsd cannot: {why}" in found.resolution


def test_enforce_drift_will_be_restored():
    """Planned drift in enforce mode says gitopsd restores Git's values."""
    found = entry(planned(window(), settled=frozenset({ORDERS})))
    assert found.resolution.startswith("gitopsd restores Git's values when it next applies")


def test_corrected_drift_says_gitopsd_restored_it():
    """Drift corrected in this cycle says so."""
    cycle = applied(plan_of(window()), Outcome.APPLIED, settled=frozenset({ORDERS}))
    assert entry(cycle).resolution.startswith("Nothing to do: gitopsd restored Git's values")


def test_blocked_advice_names_the_annotation_and_the_setting():
    """Blocked clusters learn how to allow the change."""
    advice = entry(planned(removal())).resolution
    assert 'gitopsd.io/allow-destructive: "true"' in advice
    assert "[reconcile] allow_destructive = true" in advice


@pytest.mark.parametrize(
    ("settled", "met", "origin"),
    [
        (True, True, Origin.ATLAS),
        (False, True, Origin.GIT),
        (False, False, Origin.UNKNOWN),
    ],
)
def test_origin_says_which_side_changed_as_far_as_gitopsd_knows(settled, met, origin):
    """Settled: Atlas changed; seen in sync for another desire: Git changed; else unknown."""
    cycle = dataclasses.replace(
        planned(removal(), settled=frozenset({ORDERS}) if settled else frozenset()),
        met=frozenset({ORDERS}) if met else frozenset(),
    )
    assert entry(cycle).origin is origin


def test_an_in_sync_cluster_has_no_origin():
    """Nothing differs, so no side changed anything."""
    assert entry(planned(in_sync(), settled=frozenset({ORDERS}))).origin is None


def test_blocked_advice_never_blames_the_manifests_when_the_side_is_unknown():
    """First met out of sync: the advice offers Git's way and Atlas's, and claims neither moved."""
    advice = entry(planned(removal())).resolution
    assert "manifest change" not in advice
    assert "cannot tell whether Git or Atlas changed" in advice
    assert "To keep Atlas's values, put them in the manifests" in advice
    assert "to apply Git's values, annotate the deployment" in advice


def test_blocked_advice_after_a_git_change_says_the_manifests_changed():
    """A cluster seen in sync before, whose desire changed, is blocked by Git's change."""
    cycle = dataclasses.replace(planned(removal()), met=frozenset({ORDERS}))
    advice = entry(cycle).resolution
    assert advice.startswith("The manifests changed since gitopsd last saw Atlas match them")
    assert advice.endswith("otherwise revert the manifest change.")


def test_blocked_drift_advice_says_atlas_changed():
    """Blocked because of drift: Atlas changed; adopt its values or allow the removal."""
    advice = entry(planned(removal(), settled=frozenset({ORDERS}))).resolution
    assert advice.startswith("Atlas was changed out of band")
    assert "To keep Atlas's values, put them in the manifests" in advice


def test_observe_advice_never_blames_the_manifests_when_the_side_is_unknown():
    """An observed difference first met out of sync does not say revert the manifest change."""
    advice = entry(planned(window(), options=Options(mode=Mode.OBSERVE))).resolution
    assert "manifest change" not in advice
    assert "cannot tell whether Git or Atlas changed" in advice


def test_a_schedule_not_needed_after_backup_went_on_still_resolves_the_cluster():
    """Backup turned on and the schedule already as Git says: resolved, the schedule unwritten."""
    wanted = desired_cluster()
    off = observation_of(wanted, backup_enabled=False, pit_enabled=False)
    plan = plan_of((wanted, Observation(cluster=off.cluster, schedule=None)))
    (cluster,) = plan.clusters
    flags, schedule = cluster.actions
    results = (
        ActionResult(kind=flags.kind, outcome=Outcome.APPLIED, changes=flags.changes),
        ActionResult(kind=schedule.kind, outcome=Outcome.NOT_NEEDED, changes=()),
    )
    result = ClusterResult(plan=cluster, results=results, converged=True)
    found = entry(cycle_result(plan, clusters=(result,), applied=True))
    assert (found.status, found.resolved) == (ReportStatus.PENDING, True)
    assert [c.path for c in found.changes] == ["/backupEnabled", "/pitEnabled"]


def test_error_advice_repeats_what_atlas_said():
    """An Atlas error's advice quotes the status, errorCode and detail."""
    advice = entry(planned((desired_cluster(), failed_observation()))).resolution
    assert advice.startswith("Atlas answered HTTP 500 UNEXPECTED_ERROR: Unexpected error.")


def test_access_list_error_says_to_add_the_address():
    """RESOURCE_REQUIRES_ACCESS_LIST says to add the daemon's address to the access list."""
    seen = failed_observation(
        "Atlas refused the request",
        error_code="RESOURCE_REQUIRES_ACCESS_LIST",
        detail="IP address 203.0.113.7 is not allowed to access this resource.",
        status=403,
    )
    advice = entry(planned((desired_cluster(), seen))).resolution
    assert advice.endswith("Add the daemon's address to the organization's API access list.")


def test_skipped_advice_says_why_it_waits():
    """A skipped cluster's advice carries the wait's reason."""
    advice = entry(planned(window(paused=True))).resolution
    assert advice == (
        "gitopsd tries again on every cycle: the cluster is paused; the schedule is written"
        " once it is resumed"
    )


# -- needs attention ---------------------------------------------------------------------------


def test_no_attention_needed_when_everything_is_in_sync():
    """In sync, no problems, no notes: no pull request."""
    assert report.needs_attention(report.compute(planned(in_sync(), in_sync("b")))) is False


def test_no_attention_needed_when_everything_was_resolved():
    """Changes this cycle applied and read back need nobody."""
    cycle = applied(plan_of(window()), Outcome.APPLIED, settled=frozenset({ORDERS}))
    assert report.needs_attention(report.compute(cycle)) is False


@pytest.mark.parametrize(
    "cycle",
    [
        planned(window()),
        planned(in_sync(), problems=[problem(3, "unknown field", code="unknown-field")]),
        cycle_result(
            plan_of(in_sync()), source=source_state(notes=(source_note(),), tip="9c0ffee")
        ),
    ],
    ids=["open cluster", "manifest problem", "source note"],
)
def test_attention_needed_for_open_clusters_problems_and_notes(cycle):
    """An open cluster, a manifest problem or a source note opens a pull request."""
    assert report.needs_attention(report.compute(cycle)) is True


# -- fingerprint -------------------------------------------------------------------------------


def test_fingerprint_is_a_sha256():
    """The fingerprint reads sha256:<64 hex>."""
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", report.fingerprint(report.compute(planned())))


def test_fingerprint_ignores_the_source_revision_and_tip():
    """A new commit that changes no finding gives the same fingerprint."""
    plan = plan_of(window(), in_sync("b"))
    before = cycle_result(plan, source=source_state("a" * 40))
    after = cycle_result(plan, source=source_state("b" * 40, tip="c" * 40))
    assert report.fingerprint(report.compute(before)) == report.fingerprint(report.compute(after))


def test_fingerprint_is_independent_of_input_order():
    """Equal findings built in another order give the same fingerprint."""
    pairs = [window("a"), removal("b"), in_sync("c"), missing("d")]
    first = report.compute(planned(*pairs))
    second = report.compute(planned(*reversed(pairs)))
    assert report.fingerprint(first) == report.fingerprint(second)


@pytest.mark.parametrize(
    "other",
    [
        planned(window(days=21)),
        planned(window(), settled=frozenset({ORDERS})),
        planned(window(), options=Options(mode=Mode.OBSERVE)),
        planned(window(paused=True)),
        planned(window(), problems=[problem(3, "unknown field", code="unknown-field")]),
        planned(window(), in_sync("b")),
        cycle_result(plan_of(window()), source=source_state(notes=(source_note(),))),
        cycle_result(plan_of(window()), source=source_state(branch="release")),
        cycle_result(plan_of(window()), dry_run=True),
    ],
    ids=[
        "git value",
        "drift",
        "mode",
        "status",
        "problem",
        "another cluster",
        "source note",
        "branch",
        "dry run",
    ],
)
def test_fingerprint_changes_with_any_finding(other):
    """Any change a reviewer would see changes the fingerprint."""
    base = report.fingerprint(report.compute(planned(window())))
    assert report.fingerprint(report.compute(other)) != base


def test_fingerprint_changes_when_a_manifest_line_moves():
    """The manifest links are part of the findings."""
    moved = dataclasses.replace(
        window()[0],
        sources=tuple((p, dataclasses.replace(s, line=s.line + 1)) for p, s in window()[0].sources),
    )
    base = report.fingerprint(report.compute(planned(window())))
    assert report.fingerprint(report.compute(planned((moved, window()[1])))) != base


def test_fingerprint_changes_with_the_adoption():
    """A different suggested edit is a different report."""
    cycle = planned(window(), settled=frozenset({ORDERS}))
    one = report.compute(cycle, adoptions={ORDERS: adoption(ORDERS, edit(value=3))})
    two = report.compute(cycle, adoptions={ORDERS: adoption(ORDERS, edit(value=4))})
    assert report.fingerprint(one) != report.fingerprint(two)


# -- commit message ----------------------------------------------------------------------------

_TRAILER = re.compile(r"(?P<key>[A-Za-z0-9][A-Za-z0-9-]*): (?P<value>\S.*)")


def trailers(message: str) -> dict[str, str]:
    """The trailers as ``git interpret-trailers --parse`` reads them: the last paragraph.

    Every line of the last paragraph must be a ``Key: value`` trailer, and that paragraph
    must not be the subject.
    """
    paragraphs = message.rstrip("\n").split("\n\n")
    assert len(paragraphs) >= 2
    found = {}
    for line in paragraphs[-1].splitlines():
        match = _TRAILER.fullmatch(line)
        assert match is not None, line
        found[match["key"]] = match["value"]
    return found


def subject(cycle: CycleResult) -> str:
    """The first line of the cycle's commit message."""
    return report.commit_message(report.compute(cycle)).splitlines()[0]


def test_subject_counts_what_needs_attention():
    """The subject counts open clusters per status and all clusters."""
    cycle = planned(
        window("a"), window("b"), removal("c"), in_sync("d"), settled=frozenset({cluster_key("a")})
    )
    assert subject(cycle) == "drift: 1 drifted, 1 pending, 1 blocked (4 clusters)"


def test_subject_pluralises_errors():
    """Errors read 1 error, 2 errors."""
    assert subject(planned(missing("a"), missing("b"))) == "drift: 2 errors (2 clusters)"


def test_subject_says_all_in_sync():
    """Nothing open reads all N clusters in sync."""
    assert subject(planned(in_sync("a"), in_sync("b"), in_sync("c"))) == (
        "drift: all 3 clusters in sync"
    )


def test_subject_counts_resolved_clusters():
    """Clusters resolved this cycle are counted apart."""
    cycle = applied(plan_of(window()), Outcome.APPLIED)
    assert subject(cycle) == "drift: 1 resolved (1 cluster)"


def test_subject_mentions_manifest_problems():
    """Manifest problems are counted after the clusters."""
    cycle = planned(in_sync("a"), in_sync("b"), problems=[problem(3, "x", code="unknown-field")])
    assert subject(cycle) == "drift: all 2 clusters in sync; 1 manifest problem"


def test_message_ends_with_the_two_trailers():
    """The last paragraph holds Drift-Fingerprint and Source-Revision, nothing else."""
    drift = report.compute(planned(window()))
    assert trailers(report.commit_message(drift)) == {
        "Drift-Fingerprint": report.fingerprint(drift),
        "Source-Revision": "main@4f2a9c1d7e3b5a6f8091a2b3c4d5e6f708192a3b",
    }


def test_message_trailers_stay_last_when_everything_is_in_sync():
    """A subject and trailers alone still parse as trailers."""
    message = report.commit_message(report.compute(planned(in_sync())))
    assert message.count("\n\n") == 1
    assert set(trailers(message)) == {"Drift-Fingerprint", "Source-Revision"}


def test_message_body_lists_clusters_that_need_attention():
    """The body names each open cluster with its status and what went wrong."""
    body = report.commit_message(report.compute(planned(window("a"), missing("b"), in_sync("c"))))
    assert "Needs attention:\n- Production/a: pending (1 field)\n- Production/b: error: " in body
    assert "Production/c" not in body


def test_message_body_marks_drift_behind_a_blocked_cluster():
    """A blocked cluster caused by drift says both."""
    body = report.commit_message(report.compute(planned(removal(), settled=frozenset({ORDERS}))))
    assert "- Production/orders: drifted, blocked (1 field)" in body


def test_source_revision_without_a_branch_is_the_revision():
    """A directory source has no branch: the trailer is the revision alone."""
    cycle = cycle_result(plan_of(in_sync()), source=source_state("dir:5a2520fae110", branch=""))
    assert trailers(report.commit_message(report.compute(cycle)))["Source-Revision"] == (
        "dir:5a2520fae110"
    )


def test_message_has_a_blank_line_after_the_subject():
    """Git's subject is the first paragraph."""
    lines = report.commit_message(report.compute(planned(window()))).splitlines()
    assert lines[1] == ""


def test_report_needs_no_desired_state_or_observations():
    """A report can be computed from a cycle without observations or desired state."""
    cycle = cycle_result(plan_of(window()), desired=None, observed=())
    assert report.compute(cycle).clusters[0].status is ReportStatus.PENDING


def test_schedule_changes_found_after_a_first_write_are_reported():
    """Changes of a schedule planned after the cluster PATCH join the plan's changes."""
    wanted = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    seen = observation_of(desired_cluster(), backup_enabled=False, pit_enabled=False)
    plan = plan_of((wanted, Observation(cluster=seen.cluster, schedule=None)))
    (cluster,) = plan.clusters
    replanned = plan_of((wanted, observation_of(desired_cluster())))
    (later,) = replanned.clusters
    result = cluster_result(cluster, Outcome.APPLIED, Outcome.SKIPPED)
    result = dataclasses.replace(
        result, results=(result.results[0], *cluster_result(later, Outcome.APPLIED).results)
    )
    found = entry(cycle_result(plan, clusters=(result,), applied=True))
    assert [c.path for c in found.changes] == [
        "/backupEnabled",
        "/pitEnabled",
        "/schedule/restoreWindowDays",
    ]
