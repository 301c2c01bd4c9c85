"""The real daemon attacked at its edges (docs/reliability.md, "Attacks at the edges").

Each test runs ``gitopsd run`` as a subprocess over a bare Git remote and the emulator, does
to it what an adversarial run did (a symlink loop for the clone, a secret pasted into a
``*_file`` key, a wall clock stepped back, a reload into another state directory, a corrupt
state database, a failing Atlas, a hook in the remote, a webhook nested 200,000 deep, a full
disk), and checks what the daemon says and does from the outside: its log lines, its
notifications to systemd, its HTTP answers and metrics, the remote and the emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal

import httpx
from support.daemon import notify_socket
from test_daemon import SECRET, configure, loop, start  # noqa: F401 - loop is a fixture

__all__ = ["loop"]


def _signed(body: bytes) -> dict[str, str]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": hashlib.sha256(body).hexdigest()[:32],
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }


def test_a_signed_webhook_nested_200k_deep_is_a_bad_request(loop):
    """A genuine delivery whose JSON nests 200,000 deep gets 400 with a reason, not a 500."""
    config = configure(loop, poll_s=3600)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("READY=1")
        body = b"[" * 200_000 + b"]" * 200_000
        answer = httpx.post(daemon.url + "/hooks/git", content=body, headers=_signed(body))
        assert answer.status_code == 400, answer.text
        assert "nested too deeply" in answer.text
        fine = json.dumps({"ref": "refs/heads/main", "after": "1" * 40}).encode()
        assert httpx.post(daemon.url + "/hooks/git", content=fine, headers=_signed(fine)).json()
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
