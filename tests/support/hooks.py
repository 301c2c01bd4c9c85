"""Push deliveries as GitHub, Gitea and GitLab send them: bodies and signed headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import uuid

SECRET = "s3cr3t-webhook-Value"  # noqa: S105 - a distinctive value to search leaks for
WRONG = "not-the-webhook-secret"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


def push_body(ref: str = "refs/heads/main", after: str = SHA) -> bytes:
    """A push event body; the fields gitopsd reads, plus some it does not."""
    data = {
        "ref": ref,
        "before": "0" * 40,
        "after": after,
        "repository": {"full_name": "acme/backups"},
        "commits": [{"id": after, "message": "Keep 14 days"}],
    }
    return json.dumps(data).encode()


def hex_hmac(body: bytes, secret: str = SECRET) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github(
    body: bytes, *, secret: str = SECRET, event: str = "push", delivery: str = ""
) -> dict[str, str]:
    """Headers of a GitHub delivery of ``body``."""
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + hex_hmac(body, secret),
    }


def gitea(
    body: bytes, *, secret: str = SECRET, event: str = "push", delivery: str = ""
) -> dict[str, str]:
    """Headers of a Gitea delivery: its own signature header and GitHub's, as Gitea sends."""
    delivery = delivery or str(uuid.uuid4())
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": hex_hmac(body, secret),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + hex_hmac(body, secret),
    }


def gitlab(*, secret: str = SECRET, event: str = "Push Hook", delivery: str = "") -> dict[str, str]:
    """Headers of a GitLab delivery: the secret itself, as GitLab sends it."""
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": delivery or str(uuid.uuid4()),
        "X-Gitlab-Token": secret,
    }


def exchange(address: tuple[str, int], data: bytes, timeout_s: float = 30.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server sends before it closes."""
    with socket.create_connection(address, timeout=timeout_s) as sock:
        sock.sendall(data)
        return read_to_end(sock)


def read_to_end(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (a reset after the answer counts too)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer; 0 when the server sent nothing."""
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
