"""Crash safety: SIGKILL the daemon at chosen points of a cycle; the next start recovers.

The daemon runs as a real subprocess (``support.daemon.DaemonProcess``) against a bare Git
remote (``file://``), the Atlas emulator and a notify socket. The moment of each kill comes
from the daemon's own progress, never from a timer:

- **Git.** Every git command the daemon runs reports to a Trace2 socket the test binds
  (``GIT_TRACE2_EVENT=af_unix:dgram:...`` in the daemon's environment; git inherits it, and so
  do the remote's ``git-upload-pack`` and ``git-receive-pack``, which a ``file://`` transport
  starts as children). A chosen event (``git fetch`` starting upload-pack, unpack-objects
  writing into the clone, ``git checkout`` entering unpack_trees with the index locked,
  ``git commit-tree`` writing the report commit, the remote's receive-pack about to run its
  pre-receive hook (ref not moved) or its post-receive hook (ref moved)) freezes the process
  that sent it with SIGSTOP, in the reader thread.
  The remote has no-op hooks installed (``Remote.hook``) so that receive-pack reports those
  two moments.
- **Atlas.** The daemon's ``[atlas] base_url`` is ``AtlasGate``, a loopback proxy in front of
  the emulator. It can hold a request before Atlas sees it, or hold Atlas's answer after
  Atlas acted on it (a PATCH applied, its answer and the read-back never seen by the daemon).
- **SQLite.** inotify on the state directory reports ``state.sqlite3-journal`` being created:
  a write transaction is under way.

At the chosen point the daemon is frozen (SIGSTOP), then it and every git process it started
are killed with SIGKILL, as systemd kills a unit's control group. Processes that stand for the
remote server (upload-pack, receive-pack) are not the daemon's: a push the server had fully
received either completes (SIGCONT) or dies with the server (SIGKILL), a seeded choice. After
some kills a stale ``index.lock`` (or a ref lock) is left in the clone, as a crashed git
leaves it.

After each kill the daemon starts again with the same config and state directory, and
the run checks: it started (the dead process's ``flock`` is gone with it) and
became READY; the clone was made again at most once and not again on the next cycle; the
state database passes ``PRAGMA integrity_check``; Atlas holds what Git says (and gitopsd
never wrote the observe-mode cluster); the report branch's tip carries the fingerprint of the
last cycle's report for the watched tip, a commit was made only when the tip did not hold that
report already, the branch is linear, and no update ever repeated the report before it.

``bench/crash.py`` runs the same ``CrashRun`` for 50 seeded kills and prints its figures.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import http.server
import itertools
import json
import os
import random
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

import httpx
from support.daemon import DaemonProcess, NotifySocket, notify_socket
from support.gitworld import Remote, User
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, key_files

from gitopsd.emulator import Emulator

BRANCH = "gitopsd/drift"
REPORT_JSON = "drift-report/report.json"
WAIT_S = 30.0
PHASES = (
    "idle",
    "startup",
    "fetch",
    "checkout",
    "observe",
    "apply",
    "push-before",
    "push-after",
    "sqlite",
)
"""Where a kill lands: between cycles, the first fetch of a start, a fetch of a new revision,
the worktree being forced to it, Atlas being read, a write applied by Atlas but not answered,
a push the remote has not applied, a push the remote applied but did not answer, a state
database write."""
SERVER_WORDS = ("upload-pack", "receive-pack")
GIT_LOCKS = ("index.lock", "refs/remotes/origin/main.lock", "HEAD.lock")
SIGSTOP, SIGCONT, SIGKILL = signal.SIGSTOP, signal.SIGCONT, signal.SIGKILL


# -- progress signals --------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, kw_only=True)
class Point:
    """One moment of the daemon's progress, offered to the trigger.

    ``source`` is "git", "atlas" or "sqlite". For git, ``verb`` is the command (``fetch``,
    ``upload-pack``), ``parent`` its parent's, ``event`` the Trace2 event and ``label`` its
    region label or hook name; ``pid`` is the process to freeze and ``server`` whether it
    stands for the remote. For Atlas, ``verb`` is the method, ``label`` the path and ``event``
    "request" (Atlas has not seen it) or "answer" (Atlas acted; the daemon has no answer).
    """

    source: str
    event: str = ""
    verb: str = ""
    parent: str = ""
    label: str = ""
    pid: int = 0
    server: bool = False
    held: threading.Event | None = None
    forward: bool = False


Match = Callable[[Point], bool]


class Trigger:
    """The one armed kill point: the first offered Point it matches freezes the daemon."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._match: Match | None = None
        self.daemon_pid = 0
        self.hit: Point | None = None
        self.fired = threading.Event()

    def arm(self, match: Match) -> None:
        """Wait for a Point ``match`` accepts."""
        with self._lock:
            self._match, self.hit = match, None
            self.fired.clear()

    def disarm(self) -> None:
        """Stop waiting."""
        with self._lock:
            self._match = None

    def offer(self, point: Point) -> bool:
        """Take ``point`` if it is the one waited for: SIGSTOP the daemon and its process."""
        with self._lock:
            if self._match is None or not self._match(point):
                return False
            self._match, self.hit = None, point
            _signal(self.daemon_pid, SIGSTOP)
            if point.pid:
                _signal(point.pid, SIGSTOP)
        self.fired.set()
        return True


def _signal(pid: int, signum: signal.Signals) -> None:
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def verb_of(argv: list[str]) -> str:
    """The git command of an argv (``fetch``, ``upload-pack``), skipping global options."""
    if not argv:
        return ""
    head = Path(argv[0]).name
    if head.startswith("git-"):
        return head.removeprefix("git-")
    if head in {"sh", "bash", "dash"} and len(argv) > 2:
        return verb_of(argv[2].split())
    words = iter(argv[1:])
    for word in words:
        if word in {"-c", "-C", "--shallow-file", "--git-dir", "--work-tree"}:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


