"""Pull requests of GitHub, GitLab and Gitea on the wire, without the network.

Owns each forge's vocabulary: the request paths (relative to ``[forge] api_url``), query
parameters and JSON bodies that find, open, edit, close and reopen the one pull request from the
report branch, and reading the answers into ``Pull`` values. GitLab says merge request, ``iid``,
``description``, ``opened`` and ``state_event``; Gitea finds a pull request by base and head; so
``forge`` never branches on the kind. Pure: no httpx, no I/O, no logging, no secrets.
"""

from __future__ import annotations

import enum
import hashlib
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from gitopsd.config import ForgeKind
from gitopsd.errors import ConfigError

Json = dict[str, object]
_DETAIL_MAX = 300

SCOPES = {
    ForgeKind.GITHUB: "a fine-grained token with Pull requests: read and write, Contents: read",
    ForgeKind.GITLAB: "the api scope (Developer role or higher)",
    ForgeKind.GITEA: "the repository scope with read and write",
}
"""What the token needs, for error messages."""


class ShapeError(ValueError):
    """An answer that is not the JSON the forge documents."""


class PullState(enum.StrEnum):
    """Where a pull request stands; merged ones cannot be reopened."""

    OPEN = "open"
    CLOSED = "closed"
    MERGED = "merged"


class NotFound(enum.StrEnum):
    """What a 404 to a request means."""

    REPO = "repo"
    """The repository (or the token cannot see it): a configuration problem."""
    PULL = "pull"
    """The pull request found a moment ago is gone."""
    NOTHING = "nothing"
    """No pull request matches: an answer, not an error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Pull:
    """One pull (merge) request as the forge holds it."""

    number: int
    url: str
    state: PullState
    title: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """One request: method, path relative to the API URL, query and JSON body."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: Json | None = None
    not_found: NotFound = NotFound.REPO


def normalized(text: str) -> str:
    """Text as compared: forges may turn CRLF into LF and drop trailing whitespace."""
    return text.replace("\r\n", "\n").rstrip()


