"""`gitopsd run` as a real process: systemd notifications, signals, webhooks, metrics, soak.

The daemon runs as a subprocess against a bare Git remote, the emulator and a notify socket
bound by the test. Every check reads the other side: the notify datagrams in order, the
daemon's JSON log lines, the HTTP listener, the emulator's state and the remote's branches.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from markdown_it import MarkdownIt
from prometheus_client.parser import text_string_to_metric_families
from support.daemon import DaemonProcess, notify_socket
from test_drift_loop import BRANCH, REPORT_JSON, Loop
from test_report_escaping import Page

from gitopsd.adapters import state_db

SECRET = "webhook-secret-Hq2Lm9Xc"  # noqa: S105 - a distinctive value to search leaks for
FAST = "poll_interval_s = 0.2\n"


@pytest.fixture
def loop(world, tmp_path: Path) -> Loop:
    """Manifests pushed, Atlas matching them, a config for a quick daemon."""
    made = Loop(world, tmp_path / "git")
    made.manifests()
    made.seed()
    return made


def configure(loop: Loop, *, poll_s: float = 0.2, drift_s: float = 60.0, extra: str = "") -> Path:
    """A daemon config: fast polls, loopback listener on a free port, a webhook secret."""
    secret = loop.world.root / "webhook_secret"
    secret.write_text(SECRET)
    git = (
        f'url = "{loop.remote.url}"\nbranch = "main"\npath = "manifests"\n'
        f"poll_interval_s = {poll_s}"
    )
    server = f'[server]\nlisten = "127.0.0.1:0"\nwebhook_secret_file = "{secret}"\n'
    return loop.world.config(
        reconcile=f"drift_interval_s = {drift_s}", extra=server + extra, git=git
    )


def start(config: Path, notify, **env: str) -> DaemonProcess:
    """The daemon over ``config``, with a 2 s watchdog so heartbeats come every second."""
    return DaemonProcess(config, notify, env={"WATCHDOG_USEC": "2000000", **env})


def test_ready_watchdog_status_then_stopping_on_sigterm(loop):
    """READY=1 after the first fetch, then STATUS= and WATCHDOG=1; SIGTERM: STOPPING=1, exit 0."""
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        ready = notify.wait("READY=1")
        status = notify.wait("STATUS=drift: all 2 clusters in sync", after=ready)
        notify.wait("WATCHDOG=1", after=ready)
        daemon.signal(signal.SIGTERM)
        stopping = notify.wait("STOPPING=1", after=status)
        assert daemon.exit_code() == 0
        assert stopping > ready
        assert loop.remote.head(BRANCH) is not None


def test_a_webhook_push_reaches_atlas_and_the_report_branch(loop):
    """A signed push event runs a cycle: the manifest change lands in Atlas and the report."""
    config = configure(loop, poll_s=3600)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        text = (loop.user.path / "manifests/backups.yaml").read_text()
        loop.user.write(  # orders-db's schedule only: billing-db's has its own
            "manifests/backups.yaml",
            text.replace("restoreWindowDays: 2", "restoreWindowDays: 3", 1),
        )
        sha = loop.push("longer restore window")
        loop.world.drift_schedule("billing-db", {"restoreWindowDays": 1})
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "delivery-1",
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        }
        bad = httpx.post(
            daemon.url + "/hooks/git",
            content=body,
            headers=headers | {"X-Hub-Signature-256": "sha256=00"},
        )
        assert bad.status_code == 401
        assert SECRET not in bad.text
        daemon.log("cycle_finished")  # the start-up cycle's line has been read
        before = _cycles(daemon.logs.snapshot())
        good = httpx.post(daemon.url + "/hooks/git", content=body, headers=headers)
        assert good.status_code == 202
        daemon.logs.wait_for(lambda items: _cycles(items) > before, 30, "the pushed cycle")
        status = notify.messages.wait_for(
            lambda items: [m for m in items if f"at main@{sha[:12]}" in str(m)], 30, "STATUS"
        )
        assert str(status[0]).startswith("STATUS=drift: ")
        assert loop.world.schedule("orders-db")["restoreWindowDays"] == 3
        assert json.loads(loop.remote.show(BRANCH, REPORT_JSON))["source"]["revision"] == sha
        # An incremental cycle: it read orders-db alone; billing-db's drift waits for a full one.
        assert daemon.log("cycle_finished", full=False)["read"] == 1
        assert loop.world.schedule("billing-db")["restoreWindowDays"] == 1
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_sighup_reloads_a_good_config_and_keeps_the_old_one_on_a_bad_one(loop):
    """RELOADING=1 with MONOTONIC_USEC, then READY=1; a broken file is refused and said so."""
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        ready = notify.wait("READY=1")
        notify.wait("STATUS=drift: all 2 clusters in sync", after=ready)
        daemon.signal(signal.SIGHUP)
        reloading = notify.wait("RELOADING=1", after=ready)
        assert any(
            line.startswith("MONOTONIC_USEC=")
            for line in str(notify.messages.snapshot()[reloading]).splitlines()
        )
        again = notify.wait("READY=1", after=reloading)
        daemon.log("config_reloaded")
        config.write_text(
            config.read_text().replace("[atlas]\n", "[atlas]\nconcurrency = 'many'\n")
        )
        daemon.signal(signal.SIGHUP)
        second = notify.wait("RELOADING=1", after=again)
        notify.wait("READY=1", after=second)
        notify.wait("STATUS=reload failed, keeping the old configuration", after=second)
        failed = daemon.log("reload_failed")
        assert "concurrency" in str(failed["error"])
        assert httpx.get(daemon.url + "/healthz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_sigterm_mid_cycle_exits_cleanly_and_keeps_the_state_consistent(loop):
    """A slow Atlas: SIGTERM during a cycle finishes it, writes the report and exits 0."""
    loop.world.admin.put("/_emulator/faults", json={"latency_ms": 400}).raise_for_status()
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        daemon.log("cycle_started")
        daemon.signal(signal.SIGTERM)
        notify.wait("STOPPING=1")
        assert daemon.exit_code(timeout_s=60) == 0
        assert daemon.count("cycle_finished") + daemon.count("cycle_failed") >= 1
    report = json.loads(loop.remote.show(BRANCH, REPORT_JSON))
    assert report["schemaVersion"] == 1
    history = state_db.StateDB(loop.world.root / "state").cycles()
    assert history
    assert history[0].fingerprint == report["fingerprint"]
    with sqlite3.connect(loop.world.root / "state" / state_db.FILE_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_metrics_parse_and_count_what_happened(loop):
    """/metrics parses with prometheus-client's parser and reflects the cycles run."""
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        ready = httpx.get(daemon.url + "/readyz")
        assert ready.status_code == 200
        text = httpx.get(daemon.url + "/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        clusters = {s.labels["status"]: s.value for s in families["gitopsd_clusters"].samples}
        assert clusters["in-sync"] == 2
        assert clusters["drifted"] == 0
        requests = families["gitopsd_atlas_requests"].samples
        assert sum(s.value for s in requests if s.labels.get("status") == "200") >= 4
        assert families["gitopsd_cycle_duration_seconds"].type == "histogram"
        assert families["gitopsd_last_success_timestamp_seconds"].samples[0].value > 0
        assert "gitopsd_build" in families or "gitopsd_build_info" in families
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_a_second_daemon_on_the_same_state_is_refused(loop):
    """The lock file: a second daemon says who holds the state directory and exits."""
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as first:
        notify.wait("READY=1")
        with notify_socket() as other, start(config, other) as second:
            assert second.exit_code() == 1
            refused = second.log("state_locked")
            assert f"pid {first.process.pid}" in str(refused["error"])
        first.signal(signal.SIGTERM)
        assert first.exit_code() == 0


def test_a_bad_config_exits_78_without_starting(loop):
    """A configuration error is exit 78, which the unit file does not restart."""
    config = configure(loop)
    config.write_text(
        config.read_text().replace("[reconcile]\n", "[reconcile]\nmode = 'enforced'\n")
    )
    with notify_socket() as notify, start(config, notify) as daemon:
        assert daemon.exit_code() == 78
        assert "READY=1" not in notify.lines()
        assert "mode" in str(daemon.log("config_invalid")["error"])


def test_many_cycles_leave_threads_descriptors_and_memory_flat(loop):
    """A fast clock: polls every 50 ms and a drift check every 200 ms, 150 cycles, no growth.

    Threads and descriptors come and go within a cycle (Atlas's thread pool, git's pipes), so
    each side is a window of samples, one after each of ten cycles. What a leak raises is the
    floor: the least seen late in the run may not exceed the least seen early on (threads: but
    for the scheduler's pool, which grows to one worker per job; RSS: by 8 MB at most).
    """
    config = configure(loop, poll_s=0.05, drift_s=0.2)
    with notify_socket() as notify, start(config, notify) as daemon:
        before = _window(daemon, first=30)
        after = _window(daemon, first=140)
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    early, late = list(zip(*before, strict=True)), list(zip(*after, strict=True))
    # The scheduler's pool starts a worker thread only when its jobs (poll, drift, heartbeat)
    # first overlap, and keeps it: at most two more late than early, whatever the cycles leak.
    assert min(late[0]) <= min(early[0]) + 2, f"threads grew: {before} -> {after}"
    assert min(late[1]) <= min(early[1]), f"file descriptors grew: {before} -> {after}"
    assert min(late[2]) - min(early[2]) < 8_000, f"RSS grew by 8 MB: {before} -> {after}"
    assert notify.lines().count("READY=1") == 1


def _window(daemon: DaemonProcess, *, first: int, size: int = 10) -> list[tuple[int, int, int]]:
    """(threads, descriptors, RSS kB) sampled after each of ``size`` cycles from ``first``."""
    samples = []
    for n in range(first, first + size):
        daemon.logs.wait_for(lambda items, n=n: _cycles(items) >= n, 120, f"{n} cycles")
        samples.append(daemon.resources())
    return samples


def _is_cycle(item: object) -> bool:
    return isinstance(item, dict) and item.get("event") == "cycle_finished"


def _cycles(items: list[object]) -> int:
    return sum(1 for i in items if _is_cycle(i))


def test_sigusr1_runs_a_cycle_now_even_when_git_did_not_change(loop):
    """The manual trigger: a full cycle that finds drift made in Atlas, long before the timer."""
    config = configure(loop, poll_s=3600)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        daemon.log("cycle_finished")
        loop.world.drift_schedule("orders-db", {"restoreWindowDays": 1})
        daemon.signal(signal.SIGUSR1)
        daemon.log("cycle_requested", by="SIGUSR1")
        daemon.logs.wait_for(lambda items: _cycles(items) >= 2, 30, "the requested cycle")
        assert loop.world.schedule("orders-db")["restoreWindowDays"] == 2
        finished = [i for i in daemon.logs.snapshot() if _is_cycle(i)]
        assert [(i["full"], i["read"]) for i in finished] == [(True, 2), (True, 2)]
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_an_unexpected_exception_is_logged_counted_and_survived(loop):
    """A cycle that blows up is logged with its traceback and counted; the daemon goes on.

    The state database's path is made a directory, which SQLite cannot open; once it is gone,
    the next cycle succeeds in the same process.
    """
    config = configure(loop, poll_s=3600)
    state = loop.world.root / "state" / state_db.FILE_NAME
    with notify_socket() as notify, start(config, notify) as daemon:
        daemon.log("cycle_finished")
        state.unlink()
        state.mkdir()
        daemon.signal(signal.SIGUSR1)
        failed = daemon.log("cycle_failed")
        assert "Traceback" in str(failed["exception"])
        text = httpx.get(daemon.url + "/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["gitopsd_cycle_exceptions"].samples[0].value == 1
        state.rmdir()
        daemon.signal(signal.SIGUSR1)
        daemon.logs.wait_for(lambda items: _cycles(items) >= 2, 30, "a cycle after the failure")
        assert httpx.get(daemon.url + "/healthz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_no_watchdog_while_a_cycle_is_stuck(loop):
    """A cycle running past three drift intervals stops WATCHDOG=1 and says so in the log.

    Every Atlas answer takes 1.5 s, so the first cycle (six requests or more) runs for 9 s or
    more, far past three drift intervals of 0.3 s; heartbeats come every 0.5 s.
    """
    loop.world.admin.put("/_emulator/faults", json={"latency_ms": 1500}).raise_for_status()
    config = configure(loop, drift_s=0.3)
    with notify_socket() as notify, start(config, notify, WATCHDOG_USEC="1000000") as daemon:
        daemon.log("cycle_started")
        stuck = daemon.log("cycle_stuck")
        assert float(stuck["running_s"]) > 0.9
        seen = len(notify.messages.snapshot())
        daemon.log("cycle_stuck", timeout_s=30)
        later = daemon.count("cycle_stuck")
        daemon.logs.wait_for(lambda items: _count(items, "cycle_stuck") > later, 30, "stuck again")
        between = notify.messages.snapshot()[seen:]
        assert daemon.count("cycle_finished") == 0  # still the same slow cycle (about 9 s)
        assert "WATCHDOG=1" not in between
        skipped = [i for i in daemon.logs.snapshot() if "running instances" in str(i)]
        assert skipped == []  # polls due meanwhile are skipped quietly, not warned about
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code(timeout_s=60) == 0


def _count(items: list[object], event: str) -> int:
    return sum(1 for i in items if isinstance(i, dict) and i.get("event") == event)


def test_ready_stays_true_while_polls_find_nothing_new(loop):
    """Polls that find the same revision count as successful cycles for /readyz."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    with notify_socket() as notify, start(config, notify) as daemon:
        status = notify.wait("STATUS=drift: all 2 clusters in sync")
        heartbeats = status
        for _ in range(3):  # a heartbeat a second: well past three poll intervals of 0.2 s
            heartbeats = notify.wait("WATCHDOG=1", after=heartbeats + 1)
        assert daemon.count("cycle_finished") == 1
        ready = httpx.get(daemon.url + "/readyz")
        assert ready.status_code == 200, ready.text
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_a_manifest_that_is_a_symlink_loop_blocks_only_itself(loop):
    """A committed link that loops is one file-unreadable problem; the cycle goes on as validate."""
    (loop.user.path / "manifests" / "loop.yaml").symlink_to("loop.yaml")
    loop.push("a manifest that links to itself")
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        ready = notify.wait("READY=1")
        finished = daemon.log("cycle_finished")
        assert finished.get("error") in {None, ""}, finished
        notify.wait("STATUS=", after=ready)
        report = json.loads(loop.remote.show(BRANCH, REPORT_JSON))
        unreadable = [p for p in report["problems"] if p["code"] == "file-unreadable"]
        assert [p["file"] for p in unreadable] == ["manifests/loop.yaml"]
        assert "loops back on itself" in unreadable[0]["message"]
        assert report["summary"]["clusters"] == 2
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
        assert daemon.count("cycle_failed") == 0


def test_the_daemon_publishes_over_a_file_at_the_report_path(loop):
    """A file committed where the report goes gives way on the report branch, with a note."""
    loop.user.write("drift-report", "a file a user committed at the report's path\n")
    loop.push("a file where the report goes")
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("READY=1")
        daemon.log("cycle_finished")
        report = json.loads(loop.remote.show(BRANCH, REPORT_JSON))
        codes = [note["code"] for note in report["source"]["notes"]]
        assert "report-path-taken" in codes
        assert loop.remote.show("main", "drift-report").startswith("a file a user committed")
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_the_daemon_escapes_markdown_in_a_file_name_in_its_report(loop):
    """A manifest named with Markdown adds no link to the REPORT.md the daemon commits."""
    name = "manifests/](https:%2F%2Fevil.example) [x.yaml"
    loop.user.write(name, "kind: AtlasBackupPolicy\napiVersion: atlas.mongodb.com/v1\n")
    loop.push("a manifest named with Markdown")
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("READY=1")
        daemon.log("cycle_finished")
        text = loop.remote.show(BRANCH, REPORT_JSON.replace("report.json", "REPORT.md"))
        page = Page(MarkdownIt("commonmark").enable(["table"]).render(text))
        assert all(href.startswith("../") for href in page.hrefs), page.hrefs
        assert page.row(name)[0].startswith(f"{name}:1:1")
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
