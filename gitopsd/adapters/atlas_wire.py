"""Atlas Admin API v2 on the wire, without the network: paths, media types, JSON <-> values.

Owns the versioned media type of each operation, the request paths, parsing Atlas's JSON into
``core.observed`` values, building PATCH bodies from desired values, and turning an ApiError
answer into the typed ``errors.Atlas*Error``. Pure: it never imports httpx or does I/O, so the
whole translation is unit-tested with plain dicts.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from gitopsd.core.model import (
    CopySetting,
    DesiredSchedule,
    Export,
    Frequency,
    Retention,
    RetentionUnit,
)
from gitopsd.core.observed import (
    ObservedCluster,
    ObservedCopySetting,
    ObservedItem,
    ObservedProject,
    ObservedSchedule,
)
from gitopsd.errors import AtlasConfigError, AtlasError, AtlasPermanentError, AtlasTransientError

API = "/api/atlas/v2"
TOKEN_PATH = "/api/oauth/token"  # noqa: S105 - a URL path, not a password
PROJECT_MEDIA = "application/vnd.atlas.2023-01-01+json"
CLUSTER_MEDIA = "application/vnd.atlas.2024-08-05+json"
CLUSTER_PATCH_MEDIA = "application/vnd.atlas.2024-10-23+json"
SCHEDULE_MEDIA = "application/vnd.atlas.2024-08-05+json"
ITEMS_PER_PAGE = 500
RATE_LIMIT_CODES = frozenset({"RATE_LIMITED", "RATE_LIMITED_TOKEN_BUCKET"})
ACCESS_LIST_CODE = "RESOURCE_REQUIRES_ACCESS_LIST"
_DETAIL_MAX = 500

Json = dict[str, object]
Extra = tuple[tuple[str, str], ...]

_SCHEDULE_KNOWN = frozenset(
    {"referenceHourOfDay", "referenceMinuteOfHour", "restoreWindowDays", "autoExportEnabled"}
    | {"export", "useOrgAndGroupNamesInExportPrefix", "copySettings", "policies"}
    | {"clusterId", "clusterName", "links", "nextSnapshot", "id"}
)
_COPY_MANAGED = frozenset(
    {"cloudProvider", "regionName", "shouldCopyOplogs", "frequencies", "zoneId"}
)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def project_by_name_path(name: str) -> str:
    """GET a project (group) by its name."""
    return f"{API}/groups/byName/{_segment(name)}"


def project_path(project_id: str) -> str:
    """GET a project (group) by its id."""
    return f"{API}/groups/{_segment(project_id)}"


def clusters_path(project_id: str) -> str:
    """GET (paginated) the clusters of a project."""
    return f"{project_path(project_id)}/clusters"


def cluster_path(project_id: str, cluster: str) -> str:
    """GET or PATCH one cluster."""
    return f"{clusters_path(project_id)}/{_segment(cluster)}"


def schedule_path(project_id: str, cluster: str) -> str:
    """GET or PATCH a cluster's backup schedule."""
    return f"{cluster_path(project_id, cluster)}/backup/schedule"


def page_params(page: int) -> dict[str, str]:
    """Query parameters of one page of a cluster listing."""
    return {"pageNum": str(page), "itemsPerPage": str(ITEMS_PER_PAGE), "includeCount": "true"}


# -- reading ---------------------------------------------------------------------------------


def _shape_error(what: str) -> AtlasPermanentError:
    return AtlasPermanentError(f"unexpected Atlas response: {what}")


