"""Push webhooks: which forge sent a delivery, whether it is genuine, and what was pushed."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from support import hooks

from gitopsd.adapters import webhooks
from gitopsd.adapters.webhooks import EventKind, Forge
from gitopsd.credentials import Secret

SECRET = Secret(hooks.SECRET)
BODY = hooks.push_body()


@pytest.mark.parametrize(
    ("headers", "forge"),
    [
        (hooks.github(BODY), Forge.GITHUB),
        (hooks.gitea(BODY), Forge.GITEA),
        (hooks.gitlab(), Forge.GITLAB),
    ],
)
def test_a_genuine_delivery_names_its_forge(headers, forge):
    """Each forge's own proof of the shared secret is accepted and tells the forges apart."""
    assert webhooks.verify(headers, BODY, SECRET) is forge


@pytest.mark.parametrize(
    "headers",
    [
        hooks.github(BODY, secret=hooks.WRONG),
        hooks.gitea(BODY, secret=hooks.WRONG),
        hooks.gitlab(secret=hooks.WRONG),
        hooks.gitlab(secret=hooks.SECRET + "x"),
        hooks.gitlab(secret=""),
    ],
)
def test_a_wrong_secret_is_rejected(headers):
    """A signature or token made with another secret proves nothing."""
    assert webhooks.verify(headers, BODY, SECRET) is None


def test_the_signature_covers_the_body():
    """A signed body changed by one byte no longer verifies."""
    headers = hooks.github(BODY)
    assert webhooks.verify(headers, BODY.replace(b"main", b"mail"), SECRET) is None


@pytest.mark.parametrize(
    "missing",
    ["X-Hub-Signature-256", "X-GitHub-Event"],
)
def test_a_github_delivery_without_its_headers_is_rejected(missing):
    """No signature, or no event header to say which forge, is not genuine."""
    headers = {k: v for k, v in hooks.github(BODY).items() if k != missing}
    assert webhooks.verify(headers, BODY, SECRET) is None


def test_a_gitlab_delivery_without_a_token_is_rejected():
    """GitLab's event header alone proves nothing."""
    headers = {k: v for k, v in hooks.gitlab().items() if k != "X-Gitlab-Token"}
    assert webhooks.verify(headers, BODY, SECRET) is None


def test_a_signature_without_the_sha256_prefix_is_rejected():
    """GitHub's header is "sha256=<hex>"; a bare hex digest there is not accepted."""
    headers = hooks.github(BODY) | {"X-Hub-Signature-256": hooks.hex_hmac(BODY)}
    assert webhooks.verify(headers, BODY, SECRET) is None


def test_a_gitea_delivery_with_only_the_github_signature_is_gitea():
    """Gitea's GitHub-style signature is enough, and the delivery is still Gitea's."""
    headers = {k: v for k, v in hooks.gitea(BODY).items() if k != "X-Gitea-Signature"}
    assert webhooks.verify(headers, BODY, SECRET) is Forge.GITEA


def test_a_forgejo_delivery_is_read_as_gitea():
    """Forgejo's own headers are accepted, and its delivery id is read."""
    headers = {
        "X-Forgejo-Event": "push",
        "X-Forgejo-Delivery": "fj-1",
        "X-Forgejo-Signature": hooks.hex_hmac(BODY),
    }
    assert webhooks.verify(headers, BODY, SECRET) is Forge.GITEA
    assert webhooks.delivery_of(Forge.GITEA, headers) == "fj-1"
    assert webhooks.event_kind(Forge.GITEA, headers)[0] is EventKind.PUSH


def test_header_names_are_matched_in_any_case():
    """HTTP header names are case-insensitive."""
    headers = {k.lower(): v for k, v in hooks.github(BODY).items()}
    assert webhooks.verify(headers, BODY, SECRET) is Forge.GITHUB


def test_an_uppercase_hex_signature_verifies():
    """Hex digits are compared without regard to case."""
    signature = "sha256=" + hooks.hex_hmac(BODY).upper()
    headers = hooks.github(BODY) | {"X-Hub-Signature-256": signature}
    assert webhooks.verify(headers, BODY, SECRET) is Forge.GITHUB


