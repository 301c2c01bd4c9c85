"""The drift report of one cycle: classification, the report's values, fingerprint, commit message.

``compute(cycle)`` turns a ``CycleResult`` into a ``DriftReport`` (``core.report_model``):
each cluster gets one ``ReportStatus`` (SPEC §4) from ``classify``, where *drifted* means Atlas
changed while Git did not (the cluster is in ``cycle.settled``) and *pending* that Git's values
are not in Atlas yet, and an ``Origin``: Atlas changed, Git changed (the cluster is in
``cycle.met``), or gitopsd cannot tell (it never saw the cluster match Git), so no word the
report says claims more than gitopsd knows. The command line renders the same report
(``core.plan_output``). ``render_markdown`` (``core.report_markdown``) and ``render_json``
(``core.report_json``) render it and are re-exported here, with ``fingerprint`` and
``needs_attention`` (``core.report_model``), so the shell needs only this module.
``fingerprint`` hashes everything a reviewer sees except the time and the source revision, so
the shell commits only when the findings change; ``commit_message`` summarises the report with
git trailers. Pure: the shell passes the time in and writes the files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gitopsd.core import adopt, problems, report_advice, report_graph
from gitopsd.core.diff import FieldChange
from gitopsd.core.model import ClusterKey, DesiredCluster, ResourceId
from gitopsd.core.outcome import (
    ActionResult,
    ClusterResult,
    Correction,
    CycleResult,
    Outcome,
    resolves,
)
from gitopsd.core.plan import Action, ClusterPlan, Hold
from gitopsd.core.report_json import render_json
from gitopsd.core.report_markdown import render_markdown
from gitopsd.core.report_model import (
    SCHEMA_VERSION,
    ActionEntry,
    ChangeEntry,
    ClusterEntry,
    DriftReport,
    ManifestRef,
    NotPlanned,
    Origin,
    Orphans,
    ReportStatus,
    Summary,
    count,
    failure_text,
    fingerprint,
    needs_attention,
    tally,
)

__all__ = [
    "SCHEMA_VERSION",
    "DriftReport",
    "Origin",
    "ReportStatus",
    "classify",
    "commit_message",
    "compute",
    "fingerprint",
    "needs_attention",
    "render_json",
    "render_markdown",
    "source_revision",
    "subject",
    "tally",
]

_NO_ADOPTIONS: Mapping[ClusterKey, adopt.Adoption] = MappingProxyType({})
_BODY_LIMIT = 50
"""The most clusters a commit message body lists by name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Verdict:
    status: ReportStatus
    drift: bool
    resolved: bool
    origin: Origin | None


def _origin(key: ClusterKey, cycle: CycleResult) -> Origin:
    if key in cycle.settled:
        return Origin.ATLAS
    return Origin.GIT if key in cycle.met else Origin.UNKNOWN


def _verdict(cluster: ClusterPlan, result: ClusterResult | None, cycle: CycleResult) -> _Verdict:
    changed = bool(cluster.actions or cluster.changes)
    origin = _origin(cluster.key, cycle) if changed else None
    drift = origin is Origin.ATLAS
    if result is not None:
        outcomes = tuple(r.outcome for r in result.results)
        failed, blocked = Outcome.FAILED in outcomes, Outcome.BLOCKED in outcomes
        skipped, unknown = Outcome.SKIPPED in outcomes, Outcome.UNKNOWN in outcomes
        resolved = resolves(outcomes) and result.converged
    else:
        holds = {a.hold for a in cluster.actions}
        failed, blocked, skipped = False, Hold.BLOCKED in holds, Hold.SKIPPED in holds
        resolved = unknown = False
    if cluster.failure is not None or failed:
        status = ReportStatus.ERROR
    elif unknown:
        status = ReportStatus.UNKNOWN
    elif blocked:
        status = ReportStatus.BLOCKED
    elif skipped:
        status = ReportStatus.SKIPPED
    elif changed:
        status = ReportStatus.DRIFTED if drift else ReportStatus.PENDING
    else:
        status = ReportStatus.IN_SYNC
    return _Verdict(status=status, drift=drift, resolved=resolved and changed, origin=origin)


_CORRECTED_EARLIER = (
    "written by an earlier cycle that stopped before reporting it; this cycle read Atlas back"
    " matching Git"
)
_SENT_EARLIER = (
    "sent by an earlier cycle, which could not learn whether Atlas applied it; this cycle read"
    " Atlas back matching Git"
)


def _earlier(correction: Correction) -> str:
    return _SENT_EARLIER if correction.unsettled else _CORRECTED_EARLIER


