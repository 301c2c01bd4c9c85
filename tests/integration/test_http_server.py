"""The HTTP listener over real HTTP on 127.0.0.1: health, metrics, webhooks and hostile clients."""

from __future__ import annotations

import json
import logging
import math
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import Metric
from prometheus_client.parser import text_string_to_metric_families
from support import hooks

from gitopsd import metrics
from gitopsd.adapters import http_server, webhooks
from gitopsd.credentials import Secret

WAIT_S = 10.0
"""The bound on every wait in these tests; a healthy run never comes near it."""


class FakeHealth:
    """The daemon's side of the Health protocol, set by hand."""

    def __init__(self) -> None:
        self.is_alive = True
        self.readiness = (False, "no successful cycle yet")

    def alive(self) -> bool:
        """Whether the loop is alive."""
        return self.is_alive

    def ready(self) -> tuple[bool, str]:
        """Whether a cycle succeeded recently, and why not."""
        return self.readiness


class Pushes:
    """Records every push the server hands over; answers ``triggered``."""

    def __init__(self, *, triggered: bool = True) -> None:
        self.events: list[webhooks.PushEvent] = []
        self.triggered = triggered

    def __call__(self, event: webhooks.PushEvent) -> bool:
        """Record the push."""
        self.events.append(event)
        return self.triggered


class Listener:
    """A running server with the fakes it was given."""

    def __init__(self, server: http_server.HttpServer, health: FakeHealth, pushes: Pushes):
        self.server = server
        self.health = health
        self.pushes = pushes
        self.metrics: metrics.Metrics = server._app.metrics
        self.client = httpx.Client(base_url=server.url, timeout=WAIT_S)

    @property
    def address(self) -> tuple[str, int]:
        """Host and port the server listens on."""
        url = httpx.URL(self.server.url)
        assert url.port is not None
        return url.host, url.port

    def hook(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST a delivery to /hooks/git."""
        return self.client.post("/hooks/git", content=body, headers=headers)


Start = Callable[..., Listener]


@pytest.fixture
def start() -> Iterator[Start]:
    """Start servers on 127.0.0.1:0 with fakes; every one is stopped after the test."""
    started: list[Listener] = []

    def _start(
        *, secret: str | None = hooks.SECRET, triggered: bool = True, on_push=None, **kw
    ) -> Listener:
        health, pushes = FakeHealth(), Pushes(triggered=triggered)
        server = http_server.HttpServer(
            ("127.0.0.1", 0),
            health=health,
            metrics=metrics.Metrics(process=False),
            on_push=on_push or pushes,
            branch="main",
            webhook_secret=None if secret is None else Secret(secret),
            **kw,
        ).start()
        listener = Listener(server, health, pushes)
        started.append(listener)
        return listener

    yield _start
    for listener in started:
        listener.client.close()
        listener.server.stop()


@pytest.fixture
def listener(start: Start) -> Listener:
    """A server with the default limits and a webhook secret."""
    return start()


def scrape(listener: Listener) -> dict[str, Metric]:
    """GET /metrics and parse it; families by name."""
    response = listener.client.get("/metrics")
    assert response.status_code == 200
    families = text_string_to_metric_families(response.text)
    return {family.name: family for family in families}


def sample(families: dict[str, Metric], name: str, **labels: str) -> float:
    """The value of the one sample called ``name`` with exactly ``labels``."""
    for family in families.values():
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {name}{labels}")


# -- health --------------------------------------------------------------------------------------


def test_healthz_is_ok_while_the_loop_is_alive(listener):
    """/healthz answers 200 "ok" when Health.alive() says so."""
    response = listener.client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


def test_healthz_is_503_when_the_loop_is_not_alive(listener):
    """/healthz answers 503 when the loop is not alive."""
    listener.health.is_alive = False
    assert listener.client.get("/healthz").status_code == 503


def test_readyz_is_503_with_the_reason_until_a_cycle_succeeds(listener):
    """/readyz answers 503 with Health's reason before a successful cycle."""
    response = listener.client.get("/readyz")
    assert response.status_code == 503
    assert "no successful cycle yet" in response.text


def test_readyz_is_ok_after_a_cycle_succeeded(listener):
    """/readyz answers 200 once Health.ready() says so."""
    listener.health.readiness = (True, "")
    assert listener.client.get("/readyz").status_code == 200


def test_head_answers_without_a_body(listener):
    """HEAD /healthz has the status and length of GET, and no body."""
    response = listener.client.head("/healthz")
    assert response.status_code == 200
    assert response.headers["content-length"] == "3"
    assert response.content == b""


def test_every_answer_closes_the_connection(listener):
    """One request per connection: a connection's slot is freed when its answer is sent."""
    assert listener.client.get("/healthz").headers["connection"] == "close"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 404),
        ("GET", "/hooks/other", 404),
        ("POST", "/metrics", 405),
        ("DELETE", "/healthz", 405),
        ("GET", "/hooks/git", 405),
    ],
)
def test_other_paths_and_methods_are_refused(listener, method, path, status):
    """Unknown paths are 404; known paths with another method are 405."""
    assert listener.client.request(method, path).status_code == status


