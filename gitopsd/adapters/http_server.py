"""The daemon's HTTP listener: /healthz, /readyz, /metrics and the /hooks/git push webhook.

Owns the socket (a ``ThreadingHTTPServer``, loopback by default), the limits that keep hostile
or broken clients cheap, and what each endpoint answers. It must not run a cycle: a push only
calls ``on_push``, which schedules one, and cycles never run on these threads, so nothing a
client does here can block or slow a cycle. Verifying and parsing deliveries is ``webhooks``'s.

Limits, all per connection:

- one request per connection (every answer says ``Connection: close``);
- ``timeout_s`` for the *whole* request (line, headers and body), however slowly it trickles
  in, then ``timeout_s`` per write: a slowloris client is dropped, it cannot keep a thread;
- at most ``max_connections`` at once; the next one gets 503 from the accepting thread
  without a thread of its own;
- a body is read only on ``POST /hooks/git``, only with a ``Content-Length`` (411 without)
  of at most ``max_body_bytes`` (413 before reading a byte of it).

Webhook answers: 404 when no secret is configured (the endpoint is off), 401 without detail
for a missing or wrong signature, 409 for a delivery already seen (same delivery id, or the
same signed body, among the last ``replay_window``), 200 "pong" for GitHub's ping, 202 for
everything accepted, with ``{"triggered": ...}``. The secret never reaches an answer or a log.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import errno
import hashlib
import http.server
import io
import json
import logging
import re
import socket
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from gitopsd import metrics as metrics_mod
from gitopsd.adapters import webhooks
from gitopsd.credentials import Secret
from gitopsd.errors import ListenError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

logger = logging.getLogger(__name__)

HOOK_PATH = "/hooks/git"
WEBHOOKS_OFF = (
    "webhooks are off: set webhook_secret ([server] webhook_secret_file,"
    " $CREDENTIALS_DIRECTORY/webhook_secret or GITOPSD_WEBHOOK_SECRET)\n"
)
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_LENGTH = re.compile(r"[0-9]{1,18}")
_ALLOWED = {
    "/healthz": ("GET", "HEAD"),
    "/readyz": ("GET", "HEAD"),
    "/metrics": ("GET", "HEAD"),
    HOOK_PATH: ("POST",),
}
_OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 20\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n\r\n"
    b"too many connections"
)


class Health(Protocol):
    """What the daemon says about itself; both calls must be quick and never block on a cycle."""

    def alive(self) -> bool:
        """Whether the loop is alive (/healthz)."""
        ...

    def ready(self) -> tuple[bool, str]:
        """Whether a cycle succeeded recently (/readyz), and why not when it did not."""
        ...


class WebhookResult(enum.StrEnum):
    """The ``result`` label of ``gitopsd_webhooks_total``: what became of a /hooks/git request."""

    TRIGGERED = "triggered"
    NOT_TRIGGERED = "not_triggered"
    IGNORED = "ignored"
    PONG = "pong"
    DISABLED = "disabled"
    UNAUTHORIZED = "unauthorized"
    REPLAYED = "replayed"
    LENGTH_REQUIRED = "length_required"
    TOO_LARGE = "too_large"
    BAD_REQUEST = "bad_request"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = ()
    result: WebhookResult | None = None


def _text(status: int, text: str, result: WebhookResult | None = None) -> _Answer:
    return _Answer(status=status, body=text.encode(), result=result)


def _json(status: int, data: Mapping[str, object], result: WebhookResult) -> _Answer:
    body = json.dumps(data, sort_keys=True).encode() + b"\n"
    return _Answer(status=status, body=body, content_type=_JSON, result=result)


class _Seen:
    """The keys of the last deliveries (a bounded LRU); thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, keys: tuple[str, ...]) -> bool:
        """Remember ``keys``; False (and nothing remembered) when any was seen already."""
        with self._lock:
            if any(key in self._keys for key in keys):
                return False
            for key in keys:
                self._keys[key] = None
            while len(self._keys) > self._capacity:
                self._keys.popitem(last=False)
            return True


