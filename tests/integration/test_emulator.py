"""The Atlas emulator over real HTTP: auth, versions, rules, faults and the admin API."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import openapi

from gitopsd.core.model import Retention, RetentionUnit
from gitopsd.emulator import Emulator

ORG = "5f0c1a2b3c4d5e6f7a8b9c0d"
PROJECT = "32b6e34b3d91647abb20e7b8"
OTHER = "32b6e34b3d91647abb20e7b9"
MISSING = "ffffffffffffffffffffffff"
POLICY = "5f0c1a2b3c4d5e6f7a8b9c0a"
KEYS = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
DEFAULT_ITEMS = [
    ("hourly", 6, "days", 7),
    ("daily", 1, "days", 7),
    ("weekly", 1, "weeks", 4),
    ("monthly", 40, "months", 12),
]
V2023, V2024, V2024_10 = "2023-01-01", "2024-08-05", "2024-10-23"
REPO = Path(__file__).resolve().parents[2]

STATE = {
    "organizations": [{"id": ORG, "name": "acme"}],
    "projects": [
        {"id": PROJECT, "name": "prod", "orgId": ORG},
        {"id": OTHER, "name": "staging", "orgId": ORG},
    ],
    "clusters": [
        {"projectId": PROJECT, "name": "orders", "backupEnabled": True, "instanceSize": "M30"},
        {"projectId": PROJECT, "name": "fresh", "instanceSize": "M10"},
        {"projectId": PROJECT, "name": "sleepy", "backupEnabled": True, "paused": True},
        {"projectId": PROJECT, "name": "free", "instanceSize": "M0"},
        {"projectId": PROJECT, "name": "flexy", "instanceSize": "FLEX"},
    ],
    "schedules": [
        {
            "projectId": PROJECT,
            "clusterName": "orders",
            "policies": [
                {
                    "id": POLICY,
                    "policyItems": [dict(zip(KEYS, item, strict=True)) for item in DEFAULT_ITEMS],
                }
            ],
        }
    ],
}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """The current fake time in seconds."""
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for token expiry, UPDATING time and the token bucket."""
    return FakeClock()


