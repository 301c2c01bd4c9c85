"""Value types of the desired state: what the manifests say, with where each value came from.

Everything here is a frozen value. Sources are ``Span``s kept beside the values (never part of
equality), keyed by the JSON Pointer of the value in Atlas's own JSON shape, so a later
comparison with Atlas can point at the manifest line that asked for a value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gitopsd.core.document import Span
from gitopsd.core.problems import Problem


class Kind(enum.StrEnum):
    """The manifest kinds gitopsd reads."""

    POLICY = "AtlasBackupPolicy"
    SCHEDULE = "AtlasBackupSchedule"
    DEPLOYMENT = "AtlasDeployment"
    PROJECT = "AtlasProject"


class Frequency(enum.StrEnum):
    """How often a policy item takes a snapshot, most frequent first."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"

    @property
    def rank(self) -> int:
        """0 for hourly up to 4 for yearly."""
        return list(Frequency).index(self)


class RetentionUnit(enum.StrEnum):
    """The unit of a policy item's retention."""

    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"
    YEARS = "years"


class Mode(enum.StrEnum):
    """Whether gitopsd writes to Atlas for a deployment, or only reports."""

    ENFORCE = "enforce"
    OBSERVE = "observe"


Sources = tuple[tuple[str, Span], ...]


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ResourceId:
    """A manifest's identity: kind, namespace and name."""

    kind: Kind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref:
    """A reference from one manifest to another, namespace already defaulted."""

    name: str
    namespace: str
    span: Span = field(compare=False)
    namespace_written: bool = field(default=False, compare=False)
    """The reference names its namespace; else it has the referrer's."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ProjectKey:
    """An Atlas project, known by name (through an AtlasProject) or by id."""

    name: str = ""
    id: str = ""

    def __str__(self) -> str:
        return self.name or f"id:{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ClusterKey:
    """The target of a deployment: one cluster in one project."""

    project: ProjectKey
    cluster: str

    def __str__(self) -> str:
        return f"{self.project}/{self.cluster}"


_DAYS_PER_UNIT = {RetentionUnit.DAYS: 1, RetentionUnit.WEEKS: 7}
_MONTHS_PER_UNIT = {RetentionUnit.MONTHS: 1, RetentionUnit.YEARS: 12}


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """A retention length in its calendar unit."""

    value: int
    unit: RetentionUnit

    def day_range(self) -> tuple[int, int]:
        """Shortest and longest length in days: a month is 28-31 days, a year 365-366."""
        if self.unit in _DAYS_PER_UNIT:
            days = self.value * _DAYS_PER_UNIT[self.unit]
            return days, days
        months = self.value * _MONTHS_PER_UNIT[self.unit]
        years, rest = divmod(months, 12)
        return years * 365 + rest * 28, years * 366 + rest * 31

    def at_least(self, other: Retention) -> bool:
        """Whether this retention can be as long as ``other``, giving the calendar its due.

        Fixed units (days, weeks) compare exactly with each other, and so do calendar units
        (months, years: 12 months == 1 year). Across the two, a month may be as long as 31
        days, so ``1 month`` is at least ``31 days`` but not ``32 days``.
        """
        if (self.unit in _DAYS_PER_UNIT) == (other.unit in _DAYS_PER_UNIT):
            return self.nominal() >= other.nominal()
        return self.day_range()[1] >= other.day_range()[0]

    def nominal(self) -> int:
        """The length in the unit family's base: days for days/weeks, months for months/years."""
        if self.unit in _DAYS_PER_UNIT:
            return self.value * _DAYS_PER_UNIT[self.unit]
        return self.value * _MONTHS_PER_UNIT[self.unit]

    def __str__(self) -> str:
        unit = str(self.unit)
        return f"{self.value} {unit[:-1] if self.value == 1 else unit}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyItem:
    """One snapshot rule: how often, and how long the snapshots are kept."""

    frequency: Frequency
    interval: int
    retention: Retention
    span: Span = field(compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.frequency} every {self.interval}, kept {self.retention}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Export:
    """Automatic export of snapshots to a bucket."""

    bucket_id: str
    frequency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CopySetting:
    """Copy snapshots to another region."""

    cloud_provider: str
    region_name: str
    should_copy_oplogs: bool | None
    frequencies: tuple[str, ...]
    span: Span = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Meta:
    """What every manifest has: identity, where it is written, annotations, its own errors."""

    id: ResourceId
    span: Span = field(compare=False)
    annotations: tuple[tuple[str, str], ...] = ()
    errors: tuple[Problem, ...] = field(default=(), compare=False)
    namespace_written: bool = field(default=False, compare=False)
    """metadata.namespace is written; else the namespace is the default one."""

    @property
    def valid(self) -> bool:
        """Whether the document itself has no errors."""
        return not self.errors

    def annotation(self, key: str) -> str | None:
        """The value of an annotation, or None."""
        for k, v in self.annotations:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupPolicy:
    """An AtlasBackupPolicy: the snapshot items."""

    meta: Meta
    items: tuple[PolicyItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupSchedule:
    """An AtlasBackupSchedule; None means "not set in the manifest, so not managed"."""

    meta: Meta
    policy: Ref | None
    reference_hour_of_day: int | None = None
    reference_minute_of_hour: int | None = None
    restore_window_days: int | None = None
    auto_export_enabled: bool | None = None
    export: Export | None = None
    use_org_and_group_names_in_export_prefix: bool | None = None
    update_snapshots: bool | None = None
    copy_settings: tuple[CopySetting, ...] | None = None
    sources: Sources = field(default=(), compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """An AtlasDeployment, as far as backups are concerned."""

    meta: Meta
    project_ref: Ref | None
    project_id: str | None
    cluster_name: str | None
    backup_enabled: bool | None
    pit_enabled: bool | None
    backup_ref: Ref | None
    profile: str | None
    mode: Mode | None
    allow_destructive: bool
    unmanaged: tuple[str, ...]
    sources: Sources = field(default=(), compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """An AtlasProject: a project name to resolve to an id."""

    meta: Meta
    name: str | None


Resource = BackupPolicy | BackupSchedule | Deployment | Project


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredSchedule:
    """The backup schedule a cluster should have: schedule fields plus its policy's items.

    ``None`` leaves a field unmanaged, except ``copy_settings``: a schedule without
    ``copySettings`` asks for none, as the operator reads it, so removing the key from Git
    removes the copies (behind the destructive-change guard).
    """

    reference_hour_of_day: int | None
    reference_minute_of_hour: int | None
    restore_window_days: int | None
    auto_export_enabled: bool | None
    export: Export | None
    use_org_and_group_names_in_export_prefix: bool | None
    update_snapshots: bool | None
    copy_settings: tuple[CopySetting, ...]
    items: frozenset[PolicyItem]


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredCluster:
    """Everything Git asks of one cluster, and where each value was written."""

    key: ClusterKey
    deployment: ResourceId
    project: ResourceId | None
    schedule_id: ResourceId | None
    policy_id: ResourceId | None
    backup_enabled: bool | None
    pit_enabled: bool | None
    schedule: DesiredSchedule | None
    mode: Mode | None
    allow_destructive: bool
    profile: str | None
    unmanaged: tuple[str, ...]
    sources: Sources = field(compare=False)

    def source(self, pointer: str) -> Span | None:
        """Where the value at ``pointer`` (e.g. ``/schedule/restoreWindowDays``) was written."""
        for p, span in self.sources:
            if p == pointer:
                return span
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockedCluster:
    """A deployment that cannot be reconciled until the problems it depends on are fixed."""

    deployment: ResourceId
    key: ClusterKey | None
    reasons: tuple[Problem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredState:
    """The graph's output: reconcilable clusters, blocked ones, orphans and every problem."""

    clusters: tuple[DesiredCluster, ...]
    blocked: tuple[BlockedCluster, ...]
    orphan_schedules: tuple[ResourceId, ...]
    orphan_policies: tuple[ResourceId, ...]
    problems: tuple[Problem, ...]
    edges: tuple[tuple[ResourceId, ResourceId], ...] = ()
