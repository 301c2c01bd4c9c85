"""Webhook abuse against the real daemon: refused, counted, and never in the way of a cycle.

The daemon runs as a subprocess with polls and drift checks an hour apart, so every cycle it
runs is one we asked for. While client threads keep up a barrage on /hooks/git (forged GitHub,
Gitea and GitLab deliveries, unsigned ones, replays of a genuine one, an oversized
Content-Length, none, a malformed one) and slowloris clients trickle headers a byte at a time,
genuine pushes keep coming: each gets 202, runs exactly one cycle and lands in Atlas, /healthz
answers between them, every slow client is cut at the listener's 10 s deadline, and
gitopsd_webhooks_total counts each rejection under its result exactly as the clients saw it.
Then every connection slot is taken by idle clients while a slow cycle runs: the extra clients
get 503 at once and the cycle finishes. Every wait is bounded; nothing sleeps to wait.

SIGUSR1 under the same barrage is acted on every time: the daemon's threads block its signals,
so the kernel delivers them to the main thread, which runs the handlers.
"""

from __future__ import annotations

import hashlib
import select
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import hooks
from support.daemon import DaemonProcess, notify_socket
from test_drift_loop import Loop

WAIT_S = 20.0
"""The bound on each wait; a healthy run never comes near it."""
DEADLINE_S = 10.0
"""The listener's whole-request deadline (docs/http.md)."""
CAP = 32
"""The listener's connection cap (docs/http.md)."""
SLOW_CLIENTS = 12
"""Slowloris connections held at once: well under the cap, so others still get through."""
CYCLES_UNDER_FIRE = 3
"""Genuine pushes delivered while the barrage runs."""


