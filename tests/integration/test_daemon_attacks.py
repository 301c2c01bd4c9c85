"""The real daemon attacked at its edges (docs/reliability.md, "Attacks at the edges").

Each test runs ``gitopsd run`` as a subprocess over a bare Git remote and the emulator, does
to it what an adversarial run did (a symlink loop for the clone, a secret pasted into a
``*_file`` key, a wall clock stepped back, a reload into another state directory, a corrupt
state database, a failing Atlas, a hook in the remote, a webhook nested 200,000 deep, a full
disk), and checks what the daemon says and does from the outside: its log lines, its
notifications to systemd, its HTTP answers and metrics, the remote and the emulator.

Two tests need more than Python: the full disk mounts a 16 MiB tmpfs (root, mount(8); it
skips otherwise), and the wall clock preloads Debian's libfaketime into the daemon's process
only (``make test`` installs it as root; it skips without it, and fails under ``CI=true``).
Nothing sleeps: waits are on log lines and notifications, bounded, and heartbeats (one a
second) serve as the clock where a test must let polls go by.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.daemon import notify_socket
from test_daemon import SECRET, configure, loop, start

from gitopsd.adapters import state_db

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


PASTED = "ghp_Zx8Qm2Lk/Pw5Rt7Yv3Nc"
"""A secret put in a ``*_file`` key by mistake; with a '/', so part of it looks like a path."""


def _everything_said(daemon, notify) -> str:
    return json.dumps(daemon.logs.snapshot()) + "\n".join(notify.lines())


def test_a_secret_pasted_into_a_file_key_is_not_echoed_at_start(loop):
    """config_invalid names [atlas] private_key_file, and no part of the pasted value."""
    config = configure(loop)
    text = config.read_text()
    config.write_text(text.replace("private_key_file = ", f'private_key_file = "{PASTED}"\n# ', 1))
    with notify_socket() as notify, start(config, notify) as daemon:
        assert daemon.exit_code() == 78
        error = str(daemon.log("config_invalid")["error"])
        assert "[atlas] private_key_file" in error
        said = _everything_said(daemon, notify)
        assert all(piece not in said for piece in PASTED.split("/"))


def test_a_secret_pasted_into_a_file_key_is_not_echoed_on_reload(loop):
    """STATUS=reload failed names [forge] token_file, and no part of the pasted value."""
    config = configure(loop)
    with notify_socket() as notify, start(config, notify) as daemon:
        ready = notify.wait("READY=1")
        notify.wait("STATUS=drift: all 2 clusters in sync", after=ready)
        forge = f'[forge]\nkind = "github"\nrepo = "acme/backups"\ntoken_file = "{PASTED}"\n'
        config.write_text(config.read_text() + forge)
        daemon.signal(signal.SIGHUP)
        failed = notify.wait("STATUS=reload failed", after=ready)
        status = str(notify.messages.snapshot()[failed])
        assert "[forge] token_file" in status
        said = _everything_said(daemon, notify)
        assert all(piece not in said for piece in PASTED.split("/"))
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_a_secret_pasted_into_the_git_token_file_key_is_not_echoed(loop):
    """first_fetch_failed and STATUS= name [git] token_file, and no part of the pasted value."""
    config = configure(loop)
    config.write_text(config.read_text().replace("[git]\n", f'[git]\ntoken_file = "{PASTED}"\n'))
    with notify_socket() as notify, start(config, notify) as daemon:
        failed = daemon.log("first_fetch_failed")
        assert "[git] token_file" in str(failed["error"])
        notify.wait("STATUS=waiting for the first fetch")
        said = _everything_said(daemon, notify)
        assert all(piece not in said for piece in PASTED.split("/"))
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_git_children_never_inherit_secrets_from_the_environment(loop, tmp_path):
    """A hook in the file:// remote dumps its environment: no GITOPSD_* secret reaches it."""
    dump = tmp_path / "hook-environment"
    loop.remote.hook("pre-receive", f'env > "{dump}"\ncat >/dev/null\n')
    keys = loop.world.secrets
    config = configure(loop)
    text = config.read_text()
    for key in ("public_key_file", "private_key_file"):
        text = text.replace(f"{key} = ", f"# {key} = ")
    config.write_text(text)
    credentials_dir = tmp_path / "credentials"
    credentials_dir.mkdir()
    secrets = {
        "GITOPSD_ATLAS_PUBLIC_KEY": (keys / "public_key").read_text(),
        "GITOPSD_ATLAS_PRIVATE_KEY": (keys / "private_key").read_text(),
        "GITOPSD_GIT_TOKEN": "git-token-Uq4Rf7Zs2Xv",
        "GITOPSD_FORGE_TOKEN": "forge-token-Pm3Kd8Wn1Bt",
        "GITOPSD_WEBHOOK_SECRET": "webhook-secret-Jc5Hy9Ls6Qe",
    }
    env = secrets | {"CREDENTIALS_DIRECTORY": str(credentials_dir)}
    with notify_socket() as notify, start(config, notify, **env) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    seen = dump.read_text()
    assert "GIT_DIR=" in seen  # the hook ran, under the daemon's push
    for name, value in secrets.items():
        assert value not in seen, f"{name}'s value reached a git hook"
        assert f"{name}=" not in seen
    assert "CREDENTIALS_DIRECTORY=" not in seen


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('dir = "{root}/state"', 'dir = "{root}/elsewhere"', "[state] dir"),
        ('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:1"', "[server] listen"),
    ],
    ids=["state-dir", "listen"],
)
def test_a_reload_that_changes_a_restart_only_setting_is_refused(loop, old, new, named):
    """SIGHUP naming another state directory or listener keeps the old configuration, says why."""
    config = configure(loop)
    root = loop.world.root
    with notify_socket() as notify, start(config, notify) as daemon:
        ready = notify.wait("READY=1")
        notify.wait("STATUS=drift: all 2 clusters in sync", after=ready)
        text = config.read_text()
        assert old.format(root=root) in text
        config.write_text(text.replace(old.format(root=root), new.format(root=root)))
        daemon.signal(signal.SIGHUP)
        refused = notify.wait("STATUS=reload failed, keeping the old configuration", after=ready)
        assert named in str(notify.messages.snapshot()[refused])
        assert "restart" in str(daemon.log("reload_failed")["error"])
        before = daemon.count("cycle_finished")
        daemon.signal(signal.SIGUSR1)
        daemon.logs.wait_for(
            lambda items: sum(1 for i in items if i.get("event") == "cycle_finished") > before,
            30,
            "a cycle after the refused reload",
        )
        assert not (root / "elsewhere").exists()
        assert httpx.get(daemon.url + "/healthz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def _metric(daemon, name: str) -> float:
    text = httpx.get(daemon.url + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return float(families[name].samples[0].value)


def _cycles_after(daemon, before: int, what: str) -> None:
    daemon.logs.wait_for(
        lambda items: sum(1 for i in items if i.get("event") == "cycle_finished") > before,
        30,
        what,
    )


def test_a_corrupt_state_database_is_kept_aside_and_rebuilt(loop):
    """A database that is not one is moved aside, logged, counted and rebuilt; cycles go on."""
    config = configure(loop, poll_s=3600)
    state = loop.world.root / "state" / state_db.FILE_NAME
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        daemon.log("cycle_finished")  # its log line may come after STATUS=
        before = daemon.count("cycle_finished")
        state.write_bytes(b"this is not a database" * 100)
        daemon.signal(signal.SIGUSR1)
        rebuilt = daemon.log("state_db_rebuilt")
        assert rebuilt["level"] == "error"
        kept = Path(str(rebuilt["kept"]))
        assert kept.read_bytes() == b"this is not a database" * 100
        _cycles_after(daemon, before, "the cycle on a rebuilt database")
        assert daemon.count("cycle_failed") == 0
        assert state_db.StateDB(state.parent).cycles()
        assert _metric(daemon, "gitopsd_state_db_rebuilds") == 1
        assert httpx.get(daemon.url + "/readyz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_ready_turns_false_and_stays_false_while_cycles_fail_as_a_whole(loop):
    """A cycle that raises makes /readyz 503 at once; polls of the same revision keep it so."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    state = loop.world.root / "state" / state_db.FILE_NAME
    with notify_socket() as notify, start(config, notify) as daemon:
        status = notify.wait("STATUS=drift: all 2 clusters in sync")
        assert httpx.get(daemon.url + "/readyz").status_code == 200
        success = _metric(daemon, "gitopsd_last_success_timestamp_seconds")
        state.unlink()
        state.mkdir()  # the database cannot be opened: every cycle fails as a whole
        daemon.signal(signal.SIGUSR1)
        daemon.log("cycle_failed")
        heartbeats = notify.wait("WATCHDOG=1", after=status + 1)
        for _ in range(3):  # a heartbeat a second: past three poll intervals of 0.2 s
            heartbeats = notify.wait("WATCHDOG=1", after=heartbeats + 1)
        ready = httpx.get(daemon.url + "/readyz")
        assert ready.status_code == 503, ready.text
        assert "the last cycle failed" in ready.text
        assert _metric(daemon, "gitopsd_last_success_timestamp_seconds") == success
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


@pytest.mark.parametrize(
    ("faults", "atlas"),
    [
        ({"script": ["401"] * 200}, ""),
        ({"latency_ms": 2000}, "timeout_s = 0.3\nmax_attempts = 2\ndeadline_s = 1\n"),
    ],
    ids=["401", "hanging"],
)
def test_a_cycle_whose_atlas_reads_all_fail_is_not_a_success(loop, faults, atlas):
    """Atlas answers 401 to everything, or never in time: not ready, no success recorded."""
    loop.world.admin.put("/_emulator/faults", json=faults).raise_for_status()
    config = configure(loop, poll_s=0.2, drift_s=3600)
    text = config.read_text()
    if atlas:
        config.write_text(text.replace("timeout_s = 5\nmax_attempts = 4\n", atlas, 1))
    with notify_socket() as notify, start(config, notify) as daemon:
        daemon.log("cycle_finished")
        heartbeats = notify.wait("WATCHDOG=1")
        for _ in range(2):
            heartbeats = notify.wait("WATCHDOG=1", after=heartbeats + 1)
        ready = httpx.get(daemon.url + "/readyz")
        assert ready.status_code == 503, ready.text
        assert "could not read" in ready.text
        assert _metric(daemon, "gitopsd_last_success_timestamp_seconds") == 0
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code(timeout_s=60) == 0


def test_a_cycle_on_the_last_good_revision_is_redone_once_git_is_back(loop):
    """A cycle while Git is away is not a success; the first poll that reaches Git redoes it."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    remote, away = loop.remote.path, loop.remote.path.with_name("away.git")
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        remote.rename(away)
        before = daemon.count("cycle_finished")
        daemon.signal(signal.SIGUSR1)
        _cycles_after(daemon, before, "the cycle while Git is away")
        ready = httpx.get(daemon.url + "/readyz")
        assert ready.status_code == 503
        assert "could not use the branch tip" in ready.text
        away.rename(remote)
        _cycles_after(daemon, before + 1, "the cycle once Git is back")
        assert httpx.get(daemon.url + "/readyz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def _loop_symlink(path: Path) -> None:
    """Replace ``path`` (a directory) with a symbolic link that points at itself."""
    shutil.rmtree(path)
    path.symlink_to(path.name)


@pytest.mark.parametrize("looped", ["repo", "repo/manifests"])
def test_a_clone_replaced_by_a_symlink_loop_is_made_again(loop, looped):
    """The running daemon's clone (or its manifests directory) becomes a symlink loop: recloned."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    state = loop.world.root / "state"
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        daemon.log("cycle_finished")  # its log line may come after STATUS=
        before = daemon.count("cycle_finished")
        _loop_symlink(state / looped)
        daemon.signal(signal.SIGUSR1)
        _cycles_after(daemon, before, "a cycle after the loop")
        assert (state / "repo").is_dir()
        assert not (state / "repo").is_symlink()
        assert not (state / looped).is_symlink()
        report = json.loads((state / "report" / "report.json").read_text())
        assert "recloned" in [n["code"] for n in report["source"]["notes"]]
        assert daemon.count("cycle_failed") == 0
        assert "Traceback" not in json.dumps(daemon.logs.snapshot())
        assert httpx.get(daemon.url + "/readyz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


@pytest.mark.parametrize("looped", ["repo", "repo/manifests"])
def test_a_restart_over_a_clone_that_is_a_symlink_loop_gets_ready(loop, looped):
    """A restart finds the loop: the clone is made again before READY=1, no traceback."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    state = loop.world.root / "state"
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    _loop_symlink(state / looped)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        assert "Traceback" not in json.dumps(daemon.logs.snapshot())
        assert not (state / looped).is_symlink()
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_a_requested_cycle_that_cannot_run_is_logged_counted_and_run_later(loop):
    """SIGUSR1 while no revision can be checked out: cycle_deferred, counted, run once it can."""
    config = configure(loop, poll_s=3600, drift_s=3600)
    remote, away = loop.remote.path, loop.remote.path.with_name("away.git")
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        daemon.log("cycle_finished")  # its log line may come after STATUS=
        before = daemon.count("cycle_finished")
        shutil.rmtree(loop.world.root / "state" / "repo")
        remote.rename(away)
        daemon.signal(signal.SIGUSR1)
        deferred = daemon.log("cycle_deferred")
        assert "no revision" in str(deferred["reason"])
        assert _metric(daemon, "gitopsd_cycle_requests_deferred") == 1
        away.rename(remote)
        daemon.signal(signal.SIGUSR1)
        _cycles_after(daemon, before, "the deferred cycle")
        assert daemon.count("cycle_finished") == before + 1
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


@pytest.fixture
def small_state_disk(loop) -> Iterator[Path]:
    """The state directory on a 16 MiB tmpfs of its own (root and mount(8) needed; else skip)."""
    state = loop.world.root / "state"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield state
    finally:
        subprocess.run(["umount", "--lazy", str(state)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file in ``directory`` until its file system is full; the file."""
    filler = directory / "filler"
    with filler.open("wb") as out, pytest.raises(OSError, match="No space left") as full:
        _write_forever(out)
    assert full.value.errno == errno.ENOSPC
    return filler


def _write_forever(out: BinaryIO) -> None:
    while True:
        out.write(b"\0" * 65536)
        out.flush()


def test_a_full_state_disk_backs_off_instead_of_making_the_clone_on_every_poll(
    loop, small_state_disk
):
    """A full disk and a lost clone: a few attempts, not one a poll; it comes back with space."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    state = small_state_disk
    with notify_socket() as notify, start(config, notify) as daemon:
        status = notify.wait("STATUS=drift: all 2 clusters in sync")
        shutil.rmtree(state / "repo")
        filler = _fill(state)
        failed = daemon.log("fetch_failed")
        assert "is full" in str(failed["error"])
        beats = notify.wait("WATCHDOG=1", after=status + 1)
        for _ in range(5):  # a heartbeat a second: 25 polls of 0.2 s
            beats = notify.wait("WATCHDOG=1", after=beats + 1)
        assert daemon.count("fetch_failed") <= 2, [
            i.get("error") for i in daemon.logs.snapshot() if i.get("event") == "fetch_failed"
        ]
        before = daemon.count("cycle_finished")
        filler.unlink()
        daemon.signal(signal.SIGUSR1)
        _cycles_after(daemon, before, "a cycle once there is space again")
        assert (state / "repo" / "manifests").is_dir()
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_a_new_revision_whose_cycle_fails_as_a_whole_is_retried_with_backoff(loop):
    """Every cycle of a new commit raises: retried after growing waits, not at every poll."""
    config = configure(loop, poll_s=0.2, drift_s=3600)
    state = loop.world.root / "state" / state_db.FILE_NAME
    with notify_socket() as notify, start(config, notify) as daemon:
        status = notify.wait("STATUS=drift: all 2 clusters in sync")
        state.unlink()
        state.mkdir()  # SQLite cannot open it: every cycle fails as a whole
        text = (loop.user.path / "manifests/backups.yaml").read_text()
        loop.user.write("manifests/backups.yaml", text + "# a new revision\n")
        loop.push("a new revision")
        daemon.log("cycle_failed")
        beats = notify.wait("WATCHDOG=1", after=status + 1)
        for _ in range(5):  # a heartbeat a second: 25 polls of 0.2 s
            beats = notify.wait("WATCHDOG=1", after=beats + 1)
        assert 2 <= daemon.count("cycle_failed") <= 6
        before = daemon.count("cycle_finished")
        state.rmdir()
        _cycles_after(daemon, before, "the retry once the database can be opened")
        assert httpx.get(daemon.url + "/readyz").status_code == 200
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def _libfaketime() -> Path:
    """Debian's libfaketime (``apt-get install faketime``; ``make test`` installs it as root).

    Skips without it, except in CI (``CI=true``), where it fails: CI must run the test.
    """
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
    if not found:
        message = "libfaketime is not installed (apt-get install faketime)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run this test", pytrace=False)
        pytest.skip(message)
    return found[0]


def _stepped_clock(spec: Path) -> dict[str, str]:
    """The environment that lets a test step the daemon's wall clock by writing ``spec``."""
    spec.write_text("+0\n")
    return {
        "LD_PRELOAD": str(_libfaketime()),
        "FAKETIME_TIMESTAMP_FILE": str(spec),
        "FAKETIME_CACHE_DURATION": "1",  # the daemon sees a new offset within a second
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # as on a real machine: only the wall clock steps
    }


def test_a_wall_clock_stepped_back_an_hour_stops_no_heartbeat_and_no_poll(loop, tmp_path):
    """The daemon's wall clock jumps back 1 h (libfaketime): WATCHDOG=1 and polls go on."""
    spec = tmp_path / "faketime"
    clock = _stepped_clock(spec)
    config = configure(loop, poll_s=0.5, drift_s=3600)
    with notify_socket() as notify, start(config, notify, **clock) as daemon:
        status = notify.wait("STATUS=drift: all 2 clusters in sync")
        beats = notify.wait("WATCHDOG=1", after=status + 1)
        spec.write_text("-3600\n")
        stepped = daemon.log("wall_clock_stepped", timeout_s=10)
        assert -3602 < float(str(stepped["step_s"])) < -3598
        for _ in range(5):  # one a second (WatchdogSec 2 s): none may go missing
            beats = notify.wait("WATCHDOG=1", after=beats + 1, timeout_s=5)
        text = (loop.user.path / "manifests/backups.yaml").read_text()
        loop.user.write("manifests/backups.yaml", text + "# after the step\n")
        sha = loop.push("after the step")
        notify.messages.wait_for(
            lambda items: [m for m in items if f"at main@{sha[:12]}" in str(m)],
            10,
            "a poll that finds the commit pushed after the step",
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
