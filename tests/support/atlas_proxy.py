"""A loopback HTTP proxy in front of the emulator that loses, cuts or garbles Atlas's answers.

``AtlasProxy(upstream)`` relays every request to the emulator unchanged (digest and bearer
auth pass through, as the crash test's gate does) and answers with the emulator's answer,
unless a ``Rule`` matches. Rules are tried in order; each matches a method and a path
fragment and may be limited to a number of uses. What a rule does:

- ``pass``: relay as usual (a first use that must go through, before a later rule bites);
- ``drop``: relay, so Atlas acts, then close the connection without an answer;
- ``cut``: relay, then send the status line, headers and half of the body, and close;
- ``garbage``: relay, then answer ``200`` with a body that is not JSON;
- ``lose``: close the connection without relaying: Atlas never sees the request.

``on_use`` is called (in the proxy's thread) after a rule acted, so a test can react at that
exact moment (set a stop event, send a signal) without sleeping. ``log`` lists what happened.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import httpx

ACTIONS = frozenset({"pass", "drop", "cut", "garbage", "lose"})
_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}
    | {"content-encoding", "accept-encoding", "te", "upgrade", "proxy-connection"}
)


@dataclass(slots=True)
class Rule:
    """What to do with requests of ``method`` whose path contains ``path``."""

    method: str
    path: str
    action: str
    uses: int | None = None
    """How many requests it takes; None: every one."""
    on_use: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")


@dataclass(slots=True)
class _State:
    rules: list[Rule] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    proxy: AtlasProxy

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up resets its connection: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet."""

    def _relay(self) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.partition("?")[0]
        rule = proxy.take(self.command, path)
        action = rule.action if rule else "pass"
        if action == "lose":
            self._close()
            proxy.used(rule, self.command, path, action)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        answer = proxy.upstream.request(self.command, self.path, headers=headers, content=body)
        content = answer.content
        with contextlib.suppress(ConnectionError):
            if action == "drop":
                self._close()
            elif action == "garbage":
                self._answer(200, {"Content-Type": "text/html"}, b"<html>Bad gateway</html>")
            elif action == "cut":
                self._answer(answer.status_code, dict(answer.headers), content, cut=True)
            else:
                self._answer(answer.status_code, dict(answer.headers), content)
        proxy.used(rule, self.command, path, action)

    def _answer(
        self, status: int, headers: dict[str, str], content: bytes, *, cut: bool = False
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content[: len(content) // 2] if cut else content)
        if cut:
            self.wfile.flush()
            self._close()

    def _close(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _relay  # noqa: N815


class AtlasProxy:
    """Relay 127.0.0.1:<port> to ``upstream``, bending the answers the rules pick."""

    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        self._state = _State()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.upstream.close()

    @property
    def url(self) -> str:
        """Where gitopsd's ``[atlas] base_url`` points."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def rules(self, *rules: Rule) -> None:
        """Replace the rules (none: relay everything as it is)."""
        with self._state.lock:
            self._state.rules = list(rules)

    @property
    def log(self) -> list[tuple[str, str, str]]:
        """(method, path, action) of every request a rule acted on, in order."""
        with self._state.lock:
            return list(self._state.log)

    def take(self, method: str, path: str) -> Rule | None:
        """The first rule with uses left that matches; its use is counted."""
        with self._state.lock:
            for rule in self._state.rules:
                if rule.uses == 0 or rule.method != method or rule.path not in path:
                    continue
                if rule.uses is not None:
                    rule.uses -= 1
                return rule
        return None

    def used(self, rule: Rule | None, method: str, path: str, action: str) -> None:
        """Log a rule's use and call its hook."""
        if rule is None:
            return
        with self._state.lock:
            self._state.log.append((method, path, action))
        if rule.on_use is not None:
            rule.on_use()
