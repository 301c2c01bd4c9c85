"""The affected part of the desired state graph, for a drift report, and its Mermaid text.

Only deployments that need a look (not in sync, resolved this cycle, or kept out of the plan
by manifest problems) are drawn, with the schedules, policies and projects they lead to, so a
reviewer sees at a glance what a change touches. At most ``LIMIT`` deployments are drawn,
the ones still open first; the rest are counted. GitHub, GitLab and Gitea render the Mermaid
block in pull requests. Pure; sorted, so equal graphs give equal text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gitopsd.core.model import ClusterKey, Kind, ResourceId
from gitopsd.core.report_model import ClusterEntry, Graph, GraphNode, NodeState, ReportStatus

LIMIT = 50
"""The most deployments a report's graph draws."""

_SHORT = {
    Kind.DEPLOYMENT: "deployment",
    Kind.SCHEDULE: "schedule",
    Kind.POLICY: "policy",
    Kind.PROJECT: "project",
}
_STYLES = {
    NodeState.DRIFTED: "fill:#fff3e0,stroke:#ef6c00,color:#8a3b00",
    NodeState.PENDING: "fill:#e3f2fd,stroke:#1565c0,color:#0d3c78",
    NodeState.BLOCKED: "fill:#fde2e2,stroke:#c62828,color:#7f0000",
    NodeState.SKIPPED: "fill:#eeeeee,stroke:#757575,color:#424242",
    NodeState.UNKNOWN: "fill:#fff8e1,stroke:#f9a825,color:#5d4037,stroke-dasharray: 3 3",
    NodeState.ERROR: "fill:#ffcdd2,stroke:#b71c1c,color:#7f0000",
    NodeState.RESOLVED: "fill:#e8f5e9,stroke:#2e7d32,color:#1b5e20",
    NodeState.NOT_PLANNED: "fill:#fde2e2,stroke:#c62828,color:#7f0000,stroke-dasharray: 5 5",
}
_MERMAID_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
}
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
"""What ``str.splitlines`` breaks on: a label stays on its line of the Mermaid block."""


def _state(cluster: ClusterEntry) -> NodeState:
    if cluster.resolved:
        return NodeState.RESOLVED
    return NodeState(str(cluster.status))


def _cluster_edges(clusters: Iterable[ClusterEntry]) -> set[tuple[ResourceId, ResourceId]]:
    edges: set[tuple[ResourceId, ResourceId]] = set()
    for c in clusters:
        if c.project is not None:
            edges.add((c.deployment.resource, c.project.resource))
        if c.schedule is not None:
            edges.add((c.deployment.resource, c.schedule.resource))
            if c.policy is not None:
                edges.add((c.schedule.resource, c.policy.resource))
    return edges


def affected(
    clusters: Sequence[ClusterEntry],
    not_planned: Sequence[ResourceId],
    edges: Iterable[tuple[ResourceId, ResourceId]],
    *,
    limit: int = LIMIT,
) -> Graph:
    """The subgraph reachable from the deployments that need a look, capped at ``limit``.

    ``edges`` are the desired state's (``DesiredState.edges``); the clusters' own
    deployment → schedule → policy and deployment → project links are added to them.
    """
    roots: list[tuple[ResourceId, NodeState, ClusterKey | None]] = []
    moved = [c for c in clusters if c.status is not ReportStatus.IN_SYNC]
    roots += [(c.deployment.resource, _state(c), c.key) for c in moved if not c.resolved]
    roots += [(rid, NodeState.NOT_PLANNED, None) for rid in sorted(not_planned)]
    roots += [(c.deployment.resource, _state(c), c.key) for c in moved if c.resolved]
    drawn, omitted = roots[:limit], max(0, len(roots) - limit)
    out: dict[ResourceId, set[ResourceId]] = {}
    for a, b in set(edges) | _cluster_edges(moved):
        out.setdefault(a, set()).add(b)
    nodes = {rid: GraphNode(resource=rid, state=state, cluster=key) for rid, state, key in drawn}
    todo = [rid for rid, _, _ in drawn]
    kept: set[tuple[ResourceId, ResourceId]] = set()
    while todo:
        here = todo.pop()
        for there in out.get(here, ()):
            kept.add((here, there))
            if there not in nodes:
                nodes[there] = GraphNode(resource=there)
                todo.append(there)
    return Graph(
        nodes=tuple(nodes[rid] for rid in sorted(nodes)),
        edges=tuple(sorted(kept)),
        omitted=omitted,
    )


def _escape(text: str) -> str:
    return "".join(" " if ch in _LINE_BREAKS else _MERMAID_ESCAPES.get(ch, ch) for ch in text)


def _label(node: GraphNode) -> str:
    rid = node.resource
    head = _escape(f"{_SHORT.get(rid.kind, str(rid.kind))} {rid.namespace}/{rid.name}")
    if node.state is NodeState.PLAIN:
        return head
    target = f"{node.cluster}: " if node.cluster is not None else ""
    return f"{head}<br/>{_escape(target + str(node.state).replace('-', ' '))}"


def _class(state: NodeState) -> str:
    return str(state).replace("-", "")


def to_mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart LR``; deployments styled by status, the rest plain."""
    ids = {node.resource: f"n{n}" for n, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node in graph.nodes:
        suffix = "" if node.state is NodeState.PLAIN else f":::{_class(node.state)}"
        lines.append(f'  {ids[node.resource]}["{_label(node)}"]{suffix}')
    lines.extend(f"  {ids[a]} --> {ids[b]}" for a, b in graph.edges)
    used = {node.state for node in graph.nodes}
    lines.extend(
        f"  classDef {_class(state)} {style}" for state, style in _STYLES.items() if state in used
    )
    return "\n".join(lines)
