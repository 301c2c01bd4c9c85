"""Push webhooks from GitHub, GitLab and Gitea: who sent it, is it genuine, what was pushed.

Owns each forge's headers and how it proves a delivery: GitHub signs the raw body
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>``), Gitea and Forgejo sign it too
(``X-Gitea-Signature``/``X-Forgejo-Signature: <hex>``, and GitHub's header as well; both
count as ``Forge.GITEA``), GitLab sends the shared secret itself (``X-Gitlab-Token``).
Every comparison is ``hmac.compare_digest``. It also reads the delivery id, the event kind
and, for pushes, the ref and the new revision.

No I/O, clock or logging here: the server (``http_server``) decides what to answer and when
to trigger. The secret's value never reaches a return value, a repr or an exception message;
a rejected delivery gets ``None``, never a reason an attacker could learn from.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from gitopsd.credentials import Secret
from gitopsd.errors import GitopsdError

BRANCH_PREFIX = "refs/heads/"


class Forge(enum.StrEnum):
    """Where a delivery came from."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


class EventKind(enum.StrEnum):
    """What a delivery announces, as far as gitopsd cares."""

    PUSH = "push"
    PING = "ping"
    OTHER = "other"


class PayloadError(GitopsdError):
    """A genuine delivery whose body is not the push event it claims to be."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PushEvent:
    """A push: the full ref (``refs/heads/main``), the new revision, the forge's delivery id."""

    ref: str
    after: str
    delivery: str

    @property
    def branch(self) -> str | None:
        """The branch pushed to, None for a tag or another kind of ref."""
        return self.ref.removeprefix(BRANCH_PREFIX) if self.ref.startswith(BRANCH_PREFIX) else None


# The event header tells the forge apart. Gitea and Forgejo also send GitHub's headers, and
# Forgejo Gitea's, for compatibility, so the most specific forge is looked for first; within
# a forge, the first header present wins.
_EVENT_HEADERS = {
    Forge.GITEA: ("x-forgejo-event", "x-gitea-event"),
    Forge.GITLAB: ("x-gitlab-event",),
    Forge.GITHUB: ("x-github-event",),
}
_DELIVERY_HEADERS = {
    Forge.GITHUB: ("x-github-delivery",),
    Forge.GITEA: ("x-forgejo-delivery", "x-gitea-delivery"),
    Forge.GITLAB: ("x-gitlab-event-uuid",),
}
_HEX_SIGNATURE_HEADERS = ("x-forgejo-signature", "x-gitea-signature")
_PUSH_EVENTS = {Forge.GITHUB: "push", Forge.GITEA: "push", Forge.GITLAB: "Push Hook"}
_SHA256_PREFIX = "sha256="


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _first(found: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((found[name] for name in names if name in found), None)


def forge_of(headers: Mapping[str, str]) -> Forge | None:
    """The forge a delivery's event header names, None when it names none."""
    found = _lower(headers)
    return next((f for f, names in _EVENT_HEADERS.items() if _first(found, names)), None)


def verify(headers: Mapping[str, str], body: bytes, secret: Secret) -> Forge | None:
    """The forge that sent this delivery, or None unless it proves it knows ``secret``.

    ``headers`` may be any mapping (names are matched case-insensitively); ``body`` is the raw
    request body, exactly as received, since the signature covers its bytes.
    """
    found = _lower(headers)
    forge = forge_of(found)
    key = secret.reveal().encode()
    if forge is Forge.GITLAB:
        token = found.get("x-gitlab-token")
        return forge if token is not None and hmac.compare_digest(token.encode(), key) else None
    if forge is None:
        return None
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    given = _first(found, _HEX_SIGNATURE_HEADERS) if forge is Forge.GITEA else None
    if given is None:
        hub = found.get("x-hub-signature-256", "")
        if not hub.startswith(_SHA256_PREFIX):
            return None
        given = hub.removeprefix(_SHA256_PREFIX)
    return forge if hmac.compare_digest(given.strip().lower().encode(), expected) else None


def delivery_of(forge: Forge, headers: Mapping[str, str]) -> str:
    """The forge's id of this delivery ("" when it sends none, e.g. an older GitLab)."""
    return (_first(_lower(headers), _DELIVERY_HEADERS[forge]) or "").strip()


def event_kind(forge: Forge, headers: Mapping[str, str]) -> tuple[EventKind, str]:
    """What the delivery announces, and the event name as the forge spelled it."""
    name = (_first(_lower(headers), _EVENT_HEADERS[forge]) or "").strip()
    if name == _PUSH_EVENTS[forge]:
        return EventKind.PUSH, name
    if forge is Forge.GITHUB and name == "ping":
        return EventKind.PING, name
    return EventKind.OTHER, name


def parse_push(forge: Forge, headers: Mapping[str, str], body: bytes) -> PushEvent:
    """The push a verified delivery describes.

    Accepts ``application/json`` and GitHub's and Gitea's ``application/x-www-form-urlencoded``
    (the JSON in a ``payload`` field). Raises PayloadError when the body is not a push.
    """
    found = _lower(headers)
    content_type = found.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8") from None
    if content_type == "application/x-www-form-urlencoded":
        payloads = urllib.parse.parse_qs(text).get("payload", [])
        if len(payloads) != 1:
            raise PayloadError("a form-encoded delivery needs exactly one payload field")
        text = payloads[0]
    try:
        data = json.loads(text)
    except ValueError:
        raise PayloadError("the body is not JSON") from None
    except RecursionError:  # the decoder's own bound; the 1 MiB body limit allows 500k levels
        raise PayloadError("the body's JSON is nested too deeply to be a push event") from None
    if not isinstance(data, dict):
        raise PayloadError("the body is not a JSON object")
    ref, after = data.get("ref"), data.get("after")
    if not isinstance(ref, str) or not ref:
        raise PayloadError('a push needs a "ref" string')
    if not isinstance(after, str) or not after:
        raise PayloadError('a push needs an "after" string')
    return PushEvent(ref=ref, after=after, delivery=delivery_of(forge, found))
