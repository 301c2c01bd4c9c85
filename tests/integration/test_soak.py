"""The fault soak, short form: the real daemon through faults, drift and Git outages.

40 clusters in 4 projects (plus one cluster per project that Git does not name); the start-up
cycle and four more run while the emulator answers 5xx and drops connections at 20% each,
sends bursts of 429 with Retry-After, and has latency spikes past the client's timeout; two
of those cycles run with the Git remote moved away, and one after a manifest change was
pushed; before each, some clusters drift out of band. Then the faults stop and every cluster
must converge within three cycles. ``support.soak`` drives it and lists every problem; the
full form is ``bench/soak.py`` (500 clusters in 10 projects), figures in docs/reliability.md.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from support.daemon import notify_socket
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.soak import Options, Soak
from support.world import PROJECT_ID, PROJECT_NAME, World, items
from test_daemon import configure, start
from test_drift_loop import Loop

from gitopsd.emulator import Emulator


def test_faults_drift_and_git_outages_leave_every_cluster_converged_and_guarded(
    tmp_path: Path,
) -> None:
    """No lost, stray or destructive write; convergence in three calm cycles; a clean exit."""
    with Emulator() as emulator:
        figures = Soak(tmp_path, emulator, Options()).run()
    said = "\n".join(figures.lines() + figures.violations)
    assert figures.violations == [], said
    assert figures.converged_after is not None, said
    assert figures.converged_after <= 3, said
    assert figures.exit_code == 0, said
    assert figures.faulted_cycles >= 5, said
    assert figures.answers["dropped"] > 0, said
    assert figures.answers["429"] > 0, said
    assert figures.answers["500"] + figures.answers["503"] > 0, said
    assert figures.report_commits > 1, said


# -- what the soak found, one behaviour each ---------------------------------------------------


def _blocked(pid: int, tid: int) -> set[signal.Signals]:
    """The daemon's signals that thread ``tid`` of process ``pid`` blocks (SigBlk)."""
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text(encoding="utf-8")
    mask = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("SigBlk")), 16
    )
    return {s for s in DAEMON_SIGNALS if mask >> (s - 1) & 1}


DAEMON_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}


@pytest.fixture
def loop(world: World, tmp_path: Path) -> Loop:
    """Manifests pushed to a bare remote, Atlas matching them."""
    made = Loop(world, tmp_path / "git")
    made.manifests()
    made.seed()
    return made


def test_a_git_outage_is_logged_while_the_last_good_revision_is_served(loop: Loop) -> None:
    """With the remote gone, polls fall back to the last good revision and log fetch_failed."""
    config = configure(loop, poll_s=0.2)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        away = loop.remote.path.with_name("remote.git.away")
        loop.remote.path.rename(away)
        try:
            failed = daemon.log("fetch_failed", timeout_s=10)
        finally:
            away.rename(loop.remote.path)
        assert "main" in str(failed["error"])
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0


def test_only_the_main_thread_can_be_handed_the_daemons_signals(loop: Loop) -> None:
    """Every other thread blocks them, so a kill() never lands where no handler runs.

    Python runs signal handlers in the main thread only; a signal the kernel hands to another
    thread waits until the main thread wakes (the soak once lost a SIGUSR1 that way).
    """
    config = configure(loop, poll_s=0.2)
    with notify_socket() as notify, start(config, notify) as daemon:
        notify.wait("STATUS=drift: all 2 clusters in sync")
        pid = daemon.process.pid
        threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        assert len(threads) > 1
        masks = {tid: _blocked(pid, tid) for tid in threads}
        daemon.signal(signal.SIGTERM)
        assert daemon.exit_code() == 0
    assert masks.pop(pid) == set()
    assert all(blocked == DAEMON_SIGNALS for blocked in masks.values()), masks


def _backup_world(world: World, **seeded: object) -> None:
    """orders-db in Git (backup on, the nightly schedule), and Atlas as ``seeded`` says."""
    world.write(
        "backups.yaml",
        docs(project(atlas_name=PROJECT_NAME), policy(items=ITEMS), schedule(), deployment()),
    )
    state: dict[str, object] = {
        "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
        "clusters": [{"projectId": PROJECT_ID, "name": "orders-db", **seeded}],
    }
    if seeded.get("backupEnabled"):
        state["schedules"] = [{"projectId": PROJECT_ID, "clusterName": "orders-db", **AHEAD}]
    world.seed(state)


AHEAD = {
    "referenceHourOfDay": 3,
    "referenceMinuteOfHour": 30,
    "restoreWindowDays": 9,
    "copySettings": [],
    "policies": [{"policyItems": items(("hourly", 6, "days", 2), ("daily", 1, "days", 7))}],
}
"""The nightly schedule with a longer restore window than Git's 2 days: the guard's to keep."""


def test_backup_turned_back_on_keeps_the_guard_on_the_schedule_atlas_kept(world: World) -> None:
    """Re-enabling backup is no licence to shorten the restore window Atlas kept all along."""
    _backup_world(world, backupEnabled=True)
    held = world.run("apply")
    assert held.code == 3, held.out + held.err
    assert world.schedule("orders-db")["restoreWindowDays"] == 9
    world.drift_cluster("orders-db", {"backupEnabled": False})
    again = world.run("apply")
    assert world.cluster("orders-db")["backupEnabled"] is True, again.out + again.err
    assert world.schedule("orders-db")["restoreWindowDays"] == 9, again.out


def test_a_backup_enable_whose_read_back_failed_still_counts_as_gitopsds_own(
    world: World,
) -> None:
    """The default schedule made by gitopsd's own enable is replaced, read-back or not.

    Seed 170 with drop_rate 0.5 lets the project lookup, the cluster list and the enable
    PATCH through, then drops every read-back of the cluster: Atlas has applied the enable,
    gitopsd could not confirm it. The next cycle, without faults, finds Atlas's default.
    """
    _backup_world(world, backupEnabled=False)
    world.admin.put("/_emulator/faults", json={"drop_rate": 0.5, "seed": 170}).raise_for_status()
    lost = world.run("apply")
    assert lost.code == 1, lost.out + lost.err
    assert world.cluster("orders-db")["backupEnabled"] is True
    assert world.schedule("orders-db")["restoreWindowDays"] == 7  # Atlas's default
    world.admin.put("/_emulator/faults", json={}).raise_for_status()
    converged = world.run("apply")
    assert world.schedule("orders-db")["restoreWindowDays"] == 2, converged.out
    assert converged.code == 0, converged.out + converged.err
