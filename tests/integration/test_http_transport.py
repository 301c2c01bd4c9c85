"""The Atlas client's transport over real sockets: keep-alive, broken connections, TLS, proxies.

Each test runs a small HTTP/1.1 server on 127.0.0.1 whose misbehaviour is scripted per
request (late, cut off, closing), and drives ``StdlibTransport`` through an ``httpx.Client``
as the Atlas client does. What matters most: a connection that failed is never reused, so no
request ever reads another's answer. TLS uses a CA the test makes (``support.tls``); proxies
are a CONNECT proxy on loopback (``support.connect_proxy``), named by ``HTTPS_PROXY``.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from support import tls
from support.connect_proxy import ConnectProxy

import gitopsd
from gitopsd import credentials
from gitopsd.adapters import atlas
from gitopsd.adapters.http_transport import StdlibTransport
from gitopsd.core.backoff import RetryPolicy
from gitopsd.errors import AtlasConfigError, AtlasTransientError, ConfigError

PROJECT = "32b6e34b3d91647abb20e7b8"
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
        self.heads: list[dict[str, str]] = []  # each request's headers, names in lower case
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
                head: dict[str, str] = {}
                while (header := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    head[name.strip().lower()] = value.strip()
                length = int(head.get("content-length", "0"))
                body = reader.read(length) if length else b""
                with self.lock:
                    self.heads.append(head)
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
def ca(tmp_path: Path) -> tls.CertificateAuthority:
    """A CA the test made; only what is given its PEM file trusts it."""
    return tls.CertificateAuthority(tmp_path / "tls", "Test CA")


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without proxy variables, whatever the machine running the tests sets."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_tls_verifies_the_server_certificate(ca, no_proxy_env):
    """A certificate from an unknown CA is refused; with the CA's PEM trusted, it is accepted."""
    with serving(lambda _n: echo, tls=ca.server_context()) as server:
        with client(server) as http, pytest.raises(httpx.ConnectError, match="certificate"):
            http.get("/secret")
        with client(server, ssl_context=atlas.tls_context(str(ca.pem))) as http:
            assert http.get("/secret").text == "/secret|"


def test_https_goes_through_the_proxy_https_proxy_names(ca, no_proxy_env):
    """With HTTPS_PROXY set, the request tunnels through it (CONNECT) and TLS still verifies."""
    with (
        serving(lambda _n: echo, tls=ca.server_context()) as server,
        ConnectProxy() as proxy,
    ):
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        with client(server, ssl_context=atlas.tls_context(str(ca.pem))) as http:
            assert http.get("/via").text == "/via|"
            assert http.get("/again").text == "/again|"
    assert proxy.targets == [f"127.0.0.1:{server.port}"]  # one tunnel, kept alive


def test_no_proxy_hosts_bypass_the_proxy(ca, no_proxy_env):
    """A host NO_PROXY lists is reached directly: the proxy sees nothing."""
    with (
        serving(lambda _n: echo, tls=ca.server_context()) as server,
        ConnectProxy() as proxy,
    ):
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        no_proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1")
        with client(server, ssl_context=atlas.tls_context(str(ca.pem))) as http:
            assert http.get("/direct").text == "/direct|"
    assert proxy.targets == []
    assert server.connections == 1


def test_proxy_credentials_in_https_proxy_are_sent_to_the_proxy_only(ca, no_proxy_env):
    """user:password in HTTPS_PROXY becomes Proxy-Authorization on the CONNECT, not the request."""
    with (
        serving(lambda _n: echo, tls=ca.server_context()) as server,
        ConnectProxy() as proxy,
    ):
        no_proxy_env.setenv("HTTPS_PROXY", f"http://ops:p%40ss@127.0.0.1:{proxy.port}")
        with client(server, ssl_context=atlas.tls_context(str(ca.pem))) as http:
            assert http.get("/auth").text == "/auth|"
    assert proxy.headers[0]["proxy-authorization"] == "Basic b3BzOnBAc3M="  # ops:p@ss
    assert "proxy-authorization" not in server.heads[0]


# -- the Atlas client over this transport ---------------------------------------------------


def atlas_api(conn: socket.socket, path: str, body: bytes) -> bool:
    """Atlas in miniature: a token, and one project for any other path."""
    if path == "/api/oauth/token":
        data = {"access_token": "t0ken", "expires_in": 3600, "token_type": "Bearer"}
    else:
        data = {"id": PROJECT, "name": "prod", "orgId": "o"}
    answer(conn, json.dumps(data).encode(), headers="Content-Type: application/json\r\n")
    return True


def atlas_client(server: Server, *, ca_file: str = "") -> atlas.AtlasClient:
    """The production Atlas client (service account, default transport) for ``server``."""
    account = credentials.ServiceAccount(
        client_id="mdb_sa_id", client_secret=credentials.Secret("mdb_sa_sk")
    )
    return atlas.AtlasClient(
        server.url,
        atlas.auth_for(account, base_url=server.url, timeout_s=5),
        timeout_s=5,
        retry=RetryPolicy(max_attempts=1),
        ca_file=ca_file,
    )


