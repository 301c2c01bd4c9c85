"""Contract plumbing: Prism judges request shape, ``support.openapi`` judges response shape.

Both use ``../shared/reference/atlas-openapi/atlas-backup-mock.yaml``. Prism (Stoplight
``@stoplight/prism-cli`` 5.14, started by ``support.prism``) runs with ``--errors``: a request that
breaks the document gets the operation's documented 400 (with an ``sl-violations`` header saying
what broke), or Prism's own 422 when the operation documents no 400; 406 for an API version the
operation does not serve; 401 without credentials. Without the reference directory or Prism these
tests skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from support.openapi import (
    example,
    examples,
    validate_api_error,
    validate_httpx_response,
    validate_request,
    validate_response,
)

pytest_plugins = ["support.prism"]
pytestmark = pytest.mark.reference

GROUP_ID = "32b6e34b3d91647abb20e7b8"
SCHEDULE_TEMPLATE = "/api/atlas/v2/groups/{groupId}/clusters/{clusterName}/backup/schedule"
SCHEDULE_PATH = f"/api/atlas/v2/groups/{GROUP_ID}/clusters/Cluster0/backup/schedule"
SCHEDULE_MEDIA = "application/vnd.atlas.2024-08-05+json"
HEADERS = {"Accept": SCHEDULE_MEDIA, "Authorization": "Bearer x"}
TIMEOUT = 10.0


def schedule_patch(**changes: object) -> dict[str, Any]:
    """A valid PATCH schedule body (one daily policy item), with ``changes`` applied."""
    body: dict[str, Any] = {
        "referenceHourOfDay": 3,
        "policies": [
            {
                "id": "6566a1b2c3d4e5f6a7b8c9e0",
                "policyItems": [
                    {
                        "frequencyType": "daily",
                        "frequencyInterval": 1,
                        "retentionUnit": "days",
                        "retentionValue": 7,
                    }
                ],
            }
        ],
    }
    body.update(changes)
    return body


def with_policy_item(**changes: object) -> dict[str, Any]:
    """The valid PATCH body with its one policy item changed."""
    body = schedule_patch()
    body["policies"][0]["policyItems"][0].update(changes)
    return body


def patch_schedule(prism_url: str, body: object) -> httpx.Response:
    """PATCH the schedule on Prism with a JSON body of the 2024-08-05 media type."""
    return httpx.patch(
        prism_url + SCHEDULE_PATH,
        content=json.dumps(body).encode(),
        headers={**HEADERS, "Content-Type": SCHEDULE_MEDIA},
        timeout=TIMEOUT,
    )


def violations(response: httpx.Response) -> set[str]:
    """Where Prism's ``sl-violations`` header says the request broke the document."""
    reported = json.loads(response.headers.get("sl-violations", "[]"))
    return {".".join(violation["location"]) for violation in reported}


def schedule_example() -> dict[str, Any]:
    """A private copy of the mock's own GET schedule example."""
    return copy.deepcopy(example("GET", SCHEDULE_TEMPLATE))


def validate_schedule(body: object) -> None:
    """Validate ``body`` strictly (no undocumented fields) as a 200 response to GET schedule."""
    headers = {"Content-Type": SCHEDULE_MEDIA}
    validate_response("GET", SCHEDULE_PATH, 200, headers, json.dumps(body).encode(), strict=True)


def test_prism_serves_a_schedule_that_validates(prism_url):
    """A well-formed GET schedule gets 200 and a body matching the document."""
    response = httpx.get(prism_url + SCHEDULE_PATH, headers=HEADERS, timeout=TIMEOUT)

    assert response.status_code == 200, response.text
    validate_response(
        "GET", str(response.url), response.status_code, response.headers, response.content
    )


def test_validate_httpx_response_accepts_a_prism_patch_exchange(prism_url):
    """An httpx PATCH exchange with Prism passes request and response validation."""
    validate_httpx_response(patch_schedule(prism_url, schedule_patch()), strict=True)


def test_prism_accepts_a_wellformed_schedule_patch(prism_url):
    """A PATCH body with policies and integer fields is accepted."""
    response = patch_schedule(prism_url, schedule_patch())

    assert (response.status_code, violations(response)) == (200, set())


def test_prism_rejects_a_non_integer_reference_hour(prism_url):
    """referenceHourOfDay "x" gets the documented 400, naming the field."""
    response = patch_schedule(prism_url, schedule_patch(referenceHourOfDay="x"))

    assert response.status_code == 400
    assert violations(response) == {"request.body.referenceHourOfDay"}


def test_prism_rejects_an_unknown_frequency_type(prism_url):
    """frequencyType "fortnightly" gets the documented 400, naming the field."""
    response = patch_schedule(prism_url, with_policy_item(frequencyType="fortnightly"))

    assert response.status_code == 400
    assert violations(response) == {"request.body.policies.0.policyItems.0.frequencyType"}