class _Throttle:
    """At most one log line per event every ``every_s``; the next one counts those held back.

    Refused webhooks are logged as a warning, but a flood of forged or replayed deliveries
    must not flood the journal (journald drops a unit's lines past its rate limit, good ones
    included); ``gitopsd_webhooks_total`` counts every one. Thread-safe.
    """

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def allow(self, event: str) -> int | None:
        """None: hold this line back; else how many were held back since the last one."""
        with self._lock:
            now = self._clock()
            last = self._last.get(event)
            if last is not None and now - last < self._every_s:
                self._held[event] += 1
                return None
            self._last[event] = now
            return self._held.pop(event, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class _App:
    health: Health
    metrics: metrics_mod.Metrics
    on_push: Callable[[webhooks.PushEvent], bool]
    watched_ref: str
    secret: Secret | None
    max_body_bytes: int
    timeout_s: float
    seen: _Seen
    throttle: _Throttle


class _DeadlineReader(socket.SocketIO):
    """Socket reads that fail once the request's deadline has passed.

    A socket timeout alone bounds each ``recv``, so a client sending a byte every few seconds
    would never time out; here every read gets only what is left of one budget.
    """

    def __init__(self, sock: socket.socket, budget_s: float) -> None:
        super().__init__(sock, "rb")
        self._socket = sock
        self._deadline = time.monotonic() + budget_s

    def readinto(self, b: WriteableBuffer) -> int | None:
        """Read what has arrived, waiting no later than the deadline."""
        remaining_s = self._deadline - time.monotonic()
        if remaining_s <= 0:
            raise TimeoutError("the request was not received in time")
        self._socket.settimeout(remaining_s)
        return super().readinto(b)


_Request = socket.socket | tuple[bytes, socket.socket]
"""What socketserver hands a server: a TCP server only ever gets the socket."""


def _connection(request: _Request) -> socket.socket:
    return request if isinstance(request, socket.socket) else request[1]


def _bind_failure(exc: OSError) -> str:
    """Why a bind failed, and what to do, in words."""
    if exc.errno == errno.EADDRINUSE:
        return "another process is listening there; stop it, or choose another port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that is not an address of this host; use one it has, e.g. 127.0.0.1"
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return "permission denied (ports below 1024 need privileges); choose a port above 1024"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve; use an IP address"
    return f"{exc.strerror or type(exc).__name__}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes a burst of connections retry after a second.
    request_queue_size = 128
    app: _App

    def __init__(self, address: tuple[str, int], app: _App, max_connections: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self._slots = threading.BoundedSemaphore(max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address (slow when DNS is)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: _Request, client_address: object) -> None:
        """Start a thread for the connection if a slot is free, else answer 503 right here."""
        connection = _connection(request)
        if not self._slots.acquire(blocking=False):
            self._refuse(connection)
            return
        with self._open_lock:
            self._open.add(connection)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(connection)
            raise

    def process_request_thread(self, request: _Request, client_address: object) -> None:
        """Serve the connection on its thread, then give its slot back."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(_connection(request))

    def handle_error(self, request: _Request, client_address: object) -> None:  # noqa: ARG002
        """Log a handler's unexpected exception instead of printing it to stderr."""
        client = {"client": str(client_address)}
        # socketserver calls this from inside its except block: the traceback is at hand.
        logger.error("http_handler_failed", exc_info=True, extra=client)  # noqa: LOG014

    def close_connections(self) -> None:
        """Cut every open connection, so their threads end now rather than at their timeout."""
        with self._open_lock:
            connections = tuple(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _release(self, request: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(request)
        self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        # Never block the accepting thread: the answer fits any socket buffer, and whatever
        # the client has sent so far is discarded, so that closing sends FIN rather than a
        # reset that could destroy the 503 before the client reads it.
        with contextlib.suppress(OSError):
            request.settimeout(0)
            request.send(_OVERLOADED)
            for _ in range(16):
                if not request.recv(65536):
                    break
        self.shutdown_request(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers, about 40 ms per answer.
    disable_nagle_algorithm = True
    server_version = "gitopsd"
    sys_version = ""

    def setup(self) -> None:
        """Read the request through a deadline for the whole of it."""
        super().setup()
        self.rfile.close()
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.server.app.timeout_s))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Send http.server's access and error lines to the debug log."""
        logger.debug(
            "http_request", extra={"client": self.client_address[0], "line": format % args}
        )

    def handle_expect_100(self) -> bool:
        """Invite the body only when it will be read; otherwise the final status says why."""
        if self._path() == HOOK_PATH and self.command == "POST" and self._refusal() is None:
            return super().handle_expect_100()
        return True

    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path

    def _route(self) -> None:
        path = self._path()
        allowed = _ALLOWED.get(path)
        if allowed is None:
            answer = _text(404, "not found\n")
        elif self.command not in allowed:
            answer = _Answer(
                status=405,
                body=b"method not allowed\n",
                headers=(("Allow", ", ".join(allowed)),),
            )
        else:
            try:
                answer = self._answer(path)
            except Exception:  # the request boundary: a bug answers 500 and is logged
                logger.exception("http_request_failed", extra={"path": path})
                error = WebhookResult.ERROR if path == HOOK_PATH else None
                answer = _text(500, "internal error\n", error)
        if answer.result is not None:
            self.server.app.metrics.count_webhook(answer.result)
        try:
            self._send(answer)
        except (ConnectionError, TimeoutError):
            # The client left or stopped reading: nothing to tell it, nothing wrong here.
            self.close_connection = True
            logger.debug("http_client_gone", extra={"client": self.client_address[0]})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _route  # noqa: N815

    def _answer(self, path: str) -> _Answer:
        app = self.server.app
        if path == "/healthz":
            return _text(200, "ok\n") if app.health.alive() else _text(503, "not alive\n")
        if path == "/readyz":
            ready, reason = app.health.ready()
            return _text(200, "ready\n") if ready else _text(503, f"not ready: {reason}\n")
        if path == "/metrics":
            body, content_type = app.metrics.render()
            return _Answer(status=200, body=body, content_type=content_type)
        return self._hook()

    def _refusal(self) -> _Answer | None:
        """Why the body of this POST will not be read, if it will not."""
        if self.server.app.secret is None:
            return _text(404, WEBHOOKS_OFF, WebhookResult.DISABLED)
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") is not None or not lengths:
            return _text(411, "Content-Length required\n", WebhookResult.LENGTH_REQUIRED)
        if len(lengths) > 1 or not _LENGTH.fullmatch(lengths[0].strip()):
            return _text(400, "bad Content-Length\n", WebhookResult.BAD_REQUEST)
        if int(lengths[0]) > self.server.app.max_body_bytes:
            limit = self.server.app.max_body_bytes
            return _text(413, f"body larger than {limit} bytes\n", WebhookResult.TOO_LARGE)
        return None

    def _hook(self) -> _Answer:
        app = self.server.app
        refusal = self._refusal()
        if refusal is not None:
            return refusal
        assert app.secret is not None  # _refusal checked
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        if len(body) < length:
            return _text(400, "incomplete body\n", WebhookResult.BAD_REQUEST)
        headers = dict(self.headers.items())
        forge = webhooks.verify(headers, body, app.secret)
        if forge is None:
            self._warn("webhook_unauthorized", {"client": self.client_address[0]})
            return _text(401, "unauthorized\n", WebhookResult.UNAUTHORIZED)
        delivery = webhooks.delivery_of(forge, headers)
        keys: tuple[str, ...] = ("body:" + hashlib.sha256(body).hexdigest(),)
        if delivery:
            keys = (*keys, f"{forge}:{delivery}")
        facts = {"forge": str(forge), "delivery": delivery}
        if not app.seen.first_time(keys):
            self._warn("webhook_replayed", facts)
            return _text(409, "delivery already received\n", WebhookResult.REPLAYED)
        kind, name = webhooks.event_kind(forge, headers)
        if kind is webhooks.EventKind.PING:
            return _text(200, "pong\n", WebhookResult.PONG)
        if kind is webhooks.EventKind.OTHER:
            reason = f"event {name!r} ignored: only push events trigger a cycle"
            return _json(202, {"triggered": False, "reason": reason}, WebhookResult.IGNORED)
        try:
            event = webhooks.parse_push(forge, headers, body)
        except webhooks.PayloadError as exc:
            return _text(400, f"bad push event: {exc}\n", WebhookResult.BAD_REQUEST)
        facts |= {"ref": event.ref, "after": event.after}
        if event.ref != app.watched_ref:
            logger.info("webhook_ignored", extra=facts)
            reason = "not the watched branch"
            return _json(202, {"triggered": False, "reason": reason}, WebhookResult.IGNORED)
        triggered = app.on_push(event)
        logger.info("webhook_push_received", extra={**facts, "triggered": triggered})
        result = WebhookResult.TRIGGERED if triggered else WebhookResult.NOT_TRIGGERED
        return _json(202, {"triggered": triggered}, result)

    def _warn(self, event: str, facts: Mapping[str, object]) -> None:
        """A refused delivery's warning, unless one was logged in the last seconds."""
        held = self.server.app.throttle.allow(event)
        if held is not None:
            logger.warning(event, extra={**facts, "held_back": held})

    def _send(self, answer: _Answer) -> None:
        self.close_connection = True
        # Reads ran on the request's deadline; each write gets the whole timeout again.
        self.connection.settimeout(self.server.app.timeout_s)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)


class HttpServer:
    """The listener on ``address`` (port 0 picks a free one; read ``url`` after ``start``).

    ``on_push`` runs on the request's thread: it must only schedule a cycle, never run one.
    ``webhook_secret`` None turns /hooks/git off (404).
    """

    def __init__(
        self,
        address: tuple[str, int],
        *,
        health: Health,
        metrics: metrics_mod.Metrics,
        on_push: Callable[[webhooks.PushEvent], bool],
        branch: str,
        webhook_secret: Secret | None,
        max_body_bytes: int = 1_048_576,
        timeout_s: float = 10.0,
        max_connections: int = 32,
        replay_window: int = 1024,
    ) -> None:
        self._address = address
        self._max_connections = max_connections
        self._app = _App(
            health=health,
            metrics=metrics,
            on_push=on_push,
            watched_ref=webhooks.BRANCH_PREFIX + branch,
            secret=webhook_secret,
            max_body_bytes=max_body_bytes,
            timeout_s=timeout_s,
            # Two keys per delivery: its id and its body's digest.
            seen=_Seen(2 * replay_window),
            throttle=_Throttle(),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        host, port = self._address
        return f"HttpServer({host!r}, {port}, webhooks={self._app.secret is not None})"

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:9187`` (only once started)."""
        if self._server is None:
            raise RuntimeError("the HTTP server is not running; call start() first")
        host, port = self._server.socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> Self:
        """Bind the socket (ListenError when it cannot be) and serve on a daemon thread."""
        if self._server is not None:
            return self
        try:
            server = _Server(self._address, self._app, self._max_connections)
        except OSError as exc:
            host, port = self._address
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise ListenError(f"cannot listen on {shown}: {_bind_failure(exc)}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="gitopsd-http", daemon=True
        )
        self._thread.start()
        logger.info(
            "http_listening",
            extra={"url": self.url, "webhooks": self._app.secret is not None},
        )
        return self

    def stop(self) -> None:
        """Stop accepting, cut open connections and close the socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
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
