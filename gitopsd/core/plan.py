"""The plan: per cluster, what to send to Atlas now, what waits, and what the guard blocks.

``compute(desired, observed, options)`` turns the desired state and what Atlas holds into one
``ClusterPlan`` per cluster (SPEC §3): the field changes (``core.diff``), then the actions in
order (cluster flags before the schedule), each either planned or held back (blocked by the
destructive-change guard, skipped because the cluster is paused, busy or still without
backup, or only observed in observe mode). An empty plan means Atlas already is what Git says.
Pure: the shell observes, applies and reads back; it calls ``for_cluster`` again after a
cluster PATCH to plan the schedule against the cluster it read back.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from gitopsd.core import diff
from gitopsd.core.model import (
    ClusterKey,
    DesiredCluster,
    DesiredSchedule,
    DesiredState,
    Frequency,
    Mode,
    Retention,
    RetentionUnit,
)
from gitopsd.core.observed import ObservedCluster, ObservedItem, ObservedSchedule
from gitopsd.core.problems import Problem

ALLOW_DESTRUCTIVE = "gitopsd.io/allow-destructive"
SHARED_TIERS = frozenset({"M0", "M2", "M5"})
AUTOMATIC_BACKUP_TIERS = frozenset({"FLEX", "SERVERLESS"})


class ActionKind(enum.StrEnum):
    """What an action writes."""

    PATCH_CLUSTER = "patch-cluster"
    PATCH_SCHEDULE = "patch-schedule"


class Hold(enum.StrEnum):
    """Why a planned action is not sent now."""

    BLOCKED = "blocked"
    SKIPPED = "skipped"
    OBSERVED = "observed"


class Status(enum.StrEnum):
    """One cluster's state in a plan, worst first."""

    ERROR = "error"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    PENDING = "pending"
    IN_SYNC = "in-sync"
    UNKNOWN = "unknown"
    """After applying: a write whose outcome could not be learned."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """Why a cluster could not be planned or applied, with Atlas's error verbatim if any."""

    message: str
    error_code: str | None = None
    detail: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What the shell read from Atlas for one cluster, or why it could not."""

    cluster: ObservedCluster | None = None
    schedule: ObservedSchedule | None = None
    failure: Failure | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One write: the cluster's backup flags, or the whole desired schedule.

    ``hold`` is None when the action is to be sent now; otherwise ``reason`` says why not.
    """

    kind: ActionKind
    changes: tuple[diff.FieldChange, ...]
    hold: Hold | None = None
    reason: str = ""
    backup_enabled: bool | None = None
    pit_enabled: bool | None = None
    schedule: DesiredSchedule | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Settings the plan depends on.

    ``fresh_defaults`` are clusters whose schedule is still the default Atlas created when
    gitopsd enabled their backup: replacing it removes nothing anyone asked for, so the guard
    lets it through.
    """

    mode: Mode = Mode.ENFORCE
    allow_destructive: bool = False
    fresh_defaults: frozenset[ClusterKey] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPlan:
    """Everything the plan says about one cluster."""

    desired: DesiredCluster
    mode: Mode
    changes: tuple[diff.FieldChange, ...] = ()
    actions: tuple[Action, ...] = ()
    failure: Failure | None = None
    unmanaged: tuple[str, ...] = ()

    @property
    def key(self) -> ClusterKey:
        """The target cluster."""
        return self.desired.key

    @property
    def todo(self) -> tuple[Action, ...]:
        """The actions to send now, in order."""
        return tuple(a for a in self.actions if a.hold is None)

    @property
    def status(self) -> Status:
        """The worst thing about this cluster."""
        holds = {a.hold for a in self.actions}
        if self.failure is not None:
            return Status.ERROR
        if Hold.BLOCKED in holds:
            return Status.BLOCKED
        if Hold.SKIPPED in holds:
            return Status.SKIPPED
        return Status.PENDING if self.actions else Status.IN_SYNC


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The plan of one cycle.

    A ClusterPlan per reconcilable cluster, sorted by key, plus the deployments that the
    manifests' own problems keep out of it (``unplanned``: deployment name and reasons).
    """

    clusters: tuple[ClusterPlan, ...]
    problems: tuple[Problem, ...] = ()
    unplanned: tuple[tuple[str, tuple[Problem, ...]], ...] = ()

    @property
    def empty(self) -> bool:
        """Whether nothing needs writing: every cluster in sync."""
        return all(c.status is Status.IN_SYNC for c in self.clusters)