class Trace2:
    """Trace2 events of every git process the daemon runs, read from a datagram socket."""

    def __init__(self, path: Path, trigger: Trigger) -> None:
        self.path = path
        self.trigger = trigger
        self.inits = 0
        self._argv: dict[str, str] = {}
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="trace2", daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        """What the daemon's environment needs for its git commands to report here."""
        return {"GIT_TRACE2_EVENT": f"af_unix:dgram:{self.path}"}

    def close(self) -> None:
        """Stop reading."""
        self._closed.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(ValueError):
                self._event(json.loads(data))

    def _event(self, event: dict[str, object]) -> None:
        sid, kind = str(event.get("sid", "")), str(event.get("event", ""))
        if kind == "exit":
            self._argv.pop(sid, None)
            return
        if kind == "start":
            verb = verb_of([str(a) for a in event.get("argv", ())])  # type: ignore[attr-defined]
            self._argv[sid] = verb
            self.inits += verb == "init"
        elif kind not in {"child_start", "region_enter"}:
            return
        verb = self._argv.get(sid, "")
        ancestors = [
            self._argv.get(sid.rsplit("/", n)[0], "") for n in range(1, sid.count("/") + 1)
        ]
        label = str(event.get("hook_name") or event.get("label") or "")
        self.trigger.offer(
            Point(
                source="git",
                event=kind,
                verb=verb,
                parent=ancestors[0] if ancestors else "",
                label=label,
                pid=int(sid.rsplit("-P", 1)[-1], 16),
                server=any(v in SERVER_WORDS for v in (verb, *ancestors)),
            )
        )


class JournalWatch:
    """inotify on the state directory: offers a Point when a SQLite journal is created."""

    IN_CREATE = 0x100
    HEADER = struct.Struct("iIII")

    def __init__(self, directory: Path, trigger: Trigger) -> None:
        self.trigger = trigger
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self._fd, os.fsencode(directory), self.IN_CREATE) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {directory}")
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._read, name="inotify", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop watching."""
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._fd, self._wake_r, self._wake_w):
            os.close(fd)

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._wake_r in ready:
                return
            with contextlib.suppress(BlockingIOError):
                data = os.read(self._fd, 1 << 16)
                offset = 0
                while offset < len(data):
                    *_, length = self.HEADER.unpack_from(data, offset)
                    start = offset + self.HEADER.size
                    name = data[start : start + length].rstrip(b"\0").decode()
                    offset = start + length
                    if name.endswith("-journal"):
                        self.trigger.offer(Point(source="sqlite", event="create", label=name))


class _GateServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    gate: AtlasGate

    def handle_error(self, request: object, client_address: object) -> None:
        """A killed daemon resets its connections: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _GateHandler(http.server.BaseHTTPRequestHandler):
    server: _GateServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    HOP = frozenset(
        {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}
        | {"content-encoding", "accept-encoding", "te", "upgrade", "proxy-connection"}
    )

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet."""

    def _relay(self) -> None:
        gate = self.server.gate
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.partition("?")[0]
        if not gate.passes("request", self.command, path):
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self.HOP}
        answer = gate.upstream.request(self.command, self.path, headers=headers, content=body)
        if not gate.passes("answer", self.command, path):
            self.close_connection = True
            return
        with contextlib.suppress(ConnectionError):
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in self.HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _relay  # noqa: N815


class AtlasGate:
    """A loopback HTTP proxy in front of the emulator that can hold one exchange."""

    def __init__(self, upstream: str, trigger: Trigger) -> None:
        self.trigger = trigger
        self.upstream = httpx.Client(base_url=upstream, timeout=WAIT_S)
        self._held: list[Point] = []
        self._server = _GateServer(("127.0.0.1", 0), _GateHandler)
        self._server.gate = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where the daemon sends its Atlas requests."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def passes(self, event: str, method: str, path: str) -> bool:
        """Whether the exchange goes on; a held one waits until ``release``."""
        point = Point(source="atlas", event=event, verb=method, label=path, held=threading.Event())
        if not self.trigger.offer(point):
            return True
        self._held.append(point)
        assert point.held is not None
        point.held.wait(2 * WAIT_S)
        return point.forward

    def release(self, *, forward: bool) -> None:
        """Let every held exchange go on (``forward``) or drop it, as a dead peer would."""
        held, self._held = self._held, []
        for point in held:
            point.forward = forward
            assert point.held is not None
            point.held.set()

    def close(self) -> None:
        """Drop what is held, stop serving."""
        self.release(forward=False)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.upstream.close()


# -- processes ----------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, list[str]]]:
    """pid -> (parent pid, argv) of every process now."""
    found: dict[int, tuple[int, list[str]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text(encoding="utf-8", errors="replace")
            raw = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (ppid, [a.decode(errors="replace") for a in raw.split(b"\0") if a])
    return found


@dataclasses.dataclass(frozen=True, slots=True)
class Tree:
    """The daemon's processes at the kill: its own git commands, and the remote's."""

    client: tuple[tuple[int, str], ...]
    server: tuple[int, ...]


def process_tree(root: int) -> Tree:
    """The descendants of ``root``; a remote's upload/receive-pack ends its branch of the tree."""
    procs = _processes()
    children: defaultdict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in procs.items():
        children[ppid].append(pid)
    client: list[tuple[int, str]] = []
    server: list[int] = []
    stack = list(children[root])
    while stack:
        pid = stack.pop()
        verb = verb_of(procs[pid][1])
        if verb in SERVER_WORDS:
            server.append(pid)
            continue
        if procs[pid][1]:  # not a zombie
            client.append((pid, verb))
        stack.extend(children[pid])
    return Tree(client=tuple(client), server=tuple(server))


def kill_daemon(process: subprocess.Popen[str]) -> Tree:
    """SIGSTOP the daemon and its git commands, then SIGKILL them all; what was running."""
    _signal(process.pid, SIGSTOP)
    frozen: dict[int, str] = {}
    tree = Tree(client=(), server=())
    while True:
        tree = process_tree(process.pid)
        fresh = [(pid, verb) for pid, verb in tree.client if pid not in frozen]
        if not fresh:
            break
        for pid, verb in fresh:
            _signal(pid, SIGSTOP)
            frozen[pid] = verb
    for pid in (process.pid, *frozen):
        _signal(pid, SIGKILL)
    process.wait(timeout=WAIT_S)
    wait_gone(frozen)
    return Tree(client=tuple(frozen.items()), server=tree.server)


