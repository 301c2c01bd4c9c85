"""The emulated Atlas Admin API v2 operations and the OAuth token endpoint.

Owns the path table, the versioned media types per operation (406 / 415), pagination, and the
order a request goes through: auth, rate limit, injected faults, route, version, body. Rules
about clusters and schedules live in `state`; this module only calls them, under the hub's lock.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TypeVar

from gitopsd.emulator import bodies, faults, problems, wire

API_PREFIX = "/api/atlas/v2"
TOKEN_PATH = "/api/oauth/token"  # noqa: S105 - a path, not a secret
FORM = "application/x-www-form-urlencoded"
DEFAULT_VERSION = "2023-01-01"  # what Atlas serves when Accept names no version
MAX_ITEMS_PER_PAGE = 500

_T = TypeVar("_T")
Handler = Callable[[wire.Hub, tuple[str, ...], wire.Request], object]


def media_type(version: str) -> str:
    """The versioned Atlas media type."""
    return f"application/vnd.atlas.{version}+json"


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One operation: its media-type versions, its handler, the spec's name of its body."""

    versions: tuple[str, ...]
    handler: Handler
    body: str | None = None  # "PATCH /api/atlas/v2/...", the key into bodies' schemas

    @property
    def has_body(self) -> bool:
        """Whether the operation takes a request body."""
        return self.body is not None


def _get_group_by_name(hub: wire.Hub, args: tuple[str, ...], _: wire.Request) -> object:
    return hub.world.group_view(hub.world.project_named(args[0]), hub.base_url)


def _get_group(hub: wire.Hub, args: tuple[str, ...], _: wire.Request) -> object:
    return hub.world.group_view(hub.world.project(args[0]), hub.base_url)


