"""Atlas JSON <-> values, PATCH bodies, ApiError mapping and credential loading, without I/O."""

from __future__ import annotations

import json

import pytest

from gitopsd import credentials
from gitopsd.adapters import atlas_wire as wire
from gitopsd.core import observed
from gitopsd.core.document import Span
from gitopsd.core.model import (
    CopySetting,
    DesiredSchedule,
    Export,
    Frequency,
    PolicyItem,
    Retention,
    RetentionUnit,
)
from gitopsd.errors import (
    AtlasConfigError,
    AtlasPermanentError,
    AtlasTransientError,
    ConfigError,
)

SPAN = Span("m.yaml", 1, 1)
ZONE = "65a0c0ffee0000000000zone"
POLICY = "6566a1b2c3d4e5f6a7b8c9e0"


def make_item(frequency: str, interval: int, value: int, unit: str) -> PolicyItem:
    """A desired policy item."""
    return PolicyItem(
        frequency=Frequency(frequency),
        interval=interval,
        retention=Retention(value=value, unit=RetentionUnit(unit)),
        span=SPAN,
    )


def make_desired(**changes: object) -> DesiredSchedule:
    """A desired schedule managing hour and items only, with ``changes`` applied."""
    fields: dict[str, object] = {
        "reference_hour_of_day": 3,
        "reference_minute_of_hour": None,
        "restore_window_days": None,
        "auto_export_enabled": None,
        "export": None,
        "use_org_and_group_names_in_export_prefix": None,
        "update_snapshots": None,
        "copy_settings": (),
        "items": frozenset({make_item("daily", 1, 7, "days"), make_item("weekly", 1, 4, "weeks")}),
    }
    fields.update(changes)
    return DesiredSchedule(**fields)  # type: ignore[arg-type]


def schedule_json(**changes: object) -> dict[str, object]:
    """A schedule as GET .../backup/schedule returns it."""
    body: dict[str, object] = {
        "clusterId": "c1",
        "clusterName": "orders",
        "referenceHourOfDay": 1,
        "referenceMinuteOfHour": 30,
        "restoreWindowDays": 5,
        "autoExportEnabled": False,
        "useOrgAndGroupNamesInExportPrefix": True,
        "export": {"frequencyType": "monthly"},
        "extraRetentionSettings": [{"frequencyType": "DAILY", "retentionDays": 3}],
        "copySettings": [
            {
                "cloudProvider": "AWS",
                "regionName": "US_WEST_2",
                "frequencies": ["DAILY"],
                "shouldCopyOplogs": False,
                "zoneId": ZONE,
                "copyPolicyItems": [{"frequencyType": "daily"}],
            }
        ],
        "policies": [
            {
                "id": POLICY,
                "policyItems": [
                    {
                        "id": "a" * 24,
                        "frequencyType": "weekly",
                        "frequencyInterval": 1,
                        "retentionUnit": "weeks",
                        "retentionValue": 4,
                    },
                    {
                        "id": "b" * 24,
                        "frequencyType": "daily",
                        "frequencyInterval": 1,
                        "retentionUnit": "days",
                        "retentionValue": 7,
                    },
                ],
            }
        ],
        "links": [],
        "nextSnapshot": "2030-01-01T00:00:00Z",
    }
    body.update(changes)
    return body


def test_parse_cluster_reads_backup_fields_zone_and_hardware():
    """A cluster's flags, state, zone id and first region's size and provider are read."""
    data = {
        "name": "orders",
        "groupId": "p1",
        "backupEnabled": True,
        "pitEnabled": False,
        "paused": False,
        "stateName": "IDLE",
        "replicationSpecs": [
            {
                "zoneId": ZONE,
                "regionConfigs": [
                    {"providerName": "AWS", "electableSpecs": {"instanceSize": "M30"}}
                ],
            }
        ],
    }
    cluster = wire.parse_cluster(data)
    assert cluster == observed.ObservedCluster(
        project_id="p1",
        name="orders",
        backup_enabled=True,
        pit_enabled=False,
        state_name="IDLE",
        paused=False,
        zone_id=ZONE,
        instance_size="M30",
        provider_name="AWS",
    )


def test_parse_schedule_keeps_ids_and_names_unmanaged_fields():
    """Item ids and the policy id are kept; extra retention and copy items are unmanaged."""
    schedule = wire.parse_schedule(schedule_json())
    assert schedule.policy_id == POLICY
    assert {item.id for item in schedule.items} == {"a" * 24, "b" * 24}
    assert schedule.unmanaged == ("copySettings[0].copyPolicyItems", "extraRetentionSettings")
    assert schedule.export is None