def test_prism_rejects_a_schedule_patch_without_policies(prism_url):
    """policies is required in a PATCH body even though Atlas documents partial updates."""
    body = schedule_patch()
    del body["policies"]

    response = patch_schedule(prism_url, body)

    assert response.status_code == 400
    assert violations(response) == {"request.body"}


def test_prism_rejects_an_api_version_the_operation_does_not_serve(prism_url):
    """Accept application/vnd.atlas.2023-01-01+json on GET schedule (2024-08-05 only) gets 406."""
    headers = {**HEADERS, "Accept": "application/vnd.atlas.2023-01-01+json"}

    response = httpx.get(prism_url + SCHEDULE_PATH, headers=headers, timeout=TIMEOUT)

    assert response.status_code == 406


def test_prism_rejects_a_request_without_credentials(prism_url):
    """A request with no Authorization header gets 401."""
    response = httpx.get(
        prism_url + SCHEDULE_PATH, headers={"Accept": SCHEDULE_MEDIA}, timeout=TIMEOUT
    )

    assert response.status_code == 401


def test_prism_rejects_a_malformed_group_id_with_its_own_422(prism_url):
    """A group id that is not 24 hex digits gets 422: GET schedule documents no 400."""
    path = SCHEDULE_PATH.replace(GROUP_ID, "not-a-group-id")

    response = httpx.get(prism_url + path, headers=HEADERS, timeout=TIMEOUT)

    assert response.status_code == 422
    assert response.json()["validation"][0]["location"] == ["path", "groupid"]


def test_validate_response_accepts_the_mock_schedule_example():
    """The document's own GET schedule example passes response validation."""
    validate_schedule(schedule_example())


def test_validate_response_rejects_an_unknown_frequency_type():
    """A policy item with frequencyType "fortnightly" fails, and the message names it."""
    body = schedule_example()
    body["policies"][0]["policyItems"][0]["frequencyType"] = "fortnightly"

    with pytest.raises(AssertionError, match=r"policies\[0\]\.policyItems\[0\]\.frequencyType"):
        validate_schedule(body)


def test_validate_response_rejects_a_string_retention_value():
    """retentionValue "7" (a string) fails: the document says integer."""
    body = schedule_example()
    body["policies"][0]["policyItems"][1]["retentionValue"] = "7"

    with pytest.raises(AssertionError, match=r"retentionValue: '7' is not of type 'integer'"):
        validate_schedule(body)


def test_validate_response_rejects_an_undocumented_field():
    """A field the schema does not define (a misspelling) fails with strict=True."""
    body = schedule_example()
    body["policies"][0]["policyItems"][0]["retentionvalue"] = 7

    with pytest.raises(AssertionError, match="retentionvalue"):
        validate_schedule(body)


def test_validate_response_rejects_an_undocumented_status():
    """A 418 to GET schedule fails: the operation does not document it."""
    with pytest.raises(AssertionError, match="418"):
        validate_response("GET", SCHEDULE_PATH, 418, {"Content-Type": SCHEDULE_MEDIA}, b"{}")


def test_validate_response_matches_paths_on_any_host():
    """A full loopback URL with a query string resolves to the document's path."""
    url = f"http://127.0.0.1:4010{SCHEDULE_PATH}?pretty=false"
    body = json.dumps(schedule_example()).encode()

    validate_response("GET", url, 200, {"Content-Type": SCHEDULE_MEDIA}, body)


def test_validate_request_rejects_a_non_integer_reference_hour():
    """Request validation catches referenceHourOfDay "x" without Prism."""
    headers = {**HEADERS, "Content-Type": SCHEDULE_MEDIA}
    body = json.dumps(schedule_patch(referenceHourOfDay="x")).encode()

    with pytest.raises(AssertionError, match="referenceHourOfDay: 'x' is not of type 'integer'"):
        validate_request("PATCH", SCHEDULE_PATH, headers, body)


def test_every_mock_example_passes_response_validation():
    """Each example in the document validates against its own response."""
    failures = []
    for method, template, status, media_type, body in examples():
        path = template.replace("{groupId}", GROUP_ID).replace("{", "").replace("}", "")
        try:
            validate_response(
                method, path, status, {"Content-Type": media_type}, json.dumps(body).encode()
            )
        except AssertionError as error:
            failures.append(str(error))

    assert failures == []


def test_api_error_validator_accepts_atlas_errors_and_rejects_others():
    """An ApiError needs error and errorCode of the right types; anything else is refused."""
    validate_api_error(b'{"error": 406, "errorCode": "INVALID_VERSION", "detail": "x"}')
    with pytest.raises(AssertionError, match="errorCode"):
        validate_api_error(b'{"error": 406, "detail": "no code"}')
    with pytest.raises(AssertionError, match="error"):
        validate_api_error(b'{"error": "406", "errorCode": "X"}')
