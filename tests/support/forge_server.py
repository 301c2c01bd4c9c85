"""A stateful GitHub, GitLab or Gitea pull-request server on 127.0.0.1, over real HTTP.

A test double of an external system, like the Atlas emulator: one ``ForgeServer`` speaks one
forge's API (the operations ``gitopsd.adapters.forge`` uses), keeps the pull requests of one
repository, enforces what the real service enforces, and logs every request::

    with ForgeServer("gitlab", token="...") as forge:
        settings = config.ForgeSettings(kind=..., api_url=forge.api_url, repo=forge.repo)
        forge.merge(1)                       # a reviewer merges !1
        forge.fail_next(429, retry_after_s=2)
        forge.requests                       # (Logged(method, path, ..., status), ...)

What it enforces (from the contracts in ``shared/reference/forge-openapi`` and the servers' own
rules): the token header of each forge (a wrong token is 401, no token is 404 because the
repository is private); required fields (GitHub 422 ``missing_field``; GitLab 400 ``"title is
missing"``; Gitea 422 binding errors, as its Go struct requires head, base and title); known
branches; one open pull request per head and base (GitHub 422, GitLab and Gitea 409); merged
ones cannot change state (GitHub 422, Gitea 412; GitLab ignores the state event); success codes
(GitHub 201/200; GitLab 201/200; Gitea 201 for create *and* edit); JSON bodies only.
Gitea's lookup by base and head answers the *oldest* match of any state, as Gitea's unordered
query does in practice. Scripted faults (``fail_next``) answer before anything else.
"""

from __future__ import annotations

import dataclasses
import http
import http.server
import json
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Self

KINDS = ("github", "gitlab", "gitea")
PREFIX = {"github": "", "gitlab": "/api/v4", "gitea": "/api/v1"}
TOKEN = "fake-forge-token"  # noqa: S105 - the fake's default, not a real secret
REPO = "acme/atlas-backups"
PROJECT_ID = 42
BRANCHES = ("main", "gitopsd/drift")
GITHUB_BODY_MAX = 65_536
MERGED_AT = "2025-01-02T03:04:05Z"

Json = dict[str, object]


@dataclasses.dataclass(slots=True, kw_only=True)
class Pull:
    """One pull request as the fake holds it (GitLab: a merge request, ``number`` is the iid)."""

    number: int
    title: str
    body: str
    head: str
    base: str
    open: bool = True
    merged: bool = False
    touched: int = 0
    """Order of the last write, for Gitea's ``sort=recentupdate``."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Logged:
    """One request as received, with the status answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: object
    status: int


