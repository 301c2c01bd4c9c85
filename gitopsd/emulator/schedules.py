"""Backup schedule rules: Atlas's validation of a schedule PATCH, item ids, the default schedule.

Owns what a valid DiskBackupSnapshotSchedule20240805 write looks like and how it merges into
the stored schedule (ids assigned on write, kept for unchanged items, policies[0].id kept).
Schedules are plain JSON dicts here; this module holds no state and no lock.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable, Mapping

from gitopsd.emulator import problems

Json = dict[str, object]
NewId = Callable[[], str]

ID = re.compile(r"^[a-f0-9]{24}$")
RANK = {"hourly": 0, "daily": 1, "weekly": 2, "monthly": 3, "yearly": 4}
INTERVALS: dict[str, frozenset[int]] = {
    "hourly": frozenset({1, 2, 4, 6, 8, 12}),
    "daily": frozenset({1}),
    "weekly": frozenset(range(1, 8)),
    "monthly": frozenset({*range(1, 29), 40}),
    "yearly": frozenset(range(1, 13)),
}
UNIT_DAYS = {"days": 1, "weeks": 7}
UNIT_MONTHS = {"months": 1, "years": 12}
UNITS = frozenset(UNIT_DAYS) | frozenset(UNIT_MONTHS)
PROVIDERS = frozenset({"AWS", "AZURE", "GCP"})
COPY_FREQUENCIES = frozenset({"HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND"})
WRITE_ONLY = frozenset(
    {"updateSnapshots", "updateCopySnapshots", "deleteCopiedBackups", "deleteCopySnapshots"}
    | {"deleteSnapshots"}
)
LEGACY_COPY_FIELDS = frozenset({"cloudProvider", "frequencies", "regionName", "shouldCopyOplogs"})
READ_ONLY = frozenset({"clusterId", "clusterName", "links", "nextSnapshot"})
BOOLEANS = frozenset(
    {"autoExportEnabled", "useOrgAndGroupNamesInExportPrefix", "autoCopySettingsEnabled"}
    | {"copyPolicyItemsEnabled"}
)

DEFAULT_ITEMS = (
    ("hourly", 6, "days", 7),
    ("daily", 1, "days", 7),
    ("weekly", 1, "weeks", 4),
    ("monthly", 40, "months", 12),
)


def _item(frequency: str, interval: int, unit: str, value: int, item_id: str) -> Json:
    return {
        "id": item_id,
        "frequencyType": frequency,
        "frequencyInterval": interval,
        "retentionUnit": unit,
        "retentionValue": value,
    }


def default(new_id: NewId) -> Json:
    """The schedule Atlas creates when backup is first enabled on a cluster."""
    return {
        "referenceHourOfDay": 0,
        "referenceMinuteOfHour": 0,
        "restoreWindowDays": 7,
        "autoExportEnabled": False,
        "useOrgAndGroupNamesInExportPrefix": False,
        "copySettings": [],
        "extraRetentionSettings": [],
        "policies": [{"id": new_id(), "policyItems": [_item(*i, new_id()) for i in DEFAULT_ITEMS]}],
    }


def _int(value: object, field: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise problems.invalid(f"{field} must be an integer", field)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise problems.invalid(f"{field} must be {bound}, got {value}", field)
    return value


def _obj(value: object, field: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise problems.invalid(f"{field} must be an object", field)
    return value


def _list(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise problems.invalid(f"{field} must be an array", field)
    return value


def _enum(value: object, field: str, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise problems.invalid(f"{field} must be one of {', '.join(sorted(allowed))}", field)
    return value


def _policy_item(raw: object, field: str) -> Json:
    item = _obj(raw, field)
    frequency = _enum(item.get("frequencyType"), f"{field}.frequencyType", frozenset(RANK))
    interval = item.get("frequencyInterval")
    if isinstance(interval, bool) or interval not in INTERVALS[frequency]:
        allowed = ", ".join(str(i) for i in sorted(INTERVALS[frequency]))
        raise problems.invalid(
            f"{field}.frequencyInterval {interval!r} is not valid for a {frequency} item"
            f" (allowed: {allowed})",
            f"{field}.frequencyInterval",
        )
    unit = _enum(item.get("retentionUnit"), f"{field}.retentionUnit", UNITS)
    value = _int(item.get("retentionValue"), f"{field}.retentionValue", 1)
    out: Json = {"frequencyType": frequency, "frequencyInterval": interval}
    out |= {"retentionUnit": unit, "retentionValue": value}
    if "id" in item:
        item_id = item["id"]
        if not isinstance(item_id, str) or not ID.match(item_id):
            raise problems.invalid(f"{field}.id must be 24 hexadecimal digits", f"{field}.id")
        out["id"] = item_id
    return out


def _retention(item: Json) -> str:
    return f"{item['retentionValue']} {item['retentionUnit']}"


def _days(item: Json) -> tuple[int, int]:
    """Shortest and longest length of an item's retention in days (a month is 28-31 days)."""
    unit, value = str(item["retentionUnit"]), int(str(item["retentionValue"]))
    if unit in UNIT_DAYS:
        return value * UNIT_DAYS[unit], value * UNIT_DAYS[unit]
    years, months = divmod(value * UNIT_MONTHS[unit], 12)
    return years * 365 + months * 28, years * 366 + months * 31