def _corrected(
    result: ClusterResult, correction: Correction, settled: frozenset[ClusterKey]
) -> tuple[ClusterResult, frozenset[ClusterKey]]:
    """``result`` as if this cycle had made the earlier cycle's correction, and ``settled``."""
    changes = tuple(c for _, found in correction.actions for c in found)
    cluster_plan = dataclasses.replace(result.plan, changes=changes)
    results = tuple(
        ActionResult(kind=kind, outcome=Outcome.APPLIED, changes=found, reason=_earlier(correction))
        for kind, found in correction.actions
    )
    key = correction.key
    settled = settled | {key} if correction.drift else settled - {key}
    return ClusterResult(plan=cluster_plan, results=results, converged=True), settled


def _settled_earlier(result: ClusterResult, correction: Correction) -> ClusterResult:
    """``result`` with the earlier cycle's unsettled writes that Atlas now holds put first.

    For a cluster this cycle still has to change: the fields the unsettled writes set and this
    cycle's plan does not change again read back as Git says, so they were made.
    """
    again = {c.path for c in result.plan.changes}
    earlier = []
    for kind, found in correction.actions:
        held = tuple(c for c in found if c.path not in again)
        if held:
            earlier.append(
                ActionResult(kind=kind, outcome=Outcome.APPLIED, changes=held, reason=_SENT_EARLIER)
            )
    if not earlier:
        return result
    changes = tuple(c for r in earlier for c in r.changes) + result.plan.changes
    cluster_plan = dataclasses.replace(result.plan, changes=changes)
    return dataclasses.replace(result, plan=cluster_plan, results=(*earlier, *result.results))


def _folded(cycle: CycleResult) -> CycleResult:
    """The cycle with its unreported corrections shown as resolved where Atlas now matches.

    A correction counts only for a cluster this cycle read and found in sync with nothing to
    do; anywhere else the cycle's own findings stand, but for writes an earlier cycle sent
    without learning their outcome (``Correction.unsettled``): the fields they set that Atlas
    now holds as Git says are shown as made.
    """
    if not cycle.unreported or not cycle.applied:
        return cycle
    read = {key for key, _ in cycle.observed}
    pending = {c.key: c for c in cycle.unreported if c.key in read}
    settled = cycle.settled
    clusters: list[ClusterResult] = []
    for result in cycle.clusters:
        correction = pending.get(result.plan.key)
        quiet = not (result.plan.actions or result.plan.changes or result.plan.failure)
        if correction is not None and quiet and result.converged and correction.actions:
            result, settled = _corrected(result, correction, settled)  # noqa: PLW2901
        elif correction is not None and correction.unsettled and result.plan.failure is None:
            result = _settled_earlier(result, correction)  # noqa: PLW2901
        clusters.append(result)
    by_key = {c.plan.key: c.plan for c in clusters}
    plans = tuple(by_key.get(p.key, p) for p in cycle.plan.clusters)
    return dataclasses.replace(
        cycle,
        plan=dataclasses.replace(cycle.plan, clusters=plans),
        clusters=tuple(clusters),
        settled=settled,
    )


def _results(cycle: CycleResult) -> dict[ClusterKey, ClusterResult]:
    """Each cluster's result once applied; nothing for a plan (statuses come from the plan)."""
    return {c.plan.key: c for c in cycle.clusters} if cycle.applied else {}


def classify(cycle: CycleResult) -> Mapping[ClusterKey, ReportStatus]:
    """Each planned cluster's report status.

    A plan failure or a failed action is an error; then blocked, then skipped; then a cluster
    with changes is drifted when it is in ``cycle.settled`` (Git asks what it asked when Atlas
    last matched, so Atlas changed) and pending otherwise; no changes is in sync.
    """
    cycle = _folded(cycle)
    results = _results(cycle)
    return {c.key: _verdict(c, results.get(c.key), cycle).status for c in cycle.plan.clusters}


# -- the report's values -----------------------------------------------------------------------


def _ref(rid: ResourceId | None, desired: DesiredCluster, pointer: str) -> ManifestRef | None:
    return None if rid is None else ManifestRef(resource=rid, source=desired.source(pointer))


def _change(change: FieldChange) -> ChangeEntry:
    return ChangeEntry(
        path=change.path,
        git=change.git,
        atlas=change.atlas,
        severity=change.severity,
        destructive=change.destructive,
        why=change.why,
        source=change.source,
    )


