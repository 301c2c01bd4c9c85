"""The emulator's own control surface under /_emulator/ (no auth; not part of Atlas).

Owns seeding and dumping state, out-of-band mutation (drift that bypasses Atlas's rules), the
request log, fault and rate-limit settings, and runtime settings. It runs under the hub's lock
and never logs its own requests.
"""

from __future__ import annotations

import re
import urllib.parse

from gitopsd.emulator import faults, problems, wire

PREFIX = "/_emulator"
_CLUSTER = re.compile(r"/clusters/([^/]+)/([^/]+)")
_SCHEDULE = re.compile(r"/schedules/([^/]+)/([^/]+)")


def _positive_number(document: dict[str, object], key: str) -> float | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise problems.invalid(f"{key} must be a number >= 0", key)
    return float(value)


def set_faults(hub: wire.Hub, document: dict[str, object]) -> None:
    """Replace the fault plan and the rate limiter from a /_emulator/faults document."""
    limit = document.get("rate_limit")
    bucket: faults.TokenBucket | None = None
    if limit is not None:
        if not isinstance(limit, dict):
            raise problems.invalid("rate_limit must be an object or null", "rate_limit")
        capacity, refill = limit.get("capacity"), limit.get("refill_per_s")
        if (
            isinstance(capacity, bool)
            or not isinstance(capacity, int)
            or capacity < 1
            or isinstance(refill, bool)
            or not isinstance(refill, int | float)
            or refill <= 0
        ):
            raise problems.invalid("rate_limit needs capacity >= 1 and refill_per_s > 0")
        bucket = faults.TokenBucket(capacity=capacity, refill_per_s=float(refill), clock=hub.clock)
    hub.faults.configure({k: v for k, v in document.items() if k != "rate_limit"})
    hub.limiter = bucket


def _faults_json(hub: wire.Hub) -> dict[str, object]:
    limit = hub.limiter.as_json() if hub.limiter is not None else None
    return {**hub.faults.as_json(), "rate_limit": limit}


def _settings_json(hub: wire.Hub) -> dict[str, object]:
    return {
        "updating_s": hub.world.updating_s,
        "token_lifetime_s": hub.auth.token_lifetime_s,
        "credentials": hub.auth.credentials.as_json(),
    }


def _dispatch(hub: wire.Hub, request: wire.Request) -> object:
    rest, method = request.path.removeprefix(PREFIX), request.method
    if rest == "/state" and method == "GET":
        return hub.world.dump()
    if rest == "/state" and method == "PUT":
        hub.world.load(wire.json_body(request))
        return hub.world.dump()
    if rest == "/requests" and method == "GET":
        return {"requests": list(hub.log)}
    if rest == "/requests" and method == "DELETE":
        hub.log.clear()
        return {"requests": []}
    if rest == "/faults" and method == "GET":
        return _faults_json(hub)
    if rest == "/faults" and method == "PUT":
        set_faults(hub, wire.json_body(request))
        return _faults_json(hub)
    if rest == "/settings" and method == "GET":
        return _settings_json(hub)
    if rest == "/settings" and method == "PATCH":
        document = wire.json_body(request)
        updating_s = _positive_number(document, "updating_s")
        lifetime_s = _positive_number(document, "token_lifetime_s")
        if updating_s is not None:
            hub.world.updating_s = updating_s
        if lifetime_s is not None:
            hub.auth.token_lifetime_s = lifetime_s
        return _settings_json(hub)
    if (match := _CLUSTER.fullmatch(rest)) and method == "PATCH":
        project_id, name = (urllib.parse.unquote(g) for g in match.groups())
        if (project_id, name) not in hub.world.clusters:
            raise problems.ApiProblemError(404, problems.CLUSTER_NOT_FOUND, f"no cluster {name}")
        changes = {**wire.json_body(request), "projectId": project_id, "name": name}
        cluster = hub.world.put_cluster(changes)
        return hub.world.cluster_view(cluster, hub.base_url)
    if (match := _SCHEDULE.fullmatch(rest)) and method == "PATCH":
        project_id, name = (urllib.parse.unquote(g) for g in match.groups())
        if (project_id, name) not in hub.world.clusters:
            raise problems.ApiProblemError(404, problems.CLUSTER_NOT_FOUND, f"no cluster {name}")
        schedule = hub.world.put_schedule(project_id, name, wire.json_body(request))
        return {"projectId": project_id, "clusterName": name, **schedule}
    raise problems.ApiProblemError(
        404, problems.RESOURCE_NOT_FOUND, f"no admin endpoint {method} {request.path}"
    )


def handle(hub: wire.Hub, request: wire.Request) -> wire.Response:
    """Answer one /_emulator/ request."""
    try:
        return wire.json_response(200, _dispatch(hub, request))
    except problems.ApiProblemError as problem:
        return wire.problem_response(problem)