class _Refused(Exception):  # noqa: N818 - control flow inside the fake, never escapes it
    def __init__(self, status: int, body: object, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, tuple(headers)


def pull_json(kind: str, pull: Pull, *, root: str, repo: str = REPO) -> Json:
    """``pull`` in the forge's JSON (the fields gitopsd reads, and a few around them)."""
    owner = repo.split("/", maxsplit=1)[0]
    if kind == "gitlab":
        state = "merged" if pull.merged else "opened" if pull.open else "closed"
        return {
            "id": 1000 + pull.number,
            "iid": pull.number,
            "project_id": PROJECT_ID,
            "title": pull.title,
            "description": pull.body,
            "state": state,
            "source_branch": pull.head,
            "target_branch": pull.base,
            "web_url": f"{root}/{repo}/-/merge_requests/{pull.number}",
        }
    web = f"{root}/{repo}/pull/{pull.number}" if kind == "github" else ""
    data: Json = {
        "id": 1000 + pull.number,
        "number": pull.number,
        "html_url": web or f"{root}/{repo}/pulls/{pull.number}",
        "state": "open" if pull.open else "closed",
        "title": pull.title,
        "body": pull.body,
        "merged_at": MERGED_AT if pull.merged else None,
        "head": {"ref": pull.head, "label": f"{owner}:{pull.head}"},
        "base": {"ref": pull.base, "label": f"{owner}:{pull.base}"},
    }
    if kind == "gitea":
        data["merged"] = pull.merged
    return data


class _State:
    """The pull requests, the fault script and the log; every method runs under ``lock``."""

    def __init__(self, kind: str, *, token: str, repo: str, branches: Iterable[str]) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.kind, self.token, self.repo = kind, token, repo
        self.owner, self.name = repo.split("/")
        self.branches = frozenset(branches)
        self.lock = threading.Lock()
        self.pulls: dict[int, Pull] = {}
        self.log: list[Logged] = []
        self.faults: deque[tuple[int, float | None]] = deque()
        self.writes = 0
        self.root = ""

    # -- dispatch ------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, object, tuple[tuple[str, str], ...]]:
        parsed = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        body: object = None
        try:
            body = self._body(headers, raw)
            status, answer, extra = self._route(method, parsed.path, query, headers, body)
        except _Refused as refused:
            status, answer, extra = refused.status, refused.body, refused.headers
        self.log.append(
            Logged(
                method=method,
                path=parsed.path,
                query=query,
                headers=headers,
                body=body,
                status=status,
            )
        )
        return status, answer, extra

    def _body(self, headers: dict[str, str], raw: bytes) -> object:
        if not raw:
            return None
        if not headers.get("content-type", "").startswith("application/json"):
            raise _Refused(415, self._message("Unsupported Media Type: send application/json"))
        try:
            return json.loads(raw)
        except ValueError:
            raise _Refused(400, self._message("Problems parsing JSON")) from None

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: object
    ) -> tuple[int, object, tuple[tuple[str, str], ...]]:
        if self.faults:
            status, retry_after_s = self.faults.popleft()
            extra = () if retry_after_s is None else (("Retry-After", f"{retry_after_s:g}"),)
            raise _Refused(status, self._message(http.HTTPStatus(status).phrase), extra)
        prefix = PREFIX[self.kind]
        if not path.startswith(prefix + "/"):
            raise self._not_found()
        parts = [urllib.parse.unquote(part) for part in path[len(prefix) + 1 :].split("/")]
        authenticated = self._authenticate(headers)
        if self.kind == "gitlab":
            status, answer = self._gitlab(method, parts, query, body, authenticated=authenticated)
        else:
            status, answer = self._hub(method, parts, query, body, authenticated=authenticated)
        return status, answer, ()

    def _message(self, text: str) -> Json:
        if self.kind == "gitlab":
            return {"message": text}
        if self.kind == "gitea":
            return {"message": text, "url": f"{self.root}/api/swagger"}
        return {"message": text, "documentation_url": "https://docs.github.com/rest"}

    def _not_found(self) -> _Refused:
        text = {"github": "Not Found", "gitlab": "404 Project Not Found"}
        return _Refused(404, self._message(text.get(self.kind, "The target couldn't be found.")))

    def _authenticate(self, headers: dict[str, str]) -> bool:
        """Whether a valid token came; 401 for a wrong one, as each forge does."""
        if self.kind == "github" and not headers.get("user-agent"):
            raise _Refused(403, self._message("Request forbidden: send a User-Agent header"))
        given = headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        schemes = {"github": {"bearer", "token"}, "gitea": {"token", "bearer"}}
        accepted = scheme.lower() in schemes.get(self.kind, {"bearer"}) and value == self.token
        if self.kind == "gitlab" and "private-token" in headers:
            given, accepted = headers["private-token"], headers["private-token"] == self.token
        if not given:
            return False
        if not accepted:
            words = {"github": "Bad credentials", "gitlab": "401 Unauthorized"}
            raise _Refused(401, self._message(words.get(self.kind, "invalid token")))
        return True

    # -- GitHub and Gitea ------------------------------------------------------------------

    def _hub(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        body: object,
        *,
        authenticated: bool,
    ) -> tuple[int, object]:
        if len(parts) < 3 or parts[0] != "repos" or not authenticated:
            raise self._not_found()
        if (parts[1].lower(), parts[2].lower()) != (self.owner.lower(), self.name.lower()):
            raise self._not_found()
        rest = parts[3:]
        if not rest and method == "GET":
            return 200, {"full_name": self.repo, "private": True}
        if rest == ["pulls"] and method == "GET":
            return 200, self._list_hub(query)
        if rest == ["pulls"] and method == "POST":
            return 201, self._render(self._create_hub(body))
        if len(rest) == 2 and rest[0] == "pulls" and rest[1].isdigit():
            pull = self._pull(int(rest[1]))
            if method == "GET":
                return 200, self._render(pull)
            if method == "PATCH":
                self._edit_hub(pull, body)
                return (201 if self.kind == "gitea" else 200), self._render(pull)
        if self.kind == "gitea" and len(rest) >= 3 and rest[0] == "pulls" and method == "GET":
            base, head = rest[1], "/".join(rest[2:])  # Gitea's route is pulls/{base}/*
            matches = sorted(self._matching(head, base), key=lambda p: p.number)
            if not matches:
                raise self._not_found()
            return 200, self._render(matches[0])
        raise self._not_found()

    def _list_hub(self, query: dict[str, str]) -> list[object]:
        state = query.get("state", "open")
        if state not in {"open", "closed", "all"}:
            raise self._invalid("state", "invalid")
        pulls = [p for p in self.pulls.values() if state == "all" or p.open == (state == "open")]
        if self.kind == "github":
            owner, colon, head = query.get("head", "").partition(":")
            if colon:  # GitHub filters by "owner:ref" only
                own = owner.lower() == self.owner.lower()
                pulls = [p for p in pulls if own and p.head == head]
            if "base" in query:
                pulls = [p for p in pulls if p.base == query["base"]]
            pulls.sort(key=lambda p: p.number, reverse=query.get("direction", "desc") == "desc")
            size = min(int(query.get("per_page", "30")), 100)
        else:
            if "base_branch" in query:
                pulls = [p for p in pulls if p.base == query["base_branch"]]
            sort = query.get("sort", "")
            if sort == "recentupdate":
                pulls.sort(key=lambda p: p.touched, reverse=True)
            else:
                pulls.sort(key=lambda p: p.number, reverse=sort != "oldest")
            size = min(int(query.get("limit", "30")), 50)
        page = int(query.get("page", "1"))
        return [self._render(p) for p in pulls[(page - 1) * size : page * size]]

    def _create_hub(self, body: object) -> Pull:
        fields = self._object(body)
        if self.kind == "gitea":
            missing = [key.title() for key in ("head", "base", "title") if not fields.get(key)]
            if missing:
                errors = [
                    {"fieldNames": [key], "classification": "RequiredError", "message": "Required"}
                    for key in missing
                ]
                raise _Refused(422, errors)
        else:
            for key in ("head", "base", "title"):
                if not isinstance(fields.get(key), str) or not fields[key]:
                    raise self._invalid(key, "missing_field")
            self._check_body(fields)
        head, base = str(fields["head"]), str(fields["base"])
        head = head.partition(":")[2] if ":" in head else head
        for key, branch in (("base", base), ("head", head)):
            if branch not in self.branches:
                if self.kind == "gitea":
                    raise self._not_found()
                raise self._invalid(key, "invalid")
        self._refuse_second_open(head, base)
        return self._add(str(fields["title"]), str(fields.get("body") or ""), head, base)

    def _edit_hub(self, pull: Pull, body: object) -> None:
        fields = self._object(body)
        self._check_body(fields)
        state = fields.get("state")
        if state is not None:
            if state not in {"open", "closed"}:
                raise self._invalid("state", "invalid")
            if pull.merged and (state == "open") != pull.open:
                if self.kind == "gitea":
                    raise _Refused(412, self._message("cannot change state of a merged pull"))
                raise self._invalid("state", "custom", "A merged pull request cannot be reopened")
            if state == "open" and not pull.open:
                self._refuse_second_open(pull.head, pull.base)
            pull.open = state == "open"
        if isinstance(fields.get("title"), str):
            pull.title = str(fields["title"])
        if isinstance(fields.get("body"), str):
            pull.body = str(fields["body"])
        self._touch(pull)

    def _invalid(self, field: str, code: str, message: str = "") -> _Refused:
        if self.kind == "gitea":
            return _Refused(422, self._message(message or f"{field}: {code}"))
        error: Json = {"resource": "PullRequest", "field": field, "code": code}
        if message:
            error["message"] = message
        return _Refused(422, {"message": "Validation Failed", "errors": [error]})

    def _check_body(self, fields: Json) -> None:
        text = fields.get("body")
        if self.kind == "github" and isinstance(text, str) and len(text) > GITHUB_BODY_MAX:
            message = f"body is too long (maximum is {GITHUB_BODY_MAX} characters)"
            raise self._invalid("body", "custom", message)

    # -- GitLab -------------------------------------------------------------------------------

    def _gitlab(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        body: object,
        *,
        authenticated: bool,
    ) -> tuple[int, object]:
        if len(parts) < 2 or parts[0] != "projects" or not authenticated:
            raise self._not_found()
        if parts[1] not in {str(PROJECT_ID), self.repo}:
            raise self._not_found()
        rest = parts[2:]
        if not rest and method == "GET":
            return 200, {"id": PROJECT_ID, "path_with_namespace": self.repo}
        if rest == ["merge_requests"] and method == "GET":
            return 200, self._list_gitlab(query)
        if rest == ["merge_requests"] and method == "POST":
            return 201, self._render(self._create_gitlab(body))
        if len(rest) == 2 and rest[0] == "merge_requests" and rest[1].isdigit():
            pull = self._pull(int(rest[1]))
            if method == "GET":
                return 200, self._render(pull)
            if method == "PUT":
                self._edit_gitlab(pull, body)
                return 200, self._render(pull)
        raise _Refused(404, {"message": "404 Not Found"})

    def _list_gitlab(self, query: dict[str, str]) -> list[object]:
        state = query.get("state", "all")
        if state not in {"opened", "closed", "locked", "merged", "all"}:
            raise _Refused(400, {"error": "state does not have a valid value"})
        pulls = [p for p in self.pulls.values() if state in {"all", self._gitlab_state(p)}]
        for key, attribute in (("source_branch", "head"), ("target_branch", "base")):
            if key in query:
                pulls = [p for p in pulls if getattr(p, attribute) == query[key]]
        pulls.sort(key=lambda p: p.number, reverse=query.get("sort", "desc") == "desc")
        size = min(int(query.get("per_page", "20")), 100)
        page = int(query.get("page", "1"))
        return [self._render(p) for p in pulls[(page - 1) * size : page * size]]

    @staticmethod
    def _gitlab_state(pull: Pull) -> str:
        return "merged" if pull.merged else "opened" if pull.open else "closed"

    def _create_gitlab(self, body: object) -> Pull:
        fields = self._object(body)
        keys = ("title", "source_branch", "target_branch")
        missing = [key for key in keys if not isinstance(fields.get(key), str) or not fields[key]]
        if missing:
            raise _Refused(400, {"error": ", ".join(f"{key} is missing" for key in missing)})
        head, base = str(fields["source_branch"]), str(fields["target_branch"])
        for branch in (head, base):
            if branch not in self.branches:
                raise _Refused(422, {"message": [f"Branch {branch!r} does not exist"]})
        self._refuse_second_open(head, base)
        return self._add(str(fields["title"]), str(fields.get("description") or ""), head, base)

    def _edit_gitlab(self, pull: Pull, body: object) -> None:
        fields = self._object(body)
        known = {"title", "description", "state_event", "target_branch", "labels"}
        if not known & fields.keys():
            raise _Refused(400, {"error": "at least one parameter must be provided"})
        event = fields.get("state_event")
        if event is not None and event not in {"close", "reopen"}:
            raise _Refused(400, {"error": "state_event does not have a valid value"})
        if not pull.merged:  # GitLab ignores a state event on a merged merge request
            if event == "reopen" and not pull.open:
                self._refuse_second_open(pull.head, pull.base)
                pull.open = True
            elif event == "close":
                pull.open = False
        if isinstance(fields.get("title"), str):
            pull.title = str(fields["title"])
        if isinstance(fields.get("description"), str):
            pull.body = str(fields["description"])
        self._touch(pull)

    # -- shared rules ------------------------------------------------------------------------

    def _object(self, body: object) -> Json:
        if not isinstance(body, dict):
            if self.kind == "gitlab":
                raise _Refused(400, {"error": "the body must be a JSON object"})
            raise _Refused(400, self._message("Problems parsing JSON"))
        return body

    def _matching(self, head: str, base: str) -> list[Pull]:
        return [p for p in self.pulls.values() if p.head == head and p.base == base]

    def _refuse_second_open(self, head: str, base: str) -> None:
        existing = [p for p in self._matching(head, base) if p.open]
        if not existing:
            return
        number = existing[0].number
        if self.kind == "github":
            message = f"A pull request already exists for {self.owner}:{head}."
            raise self._invalid("head", "custom", message)
        if self.kind == "gitlab":
            message = f"Another open merge request already exists for this source branch: !{number}"
            raise _Refused(409, {"message": [message]})
        raise _Refused(
            409, self._message(f"pull request already exists for these targets: {number}")
        )

    def _pull(self, number: int) -> Pull:
        if number not in self.pulls:
            raise _Refused(404, self._message("Not Found"))
        return self.pulls[number]

    def _add(self, title: str, body: str, head: str, base: str) -> Pull:
        pull = Pull(number=len(self.pulls) + 1, title=title, body=body, head=head, base=base)
        self.pulls[pull.number] = pull
        self._touch(pull)
        return pull

    def _touch(self, pull: Pull) -> None:
        self.writes += 1
        pull.touched = self.writes

    def _render(self, pull: Pull) -> Json:
        return pull_json(self.kind, pull, root=self.root, repo=self.repo)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK
    server_version = "gitopsd-fake-forge"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: the request log is the record."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        state = self.server.state
        with state.lock:
            status, answer, extra = state.handle(self.command, self.path, headers, raw)
        content = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer  # noqa: N815


