"""Every AtlasClient operation against Prism: our requests match the official document.

Prism (``--errors``) answers a request that breaks ``atlas-backup-mock.yaml`` with 400/406/422,
which the client raises as an AtlasError; so an operation that returns a value passed Prism's
checks. Each exchange is also validated with ``support.openapi``. A deliberately wrong media
type shows the check can fail. Credentials: a static Bearer (Prism cannot pass digest).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import httpx
import pytest
from support.openapi import validate_httpx_response

from gitopsd import credentials
from gitopsd.adapters import atlas
from gitopsd.core.backoff import RetryPolicy
from gitopsd.core.document import Span
from gitopsd.core.model import (
    DesiredSchedule,
    Frequency,
    PolicyItem,
    Retention,
    RetentionUnit,
)
from gitopsd.errors import AtlasPermanentError

pytest_plugins = ["support.prism"]
pytestmark = pytest.mark.reference

GROUP_ID = "32b6e34b3d91647abb20e7b8"
CLUSTER = "Cluster0"
SPAN = Span("m.yaml", 1, 1)


class StaticBearer(httpx.Auth):
    """A fixed bearer token: Prism checks the scheme, not the token."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Send the request with the fixed token."""
        request.headers["Authorization"] = "Bearer contract-test"
        yield request


class Recorder(httpx.BaseTransport):
    """Forwards requests and keeps every exchange for validation; can rewrite Accept."""

    def __init__(self, accept: str | None = None) -> None:
        self.inner = httpx.HTTPTransport(retries=0)
        self.accept = accept
        self.responses: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward (with the Accept override, if any) and record the read response."""
        if self.accept is not None:
            request.headers["Accept"] = self.accept
        response = self.inner.handle_request(request)
        response.read()
        self.responses.append(response)
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()


@pytest.fixture
def recorder() -> Recorder:
    """A transport that records the exchanges."""
    return Recorder()


@pytest.fixture
def client(prism_url: str, recorder: Recorder) -> Iterator[atlas.AtlasClient]:
    """An AtlasClient on Prism with a static bearer, no retries."""
    policy = RetryPolicy(max_attempts=1)
    with atlas.AtlasClient(
        prism_url, StaticBearer(), timeout_s=10, retry=policy, transport=recorder
    ) as made:
        yield made


def assert_valid(recorder: Recorder) -> None:
    """Every recorded exchange was 2xx and matches the document."""
    assert recorder.responses
    for response in recorder.responses:
        assert response.is_success, (response.status_code, response.headers.get("sl-violations"))
        validate_httpx_response(response)


def test_project_by_name_request_is_valid(client, recorder):
    """GET groups/byName/{name} with the 2023-01-01 media type passes Prism."""
    assert client.project_by_name("acme-prod").id
    assert_valid(recorder)


def test_project_by_id_request_is_valid(client, recorder):
    """GET groups/{id} passes Prism."""
    assert client.project(GROUP_ID).id
    assert_valid(recorder)


def test_cluster_list_request_is_valid(client, recorder):
    """The paginated cluster listing (pageNum, itemsPerPage=500, includeCount) passes Prism."""
    assert client.clusters(GROUP_ID)
    assert_valid(recorder)


def test_cluster_get_request_is_valid(client, recorder):
    """GET one cluster with the 2024-08-05 media type passes Prism."""
    assert client.cluster(GROUP_ID, CLUSTER).name
    assert_valid(recorder)


def test_cluster_patch_request_is_valid(client, recorder):
    """PATCH a cluster's backup flags with the 2024-10-23 media type passes Prism."""
    assert client.patch_cluster(GROUP_ID, CLUSTER, backup_enabled=True, pit_enabled=True)
    assert_valid(recorder)


def test_schedule_get_request_is_valid(client, recorder):
    """GET the backup schedule passes Prism."""
    assert client.schedule(GROUP_ID, CLUSTER).items
    assert_valid(recorder)


def test_schedule_patch_request_is_valid(client, recorder):
    """A schedule PATCH built from a desired schedule and the observed one passes Prism."""
    held = client.schedule(GROUP_ID, CLUSTER)
    item = PolicyItem(
        frequency=Frequency.DAILY,
        interval=1,
        retention=Retention(value=7, unit=RetentionUnit.DAYS),
        span=SPAN,
    )
    desired = DesiredSchedule(
        reference_hour_of_day=3,
        reference_minute_of_hour=None,
        restore_window_days=2,
        auto_export_enabled=None,
        export=None,
        use_org_and_group_names_in_export_prefix=None,
        update_snapshots=None,
        copy_settings=(),
        items=frozenset({item}),
    )
    assert client.patch_schedule(GROUP_ID, CLUSTER, desired, observed=held, zone_id=None)
    assert_valid(recorder)


def test_service_account_token_request_is_valid(prism_url, recorder):
    """The service account's token POST (HTTP Basic, form body) passes Prism."""
    account = credentials.ServiceAccount(
        client_id="mdb_sa_id_x", client_secret=credentials.Secret("mdb_sa_sk_x")
    )
    auth = atlas.auth_for(account, base_url=prism_url, timeout_s=10)
    with atlas.AtlasClient(prism_url, auth, timeout_s=10, transport=recorder) as client:
        assert client.project(GROUP_ID).id
    paths = [r.request.url.path for r in recorder.responses]
    assert paths == ["/api/oauth/token", f"/api/atlas/v2/groups/{GROUP_ID}"]
    assert all(r.is_success for r in recorder.responses)


def test_wrong_media_type_is_caught(prism_url):
    """The check can fail: a request with an unserved API version gets Prism's 406."""
    wrong = Recorder(accept="application/vnd.atlas.2099-01-01+json")
    policy = RetryPolicy(max_attempts=1)
    with (
        atlas.AtlasClient(prism_url, StaticBearer(), retry=policy, transport=wrong) as client,
        pytest.raises(AtlasPermanentError) as caught,
    ):
        client.schedule(GROUP_ID, CLUSTER)
    assert caught.value.status == 406
