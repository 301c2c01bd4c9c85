"""Writes whose answer is lost are reported as what they are, and an unknown one again next.

Applied, not applied or unknown, never "refused"; and the report after an unknown outcome
tells what became of the write.

``support.atlas_proxy.AtlasProxy`` stands between gitopsd and the emulator: Atlas acts on the
PATCH, and its answer is garbled, cut off mid-body or dropped; or the request never reaches
Atlas. The real ``gitopsd apply`` (and, for SIGTERM, the real daemon) runs against it; every
check reads the published report and the emulator's own state and request log.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.atlas_proxy import AtlasProxy, Rule
from support.daemon import DaemonProcess, notify_socket
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, Run, World
from test_drift_loop import BRANCH, REPORT_JSON, Loop

SCHEDULE = "/backup/schedule"
NOT_APPLIED = {**MATCHING, "restoreWindowDays": 1}
"""orders-db's schedule as Atlas holds it: Git asks a 2-day restore window."""


@pytest.fixture
def proxy(world: World) -> Iterator[AtlasProxy]:
    """The proxy in front of the emulator; the world's manifests and config go through it."""
    world.write(
        "backups.yaml",
        docs(project(atlas_name=PROJECT_NAME), policy(items=ITEMS), schedule(), deployment()),
    )
    world.seed(
        {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [{"projectId": PROJECT_ID, "name": "orders-db", "backupEnabled": True}],
            "schedules": [{"projectId": PROJECT_ID, "clusterName": "orders-db", **NOT_APPLIED}],
        }
    )
    with AtlasProxy(world.emulator.url) as made:
        through(world.config(), world.emulator.url, made.url)
        yield made


def through(config: Path, emulator: str, proxy: str) -> Path:
    """The config with ``[atlas] base_url`` pointing at the proxy."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f'base_url = "{emulator}"', f'base_url = "{proxy}"'))
    return config


def apply(world: World) -> tuple[Run, dict[str, object], str]:
    """``gitopsd apply``; its exit code and output, orders-db's report.json entry, REPORT.md."""
    result = world.run("apply")
    report = world.root / "state" / "report"
    parsed = json.loads((report / "report.json").read_text(encoding="utf-8"))
    (entry,) = parsed["clusters"]
    return result, entry, (report / "REPORT.md").read_text(encoding="utf-8")


def window(world: World) -> object:
    """orders-db's restore window as Atlas holds it."""
    return world.schedule("orders-db")["restoreWindowDays"]


def patches(world: World) -> int:
    """Schedule PATCHes Atlas received."""
    return sum(1 for e in world.requests() if e["method"] == "PATCH")


def lose_answers_and_read_backs(proxy: AtlasProxy) -> None:
    """The observation's schedule read passes; the PATCH's answers and every later read are lost."""
    proxy.rules(
        Rule("GET", SCHEDULE, "pass", uses=1),
        Rule("PATCH", SCHEDULE, "drop"),
        Rule("GET", SCHEDULE, "lose"),
    )


def test_a_write_answered_with_garbage_is_read_back_and_reported_applied(world, proxy):
    """Atlas applies the PATCH and its answer is not JSON: read back, it is reported applied."""
    proxy.rules(Rule("PATCH", SCHEDULE, "garbage"))
    result, entry, markdown = apply(world)
    assert result.code == 0, result.out + result.err
    assert window(world) == 2
    assert entry["resolved"] is True
    (action,) = entry["actions"]
    assert action["outcome"] == "applied"
    assert "reading the cluster back shows it was applied" in action["reason"]
    assert "refused" not in markdown


def test_a_write_whose_answer_is_cut_off_is_retried_read_back_and_reported_applied(world, proxy):
    """Every answer cut mid-body: the PATCH is sent again (it sets values), then read back."""
    proxy.rules(Rule("PATCH", SCHEDULE, "cut"))
    result, entry, markdown = apply(world)
    assert result.code == 0, result.out + result.err
    assert patches(world) == 4  # [atlas] max_attempts
    assert entry["resolved"] is True
    assert entry["actions"][0]["outcome"] == "applied"
    assert "refused" not in markdown


