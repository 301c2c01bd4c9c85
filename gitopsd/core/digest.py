"""Stable digests of values: a desired cluster's managed state, and any JSON-shaped content.

Owns the canonical form that decides "the same": ``of_cluster`` covers what gitopsd manages for
a cluster (flags, schedule fields, items as a set, copy settings) and leaves out where values
were written, so moving a manifest or adding a comment does not read as a change. ``of_json``
hashes canonical JSON (sorted keys, no spaces) as ``sha256:<hex>``. Pure.
"""

from __future__ import annotations

import hashlib
import json

from gitopsd.core.model import DesiredCluster, DesiredSchedule, PolicyItem


def of_json(value: object) -> str:
    """``sha256:<hex>`` of ``value`` as canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def of_cluster(cluster: DesiredCluster) -> str:
    """The digest of what Git asks of ``cluster``: equal digests mean an unchanged desire."""
    return of_json(
        {
            "backupEnabled": cluster.backup_enabled,
            "pitEnabled": cluster.pit_enabled,
            "schedule": None if cluster.schedule is None else _schedule(cluster.schedule),
        }
    )


def _item(item: PolicyItem) -> list[object]:
    return [str(item.frequency), item.interval, item.retention.value, str(item.retention.unit)]


def _schedule(schedule: DesiredSchedule) -> dict[str, object]:
    export = schedule.export
    return {
        "referenceHourOfDay": schedule.reference_hour_of_day,
        "referenceMinuteOfHour": schedule.reference_minute_of_hour,
        "restoreWindowDays": schedule.restore_window_days,
        "autoExportEnabled": schedule.auto_export_enabled,
        "export": None if export is None else [export.bucket_id, export.frequency],
        "useOrgAndGroupNamesInExportPrefix": schedule.use_org_and_group_names_in_export_prefix,
        "updateSnapshots": schedule.update_snapshots,
        "copySettings": sorted(
            [c.cloud_provider, c.region_name, str(c.should_copy_oplogs), sorted(c.frequencies)]
            for c in schedule.copy_settings
        ),
        "items": sorted(_item(i) for i in schedule.items),
    }