def raw_request(headers: dict[str, str], body: bytes = b"", *, length: str | None = None) -> bytes:
    """A POST /hooks/git as bytes; ``length`` overrides Content-Length ("" leaves it out)."""
    size = str(len(body)) if length is None else length
    lines = ["POST /hooks/git HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if size:
        lines.append(f"Content-Length: {size}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Barrage:
    """Abusive clients on threads, each tallying the statuses it got, until ``stop``."""

    address: tuple[str, int]
    stop: threading.Event = field(default_factory=threading.Event)
    tally: Counter[tuple[str, int]] = field(default_factory=Counter)
    dropped_after_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def hammer(self, name: str, make: Callable[[int], bytes]) -> None:
        """A thread sending ``make(n)`` on a new connection, again and again."""

        def run() -> None:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    status = hooks.status_of(hooks.exchange(self.address, make(n)))
                except OSError as exc:
                    self._error(f"{name}: {exc!r}")
                    return
                with self._lock:
                    self.tally[name, status] += 1

        self._start(name, run)

    def slowloris(self, n: int) -> None:
        """A thread that trickles header bytes until the server cuts it (bounded)."""

        def run() -> None:
            started = time.monotonic()
            with socket.create_connection(self.address, timeout=WAIT_S) as sock:
                sock.sendall(b"POST /hooks/git HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                while time.monotonic() - started < DEADLINE_S * 2:
                    try:
                        sock.send(b"a")
                        readable, _, _ = select.select([sock], [], [], 0)
                        if readable and sock.recv(1) == b"":
                            break
                    except OSError:  # reset or broken pipe: cut
                        break
                    self.stop.wait(0.25)  # the trickle's pace, not a wait for anything
                else:
                    self._error(f"slowloris {n} was never cut")
                    return
            with self._lock:
                self.dropped_after_s.append(time.monotonic() - started)

        self._start(f"slowloris-{n}", run)

    def _start(self, name: str, run: Callable[[], None]) -> None:
        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)

    def join_slow(self) -> None:
        """Wait (bounded) for every slowloris thread to be cut."""
        for thread in self._threads:
            if thread.name.startswith("slowloris"):
                thread.join(timeout=DEADLINE_S * 2 + WAIT_S)

    def finish(self) -> None:
        """Stop every thread and wait for them (bounded)."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=WAIT_S)
        assert not [t.name for t in self._threads if t.is_alive()]

    @property
    def sent(self) -> int:
        """Requests answered (or cut) so far."""
        with self._lock:
            return sum(self.tally.values())


class Events:
    """Incremental waits on the daemon's log: only lines after the last one seen are read.

    The barrage makes thousands of log lines; rescanning them all on every new line would
    make the test, not the daemon, the bottleneck.
    """

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.seen = 0

    def next(self, event: str, what: str, **fields: object) -> dict[str, object]:
        """The first line with ``event`` (and ``fields``) after the last one returned."""
        start = self.seen

        def found(items: list[object]) -> int | None:
            for index in range(start, len(items)):
                item = items[index]
                wanted = isinstance(item, dict) and item.get("event") == event
                if wanted and all(item.get(k) == v for k, v in fields.items()):  # type: ignore[union-attr]
                    return index + 1
            return None

        index = self.daemon.logs.wait_for(found, WAIT_S, what)
        assert isinstance(index, int)
        self.seen = index
        line = self.daemon.logs.snapshot()[index - 1]
        assert isinstance(line, dict)
        return line


@pytest.fixture
def loop(world, tmp_path: Path) -> Loop:
    """Manifests pushed to a remote, Atlas matching them."""
    made = Loop(world, tmp_path / "git")
    made.manifests()
    made.seed()
    return made


@pytest.fixture
def daemon(loop: Loop) -> Iterator[DaemonProcess]:
    """The daemon, ready, its start-up cycle done; polls and drift checks an hour apart."""
    secret = loop.world.root / "webhook_secret"
    secret.write_text(hooks.SECRET)
    git = f'url = "{loop.remote.url}"\nbranch = "main"\npath = "manifests"\npoll_interval_s = 3600'
    server = f'[server]\nlisten = "127.0.0.1:0"\nwebhook_secret_file = "{secret}"\n'
    config = loop.world.config(reconcile="drift_interval_s = 3600", extra=server, git=git)
    with notify_socket() as notify, DaemonProcess(config, notify) as process:
        notify.wait("READY=1")
        process.log("cycle_finished")
        yield process
        process.signal(signal.SIGTERM)
        assert process.exit_code() == 0


def push(loop: Loop, restore_days: int) -> tuple[str, bytes, dict[str, str]]:
    """Commit and push a new restore window; the genuine GitHub delivery announcing it."""
    path = loop.user.path / "manifests/backups.yaml"
    text = path.read_text()
    old = next(line for line in text.splitlines() if "restoreWindowDays:" in line)
    loop.user.write(
        "manifests/backups.yaml", text.replace(old, f"  restoreWindowDays: {restore_days}")
    )
    sha = loop.push(f"restore window {restore_days} days")
    body = hooks.push_body(after=sha)
    return sha, body, hooks.github(body)


def webhooks_total(daemon: DaemonProcess) -> dict[str, float]:
    """gitopsd_webhooks_total by result, from /metrics."""
    text = httpx.get(daemon.url + "/metrics", timeout=WAIT_S).text
    return {
        s.labels["result"]: s.value
        for family in text_string_to_metric_families(text)
        if family.name == "gitopsd_webhooks"
        for s in family.samples
        if s.name == "gitopsd_webhooks_total"
    }


def forged(kind: str) -> Callable[[int], bytes]:
    """Deliveries of fresh bodies with a wrong signature or token (or none)."""

    def make(n: int) -> bytes:
        body = hooks.push_body(after=hashlib.sha1(f"{kind}{n}".encode()).hexdigest())  # noqa: S324
        headers = {
            "github": lambda: hooks.github(body, secret=hooks.WRONG),
            "gitea": lambda: hooks.gitea(body, secret=hooks.WRONG),
            "gitlab": lambda: hooks.gitlab(secret=hooks.WRONG),
            "unsigned": lambda: {"X-GitHub-Event": "push", "Content-Type": "application/json"},
        }[kind]()
        return raw_request(headers, body)

    return make


EXPECTED = {
    "forged-github": (401, "unauthorized"),
    "forged-gitea": (401, "unauthorized"),
    "forged-gitlab": (401, "unauthorized"),
    "unsigned": (401, "unauthorized"),
    "replay": (409, "replayed"),
    "oversized": (413, "too_large"),
    "no-length": (411, "length_required"),
    "bad-length": (400, "bad_request"),
}


def deliver(
    daemon: DaemonProcess, events: Events, loop: Loop, restore_days: int
) -> tuple[float, bytes]:
    """Push a change and send its genuine delivery: 202, then its one cycle.

    The seconds from delivery to the cycle's end, and the delivery's bytes (to replay).
    """
    url = httpx.URL(daemon.url)
    assert url.port is not None
    sha, body, headers = push(loop, restore_days)
    sent = time.monotonic()
    request = raw_request(headers, body)
    answer = hooks.exchange((url.host, url.port), request)
    assert hooks.status_of(answer) == 202, answer
    assert answer.endswith(b'{"triggered": true}\n')
    events.next("webhook_push_received", f"the push of {sha[:12]}", after=sha)
    events.next("cycle_finished", f"the cycle of {sha[:12]}")
    return time.monotonic() - sent, request


def test_abuse_is_refused_counted_and_never_blocks_a_cycle(loop, daemon):
    """Under a barrage and slowloris: pushes still run one cycle each, /healthz answers."""
    events = Events(daemon)
    events.next("cycle_finished", "the start-up cycle")
    url = httpx.URL(daemon.url)
    assert url.port is not None
    _, genuine = deliver(daemon, events, loop, 3)

    barrage = Barrage((url.host, url.port))
    barrage.hammer("forged-github", forged("github"))
    barrage.hammer("forged-gitea", forged("gitea"))
    barrage.hammer("forged-gitlab", forged("gitlab"))
    barrage.hammer("unsigned", forged("unsigned"))
    barrage.hammer("replay", lambda _n: genuine)
    barrage.hammer("oversized", lambda _n: raw_request({}, length="2097152"))
    barrage.hammer("no-length", lambda _n: raw_request({}, length=""))
    barrage.hammer("bad-length", lambda _n: raw_request({}, length="12abc"))
    for n in range(SLOW_CLIENTS):
        barrage.slowloris(n)
    started = time.monotonic()
    try:
        latencies = []
        for days in range(4, 4 + CYCLES_UNDER_FIRE):
            latencies.append(deliver(daemon, events, loop, days)[0])
            health = httpx.get(daemon.url + "/healthz", timeout=WAIT_S)
            assert (health.status_code, health.text) == (200, "ok\n")
        barrage.join_slow()
    finally:
        under_fire_s = time.monotonic() - started
        barrage.finish()
    assert barrage.errors == []
    assert loop.world.schedule("orders-db")["restoreWindowDays"] == 3 + CYCLES_UNDER_FIRE
    assert max(latencies) < WAIT_S / 2, latencies

    # slow clients were cut at the listener's deadline, not held
    assert len(barrage.dropped_after_s) == SLOW_CLIENTS
    assert all(DEADLINE_S - 1 <= s <= DEADLINE_S + 3 for s in barrage.dropped_after_s)

    # every refusal was what the clients saw, and counted under its result
    wrong = {k: n for k, n in barrage.tally.items() if EXPECTED[k[0]][0] != k[1]}
    assert wrong == {}
    counted = webhooks_total(daemon)
    by_result: Counter[str] = Counter()
    for (name, _status), n in barrage.tally.items():
        by_result[EXPECTED[name][1]] += n
    assert {r: counted.get(r, 0) for r in by_result} == dict(by_result)
    assert counted["triggered"] == 1 + CYCLES_UNDER_FIRE
    assert counted.get("error", 0) == 0
    assert barrage.sent / under_fire_s > 50, (barrage.sent, under_fire_s)

    # nothing but the genuine pushes ran a cycle: the start-up one, then one per push
    assert daemon.count("cycle_started") == 1 + 1 + CYCLES_UNDER_FIRE


def test_connections_over_the_cap_get_503_while_a_cycle_runs(loop, daemon):
    """Every slot taken by idle clients: the extra ones get 503 at once; the cycle finishes."""
    events = Events(daemon)
    events.next("cycle_finished", "the start-up cycle")
    url = httpx.URL(daemon.url)
    assert url.port is not None
    loop.world.admin.put("/_emulator/faults", json={"latency_ms": 300}).raise_for_status()
    _, body, headers = push(loop, 3)
    assert hooks.status_of(hooks.exchange((url.host, url.port), raw_request(headers, body))) == 202
    events.next("cycle_started", "the push's cycle")  # about 2 s: six Atlas calls of 0.3 s
    extra = 8
    held = [
        socket.create_connection((url.host, url.port), timeout=WAIT_S) for _ in range(CAP + extra)
    ]
    try:
        refused: dict[socket.socket, bytes] = {}
        deadline = time.monotonic() + WAIT_S
        while len(refused) < extra and time.monotonic() < deadline:
            waiting = [s for s in held if s not in refused]
            readable, _, _ = select.select(waiting, [], [], deadline - time.monotonic())
            for sock in readable:
                refused[sock] = sock.recv(65536)
        answers = list(refused.values())
        assert len(answers) == extra
        assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers), answers[:2]
        assert all(b"Retry-After: 1" in a and a.endswith(b"too many connections") for a in answers)
        events.next("cycle_finished", "the cycle, with every slot taken")
        assert not [s for s in held if s not in refused and s.fileno() < 0]
    finally:
        for sock in held:
            sock.close()
    assert loop.world.schedule("orders-db")["restoreWindowDays"] == 3
    deadline = time.monotonic() + WAIT_S
    statuses = []
    while time.monotonic() < deadline:  # each try is a request; the slots free as threads end
        statuses.append(httpx.get(daemon.url + "/healthz", timeout=WAIT_S).status_code)
        if statuses[-1] == 200:
            break
    assert statuses[-1] == 200, statuses[-5:]


SIGNALS_UNDER_FIRE = 60
SIGNAL_WAIT_S = 2.0


def test_sigusr1_under_a_webhook_barrage_always_runs_a_cycle(loop, daemon):
    """Every SIGUSR1 is handled within 2 s and runs a cycle while forged webhooks pour in."""
    events = Events(daemon)
    events.next("cycle_finished", "the start-up cycle")
    url = httpx.URL(daemon.url)
    assert url.port is not None
    barrage = Barrage((url.host, url.port))
    for kind in ("github", "gitea", "gitlab", "unsigned"):
        barrage.hammer(f"forged-{kind}", forged(kind))
    try:
        for n in range(SIGNALS_UNDER_FIRE):
            daemon.signal(signal.SIGUSR1)
            start = events.seen
            seen = daemon.logs.wait_for(
                lambda items, start=start: next(
                    (
                        i + 1
                        for i in range(start, len(items))
                        if isinstance(items[i], dict) and items[i].get("event") == "cycle_requested"  # type: ignore[union-attr]
                    ),
                    None,
                ),
                SIGNAL_WAIT_S,
                f"SIGUSR1 number {n + 1} to be handled",
            )
            assert isinstance(seen, int)
            events.seen = seen
            events.next("cycle_finished", f"the cycle of SIGUSR1 number {n + 1}")
    finally:
        barrage.finish()
