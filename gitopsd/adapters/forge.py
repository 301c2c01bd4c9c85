"""The pull request from the report branch: httpx, token auth, retries, error mapping.

Owns the ``httpx.Client`` that talks to GitHub, GitLab or Gitea (``[forge]``), the token header
each expects, the retry loop of forge requests (backoff from ``core.backoff``, every wait on the
stop event, Retry-After honoured), the translation of failures into ``ForgeError`` and the
decision ``sync`` makes: one lookup, then at most one write. Paths, bodies and parsing live in
``forge_wire``. Deciding *when* to sync (a new report fingerprint, or a failed attempt) is the
caller's. The token never reaches a log line, an exception message or a repr.

    ForgeError                 .status, .detail (the forge's own words)
    ├── ForgeTransientError    429, 5xx, timeouts, dropped connections, rate limits: retried
    └── ForgePermanentError    other 4xx (a 422 or 409 the forge explains)
        └── ForgeConfigError   401/403 (the token), 404 on the repository: also a ConfigError
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

import httpx

from gitopsd import __version__, config, credentials
from gitopsd.adapters import atlas_wire, forge_wire
from gitopsd.adapters.forge_wire import NotFound, PullState
from gitopsd.core import backoff
from gitopsd.errors import ConfigError, GitopsdError

logger = logging.getLogger(__name__)

GITHUB_API_VERSION = "2022-11-28"
GITHUB_ACCEPT = "application/vnd.github+json, application/json;q=0.9"
_READ_FROM = "[forge] token_file (or $CREDENTIALS_DIRECTORY/forge_token, GITOPSD_FORGE_TOKEN)"
_T = TypeVar("_T")


class ForgeError(GitopsdError):
    """The forge answered with an error, or could not be reached.

    ``status`` is the HTTP status (0 when no answer arrived); ``detail`` is the forge's message.
    """

    def __init__(self, message: str, *, status: int = 0, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ForgeTransientError(ForgeError):
    """Worth retrying: rate limited, a server error, a timeout or a dropped connection."""

    def __init__(
        self, message: str, *, status: int = 0, detail: str = "", retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, status=status, detail=detail)
        self.retry_after_s = retry_after_s


class ForgePermanentError(ForgeError):
    """The forge refused the request as it stands; retrying it cannot help."""


class ForgeConfigError(ForgePermanentError, ConfigError):
    """The token or the repository in ``[forge]`` needs fixing by an operator."""


class SyncAction(enum.StrEnum):
    """What ``sync`` did to the pull request."""

    CREATED = "created"
    UPDATED = "updated"
    REOPENED = "reopened"
    CLOSED = "closed"
    UNCHANGED = "unchanged"
    NONE = "none"
    """Nothing to close: no open pull request and no drift."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestState:
    """The pull request as the forge holds it; ``url`` is its web page."""

    number: int
    url: str
    open: bool
    body_digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncResult:
    """The outcome of ``sync``; ``number`` is None and ``url`` empty for NONE."""

    action: SyncAction
    number: int | None
    url: str


