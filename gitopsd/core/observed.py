"""Value types of what Atlas holds: projects, clusters and backup schedules, as read.

Owns the observed side of the comparison and the "essence" of a policy item (frequency,
interval, retention) that lets observed items and desired ``PolicyItem``s compare as sets,
ignoring Atlas's ids. Pure values only: no JSON, no HTTP; ``adapters.atlas_wire`` builds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitopsd.core.model import Export, Frequency, PolicyItem, Retention, RetentionUnit

Essence = tuple[Frequency, int, int, RetentionUnit]
"""What makes two policy items the same: (frequency, interval, retention value, unit)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedProject:
    """An Atlas project (group) as resolved by name or id."""

    id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedCluster:
    """The backup-relevant fields of one Atlas cluster."""

    project_id: str
    name: str
    backup_enabled: bool
    pit_enabled: bool
    state_name: str
    paused: bool
    zone_id: str | None
    instance_size: str | None
    provider_name: str | None

    @property
    def idle(self) -> bool:
        """Whether Atlas reports the cluster IDLE (ready for a schedule write)."""
        return self.state_name == "IDLE"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedItem:
    """One policy item as Atlas holds it, with the id Atlas gave it."""

    id: str | None
    frequency: Frequency
    interval: int
    retention: Retention

    def __str__(self) -> str:
        return f"{self.frequency} every {self.interval}, kept {self.retention}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedCopySetting:
    """A copy setting as Atlas holds it.

    ``extra`` keeps the fields gitopsd does not manage (``copyPolicyItems``, ...) as pairs of
    field name and canonical JSON text, so a PATCH can send them back unchanged.
    """

    cloud_provider: str
    region_name: str
    should_copy_oplogs: bool | None
    frequencies: tuple[str, ...]
    zone_id: str | None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservedSchedule:
    """A cluster's backup schedule as Atlas holds it.

    ``unmanaged`` names the fields Atlas holds that manifests cannot express (e.g.
    ``extraRetentionSettings``, ``copySettings[0].copyPolicyItems``), sorted; they are
    reported, never patched away.
    """

    cluster_name: str
    policy_id: str | None
    reference_hour_of_day: int | None
    reference_minute_of_hour: int | None
    restore_window_days: int | None
    auto_export_enabled: bool | None
    export: Export | None
    use_org_and_group_names_in_export_prefix: bool | None
    copy_settings: tuple[ObservedCopySetting, ...]
    items: tuple[ObservedItem, ...]
    unmanaged: tuple[str, ...] = ()

    def essences(self) -> frozenset[Essence]:
        """The set of item essences, comparable with ``essences_of(desired.items)``."""
        return essences_of(self.items)


def essence(item: PolicyItem | ObservedItem) -> Essence:
    """The comparison key of a policy item, desired or observed; ids and spans left out."""
    return (item.frequency, item.interval, item.retention.value, item.retention.unit)


def essences_of(items: Iterable[PolicyItem | ObservedItem]) -> frozenset[Essence]:
    """The essences of many items, as a set (order in Atlas does not matter)."""
    return frozenset(essence(item) for item in items)
