"""The Atlas Admin API v2 client: httpx, auth, timeouts, retries, error mapping, concurrency.

Owns the one ``httpx.Client`` (and its connection pool), the two auth schemes (service-account
bearer tokens, API-key digest), the only retry loop of the daemon (backoff from
``core.backoff``, every wait on the stop event), the translation of httpx exceptions into
``errors.Atlas*Error``, bounded concurrency across clusters, and dry-run. It is the only
module that imports httpx; JSON shapes and media types live in ``atlas_wire``. Secrets never
reach a log line, an exception message or a repr.
"""

from __future__ import annotations

import base64
import contextvars
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Self, TypeVar

import httpx

import gitopsd
from gitopsd import credentials
from gitopsd.adapters import atlas_wire as wire
from gitopsd.adapters import http_transport
from gitopsd.core import backoff
from gitopsd.core.model import DesiredSchedule
from gitopsd.core.observed import ObservedCluster, ObservedProject, ObservedSchedule
from gitopsd.errors import (
    AtlasConfigError,
    AtlasError,
    AtlasTransientError,
    AtlasUnknownOutcomeError,
    ConfigError,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://cloud.mongodb.com"
DRY_RUN_HEADER = "X-Gitopsd-Dry-Run"
USER_AGENT = f"gitopsd/{gitopsd.__version__}"
"""Sent with every request, the token request included, as Atlas asks of API clients."""
_T = TypeVar("_T")
_R = TypeVar("_R")


class Waiter(Protocol):
    """Something to wait on that a shutdown can interrupt; ``threading.Event`` is one."""

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True when woken to stop."""
        ...


Clock = Callable[[], float]
"""Monotonic seconds."""
Jitter = Callable[[], float]
"""A draw in [0, 1) for full-jitter backoff."""


class ServiceAccountAuth(httpx.Auth):
    """OAuth2 client credentials: a cached bearer token, refreshed shortly before it expires.

    The token is fetched through the same client (so it shares pool, timeout and dry-run
    pass-through), one refresh at a time under a lock; a 401 on a cached token refreshes once.
    """

    requires_response_body = True

    def __init__(
        self,
        account: credentials.ServiceAccount,
        *,
        token_url: str,
        timeout_s: float = 30.0,
        clock: Clock = time.monotonic,
        margin_s: float = 60.0,
    ) -> None:
        self._account = account
        self._token_url = token_url
        self._timeout = httpx.Timeout(timeout_s).as_dict()
        self._clock = clock
        self._margin_s = margin_s
        self._lock = threading.Lock()
        self._token: credentials.Secret | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"ServiceAccountAuth(client_id={self._account.client_id!r})"

    def _token_request(self) -> httpx.Request:
        pair = f"{self._account.client_id}:{self._account.client_secret.reveal()}"
        return httpx.Request(
            "POST",
            self._token_url,
            data={"grant_type": "client_credentials"},
            headers={
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            extensions={"timeout": self._timeout},
        )

    def _token_flow(
        self, stale: credentials.Secret | None
    ) -> Generator[httpx.Request, httpx.Response, credentials.Secret]:
        with self._lock:
            now = self._clock()
            if self._token is not None and self._token is not stale and now < self._expires_at:
                return self._token
            response = yield self._token_request()
            if response.status_code != 200:
                error = wire.error_from_response(
                    method="POST",
                    path=wire.TOKEN_PATH,
                    status=response.status_code,
                    body=response.content,
                    retry_after=response.headers.get("Retry-After"),
                )
                if isinstance(error, AtlasTransientError):
                    error.may_have_acted = False  # no token: the request itself never went
                raise error
            data = wire.decode(response.content)
            token, lifetime_s = data.get("access_token"), data.get("expires_in", 3600)
            if not isinstance(token, str) or not isinstance(lifetime_s, int | float):
                raise AtlasError("the token endpoint answered without access_token/expires_in")
            margin_s = min(self._margin_s, float(lifetime_s) / 10)
            self._token = credentials.Secret(token)
            self._expires_at = now + float(lifetime_s) - margin_s
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Send with the cached token; on 401, refresh once and send again."""
        token = yield from self._token_flow(stale=None)
        request.headers["Authorization"] = f"Bearer {token.reveal()}"
        response = yield request
        if response.status_code == 401:
            token = yield from self._token_flow(stale=token)
            request.headers["Authorization"] = f"Bearer {token.reveal()}"
            yield request


def auth_for(
    creds: credentials.AtlasCredentials,
    *,
    base_url: str = DEFAULT_BASE_URL,
    timeout_s: float = 30.0,
    clock: Clock = time.monotonic,
) -> httpx.Auth:
    """The httpx auth for a service account (bearer) or an API key (digest)."""
    if isinstance(creds, credentials.ServiceAccount):
        token_url = base_url.rstrip("/") + wire.TOKEN_PATH
        return ServiceAccountAuth(creds, token_url=token_url, timeout_s=timeout_s, clock=clock)
    return httpx.DigestAuth(creds.public_key, creds.private_key.reveal())


def tls_context(ca_file: str) -> ssl.SSLContext | None:
    """A context trusting only the PEM bundle ``ca_file``; None ("") for the default CAs.

    The default is httpx's: certifi's bundle, or what ``SSL_CERT_FILE``/``SSL_CERT_DIR`` name.

    Raises ConfigError naming ``[atlas] ca_file`` when the file cannot be read or holds no
    certificate.
    """
    if not ca_file:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError:  # an SSLError is an OSError: this comes first
        message = f"[atlas] ca_file: {ca_file} is not a PEM certificate bundle"
        hint = "it must hold the PEM certificates of the CAs that sign Atlas's certificate"
        raise ConfigError(f"{message}: {hint}") from None
    except OSError as exc:
        message = f"[atlas] ca_file: cannot read {ca_file}: {(exc.strerror or str(exc)).lower()}"
        raise ConfigError(f'{message}; fix the path, or set it to "" for the default CAs') from None


def default_transport(*, max_idle: int, ca_file: str = "") -> httpx.BaseTransport:
    """The production transport: ``[atlas] ca_file`` and the proxy of the environment.

    Raises ConfigError when ``ca_file`` is unusable or ``HTTPS_PROXY`` names no usable proxy.
    """
    context = tls_context(ca_file)
    try:
        return http_transport.StdlibTransport(max_idle=max_idle, ssl_context=context)
    except ValueError as exc:
        raise ConfigError(f"{exc}: fix HTTPS_PROXY in gitopsd's environment") from None


class DryRunTransport(httpx.BaseTransport):
    """Lets reads (and token requests) through; records writes instead of sending them."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._lines: list[str] = []

    @property
    def lines(self) -> tuple[str, ...]:
        """``would PATCH <path> <json body>`` for every write refused so far."""
        with self._lock:
            return tuple(self._lines)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward GET/HEAD and the token POST; answer writes with a local 202."""
        if request.method in {"GET", "HEAD"} or request.url.path == wire.TOKEN_PATH:
            return self._inner.handle_request(request)
        line = f"would {request.method} {request.url.path} {request.read().decode()}".rstrip()
        with self._lock:
            self._lines.append(line)
        return httpx.Response(202, headers={DRY_RUN_HEADER: "1"}, request=request)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()


_UNSENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
    httpx.LocalProtocolError,
)
"""Transport errors raised before the request was sent whole: Atlas cannot have acted on it."""