def digest(text: str) -> str:
    """``sha256:<hex>`` of the normalized text."""
    return "sha256:" + hashlib.sha256(normalized(text).encode()).hexdigest()


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _obj(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ShapeError(f"expected {what} as a JSON object")
    return value


def _items(value: object, what: str) -> list[Mapping[str, object]]:
    if not isinstance(value, list):
        raise ShapeError(f"expected {what} as a JSON array")
    return [_obj(item, what) for item in value]


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(f"expected {key!r} as a whole number")
    return value


def _str(data: Mapping[str, object], key: str, *, nullable: bool = False) -> str:
    value = data.get(key)
    if value is None and nullable:
        return ""
    if not isinstance(value, str):
        raise ShapeError(f"expected {key!r} as a string")
    return value


def _ref(data: Mapping[str, object], side: str) -> str:
    return _str(_obj(data.get(side), side), "ref")


def _newest(pulls: Iterable[Pull]) -> Pull | None:
    """An open one (newest first), else the newest: at most one is open per head and base."""
    ordered = sorted(pulls, key=lambda pull: (pull.state is PullState.OPEN, pull.number))
    return ordered[-1] if ordered else None


def decode(content: bytes) -> object:
    """An answer's JSON; an empty body is None."""
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShapeError("the answer is not JSON") from exc


def encode(body: Json) -> bytes:
    """A request body as compact JSON with sorted keys."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def describe(content: bytes) -> str:
    """The forge's own words from an error answer, on one line, cut to a few hundred characters.

    Reads GitHub's ``message`` + ``errors[].message|field code``, GitLab's ``message`` (a string,
    a list or a field → messages object) and ``error``, and Gitea's ``message`` or its list of
    binding errors (``fieldNames`` + ``message``).
    """
    try:
        data = decode(content)
    except ShapeError:
        return ""
    text = "; ".join(part for part in _words(data) if part)
    return " ".join(text.split())[:_DETAIL_MAX]


def _words(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return [word for item in data for word in _words(item)]
    if not isinstance(data, dict):
        return []
    if "fieldNames" in data:  # Gitea's binding errors
        return [f"{', '.join(map(str, _words(data['fieldNames'])))}: {data.get('message', '')}"]
    words: list[str] = []
    for key in ("message", "error", "errors"):
        value = data.get(key)
        if isinstance(value, dict) and key == "message":  # GitLab: {"title": ["is missing"]}
            words += [f"{field} {' '.join(_words(why))}" for field, why in value.items()]
        elif isinstance(value, list) and key == "errors":  # GitHub: resource/field/code
            for item in value:
                if isinstance(item, dict) and not item.get("message"):
                    words.append(f"{item.get('field', '')} {item.get('code', '')}".strip())
                else:
                    words += _words(item.get("message") if isinstance(item, dict) else item)
        else:
            words += _words(value)
    return words


class Dialect:
    """The requests of one forge for the pull request from ``head`` into ``base`` of ``repo``.

    Subclasses fill in paths, bodies and parsing; ``recheck`` is Gitea's second look.
    """

    kind: ForgeKind

    def __init__(self, repo: str, *, head: str, base: str) -> None:
        self.repo, self.head, self.base = repo, head, base

    def lookup(self) -> Call:
        """The request that finds the pull request (any state)."""
        raise NotImplementedError

    def pick(self, data: object) -> Pull | None:
        """The pull request of ``head`` into ``base`` in the lookup's answer."""
        raise NotImplementedError

    def recheck(self, found: Pull) -> Call | None:
        """A second lookup when ``found`` may not be the newest; None when it is."""
        del found
        return None

    def pick_again(self, data: object, found: Pull) -> Pull:
        """The newest pull request, given the recheck's answer."""
        del data
        return found

    def create(self, *, title: str, body: str) -> Call:
        """The request that opens a pull request."""
        raise NotImplementedError

    def edit(
        self, number: int, *, title: str | None, body: str | None, state: PullState | None
    ) -> Call:
        """The request that changes title, body and/or state (open or closed) in one write."""
        raise NotImplementedError

    def created(self, data: object) -> tuple[int, str]:
        """Number and web URL of the pull request a create answered with."""
        raise NotImplementedError

    def _own(self, pull: Mapping[str, object], head_key: str, base_key: str) -> bool:
        return pull.get(head_key) == self.head and pull.get(base_key) == self.base


def _owner_and_name(repo: str) -> tuple[str, str]:
    owner, _, name = repo.strip().partition("/")
    if not owner or not name or "/" in name:
        raise ConfigError(f'[forge] repo {repo!r}: expected "owner/name"')
    return owner, name


class GitHub(Dialect):
    """GitHub REST (``api.github.com`` or GitHub Enterprise Server's ``/api/v3``)."""

    kind = ForgeKind.GITHUB

    def __init__(self, repo: str, *, head: str, base: str) -> None:
        super().__init__(repo, head=head, base=base)
        self.owner, name = _owner_and_name(repo)
        self._pulls = f"/repos/{_segment(self.owner)}/{_segment(name)}/pulls"

    def lookup(self) -> Call:
        """GET pulls filtered by ``owner:head`` and base, newest first, any state."""
        params = (("head", f"{self.owner}:{self.head}"), ("base", self.base), ("state", "all"))
        order = (("sort", "created"), ("direction", "desc"), ("per_page", "100"))
        return Call(method="GET", path=self._pulls, params=params + order)

    def pick(self, data: object) -> Pull | None:
        """Ours among the listed (the head filter is ignored when malformed, so check)."""
        found = _items(data, "a pull request list")
        return _newest(self._parse(pull) for pull in found if self._own_refs(pull))

    def _own_refs(self, pull: Mapping[str, object]) -> bool:
        return _ref(pull, "head") == self.head and _ref(pull, "base") == self.base

    @staticmethod
    def _parse(data: Mapping[str, object]) -> Pull:
        state = PullState.OPEN if _str(data, "state") == "open" else PullState.CLOSED
        if data.get("merged_at") or data.get("merged") is True:
            state = PullState.MERGED
        return Pull(
            number=_int(data, "number"),
            url=_str(data, "html_url"),
            state=state,
            title=_str(data, "title"),
            body=_str(data, "body", nullable=True),
        )

    def create(self, *, title: str, body: str) -> Call:
        """POST pulls with head, base, title and body."""
        fields: Json = {"head": self.head, "base": self.base, "title": title, "body": body}
        return Call(method="POST", path=self._pulls, body=fields)

    def edit(
        self, number: int, *, title: str | None, body: str | None, state: PullState | None
    ) -> Call:
        """PATCH the pull request: title, body, state open|closed."""
        fields: Json = {}
        if title is not None:
            fields["title"] = title
        if body is not None:
            fields["body"] = body
        if state is not None:
            fields["state"] = state.value
        path = f"{self._pulls}/{number}"
        return Call(method="PATCH", path=path, body=fields, not_found=NotFound.PULL)

    def created(self, data: object) -> tuple[int, str]:
        """``number`` and ``html_url``."""
        pull = _obj(data, "a pull request")
        return _int(pull, "number"), _str(pull, "html_url")


class Gitea(GitHub):
    """Gitea (and Forgejo) API v1: GitHub's shapes, but found by base and head, edits answer 201.

    Gitea's lookup by base and head returns *a* matching pull request of any state, in no
    promised order (in practice the oldest). When it is not open, a newer one may exist (the
    old one was merged and gitopsd opened another), so the pull requests into base are listed.
    """

    kind = ForgeKind.GITEA

    def lookup(self) -> Call:
        """GET pulls/{base}/{head}; 404 means there is none."""
        path = f"{self._pulls}/{_segment(self.base)}/{_segment(self.head)}"
        return Call(method="GET", path=path, not_found=NotFound.NOTHING)

    def pick(self, data: object) -> Pull | None:
        """The one answered (None after a 404)."""
        return None if data is None else self._parse(_obj(data, "a pull request"))

    def recheck(self, found: Pull) -> Call | None:
        """List every pull request into base, recently updated first, when ``found`` isn't open."""
        if found.state is PullState.OPEN:
            return None
        params = (("state", "all"), ("base_branch", self.base), ("sort", "recentupdate"))
        return Call(method="GET", path=self._pulls, params=(*params, ("limit", "50")))

    def pick_again(self, data: object, found: Pull) -> Pull:
        """The open one, else the newest, among ours in the list and ``found``."""
        listed = _items(data, "a pull request list")
        ours = [self._parse(pull) for pull in listed if self._own_refs(pull)]
        return _newest([found, *ours]) or found


class GitLab(Dialect):
    """GitLab REST v4 merge requests (``gitlab.com/api/v4`` or a self-managed instance)."""

    kind = ForgeKind.GITLAB
    _STATES: ClassVar[dict[str, PullState]] = {
        "opened": PullState.OPEN,
        "locked": PullState.OPEN,
        "merged": PullState.MERGED,
    }

    def __init__(self, repo: str, *, head: str, base: str) -> None:
        super().__init__(repo, head=head, base=base)
        project = repo.strip().strip("/")
        if not project.isdigit() and "/" not in project:
            raise ConfigError(f'[forge] repo {repo!r}: expected a project path "group/name" or id')
        self._mrs = f"/projects/{_segment(project)}/merge_requests"

    def lookup(self) -> Call:
        """GET merge_requests filtered by source and target branch, any state, newest first."""
        params = (("source_branch", self.head), ("target_branch", self.base), ("state", "all"))
        order = (("order_by", "created_at"), ("sort", "desc"))
        return Call(method="GET", path=self._mrs, params=params + order)

    def pick(self, data: object) -> Pull | None:
        """Ours among the listed."""
        listed = _items(data, "a merge request list")
        own = (pull for pull in listed if self._own(pull, "source_branch", "target_branch"))
        return _newest(self._parse(pull) for pull in own)

    def _parse(self, data: Mapping[str, object]) -> Pull:
        return Pull(
            number=_int(data, "iid"),
            url=_str(data, "web_url"),
            state=self._STATES.get(_str(data, "state"), PullState.CLOSED),
            title=_str(data, "title"),
            body=_str(data, "description", nullable=True),
        )

    def create(self, *, title: str, body: str) -> Call:
        """POST merge_requests with source_branch, target_branch, title and description."""
        fields: Json = {
            "source_branch": self.head,
            "target_branch": self.base,
            "title": title,
            "description": body,
        }
        return Call(method="POST", path=self._mrs, body=fields)

    def edit(
        self, number: int, *, title: str | None, body: str | None, state: PullState | None
    ) -> Call:
        """PUT the merge request: title, description, state_event close|reopen."""
        fields: Json = {}
        if title is not None:
            fields["title"] = title
        if body is not None:
            fields["description"] = body
        if state is not None:
            fields["state_event"] = "reopen" if state is PullState.OPEN else "close"
        path = f"{self._mrs}/{number}"
        return Call(method="PUT", path=path, body=fields, not_found=NotFound.PULL)

    def created(self, data: object) -> tuple[int, str]:
        """``iid`` (not the global ``id``) and ``web_url``."""
        mr = _obj(data, "a merge request")
        return _int(mr, "iid"), _str(mr, "web_url")


DIALECTS: dict[ForgeKind, type[Dialect]] = {
    ForgeKind.GITHUB: GitHub,
    ForgeKind.GITLAB: GitLab,
    ForgeKind.GITEA: Gitea,
}


def dialect(kind: ForgeKind, repo: str, *, head: str, base: str) -> Dialect:
    """The requests for ``kind``; ConfigError when ``repo`` does not fit it."""
    if kind not in DIALECTS:
        raise ConfigError(f"[forge] kind {kind.value!r}: no pull requests without a forge")
    return DIALECTS[kind](repo, head=head, base=base)