class Waiter(Protocol):
    """Something to wait on that a shutdown can interrupt; ``threading.Event`` is one."""

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True when woken to stop."""
        ...


class TokenAuth(httpx.Auth):
    """The forge's token header, set per request so it is never in the client's headers."""

    def __init__(self, kind: config.ForgeKind, token: credentials.Secret) -> None:
        self._kind = kind
        self._token = token

    def __repr__(self) -> str:
        return f"TokenAuth({self._kind.value!r}, token=***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """GitHub: ``Authorization: Bearer``; GitLab: ``PRIVATE-TOKEN``; Gitea: ``token``."""
        value = self._token.reveal()
        if self._kind is config.ForgeKind.GITLAB:
            request.headers["PRIVATE-TOKEN"] = value
        elif self._kind is config.ForgeKind.GITEA:
            request.headers["Authorization"] = f"token {value}"
        else:
            request.headers["Authorization"] = f"Bearer {value}"
        yield request


class ForgeClient:
    """The one pull request from ``head`` (the report branch) into ``base`` (the watched branch).

    Args:
        settings: ``[forge]``; its ``url`` is the API root (``https://api.github.com``,
            ``https://gitlab.example.com/api/v4``, ``https://gitea.example.com/api/v1``).
        token: sent in the forge's header; None sends no credentials.
        head, base: the report branch and the watched branch.
        timeout_s: connect/read/write/pool timeout of every request.
        retry: attempts, backoff and deadline for transient errors.
        stop: every backoff wait is ``stop.wait(delay_s)``; set it to stop retrying.
        transport: the underlying transport (default: httpx's, with ``retries=0``).
        clock, wall_clock, jitter: monotonic seconds, epoch seconds (GitHub's rate-limit reset)
            and a [0, 1) draw, injectable for tests.
    """

    def __init__(
        self,
        settings: config.ForgeSettings,
        token: credentials.Secret | None,
        *,
        head: str,
        base: str,
        timeout_s: float = 30,
        retry: backoff.RetryPolicy | None = None,
        stop: Waiter | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.kind = settings.kind
        self.repo = settings.repo
        self.url = settings.url.rstrip("/")
        self._wire = forge_wire.dialect(settings.kind, settings.repo, head=head, base=base)
        self._token = token
        self._retry = retry or backoff.RetryPolicy()
        self._stop: Waiter = stop if stop is not None else threading.Event()
        self._clock, self._wall_clock, self._jitter = clock, wall_clock, jitter
        self._timeout_s = timeout_s
        headers = {"Accept": "application/json", "User-Agent": f"gitopsd/{__version__}"}
        if self.kind is config.ForgeKind.GITHUB:
            # GitHub's own media type first; its OpenAPI description (and so Prism) only
            # declares application/json, which is what GitHub answers with either way.
            headers |= {
                "Accept": GITHUB_ACCEPT,
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
            }
        self._http = httpx.Client(
            base_url=self.url,
            auth=None if token is None else TokenAuth(self.kind, token),
            headers=headers,
            transport=transport or httpx.HTTPTransport(retries=0),
            timeout=httpx.Timeout(timeout_s),
        )

    def __repr__(self) -> str:
        return f"ForgeClient({self.kind.value!r}, {self.url!r}, repo={self.repo!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- operations ------------------------------------------------------------------------

    def find(self) -> PullRequestState | None:
        """The pull request from head into base (an open one first, else the newest)."""
        found = self._find()
        if found is None:
            return None
        return PullRequestState(
            number=found.number,
            url=found.url,
            open=found.state is PullState.OPEN,
            body_digest=forge_wire.digest(found.body),
        )

    def sync(self, *, title: str, body: str, open_: bool) -> SyncResult:
        """Make the pull request show ``title`` and ``body``, open when ``open_``, else closed.

        One lookup, then at most one write: create (none yet, or the last one was merged),
        update (open, and title or body differ as text), reopen (closed, with the new text),
        close (``open_`` is False; the body, not the title, is set in the same write), or nothing.
        """
        found = self._find()
        if open_:
            if found is None or found.state is PullState.MERGED:
                if not title.strip():
                    raise ValueError("a pull request needs a title")
                answer = self._send(self._wire.create(title=title, body=body))
                number, url = self._parse(self._wire.created, answer)
                return self._done(SyncAction.CREATED, number, url)
            new_title, new_body = _changed(found, title, body)
            if found.state is PullState.CLOSED:
                edit = self._wire.edit(
                    found.number, title=new_title, body=new_body, state=PullState.OPEN
                )
                self._send(edit)
                return self._done(SyncAction.REOPENED, found.number, found.url)
            if new_title is None and new_body is None:
                return self._done(SyncAction.UNCHANGED, found.number, found.url)
            self._send(self._wire.edit(found.number, title=new_title, body=new_body, state=None))
            return self._done(SyncAction.UPDATED, found.number, found.url)
        if found is None or found.state is not PullState.OPEN:
            return self._done(SyncAction.NONE, None, "")
        # The title keeps saying what the pull request was about; the body gets the final report.
        _, new_body = _changed(found, title, body)
        edit = self._wire.edit(found.number, title=None, body=new_body, state=PullState.CLOSED)
        self._send(edit)
        return self._done(SyncAction.CLOSED, found.number, found.url)

    def _find(self) -> forge_wire.Pull | None:
        found = self._parse(self._wire.pick, self._send(self._wire.lookup()))
        again = None if found is None else self._wire.recheck(found)
        if found is None or again is None:
            return found
        listed = self._send(again)
        return self._parse(lambda data: self._wire.pick_again(data, found), listed)

    def _done(self, action: SyncAction, number: int | None, url: str) -> SyncResult:
        facts = {"forge": self.kind.value, "action": action.value, "number": number}
        logger.info("pull_request_synced", extra=facts)
        return SyncResult(action=action, number=number, url=url)

    def _parse(self, parse: Callable[[object], _T], data: object) -> _T:
        try:
            return parse(data)
        except forge_wire.ShapeError as exc:
            raise ForgePermanentError(f"{self.kind.value} answered unexpectedly: {exc}") from exc

    # -- the retry loop --------------------------------------------------------------------

    def _send(self, call: forge_wire.Call) -> object:
        """The decoded answer (None for a 404 that means "none"); transient errors retried."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(call)
            except ForgeTransientError as error:
                delay_s = backoff.delay_s(
                    self._retry,
                    attempt=attempt,
                    elapsed_s=self._clock() - started,
                    jitter=self._jitter(),
                    retry_after_s=error.retry_after_s,
                )
                if delay_s is None:
                    raise
                facts = {"forge": self.kind.value, "path": call.path, "attempt": attempt}
                logger.info(
                    "forge_retry", extra={**facts, "delay_s": delay_s, "status": error.status}
                )
                if self._stop.wait(delay_s):
                    raise

    def _attempt(self, call: forge_wire.Call) -> object:
        where = f"{call.method} {call.path}"
        content = None if call.body is None else forge_wire.encode(call.body)
        headers = {} if content is None else {"Content-Type": "application/json"}
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            message = f"{self.kind.value} {where}: no answer within {self._timeout_s:g}s"
            raise ForgeTransientError(message) from exc
        except httpx.TransportError as exc:
            message = f"{self.kind.value} {where}: connection failed ({type(exc).__name__})"
            raise ForgeTransientError(message) from exc
        if response.status_code == 404 and call.not_found is NotFound.NOTHING:
            return None
        if response.status_code >= 400:
            raise self._error(call, response)
        try:
            return forge_wire.decode(response.content)
        except forge_wire.ShapeError as exc:
            raise ForgePermanentError(f"{self.kind.value} {where}: {exc}") from exc

    def _error(self, call: forge_wire.Call, response: httpx.Response) -> ForgeError:
        status = response.status_code
        detail = self._scrub(forge_wire.describe(response.content))
        said = f": {detail}" if detail else ""
        message = f"{self.kind.value} {call.method} {call.path}: {status}{said}"
        retry_after_s = self._retry_after_s(response.headers)
        # GitHub answers 403 (or 429) to a spent rate limit, with Retry-After or a reset time.
        if status == 429 or status >= 500 or (status == 403 and retry_after_s is not None):
            return ForgeTransientError(
                message, status=status, detail=detail, retry_after_s=retry_after_s
            )
        if status in {401, 403}:
            needs = forge_wire.SCOPES.get(self.kind, "write access to pull requests")
            hint = f"check {_READ_FROM}: the token needs {needs}"
            return ForgeConfigError(f"{message} ({hint})", status=status, detail=detail)
        if status == 404 and call.not_found is NotFound.REPO:
            hint = (
                f"check [forge] repo ({self.repo!r}) and [forge] api_url ({self.url!r}):"
                " no such repository (Gitea: or branch), or the token cannot see it"
            )
            return ForgeConfigError(f"{message} ({hint})", status=status, detail=detail)
        return ForgePermanentError(message, status=status, detail=detail)

    def _retry_after_s(self, headers: Mapping[str, str]) -> float | None:
        """Retry-After, else the wait until GitHub's rate limit resets when none is left."""
        retry_after_s = atlas_wire.parse_retry_after(headers.get("Retry-After"))
        if retry_after_s is not None:
            return retry_after_s
        reset = headers.get("X-RateLimit-Reset", "").strip()
        if headers.get("X-RateLimit-Remaining", "").strip() == "0" and reset.isdigit():
            return max(0.0, float(reset) - self._wall_clock())
        return None

    def _scrub(self, text: str) -> str:
        """The forge's words without the token, should a server ever echo it."""
        if self._token is None or not self._token.reveal():
            return text
        return text.replace(self._token.reveal(), "***")


def _changed(found: forge_wire.Pull, title: str, body: str) -> tuple[str | None, str | None]:
    """The title and body to send: None where the forge already shows the same text."""
    same_title = not title.strip() or forge_wire.normalized(title) == forge_wire.normalized(
        found.title
    )
    same_body = forge_wire.normalized(body) == forge_wire.normalized(found.body)
    return (None if same_title else title), (None if same_body else body)


def from_settings(
    settings: config.ForgeSettings,
    *,
    head: str,
    base: str,
    environ: Mapping[str, str] | None = None,
    timeout_s: float = 30,
    retry: backoff.RetryPolicy | None = None,
    stop: Waiter | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ForgeClient | None:
    """The client for ``[forge]``, or None when ``kind`` is empty (no pull requests).

    The token comes from ``token_file``, ``$CREDENTIALS_DIRECTORY/forge_token`` or
    ``GITOPSD_FORGE_TOKEN``; ConfigError when it is set nowhere or cannot be read.
    """
    if not settings.enabled:
        return None
    token = credentials.read_secret("forge_token", file=settings.token_file, environ=environ)
    if token is None:
        raise ConfigError(
            f"[forge] kind is {settings.kind.value!r} but no forge token is set: name its file"
            " in [forge] token_file, or provide $CREDENTIALS_DIRECTORY/forge_token or"
            " GITOPSD_FORGE_TOKEN"
        )
    return ForgeClient(
        settings,
        token,
        head=head,
        base=base,
        timeout_s=timeout_s,
        retry=retry,
        stop=stop,
        transport=transport,
    )