def test_observed_items_compare_with_desired_items_by_essence():
    """Observed items (in any order, with ids) have the desired items' essence set."""
    schedule = wire.parse_schedule(schedule_json())
    assert schedule.essences() == observed.essences_of(make_desired().items)


def test_parse_schedule_refuses_unknown_frequency():
    """A policy item with an unknown frequency type is a permanent error, not a silent drop."""
    data = schedule_json(
        policies=[{"id": POLICY, "policyItems": [{"frequencyType": "fortnightly"}]}]
    )
    with pytest.raises(AtlasPermanentError, match="fortnightly"):
        wire.parse_schedule(data)


def test_schedule_patch_body_strips_ids_keeps_policy_id_and_fills_zone():
    """One policy with Atlas's id, items without ids, copy settings with the zone id."""
    copy = CopySetting(
        cloud_provider="GCP",
        region_name="EUROPE_WEST_1",
        should_copy_oplogs=None,
        frequencies=("DAILY",),
        span=SPAN,
    )
    body = wire.schedule_patch_body(
        make_desired(copy_settings=(copy,)), policy_id=POLICY, zone_id=ZONE
    )
    (policy,) = body["policies"]  # type: ignore[misc]
    assert policy["id"] == POLICY
    assert all("id" not in item for item in policy["policyItems"])
    assert [i["frequencyType"] for i in policy["policyItems"]] == ["daily", "weekly"]
    assert body["copySettings"] == [
        {
            "cloudProvider": "GCP",
            "regionName": "EUROPE_WEST_1",
            "frequencies": ["DAILY"],
            "zoneId": ZONE,
        }
    ]


def test_schedule_patch_body_takes_unmanaged_fields_from_observed():
    """Fields the manifest leaves unmanaged are sent as Atlas holds them, never reset."""
    held = wire.parse_schedule(schedule_json())
    body = wire.schedule_patch_body(make_desired(), policy_id=POLICY, zone_id=ZONE, observed=held)
    assert body["referenceHourOfDay"] == 3
    assert body["referenceMinuteOfHour"] == 30
    assert body["restoreWindowDays"] == 5
    assert body["useOrgAndGroupNamesInExportPrefix"] is True
    assert "extraRetentionSettings" not in body


def test_schedule_patch_body_without_copy_settings_in_git_sends_none():
    """A schedule manifest without copySettings asks for none: the body carries []."""
    held = wire.parse_schedule(schedule_json())
    assert held.copy_settings
    body = wire.schedule_patch_body(make_desired(), policy_id=POLICY, zone_id=ZONE, observed=held)
    assert body["copySettings"] == []


def test_schedule_patch_body_sends_desired_export_and_update_snapshots():
    """A managed export and the write-only updateSnapshots flag are sent."""
    desired = make_desired(
        export=Export(bucket_id="f" * 24, frequency="yearly"), update_snapshots=True
    )
    body = wire.schedule_patch_body(desired, policy_id=None, zone_id=None)
    assert body["export"] == {"exportBucketId": "f" * 24, "frequencyType": "yearly"}
    assert body["updateSnapshots"] is True
    assert body["policies"][0].keys() == {"policyItems"}  # type: ignore[index]


def test_cluster_patch_body_sends_only_managed_flags():
    """Only the flags the manifest sets go into a cluster PATCH."""
    assert wire.cluster_patch_body(backup_enabled=True, pit_enabled=None) == {"backupEnabled": True}


def test_paths_quote_names():
    """Project and cluster names are percent-encoded as one path segment."""
    assert wire.project_by_name_path("a b/c") == "/api/atlas/v2/groups/byName/a%20b%2Fc"


def error(status: int, code: str = "", detail: str = "", retry_after: str | None = None):
    """The typed error for an ApiError answer."""
    body = json.dumps({"error": status, "errorCode": code, "detail": detail}).encode()
    return wire.error_from_response(
        method="GET", path="/x", status=status, body=body, retry_after=retry_after
    )


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, "RATE_LIMITED", AtlasTransientError),
        (429, "RATE_LIMITED_TOKEN_BUCKET", AtlasTransientError),
        (500, "UNEXPECTED_ERROR", AtlasTransientError),
        (503, "SERVICE_UNAVAILABLE", AtlasTransientError),
        (401, "UNAUTHORIZED", AtlasConfigError),
        (403, "RESOURCE_REQUIRES_ACCESS_LIST", AtlasConfigError),
        (410, "VERSION_GONE", AtlasConfigError),
        (400, "VALIDATION_ERROR", AtlasPermanentError),
        (404, "CLUSTER_NOT_FOUND", AtlasPermanentError),
        (409, "CANNOT_UPDATE_PAUSED_CLUSTER", AtlasPermanentError),
    ],
)
def test_error_from_response_maps_status_to_type(status, code, kind):
    """Each status maps to its retry-or-give-up type, with the ApiError fields kept."""
    found = error(status, code, "why")
    assert type(found) is kind
    assert (found.status, found.error_code, found.detail) == (status, code, "why")