@pytest.fixture
def atlas(clock: FakeClock) -> Iterator[Emulator]:
    """An emulator seeded with STATE on a free loopback port."""
    with Emulator(STATE, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def client(atlas: Emulator) -> Iterator[httpx.Client]:
    """A digest-auth client whose every API response is checked against the official schema."""
    with openapi.checked_client(atlas) as http:
        yield http


def accept(version: str, *, body: bool = False) -> dict[str, str]:
    """Accept (and Content-Type) headers for one API version."""
    media = f"application/vnd.atlas.{version}+json"
    return {"Accept": media, "Content-Type": media} if body else {"Accept": media}


def schedule_path(cluster: str = "orders") -> str:
    """The backup schedule path of a cluster in PROJECT."""
    return f"/api/atlas/v2/groups/{PROJECT}/clusters/{cluster}/backup/schedule"


def items(*specs: tuple[str, int, str, int]) -> dict[str, object]:
    """A schedule body for orders' policy, made of (type, interval, unit, value) items."""
    policy = {"id": POLICY, "policyItems": [dict(zip(KEYS, s, strict=True)) for s in specs]}
    return {"policies": [policy]}


def patch_schedule(client: httpx.Client, body: object, cluster: str = "orders") -> httpx.Response:
    """PATCH a cluster's backup schedule with the right media type."""
    return client.patch(schedule_path(cluster), headers=accept(V2024, body=True), json=body)


def token(atlas: Emulator) -> str:
    """A fresh bearer token from the emulator's token endpoint."""
    creds = atlas.credentials
    response = httpx.post(
        f"{atlas.url}/api/oauth/token",
        auth=(creds.client_id, creds.client_secret),
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 200
    return str(response.json()["access_token"])


def test_digest_auth_reads_a_project(client):
    """An API key over HTTP Digest reads a project by name."""
    response = client.get("/api/atlas/v2/groups/byName/prod", headers=accept(V2023))
    assert response.status_code == 200
    assert response.json()["id"] == PROJECT
    assert response.headers["content-type"] == "application/vnd.atlas.2023-01-01+json"


def test_bearer_token_reads_a_cluster(atlas):
    """A service-account token from /api/oauth/token authorizes API calls."""
    response = httpx.get(
        f"{atlas.url}/api/atlas/v2/groups/{PROJECT}/clusters/orders",
        headers={"Authorization": f"Bearer {token(atlas)}", **accept(V2024)},
    )
    openapi.check_emulator_response(response)
    assert response.status_code == 200
    assert response.json()["replicationSpecs"][0]["regionConfigs"][0]["providerName"] == "AWS"


def test_wrong_digest_key_is_rejected(atlas):
    """A wrong private key gets 401 with an ApiError body."""
    auth = httpx.DigestAuth(atlas.credentials.public_key, "wrong")
    response = httpx.get(f"{atlas.url}/api/atlas/v2/groups/{PROJECT}", auth=auth)
    openapi.check_emulator_response(response)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "UNAUTHORIZED"


def test_wrong_client_secret_gets_no_token(atlas):
    """The token endpoint refuses a wrong client secret."""
    response = httpx.post(
        f"{atlas.url}/api/oauth/token",
        auth=(atlas.credentials.client_id, "nope"),
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 401


def test_expired_token_is_rejected(atlas, clock):
    """A bearer token stops working once its lifetime has passed."""
    bearer = {"Authorization": f"Bearer {token(atlas)}", **accept(V2023)}
    clock.now += 3600
    response = httpx.get(f"{atlas.url}/api/atlas/v2/groups/{PROJECT}", headers=bearer)
    openapi.check_emulator_response(response)
    assert (response.status_code, response.json()["errorCode"]) == (401, "TOKEN_EXPIRED")


def test_unknown_version_is_406(client):
    """An Accept header naming a version the operation lacks gets 406."""
    response = client.get(f"/api/atlas/v2/groups/{PROJECT}/clusters", headers=accept(V2023))
    assert response.status_code == 406


def test_wrong_content_type_is_415(client):
    """A PATCH body sent as plain JSON gets 415."""
    headers = {**accept(V2024), "Content-Type": "application/json"}
    response = client.patch(schedule_path(), headers=headers, json=items())
    assert response.status_code == 415


def test_cluster_list_paginates(client):
    """Pages follow pageNum/itemsPerPage, with totalCount and a next link."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters"
    response = client.get(path, params={"itemsPerPage": 2, "pageNum": 2}, headers=accept(V2024))
    body = response.json()
    assert [c["name"] for c in body["results"]] == ["fresh", "orders"]
    assert body["totalCount"] == 5
    assert {link["rel"] for link in body["links"]} == {"previous", "self", "next"}


def test_items_per_page_over_500_is_400(client):
    """itemsPerPage above the documented maximum of 500 is refused."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters"
    response = client.get(path, params={"itemsPerPage": 501}, headers=accept(V2024))
    assert (response.status_code, response.json()["errorCode"]) == (400, "INVALID_QUERY_PARAMETER")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/api/atlas/v2/groups/{MISSING}", "GROUP_NOT_FOUND"),
        ("/api/atlas/v2/groups/byName/nope", "GROUP_NAME_NOT_FOUND"),
        (f"/api/atlas/v2/groups/{PROJECT}/clusters/nope", "CLUSTER_NOT_FOUND"),
    ],
)
def test_missing_resources_are_404(client, path, code):
    """Unknown projects and clusters get 404 with their Atlas error codes."""
    version = V2024 if "clusters" in path else V2023
    response = client.get(path, headers=accept(version))
    assert (response.status_code, response.json()["errorCode"]) == (404, code)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (items(("hourly", 5, "days", 7)), "frequencyInterval"),
        (items(("daily", 1, "days", 0)), "retentionValue"),
        (items(("daily", 1, "days", 14), ("weekly", 1, "days", 7)), "policyItems"),
        ({**items(("daily", 1, "days", 7)), "referenceHourOfDay": 24}, "referenceHourOfDay"),
        ({"policies": [items()["policies"][0]] * 2}, "policies"),
    ],
)
def test_invalid_schedule_is_400(client, body, field):
    """Atlas's schedule rules reject the PATCH with a VALIDATION_ERROR naming the field."""
    response = patch_schedule(client, body)
    assert response.status_code == 400
    error = response.json()
    assert error["errorCode"] == "VALIDATION_ERROR"
    assert field in error["badRequestDetail"]["fields"][0]["field"]