def compute(
    desired: DesiredState,
    observed: Mapping[ClusterKey, Observation],
    options: Options,
    *,
    in_sync: frozenset[ClusterKey] = frozenset(),
) -> Plan:
    """The plan for every reconcilable cluster; a cluster missing from ``observed`` fails.

    Clusters in ``in_sync`` were not read (an incremental cycle) and are planned with nothing
    to do.
    """
    missing = Observation(failure=Failure(message="Atlas was not read for this cluster"))
    clusters = tuple(
        ClusterPlan(desired=c, mode=c.mode or options.mode)
        if c.key in in_sync
        else for_cluster(c, observed.get(c.key, missing), options)
        for c in sorted(desired.clusters, key=lambda c: c.key)
    )
    unplanned = tuple(
        (f"{b.deployment.namespace}/{b.deployment.name}", b.reasons)
        for b in sorted(desired.blocked, key=lambda b: b.deployment)
    )
    return Plan(clusters=clusters, problems=desired.problems, unplanned=unplanned)


def for_cluster(desired: DesiredCluster, seen: Observation, options: Options) -> ClusterPlan:
    """The plan of one cluster from what Atlas holds for it."""
    mode = desired.mode or options.mode
    if seen.failure is not None:
        return ClusterPlan(desired=desired, mode=mode, failure=seen.failure)
    cluster = seen.cluster
    if cluster is None:
        failure = Failure(
            message=f"cluster {desired.key.cluster} does not exist in project"
            f" {desired.key.project}; gitopsd never creates clusters: create it in Atlas or"
            " fix deploymentSpec.name",
            error_code="CLUSTER_NOT_FOUND",
        )
        return ClusterPlan(desired=desired, mode=mode, failure=failure)
    tier = _tier_failure(desired, cluster)
    if tier is not None:
        return ClusterPlan(desired=desired, mode=mode, failure=tier)
    allowed = options.allow_destructive or desired.allow_destructive
    actions: list[Action] = []
    cluster_changes = diff.diff_cluster(desired, cluster)
    actions += _cluster_actions(cluster_changes, allowed=allowed)
    schedule_changes: tuple[diff.FieldChange, ...] = ()
    if desired.schedule is not None and desired.backup_enabled is not False:
        fresh = desired.key in options.fresh_defaults
        schedule_changes, schedule_action = _schedule_action(
            desired, desired.schedule, cluster, seen.schedule, allowed=allowed, fresh=fresh
        )
        if schedule_action is not None:
            actions.append(schedule_action)
    actions = _held_for_cluster(actions, cluster, mode)
    unmanaged = seen.schedule.unmanaged if seen.schedule else ()
    return ClusterPlan(
        desired=desired,
        mode=mode,
        changes=cluster_changes + schedule_changes,
        actions=tuple(actions),
        unmanaged=unmanaged,
    )


def schedule_blocker(cluster: ObservedCluster) -> str | None:
    """Why a schedule PATCH cannot go to this cluster now, or None when it can."""
    if cluster.paused:
        return "the cluster is paused; the schedule is written once it is resumed"
    if not cluster.backup_enabled:
        return "backup is not on yet; the schedule is written once it is on and the cluster is IDLE"
    if not cluster.idle:
        return (
            f"the cluster is {cluster.state_name or 'not IDLE'}; the schedule is written"
            " once it is IDLE"
        )
    return None


def _tier_failure(desired: DesiredCluster, cluster: ObservedCluster) -> Failure | None:
    wants_backup = (
        desired.backup_enabled is True
        or desired.pit_enabled is True
        or desired.schedule is not None
    )
    size = (cluster.instance_size or "").upper()
    provider = (cluster.provider_name or "").upper()
    if not wants_backup:
        return None
    if size in SHARED_TIERS:
        return Failure(
            message=f"cluster {desired.key} is a shared {size} cluster: cloud backup is not"
            " available on shared tiers (M0, M2, M5); upgrade it to M10 or larger, or remove"
            " backupRef and the backup flags from the deployment",
            error_code="TIER_WITHOUT_CLOUD_BACKUP",
        )
    if size in AUTOMATIC_BACKUP_TIERS or provider in AUTOMATIC_BACKUP_TIERS:
        kind = (size if size in AUTOMATIC_BACKUP_TIERS else provider).lower()
        return Failure(
            message=f"cluster {desired.key} is a {kind} instance, which Atlas backs up"
            " automatically with settings that cannot be changed; remove backupRef and the"
            " backup flags from the deployment",
            error_code="TIER_WITHOUT_CLOUD_BACKUP",
        )
    return None