def _keeps_as_long(rarely: Json, often: Json) -> bool:
    """Whether ``rarely`` keeps snapshots at least as long as ``often``.

    Days and weeks compare exactly, and so do months and years; across the two families a
    month may last 31 days and a year 366, so 1 month keeps as long as 31 days.
    """

    def nominal(item: Json) -> int:
        unit, value = str(item["retentionUnit"]), int(str(item["retentionValue"]))
        return value * (UNIT_DAYS | UNIT_MONTHS)[unit]

    if (rarely["retentionUnit"] in UNIT_DAYS) == (often["retentionUnit"] in UNIT_DAYS):
        return nominal(rarely) >= nominal(often)
    return _days(rarely)[1] >= _days(often)[0]


def _check_retention_order(items: list[Json]) -> None:
    for often in items:
        for rarely in items:
            if RANK[str(often["frequencyType"])] < RANK[
                str(rarely["frequencyType"])
            ] and not _keeps_as_long(rarely, often):
                raise problems.invalid(
                    f"{rarely['frequencyType']} retention ({_retention(rarely)}) must be at least"
                    f" the {often['frequencyType']} retention ({_retention(often)})",
                    "policies[0].policyItems",
                )


def _policy_items(body: Mapping[str, object]) -> list[Json]:
    if "policies" not in body:
        raise problems.invalid("policies is required", "policies")
    policies = _list(body["policies"], "policies")
    if len(policies) != 1:
        raise problems.invalid(f"exactly one policy is required, got {len(policies)}", "policies")
    policy = _obj(policies[0], "policies[0]")
    raw_items = _list(policy.get("policyItems"), "policies[0].policyItems")
    if not raw_items:
        raise problems.invalid("a policy needs at least one item", "policies[0].policyItems")
    items = [_policy_item(raw, f"policies[0].policyItems[{n}]") for n, raw in enumerate(raw_items)]
    seen: set[tuple[object, object]] = set()
    for item in items:
        key = (item["frequencyType"], item["frequencyInterval"])
        if key in seen:
            raise problems.invalid(
                f"duplicate {key[0]} item with frequencyInterval {key[1]}",
                "policies[0].policyItems",
            )
        seen.add(key)
    _check_retention_order(items)
    return items


def _copy_setting(raw: object, field: str, zone_id: str) -> Json:
    setting = dict(_obj(raw, field))
    _enum(setting.get("cloudProvider"), f"{field}.cloudProvider", PROVIDERS)
    if not isinstance(setting.get("regionName"), str):
        raise problems.invalid(f"{field}.regionName is required", f"{field}.regionName")
    for n, frequency in enumerate(_list(setting.get("frequencies", []), f"{field}.frequencies")):
        _enum(frequency, f"{field}.frequencies[{n}]", COPY_FREQUENCIES)
    if not isinstance(setting.get("shouldCopyOplogs", False), bool):
        raise problems.invalid(f"{field}.shouldCopyOplogs must be a boolean")
    for n, raw_item in enumerate(
        _list(setting.get("copyPolicyItems", []), f"{field}.copyPolicyItems")
    ):
        item = _obj(raw_item, f"{field}.copyPolicyItems[{n}]")
        kind = _enum(item.get("frequencyType"), "frequencyType", frozenset({*RANK, "ondemand"}))
        if kind != "ondemand":
            _enum(item.get("retentionUnit"), "retentionUnit", UNITS)
            _int(item.get("retentionValue"), "retentionValue", 1)
    # A 2023-01-01 copy setting names the replication spec; the cluster has one, in one zone.
    setting.pop("replicationSpecId", None)
    sent = setting.setdefault("zoneId", zone_id)
    if sent != zone_id:
        detail = f"{field}.zoneId {sent} is not a zone of the cluster (its zone is {zone_id})"
        raise problems.invalid(detail, f"{field}.zoneId")
    return setting