@pytest.mark.parametrize(
    ("often", "rarely", "accepted"),
    [
        (("daily", 1, "days", 31), ("monthly", 1, "months", 1), True),
        (("daily", 1, "days", 32), ("monthly", 1, "months", 1), False),
        (("weekly", 1, "weeks", 5), ("monthly", 1, "months", 1), False),
        (("monthly", 1, "months", 12), ("yearly", 1, "years", 1), True),
        (("monthly", 1, "months", 13), ("yearly", 1, "years", 1), False),
        (("daily", 1, "days", 366), ("yearly", 1, "years", 1), True),
        (("daily", 1, "days", 367), ("yearly", 1, "years", 1), False),
        (("monthly", 1, "months", 12), ("yearly", 1, "days", 365), True),
        (("monthly", 1, "months", 13), ("yearly", 1, "days", 392), False),
        (("weekly", 1, "days", 14), ("monthly", 1, "weeks", 2), True),
    ],
)
def test_retention_order_matches_gitopsd_calendar_rule(client, often, rarely, accepted):
    """The emulator and gitopsd's validation agree where months and days meet."""
    response = patch_schedule(client, items(often, rarely))
    assert response.status_code == (200 if accepted else 400), response.text
    keep_rarely = Retention(value=rarely[3], unit=RetentionUnit(rarely[2]))
    keep_often = Retention(value=often[3], unit=RetentionUnit(often[2]))
    assert keep_rarely.at_least(keep_often) is accepted


def test_ids_assigned_and_kept_for_unchanged_items(client):
    """New items get ids; unchanged items keep theirs; the policy id survives."""
    before = client.get(schedule_path(), headers=accept(V2024)).json()
    old = {i["frequencyType"]: i["id"] for i in before["policies"][0]["policyItems"]}
    body = items(("hourly", 6, "days", 7), ("daily", 1, "days", 14), ("yearly", 1, "years", 1))
    after = patch_schedule(client, body).json()
    new = {i["frequencyType"]: i["id"] for i in after["policies"][0]["policyItems"]}
    assert new["hourly"] == old["hourly"]
    assert new["daily"] != old["daily"]
    assert len(new["yearly"]) == 24
    assert after["policies"][0]["id"] == before["policies"][0]["id"]


def test_write_only_flags_are_not_echoed(client):
    """updateSnapshots is accepted and not echoed in the answer."""
    after = patch_schedule(client, {**items(("daily", 1, "days", 7)), "updateSnapshots": True})
    assert (after.status_code, "updateSnapshots" in after.json()) == (200, False)


