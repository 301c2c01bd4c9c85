"""Builders of core values: a valid, converged baseline each test bends one way.

``desired_cluster()`` and ``observation_of(desired_cluster())`` agree: Git asks for exactly
what Atlas holds, so a test changes one field on one side and looks at what that does. Every
source span points into one file, ``backups.yaml``, at the lines listed in ``LINES``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from gitopsd.core.adopt import Adoption, Edit, EditOp, EditValue
from gitopsd.core.document import Span
from gitopsd.core.model import (
    BlockedCluster,
    ClusterKey,
    CopySetting,
    DesiredCluster,
    DesiredSchedule,
    DesiredState,
    Export,
    Frequency,
    Kind,
    PolicyItem,
    ProjectKey,
    ResourceId,
    Retention,
    RetentionUnit,
)
from gitopsd.core.observed import (
    ObservedCluster,
    ObservedCopySetting,
    ObservedItem,
    ObservedSchedule,
)
from gitopsd.core.outcome import (
    ActionResult,
    ClusterResult,
    CycleResult,
    Outcome,
    SourceNote,
    SourceNoteCode,
    SourceState,
)
from gitopsd.core.plan import ClusterPlan, Failure, Observation, Options, Plan, compute
from gitopsd.core.problems import Problem, Severity

FILE = "backups.yaml"
NAMESPACE = "default"
PROJECT = "Production"
PROJECT_ID = "32b6e34b3d91647abb20e7b8"

LINES = {
    "/deployment": 1,
    "/name": 8,
    "/backupEnabled": 9,
    "/pitEnabled": 10,
    "/backupRef": 11,
    "/schedule": 14,
    "/schedule/referenceHourOfDay": 20,
    "/schedule/referenceMinuteOfHour": 21,
    "/schedule/restoreWindowDays": 22,
    "/schedule/autoExportEnabled": 23,
    "/schedule/export": 24,
    "/schedule/useOrgAndGroupNamesInExportPrefix": 27,
    "/schedule/updateSnapshots": 28,
    "/schedule/copySettings": 29,
    "/policy": 40,
}
"""Where the baseline manifests write each value (JSON Pointer → line in ``FILE``)."""


def span(line: int, column: int = 1) -> Span:
    """A position in ``backups.yaml``."""
    return Span(FILE, line, column)


def source(pointer: str) -> Span:
    """The span the baseline sources give ``pointer``."""
    return span(LINES[pointer])


SOURCES = tuple(sorted((p, source(p)) for p in LINES))


# -- identities --------------------------------------------------------------------------------


def cluster_key(cluster: str = "orders", project: str = PROJECT) -> ClusterKey:
    """A target cluster in a project known by name."""
    return ClusterKey(project=ProjectKey(name=project), cluster=cluster)


def resource(kind: Kind, name: str, namespace: str = NAMESPACE) -> ResourceId:
    """A manifest identity."""
    return ResourceId(kind=kind, namespace=namespace, name=name)


# -- desired values ----------------------------------------------------------------------------


def retention(value: int = 7, unit: str = "days") -> Retention:
    """A retention of ``value`` ``unit``."""
    return Retention(value=value, unit=RetentionUnit(unit))


def item(
    frequency: str = "daily",
    interval: int = 1,
    value: int = 7,
    unit: str = "days",
    *,
    line: int = 46,
) -> PolicyItem:
    """A policy item as a manifest writes it, at ``line`` of ``backups.yaml``."""
    return PolicyItem(
        frequency=Frequency(frequency),
        interval=interval,
        retention=retention(value, unit),
        span=span(line, 7),
    )


def default_items() -> tuple[PolicyItem, ...]:
    """The baseline policy: hourly, daily, weekly and monthly snapshots."""
    return (
        item("hourly", 6, 2, "days", line=42),
        item("daily", 1, 7, "days", line=46),
        item("weekly", 6, 4, "weeks", line=50),
        item("monthly", 40, 12, "months", line=54),
    )


def export(bucket_id: str = "64f1c0ffee0000000000e1e1", frequency: str = "monthly") -> Export:
    """An export target."""
    return Export(bucket_id=bucket_id, frequency=frequency)


def copy_setting(
    cloud_provider: str = "AWS",
    region_name: str = "US_WEST_2",
    *,
    should_copy_oplogs: bool | None = False,
    frequencies: Iterable[str] = ("DAILY",),
    line: int = 30,
) -> CopySetting:
    """A copy setting as a manifest writes it."""
    return CopySetting(
        cloud_provider=cloud_provider,
        region_name=region_name,
        should_copy_oplogs=should_copy_oplogs,
        frequencies=tuple(frequencies),
        span=span(line, 7),
    )


def desired_schedule(**overrides: Any) -> DesiredSchedule:
    """The baseline schedule; ``items`` may be any iterable of ``PolicyItem``s."""
    values: dict[str, Any] = {
        "reference_hour_of_day": 3,
        "reference_minute_of_hour": 30,
        "restore_window_days": 7,
        "auto_export_enabled": False,
        "export": None,
        "use_org_and_group_names_in_export_prefix": None,
        "update_snapshots": None,
        "copy_settings": (),
        "items": default_items(),
    }
    values.update(overrides)
    values["items"] = frozenset(values["items"])
    values["copy_settings"] = tuple(values["copy_settings"])
    return DesiredSchedule(**values)


def desired_cluster(name: str = "orders", **overrides: Any) -> DesiredCluster:
    """What Git asks of cluster ``name``: backup and PIT on, the baseline schedule."""
    values: dict[str, Any] = {
        "key": cluster_key(name),
        "deployment": resource(Kind.DEPLOYMENT, name),
        "project": resource(Kind.PROJECT, "production"),
        "schedule_id": resource(Kind.SCHEDULE, "standard"),
        "policy_id": resource(Kind.POLICY, "standard"),
        "backup_enabled": True,
        "pit_enabled": True,
        "schedule": desired_schedule(),
        "mode": None,
        "allow_destructive": False,
        "profile": None,
        "unmanaged": (),
        "sources": SOURCES,
    }
    values.update(overrides)
    return DesiredCluster(**values)


def blocked_cluster(name: str, *reasons: Problem) -> BlockedCluster:
    """A deployment the manifests' own problems keep out of the plan."""
    return BlockedCluster(deployment=resource(Kind.DEPLOYMENT, name), key=None, reasons=reasons)


