"""Something in the watched tree where the report goes gives way on the report branch, and says so.

A user's clone pushes manifests to a bare remote together with a file, a symbolic link or a
directory at the report's path (``[report] dir``, default ``drift-report``); the real
``gitopsd apply`` runs against the emulator. The report must still be published, with the
report in that thing's place, a note saying what it replaced, and the watched branch untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.gitworld import Remote, User
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, World

BRANCH = "gitopsd/drift"
REPORT = "drift-report/REPORT.md"
REPORT_JSON = "drift-report/report.json"


@pytest.fixture
def git(world: World, tmp_path: Path) -> tuple[Remote, User]:
    """A remote whose main holds one cluster's manifests; Atlas matches them."""
    home = tmp_path / "home"
    home.mkdir()
    remote = Remote(tmp_path / "remote.git", home)
    user = User(tmp_path / "user", remote, home)
    user.write(
        "manifests/backups.yaml",
        docs(project(atlas_name=PROJECT_NAME), policy(items=ITEMS), schedule(), deployment()),
    )
    world.seed(
        {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [{"projectId": PROJECT_ID, "name": "orders-db", "backupEnabled": True}],
            "schedules": [{"projectId": PROJECT_ID, "clusterName": "orders-db", **MATCHING}],
        }
    )
    world.config(git=f'url = "{remote.url}"\nbranch = "main"\npath = "manifests"')
    return remote, user


def published(world: World, remote: Remote, user: User) -> dict[str, object]:
    """Push the user's clone, run ``gitopsd apply``; report.json on the report branch."""
    user.commit("manifests and something at the report's path")
    user.push()
    result = world.run("apply")
    assert result.code == 0, result.out + result.err
    assert f"report branch: {BRANCH} @ " in result.out
    parsed = json.loads(remote.show(BRANCH, REPORT_JSON))
    assert isinstance(parsed, dict)
    return parsed


def notes(report: dict[str, object]) -> list[dict[str, str]]:
    """The report's source notes."""
    source = report["source"]
    assert isinstance(source, dict)
    return list(source["notes"])


def test_a_file_named_like_the_report_directory_gives_way_on_the_report_branch(world, git):
    """A file drift-report on main: the report is published in its place, and a note says so."""
    remote, user = git
    user.write("drift-report", "my notes\n")
    report = published(world, remote, user)
    (note,) = notes(report)
    assert note["code"] == "report-path-taken"
    assert note["message"].startswith("main has a file at drift-report, where the report goes")
    assert "merging the report's pull request would delete that file from main" in note["message"]
    assert report["needsAttention"] is True
    files = remote.files(BRANCH)
    assert {REPORT, REPORT_JSON} <= files
    assert "drift-report" not in files
    assert remote.show("main", "drift-report") == "my notes"
    assert "> **Note (report-path-taken):** main has a file at drift-report" in remote.show(
        BRANCH, REPORT
    )


def test_a_symbolic_link_named_like_the_report_directory_gives_way(world, git):
    """A link drift-report -> manifests: replaced by the report directory on the report branch."""
    remote, user = git
    (user.path / "drift-report").symlink_to("manifests")
    report = published(world, remote, user)
    (note,) = notes(report)
    assert note["message"].startswith("main has a symbolic link at drift-report,")
    assert remote.git("ls-tree", BRANCH, "--", "drift-report").split()[:2] == ["040000", "tree"]


def test_a_directory_where_a_report_file_goes_gives_way_and_keeps_no_mode_of_its_own(world, git):
    """A directory drift-report/REPORT.md (with an executable in it): REPORT.md is a plain file."""
    remote, user = git
    user.write("drift-report/REPORT.md/run.sh", "#!/bin/sh\n")
    (user.path / "drift-report/REPORT.md/run.sh").chmod(0o755)
    report = published(world, remote, user)
    (note,) = notes(report)
    assert note["message"].startswith(
        "main has a directory at drift-report/REPORT.md, where the report goes"
    )
    entry = remote.git("ls-tree", BRANCH, "--", REPORT).split()
    assert entry[:2] == ["100644", "blob"]
    assert "drift-report/REPORT.md/run.sh" not in remote.files(BRANCH)


def test_a_report_directory_holding_other_files_is_no_collision(world, git):
    """Other files inside drift-report stay beside the report, and no note is made."""
    remote, user = git
    user.write("drift-report/README.txt", "reports land here\n")
    report = published(world, remote, user)
    assert notes(report) == []
    assert "drift-report/README.txt" in remote.files(BRANCH)