def test_first_backup_enable_creates_default_schedule(client):
    """Enabling backup creates hourly 6h/7d, daily 7d, weekly 4w, monthly 40/12m."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/fresh"
    patched = client.patch(path, headers=accept(V2024_10, body=True), json={"backupEnabled": True})
    assert patched.json()["backupEnabled"] is True
    schedule = client.get(schedule_path("fresh"), headers=accept(V2024)).json()
    got = [
        (i["frequencyType"], i["frequencyInterval"], i["retentionUnit"], i["retentionValue"])
        for i in schedule["policies"][0]["policyItems"]
    ]
    assert got == DEFAULT_ITEMS


def test_cluster_is_updating_after_patch_until_time_passes(atlas, client, clock):
    """A cluster PATCH leaves the cluster UPDATING for updating_s, refusing schedule writes."""
    atlas.hub.world.updating_s = 30
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders"
    patched = client.patch(path, headers=accept(V2024_10, body=True), json={"pitEnabled": True})
    assert patched.json()["stateName"] == "UPDATING"
    refused = patch_schedule(client, items(("daily", 1, "days", 7)))
    assert refused.json()["errorCode"] == "CLUSTER_NOT_IDLE"
    clock.now += 30
    assert client.get(path, headers=accept(V2024)).json()["stateName"] == "IDLE"


def test_paused_cluster_refuses_patch_with_409(client):
    """Patching a paused cluster is a 409 CANNOT_UPDATE_PAUSED_CLUSTER."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/sleepy"
    response = client.patch(path, headers=accept(V2024_10, body=True), json={"pitEnabled": True})
    assert (response.status_code, response.json()["errorCode"]) == (
        409,
        "CANNOT_UPDATE_PAUSED_CLUSTER",
    )


def test_unpausing_a_paused_cluster_is_allowed(client):
    """The PATCH that unpauses is the one change a paused cluster accepts."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/sleepy"
    response = client.patch(path, headers=accept(V2024_10, body=True), json={"paused": False})
    assert (response.status_code, response.json()["paused"]) == (200, False)


@pytest.mark.parametrize(
    ("cluster", "code"),
    [("free", "TENANT_CLUSTER_BACKUP_UNSUPPORTED"), ("flexy", "FLEX_CLUSTER_BACKUP_UNSUPPORTED")],
)
def test_shared_and_flex_tiers_refuse_backup(client, cluster, code):
    """M0/M2/M5 and flex clusters refuse backupEnabled with a 400 naming the tier."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/{cluster}"
    response = client.patch(path, headers=accept(V2024_10, body=True), json={"backupEnabled": True})
    assert (response.status_code, response.json()["errorCode"]) == (400, code)


def test_rate_limit_answers_429_with_retry_after(atlas, client, clock):
    """An empty token bucket answers 429 RATE_LIMITED with Retry-After and RateLimit headers."""
    faults = {"rate_limit": {"capacity": 2, "refill_per_s": 0.5}}
    assert httpx.put(f"{atlas.url}/_emulator/faults", json=faults).status_code == 200
    path = f"/api/atlas/v2/groups/{PROJECT}"
    first = client.get(path, headers=accept(V2023))
    client.get(path, headers=accept(V2023))
    limited = client.get(path, headers=accept(V2023))
    assert first.headers["RateLimit-Limit"] == "2"
    assert (limited.status_code, limited.json()["errorCode"]) == (429, "RATE_LIMITED")
    assert limited.headers["Retry-After"] == "2"
    clock.now += 2
    assert client.get(path, headers=accept(V2023)).status_code == 200


