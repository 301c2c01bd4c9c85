"""Field-level comparison of what Git asks with what Atlas holds: managed fields only.

Owns the "essence" comparison of SPEC §3 and the severity rubric of SPEC §4. A field the
manifests leave out (``None`` in the desired values) is not compared; ids, links,
``nextSnapshot``, ``clusterId``, ``copySettings[].zoneId`` and write-only flags never reach this
module. Policy items compare as a set, keyed by frequency and interval; copy settings by cloud
provider and region. Each difference is a ``FieldChange`` with a JSON Pointer path in Atlas's
shape, both values, a severity, whether the destructive-change guard covers it, and where Git
asked for it. Pure: no I/O, no decisions about what to send (``core.plan`` makes those).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from gitopsd.core.document import Span
from gitopsd.core.model import (
    CopySetting,
    DesiredCluster,
    DesiredSchedule,
    Export,
    Frequency,
    PolicyItem,
    Retention,
)
from gitopsd.core.observed import ObservedCluster, ObservedCopySetting, ObservedItem
from gitopsd.core.observed import ObservedSchedule as Held

Value = bool | int | str | list[str] | None
"""A field's value as reports show it: JSON scalars, or a list of strings."""


class Severity(enum.StrEnum):
    """How much a change matters (SPEC §4).

    Losing protection is critical or high, timing changes are medium, added protection is low.
    """

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical up to 3 for low."""
        return list(Severity).index(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    """One managed field whose Atlas value differs from Git's.

    ``destructive`` marks the changes SPEC §3's guard covers (backup or PIT off, an item
    removed, a retention or the restore window shortened, a copy setting removed).
    """

    path: str
    atlas: Value
    git: Value
    severity: Severity
    destructive: bool
    why: str
    source: Span | None = None

    @property
    def scope(self) -> str:
        """``cluster`` for the backup flags, ``schedule`` for everything in the schedule."""
        return "schedule" if self.path.startswith("/schedule/") else "cluster"


def _change(
    path: str,
    atlas: Value,
    git: Value,
    severity: Severity,
    why: str,
    *,
    destructive: bool = False,
    source: Span | None = None,
) -> FieldChange:
    return FieldChange(
        path=path,
        atlas=atlas,
        git=git,
        severity=severity,
        destructive=destructive,
        why=why,
        source=source,
    )


def diff_cluster(desired: DesiredCluster, observed: ObservedCluster) -> tuple[FieldChange, ...]:
    """Differences in the cluster's backup flags (``backupEnabled``, ``pitEnabled``).

    Turning backup off turns PIT off too, even where the manifest leaves ``pitEnabled`` out:
    Atlas refuses continuous backup without cloud backup.
    """
    changes: list[FieldChange] = []
    pit = desired.pit_enabled
    if desired.backup_enabled is False and pit is None:
        pit = False  # Atlas keeps no continuous backup without cloud backup
    flags = (
        ("backupEnabled", desired.backup_enabled, observed.backup_enabled, Severity.CRITICAL),
        ("pitEnabled", pit, observed.pit_enabled, Severity.HIGH),
    )
    for name, wanted, held, loss in flags:
        if wanted is None or wanted == held:
            continue
        source = desired.source(f"/{name}") or desired.source("/backupEnabled")
        if wanted:
            changes.append(_change(f"/{name}", held, wanted, Severity.LOW, f"turns {name} on"))
        else:
            why = f"turns {name} off"
            changes.append(_change(f"/{name}", held, wanted, loss, why, destructive=True))
        changes[-1] = dataclasses.replace(changes[-1], source=source)
    return tuple(changes)


def diff_schedule(
    desired: DesiredSchedule, held: Held, source: Callable[[str], Span | None]
) -> tuple[FieldChange, ...]:
    """Differences between the desired schedule and the one Atlas holds.

    ``source`` maps a pointer such as ``/schedule/restoreWindowDays`` to the manifest span
    that set it (``DesiredCluster.source``).
    """
    changes = [
        *_scalars(desired, held),
        *_export(desired, held),
        *_items(desired, held, source),
        *_copies(desired, held, source),
    ]
    return tuple(
        c if c.source is not None else dataclasses.replace(c, source=source(c.path))
        for c in changes
    )


def _scalars(desired: DesiredSchedule, held: Held) -> list[FieldChange]:
    out: list[FieldChange] = []
    timing = (
        ("referenceHourOfDay", desired.reference_hour_of_day, held.reference_hour_of_day),
        ("referenceMinuteOfHour", desired.reference_minute_of_hour, held.reference_minute_of_hour),
    )
    for name, wanted, was in timing:
        if wanted is not None and wanted != was:
            out.append(
                _change(f"/schedule/{name}", was, wanted, Severity.MEDIUM, "moves snapshots")
            )
    wanted_days, was_days = desired.restore_window_days, held.restore_window_days
    if wanted_days is not None and wanted_days != was_days:
        path = "/schedule/restoreWindowDays"
        if was_days is not None and wanted_days < was_days:
            why = f"shortens the restore window from {was_days} to {wanted_days} days"
            out.append(_change(path, was_days, wanted_days, Severity.HIGH, why, destructive=True))
        else:
            out.append(_change(path, was_days, wanted_days, Severity.LOW, "lengthens the window"))
    wanted_export, was_export = desired.auto_export_enabled, held.auto_export_enabled
    if wanted_export is not None and wanted_export != bool(was_export):
        path = "/schedule/autoExportEnabled"
        severity = Severity.LOW if wanted_export else Severity.HIGH
        why = "starts exporting snapshots" if wanted_export else "stops exporting snapshots"
        out.append(_change(path, was_export, wanted_export, severity, why))
    prefix = desired.use_org_and_group_names_in_export_prefix
    if prefix is not None and prefix != bool(held.use_org_and_group_names_in_export_prefix):
        path = "/schedule/useOrgAndGroupNamesInExportPrefix"
        was = held.use_org_and_group_names_in_export_prefix
        out.append(_change(path, was, prefix, Severity.MEDIUM, "changes the export prefix"))
    return out


def _export_text(export: Export | None) -> str | None:
    return None if export is None else f"{export.bucket_id} ({export.frequency})"


def _export(desired: DesiredSchedule, held: Held) -> list[FieldChange]:
    if desired.export is None or desired.export == held.export:
        return []
    was, wanted = _export_text(held.export), _export_text(desired.export)
    if held.export is None:
        return [_change("/schedule/export", was, wanted, Severity.LOW, "adds an export target")]
    return [_change("/schedule/export", was, wanted, Severity.MEDIUM, "changes the export")]


# -- policy items ------------------------------------------------------------------------------

ItemKey = tuple[Frequency, int]


def _item_path(frequency: Frequency, interval: int) -> str:
    return f"/schedule/policyItems/{frequency}/{interval}"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def when(frequency: Frequency, interval: int) -> str:
    """A policy item's timing in words: ``every 6 hours``, ``weekly (Saturday)``, ..."""
    if frequency is Frequency.HOURLY:
        return f"every {interval} hours" if interval > 1 else "hourly"
    if frequency is Frequency.WEEKLY and 1 <= interval <= len(_WEEKDAYS):
        return f"weekly ({_WEEKDAYS[interval - 1]})"
    if frequency is Frequency.MONTHLY:
        return "monthly (last day)" if interval == 40 else f"monthly (day {interval})"
    if frequency is Frequency.YEARLY and 1 <= interval <= len(_MONTHS):
        return f"yearly ({_MONTHS[interval - 1]})"
    return str(frequency)