def wait_gone(pids: Iterable[int], timeout_s: float = WAIT_S) -> None:
    """Wait (on pidfds, bounded) until every pid has exited."""
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            assert poller.poll(left_ms), f"process {pid} is still running"
        finally:
            os.close(fd)


# -- the world ----------------------------------------------------------------------------------


def manifests(hour: int) -> str:
    """orders-db (enforce; schedule nightly at ``hour``:30, PIT on), billing-db (observe)."""
    nightly = schedule().replace("referenceHourOfDay: 3", f"referenceHourOfDay: {hour}")
    orders = deployment(flags="    backupEnabled: true\n    pitEnabled: true\n")
    billing = deployment(name="billing", cluster="billing-db", schedule_name="weekly").replace(
        "  name: billing\n", '  name: billing\n  annotations:\n    gitopsd.io/mode: "observe"\n', 1
    )
    return docs(
        project(atlas_name=PROJECT_NAME),
        policy(items=ITEMS),
        nightly,
        orders,
        billing,
        schedule(name="weekly", policy_name="other"),
        policy(name="other", items=ITEMS),
    )


@dataclasses.dataclass(slots=True, kw_only=True)
class Kill:
    """One kill: where it was aimed, where it landed, what it left behind."""

    number: int
    phase: str
    point: str = ""
    changes: tuple[str, ...] = ()
    running: tuple[str, ...] = ()
    push: str = ""
    left: tuple[str, ...] = ()
    torn: str = ""
    hot_journal: bool = False
    missed: bool = False
    delay_ms: float = 0.0


@dataclasses.dataclass(slots=True, kw_only=True)
class Recovery:
    """One restart after one or more kills, and what it took."""

    kills: tuple[int, ...]
    ready_s: float = 0.0
    reported_s: float = 0.0
    recloned: bool = False
    recloned_note: bool = False
    commits: int = 0
    needed: bool = False
    failures: list[str] = dataclasses.field(default_factory=list)


