"""The emulator serves every media-type version the spec lists for the operations it models."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support import openapi

from gitopsd.emulator import Emulator

pytestmark = pytest.mark.reference

PROJECT = "32b6e34b3d91647abb20e7b8"
ZONE = "5f0c1a2b3c4d5e6f7a8b9c0e"
SPEC = "5f0c1a2b3c4d5e6f7a8b9c0f"
POLICY = "5f0c1a2b3c4d5e6f7a8b9c0a"
ITEM = {"frequencyType": "daily", "frequencyInterval": 1, "retentionUnit": "days"}
STATE = {
    "projects": [{"id": PROJECT, "name": "prod"}],
    "clusters": [
        {
            "projectId": PROJECT,
            "name": "orders",
            "backupEnabled": True,
            "zoneId": ZONE,
            "replicationSpecId": SPEC,
        }
    ],
    "schedules": [
        {
            "projectId": PROJECT,
            "clusterName": "orders",
            "policies": [{"id": POLICY, "policyItems": [{**ITEM, "retentionValue": 7}]}],
        }
    ],
}
SCHEDULE = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders/backup/schedule"
CLUSTER = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A digest-auth client of a fresh emulator; every API answer is checked against the spec."""
    with Emulator(STATE) as atlas, openapi.checked_client(atlas) as http:
        yield http


def media(version: str) -> str:
    """The versioned Atlas media type."""
    return f"application/vnd.atlas.{version}+json"


def headers(version: str) -> dict[str, str]:
    """Accept and Content-Type for one version."""
    return {"Accept": media(version), "Content-Type": media(version)}


def copy_setting(**where: str) -> dict[str, object]:
    """A copy setting to US_WEST_2 with daily copies, placed by ``where``."""
    return {"cloudProvider": "AWS", "regionName": "US_WEST_2", "frequencies": ["DAILY"], **where}


def schedule(*settings: dict[str, object]) -> dict[str, object]:
    """A schedule PATCH body with one daily item and the given copy settings."""
    policy = {"id": POLICY, "policyItems": [{**ITEM, "retentionValue": 7}]}
    return {"policies": [policy], "copySettings": list(settings)}


def test_schedule_get_is_served_in_2023_01_01(client):
    """GET schedule in 2023-01-01 answers in that media type."""
    response = client.get(SCHEDULE, headers={"Accept": media("2023-01-01")})
    assert (response.status_code, response.headers["content-type"]) == (200, media("2023-01-01"))


def test_schedule_get_defaults_to_2023_01_01(client):
    """A schedule GET naming no version gets Atlas's default, 2023-01-01."""
    response = client.get(SCHEDULE, headers={"Accept": "application/json"})
    assert response.headers["content-type"] == media("2023-01-01")


def test_schedule_patch_is_served_in_2023_01_01(client):
    """A 2023-01-01 schedule PATCH names copies by replication spec and reads back the same."""
    body = schedule(copy_setting(replicationSpecId=SPEC))
    response = client.patch(SCHEDULE, headers=headers("2023-01-01"), json=body)
    assert response.json()["copySettings"] == [copy_setting(replicationSpecId=SPEC)]


def test_schedule_patch_in_2023_01_01_is_read_in_2024_08_05_by_zone(client):
    """A copy setting written in 2023-01-01 reads back in 2024-08-05 with the cluster's zoneId."""
    body = schedule(copy_setting(replicationSpecId=SPEC))
    client.patch(SCHEDULE, headers=headers("2023-01-01"), json=body)
    response = client.get(SCHEDULE, headers={"Accept": media("2024-08-05")})
    assert response.json()["copySettings"] == [copy_setting(zoneId=ZONE)]


def test_schedule_patch_in_2023_01_01_refuses_a_zone_id(client):
    """zoneId is not a field of a 2023-01-01 copy setting."""
    body = schedule(copy_setting(zoneId=ZONE))
    response = client.patch(SCHEDULE, headers=headers("2023-01-01"), json=body)
    assert (response.status_code, response.json()["errorCode"]) == (400, "INVALID_ATTRIBUTE")


def test_schedule_is_served_in_2024_08_05(client):
    """GET schedule in 2024-08-05 answers in that media type."""
    response = client.get(SCHEDULE, headers={"Accept": media("2024-08-05")})
    assert (response.status_code, response.headers["content-type"]) == (200, media("2024-08-05"))


@pytest.mark.parametrize("version", ["2024-08-05", "2024-10-23"])
def test_cluster_patch_is_served_in(client, version):
    """A cluster PATCH is served in each ClusterDescription20240805 version."""
    response = client.patch(CLUSTER, headers=headers(version), json={"pitEnabled": True})
    assert (response.headers["content-type"], response.json()["pitEnabled"]) == (
        media(version),
        True,
    )


def test_first_acceptable_version_is_chosen(client):
    """Accept naming an unserved version, then a served one, gets the served one."""
    accept = f"{media('2099-01-01')}, {media('2023-01-01')}"
    response = client.get(SCHEDULE, headers={"Accept": accept})
    assert response.headers["content-type"] == media("2023-01-01")