def test_a_405_names_the_allowed_methods(listener):
    """405 carries Allow, as HTTP requires."""
    assert listener.client.post("/healthz").headers["allow"] == "GET, HEAD"


# -- metrics -------------------------------------------------------------------------------------


def test_every_metric_family_is_exported_with_its_type(listener):
    """Each gitopsd family is in the scrape, with the type Prometheus expects."""
    families = scrape(listener)
    types = {name: family.type for name, family in families.items()}
    assert types == {
        "gitopsd_cycle_duration_seconds": "histogram",
        "gitopsd_cycle_exceptions": "counter",
        "gitopsd_last_success_timestamp_seconds": "gauge",
        "gitopsd_clusters": "gauge",
        "gitopsd_atlas_requests": "counter",
        "gitopsd_atlas_rate_limit_remaining": "gauge",
        "gitopsd_git_fetch_failures": "counter",
        "gitopsd_state_db_rebuilds": "counter",
        "gitopsd_cycle_requests_deferred": "counter",
        "gitopsd_webhooks": "counter",
        "gitopsd_build_info": "gauge",
    }


def test_metrics_reflect_the_calls_made(listener):
    """Values in the scrape are what the daemon recorded."""
    m = listener.metrics
    m.observe_cycle(3.0, "ok")
    m.observe_cycle(0.2, "ok")
    m.count_cycle_exception()
    m.set_last_success(1_700_000_000.0)
    m.set_clusters({"in-sync": 5, "drifted": 2})
    m.count_atlas_request("get", 200)
    m.count_atlas_request("GET", 200)
    m.count_atlas_request("patch", 429)
    m.count_atlas_request("get", None)
    m.set_rate_limit_remaining(87)
    m.count_git_fetch_failure()
    families = scrape(listener)
    assert sample(families, "gitopsd_cycle_duration_seconds_count", result="ok") == 2
    assert sample(families, "gitopsd_cycle_duration_seconds_sum", result="ok") == 3.2
    assert sample(families, "gitopsd_cycle_duration_seconds_bucket", result="ok", le="0.5") == 1
    assert sample(families, "gitopsd_cycle_exceptions_total") == 1
    assert sample(families, "gitopsd_last_success_timestamp_seconds") == 1_700_000_000
    assert sample(families, "gitopsd_clusters", status="in-sync") == 5
    assert sample(families, "gitopsd_clusters", status="drifted") == 2
    assert sample(families, "gitopsd_atlas_requests_total", method="GET", status="200") == 2
    assert sample(families, "gitopsd_atlas_requests_total", method="PATCH", status="429") == 1
    assert sample(families, "gitopsd_atlas_requests_total", method="GET", status="error") == 1
    assert sample(families, "gitopsd_atlas_rate_limit_remaining") == 87
    assert sample(families, "gitopsd_git_fetch_failures_total") == 1


def test_every_cluster_status_is_exported_zeros_included(listener):
    """A status no cluster has is exported as 0, so alerts never see it vanish."""
    listener.metrics.set_clusters({"error": 1})
    families = scrape(listener)
    values = {s: sample(families, "gitopsd_clusters", status=s) for s in metrics.CLUSTER_STATUSES}
    assert values == {
        "in-sync": 0,
        "drifted": 0,
        "pending": 0,
        "blocked": 0,
        "skipped": 0,
        "unknown": 0,
        "error": 1,
    }


def test_an_unknown_cluster_status_is_refused():
    """The status label set is closed: an unknown one raises rather than adding a series."""
    with pytest.raises(ValueError, match="unknown cluster status"):
        metrics.Metrics(process=False).set_clusters({"in_sync": 1})


def test_build_info_names_the_version(listener):
    """gitopsd_build_info is 1 with the running version and Python."""
    import platform

    from gitopsd import __version__

    families = scrape(listener)
    labels = {"version": __version__, "python": platform.python_version()}
    assert sample(families, "gitopsd_build_info", **labels) == 1


def test_rate_limit_remaining_is_nan_until_known(listener):
    """Before Atlas reports a limit the gauge is NaN, not a misleading 0."""
    value = sample(scrape(listener), "gitopsd_atlas_rate_limit_remaining")
    assert math.isnan(value)