def problem(line: int, message: str, code: str = "dangling-reference") -> Problem:
    """An error in ``backups.yaml``."""
    return Problem.at(span(line, 5), Severity.ERROR, code, message)


def desired_state(
    *clusters: DesiredCluster,
    blocked: Iterable[BlockedCluster] = (),
    problems: Iterable[Problem] = (),
) -> DesiredState:
    """The graph's output for ``clusters``."""
    return DesiredState(
        clusters=clusters,
        blocked=tuple(blocked),
        orphan_schedules=(),
        orphan_policies=(),
        problems=tuple(problems),
    )


# -- observed values ---------------------------------------------------------------------------


def _object_id(*parts: object) -> str:
    text = "/".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def observed_item(
    frequency: str = "daily",
    interval: int = 1,
    value: int = 7,
    unit: str = "days",
    *,
    id: str | None = None,  # noqa: A002 - the field's name in ObservedItem
) -> ObservedItem:
    """A policy item as Atlas holds it, with a stable 24-hex id unless one is given."""
    return ObservedItem(
        id=id if id is not None else _object_id(frequency, interval, value, unit),
        frequency=Frequency(frequency),
        interval=interval,
        retention=retention(value, unit),
    )


def observed_items_of(items: Iterable[PolicyItem]) -> tuple[ObservedItem, ...]:
    """What Atlas holds after accepting ``items``, most frequent first."""
    ordered = sorted(items, key=lambda i: (i.frequency.rank, i.interval))
    return tuple(
        observed_item(str(i.frequency), i.interval, i.retention.value, str(i.retention.unit))
        for i in ordered
    )


