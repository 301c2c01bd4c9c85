"""Git's smart HTTP protocol over TLS on 127.0.0.1: ``git http-backend`` run as CGI.

``GitHttpServer`` serves every bare repository under a root, like a forge would, and lets a
request through only with HTTP Basic credentials whose password is the token (401 otherwise).
It records the Authorization headers it saw, so a test can prove how the token travelled.
The certificate is self-signed for 127.0.0.1; point git at it with ``GIT_SSL_CAINFO``.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import os
import ssl
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, written as PEM files: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        """Serve ref advertisements."""
        self._serve()

    def do_POST(self) -> None:
        """Serve upload-pack and receive-pack."""
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Stay quiet: the test asserts on what it needs."""

    def _serve(self) -> None:
        header = self.headers.get("Authorization", "")
        self.server.authorizations.append(header)
        if not self._authorized(header):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        if path.endswith("/git-receive-pack") and self.server.failing_pushes > 0:
            self.server.failing_pushes -= 1
            self._body()
            self.send_error(502, "Bad Gateway")
            return
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        body = self._body()
        env["CONTENT_LENGTH"] = str(len(body))
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False,
            timeout=30,
        )  # fmt: skip
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = next((int(x.split()[1]) for x in lines if x.startswith("Status:")), 200)
        self.send_response(status)
        for line in lines:
            name, _, value = line.partition(":")
            if name and name != "Status":
                self.send_header(name, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        _, _, password = base64.b64decode(encoded).decode().partition(":")
        return password == self.server.token

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "") != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        chunks = []
        while size := int(self.rfile.readline().strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler: no thread outlives the test

    def __init__(self, root: Path, token: str, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.root = root
        self.token = token
        self.authorizations: list[str] = []
        self.failing_pushes = 0


class GitHttpServer:
    """Bare repositories under ``root``, served over HTTPS on 127.0.0.1 with a token."""

    def __init__(self, root: Path, *, token: str, certs: Path) -> None:
        self.cert, key = self_signed(certs)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self._server = _Server(root, token, context)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def authorizations(self) -> list[str]:
        """Every Authorization header received, in order ("" when there was none)."""
        return self._server.authorizations

    def fail_pushes(self, count: int) -> None:
        """Answer the next ``count`` pushes with 502 Bad Gateway, as a flaky proxy would."""
        self._server.failing_pushes = count

    @property
    def failures_left(self) -> int:
        """How many of the pushes set to fail have not been tried yet."""
        return self._server.failing_pushes

    def url(self, name: str) -> str:
        """The HTTPS URL of repository ``name`` under the root."""
        return f"https://127.0.0.1:{self._server.server_address[1]}/{name}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent): the remote becomes unreachable."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
