"""The Atlas client's transport over real sockets: keep-alive, stale and broken connections, TLS.

Each test runs a small HTTP/1.1 server on 127.0.0.1 whose misbehaviour is scripted per
request (late, cut off, closing), and drives ``StdlibTransport`` through an ``httpx.Client``
as the Atlas client does. What matters most: a connection that failed is never reused, so no
request ever reads another's answer.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gitopsd.adapters.http_transport import StdlibTransport

Behaviour = Callable[[socket.socket, str, bytes], bool]
"""Answers one request (path, body) on the connection; False closes the connection after."""


def answer(
    conn: socket.socket, body: bytes, *, headers: str = "", length: int | None = None
) -> None:
    """An HTTP/1.1 200 with ``body``; ``length`` may lie about its size."""
    size = len(body) if length is None else length
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n{headers}\r\n".encode()
    conn.sendall(head + body)


def echo(conn: socket.socket, path: str, body: bytes) -> bool:
    """Answer with the path and body asked for, and keep the connection open."""
    answer(conn, path.encode() + b"|" + body)
    return True


class Server:
    """A threaded HTTP/1.1 server; ``script`` decides how each request (by number) is answered."""

    def __init__(self, script: Callable[[int], Behaviour], tls: ssl.SSLContext | None = None):
        self.script = script
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.closed = threading.Semaphore(0)
        self.threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        """The base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def serve(self) -> None:
        """Accept connections until stopped."""
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with self.lock:
                self.connections += 1
            thread = threading.Thread(target=self.handle, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def handle(self, conn: socket.socket) -> None:
        """Read requests on one connection and answer them as scripted."""
        reader = None
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            while True:
                line = reader.readline()
                if not line:
                    return
                path = line.split()[1].decode()
                length = 0
                while (header := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = reader.read(length) if length else b""
                with self.lock:
                    self.requests += 1
                    number = self.requests
                if not self.script(number)(conn, path, body):
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            if reader is not None:
                reader.close()  # the socket stays open while a file made from it is
            conn.close()
            self.closed.release()


@contextmanager
def serving(
    script: Callable[[int], Behaviour], tls: ssl.SSLContext | None = None
) -> Iterator[Server]:
    """A running server."""
    server = Server(script, tls)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join(timeout=5)
        server.listener.close()


def client(server: Server, **options: object) -> httpx.Client:
    """An httpx client over the transport, as the Atlas client builds it."""
    transport = StdlibTransport(max_idle=4, **options)  # type: ignore[arg-type]
    return httpx.Client(base_url=server.url, transport=transport, timeout=httpx.Timeout(0.5))


def test_keep_alive_reuses_one_connection_and_sends_bodies_whole():
    """Requests one after another share a connection; a POST body arrives intact."""
    with serving(lambda _n: echo) as server, client(server) as http:
        assert http.get("/a").text == "/a|"
        assert http.post("/b", content=b'{"x": 1}').text == '/b|{"x": 1}'
        assert http.get("/c?q=1").text == "/c?q=1|"
    assert server.connections == 1


def test_a_connection_the_server_closed_is_not_reused():
    """The server closes after each answer (without saying so): every request still succeeds."""

    def close_after(conn: socket.socket, path: str, body: bytes) -> bool:
        echo(conn, path, body)
        return False

    with serving(lambda _n: close_after) as server, client(server) as http:
        texts = []
        for i in range(3):
            texts.append(http.get(f"/{i}").text)
            assert server.closed.acquire(timeout=5)  # the server has closed it by now
        assert texts == ["/0|", "/1|", "/2|"]
    assert server.connections == 3


def test_a_late_answer_is_never_read_by_the_next_request():
    """The first answer comes after the read timeout: ReadTimeout, and the next gets its own."""
    released = threading.Event()

    def late(conn: socket.socket, path: str, body: bytes) -> bool:
        released.wait(5)
        answer(conn, b"the late answer")
        return True

    with serving(lambda n: late if n == 1 else echo) as server, client(server) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get("/slow")
        released.set()
        assert http.get("/next").text == "/next|"
    assert server.connections == 2


def test_an_answer_cut_off_is_a_protocol_error_and_the_connection_is_dropped():
    """Content-Length says 100, 10 bytes come, the server closes: RemoteProtocolError."""

    def cut(conn: socket.socket, path: str, body: bytes) -> bool:
        answer(conn, b"0123456789", length=100)
        return False

    with serving(lambda n: cut if n == 1 else echo) as server, client(server) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/cut")
        assert http.get("/after").text == "/after|"


def test_gzip_answers_are_decoded_by_httpx():
    """Content-Encoding is left to httpx, as with its own transport."""

    def zipped(conn: socket.socket, path: str, body: bytes) -> bool:
        answer(conn, gzip.compress(b'{"ok": true}'), headers="Content-Encoding: gzip\r\n")
        return True

    with serving(lambda _n: zipped) as server, client(server) as http:
        assert http.get("/z").json() == {"ok": True}


def test_nobody_listening_is_a_connect_error():
    """A refused connection raises httpx.ConnectError."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    transport = StdlibTransport()
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get("/")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with openssl."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_verifies_the_server_certificate(certificate):
    """An unknown certificate is refused; trusted (as SSL_CERT_FILE would), it is accepted."""
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with serving(lambda _n: echo, tls=tls) as server:
        with client(server) as http, pytest.raises(httpx.ConnectError, match="certificate"):
            http.get("/secret")
        trusting = ssl.create_default_context(cafile=str(cert))
        with client(server, ssl_context=trusting) as http:
            assert http.get("/secret").text == "/secret|"
