"""Every request the forge client makes, against Prism serving each forge's own contract.

Prism (``--errors``) mocks ``github-pulls.yaml``, ``gitlab-mrs.yaml`` and ``gitea-pulls-mock.json``
from ``shared/reference/forge-openapi``; a request that breaks the contract gets a 4xx/5xx with
``sl-violations``. Every request goes to Prism and its verdict is kept; only the *lookup's answer*
handed back to the client is scripted (an open, closed or merged pull request, or none), so that
each path of ``sync`` (create, update, close, reopen) sends its write to Prism too.

Prism serves GitHub and GitLab answers with ``Prefer: dynamic=true``: their documented examples
break their own schemas (GitHub's ``requested_teams``, GitLab's ``illustration``), which
``--errors`` turns into 500s whatever the request. Gitea's static answers are valid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support import openapi
from support.forge_server import BRANCHES, Pull, pull_json

from gitopsd import config, credentials
from gitopsd.adapters import forge
from gitopsd.core.backoff import RetryPolicy

pytest_plugins = ["support.prism"]
pytestmark = pytest.mark.reference

REPO = "acme/atlas-backups"
HEAD, BASE = BRANCHES[1], BRANCHES[0]
TITLE = "gitopsd: 1 cluster drifted"
CONTRACTS = {
    # kind: (file, path prefix of the API root at Prism, dynamic answers)
    "github": ("github-pulls.yaml", "", True),
    "gitlab": ("gitlab-mrs.yaml", "/api/v4", True),
    "gitea": ("gitea-pulls-mock.json", "", False),  # Prism drops Swagger's basePath /api/v1
}
REQUIRED = {"github": "head", "gitlab": "source_branch", "gitea": "title"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What Prism answered to one of our requests."""

    method: str
    path: str
    status: int
    violations: str


class Relay(httpx.BaseTransport):
    """Sends each request to Prism and keeps its verdict; scripts the lookup's answer."""

    def __init__(self, kind: str, found: Pull | None, *, dynamic: bool, drop: str = "") -> None:
        self.inner = httpx.HTTPTransport(retries=0)
        self.kind, self.found, self.dynamic, self.drop = kind, found, dynamic, drop
        self.verdicts: list[Verdict] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward (maybe without a required field); answer GETs with the scripted pull request."""
        if self.dynamic:
            request.headers["Prefer"] = "dynamic=true"
        if self.drop and request.method == "POST":
            body = json.loads(request.read())
            body.pop(self.drop)
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(
                request.method, request.url, headers=headers, content=json.dumps(body).encode()
            )
        response = self.inner.handle_request(request)
        response.read()
        violations = response.headers.get("sl-violations", "")
        verdict = Verdict(request.method, request.url.path, response.status_code, violations)
        self.verdicts.append(verdict)
        if request.method != "GET" or not response.is_success:
            return response
        return self._scripted(request)

    def _scripted(self, request: httpx.Request) -> httpx.Response:
        pulls = [] if self.found is None else [pull_json(self.kind, self.found, root="http://x")]
        by_base_head = self.kind == "gitea" and request.url.path.count("/") > 4
        if not by_base_head:
            return httpx.Response(200, json=pulls, request=request)
        if not pulls:
            return httpx.Response(404, json={"message": "not found"}, request=request)
        return httpx.Response(200, json=pulls[0], request=request)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.inner.close()


@pytest.fixture(params=sorted(CONTRACTS))
def kind(request) -> str:
    """Each forge."""
    return str(request.param)


@pytest.fixture
def api_url(kind, prism_for: Callable[[Path], str]) -> str:
    """Prism mocking the forge's contract, as ``[forge] api_url``."""
    reference = Path(os.environ.get(openapi.REFERENCE_ENV) or openapi.DEFAULT_REFERENCE)
    name, prefix, _ = CONTRACTS[kind]
    return prism_for(reference / "forge-openapi" / name) + prefix


