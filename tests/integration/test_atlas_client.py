"""The Atlas client over real HTTP against the in-process emulator: auth, retries, errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import httpx
import pytest
from support import openapi

from gitopsd import credentials
from gitopsd.adapters import atlas
from gitopsd.core import observed
from gitopsd.core.backoff import RetryPolicy
from gitopsd.core.document import Span
from gitopsd.core.model import (
    CopySetting,
    DesiredSchedule,
    Frequency,
    PolicyItem,
    Retention,
    RetentionUnit,
)
from gitopsd.emulator import Emulator
from gitopsd.errors import (
    AtlasConfigError,
    AtlasPermanentError,
    AtlasTransientError,
    AtlasUnknownOutcomeError,
)

PROJECT = "32b6e34b3d91647abb20e7b8"
STATE = {
    "organizations": [{"id": "5f0c1a2b3c4d5e6f7a8b9c0d", "name": "acme"}],
    "projects": [{"id": PROJECT, "name": "prod", "orgId": "5f0c1a2b3c4d5e6f7a8b9c0d"}],
    "clusters": [
        {"projectId": PROJECT, "name": "orders", "backupEnabled": True, "instanceSize": "M30"},
        {"projectId": PROJECT, "name": "fresh", "instanceSize": "M10"},
    ],
}
SPAN = Span("m.yaml", 1, 1)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        """The current fake time in seconds."""
        return self.now


class FakeStop:
    """A stop event that records each wait and moves the clock instead of sleeping."""

    def __init__(self, clock: FakeClock, *, stopped: bool = False) -> None:
        self.clock = clock
        self.stopped = stopped
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        """Record the wait, advance the fake clock, report whether stopping."""
        self.waits.append(timeout or 0.0)
        self.clock.now += timeout or 0.0
        return self.stopped


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock shared by the emulator (token expiry) and the client (backoff)."""
    return FakeClock()


@pytest.fixture
def stop(clock: FakeClock) -> FakeStop:
    """A stop event whose waits are recorded, never slept."""
    return FakeStop(clock)


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    """The emulator seeded with STATE on a free loopback port."""
    with Emulator(STATE, clock=clock) as running:
        yield running


def service_account(emulator: Emulator, secret: str | None = None) -> credentials.ServiceAccount:
    """The emulator's service account (or one with a wrong secret)."""
    creds = emulator.credentials
    return credentials.ServiceAccount(
        client_id=creds.client_id,
        client_secret=credentials.Secret(secret or creds.client_secret),
    )


def make_client(
    emulator: Emulator, clock: FakeClock, stop: FakeStop, **options: object
) -> atlas.AtlasClient:
    """A service-account client on the emulator with fake time and zero jitter."""
    creds = options.pop("creds", None) or service_account(emulator)
    auth = atlas.auth_for(creds, base_url=emulator.url, clock=clock)  # type: ignore[arg-type]
    settings: dict[str, object] = {"timeout_s": 5.0, "stop": stop, "clock": clock}
    settings |= {"jitter": lambda: 0.0, "transport": openapi.ConformingTransport(), **options}
    return atlas.AtlasClient(emulator.url, auth, **settings)  # type: ignore[arg-type]


@pytest.fixture
def client(emulator: Emulator, clock: FakeClock, stop: FakeStop) -> Iterator[atlas.AtlasClient]:
    """A service-account client on the emulator."""
    with make_client(emulator, clock, stop) as made:
        yield made


