"""The daemon part of `gitopsd demo`: start `gitopsd run`, push, send the webhook, stop it.

Owns the demo's stand-ins for what surrounds a daemon in production: a notify socket where
systemd would be, a signed GitHub push event where the forge would send it, and a user who
commits and pushes. The daemon itself is the real one, in a subprocess, against the demo's
Git remote and emulator. Nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Self

from gitopsd.emulator import Emulator
from gitopsd.errors import GitopsdError

Say = Callable[[str], object]
Git = Callable[..., str]


WEBHOOK_SECRET = "demo-webhook-secret-not-for-production"  # noqa: S105 - the demo's own
STAGING_SCHEDULE = "schedules/platform-staging.yaml"


def run(
    root: Path, config_path: Path, emulator: Emulator, say: Say, *, git: Git, project: str
) -> None:
    """Start `gitopsd run`, push a change, send the webhook, watch it land, stop the daemon."""
    secret = root / "credentials" / "webhook_secret"
    secret.write_text(WEBHOOK_SECRET, encoding="utf-8")
    text = config_path.read_text(encoding="utf-8").replace(
        'branch = "main"\n', 'branch = "main"\npoll_interval_s = 3600\n', 1
    )
    text += (
        '\n[server]\nlisten = "127.0.0.1:0"\nwebhook_secret_file = "credentials/webhook_secret"\n'
    )
    config_path.write_text(text, encoding="utf-8")
    with _NotifySocket(root) as notify, _DaemonProcess(config_path, notify.path) as daemon:
        url = str(daemon.wait_log("daemon_started")["listen"])
        notify.wait(lambda line: line == "READY=1")
        say(f"daemon listening at {url}; systemd was told: READY=1\n")
        first = notify.wait(lambda line: line.startswith("STATUS="))
        say(f"  {first}\n")
        user = root / "user-clone"
        path = user / STAGING_SCHEDULE
        path.write_text(
            path.read_text(encoding="utf-8").replace(
                "referenceHourOfDay: 1", "referenceHourOfDay: 2"
            ),
            encoding="utf-8",
        )
        git("commit", "--quiet", "-am", "Staging snapshots at 02:00", cwd=user)
        git("push", "--quiet", str(root / "atlas-backups.git"), "main", cwd=user)
        sha = git("rev-parse", "HEAD", cwd=user)
        say(f"pushed {sha[:12]} to main: staging snapshots move from 01:00 to 02:00\n")
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(  # noqa: S310 - the daemon on loopback
            url + "/hooks/git",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "demo-1",
                "X-Hub-Signature-256": f"sha256={signature}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            say(f"POST /hooks/git (GitHub push, signed): {answer.status}\n")
        status = notify.wait(lambda line: line.startswith("STATUS=") and sha[:12] in line)
        say(f"  {status}\n")
        held = _emulator_schedule(emulator, project, "catalog-staging")
        say(f"Atlas now: catalog-staging snapshots at {held['referenceHourOfDay']:02d}:00\n")
        log = git("log", "-1", "--format=%h %s", "gitopsd/drift", cwd=root / "atlas-backups.git")
        say(f"report branch: {log}\n")
        daemon.process.send_signal(signal.SIGTERM)
        notify.wait(lambda line: line == "STOPPING=1")
        say(
            f"SIGTERM: systemd was told STOPPING=1; exit code {daemon.process.wait(timeout=60)}\n\n"
        )


def _emulator_schedule(emulator: Emulator, project: str, cluster: str) -> dict[str, object]:
    with urllib.request.urlopen(emulator.url + "/_emulator/state", timeout=10) as answer:  # noqa: S310
        state = json.load(answer)
    return next(
        s for s in state["schedules"] if s["projectId"] == project and s["clusterName"] == cluster
    )


class _NotifySocket:
    """A stand-in for systemd's notify socket: the lines the daemon sends, in order."""

    def __init__(self, root: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="gn", dir="/tmp")) / "notify.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._root = root

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        shutil.rmtree(self.path.parent, ignore_errors=True)

    def wait(self, wanted: Callable[[str], bool], timeout_s: float = 60.0) -> str:
        """The next line ``wanted`` accepts; lines before it are passed over."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536).decode()
            except TimeoutError:
                break
            for line in data.splitlines():
                if wanted(line):
                    return line
        raise GitopsdError("the demo daemon did not say what was expected in time")


class _DaemonProcess:
    """`gitopsd run` in a subprocess, its JSON log lines read as they come."""

    def __init__(self, config_path: Path, notify: Path) -> None:
        env = {**os.environ, "NOTIFY_SOCKET": str(notify), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "gitopsd", "run", "--config", str(config_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def wait_log(self, event: str) -> dict[str, object]:
        """The first log line with ``event``; later output is drained in the background."""
        stream = self.process.stdout
        assert stream is not None
        for line in stream:
            with contextlib.suppress(json.JSONDecodeError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("event") == event:
                    threading.Thread(
                        target=stream.read, name="demo-daemon-logs", daemon=True
                    ).start()
                    return entry
        raise GitopsdError(f"the demo daemon exited before logging {event}")
