"""The desired state graph as Mermaid, Graphviz DOT or JSON text; deterministic bytes.

The JSON shape is documented in docs/graph.md (``schemaVersion`` 1); desired schedules use
Atlas's own field names so a reader can hold them next to an Atlas response.
"""

from __future__ import annotations

import json

from gitopsd.core.model import (
    DesiredCluster,
    DesiredSchedule,
    DesiredState,
    Kind,
    ResourceId,
)

SCHEMA_VERSION = 1
_SHORT = {
    Kind.DEPLOYMENT: "deployment",
    Kind.SCHEDULE: "schedule",
    Kind.POLICY: "policy",
    Kind.PROJECT: "project",
}


def _name(rid: ResourceId) -> str:
    return f"{rid.namespace}/{rid.name}"


def schedule_json(schedule: DesiredSchedule) -> dict[str, object]:
    """A desired schedule in Atlas's JSON field names; unmanaged (unset) fields left out."""
    body: dict[str, object] = {
        "referenceHourOfDay": schedule.reference_hour_of_day,
        "referenceMinuteOfHour": schedule.reference_minute_of_hour,
        "restoreWindowDays": schedule.restore_window_days,
        "autoExportEnabled": schedule.auto_export_enabled,
        "useOrgAndGroupNamesInExportPrefix": schedule.use_org_and_group_names_in_export_prefix,
        "updateSnapshots": schedule.update_snapshots,
    }
    if schedule.export is not None:
        body["export"] = {
            "exportBucketId": schedule.export.bucket_id,
            "frequencyType": schedule.export.frequency,
        }
    body["copySettings"] = [
        {
            "cloudProvider": c.cloud_provider,
            "regionName": c.region_name,
            "shouldCopyOplogs": c.should_copy_oplogs,
            "frequencies": list(c.frequencies),
        }
        for c in sorted(schedule.copy_settings, key=lambda c: (c.cloud_provider, c.region_name))
    ]
    items = sorted(
        schedule.items,
        key=lambda i: (i.frequency.rank, i.interval, str(i.retention.unit), i.retention.value),
    )
    body["policies"] = [
        {
            "policyItems": [
                {
                    "frequencyType": str(i.frequency),
                    "frequencyInterval": i.interval,
                    "retentionUnit": str(i.retention.unit),
                    "retentionValue": i.retention.value,
                }
                for i in items
            ]
        }
    ]
    return {k: v for k, v in body.items() if v is not None}


def _cluster_json(cluster: DesiredCluster) -> dict[str, object]:
    desired: dict[str, object] = {}
    if cluster.backup_enabled is not None:
        desired["backupEnabled"] = cluster.backup_enabled
    if cluster.pit_enabled is not None:
        desired["pitEnabled"] = cluster.pit_enabled
    if cluster.schedule is not None:
        desired["schedule"] = schedule_json(cluster.schedule)
    return {
        "project": str(cluster.key.project),
        "cluster": cluster.key.cluster,
        "deployment": _name(cluster.deployment),
        "schedule": _name(cluster.schedule_id) if cluster.schedule_id else None,
        "policy": _name(cluster.policy_id) if cluster.policy_id else None,
        "mode": str(cluster.mode) if cluster.mode else None,
        "allowDestructive": cluster.allow_destructive,
        "credentialsProfile": cluster.profile,
        "desired": desired,
        "unmanaged": list(cluster.unmanaged),
        "sources": {pointer: str(span) for pointer, span in cluster.sources},
    }


def to_json(state: DesiredState) -> str:
    """The whole graph as the documented JSON object."""
    doc = {
        "schemaVersion": SCHEMA_VERSION,
        "clusters": [_cluster_json(c) for c in state.clusters],
        "blocked": [
            {
                "deployment": _name(b.deployment),
                "project": str(b.key.project) if b.key else None,
                "cluster": b.key.cluster if b.key else None,
                "reasons": [p.as_json() for p in b.reasons],
            }
            for b in state.blocked
        ],
        "orphans": {
            "schedules": [_name(r) for r in state.orphan_schedules],
            "policies": [_name(r) for r in state.orphan_policies],
        },
        "edges": [{"from": str(a), "to": str(b)} for a, b in state.edges],
        "problems": [p.as_json() for p in state.problems],
    }
    return json.dumps(doc, indent=2, sort_keys=True)


def _nodes(state: DesiredState) -> dict[ResourceId, tuple[str, str]]:
    """Every node to draw: id -> (label, class)."""
    nodes: dict[ResourceId, tuple[str, str]] = {}
    for cluster in state.clusters:
        label = f"{_name(cluster.deployment)}<br/>cluster {cluster.key}"
        nodes[cluster.deployment] = (label, "ready")
    for blocked in state.blocked:
        target = f"<br/>cluster {blocked.key}" if blocked.key else ""
        nodes[blocked.deployment] = (f"{_name(blocked.deployment)}{target}", "blocked")
    for rid in state.orphan_schedules + state.orphan_policies:
        nodes[rid] = (_name(rid), "orphan")
    for a, b in state.edges:
        for rid in (a, b):
            nodes.setdefault(rid, (_name(rid), "ready"))
    return dict(sorted(nodes.items()))


def _label(rid: ResourceId, text: str) -> str:
    return f"{_SHORT[rid.kind]} {text}"


def to_mermaid(state: DesiredState) -> str:
    """A Mermaid flowchart; blocked deployments red, orphans dashed."""
    nodes = _nodes(state)
    ids = {rid: f"n{n}" for n, rid in enumerate(nodes)}
    lines = ["flowchart LR"]
    for rid, (label, cls) in nodes.items():
        text = _label(rid, label).replace('"', "#quot;")
        suffix = f":::{cls}" if cls != "ready" else ""
        lines.append(f'  {ids[rid]}["{text}"]{suffix}')
    lines.extend(f"  {ids[a]} --> {ids[b]}" for a, b in state.edges)
    lines.append("  classDef blocked fill:#fde2e2,stroke:#c62828,color:#7f0000")
    lines.append("  classDef orphan stroke-dasharray: 5 5,color:#555")
    return "\n".join(lines)


def to_dot(state: DesiredState) -> str:
    """A Graphviz digraph; blocked deployments red, orphans dashed."""
    nodes = _nodes(state)
    style = {
        "ready": "",
        "blocked": ', color="#c62828", fontcolor="#7f0000"',
        "orphan": ", style=dashed",
    }
    lines = ["digraph gitopsd {", "  rankdir=LR;", "  node [shape=box];"]
    for rid, (label, cls) in nodes.items():
        text = _label(rid, label).replace("<br/>", "\\n").replace('"', '\\"')
        lines.append(f'  "{rid}" [label="{text}"{style[cls]}];')
    lines.extend(f'  "{a}" -> "{b}";' for a, b in state.edges)
    lines.append("}")
    return "\n".join(lines)