def decode(body: bytes) -> Json:
    """A JSON object from a response body, or a permanent error."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _shape_error("body is not JSON") from exc
    if not isinstance(value, dict):
        raise _shape_error("body is not a JSON object")
    return value


def _obj(value: object, what: str) -> Json:
    if not isinstance(value, dict):
        raise _shape_error(f"{what} is not an object")
    return value


def _list(value: object, what: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _shape_error(f"{what} is not a list")
    return value


def _str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _shape_error(f"{key} is not a string")
    return value


def _opt_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _opt_int(data: Mapping[str, object], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_bool(data: Mapping[str, object], key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def parse_project(data: Json) -> ObservedProject:
    """A Group (2023-01-01) as an ObservedProject."""
    return ObservedProject(id=_str(data, "id"), name=_str(data, "name"))


def parse_cluster(data: Json, project_id: str | None = None) -> ObservedCluster:
    """A ClusterDescription20240805 as an ObservedCluster."""
    specs = _list(data.get("replicationSpecs"), "replicationSpecs")
    spec = _obj(specs[0], "replicationSpecs[0]") if specs else {}
    regions = _list(spec.get("regionConfigs"), "regionConfigs")
    region = _obj(regions[0], "regionConfigs[0]") if regions else {}
    hardware = region.get("electableSpecs")
    hardware = hardware if isinstance(hardware, dict) else {}
    size = _opt_str(hardware, "instanceSize") or _opt_str(hardware, "effectiveInstanceSize")
    return ObservedCluster(
        project_id=project_id or _str(data, "groupId"),
        name=_str(data, "name"),
        backup_enabled=_opt_bool(data, "backupEnabled") is True,
        pit_enabled=_opt_bool(data, "pitEnabled") is True,
        state_name=_opt_str(data, "stateName") or "",
        paused=_opt_bool(data, "paused") is True,
        zone_id=_opt_str(spec, "zoneId"),
        instance_size=size,
        provider_name=_opt_str(region, "providerName"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterPage:
    """One page of a cluster listing."""

    clusters: tuple[ObservedCluster, ...]
    total_count: int | None
    has_next: bool


def parse_cluster_page(data: Json, project_id: str) -> ClusterPage:
    """A PaginatedClusterDescription20240805 page."""
    results = _list(data.get("results"), "results")
    links = [link for link in _list(data.get("links"), "links") if isinstance(link, dict)]
    return ClusterPage(
        clusters=tuple(parse_cluster(_obj(r, "results[]"), project_id) for r in results),
        total_count=_opt_int(data, "totalCount"),
        has_next=any(link.get("rel") == "next" for link in links),
    )


def _item(raw: object) -> ObservedItem:
    data = _obj(raw, "policyItem")
    try:
        frequency = Frequency(_str(data, "frequencyType"))
        unit = RetentionUnit(_str(data, "retentionUnit"))
    except ValueError as exc:
        raise _shape_error(f"unknown policy item {data.get('frequencyType')!r}") from exc
    interval, value = _opt_int(data, "frequencyInterval"), _opt_int(data, "retentionValue")
    if interval is None or value is None:
        raise _shape_error("policy item without frequencyInterval or retentionValue")
    return ObservedItem(
        id=_opt_str(data, "id"),
        frequency=frequency,
        interval=interval,
        retention=Retention(value=value, unit=unit),
    )


def _filled(value: object) -> bool:
    return value not in (None, False, [], {}, "")


def _copy_setting(raw: object, n: int, unmanaged: list[str]) -> ObservedCopySetting:
    data = _obj(raw, f"copySettings[{n}]")
    extra = tuple(
        sorted(
            (k, json.dumps(v, sort_keys=True)) for k, v in data.items() if k not in _COPY_MANAGED
        )
    )
    unmanaged += (
        f"copySettings[{n}].{k}" for k, v in data.items() if k not in _COPY_MANAGED and _filled(v)
    )
    frequencies = _list(data.get("frequencies"), "frequencies")
    return ObservedCopySetting(
        cloud_provider=_opt_str(data, "cloudProvider") or "",
        region_name=_opt_str(data, "regionName") or "",
        should_copy_oplogs=_opt_bool(data, "shouldCopyOplogs"),
        frequencies=tuple(str(f) for f in frequencies),
        zone_id=_opt_str(data, "zoneId"),
        extra=extra,
    )


def parse_schedule(data: Json) -> ObservedSchedule:
    """A DiskBackupSnapshotSchedule20240805 as an ObservedSchedule."""
    policies = _list(data.get("policies"), "policies")
    policy = _obj(policies[0], "policies[0]") if policies else {}
    unmanaged = [k for k, v in data.items() if k not in _SCHEDULE_KNOWN and _filled(v)]
    unmanaged += (f"policies[{n}]" for n in range(1, len(policies)))
    copies = tuple(
        _copy_setting(raw, n, unmanaged)
        for n, raw in enumerate(_list(data.get("copySettings"), "copySettings"))
    )
    export_data = data.get("export")
    export = None
    if isinstance(export_data, dict) and isinstance(export_data.get("exportBucketId"), str):
        export = Export(
            bucket_id=_str(export_data, "exportBucketId"),
            frequency=_opt_str(export_data, "frequencyType") or "monthly",
        )
    return ObservedSchedule(
        cluster_name=_opt_str(data, "clusterName") or "",
        policy_id=_opt_str(policy, "id"),
        reference_hour_of_day=_opt_int(data, "referenceHourOfDay"),
        reference_minute_of_hour=_opt_int(data, "referenceMinuteOfHour"),
        restore_window_days=_opt_int(data, "restoreWindowDays"),
        auto_export_enabled=_opt_bool(data, "autoExportEnabled"),
        export=export,
        use_org_and_group_names_in_export_prefix=_opt_bool(
            data, "useOrgAndGroupNamesInExportPrefix"
        ),
        copy_settings=copies,
        items=tuple(_item(raw) for raw in _list(policy.get("policyItems"), "policyItems")),
        unmanaged=tuple(sorted(unmanaged)),
    )


# -- writing ---------------------------------------------------------------------------------


def cluster_patch_body(*, backup_enabled: bool | None, pit_enabled: bool | None) -> Json:
    """A ClusterDescription20240805 PATCH body with only the flags gitopsd manages."""
    body: Json = {}
    if backup_enabled is not None:
        body["backupEnabled"] = backup_enabled
    if pit_enabled is not None:
        body["pitEnabled"] = pit_enabled
    return body


def _copy_json(
    setting: CopySetting | ObservedCopySetting, zone_id: str | None, extra: Extra
) -> Json:
    out: Json = {k: json.loads(v) for k, v in extra}
    out |= {"cloudProvider": setting.cloud_provider, "regionName": setting.region_name}
    out["frequencies"] = list(setting.frequencies)
    if setting.should_copy_oplogs is not None:
        out["shouldCopyOplogs"] = setting.should_copy_oplogs
    if zone_id is not None:
        out["zoneId"] = zone_id
    return out


def _held_extra(setting: CopySetting, observed: ObservedSchedule | None) -> Extra:
    where = (setting.cloud_provider, setting.region_name)
    held = observed.copy_settings if observed else ()
    return next((c.extra for c in held if (c.cloud_provider, c.region_name) == where), ())


def schedule_patch_body(
    desired: DesiredSchedule,
    *,
    policy_id: str | None,
    zone_id: str | None,
    observed: ObservedSchedule | None = None,
) -> Json:
    """The full desired schedule as a PATCH body (SPEC §3).

    One policy keeping Atlas's ``policies[0].id``, items without ids (sorted, for stable
    bytes), copy settings with the cluster's ``zoneId`` (``[]`` when Git has none). A field the
    manifest leaves unmanaged (None) is sent as Atlas holds it, so the PATCH never resets it.
    """
    body: Json = {}

    def put(key: str, wanted: object, held: object) -> None:
        value = wanted if wanted is not None else held
        if value is not None:
            body[key] = value

    o = observed
    put("referenceHourOfDay", desired.reference_hour_of_day, o and o.reference_hour_of_day)
    put("referenceMinuteOfHour", desired.reference_minute_of_hour, o and o.reference_minute_of_hour)
    put("restoreWindowDays", desired.restore_window_days, o and o.restore_window_days)
    put("autoExportEnabled", desired.auto_export_enabled, o and o.auto_export_enabled)
    put(
        "useOrgAndGroupNamesInExportPrefix",
        desired.use_org_and_group_names_in_export_prefix,
        o and o.use_org_and_group_names_in_export_prefix,
    )
    export = desired.export or (o.export if o else None)
    if export is not None:
        body["export"] = {"exportBucketId": export.bucket_id, "frequencyType": export.frequency}
    copies = desired.copy_settings
    body["copySettings"] = [_copy_json(c, zone_id, _held_extra(c, o)) for c in copies]
    if desired.update_snapshots is not None:
        body["updateSnapshots"] = desired.update_snapshots
    items = sorted(
        desired.items,
        key=lambda i: (i.frequency.rank, i.interval, i.retention.unit, i.retention.value),
    )
    policy: Json = {} if policy_id is None else {"id": policy_id}
    policy["policyItems"] = [
        {
            "frequencyType": str(i.frequency),
            "frequencyInterval": i.interval,
            "retentionUnit": str(i.retention.unit),
            "retentionValue": i.retention.value,
        }
        for i in items
    ]
    body["policies"] = [policy]
    return body


def encode(body: Json) -> bytes:
    """A request body as compact JSON with sorted keys (stable for logs and dry-run lines)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# -- errors ----------------------------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in its seconds form; None when absent or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    return float(text) if text.replace(".", "", 1).isdigit() else None