def _keep_ids(items: list[Json], old_items: list[Json], new_id: NewId) -> list[Json]:
    unused = {str(old["id"]): old for old in old_items if "id" in old}
    for item in items:
        if item.get("id") in unused:
            del unused[str(item["id"])]
        else:
            item.pop("id", None)
    fields = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    for item in items:
        if "id" in item:
            continue
        match = next(
            (i for i, old in unused.items() if all(old[f] == item[f] for f in fields)), None
        )
        item["id"] = match or new_id()
        unused.pop(match or "", None)
    return [{"id": item["id"], **{f: item[f] for f in fields}} for item in items]


def _check_policy_id(body: Mapping[str, object], held_id: object) -> None:
    """Atlas edits the cluster's one policy, so the body must name it by its id."""
    field = "policies[0].id"
    sent = _obj(_list(body["policies"], "policies")[0], "policies[0]").get("id")
    if sent is None:
        detail = f"{field} is required: the id of the cluster's backup policy, {held_id}"
        raise problems.ApiProblemError(400, problems.MISSING_ATTRIBUTE, detail, parameters=(field,))
    if sent != held_id:
        detail = f"{field} {sent} is not the id of the cluster's backup policy, {held_id}"
        raise problems.invalid(detail, field)


def _check_auto_export(result: Mapping[str, object]) -> None:
    """Automatic export needs somewhere to export to."""
    export = result.get("export")
    bucket = export.get("exportBucketId") if isinstance(export, dict) else None
    if result.get("autoExportEnabled") is True and bucket is None:
        detail = "autoExportEnabled is true but export.exportBucketId names no export bucket"
        raise problems.invalid(detail, "export.exportBucketId")


def merge(
    current: Json,
    body: Mapping[str, object],
    *,
    zone_id: str,
    export_buckets: frozenset[str],
    new_id: NewId,
) -> Json:
    """Validate a schedule PATCH body and return the schedule it leaves behind.

    ``export_buckets`` are the ids of the project's export buckets.
    """
    for key in body:
        known = {"policies", "referenceHourOfDay", "referenceMinuteOfHour", "restoreWindowDays"}
        known |= {"copySettings", "export", "extraRetentionSettings"}
        if key not in known | WRITE_ONLY | READ_ONLY | BOOLEANS:
            raise problems.ApiProblemError(
                400,
                problems.INVALID_ATTRIBUTE,
                f"invalid attribute {key} specified",
                parameters=(key,),
            )
    items = _policy_items(body)
    result = copy.deepcopy(current)
    old_policy = _list(result["policies"], "policies")[0]
    assert isinstance(old_policy, dict)
    _check_policy_id(body, old_policy["id"])
    old_items = [i for i in old_policy["policyItems"] if isinstance(i, dict)]
    result["policies"] = [
        {"id": old_policy["id"], "policyItems": _keep_ids(items, old_items, new_id)}
    ]
    if "referenceHourOfDay" in body:
        result["referenceHourOfDay"] = _int(body["referenceHourOfDay"], "referenceHourOfDay", 0, 23)
    if "referenceMinuteOfHour" in body:
        minute = _int(body["referenceMinuteOfHour"], "referenceMinuteOfHour", 0, 59)
        result["referenceMinuteOfHour"] = minute
    if "restoreWindowDays" in body:
        result["restoreWindowDays"] = _int(body["restoreWindowDays"], "restoreWindowDays", 1)
    for key in sorted(BOOLEANS & body.keys()):
        if not isinstance(body[key], bool):
            raise problems.invalid(f"{key} must be a boolean", key)
        result[key] = body[key]
    if "copySettings" in body:
        settings = _list(body["copySettings"], "copySettings")
        result["copySettings"] = [
            _copy_setting(raw, f"copySettings[{n}]", zone_id) for n, raw in enumerate(settings)
        ]
    if "export" in body:
        export = dict(_obj(body["export"], "export"))
        if "frequencyType" in export:
            _enum(export["frequencyType"], "export.frequencyType", frozenset({"monthly", "yearly"}))
        bucket = export.get("exportBucketId")
        if bucket is not None and (not isinstance(bucket, str) or not ID.match(bucket)):
            raise problems.invalid("export.exportBucketId must be 24 hexadecimal digits")
        if bucket is not None and bucket not in export_buckets:
            detail = f"export.exportBucketId {bucket} names no export bucket of the project"
            raise problems.invalid(detail, "export.exportBucketId")
        result["export"] = export
    if {"autoExportEnabled", "export"} & body.keys():
        _check_auto_export(result)
    if "extraRetentionSettings" in body:
        extra = _list(body["extraRetentionSettings"], "extraRetentionSettings")
        for n, raw in enumerate(extra):
            setting = _obj(raw, f"extraRetentionSettings[{n}]")
            _enum(setting.get("frequencyType"), "frequencyType", COPY_FREQUENCIES)
            _int(setting.get("retentionDays"), "retentionDays", 1)
        result["extraRetentionSettings"] = extra
    return result