def _cluster_actions(changes: tuple[diff.FieldChange, ...], *, allowed: bool) -> list[Action]:
    if not changes:
        return []
    flags = {c.path: c for c in changes}
    safe = tuple(c for c in changes if allowed or not c.destructive)
    blocked = tuple(c for c in changes if c not in safe)
    actions: list[Action] = []
    if safe:
        actions.append(
            Action(
                kind=ActionKind.PATCH_CLUSTER,
                changes=safe,
                backup_enabled=_flag(flags.get("/backupEnabled"), safe),
                pit_enabled=_flag(flags.get("/pitEnabled"), safe),
            )
        )
    if blocked:
        actions.append(
            Action(
                kind=ActionKind.PATCH_CLUSTER,
                changes=blocked,
                hold=Hold.BLOCKED,
                reason=_guard_reason(blocked),
            )
        )
    return actions


def _flag(change: diff.FieldChange | None, safe: tuple[diff.FieldChange, ...]) -> bool | None:
    if change is None or change not in safe:
        return None
    return change.git is True


ATLAS_DEFAULT_RETENTIONS = frozenset(
    {
        (Frequency.HOURLY, 7, RetentionUnit.DAYS),
        (Frequency.DAILY, 7, RetentionUnit.DAYS),
        (Frequency.WEEKLY, 4, RetentionUnit.WEEKS),
        (Frequency.MONTHLY, 12, RetentionUnit.MONTHS),
    }
)
"""What the schedule Atlas creates when backup is first enabled keeps, by frequency."""


def looks_like_atlas_default(held: ObservedSchedule) -> bool:
    """Whether ``held`` is still the schedule Atlas creates when backup is turned on.

    Turning backup on again can bring back an older schedule (with protection someone asked
    for): only Atlas's own default may be replaced without the guard.
    """
    kept = {(i.frequency, i.retention.value, i.retention.unit) for i in held.items}
    return kept == ATLAS_DEFAULT_RETENTIONS and not held.copy_settings


_DEFAULT_ITEMS = tuple(
    ObservedItem(id=None, frequency=f, interval=i, retention=Retention(value=v, unit=u))
    for f, i, v, u in (
        (Frequency.HOURLY, 6, 7, RetentionUnit.DAYS),
        (Frequency.DAILY, 1, 7, RetentionUnit.DAYS),
        (Frequency.WEEKLY, 1, 4, RetentionUnit.WEEKS),
        (Frequency.MONTHLY, 40, 12, RetentionUnit.MONTHS),
    )
)
EXPECTED_DEFAULT = ObservedSchedule(
    cluster_name="",
    policy_id=None,
    reference_hour_of_day=None,
    reference_minute_of_hour=None,
    restore_window_days=None,
    auto_export_enabled=False,
    export=None,
    use_org_and_group_names_in_export_prefix=False,
    copy_settings=(),
    items=_DEFAULT_ITEMS,
)
"""The schedule Atlas creates when backup is first turned on, as far as it is known ahead.

Atlas picks the snapshot time and the restore window itself, so those are unknown (None);
the items are the ones ``ATLAS_DEFAULT_RETENTIONS`` describes, with no copies and no export.
"""

AFTER_BACKUP_ON = (
    "compared with the default schedule Atlas creates when backup is turned on; written once"
    " backup is on and the cluster is IDLE, against the schedule Atlas then holds"
)
AFTER_BACKUP_ON_UNCHANGED = (
    "Git asks for what Atlas's default schedule holds; once backup is on and the cluster is"
    " IDLE, gitopsd reads the schedule and writes it only if it differs"
)


def _after_backup_on(
    desired: DesiredCluster, schedule: DesiredSchedule
) -> tuple[tuple[diff.FieldChange, ...], Action]:
    """The schedule of a cluster whose backup this plan turns on, planned against the default.

    Atlas has no schedule to compare yet; the one it creates when backup goes on is replaced
    without the guard (nobody asked for it), so every change is shown, none is destructive.
    """
    changes = tuple(
        _as_expected_default(c)
        for c in diff.diff_schedule(schedule, EXPECTED_DEFAULT, desired.source)
    )
    reason = AFTER_BACKUP_ON if changes else AFTER_BACKUP_ON_UNCHANGED
    action = Action(
        kind=ActionKind.PATCH_SCHEDULE, changes=changes, reason=reason, schedule=schedule
    )
    return changes, action


