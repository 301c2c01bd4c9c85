"""The forge client against a stateful fake GitHub, GitLab and Gitea over real HTTP.

Each test runs once per forge. The fake keeps the pull requests and logs every request, so the
tests check what the forge ends up showing and how few requests got it there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from support.forge_server import BRANCHES, ForgeServer

from gitopsd import config, credentials
from gitopsd.adapters import forge, forge_wire
from gitopsd.core.backoff import RetryPolicy
from gitopsd.errors import ConfigError

TOKEN = "ghp_SECRET-zq7Xv2-do-not-print"  # noqa: S105 - distinctive, so a leak is easy to spot
HEAD, BASE = BRANCHES[1], BRANCHES[0]
TITLE = "gitopsd: 2 clusters drifted"


class RecordingStop:
    """A stop event that never stops and remembers each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        """Record the wait; do not stop."""
        self.waits.append(timeout or 0.0)
        return False


@pytest.fixture(params=["github", "gitlab", "gitea"])
def server(request) -> Iterator[ForgeServer]:
    """A fake forge of each kind that accepts ``TOKEN``."""
    with ForgeServer(request.param, token=TOKEN) as made:
        yield made


@pytest.fixture
def stop() -> RecordingStop:
    """The client's stop event, recording backoff waits."""
    return RecordingStop()


def settings_for(server: ForgeServer, repo: str | None = None) -> config.ForgeSettings:
    """``[forge]`` pointing at the fake."""
    return config.ForgeSettings(
        kind=config.ForgeKind(server.kind), api_url=server.api_url, repo=repo or server.repo
    )


def client_for(
    server: ForgeServer, stop: RecordingStop, *, token: str = TOKEN, repo: str | None = None
) -> forge.ForgeClient:
    """A client on the fake with a quick, bounded retry budget."""
    return forge.ForgeClient(
        settings_for(server, repo),
        credentials.Secret(token),
        head=HEAD,
        base=BASE,
        timeout_s=10,
        retry=RetryPolicy(max_attempts=3, deadline_s=30),
        stop=stop,
    )


@pytest.fixture
def client(server, stop) -> Iterator[forge.ForgeClient]:
    """A client on the fake."""
    with client_for(server, stop) as made:
        yield made


def test_creates_pull_request_when_drift_appears(server, client):
    """No pull request and drift: one lookup, one create from the report branch."""
    result = client.sync(title=TITLE, body="drift #1", open_=True)
    assert result.action is forge.SyncAction.CREATED
    [pull] = server.pulls
    assert (pull.head, pull.base, pull.title, pull.body, pull.open) == (
        HEAD,
        BASE,
        TITLE,
        "drift #1",
        True,
    )
    assert result.number == pull.number
    assert result.url.endswith(str(pull.number))
    assert [r.method for r in server.requests] == ["GET", "POST"]


def test_updates_body_when_report_changes(server, client):
    """An open pull request with another report gets the new body in one write."""
    number = server.add_pull(title=TITLE, body="drift #1")
    server.forget_requests()
    result = client.sync(title=TITLE, body="drift #2", open_=True)
    assert (result.action, result.number) == (forge.SyncAction.UPDATED, number)
    assert server.pull(number).body == "drift #2"
    [write] = server.writes
    assert write.method in {"PATCH", "PUT"}
    assert "title" not in write.body  # unchanged, so not sent


def test_unchanged_body_makes_no_write(server, client):
    """The same title and body as shown: one lookup, no write."""
    number = server.add_pull(title=TITLE, body="drift #1\n")
    server.forget_requests()
    result = client.sync(title=TITLE, body="drift #1", open_=True)
    assert (result.action, result.number) == (forge.SyncAction.UNCHANGED, number)
    assert [r.method for r in server.requests] == ["GET"]


def test_closes_when_drift_is_gone(server, client):
    """No drift: the open pull request gets the final report (title kept), closed in one write."""
    number = server.add_pull(title=TITLE, body="drift #1")
    server.forget_requests()
    result = client.sync(title="gitopsd: in sync", body="all in sync", open_=False)
    assert (result.action, result.number) == (forge.SyncAction.CLOSED, number)
    pull = server.pull(number)
    assert (pull.open, pull.body, pull.title) == (False, "all in sync", TITLE)
    assert len(server.writes) == 1


