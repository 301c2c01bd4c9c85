"""The emulator refuses bodies that pass the schema but break Atlas's rules (400 ApiError)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support import openapi

from gitopsd.emulator import Emulator

pytestmark = pytest.mark.reference

PROJECT = "32b6e34b3d91647abb20e7b8"
ZONE = "5f0c1a2b3c4d5e6f7a8b9c0e"
OTHER_ZONE = "5f0c1a2b3c4d5e6f7a8b9c0d"
POLICY = "5f0c1a2b3c4d5e6f7a8b9c0a"
OTHER_POLICY = "5f0c1a2b3c4d5e6f7a8b9c0b"
BUCKET = "6553f0a1c2b3d4e5f6a7b8c9"
OTHER_PROJECT = "32b6e34b3d91647abb20e7b9"
OTHER_BUCKET = "6553f0a1c2b3d4e5f6a7b8ca"
DAILY = {"frequencyType": "daily", "frequencyInterval": 1, "retentionUnit": "days"}
STATE = {
    "projects": [{"id": PROJECT, "name": "prod"}, {"id": OTHER_PROJECT, "name": "staging"}],
    "clusters": [
        {"projectId": PROJECT, "name": "orders", "backupEnabled": True, "zoneId": ZONE},
        {"projectId": PROJECT, "name": "fresh"},
    ],
    "exportBuckets": [
        {"projectId": PROJECT, "id": BUCKET, "bucketName": "audit-exports"},
        {"projectId": OTHER_PROJECT, "id": OTHER_BUCKET, "bucketName": "staging-exports"},
    ],
    "schedules": [
        {
            "projectId": PROJECT,
            "clusterName": "orders",
            "policies": [{"id": POLICY, "policyItems": [{**DAILY, "retentionValue": 7}]}],
        }
    ],
}
SCHEDULE = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders/backup/schedule"
SCHEDULE_MEDIA = "application/vnd.atlas.2024-08-05+json"
CLUSTER_MEDIA = "application/vnd.atlas.2024-10-23+json"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A digest-auth client of a fresh emulator; every API answer is checked against the spec."""
    with Emulator(STATE) as atlas, openapi.checked_client(atlas) as http:
        yield http


def schedule(policy_id: str | None = POLICY, **changes: object) -> dict[str, object]:
    """A schedule PATCH body (one daily item) naming ``policy_id``, with ``changes`` applied."""
    policy: dict[str, object] = {"policyItems": [{**DAILY, "retentionValue": 7}]}
    if policy_id is not None:
        policy["id"] = policy_id
    return {"policies": [policy], **changes}


def patch_schedule(client: httpx.Client, body: object) -> httpx.Response:
    """PATCH the schedule of orders with the 2024-08-05 media type."""
    headers = {"Accept": SCHEDULE_MEDIA, "Content-Type": SCHEDULE_MEDIA}
    return client.patch(SCHEDULE, headers=headers, json=body)


def patch_cluster(client: httpx.Client, name: str, body: object) -> httpx.Response:
    """PATCH a cluster of PROJECT with the 2024-10-23 media type."""
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/{name}"
    return client.patch(
        path, headers={"Accept": CLUSTER_MEDIA, "Content-Type": CLUSTER_MEDIA}, json=body
    )


def test_schedule_patch_naming_the_policy_is_accepted(client):
    """A schedule PATCH naming the cluster's policy id is applied."""
    response = patch_schedule(client, schedule(referenceHourOfDay=3))
    assert (response.status_code, response.json()["referenceHourOfDay"]) == (200, 3)


def test_schedule_patch_without_policy_id_is_refused(client):
    """policies[0].id must name the cluster's policy; leaving it out is refused."""
    response = patch_schedule(client, schedule(None))
    assert openapi.refusal(response) == (400, "MISSING_ATTRIBUTE", "policies[0].id")


def test_schedule_patch_with_another_policy_id_is_refused(client):
    """A policies[0].id other than the cluster's policy id is refused."""
    response = patch_schedule(client, schedule(OTHER_POLICY))
    assert openapi.refusal(response) == (400, "VALIDATION_ERROR", "policies[0].id")