class ForgeServer:
    """One forge (``github``, ``gitlab`` or ``gitea``) with one repository, on loopback.

    Args:
        kind: which API it speaks.
        token: the one token it accepts.
        repo: "owner/name" (GitLab: the project path; the project id is ``PROJECT_ID``).
        branches: the branches that exist; pull requests between others are refused.
    """

    def __init__(
        self,
        kind: str,
        *,
        token: str = TOKEN,
        repo: str = REPO,
        branches: Iterable[str] = BRANCHES,
    ) -> None:
        self.kind, self.token, self.repo = kind, token, repo
        self._state = _State(kind, token=token, repo=repo, branches=branches)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:40123`` (only once started)."""
        if self._server is None:
            raise RuntimeError("the fake forge is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What ``[forge] api_url`` should be: the root plus ``/api/v4`` or ``/api/v1``."""
        return self.url + PREFIX[self.kind]

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        if self._server is None:
            server = _Server(("127.0.0.1", 0), _Handler)
            server.state = self._state
            self._server = server
            self._state.root = self.url
            self._thread = threading.Thread(
                target=server.serve_forever, args=(0.05,), name="fake-forge", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests look at and do --------------------------------------------------------------

    @property
    def requests(self) -> tuple[Logged, ...]:
        """Every request so far, in order."""
        with self._state.lock:
            return tuple(self._state.log)

    @property
    def writes(self) -> tuple[Logged, ...]:
        """Every request that was not a GET."""
        return tuple(logged for logged in self.requests if logged.method != "GET")

    def forget_requests(self) -> None:
        """Empty the request log."""
        with self._state.lock:
            self._state.log.clear()

    @property
    def pulls(self) -> tuple[Pull, ...]:
        """Copies of every pull request, by number."""
        with self._state.lock:
            return tuple(dataclasses.replace(p) for _, p in sorted(self._state.pulls.items()))

    def pull(self, number: int) -> Pull:
        """A copy of one pull request."""
        with self._state.lock:
            return dataclasses.replace(self._state.pulls[number])

    def add_pull(
        self,
        *,
        title: str = "seeded",
        body: str = "",
        head: str = "gitopsd/drift",
        base: str = "main",
        open_: bool = True,
        merged: bool = False,
    ) -> int:
        """Put a pull request in place, as if made earlier; its number."""
        with self._state.lock:
            pull = self._state._add(title, body, head, base)
            pull.open, pull.merged = open_ and not merged, merged
            return pull.number

    def merge(self, number: int) -> None:
        """A reviewer merges the pull request."""
        with self._state.lock:
            pull = self._state.pulls[number]
            pull.open, pull.merged = False, True
            self._state._touch(pull)

    def fail_next(self, status: int, *, retry_after_s: float | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (and Retry-After), then normally."""
        with self._state.lock:
            self._state.faults.extend([(status, retry_after_s)] * times)
