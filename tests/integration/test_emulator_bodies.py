"""The emulator refuses bodies that break the spec's schema, as Atlas does (400 ApiError)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support import openapi

from gitopsd.emulator import Emulator

pytestmark = pytest.mark.reference

PROJECT = "32b6e34b3d91647abb20e7b8"
ZONE = "5f0c1a2b3c4d5e6f7a8b9c0e"
POLICY = "5f0c1a2b3c4d5e6f7a8b9c0a"
DAILY = {"frequencyType": "daily", "frequencyInterval": 1, "retentionUnit": "days"}
STATE = {
    "projects": [{"id": PROJECT, "name": "prod"}],
    "clusters": [{"projectId": PROJECT, "name": "orders", "backupEnabled": True, "zoneId": ZONE}],
    "schedules": [
        {
            "projectId": PROJECT,
            "clusterName": "orders",
            "policies": [{"id": POLICY, "policyItems": [{**DAILY, "retentionValue": 7}]}],
        }
    ],
}
SCHEDULE = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders/backup/schedule"
CLUSTER = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders"
SCHEDULE_MEDIA = "application/vnd.atlas.2024-08-05+json"
CLUSTER_MEDIA = "application/vnd.atlas.2024-10-23+json"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A digest-auth client of a fresh emulator; every API answer is checked against the spec."""
    with Emulator(STATE) as atlas, openapi.checked_client(atlas) as http:
        yield http


def schedule(**changes: object) -> dict[str, object]:
    """A valid schedule PATCH body (one daily item), with ``changes`` applied."""
    policy = {"id": POLICY, "policyItems": [{**DAILY, "retentionValue": 7}]}
    return {"policies": [policy], **changes}


def copy_setting(**changes: object) -> dict[str, object]:
    """A valid 2024-08-05 copy setting, with ``changes`` applied (None removes a key)."""
    setting = {"cloudProvider": "AWS", "regionName": "US_WEST_2", "zoneId": ZONE}
    setting |= changes
    return {k: v for k, v in setting.items() if v is not None}


def patch_schedule(client: httpx.Client, body: object) -> httpx.Response:
    """PATCH the schedule of orders with the 2024-08-05 media type."""
    headers = {"Accept": SCHEDULE_MEDIA, "Content-Type": SCHEDULE_MEDIA}
    return client.patch(SCHEDULE, headers=headers, json=body)


def patch_cluster(client: httpx.Client, body: object) -> httpx.Response:
    """PATCH the cluster orders with the 2024-10-23 media type."""
    return client.patch(
        CLUSTER, headers={"Accept": CLUSTER_MEDIA, "Content-Type": CLUSTER_MEDIA}, json=body
    )


def test_copy_setting_without_zone_id_is_refused(client):
    """A 2024-08-05 copy setting must name its zoneId."""
    response = patch_schedule(client, schedule(copySettings=[copy_setting(zoneId=None)]))
    assert openapi.refusal(response) == (400, "MISSING_ATTRIBUTE", "copySettings[0].zoneId")


def test_number_above_maximum_is_refused(client):
    """lastNumberOfSnapshots 501 is above the spec's maximum of 500."""
    body = schedule(copySettings=[copy_setting(lastNumberOfSnapshots=501)])
    response = patch_schedule(client, body)
    assert openapi.refusal(response) == (
        400,
        "VALIDATION_ERROR",
        "copySettings[0].lastNumberOfSnapshots",
    )


def test_array_above_max_items_is_refused(client):
    """Seven copy frequencies are more than the spec's six."""
    frequencies = ["HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND", "DAILY"]
    body = schedule(copySettings=[copy_setting(frequencies=frequencies)])
    response = patch_schedule(client, body)
    assert openapi.refusal(response) == (400, "VALIDATION_ERROR", "copySettings[0].frequencies")


def test_value_of_the_wrong_type_is_refused(client):
    """deleteCopiedBackups must be an array, not a boolean."""
    response = patch_schedule(client, schedule(deleteCopiedBackups=True))
    assert openapi.refusal(response) == (400, "INVALID_JSON_ATTRIBUTE", "deleteCopiedBackups")


def test_value_outside_the_enum_is_refused(client):
    """cloudProvider MARS is not one of AWS, AZURE, GCP."""
    response = patch_schedule(client, schedule(copySettings=[copy_setting(cloudProvider="MARS")]))
    assert openapi.refusal(response) == (400, "INVALID_ENUM_VALUE", "copySettings[0].cloudProvider")


def test_read_only_field_sent_is_refused(client):
    """clusterId is read-only in a schedule PATCH."""
    response = patch_schedule(client, schedule(clusterId=PROJECT))
    assert openapi.refusal(response) == (400, "ATTRIBUTE_READ_ONLY", "clusterId")


def test_unknown_field_is_refused(client):
    """A field the schema does not declare is refused."""
    response = patch_schedule(client, schedule(retentionDays=7))
    assert openapi.refusal(response) == (400, "INVALID_ATTRIBUTE", "retentionDays")


def test_missing_required_field_is_refused(client):
    """policies is required in a schedule PATCH."""
    response = patch_schedule(client, {"referenceHourOfDay": 3})
    assert openapi.refusal(response) == (400, "MISSING_ATTRIBUTE", "policies")


def test_discriminator_outside_its_mapping_is_refused(client):
    """A copy policy item's frequencyType picks its schema; fortnightly picks none."""
    item = {"frequencyType": "fortnightly", "retentionUnit": "days", "retentionValue": 7}
    body = schedule(copySettings=[copy_setting(copyPolicyItems=[item])])
    response = patch_schedule(client, body)
    field = "copySettings[0].copyPolicyItems[0].frequencyType"
    assert openapi.refusal(response) == (400, "INVALID_ENUM_VALUE", field)


def test_policy_item_id_is_accepted_though_read_only(client):
    """A policy item may carry its id (Atlas matches items by it), though read-only."""
    held = client.get(SCHEDULE, headers={"Accept": SCHEDULE_MEDIA}).json()
    item = held["policies"][0]["policyItems"][0]
    response = patch_schedule(client, {"policies": [{"id": POLICY, "policyItems": [item]}]})
    assert response.json()["policies"][0]["policyItems"] == [item]


def test_cluster_patch_read_only_field_is_refused(client):
    """stateName is read-only in a cluster PATCH."""
    response = patch_cluster(client, {"backupEnabled": True, "stateName": "IDLE"})
    assert openapi.refusal(response) == (400, "ATTRIBUTE_READ_ONLY", "stateName")


def test_cluster_patch_value_of_the_wrong_type_is_refused(client):
    """backupEnabled must be a boolean."""
    response = patch_cluster(client, {"backupEnabled": "yes"})
    assert openapi.refusal(response) == (400, "INVALID_JSON_ATTRIBUTE", "backupEnabled")


def test_cluster_patch_unknown_field_is_refused(client):
    """A field ClusterDescription20240805 does not declare is refused."""
    response = patch_cluster(client, {"backupEnable": True})
    assert openapi.refusal(response) == (400, "INVALID_ATTRIBUTE", "backupEnable")


def test_cluster_patch_region_provider_outside_its_mapping_is_refused(client):
    """A region config's providerName picks its schema; MARS picks none."""
    region = {"providerName": "MARS", "regionName": "US_EAST_1", "priority": 7}
    body = {"replicationSpecs": [{"regionConfigs": [region]}]}
    response = patch_cluster(client, body)
    field = "replicationSpecs[0].regionConfigs[0].providerName"
    assert openapi.refusal(response) == (400, "INVALID_ENUM_VALUE", field)