def _possibly_shorter(new: Retention, old: Retention) -> bool:
    """Whether ``new`` may keep snapshots for less time than ``old`` on some calendar date.

    Within a unit family the lengths compare exactly; across families (1 month against 31
    days) a retention that could be shorter in a short month counts as shorter.
    """
    if (new.unit in ("days", "weeks")) == (old.unit in ("days", "weeks")):
        return new.nominal() < old.nominal()
    return new.day_range()[0] < old.day_range()[1]


def _items(
    desired: DesiredSchedule, held: Held, source: Callable[[str], Span | None]
) -> list[FieldChange]:
    wanted = {(i.frequency, i.interval, i.retention): i for i in desired.items}
    was = {(i.frequency, i.interval, i.retention): i for i in held.items}
    gone = [i for k, i in was.items() if k not in wanted]
    new = [i for k, i in wanted.items() if k not in was]
    by_key_new: dict[ItemKey, PolicyItem] = {(i.frequency, i.interval): i for i in new}
    rewrites = desired.update_snapshots is True
    out: list[FieldChange] = []
    for old in sorted(gone, key=_item_order):
        replacement = by_key_new.pop((old.frequency, old.interval), None)
        path = _item_path(old.frequency, old.interval)
        if replacement is None:
            why = f"removes the {when(old.frequency, old.interval)} item (kept {old.retention})"
            out.append(
                _change(
                    path,
                    str(old.retention),
                    None,
                    Severity.CRITICAL,
                    why,
                    destructive=True,
                    source=source("/policy"),
                )
            )
            continue
        new_retention = replacement.retention
        if _possibly_shorter(new_retention, old.retention):
            why = f"shortens {old.frequency} retention from {old.retention} to {new_retention}"
            if rewrites:
                why += " and, with updateSnapshots, of the snapshots already taken"
            severity = Severity.CRITICAL if rewrites else Severity.HIGH
            out.append(
                _change(
                    path,
                    str(old.retention),
                    str(new_retention),
                    severity,
                    why,
                    destructive=True,
                    source=replacement.span,
                )
            )
        else:
            why = f"keeps {old.frequency} snapshots {new_retention} instead of {old.retention}"
            out.append(
                _change(
                    path,
                    str(old.retention),
                    str(new_retention),
                    Severity.LOW,
                    why,
                    source=replacement.span,
                )
            )
    for added in sorted(by_key_new.values(), key=_item_order):
        why = f"adds a {when(added.frequency, added.interval)} item (kept {added.retention})"
        path = _item_path(added.frequency, added.interval)
        out.append(_change(path, None, str(added.retention), Severity.LOW, why, source=added.span))
    return out