class Stage:
    """Emulator, gate, remote, user, progress signals and the daemon's config, in ``root``."""

    def __init__(self, root: Path, stack: contextlib.ExitStack) -> None:
        self.root = root
        self.state = root / "state"
        self.state.mkdir(parents=True)
        seed = {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [
                {"projectId": PROJECT_ID, "name": "orders-db", "backupEnabled": True,
                 "pitEnabled": True, "instanceSize": "M30"},
                {"projectId": PROJECT_ID, "name": "billing-db", "backupEnabled": True,
                 "instanceSize": "M30"},
            ],
            "schedules": [
                {"projectId": PROJECT_ID, "clusterName": name, **MATCHING}
                for name in ("orders-db", "billing-db")
            ],
        }  # fmt: skip
        self.emulator = stack.enter_context(Emulator(seed))
        self.admin = stack.enter_context(httpx.Client(base_url=self.emulator.url, timeout=10))
        self.trigger = Trigger()
        self.gate = AtlasGate(self.emulator.url, self.trigger)
        stack.callback(self.gate.close)
        short = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gc")))
        self.trace2 = Trace2(short / "trace2.sock", self.trigger)
        stack.callback(self.trace2.close)
        self.journal = JournalWatch(self.state, self.trigger)
        stack.callback(self.journal.close)
        self.notify: NotifySocket = stack.enter_context(notify_socket())
        home = root / "home"
        home.mkdir()
        self.remote = Remote(root / "remote.git", home)
        self.remote.git("config", "core.logAllRefUpdates", "always")
        # receive-pack announces both hooks in Trace2. While ``hold`` exists, pre-receive also
        # waits for a line on a FIFO before a report push may move the branch, so a kill aimed
        # there cannot come too late; the stage keeps the FIFO open at both ends.
        self.hold = root / "hold"
        fifo = short / "release.fifo"
        os.mkfifo(fifo)
        self._release = os.open(fifo, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
        stack.callback(os.close, self._release)
        self.remote.hook(
            "pre-receive",
            "while read old new ref; do\n"
            f'  if [ "$ref" = refs/heads/{BRANCH} ] && [ -e "{self.hold}" ]; then'
            f' read line < "{fifo}"; fi\n'
            "done\n",
        )
        self.remote.hook("post-receive", "exit 0\n")
        self.user = User(root / "user", self.remote, home)
        self.hour = 3
        self.billing_window = 2
        self.user.write("manifests/backups.yaml", manifests(self.hour))
        self.user.commit("manifests")
        self.user.push()
        self.config = self._config()

    def _config(self) -> Path:
        secrets = key_files(self.root / "secrets", self.emulator)
        path = self.root / "gitopsd.toml"
        path.write_text(
            f"""
[git]
url = "{self.remote.url}"
branch = "main"
path = "manifests"
poll_interval_s = 0.3

[atlas]
base_url = "{self.gate.url}"
public_key_file = "{secrets / "public_key"}"
private_key_file = "{secrets / "private_key"}"
timeout_s = 10
max_attempts = 2

[reconcile]
default_namespace = "default"
drift_interval_s = 3600

[server]
listen = "127.0.0.1:0"

[state]
dir = "{self.state}"
""",
            encoding="utf-8",
        )
        return path

    # -- changes ---------------------------------------------------------------------------

    def change_git(self, rng: random.Random) -> str:
        """A user commit: orders-db's snapshots at another hour."""
        self.hour = rng.choice([h for h in range(24) if h != self.hour])
        self.user.write("manifests/backups.yaml", manifests(self.hour))
        self.user.commit(f"nightly at {self.hour}:30")
        self.user.push()
        return f"git: orders-db at {self.hour}:30"

    def change_atlas(self, rng: random.Random, kind: str = "") -> str:
        """Out-of-band drift: orders-db's minute or PIT (enforced back), billing-db's window."""
        kind = kind or rng.choice(("orders-minute", "orders-pit", "billing-window"))
        if kind == "orders-minute":
            minute = rng.choice((0, 15, 45))
            self._patch(f"schedules/{PROJECT_ID}/orders-db", {"referenceMinuteOfHour": minute})
            return f"atlas: orders-db minute {minute}"
        if kind == "orders-pit":
            self._patch(f"clusters/{PROJECT_ID}/orders-db", {"pitEnabled": False})
            return "atlas: orders-db PIT off"
        self.billing_window = rng.choice([w for w in range(1, 6) if w != self.billing_window])
        self._patch(
            f"schedules/{PROJECT_ID}/billing-db", {"restoreWindowDays": self.billing_window}
        )
        return f"atlas: billing-db window {self.billing_window}"

    def hold_push(self) -> None:
        """Make the next report push wait in pre-receive (a release left unread is dropped)."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._release, 4096):
                pass
        self.hold.touch()

    def release_push(self) -> None:
        """Let a report push waiting in pre-receive go on; hold no more."""
        self.hold.unlink(missing_ok=True)
        os.write(self._release, b"go\n")

    def _patch(self, path: str, fields: dict[str, object]) -> None:
        self.admin.patch(f"/_emulator/{path}", json=fields).raise_for_status()

    # -- reading the world -----------------------------------------------------------------

    def atlas_problems(self) -> list[str]:
        """How Atlas differs from Git (orders-db) and from what the test set (billing-db)."""
        world = self.admin.get("/_emulator/state").raise_for_status().json()
        schedules = {s["clusterName"]: s for s in world["schedules"]}
        clusters = {c["name"]: c for c in world["clusters"]}
        wanted = {
            "orders-db": {**MATCHING, "referenceHourOfDay": self.hour},
            "billing-db": {**MATCHING, "restoreWindowDays": self.billing_window},
        }
        problems = []
        for name, fields in wanted.items():
            have = schedules[name]
            problems += [
                f"{name} {key} is {have[key]}, expected {fields[key]}"
                for key in ("referenceHourOfDay", "referenceMinuteOfHour", "restoreWindowDays")
                if have[key] != fields[key]
            ]
            got = sorted(
                (
                    i["frequencyType"],
                    i["frequencyInterval"],
                    i["retentionUnit"],
                    i["retentionValue"],
                )
                for i in have["policies"][0]["policyItems"]
            )
            if got != [("daily", 1, "days", 7), ("hourly", 6, "days", 2)]:
                problems.append(f"{name} policy items are {got}")
        if not (clusters["orders-db"]["backupEnabled"] and clusters["orders-db"]["pitEnabled"]):
            problems.append(f"orders-db flags are {clusters['orders-db']}")
        log = self.admin.get("/_emulator/requests").raise_for_status().json()["requests"]
        writes = [e["path"] for e in log if e["method"] == "PATCH" and "billing-db" in e["path"]]
        if writes:
            problems.append(f"gitopsd wrote to the observe-mode cluster billing-db: {writes}")
        return problems

    def tip(self) -> str | None:
        """The report branch's tip at the remote."""
        return self.remote.head(BRANCH)

    def trailer(self, commit: str, key: str) -> str:
        """One trailer of a commit at the remote ("" when absent)."""
        return self.remote.field(commit, f"%(trailers:key={key},valueonly)").strip()

    def local_report(self) -> dict[str, object]:
        """``<state dir>/report/report.json``: the last cycle's report."""
        parsed = json.loads((self.state / "report" / "report.json").read_text(encoding="utf-8"))
        assert isinstance(parsed, dict)
        return parsed

    def database(self) -> tuple[str, str]:
        """(``PRAGMA integrity_check``, the fingerprint remembered as published)."""
        uri = f"file:{self.state / 'state.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            check = str(db.execute("PRAGMA integrity_check").fetchone()[0])
            row = db.execute("SELECT fingerprint FROM published WHERE what = 'report'").fetchone()
        return check, "" if row is None else str(row[0])

    def leftovers(self) -> tuple[str, ...]:
        """Lock files, temporary report trees and a hot journal the kill left in the state dir."""
        git_dir = self.state / "repo" / ".git"
        left: list[str] = []
        if git_dir.is_dir():  # the locks git takes on the clone, as gitopsd looks for them
            locks = [*git_dir.glob("*.lock"), *(git_dir / "refs").rglob("*.lock")]
            left += [str(p.relative_to(git_dir)) for p in locks]
            left += ["gitopsd-report-*" for _ in git_dir.glob("gitopsd-report-*")]
        journal = self.state / "state.sqlite3-journal"
        if journal.exists() and journal.stat().st_size > 0:
            left.append(journal.name)
        return tuple(sorted(left))


# -- the run ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Aim:
    """One planned kill; what is left empty (None) the run's seeded generator chooses.

    ``point`` refines the phase (``POINTS``); ``git`` makes a user commit before the cycle;
    ``atlas`` names an out-of-band change ("" for none); ``completes`` says whether the remote
    finishes a push it had fully received when the daemon died; ``torn`` names a lock file
    to leave in the clone after the kill ("" for none).
    """

    phase: str
    point: str = ""
    git: bool | None = None
    atlas: str | None = None
    completes: bool | None = None
    torn: str | None = None


POINTS = {
    "idle": ("between-cycles",),
    "startup": ("init", "negotiation", "receiving"),
    "fetch": ("negotiation", "receiving", "refs"),
    "checkout": ("unpack-trees", "clean"),
    "observe": ("get-1", "get-2", "get-3"),
    "apply": ("answer", "read-back"),
    "push-before": ("commit-tree", "pre-receive"),
    "push-after": ("post-receive",),
    "sqlite": ("write-1", "write-2", "write-3"),
}
ATLAS_WRITES = ("orders-minute", "orders-pit")


def _git_point(event: str, verb: str, parent: str = "", label: str = "") -> Match:
    def match(p: Point) -> bool:
        return (p.source, p.event, p.verb) == ("git", event, verb) and (
            (not parent or p.parent == parent) and (not label or p.label == label)
        )

    return match


def _nth(n: int, source: str, event: str, verb: str = "") -> Match:
    seen = [0]

    def match(p: Point) -> bool:
        if (p.source, p.event) != (source, event) or (verb and p.verb != verb):
            return False
        seen[0] += 1
        return seen[0] == n

    return match


def _read_back() -> Match:
    patched = [False]

    def match(p: Point) -> bool:
        if p.source != "atlas":
            return False
        if (p.event, p.verb) == ("answer", "PATCH"):
            patched[0] = True
            return False
        return patched[0] and (p.event, p.verb) == ("request", "GET")

    return match


def aim_at(phase: str, point: str) -> Match:
    """The Match of one kill point."""
    fetch = {
        "init": _git_point("start", "init"),
        "negotiation": _git_point("start", "upload-pack", parent="fetch"),
        "receiving": lambda p: p.parent == "fetch" and p.event == "start"
        and p.verb in {"unpack-objects", "index-pack"},
        "refs": _git_point("region_enter", "fetch", label="consume_refs"),
    }  # fmt: skip
    others = {
        ("checkout", "unpack-trees"): _git_point("region_enter", "checkout", label="unpack_trees"),
        ("checkout", "clean"): _git_point("start", "clean"),
        ("apply", "answer"): lambda p: (p.source, p.event, p.verb) == ("atlas", "answer", "PATCH"),
        ("apply", "read-back"): _read_back(),
        ("push-before", "commit-tree"): _git_point("start", "commit-tree"),
        ("push-before", "pre-receive"): _git_point(
            "child_start", "receive-pack", label="pre-receive"
        ),
        ("push-after", "post-receive"): _git_point(
            "child_start", "receive-pack", label="post-receive"
        ),
    }
    if phase in {"fetch", "startup"}:
        return fetch[point]
    if phase == "observe":
        return _nth(int(point.rsplit("-", 1)[1]), "atlas", "request", "GET")
    if phase == "sqlite":
        return _nth(int(point.rsplit("-", 1)[1]), "sqlite", "create")
    return others[phase, point]


def plan(rng: random.Random, kills: int) -> list[Aim]:
    """``kills`` aims spread evenly over PHASES in a seeded order; never a startup kill first."""
    phases = [PHASES[i % len(PHASES)] for i in range(kills)]
    rng.shuffle(phases)
    first = next((i for i, p in enumerate(phases) if p != "startup"), 0)
    phases[0], phases[first] = phases[first], phases[0]
    return [Aim(phase=p) for p in phases]


class Pause(Protocol):
    """A delay between reaching a kill point and the kill (the benchmark's; tests have none)."""

    def delay_s(self) -> float:
        """The next delay; 0 kills at the point."""
        ...

    def wait(self, delay_s: float) -> None:
        """Let the thawed daemon run on for ``delay_s``."""
        ...


class CrashRun:
    """Kills and restarts the daemon on one Stage, and checks every recovery.

    Args:
        stage: the world.
        rng: the seeded source of every choice left open.
        strict: raise on the first failed check (tests); else record it (the benchmark).
        torn_rate: the share of kills after which a stale lock file is left in the clone.
        pause: chooses a delay between the kill point and the kill, and waits it with the
            daemon thawed (the benchmark's seeded few milliseconds); None kills at the point.
    """

    def __init__(
        self,
        stage: Stage,
        rng: random.Random,
        *,
        strict: bool = True,
        torn_rate: float = 0.25,
        pause: Pause | None = None,
    ) -> None:
        self.stage = stage
        self.rng = rng
        self.strict = strict
        self.torn_rate = torn_rate
        self.pause = pause
        self.kills: list[Kill] = []
        self.recoveries: list[Recovery] = []
        self.failures: list[str] = []
        self.daemon: DaemonProcess | None = None
        self._mark = 0
        self._trailers: dict[tuple[str, str], str] = {}

    # -- the loop ----------------------------------------------------------------------------

    def run(self, aims: list[Aim]) -> None:
        """Start, then one kill per aim, restarting and checking after each (but see startup).

        A startup kill hits the restart that follows the kill before it, during its first
        fetch; the checks then run after the next restart.
        """
        self._start_and_settle()
        pending: list[Kill] = []
        for aim in aims:
            if aim.phase == "startup" and pending:
                pending.append(self._kill_startup(aim))
                continue
            if pending:
                self._recover(pending)
            pending = [self._kill(aim)]
        if pending:
            self._recover(pending)
        self._check_history()

    def close(self) -> None:
        """Kill a daemon still running."""
        if self.daemon is not None:
            self.daemon.__exit__(None, None, None)
            self.daemon = None

    def _start(self, match: Match | None = None) -> DaemonProcess:
        if match is not None:
            self.stage.trigger.arm(match)
        self._mark = len(self.stage.notify.messages.snapshot())
        env = {"WATCHDOG_USEC": "2000000", **self.stage.trace2.env}
        self.daemon = DaemonProcess(self.stage.config, self.stage.notify, env=env)
        self.stage.trigger.daemon_pid = self.daemon.process.pid
        return self.daemon

    def _start_and_settle(self) -> None:
        daemon = self._start()
        self.stage.notify.wait("READY=1", after=self._mark)
        self._cycles(daemon, 1)
        self._check(self.stage.tip() is not None, "the first cycle published no report")

    def _check(self, ok: object, message: str, recovery: Recovery | None = None) -> None:
        if ok:
            return
        if self.strict:
            raise AssertionError(message)
        self.failures.append(message)
        if recovery is not None:
            recovery.failures.append(message)

    # -- kills -------------------------------------------------------------------------------

    def _kill(self, aim: Aim) -> Kill:
        stage, rng = self.stage, self.rng
        point = aim.point or rng.choice(POINTS[aim.phase])
        kill = Kill(number=len(self.kills) + 1, phase=aim.phase, point=point)
        self.kills.append(kill)
        git, atlas = self._changes(aim)
        before = stage.tip()
        if aim.phase == "idle":
            self._finish(kill, aim, None, before)
            kill.changes = self._change(git, atlas)
            return kill
        if point == "pre-receive":
            stage.hold_push()
        stage.trigger.arm(aim_at(aim.phase, point))
        kill.changes = self._change(git, atlas)
        assert self.daemon is not None
        if not git:
            self.daemon.signal(signal.SIGUSR1)
        fired = stage.trigger.fired.wait(WAIT_S)
        stage.trigger.disarm()
        kill.missed = not fired
        self._check(fired, f"kill {kill.number} ({aim.phase} {point}): the point never came")
        self._finish(kill, aim, stage.trigger.hit if fired else None, before)
        return kill

    def _kill_startup(self, aim: Aim) -> Kill:
        stage = self.stage
        point = aim.point or self.rng.choice(POINTS["startup"])
        kill = Kill(number=len(self.kills) + 1, phase="startup", point=point)
        self.kills.append(kill)
        git_dir = stage.state / "repo" / ".git"
        if point == "init":  # a clone to make again: a lock file left by a crashed git
            if git_dir.is_dir() and not any(x.endswith(".lock") for x in stage.leftovers()):
                (git_dir / "index.lock").touch()
                kill.torn = "index.lock"
        else:  # a revision the clone lacks
            kill.changes = (stage.change_git(self.rng),)
        before = stage.tip()
        self._start(aim_at("startup", point))
        fired = stage.trigger.fired.wait(WAIT_S)
        stage.trigger.disarm()
        kill.missed = not fired
        self._check(fired, f"kill {kill.number} (startup {point}): the point never came")
        self._finish(kill, aim, stage.trigger.hit if fired else None, before, tear=False)
        return kill

    def _changes(self, aim: Aim) -> tuple[bool, str]:
        rng = self.rng
        git = aim.git if aim.git is not None else rng.random() < 0.4
        atlas = aim.atlas
        if atlas is None:
            atlas = rng.choice(("", "", *ATLAS_WRITES, "billing-window"))
        if aim.phase in {"fetch", "checkout"}:
            git = True
        if aim.phase == "apply" and not git and atlas not in ATLAS_WRITES:
            atlas = rng.choice(ATLAS_WRITES)
        if aim.phase in {"push-before", "push-after"} and not git and not atlas:
            atlas = "billing-window"
        return git, atlas

    def _change(self, git: bool, atlas: str) -> tuple[str, ...]:
        made = [self.stage.change_git(self.rng)] if git else []
        if atlas:
            made.append(self.stage.change_atlas(self.rng, atlas))
        return tuple(made)

    def _finish(
        self, kill: Kill, aim: Aim, hit: Point | None, before: str | None, *, tear: bool = True
    ) -> None:
        """Kill the daemon's process group at ``hit``; let the remote finish; maybe tear."""
        stage = self.stage
        assert self.daemon is not None
        # A frozen remote keeps the daemon waiting anyway: no delay for those points.
        paused = hit is not None and not hit.server and self.pause is not None
        delay_s = self.pause.delay_s() if paused and self.pause is not None else 0.0
        if delay_s > 0 and hit is not None and self.pause is not None:
            _signal(self.daemon.process.pid, SIGCONT)
            _signal(hit.pid, SIGCONT)
            stage.gate.release(forward=True)
            self.pause.wait(delay_s)
            kill.delay_ms = round(delay_s * 1000, 1)
        tree = kill_daemon(self.daemon.process)
        stage.trigger.daemon_pid = 0
        self.daemon.__exit__(None, None, None)
        self.daemon = None
        stage.gate.release(forward=False)
        kill.running = tuple(sorted({verb for _, verb in tree.client}))
        server = set(tree.server)
        if hit is not None and hit.server and not kill.delay_ms:
            completes = aim.completes
            if completes is None:
                completes = kill.phase == "push-after" or (
                    kill.phase == "push-before" and self.rng.random() < 0.5
                )
            if not completes:  # the remote and its hook die
                for pid, _ in process_tree(hit.pid).client:
                    _signal(pid, SIGKILL)
                _signal(hit.pid, SIGKILL)
            _signal(hit.pid, SIGCONT)
            server.add(hit.pid)
            kill.push = "the remote completes the push" if completes else "the remote dies"
        if stage.hold.exists():
            stage.release_push()
        wait_gone(tuple(server))
        if stage.tip() != before:
            kill.push = (kill.push + "; " if kill.push else "") + "report landed"
        kill.left = stage.leftovers()
        kill.hot_journal = "state.sqlite3-journal" in kill.left
        torn = aim.torn
        if torn is None:
            torn = self.rng.choice(GIT_LOCKS) if self.rng.random() < self.torn_rate else ""
        git_dir = stage.state / "repo" / ".git"
        if tear and torn and git_dir.is_dir():
            (git_dir / torn).parent.mkdir(parents=True, exist_ok=True)
            (git_dir / torn).touch()
            kill.torn = torn

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self, kills: list[Kill]) -> None:
        stage = self.stage
        recovery = Recovery(kills=tuple(k.number for k in kills))
        self.recoveries.append(recovery)
        tip = stage.tip()
        inits = stage.trace2.inits
        started = time.monotonic()
        daemon = self._start()
        stage.notify.wait("READY=1", after=self._mark)
        recovery.ready_s = time.monotonic() - started
        self._cycles(daemon, 1, recovery)
        recovery.reported_s = time.monotonic() - started
        lock = (stage.state / "gitopsd.lock").read_text(encoding="utf-8").strip()
        self._check(
            lock == str(daemon.process.pid) and daemon.count("state_locked") == 0,
            f"after kills {recovery.kills}: the lock file names {lock}, not the new daemon",
            recovery,
        )
        first = stage.local_report()
        recovery.recloned = stage.trace2.inits > inits
        recovery.recloned_note = "recloned" in _notes(first)
        last = kills[-1]  # a startup kill's own start used up the lock left before it
        locked = [x for x in last.left if x.endswith(".lock")]
        locked += [last.torn] if last.torn and last.phase != "startup" else []
        self._check(
            recovery.recloned or not locked,
            f"after kills {recovery.kills}: {locked} in the clone, yet no new clone ({last})",
            recovery,
        )
        self._check(
            stage.trace2.inits - inits <= 1,
            f"after kills {recovery.kills}: cloned {stage.trace2.inits - inits} times",
            recovery,
        )
        recovery.needed, recovery.commits = self._published(tip, first, recovery)
        inits = stage.trace2.inits
        tip = stage.tip()
        daemon.signal(signal.SIGUSR1)
        self._cycles(daemon, 2, recovery)
        second = stage.local_report()
        self._check(
            stage.trace2.inits == inits and "recloned" not in _notes(second),
            f"after kills {recovery.kills}: the clone was made again on the next cycle",
            recovery,
        )
        self._published(tip, second, recovery)
        self._converged(second, recovery)

    def _cycles(self, daemon: DaemonProcess, n: int, recovery: Recovery | None = None) -> None:
        ends = {"cycle_finished", "cycle_failed"}

        def done(items: list[object]) -> bool:
            return sum(1 for i in items if isinstance(i, dict) and i.get("event") in ends) >= n

        daemon.logs.wait_for(done, WAIT_S, f"cycle {n} of the daemon")
        bad = [
            i
            for i in daemon.logs.snapshot()
            if isinstance(i, dict) and i.get("event") in {"cycle_failed", "publish_failed"}
        ]
        self._check(not bad, f"a cycle failed: {bad}", recovery)

    def _published(
        self, before: str | None, report: dict[str, object], recovery: Recovery
    ) -> tuple[bool, int]:
        """Check the tip after one cycle; (a commit was due, commits made)."""
        stage = self.stage
        main = stage.remote.head("main")
        after = stage.tip()
        fingerprint = str(report["fingerprint"])
        holds = (
            before is not None
            and self.trailer(before, "Drift-Fingerprint") == fingerprint
            and main in stage.remote.history(before)
        )
        made = 0 if after == before else len(self.reflog()) - self._reflog_before(before)
        what = f"after kills {recovery.kills}"
        self._check(after is not None, f"{what}: no report branch", recovery)
        assert after is not None
        self._check(
            self.trailer(after, "Drift-Fingerprint") == fingerprint,
            f"{what}: the tip holds {self.trailer(after, 'Drift-Fingerprint')}, the cycle"
            f" reported {fingerprint}",
            recovery,
        )
        self._check(
            self.trailer(after, "Source-Revision") == f"main@{main}",
            f"{what}: the tip reports {self.trailer(after, 'Source-Revision')}, main is {main}",
            recovery,
        )
        if holds:
            self._check(made == 0, f"{what}: the tip held the report; {made} commits", recovery)
        else:
            self._check(made == 1, f"{what}: one commit due, {made} made", recovery)
        return not holds, made

    def _converged(self, report: dict[str, object], recovery: Recovery) -> None:
        stage = self.stage
        what = f"after kills {recovery.kills}"
        for problem in stage.atlas_problems():
            self._check(False, f"{what}: {problem}", recovery)  # noqa: FBT003
        clusters = {c["cluster"]: c for c in report["clusters"]}  # type: ignore[attr-defined]
        statuses = {name: c["status"] for name, c in clusters.items()}
        window = stage.billing_window
        billing = "in-sync" if window == MATCHING["restoreWindowDays"] else "drifted"
        wanted = {"orders-db": "in-sync", "billing-db": billing}
        self._check(statuses == wanted, f"{what}: statuses {statuses}, expected {wanted}", recovery)
        seen = [(c["path"], c["atlas"]) for c in clusters["billing-db"]["changes"]]
        drift = [("/schedule/restoreWindowDays", window)] if billing == "drifted" else []
        self._check(
            seen == drift, f"{what}: billing-db's changes {seen}, expected {drift}", recovery
        )
        check, remembered = stage.database()
        self._check(check == "ok", f"{what}: PRAGMA integrity_check says {check}", recovery)
        self._check(
            remembered == report["fingerprint"],
            f"{what}: the database remembers {remembered} as published",
            recovery,
        )
        self._check(not self._linear_problems(), f"{what}: {self._linear_problems()}", recovery)

    # -- the report branch -------------------------------------------------------------------

    def trailer(self, commit: str, key: str) -> str:
        """One trailer of a report commit (commits do not change: asked once each)."""
        if (commit, key) not in self._trailers:
            self._trailers[commit, key] = self.stage.trailer(commit, key)
        return self._trailers[commit, key]

    def reflog(self) -> list[str]:
        """Every tip the report branch had at the remote, oldest first."""
        out = self.stage.remote.git("reflog", "show", "--format=%H", f"refs/heads/{BRANCH}")
        return list(reversed(out.split()))

    def _reflog_before(self, tip: str | None) -> int:
        log = self.reflog()
        return 0 if tip is None else len(log) - log[::-1].index(tip)

    def _linear_problems(self) -> list[str]:
        """Report commits with other than one parent, or repeating the report below them."""
        stage = self.stage
        tip = stage.tip()
        main = set(stage.remote.history("main"))
        problems = []
        commit = tip
        while commit is not None and commit not in main:
            parents = stage.remote.parents(commit)
            if len(parents) != 1:
                problems.append(f"report commit {commit} has {len(parents)} parents")
                break
            below = parents[0]
            same = below not in main and self.trailer(below, "Drift-Fingerprint") == (
                self.trailer(commit, "Drift-Fingerprint")
            )
            if same:
                problems.append(f"report commit {commit} repeats {below}")
            commit = below
        return problems

    def duplicates(self) -> list[tuple[str, str]]:
        """Consecutive tips of the branch with the same report for the same revision."""
        keys = [
            (self.trailer(c, "Drift-Fingerprint"), self.trailer(c, "Source-Revision"))
            for c in self.reflog()
        ]
        return [a for a, b in itertools.pairwise(keys) if a == b]

    def lost(self) -> list[str]:
        """Fingerprints of cycles that finished publishing but never reached the branch."""
        tips = {self.trailer(c, "Drift-Fingerprint") for c in self.reflog()}
        uri = f"file:{self.stage.state / 'state.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            rows = db.execute("SELECT fingerprint FROM cycle WHERE error = ''").fetchall()
        return sorted({str(r[0]) for r in rows} - tips)

    def _check_history(self) -> None:
        self._check(not self.duplicates(), f"duplicate reports: {self.duplicates()}")
        self._check(not self.lost(), f"reports never published: {self.lost()}")


