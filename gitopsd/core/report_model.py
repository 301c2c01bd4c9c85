"""The drift report as values: what a reviewer reads, before it is Markdown or JSON.

A ``DriftReport`` is a frozen tree of sorted tuples built by ``report.compute`` from one cycle
(SPEC §4): the source, per cluster a ``ReportStatus`` with its field changes, actions,
failures, unmanaged fields, adoption and advice, then manifest problems, orphans and the
affected part of the graph. It holds no time: the renderers take ``generated_at``, so equal
findings are equal values and give the same ``fingerprint``. Besides the values, the facts
every rendering shares: the fingerprint, whether the report needs attention, and the counts of
open clusters. Pure.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from gitopsd.core import digest
from gitopsd.core.adopt import Adoption
from gitopsd.core.diff import Severity, Value
from gitopsd.core.document import Span
from gitopsd.core.model import ClusterKey, Mode, ResourceId
from gitopsd.core.outcome import SourceState
from gitopsd.core.plan import ActionKind, Failure
from gitopsd.core.problems import Problem

SCHEMA_VERSION = 1
"""The version of report.json's shape; docs/drift-reports.md says when it changes."""


class ReportStatus(enum.StrEnum):
    """One cluster's state in a drift report, in the order reports list them."""

    DRIFTED = "drifted"
    PENDING = "pending"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    ERROR = "error"
    IN_SYNC = "in-sync"


class Origin(enum.StrEnum):
    """Which side made a cluster's difference, as far as gitopsd knows.

    ``atlas``: Git asks what it asked when gitopsd last saw Atlas match, so Atlas changed
    (drift). ``git``: Git asks something else since then. ``unknown``: gitopsd never saw this
    cluster match Git, so it cannot tell which side moved.
    """

    ATLAS = "atlas"
    GIT = "git"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRef:
    """A manifest a cluster's values come from, and where it is written."""

    resource: ResourceId
    source: Span | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeEntry:
    """One managed field where Atlas differs from Git, and the manifest line Git set it on."""

    path: str
    git: Value
    atlas: Value
    severity: Severity
    destructive: bool
    why: str
    source: Span | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionEntry:
    """One action and how it ended.

    ``outcome`` is an ``outcome.Outcome`` value, or ``planned`` when nothing was run (a plan).
    ``failure`` carries Atlas's ``errorCode`` and ``detail`` verbatim when it failed.
    """

    kind: ActionKind
    outcome: str
    reason: str
    paths: tuple[str, ...]
    failure: Failure | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterEntry:
    """Everything the report says about one cluster.

    ``drift`` is set when Atlas changed out of band (Git asks what it asked when gitopsd last
    saw Atlas match), whatever the status; ``origin`` says which side made the difference
    (None when there is none); ``resolved`` when this cycle applied every action and Atlas
    read back as Git says. ``adoption`` is only present for unresolved drift.
    """

    key: ClusterKey
    status: ReportStatus
    drift: bool
    resolved: bool
    origin: Origin | None = None
    mode: Mode
    deployment: ManifestRef
    project: ManifestRef | None = None
    schedule: ManifestRef | None = None
    policy: ManifestRef | None = None
    changes: tuple[ChangeEntry, ...] = ()
    actions: tuple[ActionEntry, ...] = ()
    failure: Failure | None = None
    unmanaged: tuple[str, ...] = ()
    adoption: Adoption | None = None
    resolution: str = ""

    @property
    def open(self) -> bool:
        """Whether the cluster still needs someone: not in sync and not resolved."""
        return self.status is not ReportStatus.IN_SYNC and not self.resolved

    @property
    def failures(self) -> tuple[Failure, ...]:
        """The cluster's own failure, then every failed action's, in order."""
        own = () if self.failure is None else (self.failure,)
        return own + tuple(a.failure for a in self.actions if a.failure is not None)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotPlanned:
    """A deployment the manifests' own problems keep out of the plan."""

    deployment: str
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Orphans:
    """Schedules no deployment uses and policies no schedule uses."""

    schedules: tuple[ResourceId, ...] = ()
    policies: tuple[ResourceId, ...] = ()

    def __len__(self) -> int:
        return len(self.schedules) + len(self.policies)