def test_a_write_that_never_reached_atlas_is_reported_not_applied_not_refused(world, proxy):
    """Every PATCH lost before Atlas: read back, the change is not there, and it says so."""
    proxy.rules(Rule("PATCH", SCHEDULE, "lose"))
    result, entry, markdown = apply(world)
    assert result.code == 1
    assert patches(world) == 0
    assert entry["status"] == "error"
    (action,) = entry["actions"]
    assert action["outcome"] == "failed"
    assert "reading the cluster back shows it is not applied" in action["reason"]
    assert "does not hold Git's /schedule/restoreWindowDays" in action["failure"]["message"]
    assert "refused" not in markdown


def test_a_write_whose_answer_and_read_back_are_lost_is_reported_unknown(world, proxy):
    """Atlas applied it, and neither its answer nor a read-back came: the status is unknown."""
    lose_answers_and_read_backs(proxy)
    result, entry, markdown = apply(world)
    assert result.code == 1
    assert window(world) == 2
    assert entry["status"] == "unknown"
    (action,) = entry["actions"]
    assert action["outcome"] == "unknown"
    assert action["reason"].startswith("whether Atlas applied it is unknown")
    assert "## Unknown outcome" in markdown
    assert "| Unknown (a write's outcome) | 1 | 1 |" in markdown
    assert "refused" not in markdown


def test_the_report_after_an_unknown_outcome_records_the_change_as_made(world, proxy):
    """The next cycle reads the cluster back and reports the earlier write as made, once."""
    lose_answers_and_read_backs(proxy)
    apply(world)
    proxy.rules()
    result, entry, _ = apply(world)
    assert result.code == 0, result.out + result.err
    assert patches(world) == 4  # the earlier cycle's attempts; this one wrote nothing
    assert entry["resolved"] is True
    (action,) = entry["actions"]
    assert action["outcome"] == "applied"
    assert action["reason"].startswith("sent by an earlier cycle, which could not learn whether")
    assert [c["path"] for c in entry["changes"]] == ["/schedule/restoreWindowDays"]
    _, entry, _ = apply(world)
    assert entry["resolved"] is False
    assert entry["status"] == "in-sync"


def test_sigterm_while_a_lost_answer_waits_for_its_retry_still_reads_back_and_reports(
    world: World, tmp_path: Path
):
    """The daemon stopped in a PATCH's retry wait: it reads Atlas back and reports it applied."""
    loop = Loop(world, tmp_path / "git")
    loop.manifests()
    loop.seed()
    world.drift_schedule("orders-db", {"restoreWindowDays": 1})
    dropped = threading.Event()
    with AtlasProxy(world.emulator.url) as proxy:
        proxy.rules(Rule("PATCH", SCHEDULE, "drop", on_use=dropped.set))
        git = f'url = "{loop.remote.url}"\nbranch = "main"\npath = "manifests"'
        config = through(world.config(git=git), world.emulator.url, proxy.url)
        with notify_socket() as notify, DaemonProcess(config, notify) as daemon:
            assert dropped.wait(30)
            daemon.signal(signal.SIGTERM)
            assert daemon.exit_code(timeout_s=60) == 0
    assert world.schedule("orders-db")["restoreWindowDays"] == 2
    report = json.loads(loop.remote.show(BRANCH, REPORT_JSON))
    orders = next(c for c in report["clusters"] if c["cluster"] == "orders-db")
    assert orders["resolved"] is True
    (action,) = orders["actions"]
    assert "reading the cluster back shows it was applied" in action["reason"]


def test_an_earlier_unknown_write_is_reported_beside_what_the_next_cycle_still_writes(world, proxy):
    """Backup turned on with its answer lost: the next report shows it made, then the schedule."""
    world.seed(
        {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [{"projectId": PROJECT_ID, "name": "orders-db", "backupEnabled": False}],
        }
    )
    proxy.rules(Rule("PATCH", "/clusters/orders-db", "drop"), Rule("GET", "/orders-db", "lose"))
    _, entry, _ = apply(world)
    assert entry["status"] == "unknown"
    assert [a["outcome"] for a in entry["actions"]] == ["unknown", "skipped"]
    assert world.cluster("orders-db")["backupEnabled"] is True
    proxy.rules()
    result, entry, _ = apply(world)
    assert result.code == 0, result.out + result.err
    flags, writes = entry["actions"]
    assert (flags["action"], flags["outcome"]) == ("patch-cluster", "applied")
    assert flags["reason"].startswith("sent by an earlier cycle, which could not learn whether")
    assert (writes["action"], writes["outcome"], writes["reason"]) == (
        "patch-schedule",
        "applied",
        "",
    )
    assert "/backupEnabled" in [c["path"] for c in entry["changes"]]
    assert entry["resolved"] is True