def _query_int(request: wire.Request, name: str, default: int, high: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1 or (high is not None and int(raw) > high):
        bound = f"between 1 and {high}" if high else "at least 1"
        detail = f"query parameter {name} must be a whole number {bound}, got {raw!r}"
        raise problems.ApiProblemError(
            400, problems.INVALID_QUERY_PARAMETER, detail, parameters=(name,)
        )
    return int(raw)


def _paginated(
    request: wire.Request, href: str, records: Sequence[_T], view: Callable[[_T], object]
) -> dict[str, object]:
    """One page of ``records`` as Atlas's Paginated*View: results, links, totalCount."""
    page = _query_int(request, "pageNum", 1)
    per_page = _query_int(request, "itemsPerPage", 100, MAX_ITEMS_PER_PAGE)
    chunk = records[(page - 1) * per_page : page * per_page]

    def link(rel: str, number: int) -> dict[str, object]:
        return {"href": f"{href}?pageNum={number}&itemsPerPage={per_page}", "rel": rel}

    links = [link("self", page)]
    if page > 1:
        links.insert(0, link("previous", page - 1))
    if page * per_page < len(records):
        links.append(link("next", page + 1))
    body: dict[str, object] = {"results": [view(r) for r in chunk], "links": links}
    if request.query.get("includeCount", "true").lower() != "false":
        body["totalCount"] = len(records)
    return body


def _list_clusters(hub: wire.Hub, args: tuple[str, ...], request: wire.Request) -> object:
    project_id = args[0]
    hub.world.project(project_id)
    clusters = sorted(
        (c for c in hub.world.clusters.values() if c.project_id == project_id),
        key=lambda c: c.name,
    )
    href = f"{hub.base_url}{API_PREFIX}/groups/{project_id}/clusters"
    return _paginated(
        request, href, clusters, lambda c: hub.world.cluster_view(hub.world.settle(c), hub.base_url)
    )


def _list_export_buckets(hub: wire.Hub, args: tuple[str, ...], request: wire.Request) -> object:
    buckets = hub.world.export_buckets_of(args[0])
    href = f"{hub.base_url}{API_PREFIX}/groups/{args[0]}/backup/exportBuckets"
    return _paginated(
        request, href, buckets, lambda b: hub.world.export_bucket_view(b, hub.base_url)
    )


def _get_cluster(hub: wire.Hub, args: tuple[str, ...], _: wire.Request) -> object:
    return hub.world.cluster_view(hub.world.cluster(*args), hub.base_url)


def _patch_cluster(hub: wire.Hub, args: tuple[str, ...], request: wire.Request) -> object:
    cluster = hub.world.cluster(*args)
    hub.world.patch_cluster(cluster, wire.json_body(request))
    return hub.world.cluster_view(cluster, hub.base_url)


def _get_schedule(hub: wire.Hub, args: tuple[str, ...], request: wire.Request) -> object:
    cluster = hub.world.backup_cluster(hub.world.cluster(*args), writing=False)
    return hub.world.schedule_view(cluster, hub.base_url, version=request.version)


def _patch_schedule(hub: wire.Hub, args: tuple[str, ...], request: wire.Request) -> object:
    body = wire.json_body(request)
    cluster = hub.world.backup_cluster(hub.world.cluster(*args), writing=True)
    hub.world.patch_schedule(cluster, body)
    return hub.world.schedule_view(cluster, hub.base_url, version=request.version)


_CLUSTER = "/groups/{groupId}/clusters/{clusterName}"
_SCHEDULE = f"{_CLUSTER}/backup/schedule"
_V2023, _V2024 = ("2023-01-01",), ("2024-08-05",)
# Every version the spec lists for the operation, except the cluster's 2023-01-01 and
# 2023-02-01 (other shapes, not modelled; docs/emulator.md).
ROUTES: tuple[tuple[re.Pattern[str], dict[str, Operation]], ...] = (
    (re.compile(r"/groups/byName/([^/]+)"), {"GET": Operation(_V2023, _get_group_by_name)}),
    (re.compile(r"/groups/([^/]+)"), {"GET": Operation(_V2023, _get_group)}),
    (re.compile(r"/groups/([^/]+)/clusters"), {"GET": Operation(_V2024, _list_clusters)}),
    (
        re.compile(r"/groups/([^/]+)/backup/exportBuckets"),
        {"GET": Operation((*_V2023, "2024-05-30"), _list_export_buckets)},
    ),
    (
        re.compile(r"/groups/([^/]+)/clusters/([^/]+)"),
        {
            "GET": Operation(_V2024, _get_cluster),
            "PATCH": Operation(
                ("2024-08-05", "2024-10-23"), _patch_cluster, f"PATCH {API_PREFIX}{_CLUSTER}"
            ),
        },
    ),
    (
        re.compile(r"/groups/([^/]+)/clusters/([^/]+)/backup/schedule"),
        {
            "GET": Operation((*_V2023, *_V2024), _get_schedule),
            "PATCH": Operation(
                (*_V2023, *_V2024), _patch_schedule, f"PATCH {API_PREFIX}{_SCHEDULE}"
            ),
        },
    ),
)


def _route(request: wire.Request) -> tuple[Operation, tuple[str, ...]]:
    rest = request.path.removeprefix(API_PREFIX)
    for pattern, operations in ROUTES:
        match = pattern.fullmatch(rest)
        if match is None:
            continue
        operation = operations.get(request.method)
        if operation is None:
            detail = f"{request.method} is not allowed on {request.path}"
            raise problems.ApiProblemError(405, problems.METHOD_NOT_ALLOWED, detail)
        return operation, tuple(urllib.parse.unquote(g) for g in match.groups())
    raise problems.ApiProblemError(
        404, problems.RESOURCE_NOT_FOUND, f"cannot find resource {request.path}"
    )


def _base(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _negotiate(request: wire.Request, operation: Operation) -> str:
    """The version to answer in: the first one Accept names that the operation serves."""
    offered = [_base(v) for v in (request.header("accept") or "").split(",") if v.strip()]
    versioned = [v for v in offered if v.startswith("application/vnd.atlas.")]
    served = {media_type(v): v for v in operation.versions}
    chosen = next((served[v] for v in versioned if v in served), None)
    if chosen is None and not versioned and DEFAULT_VERSION in operation.versions:
        chosen = DEFAULT_VERSION
    if chosen is not None:
        return chosen
    asked = ", ".join(versioned) or f"the default version {DEFAULT_VERSION}"
    wanted = " or ".join(media_type(v) for v in operation.versions)
    detail = f"{asked} is not supported by {request.method} {request.path}; use {wanted}"
    raise problems.ApiProblemError(406, problems.UNSUPPORTED_VERSION, detail)


def _check_content_type(request: wire.Request, wanted: str) -> None:
    given = request.header("content-type")
    if given is None or _base(given) != wanted:
        detail = f"Content-Type {given!r} is not supported here; send {wanted}"
        raise problems.ApiProblemError(415, problems.UNSUPPORTED_MEDIA_TYPE, detail)


def _injected(fault: faults.Fault) -> wire.Response | None:
    if fault.drop:
        return wire.Response(drop=True, delay_s=fault.delay_s)
    if fault.status is None:
        return None
    retry_after = fault.retry_after_s or (1 if fault.status == 429 else None)
    headers = (("Retry-After", str(retry_after)),) if retry_after else ()
    detail = "injected by the emulator's fault plan"
    problem = problems.ApiProblemError(fault.status, problems.default_code(fault.status), detail)
    return dataclasses.replace(wire.problem_response(problem, headers), delay_s=fault.delay_s)


def _rate_limit(hub: wire.Hub) -> tuple[tuple[str, str], ...]:
    if hub.limiter is None:
        return ()
    allowed, remaining, retry_after_s = hub.limiter.take()
    headers = (
        ("RateLimit-Limit", str(hub.limiter.capacity)),
        ("RateLimit-Remaining", str(remaining)),
    )
    if not allowed:
        raise problems.ApiProblemError(
            429,
            problems.RATE_LIMITED,
            "too many requests; the token bucket is empty",
            headers=(*headers, ("Retry-After", str(retry_after_s))),
        )
    return headers


def handle_api(hub: wire.Hub, request: wire.Request) -> tuple[wire.Response, str | None]:
    """Answer one /api/atlas/v2 request; also say which auth scheme it used."""
    scheme: str | None = None
    limit_headers: tuple[tuple[str, str], ...] = ()
    try:
        scheme = hub.auth.check(request.method, request.target, request.header("authorization"))
        limit_headers = _rate_limit(hub)
        fault = hub.faults.next_fault()
        injected = _injected(fault)
        if injected is not None:
            return injected, scheme
        operation, args = _route(request)
        version = _negotiate(request, operation)
        served = media_type(version)
        request = dataclasses.replace(request, version=version)
        if operation.body is not None:
            _check_content_type(request, served)
            bodies.check(operation.body, version, wire.json_body(request))
        document = operation.handler(hub, args, request)
    except problems.ApiProblemError as problem:
        return wire.problem_response(problem, limit_headers), scheme
    response = wire.json_response(200, document, served, limit_headers)
    return dataclasses.replace(response, delay_s=fault.delay_s), scheme


def _issue_token(hub: wire.Hub, request: wire.Request) -> dict[str, object]:
    if request.method != "POST":
        detail = f"{request.method} is not allowed on {TOKEN_PATH}"
        raise problems.ApiProblemError(405, problems.METHOD_NOT_ALLOWED, detail)
    _check_content_type(request, FORM)
    form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
    if form.get("grant_type") != ["client_credentials"]:
        raise problems.invalid("grant_type must be client_credentials", "grant_type")
    return hub.auth.issue_token(request.header("authorization"))


def handle_token(hub: wire.Hub, request: wire.Request) -> wire.Response:
    """POST /api/oauth/token: client credentials for a bearer token."""
    try:
        document = _issue_token(hub, request)
    except problems.ApiProblemError as problem:
        return wire.problem_response(problem)
    return wire.json_response(200, document, "application/json")