class NodeState(enum.StrEnum):
    """How the report's graph draws a node: a deployment's status, or plain."""

    DRIFTED = "drifted"
    PENDING = "pending"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    ERROR = "error"
    RESOLVED = "resolved"
    NOT_PLANNED = "not-planned"
    PLAIN = "plain"


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphNode:
    """A manifest in the affected part of the graph; ``cluster`` is a deployment's target."""

    resource: ResourceId
    state: NodeState = NodeState.PLAIN
    cluster: ClusterKey | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Graph:
    """The affected part of the desired state graph, sorted.

    Deployments not in sync (and those not planned) with every schedule, policy and project
    they lead to. ``omitted`` counts the affected deployments left out past the cap.
    """

    nodes: tuple[GraphNode, ...] = ()
    edges: tuple[tuple[ResourceId, ResourceId], ...] = ()
    omitted: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The counts at the top of a report.

    ``by_status`` lists every status in ``ReportStatus`` order, zeros included, but for
    ``unknown``, listed only when a cluster has it (it is rare: a lost answer not read back).
    ``drift_corrected`` counts drift that gitopsd restored this cycle; ``resolved`` every
    cluster (drift or Git change) that this cycle brought to Git's values.
    """

    clusters: int
    by_status: tuple[tuple[ReportStatus, int], ...]
    drift: int
    drift_corrected: int
    resolved: int
    not_planned: int
    problems: int
    orphans: int

    def count(self, status: ReportStatus) -> int:
        """How many clusters have ``status``."""
        return dict(self.by_status).get(status, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftReport:
    """One cycle's drift report: everything REPORT.md and report.json show, but the time."""

    source: SourceState
    mode: Mode
    applied: bool
    dry_run: bool
    summary: Summary
    clusters: tuple[ClusterEntry, ...]
    problems: tuple[Problem, ...] = ()
    not_planned: tuple[NotPlanned, ...] = ()
    orphans: Orphans = Orphans()
    graph: Graph = Graph()
    schema_version: int = SCHEMA_VERSION

    def with_status(self, status: ReportStatus) -> tuple[ClusterEntry, ...]:
        """The clusters with ``status``, in key order."""
        return tuple(c for c in self.clusters if c.status is status)


# -- facts every rendering shares --------------------------------------------------------------


def needs_attention(drift: DriftReport) -> bool:
    """Whether a pull request should be open: anything open, any problem or source note."""
    return (
        any(c.open for c in drift.clusters)
        or bool(drift.problems)
        or bool(drift.not_planned)
        or bool(drift.source.notes)
    )


STATUS_WORDS = {
    ReportStatus.DRIFTED: ("drifted", "drifted"),
    ReportStatus.PENDING: ("pending", "pending"),
    ReportStatus.BLOCKED: ("blocked", "blocked"),
    ReportStatus.SKIPPED: ("skipped", "skipped"),
    ReportStatus.UNKNOWN: ("unknown", "unknown"),
    ReportStatus.ERROR: ("error", "errors"),
    ReportStatus.IN_SYNC: ("in sync", "in sync"),
}
"""Each status counted in words, one and many: the report and the command line say the same."""


def failure_text(failure: Failure) -> str:
    """A failure in one line: message, ``[errorCode]`` and detail, each said once."""
    code = f" [{failure.error_code}]" if failure.error_code else ""
    if failure.error_code and failure.error_code in failure.message:
        code = ""
    detail = (
        f": {failure.detail}" if failure.detail and failure.detail not in failure.message else ""
    )
    return f"{failure.message}{code}{detail}"


def open_count(drift: DriftReport, status: ReportStatus) -> int:
    """How many clusters with ``status`` still need someone (not resolved this cycle)."""
    return sum(1 for c in drift.clusters if c.open and c.status is status)


def count(n: int, one: str, many: str | None = None) -> str:
    """``1 cluster``, ``2 clusters``; ``many`` when the plural is not ``one`` + s."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def tally(drift: DriftReport) -> list[str]:
    """The open clusters counted per status in report order, zeros left out.

    ``["2 drifted", "1 blocked", "2 errors"]``.
    """
    open_clusters = [c for c in drift.clusters if c.open]
    return [
        count(n, *STATUS_WORDS[status])
        for status in STATUS_WORDS
        if (n := sum(1 for c in open_clusters if c.status is status))
    ]


def _canonical(value: object) -> object:
    """``value`` as plain JSON data: dataclasses by field name, enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple | list):
        return [_canonical(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted((_canonical(v) for v in value), key=digest.of_json)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    msg = f"cannot fingerprint a {type(value).__name__}"
    raise TypeError(msg)


def fingerprint(drift: DriftReport) -> str:
    """``sha256:<hex>`` of everything the report shows but the source revision and tip.

    Every field of the report counts (statuses, values, manifest locations, advice, problems,
    the graph, source notes, branch and URL); the time is not part of a ``DriftReport`` at all.
    So a new Git commit, or a later cycle, that finds the same things gives the same
    fingerprint, and the shell makes no commit.
    """
    source = dataclasses.replace(drift.source, revision="", tip="")
    return digest.of_json(_canonical(dataclasses.replace(drift, source=source)))