def _item_order(item: PolicyItem | ObservedItem) -> tuple[int, int, int]:
    return (item.frequency.rank, item.interval, item.retention.day_range()[0])


# -- copy settings -----------------------------------------------------------------------------


def _copy_text(setting: CopySetting | ObservedCopySetting) -> str:
    frequencies = ", ".join(sorted(setting.frequencies)) or "no frequencies"
    oplogs = " with oplogs" if setting.should_copy_oplogs else ""
    return f"{frequencies}{oplogs}"


def _copies(
    desired: DesiredSchedule, held: Held, source: Callable[[str], Span | None]
) -> list[FieldChange]:
    wanted = {(c.cloud_provider, c.region_name): c for c in desired.copy_settings or ()}
    was = {(c.cloud_provider, c.region_name): c for c in held.copy_settings}
    out: list[FieldChange] = []
    for where in sorted(set(wanted) | set(was)):
        path = f"/schedule/copySettings/{where[0]}/{where[1]}"
        want, have = wanted.get(where), was.get(where)
        if want is None and have is not None:
            why = f"stops copying snapshots to {where[0]} {where[1]}"
            place = source("/schedule/copySettings") or source("/schedule")
            out.append(
                _change(
                    path,
                    _copy_text(have),
                    None,
                    Severity.HIGH,
                    why,
                    destructive=True,
                    source=place,
                )
            )
        elif want is not None and have is None:
            why = f"copies snapshots to {where[0]} {where[1]}"
            out.append(_change(path, None, _copy_text(want), Severity.LOW, why, source=want.span))
        elif want is not None and have is not None and _copy_differs(want, have):
            severity = Severity.HIGH if _copy_loses(want, have) else Severity.LOW
            why = f"changes what is copied to {where[0]} {where[1]}"
            out.append(
                _change(path, _copy_text(have), _copy_text(want), severity, why, source=want.span)
            )
    return out


def _copy_differs(want: CopySetting, have: ObservedCopySetting) -> bool:
    if set(want.frequencies) != set(have.frequencies):
        return True
    return want.should_copy_oplogs is not None and want.should_copy_oplogs != bool(
        have.should_copy_oplogs
    )


def _copy_loses(want: CopySetting, have: ObservedCopySetting) -> bool:
    if set(have.frequencies) - set(want.frequencies):
        return True
    return bool(have.should_copy_oplogs) and want.should_copy_oplogs is False