def test_error_from_response_reads_retry_after_seconds():
    """A 429's Retry-After (seconds form) is kept for the backoff."""
    found = error(429, "RATE_LIMITED", retry_after="7")
    assert isinstance(found, AtlasTransientError)
    assert found.retry_after_s == 7.0


def test_retry_after_http_date_is_ignored():
    """Retry-After as an HTTP date is not parsed (the backoff decides)."""
    assert wire.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_access_list_error_says_what_to_do():
    """RESOURCE_REQUIRES_ACCESS_LIST tells the operator to add the address to the access list."""
    assert "API access list" in str(error(403, "RESOURCE_REQUIRES_ACCESS_LIST"))


def test_error_from_non_json_body_is_still_typed():
    """An error answer without a JSON body still maps by status."""
    found = wire.error_from_response(
        method="GET", path="/x", status=502, body=b"<html>", retry_after=None
    )
    assert isinstance(found, AtlasTransientError)


def test_secret_never_shows_its_value():
    """A Secret's str and repr hide the value; reveal() returns it."""
    secret = credentials.Secret("hunter2")
    assert (
        "hunter2"
        not in f"{secret} {secret!r} {credentials.ApiKey(public_key='p', private_key=secret)!r}"
    )
    assert secret.reveal() == "hunter2"


def test_credentials_from_environment_prefer_service_account():
    """A complete service account in the environment wins over an API key."""
    env = {
        "GITOPSD_ATLAS_CLIENT_ID": "id",
        "GITOPSD_ATLAS_CLIENT_SECRET": "s",
        "GITOPSD_ATLAS_PUBLIC_KEY": "pub",
        "GITOPSD_ATLAS_PRIVATE_KEY": "priv",
    }
    found = credentials.load(environ=env)
    assert isinstance(found, credentials.ServiceAccount)
    assert found.client_secret.reveal() == "s"


def test_credentials_from_credentials_directory(tmp_path):
    """$CREDENTIALS_DIRECTORY/atlas_public_key and atlas_private_key make an API key."""
    (tmp_path / "atlas_public_key").write_text("pub\n", encoding="utf-8")
    (tmp_path / "atlas_private_key").write_text("priv\n", encoding="utf-8")
    found = credentials.load(environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert found == credentials.ApiKey(public_key="pub", private_key=credentials.Secret("priv"))


def test_credentials_file_path_wins_over_environment(tmp_path):
    """An explicit *_file path is read before the environment."""
    path = tmp_path / "secret"
    path.write_text("from-file", encoding="utf-8")
    env = {"GITOPSD_ATLAS_CLIENT_ID": "id", "GITOPSD_ATLAS_CLIENT_SECRET": "from-env"}
    found = credentials.load(client_secret_file=str(path), environ=env)
    assert isinstance(found, credentials.ServiceAccount)
    assert found.client_secret.reveal() == "from-file"


def test_incomplete_credentials_name_what_is_missing():
    """Half a service account is a ConfigError naming the missing part, not its value."""
    with pytest.raises(ConfigError, match="no client_secret"):
        credentials.load(environ={"GITOPSD_ATLAS_CLIENT_ID": "id"})


def test_schedule_patch_body_keeps_unmanaged_parts_of_a_managed_copy_setting():
    """A copy setting Git keeps is sent with Atlas's copyPolicyItems, so they are not reset."""
    held = wire.parse_schedule(schedule_json())
    copy = CopySetting(
        cloud_provider="AWS",
        region_name="US_WEST_2",
        should_copy_oplogs=False,
        frequencies=("DAILY",),
        span=SPAN,
    )
    desired = make_desired(copy_settings=(copy,))
    body = wire.schedule_patch_body(desired, policy_id=POLICY, zone_id=ZONE, observed=held)
    assert body["copySettings"] == [
        {
            "cloudProvider": "AWS",
            "regionName": "US_WEST_2",
            "frequencies": ["DAILY"],
            "shouldCopyOplogs": False,
            "zoneId": ZONE,
            "copyPolicyItems": [{"frequencyType": "daily"}],
        }
    ]
