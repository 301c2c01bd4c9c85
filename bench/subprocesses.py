"""gitopsd's processes for benchmarks: the emulator, the daemon, and what /proc says of them.

Owns starting ``gitopsd emulator`` (yielding its URL and pid) and ``gitopsd run`` with a
notify socket bound here and its JSON log lines collected as they come, bounded waits on
either, a signed GitHub push webhook, and CPU and memory readings of a process and of the
whole machine from ``/proc``. It measures nothing itself and decides no target.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

WAIT_S = 900.0
"""The longest any wait for the daemon may take before the benchmark gives up."""


class Lines:
    """Items appended by a reader thread, and a bounded wait for one that matches."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.changed = threading.Condition()

    def add(self, item: dict) -> None:
        """Append and wake waiters."""
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait(self, found: Callable[[list[dict]], dict | None], what: str) -> dict:
        """The first truthy ``found(items)``; exits the bench after ``WAIT_S``."""
        deadline = time.monotonic() + WAIT_S
        with self.changed:
            while (hit := found(self.items)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.exit(f"timed out waiting for {what}; last lines: {self.items[-5:]}")
                self.changed.wait(left)
            return hit


@contextlib.contextmanager
def daemon(config_path: Path) -> Iterator[tuple[subprocess.Popen, Lines, Lines]]:
    """``gitopsd run`` with NOTIFY_SOCKET bound here; yield it, its log lines and notifies."""
    logs, notes = Lines(), Lines()
    with tempfile.TemporaryDirectory(prefix="gn") as short:  # AF_UNIX paths hold 107 bytes
        path = Path(short) / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITOPSD_"))}
        env |= {"NOTIFY_SOCKET": str(path), "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "gitopsd", "run", "--config", str(config_path)]
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

        def read_logs() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    logs.add(json.loads(line))
                except json.JSONDecodeError:
                    logs.add({"event": "<not json>", "line": line.rstrip()})

        def read_notes() -> None:
            with contextlib.suppress(OSError):
                while True:
                    notes.add({"text": sock.recv(65536).decode()})

        for target in (read_logs, read_notes):
            threading.Thread(target=target, daemon=True).start()
        try:
            yield proc, logs, notes
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=WAIT_S)
            sock.close()
            if code != 0:
                print(f"  the daemon exited {code}; last lines: {logs.items[-5:]}")


def event(name: str, after: int = 0) -> Callable[[list[dict]], dict | None]:
    """A finder for the first log line ``name`` from index ``after``, with its index."""

    def found(items: list[dict]) -> dict | None:
        for index in range(after, len(items)):
            if items[index].get("event") == name:
                return {**items[index], "_index": index}
        return None

    return found


def proc_figures(pid: int) -> tuple[float, float, int]:
    """(CPU s of the process, of its waited-for children, VmHWM kB) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    kids = (int(fields[13]) + int(fields[14])) / tick  # cutime, cstime
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return own, kids, hwm


@dataclasses.dataclass(frozen=True, slots=True)
class Machine:
    """CPU seconds used so far: the whole machine, the emulator, this process and its children.

    The difference between two readings, less what the measured process, the emulator and
    the bench used, is what other processes took from the 2 cores meanwhile: competition.
    """

    busy_s: float
    emulator_s: float
    bench_s: float
    children_s: float

    @classmethod
    def now(cls, emulator_pid: int) -> Machine:
        """A reading (``/proc/stat``: everything but idle and iowait)."""
        ticks = [int(x) for x in Path("/proc/stat").read_text(encoding="ascii").split()[1:9]]
        own, kids = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return cls(
            busy_s=(sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"),
            emulator_s=sum(proc_figures(emulator_pid)[:2]),
            bench_s=own.ru_utime + own.ru_stime,
            children_s=kids.ru_utime + kids.ru_stime,
        )

    def others_s(self, later: Machine, measured_s: float | None = None) -> float:
        """CPU of other processes since this reading; ``measured_s`` instead of the children."""
        ours = later.emulator_s - self.emulator_s + later.bench_s - self.bench_s
        ours += later.children_s - self.children_s if measured_s is None else measured_s
        return later.busy_s - self.busy_s - ours


@contextlib.contextmanager
def emulator(state_file: Path) -> Iterator[tuple[str, int]]:
    """The emulator as a subprocess serving ``state_file``; yield its base URL and pid."""
    cmd = [sys.executable, "-m", "gitopsd", "emulator", "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen([*cmd, "--state", str(state_file)], stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        if "listening on " not in first:
            sys.exit(f"the emulator did not start (exit {proc.wait()}): {first!r}")
        yield first.rsplit(" ", 1)[1].strip(), proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def webhook(url: str, sha: str, secret: str) -> httpx.Response:
    """A GitHub push event for ``main`` at ``sha``, signed with ``secret``."""
    body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{url}/hooks/git", content=body, headers=headers, timeout=30)