_PICKED_BY_ATLAS = {
    "/schedule/referenceHourOfDay": (
        diff.Severity.MEDIUM,
        "sets the snapshot hour (Atlas's default schedule comes with an hour of its own)",
    ),
    "/schedule/referenceMinuteOfHour": (
        diff.Severity.MEDIUM,
        "sets the snapshot minute (Atlas's default schedule comes with a minute of its own)",
    ),
    "/schedule/restoreWindowDays": (
        diff.Severity.LOW,
        "sets the restore window (Atlas's default schedule comes with one of its own)",
    ),
}


def _as_expected_default(change: diff.FieldChange) -> diff.FieldChange:
    picked = _PICKED_BY_ATLAS.get(change.path)
    if picked is not None and change.atlas is None:
        severity, why = picked
        return dataclasses.replace(change, severity=severity, destructive=False, why=why)
    return _as_default_replacement(change, when="creates when backup is turned on")


def _schedule_action(
    desired: DesiredCluster,
    schedule: DesiredSchedule,
    cluster: ObservedCluster,
    held: ObservedSchedule | None,
    *,
    allowed: bool,
    fresh: bool,
) -> tuple[tuple[diff.FieldChange, ...], Action | None]:
    if held is None and not cluster.backup_enabled:
        return _after_backup_on(desired, schedule)
    if held is None or not cluster.backup_enabled:
        reason = schedule_blocker(cluster) or "Atlas's schedule could not be read"
        action = Action(
            kind=ActionKind.PATCH_SCHEDULE,
            changes=(),
            hold=Hold.SKIPPED,
            reason=reason,
            schedule=schedule,
        )
        return (), action
    changes = diff.diff_schedule(schedule, held, desired.source)
    if fresh and looks_like_atlas_default(held):
        changes = tuple(_as_default_replacement(c) for c in changes)
    if not changes:
        return (), None
    destructive = tuple(c for c in changes if c.destructive)
    if destructive and not allowed:
        action = Action(
            kind=ActionKind.PATCH_SCHEDULE,
            changes=changes,
            hold=Hold.BLOCKED,
            reason=_guard_reason(destructive),
            schedule=schedule,
        )
        return changes, action
    blocker = schedule_blocker(cluster)
    if blocker is not None:
        hold_action = Action(
            kind=ActionKind.PATCH_SCHEDULE,
            changes=changes,
            hold=Hold.SKIPPED,
            reason=blocker,
            schedule=schedule,
        )
        return changes, hold_action
    return changes, Action(kind=ActionKind.PATCH_SCHEDULE, changes=changes, schedule=schedule)


def _as_default_replacement(
    change: diff.FieldChange, *, when: str = "created when gitopsd turned backup on"
) -> diff.FieldChange:
    if not change.destructive:
        return change
    why = f"{change.why}, part of the default schedule Atlas {when}"
    return dataclasses.replace(change, severity=diff.Severity.LOW, destructive=False, why=why)


def _guard_reason(destructive: tuple[diff.FieldChange, ...]) -> str:
    whats = "; ".join(c.why for c in destructive)
    return (
        f"destructive: {whats}.\nTo allow it, annotate the deployment with"
        f' {ALLOW_DESTRUCTIVE}: "true", or set [reconcile] allow_destructive = true.'
    )


def _held_for_cluster(actions: list[Action], cluster: ObservedCluster, mode: Mode) -> list[Action]:
    out: list[Action] = []
    for action in actions:
        if mode is Mode.OBSERVE:  # nothing is written, so no guard or wait applies either
            out.append(_hold(action, Hold.OBSERVED, "observe mode: reported, never written"))
        elif action.hold is not None:
            out.append(action)
        elif cluster.paused:
            out.append(_hold(action, Hold.SKIPPED, "the cluster is paused; resume it to apply"))
        elif not cluster.idle:
            state = cluster.state_name or "not IDLE"
            reason = f"the cluster is {state}; changes wait until it is IDLE (next cycle)"
            out.append(_hold(action, Hold.SKIPPED, reason))
        else:
            out.append(action)
    return out


def _hold(action: Action, hold: Hold, reason: str) -> Action:
    return dataclasses.replace(action, hold=hold, reason=reason)