def _notes(report: dict[str, object]) -> list[str]:
    source = report["source"]
    assert isinstance(source, dict)
    return [str(n["code"]) for n in source["notes"]]


@contextlib.contextmanager
def crash_run(root: Path, seed: int, **options: object) -> Iterator[CrashRun]:
    """A Stage in ``root`` and a CrashRun over it, everything stopped afterwards."""
    with contextlib.ExitStack() as stack:
        stage = Stage(root, stack)
        run = CrashRun(stage, random.Random(seed), **options)  # type: ignore[arg-type]  # noqa: S311 - reproducible choices
        stack.callback(run.close)
        yield run


# -- tests --------------------------------------------------------------------------------------


def test_kills_during_fetch_and_checkout_leave_a_clone_the_next_start_uses(tmp_path):
    """Killed mid-fetch, mid-checkout (index locked) and in a restart's first fetch."""
    with crash_run(tmp_path, seed=7, torn_rate=0.0) as run:
        run.run(
            [
                Aim(phase="fetch", point="receiving"),
                Aim(phase="checkout", point="unpack-trees"),
                Aim(phase="startup", point="negotiation"),
            ]
        )
    assert [k.missed for k in run.kills] == [False, False, False]


def test_kills_while_atlas_is_read_or_written_converge_on_restart(tmp_path):
    """A GET in flight, a schedule PATCH applied but not answered, a cluster PATCH not read back."""
    with crash_run(tmp_path, seed=11, torn_rate=0.0) as run:
        run.run(
            [
                Aim(phase="observe", point="get-2", git=False, atlas="orders-minute"),
                Aim(phase="apply", point="answer", git=True, atlas=""),
                Aim(phase="apply", point="read-back", git=False, atlas="orders-pit"),
            ]
        )
    assert not any(k.missed for k in run.kills)