def observed_copy(
    cloud_provider: str = "AWS",
    region_name: str = "US_WEST_2",
    *,
    should_copy_oplogs: bool | None = False,
    frequencies: Iterable[str] = ("DAILY",),
    zone_id: str | None = "6512e4a0b1c2d3e4f5a6b7c8",
) -> ObservedCopySetting:
    """A copy setting as Atlas holds it."""
    return ObservedCopySetting(
        cloud_provider=cloud_provider,
        region_name=region_name,
        should_copy_oplogs=should_copy_oplogs,
        frequencies=tuple(frequencies),
        zone_id=zone_id,
    )


def observed_schedule(name: str = "orders", **overrides: Any) -> ObservedSchedule:
    """The schedule Atlas holds for cluster ``name``: the baseline schedule."""
    values: dict[str, Any] = {
        "cluster_name": name,
        "policy_id": "65a1b2c3d4e5f60718293a4b",
        "reference_hour_of_day": 3,
        "reference_minute_of_hour": 30,
        "restore_window_days": 7,
        "auto_export_enabled": False,
        "export": None,
        "use_org_and_group_names_in_export_prefix": False,
        "copy_settings": (),
        "items": observed_items_of(default_items()),
        "unmanaged": (),
    }
    values.update(overrides)
    values["items"] = tuple(values["items"])
    values["copy_settings"] = tuple(values["copy_settings"])
    return ObservedSchedule(**values)


def observed_schedule_of(schedule: DesiredSchedule, **overrides: Any) -> ObservedSchedule:
    """The schedule Atlas holds once it has accepted ``schedule``."""
    copies = tuple(
        observed_copy(
            c.cloud_provider,
            c.region_name,
            should_copy_oplogs=c.should_copy_oplogs,
            frequencies=c.frequencies,
        )
        for c in schedule.copy_settings
    )
    values: dict[str, Any] = {
        "reference_hour_of_day": schedule.reference_hour_of_day,
        "reference_minute_of_hour": schedule.reference_minute_of_hour,
        "restore_window_days": schedule.restore_window_days,
        "auto_export_enabled": schedule.auto_export_enabled,
        "export": schedule.export,
        "use_org_and_group_names_in_export_prefix": bool(
            schedule.use_org_and_group_names_in_export_prefix
        ),
        "copy_settings": copies,
        "items": observed_items_of(schedule.items),
    }
    values.update(overrides)
    return observed_schedule(**values)


def observed_cluster(name: str = "orders", **overrides: Any) -> ObservedCluster:
    """An M10 cluster ``name``, IDLE, with backup and PIT on."""
    values: dict[str, Any] = {
        "project_id": PROJECT_ID,
        "name": name,
        "backup_enabled": True,
        "pit_enabled": True,
        "state_name": "IDLE",
        "paused": False,
        "zone_id": None,
        "instance_size": "M10",
        "provider_name": "AWS",
    }
    values.update(overrides)
    return ObservedCluster(**values)


def observation_of(desired: DesiredCluster, **cluster_overrides: Any) -> Observation:
    """What Atlas holds when it already is what ``desired`` asks; the cluster bent as told."""
    cluster = observed_cluster(
        desired.key.cluster,
        **{
            "backup_enabled": desired.backup_enabled is not False,
            "pit_enabled": desired.pit_enabled is True,
            **cluster_overrides,
        },
    )
    schedule = None
    if desired.schedule is not None:
        schedule = observed_schedule_of(desired.schedule, cluster_name=desired.key.cluster)
    return Observation(cluster=cluster, schedule=schedule)