def error_from_response(
    *, method: str, path: str, status: int, body: bytes, retry_after: str | None
) -> AtlasError:
    """The typed error for an error answer, from its status and ApiError body.

    429 and 5xx are transient; 401, 403 and 410 need an operator; other 4xx are permanent.
    """
    try:
        data = decode(body)
    except AtlasPermanentError:
        data = {}
    code = _opt_str(data, "errorCode") or ""
    detail = (_opt_str(data, "detail") or "")[:_DETAIL_MAX]
    reason = _opt_str(data, "reason") or ""
    message = f"{method} {path}: {status} {code or reason or 'error'}"
    if detail:
        message += f": {detail}"
    fields: dict[str, str | int] = {"status": status, "error_code": code}
    fields |= {"detail": detail, "reason": reason}
    if status == 429 or status >= 500:
        return AtlasTransientError(
            message,
            retry_after_s=parse_retry_after(retry_after),
            may_have_acted=status != 429,  # a rate limit turns the request away unread
            **fields,
        )
    if code == ACCESS_LIST_CODE:
        message += " (add this daemon's public IP address to the organization's API access list)"
    if status in {401, 403, 410}:
        return AtlasConfigError(message, **fields)  # type: ignore[arg-type]
    return AtlasPermanentError(message, **fields)  # type: ignore[arg-type]
