"""The real daemon as a subprocess, with a notify socket standing in for systemd.

``NotifySocket`` binds an AF_UNIX datagram socket in a temporary directory and collects what
the daemon sends (READY=1, WATCHDOG=1, STATUS=..., STOPPING=1, RELOADING=1) in order.
``DaemonProcess`` runs ``python -m gitopsd run --config FILE`` with NOTIFY_SOCKET pointing at it,
reads its JSON log lines as they come, and offers bounded waits on either. Nothing sleeps: every
wait is on a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self

WAIT_S = 30.0


class Collected:
    """Items appended by a reader thread, with a condition to wait on."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._changed = threading.Condition()

    def add(self, item: object) -> None:
        """Append and wake waiters."""
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(
        self, found: Callable[[list[object]], object], timeout_s: float = WAIT_S, what: str = ""
    ) -> object:
        """The first truthy ``found(items)``; AssertionError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                result = found(list(self.items))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}: got {self.items[-20:]}")
                self._changed.wait(left)

    def snapshot(self) -> list[object]:
        """A copy of everything so far."""
        with self._changed:
            return list(self.items)


class NotifySocket:
    """A systemd notify socket: every datagram, decoded, in arrival order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages = Collected()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="notify-socket", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.add(data.decode())

    def close(self) -> None:
        """Stop reading and remove the socket."""
        self._closed.set()
        self._thread.join(timeout=5)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def wait(self, prefix: str, after: int = 0, timeout_s: float = WAIT_S) -> int:
        """Index of the first message (from ``after``) holding a line starting with ``prefix``."""

        def found(items: list[object]) -> int | None:
            for index in range(after, len(items)):
                if any(line.startswith(prefix) for line in str(items[index]).splitlines()):
                    return index + 1  # +1 so index 0 is truthy
            return None

        hit = self.messages.wait_for(found, timeout_s, what=f"notify {prefix!r}")
        assert isinstance(hit, int)
        return hit - 1

    def lines(self) -> list[str]:
        """Every line of every message so far."""
        return [line for m in self.messages.snapshot() for line in str(m).splitlines()]


class DaemonProcess:
    """``gitopsd run`` in a subprocess; its log lines parsed as they arrive."""

    def __init__(self, config: Path, notify: NotifySocket, env: dict[str, str] | None = None):
        self.config = config
        self.notify = notify
        self.logs = Collected()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GITOPSD_")}
        environ |= {"NOTIFY_SOCKET": str(notify.path), "PYTHONUNBUFFERED": "1"} | (env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gitopsd", "run", "--config", str(config)],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="daemon-logs", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.logs.add(json.loads(line))
            except json.JSONDecodeError:
                self.logs.add({"event": "<not json>", "line": line.rstrip("\n")})

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=WAIT_S)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log(self, event: str, timeout_s: float = WAIT_S, **fields: object) -> dict[str, object]:
        """The first log line with ``event`` (and ``fields``), waiting for it."""

        def found(items: list[object]) -> dict[str, object] | None:
            for item in items:
                wanted = isinstance(item, dict) and item.get("event") == event
                if wanted and all(item.get(k) == v for k, v in fields.items()):  # type: ignore[union-attr]
                    return item  # type: ignore[return-value]
            return None

        hit = self.logs.wait_for(found, timeout_s, what=f"log {event!r}")
        assert isinstance(hit, dict)
        return hit

    def count(self, event: str) -> int:
        """How many log lines carry ``event`` so far."""
        return sum(
            1 for i in self.logs.snapshot() if isinstance(i, dict) and i.get("event") == event
        )

    @property
    def url(self) -> str:
        """The HTTP listener's base URL, from the start-up log line."""
        return str(self.log("daemon_started")["listen"])

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the daemon."""
        self.process.send_signal(signum)

    def exit_code(self, timeout_s: float = WAIT_S) -> int:
        """Wait for the process to end."""
        return self.process.wait(timeout=timeout_s)

    def proc(self, name: str) -> str:
        """A file of /proc/<pid>/ (e.g. "status")."""
        return Path(f"/proc/{self.process.pid}/{name}").read_text(encoding="utf-8")

    def resources(self) -> tuple[int, int, int]:
        """(threads, open file descriptors, RSS in kB) of the daemon now."""
        status = dict(
            line.split(":", 1) for line in self.proc("status").splitlines() if ":" in line
        )
        fds = len(list(Path(f"/proc/{self.process.pid}/fd").iterdir()))
        rss_kb = int(status["VmRSS"].split()[0])
        return int(status["Threads"].strip()), fds, rss_kb


@contextlib.contextmanager
def notify_socket() -> Iterator[NotifySocket]:
    """A notify socket in a short temporary directory (AF_UNIX paths hold 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="gn") as directory:
        sock = NotifySocket(Path(directory) / "notify.sock")
        try:
            yield sock
        finally:
            sock.close()