def test_atlas_client_trusts_the_ca_file(ca, no_proxy_env):
    """[atlas] ca_file is the CA bundle the Atlas client verifies the server with."""
    with (
        serving(lambda _n: atlas_api, tls=ca.server_context()) as server,
        atlas_client(server, ca_file=str(ca.pem)) as client_,
    ):
        assert client_.project(PROJECT).name == "prod"


def test_a_certificate_the_ca_file_does_not_sign_is_one_clear_config_error(
    ca, tmp_path, no_proxy_env
):
    """Another CA's certificate: not retried, and the error names the host and [atlas] ca_file."""
    other = tls.CertificateAuthority(tmp_path / "other", "Other CA")
    with (
        serving(lambda _n: atlas_api, tls=other.server_context()) as server,
        atlas_client(server, ca_file=str(ca.pem)) as client_,
        pytest.raises(AtlasConfigError) as refused,
    ):
        client_.project(PROJECT)
    assert str(refused.value) == (
        f"GET /api/atlas/v2/groups/{PROJECT}: the TLS certificate of 127.0.0.1:{server.port}"
        " could not be verified (unable to get local issuer certificate): if a proxy or a"
        " private CA signs it, set [atlas] ca_file to that CA's PEM bundle"
    )
    assert server.requests == 0


def test_an_unusable_ca_file_is_a_config_error_naming_the_key(tmp_path):
    """A missing file, or one that holds no certificate, is refused when the client is made."""
    with pytest.raises(
        ConfigError, match=r"^\[atlas\] ca_file: cannot read .*missing.pem: no such"
    ):
        atlas.tls_context(str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^\[atlas\] ca_file: .*junk.pem is not a PEM"):
        atlas.tls_context(str(junk))


def test_atlas_client_reaches_atlas_through_https_proxy(ca, no_proxy_env):
    """The production client goes through the proxy HTTPS_PROXY names."""
    with (
        serving(lambda _n: atlas_api, tls=ca.server_context()) as server,
        ConnectProxy() as proxy,
    ):
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        with atlas_client(server, ca_file=str(ca.pem)) as client_:
            assert client_.project(PROJECT).name == "prod"
    assert proxy.targets == [f"127.0.0.1:{server.port}"]


def test_a_proxy_that_refuses_the_tunnel_is_named_in_the_error(ca, no_proxy_env):
    """A CONNECT answered 403: a transient error naming the proxy and its answer."""
    with (
        serving(lambda _n: atlas_api, tls=ca.server_context()) as server,
        ConnectProxy(refuse="403 Forbidden") as proxy,
    ):
        no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
        with (
            atlas_client(server, ca_file=str(ca.pem)) as client_,
            pytest.raises(AtlasTransientError) as failed,
        ):
            client_.project(PROJECT)
    assert str(failed.value).startswith(
        f"GET /api/atlas/v2/groups/{PROJECT}: cannot connect to 127.0.0.1:{server.port} through"
        f" the proxy 127.0.0.1:{proxy.port} (it answered 403 Forbidden); the proxy comes from"
        " HTTPS_PROXY"
    )


def test_a_proxy_url_gitopsd_cannot_use_is_a_config_error(no_proxy_env):
    """HTTPS_PROXY naming a SOCKS proxy is refused at once, without echoing the value."""
    no_proxy_env.setenv("HTTPS_PROXY", "socks5://ops:s3cr3t@127.0.0.1:1080")
    with pytest.raises(ConfigError) as refused:
        atlas.default_transport(max_idle=1)
    assert str(refused.value) == (
        "HTTPS_PROXY names a socks5:// proxy; only http:// proxies are supported:"
        " fix HTTPS_PROXY in gitopsd's environment"
    )


def test_every_request_says_gitopsd_and_its_version(ca, no_proxy_env):
    """User-Agent: gitopsd/<version> on the token request and the API requests alike."""
    with (
        serving(lambda _n: atlas_api, tls=ca.server_context()) as server,
        atlas_client(server, ca_file=str(ca.pem)) as client_,
    ):
        client_.project(PROJECT)
    assert [h["user-agent"] for h in server.heads] == [f"gitopsd/{gitopsd.__version__}"] * 2


def test_the_token_request_accepts_json(ca, no_proxy_env):
    """The OAuth token request sends Accept: application/json, as Atlas asks."""
    with (
        serving(lambda _n: atlas_api, tls=ca.server_context()) as server,
        atlas_client(server, ca_file=str(ca.pem)) as client_,
    ):
        client_.project(PROJECT)
    assert server.heads[0]["accept"] == "application/json"