def admin(emulator: Emulator, method: str, path: str, body: object = None) -> object:
    """Call an /_emulator/ admin endpoint and return its JSON."""
    response = httpx.request(method, f"{emulator.url}/_emulator{path}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def log(emulator: Emulator, path_part: str = "") -> list[dict[str, object]]:
    """The emulator's request log, only entries whose path contains ``path_part``."""
    entries = admin(emulator, "GET", "/requests")["requests"]  # type: ignore[index]
    return [e for e in entries if path_part in str(e["path"])]


def script(emulator: Emulator, *entries: str) -> None:
    """Queue scripted faults for the next API requests."""
    admin(emulator, "PUT", "/faults", {"script": list(entries)})


def test_service_account_resolves_project_by_name(client):
    """A service-account bearer token reads a project by name."""
    assert client.project_by_name("prod") == observed.ObservedProject(id=PROJECT, name="prod")


def test_api_key_digest_resolves_project_by_id(emulator, clock, stop):
    """An API key over HTTP digest reads a project by id."""
    creds = emulator.credentials
    key = credentials.ApiKey(
        public_key=creds.public_key, private_key=credentials.Secret(creds.private_key)
    )
    with make_client(emulator, clock, stop, creds=key) as client:
        assert client.project(PROJECT).name == "prod"
    assert {e["auth"] for e in log(emulator) if e["status"] == 200} == {"digest"}


def test_cluster_reads_backup_fields(client):
    """A cluster's backup flags, state, zone and hardware are read."""
    cluster = client.cluster(PROJECT, "orders")
    assert (cluster.backup_enabled, cluster.state_name, cluster.instance_size) == (
        True,
        "IDLE",
        "M30",
    )
    assert cluster.zone_id
    assert cluster.provider_name == "AWS"


def test_token_is_fetched_once_for_many_calls(client, emulator):
    """The bearer token is cached: one token request serves many API calls."""
    for _ in range(5):
        client.cluster(PROJECT, "orders")
    assert len(log(emulator, "/api/oauth/token")) == 1


def test_token_is_refreshed_before_it_expires(client, emulator, clock):
    """Once the token's lifetime has passed, the client fetches a new one first."""
    client.cluster(PROJECT, "orders")
    clock.now += 3600
    client.cluster(PROJECT, "orders")
    assert len(log(emulator, "/api/oauth/token")) == 2
    assert all(e["status"] == 200 for e in log(emulator, "/clusters/"))


def test_token_expired_answer_refreshes_once(emulator, clock, stop):
    """A 401 TOKEN_EXPIRED on a token the client still trusts gets one refresh, then succeeds."""
    with make_client(emulator, FakeClock(), stop) as client:
        client.cluster(PROJECT, "orders")
        clock.now += 4000  # the emulator's clock only: the client does not see it expire
        client.cluster(PROJECT, "orders")
    assert len(log(emulator, "/api/oauth/token")) == 2
    assert [e["status"] for e in log(emulator, "/clusters/orders")] == [200, 401, 200]


def test_rate_limited_request_waits_retry_after(client, emulator, stop):
    """A 429 with Retry-After: 7 is retried after exactly 7 s (jitter is zero)."""
    script(emulator, "429:7")
    assert client.cluster(PROJECT, "orders").name == "orders"
    assert stop.waits == [7.0]


def test_server_errors_are_retried_until_success(client, emulator, stop):
    """500 then 503 are retried with backoff, and the third attempt succeeds."""
    script(emulator, "500", "503")
    assert client.cluster(PROJECT, "orders").name == "orders"
    assert len(stop.waits) == 2
    assert [e["status"] for e in log(emulator, "/clusters/orders")] == [500, 503, 200]


def test_dropped_connection_is_retried(client, emulator, stop):
    """A connection closed without an answer is transient and retried."""
    script(emulator, "drop")
    assert client.cluster(PROJECT, "orders").name == "orders"
    assert len(stop.waits) == 1


def test_permanent_error_is_not_retried(client, emulator, stop):
    """A 404 is permanent: raised at once, one request in the log, no wait."""
    with pytest.raises(AtlasPermanentError) as caught:
        client.cluster(PROJECT, "nope")
    assert caught.value.error_code == "CLUSTER_NOT_FOUND"
    assert len(log(emulator, "/clusters/nope")) == 1
    assert stop.waits == []


def test_version_gone_is_a_config_error(client, emulator, stop):
    """410 VERSION_GONE surfaces as AtlasConfigError without retries."""
    script(emulator, "410")
    with pytest.raises(AtlasConfigError) as caught:
        client.cluster(PROJECT, "orders")
    assert caught.value.error_code == "VERSION_GONE"
    assert stop.waits == []


def test_retries_stop_at_the_deadline(emulator, clock, stop):
    """With a 2.5 s deadline and 1 s waits, the third failure is raised, not waited on."""
    script(emulator, *["500"] * 10)
    policy = RetryPolicy(max_attempts=10, base_s=1.0, cap_s=1.0, deadline_s=2.5)
    with (
        make_client(emulator, clock, stop, retry=policy, jitter=lambda: 1.0) as client,
        pytest.raises(AtlasTransientError),
    ):
        client.cluster(PROJECT, "orders")
    assert stop.waits == [1.0, 1.0]
    assert len(log(emulator, "/clusters/orders")) == 3


def test_stop_event_ends_retries(emulator, clock):
    """When the stop event is set during a wait, the transient error is raised."""
    script(emulator, "500", "500")
    stopping = FakeStop(clock, stopped=True)
    with make_client(emulator, clock, stopping) as client, pytest.raises(AtlasTransientError):
        client.cluster(PROJECT, "orders")
    assert len(stopping.waits) == 1


def test_a_write_refused_after_an_unanswered_attempt_has_an_unknown_outcome(client, emulator):
    """A PATCH answered 500, then refused: the first attempt may have been applied."""
    script(emulator, "500", "409")
    with pytest.raises(
        AtlasUnknownOutcomeError, match=r"an attempt got no clear answer \("
    ) as caught:
        client.patch_cluster(PROJECT, "orders", pit_enabled=True)
    assert caught.value.status == 409


def test_a_write_only_rate_limited_is_not_of_unknown_outcome(emulator, clock, stop):
    """Every attempt turned away with 429: Atlas acted on none, so the outcome is known."""
    script(emulator, "429:1", "429:1")
    policy = RetryPolicy(max_attempts=2)
    with (
        make_client(emulator, clock, stop, retry=policy) as client,
        pytest.raises(AtlasTransientError) as caught,
    ):
        client.patch_cluster(PROJECT, "orders", pit_enabled=True)
    assert not isinstance(caught.value, AtlasUnknownOutcomeError)


def test_stopping_after_an_unanswered_write_leaves_its_outcome_unknown(emulator, clock):
    """A PATCH answered 503 and gitopsd stopping in the wait: unknown, and it says why."""
    script(emulator, "503")
    stopping = FakeStop(clock, stopped=True)
    with (
        make_client(emulator, clock, stopping) as client,
        pytest.raises(AtlasUnknownOutcomeError, match="not retried: gitopsd is stopping"),
    ):
        client.patch_cluster(PROJECT, "orders", pit_enabled=True)


def test_timeout_is_transient(emulator, clock, stop):
    """An answer slower than timeout_s is a transient error naming the host, timeout and tries."""
    admin(emulator, "PUT", "/faults", {"latency_ms": 3000})
    policy = RetryPolicy(max_attempts=1)
    with (
        make_client(emulator, clock, stop, timeout_s=0.2, retry=policy) as client,
        pytest.raises(
            AtlasTransientError,
            match=r"no answer from 127\.0\.0\.1:\d+ within 0\.2 s \(gave up after 1 attempt\)",
        ),
    ):
        client.project(PROJECT)


def test_rate_limit_remaining_is_recorded(client, emulator):
    """The latest RateLimit-Remaining header is kept for metrics."""
    admin(emulator, "PUT", "/faults", {"rate_limit": {"capacity": 100, "refill_per_s": 0.001}})
    client.project(PROJECT)
    client.project(PROJECT)
    assert client.rate_limit_remaining == 98


def test_listing_follows_pages_until_all_clusters_are_read(clock, stop):
    """1201 clusters come back from three pages of 500."""
    clusters = [{"projectId": PROJECT, "name": f"c{n:04}"} for n in range(1201)]
    with (
        Emulator({**STATE, "clusters": clusters}, clock=clock) as emulator,
        make_client(emulator, clock, stop) as client,
    ):
        found = client.clusters(PROJECT)
        assert len({c.name for c in found}) == 1201
        assert len(log(emulator, f"/groups/{PROJECT}/clusters")) == 3


class CountingTransport(httpx.BaseTransport):
    """Counts requests in flight at once through the wrapped transport."""

    def __init__(self) -> None:
        self.inner = openapi.ConformingTransport()
        self.lock = threading.Lock()
        self.current = self.most = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward the request, counting it while it is in flight."""
        with self.lock:
            self.current += 1
            self.most = max(self.most, self.current)
        try:
            response = self.inner.handle_request(request)
            response.read()
            return response
        finally:
            with self.lock:
                self.current -= 1

    def close(self) -> None:
        """Close the wrapped transport's connections."""
        self.inner.close()


def test_map_keeps_at_most_concurrency_requests_in_flight(emulator, clock, stop):
    """With slow answers, 12 cluster reads never have more than 3 requests in flight."""
    admin(emulator, "PUT", "/faults", {"latency_ms": 40})
    counting = CountingTransport()
    with make_client(emulator, clock, stop, concurrency=3, transport=counting) as client:
        results = client.map(lambda name: client.cluster(PROJECT, name), ["orders"] * 11 + ["nope"])
    assert counting.most == 3
    assert all(isinstance(r, observed.ObservedCluster) for r in results[:11])
    assert isinstance(results[11], AtlasPermanentError)


def test_dry_run_records_writes_and_sends_none(emulator, clock, stop):
    """Dry-run reads through, records the PATCH line and sends no write."""
    with make_client(emulator, clock, stop, dry_run=True) as client:
        assert client.cluster(PROJECT, "orders").backup_enabled
        assert client.patch_cluster(PROJECT, "orders", backup_enabled=False) is None
        lines = client.dry_run_lines
    path = f"/api/atlas/v2/groups/{PROJECT}/clusters/orders"
    assert lines == (f'would PATCH {path} {{"backupEnabled":false}}',)
    assert [e["method"] for e in log(emulator, "/api/atlas")] == ["GET"]


def test_patch_cluster_sets_backup_flags(client):
    """A cluster PATCH enables backup and PIT and returns the cluster Atlas answers."""
    cluster = client.patch_cluster(PROJECT, "fresh", backup_enabled=True, pit_enabled=True)
    assert cluster is not None
    assert (cluster.backup_enabled, cluster.pit_enabled) == (True, True)


def test_schedule_patch_reads_back_the_desired_essence(client):
    """A schedule PATCH keeps the policy id, fills the zone id, and reads back as desired."""
    cluster = client.cluster(PROJECT, "orders")
    before = client.schedule(PROJECT, "orders")
    items = frozenset(
        PolicyItem(
            frequency=Frequency(f),
            interval=i,
            retention=Retention(value=v, unit=RetentionUnit(u)),
            span=SPAN,
        )
        for f, i, v, u in [("daily", 1, 14, "days"), ("weekly", 1, 8, "weeks")]
    )
    copy = CopySetting(
        cloud_provider="AWS",
        region_name="US_WEST_2",
        should_copy_oplogs=False,
        frequencies=("DAILY",),
        span=SPAN,
    )
    desired = DesiredSchedule(
        reference_hour_of_day=4,
        reference_minute_of_hour=15,
        restore_window_days=3,
        auto_export_enabled=None,
        export=None,
        use_org_and_group_names_in_export_prefix=None,
        update_snapshots=None,
        copy_settings=(copy,),
        items=items,
    )
    answered = client.patch_schedule(
        PROJECT, "orders", desired, observed=before, zone_id=cluster.zone_id
    )
    after = client.schedule(PROJECT, "orders")
    assert answered == after
    assert after.essences() == observed.essences_of(items)
    assert after.policy_id == before.policy_id
    assert [c.zone_id for c in after.copy_settings] == [cluster.zone_id]
    assert (after.reference_hour_of_day, after.restore_window_days) == (4, 3)


def refused(emulator, clock, stop, caplog, creds) -> tuple[AtlasConfigError, list[str]]:
    """Call Atlas with refused credentials; return the error and every text a person could see."""
    caplog.set_level(logging.DEBUG)
    with make_client(emulator, clock, stop, creds=creds) as client:
        with pytest.raises(AtlasConfigError) as caught:
            client.project(PROJECT)
        shown = [str(caught.value), repr(caught.value), repr(client), str(client)]
    shown += [repr(creds), str(creds), str(caught.value.__cause__), repr(caught.value.__cause__)]
    return caught.value, [*shown, caplog.text]


def test_secrets_never_appear_in_errors_reprs_or_logs(emulator, clock, stop, caplog):
    """A refused secret is absent from the error, its cause, the client's repr and the logs."""
    secret = "mdb_sa_sk_not_the_right_one"  # noqa: S105 - a deliberately wrong test secret
    error, shown = refused(emulator, clock, stop, caplog, service_account(emulator, secret))
    assert error.status == 401
    assert all(secret not in text for text in shown)
    assert all(emulator.credentials.client_secret not in text for text in shown)


def test_concurrent_calls_share_one_token_request(emulator, clock, stop):
    """Sixteen reads on eight threads with a cold token cache make a single token request."""
    admin(emulator, "PUT", "/faults", {"latency_ms": 20})
    with make_client(emulator, clock, stop, concurrency=8) as client:
        results = client.map(lambda _: client.project(PROJECT), range(16))
    assert all(isinstance(r, observed.ObservedProject) for r in results)
    assert len(log(emulator, "/api/oauth/token")) == 1


def test_wrong_api_key_secret_never_appears(emulator, clock, stop, caplog):
    """A refused private key is absent from the error, its cause, the client's repr and logs."""
    secret = "00000000-0000-4000-8000-notthekey000"  # noqa: S105 - a deliberately wrong key
    key = credentials.ApiKey(
        public_key=emulator.credentials.public_key, private_key=credentials.Secret(secret)
    )
    error, shown = refused(emulator, clock, stop, caplog, key)
    assert error.status == 401
    assert all(secret not in text for text in shown)