def test_a_delivery_from_no_known_forge_is_rejected():
    """Without an event header of a known forge there is nothing to verify against."""
    headers = {"X-Hub-Signature-256": "sha256=" + hooks.hex_hmac(BODY)}
    assert webhooks.verify(headers, BODY, SECRET) is None


@pytest.mark.parametrize(
    ("forge", "headers", "delivery"),
    [
        (Forge.GITHUB, hooks.github(BODY, delivery="gh-1"), "gh-1"),
        (Forge.GITEA, hooks.gitea(BODY, delivery="gt-1"), "gt-1"),
        (Forge.GITLAB, hooks.gitlab(delivery="gl-1"), "gl-1"),
    ],
)
def test_a_push_gives_ref_revision_and_delivery(forge, headers, delivery):
    """The ref, the new revision and the forge's delivery id are read."""
    event = webhooks.parse_push(forge, headers, BODY)
    assert event == webhooks.PushEvent(ref="refs/heads/main", after=hooks.SHA, delivery=delivery)
    assert event.branch == "main"


def test_a_tag_push_has_no_branch():
    """A ref outside refs/heads/ names no branch."""
    body = hooks.push_body(ref="refs/tags/v1")
    event = webhooks.parse_push(Forge.GITHUB, hooks.github(body), body)
    assert event.branch is None


def test_a_form_encoded_github_delivery_is_read():
    """GitHub's default content type carries the JSON in a payload field."""
    body = urllib.parse.urlencode({"payload": BODY.decode()}).encode()
    headers = hooks.github(body) | {"Content-Type": "application/x-www-form-urlencoded"}
    assert webhooks.verify(headers, body, SECRET) is Forge.GITHUB
    assert webhooks.parse_push(Forge.GITHUB, headers, body).after == hooks.SHA


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        json.dumps({"after": hooks.SHA}).encode(),
        json.dumps({"ref": "refs/heads/main", "after": 7}).encode(),
        json.dumps({"ref": "", "after": hooks.SHA}).encode(),
    ],
)
def test_a_body_that_is_not_a_push_is_a_payload_error(body):
    """Bad bytes, non-JSON, non-objects and missing fields raise PayloadError."""
    with pytest.raises(webhooks.PayloadError):
        webhooks.parse_push(Forge.GITHUB, hooks.github(body), body)


def test_a_form_without_a_payload_is_a_payload_error():
    """A form-encoded delivery needs its payload field."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    with pytest.raises(webhooks.PayloadError, match="payload"):
        webhooks.parse_push(Forge.GITHUB, headers, b"other=1")


@pytest.mark.parametrize(
    ("forge", "headers", "kind"),
    [
        (Forge.GITHUB, hooks.github(BODY), EventKind.PUSH),
        (Forge.GITHUB, hooks.github(BODY, event="ping"), EventKind.PING),
        (Forge.GITHUB, hooks.github(BODY, event="issues"), EventKind.OTHER),
        (Forge.GITEA, hooks.gitea(BODY), EventKind.PUSH),
        (Forge.GITEA, hooks.gitea(BODY, event="create"), EventKind.OTHER),
        (Forge.GITLAB, hooks.gitlab(), EventKind.PUSH),
        (Forge.GITLAB, hooks.gitlab(event="Tag Push Hook"), EventKind.OTHER),
    ],
)
def test_event_kinds(forge, headers, kind):
    """Only each forge's push event is a push; GitHub's ping is a ping."""
    assert webhooks.event_kind(forge, headers)[0] is kind


def test_a_missing_delivery_id_is_empty():
    """Older GitLab sends no event UUID; the delivery id is then empty."""
    headers = {k: v for k, v in hooks.gitlab().items() if k != "X-Gitlab-Event-UUID"}
    assert webhooks.delivery_of(Forge.GITLAB, headers) == ""


def test_the_secret_is_not_in_a_payload_error():
    """Errors about a delivery never quote the secret, even when the body contains it."""
    body = hooks.SECRET.encode()
    with pytest.raises(webhooks.PayloadError) as caught:
        webhooks.parse_push(Forge.GITLAB, hooks.gitlab(), body)
    assert hooks.SECRET not in str(caught.value)
