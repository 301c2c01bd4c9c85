"""A loopback HTTP CONNECT proxy, as a corporate network puts between gitopsd and Atlas.

``ConnectProxy()`` accepts on 127.0.0.1:<port>; for each ``CONNECT host:port`` it records the
target (``targets``) and the request's headers (``headers``), opens the tunnel and relays bytes
both ways untouched (TLS stays end to end). ``refuse`` makes it answer each CONNECT with that
status line instead, as a proxy that wants credentials or bars the host would.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType
from typing import Self

_CHUNK = 65536


class ConnectProxy:
    """A threaded CONNECT proxy on 127.0.0.1; a context manager that stops it."""

    def __init__(self, *, refuse: str = "") -> None:
        self.refuse = refuse
        self.targets: list[str] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        """The proxy's URL, as HTTPS_PROXY would name it."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and close every tunnel."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accepting.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(_CHUNK)
            if not chunk:
                return
            head += chunk
        lines = head.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        with self._lock:
            self.targets.append(target)
            self.headers.append(headers)
        if method != "CONNECT" or self.refuse:
            client.sendall(f"HTTP/1.1 {self.refuse or '405 Method Not Allowed'}\r\n\r\n".encode())
            return
        host, _, port = target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            return
        with self._lock:
            self._sockets.append(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._relay(client, upstream)

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket) -> None:
        upstream.settimeout(None)
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while True:
                for key, _ in selector.select():
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = source.recv(_CHUNK)
                        if data:
                            key.data.sendall(data)
                    except OSError:
                        data = b""
                    if not data:
                        with contextlib.suppress(OSError):
                            key.data.shutdown(socket.SHUT_WR)
                        return
