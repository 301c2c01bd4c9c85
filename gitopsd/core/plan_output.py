"""Plans and cycle results for people (a diff-like text) and machines (stable JSON).

Text reads like a good diff: a line per cluster that needs anything (``~`` changes, ``!``
error), a line per field ``path: atlas → git [severity]`` with the manifest line that asked
for it, and every held or failed action with its reason. Clusters in sync are counted, not
listed. JSON (``schemaVersion`` 1, documented in docs/reconcile.md) lists every cluster, in
sync or not, sorted; keys are sorted, so equal inputs give equal bytes. Pure.
"""

from __future__ import annotations

import json

from gitopsd.core.diff import FieldChange, Value
from gitopsd.core.outcome import ClusterResult, CycleResult, Outcome, change_json
from gitopsd.core.plan import Action, ClusterPlan, Failure, Status

SCHEMA_VERSION = 1
_STATUS_ORDER = tuple(Status)
_COLOURS = {"~": "33", "!": "31", "+": "32", "x": "31"}


def _value(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _where(change: FieldChange) -> str:
    return "" if change.source is None else f"  ({change.source})"


def failure_text(failure: Failure) -> str:
    """A failure in one line: message, ``[errorCode]`` and detail, each said once."""
    code = f" [{failure.error_code}]" if failure.error_code else ""
    if failure.error_code and failure.error_code in failure.message:
        code = ""
    detail = (
        f": {failure.detail}" if failure.detail and failure.detail not in failure.message else ""
    )
    return f"{failure.message}{code}{detail}"


def action_outcome(action: Action, result: ClusterResult | None, index: int) -> str:
    """How the ``index``-th action ended, or ``planned``/its hold when it was not run."""
    if result is not None and index < len(result.results):
        return str(result.results[index].outcome)
    return "planned" if action.hold is None else str(action.hold)


def _cluster_lines(
    plan: ClusterPlan, result: ClusterResult | None, *, drifted: bool = False
) -> list[str]:
    status = result.status if result is not None else plan.status
    deployment = f"{plan.desired.deployment.namespace}/{plan.desired.deployment.name}"
    marker = "!" if status is Status.ERROR else "~"
    label = "drifted" if drifted and status is Status.PENDING else str(status)
    lines = [f"{marker} {plan.key}  [{label}]  deployment {deployment}, {plan.mode} mode"]
    if plan.failure is not None:
        lines.append(f"    error: {failure_text(plan.failure)}")
    for change in plan.changes:
        flags = change.severity.value + (", destructive" if change.destructive else "")
        lines.append(
            f"    {change.path}: {_value(change.atlas)} → {_value(change.git)}  [{flags}]"
            f"{_where(change)}"
        )
    for index, action in enumerate(plan.actions):
        outcome = action_outcome(action, result, index)
        ran = result.results[index] if result is not None and index < len(result.results) else None
        reason = ran.reason if ran is not None else action.reason
        if outcome in {"planned", "applied"} and not reason:
            lines.append(f"    {outcome}: {action.kind}")
            continue
        text = f"    {outcome}: {action.kind}" + (f": {reason}" if reason else "")
        lines.append(text.replace("\n", "\n      "))
        if ran is not None and ran.failure is not None:
            lines.append(f"      Atlas: {failure_text(ran.failure)}")
    if plan.unmanaged:
        lines.append(f"    unmanaged in Atlas, left as they are: {', '.join(plan.unmanaged)}")
    return lines


def _paint(line: str, *, colour: bool) -> str:
    code = _COLOURS.get(line[:1])
    return f"\x1b[{code}m{line}\x1b[0m" if colour and code else line


def summary(cycle: CycleResult) -> str:
    """One line: how many clusters are in each status, and what was kept out."""
    counts = _counts(cycle)
    parts = [_count(counts[s], _STATUS_WORDS[s]) for s in reversed(_STATUS_ORDER)]
    text = _count(sum(counts.values()), "cluster") + ": " + ", ".join(parts)
    if cycle.plan.unplanned:
        unplanned = _count(len(cycle.plan.unplanned), "deployment")
        text += f"; {unplanned} not planned (manifest problems)"
    return text


_STATUS_WORDS = {
    Status.ERROR: "error",
    Status.BLOCKED: "blocked",
    Status.SKIPPED: "skipped",
    Status.PENDING: "pending",
    Status.IN_SYNC: "in sync",
}
_COUNTABLE = frozenset({"cluster", "deployment", "error"})


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 and word in _COUNTABLE else ''}"