def _changes(cluster: ClusterPlan, result: ClusterResult | None) -> tuple[ChangeEntry, ...]:
    """What each action changed or would change: as run when the cycle ran it, else as planned.

    An action planned again after a first write (the schedule once backup is on) carries the
    changes it found then, which replace the plan's; one that needed no write carries none.
    """
    if result is None or not result.results:
        found = list(cluster.changes)
    else:
        found = [c for ran in result.results for c in ran.changes]
    seen: set[str] = set()
    unique = []
    for change in found:
        if change.path not in seen:
            seen.add(change.path)
            unique.append(change)
    return tuple(_change(c) for c in unique)


def action_outcome(action: Action, result: ClusterResult | None, index: int) -> str:
    """How the ``index``-th action ended, or ``planned``/its hold when it was not run."""
    if result is not None and index < len(result.results):
        return str(result.results[index].outcome)
    return "planned" if action.hold is None else str(action.hold)


def _actions(cluster: ClusterPlan, result: ClusterResult | None) -> tuple[ActionEntry, ...]:
    if result is not None:
        return tuple(
            ActionEntry(
                kind=r.kind,
                outcome=str(r.outcome),
                reason=r.reason,
                paths=tuple(c.path for c in r.changes),
                failure=r.failure,
            )
            for r in result.results
        )
    return tuple(
        ActionEntry(
            kind=a.kind,
            outcome=action_outcome(a, None, index),
            reason=a.reason,
            paths=tuple(c.path for c in a.changes),
        )
        for index, a in enumerate(cluster.actions)
    )


def _adoption(adoption: adopt.Adoption | None) -> adopt.Adoption | None:
    if adoption is None:
        return None
    edits = sorted(
        adoption.edits,
        key=lambda e: (e.file, e.resource, e.pointer, tuple(str(p) for p in e.path), e.op),
    )
    return dataclasses.replace(adoption, edits=tuple(edits))


def _entry(
    cluster: ClusterPlan,
    result: ClusterResult | None,
    verdict: _Verdict,
    adoption: adopt.Adoption | None,
    cycle: CycleResult,
) -> ClusterEntry:
    desired = cluster.desired
    deployment = ManifestRef(resource=desired.deployment, source=desired.source("/deployment"))
    entry = ClusterEntry(
        key=cluster.key,
        status=verdict.status,
        drift=verdict.drift,
        resolved=verdict.resolved,
        origin=verdict.origin,
        mode=cluster.mode,
        deployment=deployment,
        project=_ref(desired.project, desired, "/project"),
        schedule=_ref(desired.schedule_id, desired, "/schedule"),
        policy=_ref(desired.policy_id, desired, "/policy"),
        changes=_changes(cluster, result),
        actions=_actions(cluster, result),
        failure=cluster.failure,
        unmanaged=tuple(sorted(cluster.unmanaged)),
        adoption=_adoption(adoption) if verdict.drift and not verdict.resolved else None,
    )
    advice = report_advice.resolution(entry, applied=cycle.applied, dry_run=cycle.dry_run)
    return dataclasses.replace(entry, resolution=advice)


def _summary(
    clusters: tuple[ClusterEntry, ...], *, not_planned: int, problem_count: int, orphans: int
) -> Summary:
    return Summary(
        clusters=len(clusters),
        by_status=tuple(
            (s, n)
            for s in ReportStatus
            if (n := sum(1 for c in clusters if c.status is s)) or s is not ReportStatus.UNKNOWN
        ),
        drift=sum(1 for c in clusters if c.drift),
        drift_corrected=sum(1 for c in clusters if c.drift and c.resolved),
        resolved=sum(1 for c in clusters if c.resolved),
        not_planned=not_planned,
        problems=problem_count,
        orphans=orphans,
    )


