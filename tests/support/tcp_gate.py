"""A TCP forwarder on 127.0.0.1 that can be shut, to make a server unreachable for a while.

``TcpGate(target)`` accepts on a port of its own and relays bytes both ways to ``target``
(TLS passes through untouched). ``shut()`` closes every relayed connection and, until
``open()``, closes each new one as soon as it is accepted, as a dead proxy or a dropped route
would look to a client. ``accepted`` counts connections, ``refused`` those closed while shut.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType
from typing import Self

_CHUNK = 65536


class TcpGate:
    """Relay 127.0.0.1:<port> to ``target`` while open; refuse while shut."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open = threading.Event()
        self._open.set()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        self.refused = 0
        self._acceptor = threading.Thread(target=self._accept, name="tcp-gate", daemon=True)

    @property
    def port(self) -> int:
        """The port clients connect to."""
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> Self:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):  # wakes the blocked accept(); close() alone does not
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._cut()
        self._acceptor.join(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)

    def shut(self) -> None:
        """Cut every relayed connection and refuse new ones."""
        self._open.clear()
        self._cut()

    def open(self) -> None:
        """Relay new connections again."""
        self._open.set()

    def _cut(self) -> None:
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if not self._open.is_set():
                self.refused += 1
                client.close()
                continue
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        pair = {client: upstream, upstream: client}
        with self._lock:
            self._sockets |= set(pair)
        try:
            with selectors.DefaultSelector() as selector:
                for sock in pair:
                    selector.register(sock, selectors.EVENT_READ)
                while not self._closing.is_set():
                    for key, _ in selector.select(timeout=0.5):
                        source = key.fileobj
                        assert isinstance(source, socket.socket)
                        data = source.recv(_CHUNK)
                        if not data:
                            return
                        pair[source].sendall(data)
        except OSError:
            return
        finally:
            with self._lock:
                self._sockets -= set(pair)
            for sock in pair:
                sock.close()