def _transport_reason(exc: httpx.TransportError) -> str:
    """The operating system's words for a failed connection, else the error's kind."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    said = str(exc).strip()
    return said.splitlines()[0][:200] if said else type(exc).__name__


def _gave_up(error: AtlasTransientError, *, attempts: int) -> AtlasTransientError:
    """The last error, with how often gitopsd tried and what an operator can check.

    No durations: the message reaches reports, whose bytes must not change from run to run.
    """
    if error.status == 0:
        hint = (
            "check [atlas] base_url and that this host can reach it; [atlas] timeout_s,"
            " max_attempts and deadline_s bound how long gitopsd waits"
        )
    elif error.status == 429:
        hint = "Atlas kept rate-limiting: lower [atlas] concurrency, or run less often"
    else:
        hint = "Atlas kept failing: it may be having an outage; the next cycle tries again"
    tries = f"{attempts} attempt{'' if attempts == 1 else 's'}"
    return _said_again(error, f"{error} (gave up after {tries}): {hint}")


def _said_again(error: AtlasTransientError, message: str) -> AtlasTransientError:
    """``error`` with another message, every other fact of it kept."""
    return AtlasTransientError(
        message,
        retry_after_s=error.retry_after_s,
        may_have_acted=error.may_have_acted,
        status=error.status,
        error_code=error.error_code,
        detail=error.detail,
        reason=error.reason,
    )


def _unknown_if(
    unsure: AtlasError | None, error: AtlasError, *, stopping: bool = False
) -> AtlasError:
    """``error``, or the unknown outcome it leaves when an attempt may have gone through.

    ``unsure`` is the last attempt of the write that Atlas may have acted on without a clear
    answer; ``error`` how the write ended.
    """
    tail = " (not retried: gitopsd is stopping)" if stopping else ""
    if unsure is None:
        if not tail or not isinstance(error, AtlasTransientError):
            return error
        return _said_again(error, f"{error}{tail}")
    if isinstance(error, AtlasTransientError) and error.may_have_acted:
        said = f"no clear answer came: {error}{tail}"
    else:  # the last attempt was answered (refused, rate-limited), an earlier one was not
        said = f"an attempt got no clear answer ({unsure}); the next: {error}{tail}"
    return AtlasUnknownOutcomeError(
        said,
        status=error.status,
        error_code=error.error_code,
        detail=error.detail,
        reason=error.reason,
    )


def _unreadable(method: str, path: str, error: AtlasError) -> AtlasUnknownOutcomeError:
    """A write Atlas answered with success, in words gitopsd cannot read."""
    return AtlasUnknownOutcomeError(
        f"no clear answer came: {method} {path} was answered with success, but the answer"
        f" cannot be read ({error})"
    )


def _answer(path: str, parse: Callable[[], _R]) -> _R:
    """A write's answer parsed; one that is JSON but not the shape expected is no answer."""
    try:
        return parse()
    except AtlasError as error:
        raise _unreadable("PATCH", path, error) from error