def test_a_push_cut_short_is_published_once(tmp_path):
    """The remote applied the push (before or after the daemon died), or died first.

    Only billing-db (observe mode) changes, so the restart finds what the killed cycle found:
    after a push that landed it commits nothing, after one that did not it pushes the report.
    """
    with crash_run(tmp_path, seed=3, torn_rate=0.0) as run:
        run.run(
            [
                Aim(phase="push-after", git=False, atlas="billing-window"),
                Aim(phase="push-before", git=False, atlas="billing-window", completes=True),
                Aim(phase="push-before", git=False, atlas="billing-window", completes=False),
            ]
        )
    answered, unanswered, refused = run.recoveries
    assert [k.push.endswith("report landed") for k in run.kills] == [True, True, False]
    assert (answered.needed, answered.commits) == (False, 0)
    assert (unanswered.needed, unanswered.commits) == (False, 0)
    assert (refused.needed, refused.commits) == (True, 1)


def test_a_state_write_cut_short_a_quiet_restart_and_a_stale_lock(tmp_path):
    """A SQLite write killed; a kill between cycles commits nothing; a stale index.lock."""
    with crash_run(tmp_path, seed=5, torn_rate=0.0) as run:
        run.run(
            [
                Aim(phase="sqlite", point="write-2", git=False, atlas=""),
                Aim(phase="idle", git=False, atlas="", torn=""),
                Aim(phase="idle", git=False, atlas="", torn="index.lock"),
            ]
        )
    _, quiet, locked = run.recoveries
    assert (quiet.needed, quiet.commits) == (False, 0), "nothing changed: no new report"
    assert quiet.recloned is False
    assert locked.recloned is True