def test_metrics_are_served_in_the_text_format(listener):
    """The Content-Type is the text format every Prometheus reads."""
    content_type = listener.client.get("/metrics").headers["content-type"]
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_two_servers_do_not_share_metrics(start):
    """Each Metrics has its own registry: counting in one leaves the other alone."""
    one, other = start(), start()
    one.metrics.count_git_fetch_failure()
    assert sample(scrape(other), "gitopsd_git_fetch_failures_total") == 0


def test_webhook_results_are_counted(listener):
    """gitopsd_webhooks_total counts each delivery by what became of it."""
    body = hooks.push_body()
    listener.hook(body, hooks.github(body))
    listener.hook(body, hooks.github(body, secret=hooks.WRONG))
    families = scrape(listener)
    assert sample(families, "gitopsd_webhooks_total", result="triggered") == 1
    assert sample(families, "gitopsd_webhooks_total", result="unauthorized") == 1


# -- webhooks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sign",
    [
        pytest.param(hooks.github, id="github"),
        pytest.param(hooks.gitea, id="gitea"),
        pytest.param(lambda _body: hooks.gitlab(), id="gitlab"),
    ],
)
def test_a_signed_push_to_the_watched_branch_triggers_once(listener, sign):
    """A genuine push to the watched branch calls on_push once, with its ref and revision."""
    body = hooks.push_body()
    response = listener.hook(body, sign(body))
    assert response.status_code == 202
    assert response.json() == {"triggered": True}
    assert [(e.ref, e.after) for e in listener.pushes.events] == [("refs/heads/main", hooks.SHA)]


def test_the_delivery_id_reaches_on_push(listener):
    """on_push gets the forge's delivery id, for the daemon's logs."""
    body = hooks.push_body()
    listener.hook(body, hooks.github(body, delivery="72d3162e-cc78-11e3"))
    assert listener.pushes.events[0].delivery == "72d3162e-cc78-11e3"


def test_on_push_declining_is_reported(start):
    """When on_push answers False, the delivery is accepted but says it triggered nothing."""
    listener = start(triggered=False)
    body = hooks.push_body()
    response = listener.hook(body, hooks.github(body))
    assert (response.status_code, response.json()) == (202, {"triggered": False})


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(hooks.github(hooks.push_body(), secret=hooks.WRONG), id="github-wrong"),
        pytest.param(hooks.gitea(hooks.push_body(), secret=hooks.WRONG), id="gitea-wrong"),
        pytest.param(hooks.gitlab(secret=hooks.WRONG), id="gitlab-wrong"),
        pytest.param({"X-GitHub-Event": "push"}, id="github-missing"),
        pytest.param({"X-Gitlab-Event": "Push Hook"}, id="gitlab-missing"),
        pytest.param({}, id="no-headers"),
    ],
)
def test_a_wrong_or_missing_signature_is_401_and_triggers_nothing(listener, headers):
    """An unproven delivery gets a bare 401 and no cycle."""
    response = listener.hook(hooks.push_body(), headers)
    assert (response.status_code, response.text) == (401, "unauthorized\n")
    assert listener.pushes.events == []


def test_an_oversized_body_is_413_before_it_is_sent(start):
    """A Content-Length over the limit is refused from the headers alone."""
    listener = start(max_body_bytes=1000)
    body = hooks.push_body()
    head = "".join(f"{k}: {v}\r\n" for k, v in hooks.github(body).items())
    request = f"POST /hooks/git HTTP/1.1\r\nHost: x\r\n{head}Content-Length: 1001\r\n\r\n"
    # No body follows: the answer can only come if the server did not wait to read it.
    answer = hooks.exchange(listener.address, request.encode())
    assert hooks.status_of(answer) == 413
    assert listener.pushes.events == []


def test_the_default_limit_is_one_mebibyte(listener):
    """1 MiB + 1 byte is too large by default."""
    request = (
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
        b"Content-Length: 1048577\r\n\r\n"
    )
    assert hooks.status_of(hooks.exchange(listener.address, request)) == 413