class AtlasClient:
    """Typed operations on Atlas, each retried here and nowhere else.

    Args:
        base_url: e.g. ``https://cloud.mongodb.com`` or an emulator's URL.
        auth: any ``httpx.Auth`` (``auth_for(credentials)``, or a static bearer for Prism).
        timeout_s: connect/read/write/pool timeout of every request.
        retry: attempts, backoff and deadline for transient errors.
        concurrency: most requests in flight in ``map``; also sizes the connection pool.
        dry_run: send reads, record writes (``dry_run_lines``); write methods return None.
        stop: every backoff wait is ``stop.wait(delay_s)``; set it to stop retrying.
        clock, jitter: monotonic seconds and a [0, 1) draw, injectable for tests.
        transport: the underlying transport (default: ``default_transport``).
        ca_file: the PEM bundle that verifies Atlas's certificate ("" for the default CAs);
            used only when ``transport`` is not given.
        on_response: called with (method, status) after every attempt, status 0 when no
            answer came (for metrics); it must be quick and must not raise.
    """

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        timeout_s: float = 30.0,
        retry: backoff.RetryPolicy | None = None,
        concurrency: int = 8,
        dry_run: bool = False,
        stop: Waiter | None = None,
        clock: Clock = time.monotonic,
        jitter: Jitter = random.random,
        transport: httpx.BaseTransport | None = None,
        on_response: Callable[[str, int], None] | None = None,
        ca_file: str = "",
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.dry_run = dry_run
        self.rate_limit_remaining: int | None = None
        self._retry = retry or backoff.RetryPolicy()
        self._stop: Waiter = stop if stop is not None else threading.Event()
        self._clock, self._jitter = clock, jitter
        self._timeout_s = timeout_s
        url = httpx.URL(self.base_url)
        self._where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        self._timeout = httpx.Timeout(timeout_s)
        self._on_response = on_response or (lambda _method, _status: None)
        inner = transport or default_transport(max_idle=concurrency, ca_file=ca_file)
        self._dry_run_transport = DryRunTransport(inner) if dry_run else None
        self._auth_repr = repr(auth)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            transport=self._dry_run_transport or inner,
            timeout=self._timeout,
            headers={"User-Agent": USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"AtlasClient({self.base_url!r}, auth={self._auth_repr}, dry_run={self.dry_run})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    @property
    def dry_run_lines(self) -> tuple[str, ...]:
        """The writes dry-run refused, as ``would PATCH <path> <json body>`` lines."""
        return self._dry_run_transport.lines if self._dry_run_transport else ()

    # -- operations ------------------------------------------------------------------------

    def project_by_name(self, name: str) -> ObservedProject:
        """Resolve a project by its name."""
        return wire.parse_project(self._get(wire.project_by_name_path(name), wire.PROJECT_MEDIA))

    def project(self, project_id: str) -> ObservedProject:
        """Resolve a project by its id."""
        return wire.parse_project(self._get(wire.project_path(project_id), wire.PROJECT_MEDIA))

    def clusters(self, project_id: str) -> tuple[ObservedCluster, ...]:
        """Every cluster of a project, following pages of ``ITEMS_PER_PAGE`` until all are read."""
        found: list[ObservedCluster] = []
        page_num = 1
        while True:
            path, params = wire.clusters_path(project_id), wire.page_params(page_num)
            page = wire.parse_cluster_page(self._get(path, wire.CLUSTER_MEDIA, params), project_id)
            found += page.clusters
            total = page.total_count
            if len(page.clusters) < wire.ITEMS_PER_PAGE or (
                total is not None and len(found) >= total
            ):
                return tuple(found)
            page_num += 1

    def cluster(self, project_id: str, name: str) -> ObservedCluster:
        """One cluster."""
        data = self._get(wire.cluster_path(project_id, name), wire.CLUSTER_MEDIA)
        return wire.parse_cluster(data, project_id)

    def patch_cluster(
        self,
        project_id: str,
        name: str,
        *,
        backup_enabled: bool | None = None,
        pit_enabled: bool | None = None,
    ) -> ObservedCluster | None:
        """Set the backup flags; the cluster as Atlas answers, or None in dry-run."""
        body = wire.cluster_patch_body(backup_enabled=backup_enabled, pit_enabled=pit_enabled)
        path = wire.cluster_path(project_id, name)
        data = self._json("PATCH", path, wire.CLUSTER_PATCH_MEDIA, body=body)
        return None if data is None else _answer(path, lambda: wire.parse_cluster(data, project_id))

    def schedule(self, project_id: str, cluster: str) -> ObservedSchedule:
        """A cluster's backup schedule."""
        data = self._get(wire.schedule_path(project_id, cluster), wire.SCHEDULE_MEDIA)
        return wire.parse_schedule(data)

    def patch_schedule(
        self,
        project_id: str,
        cluster: str,
        desired: DesiredSchedule,
        *,
        observed: ObservedSchedule | None,
        zone_id: str | None,
    ) -> ObservedSchedule | None:
        """Replace the schedule with ``desired`` (keeping Atlas's policy id and unmanaged fields).

        Returns the schedule as Atlas answers, or None in dry-run.
        """
        policy_id = observed.policy_id if observed else None
        body = wire.schedule_patch_body(
            desired, policy_id=policy_id, zone_id=zone_id, observed=observed
        )
        path = wire.schedule_path(project_id, cluster)
        data = self._json("PATCH", path, wire.SCHEDULE_MEDIA, body=body)
        return None if data is None else _answer(path, lambda: wire.parse_schedule(data))

    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R | AtlasError]:
        """``fn`` over ``items`` with at most ``concurrency`` in flight, in input order.

        An AtlasError of one item is returned in its place, so one cluster never stops the rest.
        """

        def run(item: _T) -> _R | AtlasError:
            try:
                return fn(item)
            except AtlasError as error:
                return error

        # Each item runs in a copy of the caller's context, so log lines keep its cycle_id.
        context = contextvars.copy_context()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="atlas") as pool:
            return list(pool.map(lambda item: context.copy().run(run, item), items))

    # -- the one retry loop ----------------------------------------------------------------

    def _get(self, path: str, media: str, params: dict[str, str] | None = None) -> wire.Json:
        return self._json("GET", path, media, params=params) or {}  # None only for writes

    def _json(
        self,
        method: str,
        path: str,
        media: str,
        *,
        body: wire.Json | None = None,
        params: dict[str, str] | None = None,
    ) -> wire.Json | None:
        headers = {"Accept": media} | ({} if body is None else {"Content-Type": media})
        content = None if body is None else wire.encode(body)
        write = method not in {"GET", "HEAD"}
        unsure: AtlasError | None = None  # an attempt of this write Atlas may have acted on
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._attempt(method, path, headers, content, params)
            except AtlasTransientError as error:
                if write and error.may_have_acted:
                    unsure = error
                delay_s = backoff.delay_s(
                    self._retry,
                    attempt=attempt,
                    elapsed_s=self._clock() - started,
                    jitter=self._jitter(),
                    retry_after_s=error.retry_after_s,
                )
                if delay_s is None:
                    raise _unknown_if(unsure, _gave_up(error, attempts=attempt)) from error
                facts = {"path": path, "attempt": attempt, "delay_s": delay_s}
                logger.info("atlas_retry", extra={**facts, "status": error.status})
                if self._stop.wait(delay_s):
                    raise _unknown_if(unsure, error, stopping=True) from error
                continue
            except AtlasError as error:  # refused; but an earlier attempt may have gone through
                if unsure is None:
                    raise
                raise _unknown_if(unsure, error) from error
            if response.headers.get(DRY_RUN_HEADER):
                return None
            try:
                return wire.decode(response.content)
            except AtlasError as error:
                if not write:
                    raise
                raise _unreadable(method, path, error) from error

    def _attempt(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None,
        params: dict[str, str] | None,
    ) -> httpx.Response:
        try:
            response = self._http.request(  # an absolute URL: httpx need not merge it
                method,
                self.base_url + path,
                headers=headers,
                content=content,
                params=params,
                timeout=self._timeout,
            )
        except http_transport.CertificateError as exc:
            self._on_response(method, 0)
            raise AtlasConfigError(
                f"{method} {path}: the TLS certificate of {self._where} could not be verified"
                f" ({exc.reason}): if a proxy or a private CA signs it, set [atlas] ca_file to"
                " that CA's PEM bundle",
            ) from exc
        except http_transport.ProxyConnectError as exc:
            self._on_response(method, 0)
            raise AtlasTransientError(
                f"{method} {path}: cannot connect to {self._where} through the proxy"
                f" {exc.proxy} ({exc.reason}); the proxy comes from HTTPS_PROXY (NO_PROXY"
                " lists the hosts that bypass it)",
                may_have_acted=False,
            ) from exc
        except _UNSENT as exc:
            self._on_response(method, 0)
            raise AtlasTransientError(
                f"{method} {path}: cannot connect to {self._where} ({_transport_reason(exc)})",
                may_have_acted=False,
            ) from exc
        except httpx.TimeoutException as exc:
            self._on_response(method, 0)
            raise AtlasTransientError(
                f"{method} {path}: no answer from {self._where} within {self._timeout_s:g} s"
            ) from exc
        except httpx.TransportError as exc:
            self._on_response(method, 0)
            raise AtlasTransientError(
                f"{method} {path}: the connection to {self._where} failed before the answer"
                f" came ({_transport_reason(exc)})"
            ) from exc
        self._on_response(method, response.status_code)
        remaining = response.headers.get("RateLimit-Remaining")
        if remaining is not None and remaining.strip().isdigit():
            self.rate_limit_remaining = int(remaining)
        if response.status_code >= 400:
            raise wire.error_from_response(
                method=method,
                path=path,
                status=response.status_code,
                body=response.content,
                retry_after=response.headers.get("Retry-After"),
            )
        return response