def copy_setting(zone_id: str) -> dict[str, object]:
    """A 2024-08-05 copy setting to US_WEST_2 in the zone ``zone_id``."""
    return {"cloudProvider": "AWS", "regionName": "US_WEST_2", "zoneId": zone_id}


def test_copy_setting_in_the_cluster_zone_is_accepted(client):
    """A copy setting naming the cluster's zoneId is applied."""
    response = patch_schedule(client, schedule(copySettings=[copy_setting(ZONE)]))
    assert response.json()["copySettings"][0]["zoneId"] == ZONE


def test_copy_setting_in_another_zone_is_refused(client):
    """A copy setting's zoneId must be one of the cluster's zones."""
    response = patch_schedule(client, schedule(copySettings=[copy_setting(OTHER_ZONE)]))
    assert openapi.refusal(response) == (400, "VALIDATION_ERROR", "copySettings[0].zoneId")


def test_auto_export_with_an_export_bucket_is_accepted(client):
    """autoExportEnabled with an export naming its bucket is applied."""
    export = {"exportBucketId": BUCKET, "frequencyType": "monthly"}
    response = patch_schedule(client, schedule(autoExportEnabled=True, export=export))
    assert response.json()["export"]["exportBucketId"] == BUCKET


def test_auto_export_without_an_export_is_refused(client):
    """autoExportEnabled: true needs an export with an exportBucketId."""
    response = patch_schedule(client, schedule(autoExportEnabled=True))
    assert openapi.refusal(response) == (400, "VALIDATION_ERROR", "export.exportBucketId")


def test_pit_with_backup_turned_off_in_the_body_is_refused(client):
    """pitEnabled: true with backupEnabled: false in the same PATCH is refused."""
    response = patch_cluster(client, "orders", {"backupEnabled": False, "pitEnabled": True})
    assert openapi.refusal(response) == (400, "PIT_REQUIRES_CLOUD_BACKUP", "pitEnabled")


def test_pit_on_a_cluster_without_backup_is_refused(client):
    """pitEnabled: true on a cluster that holds backup off is refused."""
    response = patch_cluster(client, "fresh", {"pitEnabled": True})
    assert openapi.refusal(response) == (400, "PIT_REQUIRES_CLOUD_BACKUP", "pitEnabled")


def test_pit_with_backup_turned_on_in_the_body_is_accepted(client):
    """pitEnabled: true with backupEnabled: true in the same PATCH is applied."""
    response = patch_cluster(client, "fresh", {"backupEnabled": True, "pitEnabled": True})
    assert (response.status_code, response.json()["pitEnabled"]) == (200, True)


def test_export_buckets_of_the_project_are_listed(client):
    """GET exportBuckets lists the project's export buckets, not another project's."""
    path = f"/api/atlas/v2/groups/{PROJECT}/backup/exportBuckets"
    response = client.get(path, headers={"Accept": "application/vnd.atlas.2024-05-30+json"})
    buckets = [(b["_id"], b["bucketName"]) for b in response.json()["results"]]
    assert buckets == [(BUCKET, "audit-exports")]


def test_export_buckets_are_listed_in_2023_01_01(client):
    """GET exportBuckets is also served in 2023-01-01 (AWS buckets)."""
    path = f"/api/atlas/v2/groups/{PROJECT}/backup/exportBuckets"
    response = client.get(path, headers={"Accept": "application/vnd.atlas.2023-01-01+json"})
    assert response.json()["results"][0]["cloudProvider"] == "AWS"


def test_export_to_a_bucket_of_another_project_is_refused(client):
    """export.exportBucketId must name an export bucket of the cluster's project."""
    export = {"exportBucketId": OTHER_BUCKET, "frequencyType": "monthly"}
    response = patch_schedule(client, schedule(export=export))
    assert openapi.refusal(response) == (400, "VALIDATION_ERROR", "export.exportBucketId")