def test_nothing_open_and_no_drift_is_none(server, client):
    """No drift and nothing open: no write, action none."""
    server.add_pull(title=TITLE, body="old", open_=False)
    server.forget_requests()
    result = client.sync(title=TITLE, body="all in sync", open_=False)
    assert (result.action, result.number, result.url) == (forge.SyncAction.NONE, None, "")
    assert server.writes == ()


def test_reopens_on_new_drift(server, client):
    """Drift after a close reopens the same pull request with the new report."""
    first = client.sync(title=TITLE, body="drift #1", open_=True)
    client.sync(title=TITLE, body="in sync", open_=False)
    server.forget_requests()
    result = client.sync(title=TITLE, body="drift #2", open_=True)
    assert (result.action, result.number) == (forge.SyncAction.REOPENED, first.number)
    pull = server.pull(first.number)
    assert (pull.open, pull.body) == (True, "drift #2")
    assert len(server.writes) == 1
    assert len(server.pulls) == 1


def test_merged_pull_request_gets_a_new_one(server, client):
    """Once merged, new drift opens a new pull request, which later syncs find."""
    first = client.sync(title=TITLE, body="drift #1", open_=True)
    server.merge(first.number)
    second = client.sync(title=TITLE, body="drift #2", open_=True)
    assert second.action is forge.SyncAction.CREATED
    assert second.number != first.number
    again = client.sync(title=TITLE, body="drift #2", open_=True)
    assert (again.action, again.number) == (forge.SyncAction.UNCHANGED, second.number)
    state = client.find()
    assert state is not None
    assert (state.number, state.open) == (second.number, True)


def test_find_reports_state_and_digest(server, client):
    """find() gives number, web URL, open and the body's digest."""
    number = server.add_pull(title=TITLE, body="drift #1", open_=False)
    state = client.find()
    assert state == forge.PullRequestState(
        number=number,
        url=state.url,
        open=False,
        body_digest=forge_wire.digest("drift #1"),
    )
    assert state.url.startswith(server.url)


def test_token_sent_in_the_right_header(server, client):
    """GitHub: Bearer + API version; GitLab: PRIVATE-TOKEN; Gitea: Authorization: token."""
    client.sync(title=TITLE, body="drift #1", open_=True)
    for logged in server.requests:
        headers = logged.headers
        if server.kind == "github":
            assert headers["authorization"] == f"Bearer {TOKEN}"
            assert headers["accept"].split(",")[0] == "application/vnd.github+json"
            assert headers["x-github-api-version"] == "2022-11-28"
        elif server.kind == "gitlab":
            assert headers["private-token"] == TOKEN
            assert "authorization" not in headers
        else:
            assert headers["authorization"] == f"token {TOKEN}"


def test_wrong_token_is_a_config_error_without_the_token(server, stop, caplog):
    """A refused token names [forge] token_file; the token is nowhere in the error or logs."""
    wrong = "wrong-TOKEN-8f3kQ-do-not-print"
    caplog.set_level(logging.DEBUG)
    with (
        client_for(server, stop, token=wrong) as client,
        pytest.raises(forge.ForgeConfigError) as caught,
    ):
        client.sync(title=TITLE, body="drift", open_=True)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.status == 401
    assert "[forge] token_file" in str(error)
    for text in (str(error), repr(error), repr(client), caplog.text, str(error.__cause__)):
        assert wrong not in text
    assert len(server.requests) == 1  # not retried


def test_rate_limit_waits_retry_after_then_succeeds(server, client, stop):
    """429 with Retry-After: the client waits at least that long, then goes on."""
    server.fail_next(429, retry_after_s=7)
    result = client.sync(title=TITLE, body="drift", open_=True)
    assert result.action is forge.SyncAction.CREATED
    assert stop.waits
    assert stop.waits[0] >= 7
    first, retried = server.requests[:2]
    assert (first.status, retried.path) == (429, first.path)


