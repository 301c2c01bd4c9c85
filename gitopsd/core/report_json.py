"""report.json: the drift report for machines, in the shape docs/drift-reports.md documents.

``schemaVersion`` 1. Keys are camelCase like Atlas's and sorted at every level; lists come in
the report's order (clusters by project and name); so equal reports give equal bytes, the time
passed in aside. Values of fields are JSON scalars (``null`` when absent on a side). Pure.
"""

from __future__ import annotations

import json

from gitopsd.core import report_model
from gitopsd.core.adopt import Adoption, Edit
from gitopsd.core.document import Span
from gitopsd.core.model import ResourceId
from gitopsd.core.outcome import SourceState
from gitopsd.core.plan import Failure
from gitopsd.core.report_model import (
    ActionEntry,
    ChangeEntry,
    ClusterEntry,
    DriftReport,
    Graph,
    ManifestRef,
    Summary,
)


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


def _span(span: Span | None) -> dict[str, object] | None:
    if span is None:
        return None
    return {"file": span.file, "line": span.line, "column": span.column}


def _resource(rid: ResourceId) -> dict[str, object]:
    return {"kind": str(rid.kind), "namespace": rid.namespace, "name": rid.name}


def _ref(ref: ManifestRef | None) -> dict[str, object] | None:
    if ref is None:
        return None
    return _resource(ref.resource) | {"source": _span(ref.source)}


def _change(change: ChangeEntry) -> dict[str, object]:
    return {
        "path": change.path,
        "git": change.git,
        "atlas": change.atlas,
        "severity": str(change.severity),
        "destructive": change.destructive,
        "why": change.why,
        "source": _span(change.source),
    }


def _action(action: ActionEntry) -> dict[str, object]:
    return {
        "action": str(action.kind),
        "outcome": action.outcome,
        "reason": action.reason,
        "paths": list(action.paths),
        "failure": failure_json(action.failure),
    }


def _edit(edit: Edit) -> dict[str, object]:
    return {
        "file": edit.file,
        "resource": _resource(edit.resource),
        "path": list(edit.path),
        "pointer": edit.pointer,
        "op": str(edit.op),
        "value": edit.value,
    }


def _adoption(adoption: Adoption | None) -> dict[str, object] | None:
    if adoption is None:
        return None
    return {
        "adoptable": adoption.adoptable,
        "reason": adoption.reason,
        "edits": [_edit(e) for e in adoption.edits],
    }


def cluster_json(cluster: ClusterEntry) -> dict[str, object]:
    """One cluster of ``clusters[]`` (``gitopsd plan --format json`` lists the same objects)."""
    return {
        "key": str(cluster.key),
        "project": str(cluster.key.project),
        "cluster": cluster.key.cluster,
        "status": str(cluster.status),
        "drift": cluster.drift,
        "origin": None if cluster.origin is None else str(cluster.origin),
        "resolved": cluster.resolved,
        "mode": str(cluster.mode),
        "manifests": {
            "deployment": _ref(cluster.deployment),
            "project": _ref(cluster.project),
            "schedule": _ref(cluster.schedule),
            "policy": _ref(cluster.policy),
        },
        "changes": [_change(c) for c in cluster.changes],
        "actions": [_action(a) for a in cluster.actions],
        "failure": failure_json(cluster.failure),
        "unmanaged": list(cluster.unmanaged),
        "adoption": _adoption(cluster.adoption),
        "resolution": cluster.resolution,
    }


def summary_json(summary: Summary) -> dict[str, object]:
    """``summary``: the counts (``gitopsd plan --format json`` has the same object)."""
    return {
        "clusters": summary.clusters,
        "byStatus": {str(status): n for status, n in summary.by_status},
        "drift": summary.drift,
        "driftCorrected": summary.drift_corrected,
        "resolved": summary.resolved,
        "notPlanned": summary.not_planned,
        "problems": summary.problems,
        "orphans": summary.orphans,
    }


def _graph(graph: Graph) -> dict[str, object]:
    return {
        "nodes": [
            {
                "id": str(node.resource),
                **_resource(node.resource),
                "state": str(node.state),
                "cluster": None if node.cluster is None else str(node.cluster),
            }
            for node in graph.nodes
        ],
        "edges": [{"from": str(a), "to": str(b)} for a, b in graph.edges],
        "omitted": graph.omitted,
    }


def source_json(source: SourceState) -> dict[str, object]:
    """``source``: where the manifests came from, credentials never included."""
    return {
        "url": source.url,
        "branch": source.branch,
        "revision": source.revision,
        "tip": source.tip,
        "notes": [{"code": str(n.code), "message": n.message} for n in source.notes],
    }


def not_planned_json(drift: DriftReport) -> list[dict[str, object]]:
    """``notPlanned``: each deployment kept out of the plan, with the problems that keep it."""
    return [
        {"deployment": n.deployment, "problems": [p.as_json() for p in n.problems]}
        for n in drift.not_planned
    ]


def content(drift: DriftReport, *, fingerprint: str | None = None) -> dict[str, object]:
    """report.json's document without ``generatedAt`` (which the shell's clock decides)."""
    return {
        "schemaVersion": drift.schema_version,
        "fingerprint": fingerprint or report_model.fingerprint(drift),
        "needsAttention": report_model.needs_attention(drift),
        "source": source_json(drift.source),
        "mode": str(drift.mode),
        "applied": drift.applied,
        "dryRun": drift.dry_run,
        "summary": summary_json(drift.summary),
        "clusters": [cluster_json(c) for c in drift.clusters],
        "problems": [p.as_json() for p in drift.problems],
        "notPlanned": not_planned_json(drift),
        "orphans": {
            "schedules": [_resource(r) for r in drift.orphans.schedules],
            "policies": [_resource(r) for r in drift.orphans.policies],
        },
        "graph": _graph(drift.graph),
    }


def render_json(drift: DriftReport, *, generated_at: str, fingerprint: str | None = None) -> str:
    """report.json's text: sorted keys, two-space indent, a trailing newline.

    ``generated_at`` is the ISO-8601 UTC time the shell passes; it is not fingerprinted.
    ``fingerprint`` is ``fingerprint(drift)`` when the caller has it already (it is costly).
    """
    body = content(drift, fingerprint=fingerprint) | {"generatedAt": generated_at}
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