def test_expect_continue_gets_the_final_answer_for_an_oversized_body(start):
    """A client waiting for 100 Continue is told 413 instead, and never sends the body."""
    listener = start(max_body_bytes=1000)
    request = (
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    assert hooks.exchange(listener.address, request).startswith(b"HTTP/1.1 413 ")


def test_a_post_without_content_length_is_411(listener):
    """A body must announce its length; chunked bodies are not read."""
    request = (
        b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    assert hooks.status_of(hooks.exchange(listener.address, request)) == 411
    bare = b"POST /hooks/git HTTP/1.1\r\nHost: x\r\n\r\n"
    assert hooks.status_of(hooks.exchange(listener.address, bare)) == 411


def test_a_bad_content_length_is_400(listener):
    """A Content-Length that is not a number is refused."""
    request = b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    assert hooks.status_of(hooks.exchange(listener.address, request)) == 400


def test_a_replayed_delivery_is_409_and_triggers_nothing(listener):
    """The same delivery id again is refused."""
    body = hooks.push_body()
    headers = hooks.github(body, delivery="d-1")
    assert listener.hook(body, headers).status_code == 202
    assert listener.hook(body, headers).status_code == 409
    assert len(listener.pushes.events) == 1


def test_a_replayed_body_under_a_new_delivery_id_is_409(listener):
    """The delivery id is not signed: a replay with a fresh id is caught by the body."""
    body = hooks.push_body()
    assert listener.hook(body, hooks.github(body, delivery="d-1")).status_code == 202
    assert listener.hook(body, hooks.github(body, delivery="d-2")).status_code == 409
    assert len(listener.pushes.events) == 1


def test_a_rejected_delivery_does_not_burn_its_id(listener):
    """A forged delivery cannot pre-empt a genuine one by taking its id first."""
    body = hooks.push_body()
    forged = hooks.github(body, secret=hooks.WRONG, delivery="d-1")
    assert listener.hook(body, forged).status_code == 401
    assert listener.hook(body, hooks.github(body, delivery="d-1")).status_code == 202


def test_the_replay_window_is_bounded(start):
    """Only the last deliveries are remembered; older ones fall out."""
    listener = start(replay_window=2)
    bodies = [hooks.push_body(after=f"{n:040x}") for n in range(3)]
    for body in bodies:
        assert listener.hook(body, hooks.github(body)).status_code == 202
    assert listener.hook(bodies[0], hooks.github(bodies[0])).status_code == 202
    assert listener.hook(bodies[2], hooks.github(bodies[2])).status_code == 409


def test_a_push_to_another_branch_triggers_nothing(listener):
    """Only the watched branch matters; another branch is accepted and ignored."""
    body = hooks.push_body(ref="refs/heads/feature")
    response = listener.hook(body, hooks.github(body))
    assert response.status_code == 202
    assert response.json()["triggered"] is False
    assert listener.pushes.events == []


def test_a_tag_named_like_the_branch_triggers_nothing(listener):
    """refs/tags/main is not the branch main."""
    body = hooks.push_body(ref="refs/tags/main")
    assert listener.hook(body, hooks.github(body)).json()["triggered"] is False
    assert listener.pushes.events == []


def test_a_github_ping_is_answered_pong(listener):
    """GitHub's ping on hook creation gets 200 "pong" and triggers nothing."""
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    response = listener.hook(body, hooks.github(body, event="ping"))
    assert (response.status_code, response.text) == (200, "pong\n")
    assert listener.pushes.events == []


def test_other_events_are_accepted_and_ignored(listener):
    """A genuine non-push event is 202 and triggers nothing."""
    body = b'{"action": "opened"}'
    response = listener.hook(body, hooks.github(body, event="issues"))
    assert response.status_code == 202
    assert response.json()["triggered"] is False
    assert listener.pushes.events == []


def test_a_genuine_delivery_with_a_bad_body_is_400(listener):
    """A signed body that is not a push event is a 400, with the reason."""
    body = b"not json"
    response = listener.hook(body, hooks.github(body))
    assert response.status_code == 400
    assert "not JSON" in response.text


def test_webhooks_are_off_without_a_secret(start):
    """No secret configured: /hooks/git is 404 and says how to turn it on."""
    listener = start(secret=None)
    body = hooks.push_body()
    response = listener.hook(body, hooks.github(body))
    assert response.status_code == 404
    assert "webhooks are off: set webhook_secret" in response.text
    assert listener.pushes.events == []


def test_a_failing_on_push_is_500(start):
    """A bug behind on_push answers 500 and is counted; the server keeps serving."""

    def broken(event: webhooks.PushEvent) -> bool:
        raise RuntimeError("boom")

    listener = start(on_push=broken)
    body = hooks.push_body()
    assert listener.hook(body, hooks.github(body)).status_code == 500
    assert listener.client.get("/healthz").status_code == 200
    assert sample(scrape(listener), "gitopsd_webhooks_total", result="error") == 1


def test_the_secret_is_in_no_answer_and_no_log(listener, caplog):
    """Whatever is sent, the secret's value never comes back, nor reaches a log record."""
    caplog.set_level(logging.DEBUG)
    secret = hooks.SECRET
    body = hooks.push_body()
    answers = [
        listener.hook(body, hooks.github(body)),
        listener.hook(body, hooks.github(body)),
        listener.hook(body, hooks.gitlab(secret=secret[:-1])),
        listener.hook(body, hooks.gitlab(secret=secret + "x")),
        listener.hook(secret.encode(), hooks.gitlab()),
        listener.hook(b"{}", hooks.gitlab(event="Note Hook")),
        listener.client.get("/metrics"),
    ]
    for response in answers:
        assert secret not in response.text
        assert secret not in str(response.headers)
    assert secret not in repr(listener.server)
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(vars(record))


def test_a_flood_of_forged_deliveries_logs_one_warning_and_counts_them_all(listener, caplog):
    """Thirty forged pushes: every one refused and counted, one warning line in the log."""
    caplog.set_level(logging.WARNING, logger="gitopsd.adapters.http_server")
    body = hooks.push_body()
    forged = hooks.github(body, secret="forged")  # noqa: S106 - a wrong secret on purpose
    answers = [listener.hook(body, forged) for _ in range(30)]
    assert {a.status_code for a in answers} == {401}
    assert sample(scrape(listener), "gitopsd_webhooks_total", result="unauthorized") == 30
    lines = [r for r in caplog.records if r.getMessage() == "webhook_unauthorized"]
    assert len(lines) == 1
    assert lines[0].held_back == 0


def test_the_throttle_counts_the_lines_it_held_back():
    """After the quiet period the next line says how many were held back, event by event."""
    now = [0.0]
    throttle = http_server._Throttle(every_s=10.0, clock=lambda: now[0])
    assert throttle.allow("webhook_unauthorized") == 0
    assert [throttle.allow("webhook_unauthorized") for _ in range(5)] == [None] * 5
    assert throttle.allow("webhook_replayed") == 0  # another event has its own window
    now[0] = 10.0
    assert throttle.allow("webhook_unauthorized") == 5
    assert throttle.allow("webhook_unauthorized") is None


# -- hostile clients -----------------------------------------------------------------------------


def test_a_stalled_client_does_not_delay_others_and_is_dropped(start):
    """Headers sent byte by byte, then silence: others are served, the stalled one is cut."""
    listener = start(timeout_s=1.0)
    with socket.create_connection(listener.address, timeout=WAIT_S) as slow:
        slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ":
            slow.send(bytes([byte]))
        started = time.monotonic()
        assert listener.client.get("/healthz").status_code == 200
        assert time.monotonic() - started < WAIT_S / 2
        # The server's deadline, not the client, ends the stalled request.
        assert hooks.read_to_end(slow) == b""


def test_a_trickling_client_is_dropped_at_the_deadline(start):
    """A byte at a time keeps each read alive, but not the request past its whole deadline."""
    listener = start(timeout_s=0.5)
    with socket.create_connection(listener.address, timeout=WAIT_S) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        give_up = time.monotonic() + WAIT_S
        dropped = False
        while not dropped and time.monotonic() < give_up:
            try:
                slow.send(b"a")
                readable, _, _ = select.select([slow], [], [], 0)
                dropped = bool(readable) and slow.recv(1) == b""
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
            # The pace of the trickle: one whole request by another client per byte.
            assert listener.client.get("/healthz").status_code == 200
    assert dropped


def test_connections_beyond_the_cap_get_503(start):
    """With every slot held by idle connections, the next client is refused at once."""
    listener = start(max_connections=2, timeout_s=WAIT_S * 3)
    holders = [socket.create_connection(listener.address, timeout=WAIT_S) for _ in range(2)]
    try:
        answer = hooks.exchange(listener.address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert hooks.status_of(answer) == 503
        assert answer.endswith(b"too many connections")
    finally:
        for holder in holders:
            holder.close()


def test_stop_cuts_open_connections(start):
    """stop() does not wait for idle clients: their connections are closed."""
    listener = start(timeout_s=WAIT_S * 3)
    with socket.create_connection(listener.address, timeout=WAIT_S) as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\n")
        # A completed request proves the server has accepted the earlier connection too.
        assert listener.client.get("/healthz").status_code == 200
        done = threading.Event()
        threading.Thread(target=lambda: (listener.server.stop(), done.set()), daemon=True).start()
        assert done.wait(WAIT_S)
        assert hooks.read_to_end(idle) == b""


def test_json_answers_are_json(listener):
    """Accepted deliveries answer application/json."""
    body = hooks.push_body(ref="refs/heads/other")
    response = listener.hook(body, hooks.gitlab())
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content) == {"triggered": False, "reason": "not the watched branch"}