def test_a_restart_that_made_the_clone_again_says_so_in_its_report(tmp_path):
    """docs/git.md: a clone a crash left broken is made again, and the report notes `recloned`.

    The repair happens in the daemon's first fetch, before any cycle; the first cycle's own
    fetch finds a sound clone, so the daemon carries the first fetch's notes into it.
    """
    with crash_run(tmp_path, seed=13, torn_rate=0.0) as run:
        run.run([Aim(phase="idle", git=False, atlas="", torn="index.lock")])
    (restart,) = run.recoveries
    assert restart.recloned
    assert restart.recloned_note


def test_a_report_commit_cut_short_leaves_no_temporary_tree_behind(tmp_path):
    """Killed while the report commit is written: the next start clears its temporary tree.

    The commit is built in a temporary directory inside ``.git`` whose clean-up SIGKILL skips;
    the clone's health check removes such leftovers before anything else runs.
    """
    with crash_run(tmp_path, seed=17, torn_rate=0.0) as run:
        run.run([Aim(phase="push-before", point="commit-tree", git=False, atlas="billing-window")])
    assert "gitopsd-report-*" in run.kills[0].left
    assert not list((run.stage.state / "repo" / ".git").glob("gitopsd-report-*"))


def test_a_drift_corrected_just_before_a_crash_is_still_reported(tmp_path):
    """Atlas changed out of band, gitopsd put it back, then died before publishing.

    The killed cycle's PATCH reached Atlas; the restart finds Atlas equal to Git. The cycle
    recorded its correction before writing it, so the restart's report says that orders-db
    drifted and was resolved.
    """
    with crash_run(tmp_path, seed=19, torn_rate=0.0) as run:
        run.run([Aim(phase="apply", point="answer", git=False, atlas="orders-minute")])
    subjects = [run.stage.remote.field(c, "%s") for c in run.reflog()]
    assert any("resolved" in s for s in subjects), subjects
