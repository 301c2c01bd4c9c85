"""The emulator over real HTTP: a ThreadingHTTPServer on loopback and the `Emulator` handle.

Owns the socket, translating HTTP to `wire.Request` and `wire.Response` back, the delay and
dropped-connection side of fault injection, and the start/stop lifecycle. Every answer is
decided by `routes` or `admin` under the hub's lock; this module holds no Atlas rules.
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self

from gitopsd.emulator import admin, auth, problems, routes, wire


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 overflows when a client opens 32 connections at
    # once; the kernel then makes the extra ones retry after a second.
    request_queue_size = 128
    hub: wire.Hub
    stopping: threading.Event


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers, about 40 ms per answer.
    disable_nagle_algorithm = True
    server_version = "gitopsd-atlas-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: the request log is the record."""

    def _request(self) -> wire.Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        return wire.Request(
            method=self.command,
            target=self.path,
            path=parsed.path,
            query=query,
            headers=headers,
            body=body,
        )

    def _answer(self) -> None:
        request = self._request()
        hub = self.server.hub
        with hub.lock:
            if request.path.startswith(admin.PREFIX + "/"):
                response = admin.handle(hub, request)
            elif request.path == routes.TOKEN_PATH:
                response = routes.handle_token(hub, request)
                hub.record(request, response, "basic")
            elif request.path.startswith(routes.API_PREFIX + "/"):
                response, scheme = routes.handle_api(hub, request)
                hub.record(request, response, scheme)
            else:
                problem = problems.ApiProblemError(
                    404, problems.RESOURCE_NOT_FOUND, f"cannot find resource {request.path}"
                )
                response = wire.problem_response(problem)
        if response.delay_s:
            self.server.stopping.wait(response.delay_s)
        if response.drop:
            self.close_connection = True
            return
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout was shorter than the injected latency): what a
            # server sees then, not an emulator error worth a traceback on stderr.
            self.close_connection = True

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = do_HEAD = _answer  # noqa: N815


class Emulator:
    """A stateful Atlas Admin API v2 emulator serving real HTTP.

    Args:
        state: a /_emulator/state document to seed from (None: empty).
        host, port: where to listen; port 0 picks a free port (read `.url` after start()).
        credentials: the accepted service account and API key (default: fixed, documented).
        token_lifetime_s: lifetime of issued bearer tokens.
        updating_s: how long a cluster stays UPDATING after a cluster PATCH (0: never).
        seed: seeds ids and fault injection, so runs are reproducible.
        clock: monotonic seconds; inject a fake to expire tokens or end UPDATING in tests.
        faults: a PUT /_emulator/faults document to start with.
    """

    def __init__(
        self,
        state: Mapping[str, object] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: auth.Credentials | None = None,
        token_lifetime_s: float = 3600.0,
        updating_s: float = 0.0,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        faults: Mapping[str, object] | None = None,
    ) -> None:
        self.credentials = credentials or auth.Credentials()
        self.hub = wire.Hub(
            credentials=self.credentials,
            token_lifetime_s=token_lifetime_s,
            updating_s=updating_s,
            clock=clock,
            seed=seed,
        )
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        with self.hub.lock:
            if state is not None:
                self.hub.world.load(state)
            if faults is not None:
                admin.set_faults(self.hub, dict(faults))

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:40123 (only once started)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Bind the socket and serve in a background thread."""
        if self._server is not None:
            return self
        server = _Server(self._address, _Handler)
        server.hub, server.stopping = self.hub, threading.Event()
        self._server = server
        with self.hub.lock:
            self.hub.base_url = self.url
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="atlas-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
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