def _next_snapshot(schedule: Mapping[str, object], now: dt.datetime) -> str:
    hour = schedule.get("referenceHourOfDay", 0)
    minute = schedule.get("referenceMinuteOfHour", 0)
    hour = hour if isinstance(hour, int) and 0 <= hour <= 23 else 0
    minute = minute if isinstance(minute, int) and 0 <= minute <= 59 else 0
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= now:
        at += dt.timedelta(days=1)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def render(
    schedule: Mapping[str, object],
    *,
    cluster_id: str,
    cluster_name: str,
    href: str,
    now: dt.datetime,
    legacy_spec_id: str | None = None,
) -> Json:
    """The schedule as GET .../backup/schedule returns it.

    2024-08-05, or 2023-01-01 when ``legacy_spec_id`` is given: copy settings then name the
    replication spec instead of the zone, and have no copy policy items.
    """
    body: Json = {
        "clusterId": cluster_id,
        "clusterName": cluster_name,
        "autoExportEnabled": False,
        "useOrgAndGroupNamesInExportPrefix": False,
        "copySettings": [],
        "extraRetentionSettings": [],
        "export": {"frequencyType": "monthly"},
    }
    body |= copy.deepcopy(dict(schedule))
    body["links"] = [{"href": href, "rel": "self"}]
    body["nextSnapshot"] = _next_snapshot(schedule, now)
    if legacy_spec_id is not None:
        body["copySettings"] = [
            {k: v for k, v in s.items() if k in LEGACY_COPY_FIELDS}
            | {"replicationSpecId": legacy_spec_id}
            for s in _list(body["copySettings"], "copySettings")
            if isinstance(s, dict)
        ]
    return body


def seeded(raw: Mapping[str, object], *, zone_id: str, new_id: NewId) -> Json:
    """A schedule taken as given (seed or out-of-band drift): no rules, ids filled in."""
    result = default(new_id)
    result |= {k: copy.deepcopy(v) for k, v in raw.items() if k not in READ_ONLY | WRITE_ONLY}
    result.pop("projectId", None)
    policies = _list(result.get("policies"), "policies")
    fixed: list[object] = []
    for n, raw_policy in enumerate(policies):
        policy = dict(_obj(raw_policy, f"policies[{n}]"))
        policy.setdefault("id", new_id())
        items = _list(policy.get("policyItems", []), f"policies[{n}].policyItems")
        policy["policyItems"] = [
            {"id": new_id(), **dict(_obj(item, "policyItem"))} if "id" not in item else item
            for item in items
            if isinstance(item, dict)
        ]
        fixed.append(policy)
    result["policies"] = fixed
    settings = _list(result.get("copySettings", []), "copySettings")
    result["copySettings"] = [
        {"zoneId": zone_id, **dict(_obj(s, "copySettings[]"))} for s in settings
    ]
    return result