def test_server_error_is_retried(server, client, stop):
    """A 502 then success: retried, one wait, one pull request."""
    server.fail_next(502)
    result = client.sync(title=TITLE, body="drift", open_=True)
    assert result.action is forge.SyncAction.CREATED
    assert len(stop.waits) == 1
    assert len(server.pulls) == 1


def test_retries_are_bounded(server, client, stop):
    """Server errors beyond the attempt budget raise a transient error."""
    server.fail_next(503, times=5)
    with pytest.raises(forge.ForgeTransientError) as caught:
        client.sync(title=TITLE, body="drift", open_=True)
    assert caught.value.status == 503
    assert len(server.requests) == 3
    assert len(stop.waits) == 2


def test_missing_repository_names_forge_repo(server, stop):
    """A repository that is not there (or not visible) is an error naming [forge] repo."""
    with (
        client_for(server, stop, repo="acme/nope") as client,
        pytest.raises(forge.ForgeConfigError) as caught,
    ):
        client.sync(title=TITLE, body="drift", open_=True)
    assert "[forge] repo" in str(caught.value)
    assert caught.value.status == 404
    assert TOKEN not in str(caught.value)


def test_refusal_carries_the_forge_words(server, client):
    """A second open pull request for the same branches is refused; the forge's words are kept."""
    client.sync(title=TITLE, body="drift", open_=True)
    with pytest.raises(forge.ForgePermanentError) as caught:
        client._send(client._wire.create(title=TITLE, body="again"))
    assert caught.value.status in {409, 422}
    assert "already exists" in caught.value.detail


def test_client_repr_hides_the_token(server, client):
    """repr shows kind, URL and repository, never the token."""
    assert TOKEN not in repr(client)
    assert server.kind in repr(client)


def test_from_settings_is_none_when_off():
    """No [forge] kind: no client."""
    assert forge.from_settings(config.ForgeSettings(), head=HEAD, base=BASE) is None


def test_from_settings_reads_the_token_file(server, tmp_path):
    """The token comes from [forge] token_file and is sent."""
    path = tmp_path / "forge_token"
    path.write_text(TOKEN + "\n")
    settings = settings_for(server)
    settings = config.ForgeSettings(
        kind=settings.kind, api_url=settings.api_url, repo=settings.repo, token_file=str(path)
    )
    made = forge.from_settings(settings, head=HEAD, base=BASE, environ={})
    assert made is not None
    with made:
        assert made.sync(title=TITLE, body="drift", open_=True).action is forge.SyncAction.CREATED


def test_from_settings_reads_the_environment(server):
    """Without a file, GITOPSD_FORGE_TOKEN is used."""
    environ = {"GITOPSD_FORGE_TOKEN": TOKEN}
    made = forge.from_settings(settings_for(server), head=HEAD, base=BASE, environ=environ)
    assert made is not None
    with made:
        assert made.find() is None


def test_from_settings_without_a_token_is_a_config_error(server):
    """[forge] on and no token anywhere: a ConfigError naming where it is read from."""
    with pytest.raises(ConfigError) as caught:
        forge.from_settings(settings_for(server), head=HEAD, base=BASE, environ={})
    assert "[forge] token_file" in str(caught.value)
    assert "GITOPSD_FORGE_TOKEN" in str(caught.value)


def test_malformed_repo_is_a_config_error(server):
    """A repo without owner/name is refused before any request."""
    with pytest.raises(ConfigError) as caught:
        forge.ForgeClient(settings_for(server, repo="just-a-name"), None, head=HEAD, base=BASE)
    assert "[forge] repo" in str(caught.value)
    assert server.requests == ()


def test_rate_limit_refusal_with_retry_after_is_retried(server, client, stop):
    """A 403 carrying Retry-After (GitHub's secondary rate limit) is waited out, not fatal."""
    server.fail_next(403, retry_after_s=4)
    result = client.sync(title=TITLE, body="drift", open_=True)
    assert result.action is forge.SyncAction.CREATED
    assert stop.waits[0] >= 4