class Harness:
    """Runs one ``sync`` on Prism with the lookup answering ``found``; keeps Prism's verdicts."""

    def __init__(self, kind: str, api_url: str) -> None:
        self.kind, self.api_url = kind, api_url
        self.verdicts: list[Verdict] = []

    def __call__(
        self,
        found: Pull | None,
        *,
        body: str = "drift",
        open_: bool = True,
        drop: str | None = None,
    ) -> tuple[forge.SyncResult, list[Verdict]]:
        """The sync's result and Prism's verdict on each request it sent."""
        relay = Relay(self.kind, found, dynamic=CONTRACTS[self.kind][2], drop=drop)
        self.verdicts = relay.verdicts
        settings = config.ForgeSettings(
            kind=config.ForgeKind(self.kind), api_url=self.api_url, repo=REPO
        )
        with forge.ForgeClient(
            settings,
            credentials.Secret("contract-test"),
            head=HEAD,
            base=BASE,
            timeout_s=10,
            retry=RetryPolicy(max_attempts=1),
            transport=relay,
        ) as client:
            return client.sync(title=TITLE, body=body, open_=open_), relay.verdicts


@pytest.fixture
def sync(kind, api_url) -> Harness:
    """A harness on Prism for ``kind``."""
    return Harness(kind, api_url)


def pull(*, open_: bool = True, merged: bool = False, body: str = "old") -> Pull:
    """Our pull request, as the lookup will answer it."""
    made = Pull(number=7, title=TITLE, body=body, head=HEAD, base=BASE)
    made.open, made.merged = open_ and not merged, merged
    return made


def assert_all_valid(verdicts: list[Verdict]) -> None:
    """Prism answered every request with a 2xx."""
    assert verdicts
    for verdict in verdicts:
        assert 200 <= verdict.status < 300, verdict


def methods(verdicts: list[Verdict]) -> list[str]:
    """The methods sent, in order."""
    return [verdict.method for verdict in verdicts]


def test_lookup_and_create_requests_are_valid(kind, sync):
    """No pull request yet: the lookup and the create pass the contract."""
    result, verdicts = sync(None)
    assert result.action is forge.SyncAction.CREATED
    assert methods(verdicts) == ["GET", "POST"]
    assert_all_valid(verdicts)


def test_update_request_is_valid(kind, sync):
    """An open pull request with an older report: the body update passes the contract."""
    result, verdicts = sync(pull(body="old"), body="new")
    assert result.action is forge.SyncAction.UPDATED
    assert methods(verdicts) == ["GET", "PUT" if kind == "gitlab" else "PATCH"]
    assert_all_valid(verdicts)


def test_close_request_is_valid(kind, sync):
    """Drift gone: closing with the final report passes the contract."""
    result, verdicts = sync(pull(body="old"), body="in sync", open_=False)
    assert result.action is forge.SyncAction.CLOSED
    assert methods(verdicts)[-1] in {"PATCH", "PUT"}
    assert_all_valid(verdicts)


def test_reopen_request_is_valid(kind, sync):
    """A closed pull request and new drift: reopening passes (Gitea looks twice)."""
    result, verdicts = sync(pull(open_=False), body="new")
    assert result.action is forge.SyncAction.REOPENED
    lookups = ["GET", "GET"] if kind == "gitea" else ["GET"]
    assert methods(verdicts) == [*lookups, "PUT" if kind == "gitlab" else "PATCH"]
    assert_all_valid(verdicts)


def test_create_after_merge_is_valid(kind, sync):
    """A merged pull request and new drift: a new one is created, validly."""
    result, verdicts = sync(pull(merged=True), body="new")
    assert result.action is forge.SyncAction.CREATED
    assert methods(verdicts)[-1] == "POST"
    assert_all_valid(verdicts)


def test_unchanged_makes_only_the_lookup(kind, sync):
    """Same body: one valid lookup and nothing else."""
    result, verdicts = sync(pull(body="same"), body="same")
    assert result.action is forge.SyncAction.UNCHANGED
    assert methods(verdicts) == ["GET"]
    assert_all_valid(verdicts)


def test_contract_violation_is_caught(kind, sync):
    """The check can fail: a create without a required field is refused by Prism."""
    with pytest.raises(forge.ForgeError):
        sync(None, drop=REQUIRED[kind])
    refused = sync.verdicts[-1]
    assert refused.method == "POST"
    assert not 200 <= refused.status < 300
    assert '"location":["request","body"' in refused.violations
    assert REQUIRED[kind] in refused.violations