def compute(
    cycle: CycleResult, *, adoptions: Mapping[ClusterKey, adopt.Adoption] = _NO_ADOPTIONS
) -> DriftReport:
    """The drift report of ``cycle``; ``adoptions`` are the manifest edits for drifted clusters.

    An adoption is shown only for a cluster with drift this cycle did not resolve. Corrections
    an earlier cycle wrote without reporting them show as resolved by this one.
    """
    cycle = _folded(cycle)
    results = _results(cycle)
    clusters = tuple(
        _entry(
            c,
            results.get(c.key),
            _verdict(c, results.get(c.key), cycle),
            adoptions.get(c.key),
            cycle,
        )
        for c in sorted(cycle.plan.clusters, key=lambda c: c.key)
    )
    found = problems.ordered(cycle.problems + cycle.plan.problems)
    not_planned = tuple(
        NotPlanned(deployment=name, problems=problems.ordered(reasons))
        for name, reasons in sorted(cycle.plan.unplanned, key=lambda u: u[0])
    )
    state = cycle.desired
    orphans = Orphans(
        schedules=tuple(sorted(state.orphan_schedules)) if state else (),
        policies=tuple(sorted(state.orphan_policies)) if state else (),
    )
    blocked = tuple(b.deployment for b in state.blocked) if state else ()
    graph = report_graph.affected(clusters, blocked, state.edges if state else ())
    source = dataclasses.replace(
        cycle.source,
        revision=cycle.source.revision or cycle.revision,
        notes=tuple(sorted(cycle.source.notes, key=lambda n: (n.code, n.message))),
    )
    return DriftReport(
        source=source,
        mode=cycle.mode,
        applied=cycle.applied,
        dry_run=cycle.dry_run,
        summary=_summary(
            clusters,
            not_planned=len(not_planned),
            problem_count=len(found),
            orphans=len(orphans),
        ),
        clusters=clusters,
        problems=found,
        not_planned=not_planned,
        orphans=orphans,
        graph=graph,
    )


# -- commit message ----------------------------------------------------------------------------


def subject(report: DriftReport) -> str:
    """The commit subject: what needs attention, counted; cheap (no fingerprint)."""
    parts = tally(report)
    if report.summary.resolved:
        parts.append(f"{report.summary.resolved} resolved")
    total = len(report.clusters)
    if parts:
        text = f"drift: {', '.join(parts)} ({count(total, 'cluster')})"
    elif total == 0:
        text = "drift: no clusters to reconcile"
    elif total == 1:
        text = "drift: 1 cluster, in sync"
    else:
        text = f"drift: all {total} clusters in sync"
    if report.problems:
        text += f"; {count(len(report.problems), 'manifest problem')}"
    return text


def _cluster_line(cluster: ClusterEntry) -> str:
    status = str(cluster.status)
    if cluster.drift and cluster.status is not ReportStatus.DRIFTED:
        status = f"drifted, {status}"
    if cluster.changes:
        status += f" ({count(len(cluster.changes), 'field')})"
    detail = ""
    if cluster.failures:
        detail = failure_text(cluster.failures[0])
    elif cluster.status is ReportStatus.SKIPPED:
        detail = next((a.reason for a in cluster.actions if a.outcome == "skipped"), "")
    return _line(f"- {cluster.key}: {status}" + (f": {detail}" if detail else ""))


def _line(text: str) -> str:
    return " ".join(text.split())


def _listed(title: str, lines: Iterable[str]) -> list[str]:
    items = list(lines)
    if not items:
        return []
    shown = items[:_BODY_LIMIT]
    more = [f"- and {len(items) - len(shown)} more"] if len(items) > len(shown) else []
    return [title, *shown, *more]


def source_revision(report: DriftReport) -> str:
    """``<branch>@<revision>`` (or the revision alone when there is no branch), one line."""
    revision = report.source.revision or "unknown"
    return _line(f"{report.source.branch}@{revision}" if report.source.branch else revision)


def commit_message(report: DriftReport, *, fingerprint_: str | None = None) -> str:
    """Subject with counts, a body naming what needs attention, and the trailers last.

    The trailers (``Drift-Fingerprint``, ``Source-Revision``) are the message's last
    paragraph, one ``Key: value`` a line, as ``git interpret-trailers --parse`` reads them.
    """
    paragraphs: list[list[str]] = [[subject(report)]]
    attention = _listed("Needs attention:", (_cluster_line(c) for c in report.clusters if c.open))
    resolved = _listed(
        "Resolved this cycle:", (_cluster_line(c) for c in report.clusters if c.resolved)
    )
    manifests = _listed(
        "Manifest problems:",
        (f"- {p.file}:{p.line}:{p.column}: {p.code}: {_line(p.message)}" for p in report.problems),
    )
    not_planned = _listed(
        "Not planned until the manifests are fixed:",
        (f"- {n.deployment}" for n in report.not_planned),
    )
    notes = _listed("Source:", (f"- {n.code}: {_line(n.message)}" for n in report.source.notes))
    paragraphs += [p for p in (attention, resolved, manifests, not_planned, notes) if p]
    paragraphs.append(
        [
            f"Drift-Fingerprint: {fingerprint_ or fingerprint(report)}",
            f"Source-Revision: {source_revision(report)}",
        ]
    )
    return "\n\n".join("\n".join(p) for p in paragraphs) + "\n"