def failed_observation(
    message: str = "Atlas answered 500 three times",
    *,
    error_code: str | None = "UNEXPECTED_ERROR",
    detail: str | None = "Unexpected error.",
    status: int | None = 500,
) -> Observation:
    """An observation the shell could not make."""
    failure = Failure(message=message, error_code=error_code, detail=detail, status=status)
    return Observation(failure=failure)


# -- graph edges, plans and cycle results ------------------------------------------------------


def edges_of(*clusters: DesiredCluster) -> tuple[tuple[ResourceId, ResourceId], ...]:
    """The graph's edges for ``clusters``: deployment → schedule → policy, deployment → project."""
    edges: set[tuple[ResourceId, ResourceId]] = set()
    for c in clusters:
        if c.project is not None:
            edges.add((c.deployment, c.project))
        if c.schedule_id is not None:
            edges.add((c.deployment, c.schedule_id))
            if c.policy_id is not None:
                edges.add((c.schedule_id, c.policy_id))
    return tuple(sorted(edges))


def plan_of(
    *pairs: tuple[DesiredCluster, Observation], options: Options | None = None, **state: Any
) -> Plan:
    """The plan of each desired cluster against what Atlas holds for it."""
    desired = desired_state(*(d for d, _ in pairs), **state)
    return compute(desired, {d.key: seen for d, seen in pairs}, options or Options())


def cluster_result(
    cluster: ClusterPlan,
    *outcomes: Outcome,
    converged: bool = True,
    failure: Failure | None = None,
) -> ClusterResult:
    """What applying ``cluster`` did: its actions ended as ``outcomes``, in order.

    ``failure`` goes on the actions that ``failed``; reasons are the plan's.
    """
    results = tuple(
        ActionResult(
            kind=a.kind,
            outcome=o,
            changes=a.changes,
            reason=a.reason,
            failure=failure if o is Outcome.FAILED else None,
        )
        for a, o in zip(cluster.actions, outcomes, strict=True)
    )
    return ClusterResult(plan=cluster, results=results, converged=converged)


def source_state(
    revision: str = "4f2a9c1d7e3b5a6f8091a2b3c4d5e6f708192a3b", **overrides: Any
) -> SourceState:
    """Where a cycle's manifests came from: branch ``main`` of an HTTPS remote."""
    values: dict[str, Any] = {
        "url": "https://git.example.com/acme/atlas-backups.git",
        "branch": "main",
        "revision": revision,
        "tip": "",
        "notes": (),
    }
    values.update(overrides)
    return SourceState(**values)


def source_note(code: str = "unverified", message: str = "the tip is not signed") -> SourceNote:
    """Something the report must say about the source."""
    return SourceNote(code=SourceNoteCode(code), message=message)


def cycle_result(plan: Plan, **overrides: Any) -> CycleResult:
    """A planned (not applied) cycle of ``plan`` from ``source_state()``."""
    source = overrides.pop("source", source_state())
    values: dict[str, Any] = {
        "revision": f"{source.branch}@{source.revision[:7]}",
        "plan": plan,
        "problems": plan.problems,
        "clusters": (),
        "source": source,
    }
    values.update(overrides)
    return CycleResult(**values)


# -- adoptions ---------------------------------------------------------------------------------


def edit(
    pointer: str = "/schedule/restoreWindowDays",
    value: EditValue = 3,
    *,
    path: tuple[str | int, ...] = ("spec", "restoreWindowDays"),
    resource_id: ResourceId | None = None,
    op: EditOp = EditOp.SET,
) -> Edit:
    """A manifest edit in ``backups.yaml`` that adopts Atlas's value at ``pointer``."""
    return Edit(
        file=FILE,
        resource=resource_id or resource(Kind.SCHEDULE, "standard"),
        path=path,
        op=op,
        value=value,
        pointer=pointer,
    )


def adoption(key: ClusterKey, *edits: Edit, reason: str = "") -> Adoption:
    """The adoption of ``key``'s drift: ``edits``, or the ``reason`` it cannot be adopted."""
    return Adoption(cluster=key, edits=edits, reason=reason)
