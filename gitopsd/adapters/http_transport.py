"""An httpx transport over the standard library's ``http.client``, for the Atlas client.

httpx's own transport (httpcore, parsing HTTP/1.1 in Python with h11) cost about 0.9 ms of CPU
per request in a cycle, which made the requests most of a 10,000-cluster no-op cycle's CPU;
the same requests through ``http.client`` cost about 0.6 ms (docs/benchmarks.md). httpx stays
the client: authentication, URLs, and the exceptions the client's retry loop expects. TLS
verification uses the context it is given (the Atlas client makes one from ``[atlas] ca_file``),
else ``httpx.create_ssl_context`` (certifi, or ``SSL_CERT_FILE`` as httpx would).

httpx mounts proxies from the environment only for its own transport, never for one it is
handed, so this transport reads them itself: an ``https`` URL goes through the proxy that
``HTTPS_PROXY`` names (an ``http://`` proxy, asked to ``CONNECT`` to the host, then TLS end to
end inside the tunnel) unless ``NO_PROXY`` lists the host. ``http`` URLs (the emulator, on
loopback only) always go direct. A proxy's user name and password, if its URL holds them, are
sent as ``Proxy-Authorization: Basic`` and never appear in an error.

One rule makes this safe: a connection goes back to the pool only after a complete response
that does not close it. Any error, timeout or short read closes it, so a late answer can never
be read as the answer to the next request. A pooled connection the server has closed (or that
holds unexpected bytes) is discarded before reuse. Nothing is retried here: a failure is the
client's to retry, with its backoff, its log line and its count. Responses are read whole
(Atlas answers are small); bodies are sent whole.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

_Key = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_Exchange = tuple[int, str, list[tuple[bytes, bytes]], bytes, bool]


class CertificateError(httpx.ConnectError):
    """The server's TLS certificate could not be verified; ``reason`` is OpenSSL's, short."""

    def __init__(self, message: str, *, reason: str, request: httpx.Request) -> None:
        super().__init__(message, request=request)
        self.reason = reason


class ProxyConnectError(httpx.ProxyError):
    """The proxy could not be reached, or refused the tunnel; ``proxy`` is its host:port."""

    def __init__(self, message: str, *, proxy: str, reason: str, request: httpx.Request) -> None:
        super().__init__(message, request=request)
        self.proxy = proxy
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class _Proxy:
    host: str
    port: int
    # Proxy-Authorization, when the URL holds a user: a secret, so never in a repr
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _proxy_from_url(url: str) -> _Proxy | None:
    """The proxy a ``HTTPS_PROXY`` value names (``host:port`` means ``http://host:port``).

    Raises ValueError, without the value (it may hold a password), when it names none.
    """
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        message = f"HTTPS_PROXY names a {parts.scheme}:// proxy; only http:// proxies are supported"
        raise ValueError(message)
    try:
        port = parts.port or 80
    except ValueError:
        port = 0
    if not parts.hostname or not port:
        raise ValueError("HTTPS_PROXY is not a proxy URL such as http://proxy.example:3128")
    headers: tuple[tuple[str, str], ...] = ()
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = (("Proxy-Authorization", f"Basic {pair}"),)
    return _Proxy(host=parts.hostname, port=port, headers=headers)


class StdlibTransport(httpx.BaseTransport):
    """HTTP/1.1 with keep-alive over ``http.client``; at most ``max_idle`` pooled connections.

    Thread-safe: each request holds its connection alone, and the pool is behind a lock.

    Args:
        max_idle: most idle connections kept per host.
        ssl_context: how servers' certificates are verified (default: httpx's).
        proxies: ``urllib.request.getproxies_environment()``'s shape (``"https"``, ``"no"``);
            None reads the environment once, here.

    Raises ValueError when ``HTTPS_PROXY`` names no usable proxy.
    """

    def __init__(
        self,
        *,
        max_idle: int = 8,
        ssl_context: ssl.SSLContext | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self._max_idle = max_idle
        self._ssl = ssl_context
        self._proxies = dict(
            urllib.request.getproxies_environment() if proxies is None else proxies
        )
        https_proxy = self._proxies.get("https", "")
        self._https_proxy = _proxy_from_url(https_proxy) if https_proxy else None
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its whole response; raise httpx's transport errors."""
        url = request.url
        if url.scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}", request=request)
        key = (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        body = request.read()
        connection = self._take(key) or self._connect(key, timeouts.get("connect"), request)
        try:
            exchanged = self._exchange(connection, request, body, timeouts)
        except BaseException:
            connection.close()
            raise
        status, reason, headers, content, closing = exchanged
        if closing:
            connection.close()
        else:
            self._give_back(key, connection)
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode("latin-1")},
        )

    def close(self) -> None:
        """Close every pooled connection; later requests fail."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- connections ------------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            return self._ssl

    def _proxy_for(self, host: str) -> _Proxy | None:
        if self._https_proxy is None:
            return None
        if _bypassed(host, self._proxies.get("no", "")):
            return None
        return self._https_proxy

    def _connect(
        self, key: _Key, timeout_s: float | None, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = key
        proxy = self._proxy_for(host) if scheme == "https" else None
        connection: http.client.HTTPConnection
        if proxy is not None:
            connection = http.client.HTTPSConnection(
                proxy.host, proxy.port, timeout=timeout_s, context=self._context()
            )
            connection.set_tunnel(host, port, headers=dict(proxy.headers))
        elif scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=timeout_s, context=self._context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
        try:
            _open(connection, proxy)
        except ssl.SSLCertVerificationError as exc:
            connection.close()
            reason = exc.verify_message or "unknown reason"
            raise CertificateError(
                f"the TLS certificate of {host}:{port} could not be verified ({reason})",
                reason=reason,
                request=request,
            ) from exc
        except _TunnelError as exc:
            connection.close()
            raise ProxyConnectError(
                f"the proxy {exc.proxy} refused to connect to {host}:{port} ({exc.answer})",
                proxy=exc.proxy,
                reason=f"it answered {exc.answer}",
                request=request,
            ) from exc
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} timed out", request=request
            ) from exc
        except OSError as exc:  # refused, unreachable, TLS handshake failed, ...
            connection.close()
            if proxy is not None and exc.strerror:
                reason = exc.strerror.lower()
                raise ProxyConnectError(
                    f"cannot connect to {host}:{port} through the proxy {proxy.where}: {reason}",
                    proxy=proxy.where,
                    reason=reason,
                    request=request,
                ) from exc
            raise httpx.ConnectError(
                f"cannot connect to {host}:{port}: {exc}", request=request
            ) from exc
        return connection

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        """A pooled connection still open and quiet, or None."""
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the transport is closed")
                pooled = self._idle.get(key)
                connection = pooled.pop() if pooled else None
            if connection is None:
                return None
            if _usable(connection):
                return connection
            connection.close()

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            pooled = self._idle.setdefault(key, [])
            if not self._closed and len(pooled) < self._max_idle:
                pooled.append(connection)
                return
        connection.close()

    # -- one exchange -----------------------------------------------------------------------

    @staticmethod
    def _exchange(
        connection: http.client.HTTPConnection,
        request: httpx.Request,
        body: bytes,
        timeouts: Mapping[str, float | None],
    ) -> _Exchange:
        sock = connection.sock
        assert sock is not None
        target = request.url.raw_path.decode("ascii")
        try:
            sock.settimeout(timeouts.get("write"))
            connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                connection.putheader(name, value)
            connection.endheaders(body or None)
        except TimeoutError as exc:
            raise httpx.WriteTimeout("sending the request timed out", request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.WriteError(f"sending the request failed: {exc}", request=request) from exc
        sock.settimeout(timeouts.get("read"))
        try:
            response = connection.getresponse()
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no answer in time", request=request) from exc
        except ConnectionResetError as exc:  # closed or reset before the status line came
            message = "the server closed the connection without answering"
            raise httpx.RemoteProtocolError(message, request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.RemoteProtocolError(
                f"the answer was malformed: {type(exc).__name__}", request=request
            ) from exc
        try:
            content = response.read()
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the answer stopped coming", request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise httpx.RemoteProtocolError(
                f"the answer was cut off: {type(exc).__name__}", request=request
            ) from exc
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.getheaders()]
        return response.status, response.reason, headers, content, response.will_close


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` lists ``host``: ``*``, the host itself, or a domain it is under."""
    host = host.lower().strip("[]")
    for entry in no_proxy.split(","):
        name = entry.strip().lower()
        if name.startswith("[") and "]" in name:
            name = name[1 : name.index("]")]  # [::1]:443
        elif name.count(":") == 1:
            name = name.partition(":")[0]  # example.com:443
        name = name.lstrip("*").lstrip(".")
        if entry.strip() == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False


class _TunnelError(OSError):
    """The proxy answered the CONNECT with something other than 200."""

    def __init__(self, proxy: str, answer: str) -> None:
        super().__init__(f"the proxy {proxy} answered {answer}")
        self.proxy = proxy
        self.answer = answer


def _open(connection: http.client.HTTPConnection, proxy: _Proxy | None) -> None:
    """Connect; through ``proxy``, a CONNECT the proxy refuses is a _TunnelError."""
    try:
        connection.connect()
    except OSError as exc:
        # http.client says a refused tunnel only in words: "Tunnel connection failed: 407 ..."
        said = str(exc)
        if proxy is None or exc.errno is not None or not said.startswith("Tunnel connection"):
            raise
        raise _TunnelError(proxy.where, said.partition(": ")[2] or said) from exc


def _usable(connection: http.client.HTTPConnection) -> bool:
    """Whether a pooled connection is open and has nothing unread (readable means EOF)."""
    sock = connection.sock
    if not isinstance(sock, socket.socket):
        return False
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False