def test_scripted_faults_answer_in_order(atlas, client):
    """A fault script answers the next requests with exactly the statuses given."""
    script = {"script": ["429:7", "500", "410"]}
    httpx.put(f"{atlas.url}/_emulator/faults", json=script)
    path = f"/api/atlas/v2/groups/{PROJECT}"
    answers = [client.get(path, headers=accept(V2023)) for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 500, 410, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[2].json()["errorCode"] == "VERSION_GONE"


def test_dropped_connection_sends_no_answer(atlas, client):
    """A scripted drop closes the connection without a response."""
    httpx.put(f"{atlas.url}/_emulator/faults", json={"script": ["drop"]})
    with pytest.raises(httpx.TransportError):
        client.get(f"/api/atlas/v2/groups/{PROJECT}", headers=accept(V2023))


def test_error_rate_is_reproducible_for_a_seed(atlas, client):
    """The same seed and error rate fail the same requests."""

    def statuses() -> list[int]:
        httpx.put(f"{atlas.url}/_emulator/faults", json={"error_rate": 0.5, "seed": 7})
        path = f"/api/atlas/v2/groups/{PROJECT}"
        return [client.get(path, headers=accept(V2023)).status_code for _ in range(8)]

    first = statuses()
    assert first == statuses()
    assert 200 in first
    assert set(first) - {200}
    assert set(first) - {200} <= {500, 503}


def test_admin_seed_and_dump_round_trip(atlas):
    """PUT /_emulator/state seeds the world and GET returns it with ids filled in."""
    seeded = {
        "projects": [{"id": PROJECT, "name": "solo"}],
        "clusters": [{"projectId": PROJECT, "name": "one", "backupEnabled": True}],
    }
    assert httpx.put(f"{atlas.url}/_emulator/state", json=seeded).status_code == 200
    dumped = httpx.get(f"{atlas.url}/_emulator/state").json()
    assert [c["name"] for c in dumped["clusters"]] == ["one"]
    assert dumped["schedules"][0]["clusterName"] == "one"
    assert len(dumped["organizations"]) == 1


def test_admin_drift_bypasses_validation(atlas, client):
    """PATCH /_emulator/schedules changes a schedule out of band, even against the rules."""
    drift = items(("daily", 1, "days", 30), ("weekly", 1, "days", 1))
    url = f"{atlas.url}/_emulator/schedules/{PROJECT}/orders"
    assert httpx.patch(url, json=drift).status_code == 200
    schedule = client.get(schedule_path(), headers=accept(V2024)).json()
    assert [i["retentionValue"] for i in schedule["policies"][0]["policyItems"]] == [30, 1]


def test_admin_cluster_mutation_changes_state(atlas, client):
    """PATCH /_emulator/clusters sets fields such as stateName directly."""
    url = f"{atlas.url}/_emulator/clusters/{PROJECT}/orders"
    httpx.patch(url, json={"stateName": "REPAIRING", "pitEnabled": True})
    cluster = client.get(f"/api/atlas/v2/groups/{PROJECT}/clusters/orders", headers=accept(V2024))
    assert (cluster.json()["stateName"], cluster.json()["pitEnabled"]) == ("REPAIRING", True)


def test_request_log_records_and_clears(atlas, client):
    """The request log lists method, path, status and media type, and DELETE clears it."""
    client.get(f"/api/atlas/v2/groups/{PROJECT}", headers=accept(V2023))
    log = httpx.get(f"{atlas.url}/_emulator/requests").json()["requests"]
    assert (log[-1]["method"], log[-1]["status"], log[-1]["auth"]) == ("GET", 200, "digest")
    assert log[-1]["mediaType"] == "application/vnd.atlas.2023-01-01+json"
    httpx.delete(f"{atlas.url}/_emulator/requests")
    assert httpx.get(f"{atlas.url}/_emulator/requests").json()["requests"] == []


def test_cli_serves_and_exits_zero_on_sigterm(tmp_path):
    """`gitopsd emulator` prints its URL, answers, and exits 0 on SIGTERM."""
    state = tmp_path / "state.json"
    state.write_text(json.dumps(STATE), encoding="utf-8")
    command = [sys.executable, "-m", "gitopsd", "emulator", "--listen", "127.0.0.1:0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        [*command, "--state", str(state)], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    ) as process:
        stdout = process.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: [lines.put(line) for line in stdout])
        reader.start()
        try:
            first = lines.get(timeout=20)
            url = first.rsplit(" ", 1)[-1].strip()
            dumped = httpx.get(f"{url}/_emulator/state").json()
            assert dumped["projects"][0]["name"] == "prod"
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=20)
            reader.join(timeout=5)
    assert code == 0