def _counts(cycle: CycleResult) -> dict[Status, int]:
    found = cycle.statuses
    return {s: found.count(s) for s in _STATUS_ORDER}


def render_text(cycle: CycleResult, *, colour: bool = False) -> str:
    """The plan (or what applying it did) as a diff people read."""
    lines: list[str] = []
    results = {c.plan.key: c for c in cycle.clusters}
    for plan in cycle.plan.clusters:
        result = results.get(plan.key)
        status = result.status if result is not None else plan.status
        if status is Status.IN_SYNC and not plan.changes:
            continue
        drifted = plan.key in cycle.settled and bool(plan.changes)
        cluster = _cluster_lines(plan, result, drifted=drifted)
        lines.extend(_paint(line, colour=colour) for line in cluster)
    for deployment, reasons in cycle.plan.unplanned:
        lines.append(_paint(f"x {deployment}  [not planned]", colour=colour))
        lines.extend(f"    {r.file}:{r.line}:{r.column}: {r.code}: {r.message}" for r in reasons)
    if cycle.dry_run_lines:
        lines.append("dry run, not sent:")
        lines.extend(f"    {line}" for line in cycle.dry_run_lines)
    if not lines:
        lines.append("Atlas matches the manifests: nothing to change.")
    lines.append(f"{'Applied' if cycle.applied else 'Plan'} at {cycle.revision}: {summary(cycle)}")
    return "\n".join(lines)


# -- JSON -------------------------------------------------------------------------------------


def failure_json(failure: Failure | None) -> dict[str, object] | None:
    """The documented JSON shape of a failure: message, errorCode, detail, status."""
    if failure is None:
        return None
    return {
        "message": failure.message,
        "errorCode": failure.error_code,
        "detail": failure.detail,
        "status": failure.status,
    }


def _cluster_json(plan: ClusterPlan, result: ClusterResult | None) -> dict[str, object]:
    actions: list[dict[str, object]] = []
    for index, action in enumerate(plan.actions):
        ran = result.results[index] if result is not None and index < len(result.results) else None
        actions.append(
            {
                "action": str(action.kind),
                "outcome": action_outcome(action, result, index),
                "reason": ran.reason if ran is not None else action.reason,
                "failure": failure_json(ran.failure if ran is not None else None),
                "paths": [c.path for c in action.changes],
            }
        )
    return {
        "project": str(plan.key.project),
        "cluster": plan.key.cluster,
        "deployment": f"{plan.desired.deployment.namespace}/{plan.desired.deployment.name}",
        "mode": str(plan.mode),
        "status": str(result.status if result is not None else plan.status),
        "converged": None if result is None else result.converged,
        "changes": [change_json(c) for c in plan.changes],
        "actions": actions,
        "failure": failure_json(plan.failure),
        "unmanaged": list(plan.unmanaged),
    }


def render_json(cycle: CycleResult) -> str:
    """The plan (or what applying it did) as stable, documented JSON."""
    results = {c.plan.key: c for c in cycle.clusters}
    body = {
        "schemaVersion": SCHEMA_VERSION,
        "kind": "apply" if cycle.applied else "plan",
        "revision": cycle.revision,
        "dryRun": cycle.dry_run,
        "summary": {str(k): v for k, v in _counts(cycle).items()}
        | {"unplanned": len(cycle.plan.unplanned)},
        "clusters": [_cluster_json(p, results.get(p.key)) for p in cycle.plan.clusters],
        "unplanned": [
            {"deployment": name, "problems": [p.as_json() for p in reasons]}
            for name, reasons in cycle.plan.unplanned
        ],
        "problems": [p.as_json() for p in cycle.problems],
        "dryRunRequests": list(cycle.dry_run_lines),
    }
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False)


def outcome_counts(cycle: CycleResult) -> dict[Outcome, int]:
    """How many actions ended in each outcome (for summaries and metrics)."""
    counts = dict.fromkeys(Outcome, 0)
    for cluster in cycle.clusters:
        for result in cluster.results:
            counts[result.outcome] += 1
    return counts
