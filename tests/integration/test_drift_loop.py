"""The whole loop with real Git: `gitopsd apply` reads a remote, converges, reports, publishes.

A bare repository stands in for the hosted one; a user's clone commits manifests to it as a
person would; the emulator is Atlas; a fake forge on loopback takes pull requests. Every check
reads the other side directly: the bare remote's refs and files, the emulator's state, the
forge's pull requests and request log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.forge_server import ForgeServer
from support.gitworld import Remote, User, ssh_key
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, World

REPORT = "drift-report/REPORT.md"
REPORT_JSON = "drift-report/report.json"
BRANCH = "gitopsd/drift"
FORGE_TOKEN = "forge-token-Zq8XbN3vV1"  # noqa: S105 - a distinctive value to search leaks for


class Loop:
    """A remote, a user's clone with the manifests, the world and its config."""

    def __init__(self, world: World, root: Path) -> None:
        self.world = world
        home = root / "home"
        home.mkdir(parents=True)
        self.remote = Remote(root / "remote.git", home)
        self.user = User(root / "user", self.remote, home)

    def manifests(
        self, *, annotations: str = "", orders_flags: str = "", billing_schedule: str = "weekly"
    ) -> str:
        """Clusters orders-db (schedule nightly) and billing-db; commit and push them to main."""
        orders = deployment(flags=orders_flags or "    backupEnabled: true\n")
        if annotations:
            orders = orders.replace("  name: orders\n", f"  name: orders\n{annotations}", 1)
        self.user.write(
            "manifests/backups.yaml",
            docs(
                project(atlas_name=PROJECT_NAME),
                policy(items=ITEMS),
                schedule(),
                orders,
                deployment(name="billing", cluster="billing-db", schedule_name=billing_schedule),
                schedule(name="weekly", policy_name="other"),
                policy(name="other", items=ITEMS),
            ),
        )
        return self.push("manifests")

    def push(self, message: str) -> str:
        """Commit everything in the user's clone and push it to main."""
        sha = self.user.commit(message)
        self.user.push()
        return sha

    def seed(self, **orders: object) -> None:
        """Both clusters IDLE with backup on and the schedule Git asks for."""
        clusters = [
            {"projectId": PROJECT_ID, "name": name, "backupEnabled": True, "instanceSize": "M30"}
            for name in ("orders-db", "billing-db")
        ]
        clusters[0] |= orders
        schedules = [
            {"projectId": PROJECT_ID, "clusterName": name, **MATCHING}
            for name in ("orders-db", "billing-db")
        ]
        self.world.seed(
            {
                "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
                "clusters": clusters,
                "schedules": schedules,
            }
        )

    def config(self, reconcile: str = "", extra: str = "") -> None:
        """gitopsd.toml watching the remote's main, manifests under manifests/."""
        git = f'url = "{self.remote.url}"\nbranch = "main"\npath = "manifests"'
        self.world.config(reconcile=reconcile, extra=extra, git=git)

    def report(self) -> dict[str, object]:
        """report.json at the tip of the report branch on the remote."""
        parsed = json.loads(self.remote.show(BRANCH, REPORT_JSON))
        assert isinstance(parsed, dict)
        return parsed

    def status(self, cluster: str) -> str:
        """A cluster's status in the published report."""
        entries = self.report()["clusters"]
        assert isinstance(entries, list)
        return next(str(c["status"]) for c in entries if c["cluster"] == cluster)


@pytest.fixture
def loop(world: World, tmp_path: Path) -> Loop:
    """A loop over a remote with the manifests pushed and Atlas matching them."""
    made = Loop(world, tmp_path / "git")
    made.manifests()
    made.seed()
    made.config()
    return made


def test_apply_publishes_a_report_branch_based_on_the_watched_head(loop):
    """The first report is one commit on top of main that adds only the report files."""
    main = loop.remote.head("main")
    result = loop.world.run("apply")
    assert result.code == 0, result.out + result.err
    tip = loop.remote.head(BRANCH)
    assert tip is not None
    assert loop.remote.parents(tip) == [main]
    assert loop.remote.changed(main, tip) == {REPORT, REPORT_JSON}
    assert loop.remote.head("main") == main
    assert f"report branch: {BRANCH} @ {tip[:12]} (new commit)" in result.out
    assert loop.status("orders-db") == "in-sync"


def test_a_second_cycle_with_the_same_findings_commits_nothing(loop):
    """Idempotence: two cycles over the same Git and Atlas make one report commit."""
    assert loop.world.run("apply").code == 0
    first = loop.remote.head(BRANCH)
    again = loop.world.run("apply")
    assert again.code == 0, again.err
    assert loop.remote.head(BRANCH) == first
    assert f"report branch: {BRANCH} already holds this report" in again.out


def test_the_commit_carries_counts_and_trailers(loop):
    """Subject with counts; Drift-Fingerprint and Source-Revision trailers git can parse."""
    loop.world.run("apply")
    main = loop.remote.head("main")
    subject = loop.remote.field(BRANCH, "%s")
    assert subject == "drift: all 2 clusters in sync"
    trailers = loop.remote.field(BRANCH, "%(trailers:only,unfold)").splitlines()
    assert f"Source-Revision: main@{main}" in trailers
    fingerprint = next(t for t in trailers if t.startswith("Drift-Fingerprint: sha256:"))
    assert fingerprint.removeprefix("Drift-Fingerprint: ") == loop.report()["fingerprint"]
    assert loop.remote.field(BRANCH, "%an <%ae>") == "gitopsd <gitopsd@localhost>"


def test_a_change_made_in_atlas_is_drift_and_a_git_change_is_pending(loop):
    """After a converged cycle, Atlas changed out of band reads as drifted; Git changes pending."""
    assert loop.world.run("apply").code == 0
    loop.world.drift_schedule("orders-db", {"restoreWindowDays": 1})
    applied = loop.world.run("apply")
    assert applied.code == 0, applied.out + applied.err
    report = loop.report()
    orders = next(c for c in report["clusters"] if c["cluster"] == "orders-db")
    assert orders["status"] == "drifted"
    assert orders["resolved"] is True
    assert report["summary"]["driftCorrected"] == 1
    loop.user.write(
        "manifests/backups.yaml",
        (loop.user.path / "manifests/backups.yaml")
        .read_text()
        .replace("restoreWindowDays: 2", "restoreWindowDays: 3"),
    )
    loop.push("longer restore window")
    assert loop.world.run("apply").code == 0
    assert loop.status("orders-db") == "pending"
    assert loop.status("billing-db") == "pending"


def test_observe_mode_drift_is_adopted_on_the_report_branch_and_merging_accepts_it(loop):
    """Drift on a cluster whose schedule and policy serve only it becomes a manifest edit.

    Merging the report branch into main makes Git say what Atlas holds: the next cycle finds
    nothing to change, and gitopsd wrote nothing to Atlas throughout.
    """
    loop.manifests(annotations='  annotations:\n    gitopsd.io/mode: "observe"\n')
    assert loop.world.run("apply").code == 0
    loop.world.drift_schedule("orders-db", {"referenceHourOfDay": 9})
    loop.world.forget_requests()
    result = loop.world.run("apply")
    assert result.code == 3, result.out + result.err
    assert loop.world.writes() == []
    orders = next(c for c in loop.report()["clusters"] if c["cluster"] == "orders-db")
    assert orders["status"] == "drifted"
    assert orders["adoption"]["adoptable"] is True
    main = loop.remote.head("main")
    assert loop.remote.changed(main, BRANCH) == {REPORT, REPORT_JSON, "manifests/backups.yaml"}
    before = loop.remote.show(main, "manifests/backups.yaml").splitlines()
    after = loop.remote.show(BRANCH, "manifests/backups.yaml").splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("  referenceHourOfDay: 3", "  referenceHourOfDay: 9")]
    loop.user.git("pull", "--quiet", "origin", BRANCH)
    loop.user.push()
    accepted = loop.world.run("apply")
    assert accepted.code == 0, accepted.out + accepted.err
    assert loop.status("orders-db") == "in-sync"
    assert loop.world.schedule("orders-db")["referenceHourOfDay"] == 9


def test_shared_schedule_drift_is_explained_not_edited(loop):
    """A schedule that serves two clusters cannot be adopted for one: the report says why."""
    loop.manifests(billing_schedule="nightly")
    loop.config(reconcile='mode = "observe"')
    assert loop.world.run("apply").code == 0
    loop.world.drift_schedule("orders-db", {"referenceHourOfDay": 9})
    assert loop.world.run("apply").code == 3
    orders = next(c for c in loop.report()["clusters"] if c["cluster"] == "orders-db")
    assert orders["status"] == "drifted"
    assert orders["adoption"]["adoptable"] is False
    assert "also serves default/billing" in orders["adoption"]["reason"]
    main = loop.remote.head("main")
    assert loop.remote.changed(main, BRANCH) == {REPORT, REPORT_JSON}


def test_a_broken_file_keeps_the_rest_reconciling_and_is_reported_with_its_line(loop):
    """A revision with an invalid manifest: other clusters converge; the problem links file:line."""
    loop.user.write("manifests/broken.yaml", "kind: AtlasBackupPolicy\nmetadata: [oops\n")
    loop.push("a broken file")
    loop.world.drift_schedule("orders-db", {"restoreWindowDays": 1})
    result = loop.world.run("apply")
    assert result.code == 1
    assert loop.world.schedule("orders-db")["restoreWindowDays"] == 2
    report = loop.report()
    problems = report["problems"]
    assert any(p["file"] == "manifests/broken.yaml" and p["line"] >= 1 for p in problems)
    markdown = loop.remote.show(BRANCH, REPORT)
    assert "(../manifests/broken.yaml#L" in markdown


def test_the_report_is_rebuilt_on_the_new_head_when_main_moves(loop):
    """A new commit on main with other findings: the report branch starts again from it."""
    loop.world.run("apply")
    loop.manifests(orders_flags="    backupEnabled: true\n    pitEnabled: true\n")
    main = loop.remote.head("main")
    assert loop.world.run("apply").code == 0
    tip = loop.remote.head(BRANCH)
    assert loop.remote.parents(tip) == [main]
    assert loop.remote.changed(main, tip) == {REPORT, REPORT_JSON}


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_a_pull_request_opens_on_drift_and_closes_when_it_is_gone(loop, tmp_path, kind):
    """One pull request from the report branch: opened on drift, closed in sync, no idle calls."""
    token = tmp_path / "forge-token"
    token.write_text(FORGE_TOKEN)
    with ForgeServer(kind, token=FORGE_TOKEN) as forge:
        forge_config = (
            f'[forge]\nkind = "{kind}"\napi_url = "{forge.api_url}"\n'
            f'repo = "{forge.repo}"\ntoken_file = "{token}"\n'
        )
        loop.config(reconcile='mode = "observe"', extra=forge_config)
        assert loop.world.run("apply").code == 0
        assert forge.pulls == () or not forge.pulls[0].open
        loop.world.drift_schedule("orders-db", {"referenceHourOfDay": 9})
        drifted = loop.world.run("apply")
        assert drifted.code == 3, drifted.out + drifted.err
        (pull,) = forge.pulls
        assert pull.open
        assert (pull.head, pull.base) == (BRANCH, "main")
        assert "orders-db" in pull.body
        forge.forget_requests()
        assert loop.world.run("apply").code == 3
        assert forge.requests == ()
        loop.world.drift_schedule("orders-db", {"referenceHourOfDay": 3})
        assert loop.world.run("apply").code == 0
        (closed,) = forge.pulls
        assert not closed.open
        bodies = [str(r.body) for r in forge.requests] + [p.body for p in forge.pulls]
        published = [loop.remote.git("log", "--all", "--format=%B"), *bodies]
        published += [loop.remote.show(BRANCH, REPORT), loop.remote.show(BRANCH, REPORT_JSON)]
        assert not [text for text in published if FORGE_TOKEN in text]


def test_an_unsigned_tip_is_not_applied_and_the_report_says_why(loop, tmp_path):
    """With signatures required, a new unsigned commit is reported and the last signed one used."""
    key = ssh_key(tmp_path / "keys")
    loop.user.write(
        "manifests/backups.yaml", (loop.user.path / "manifests/backups.yaml").read_text()
    )
    signed = loop.user.commit("signed", signer=key.signer)
    loop.user.push()
    loop.world.config(
        git=(
            f'url = "{loop.remote.url}"\npath = "manifests"\nverify_signatures = true\n'
            f'allowed_signers_file = "{key.allowed_signers}"'
        )
    )
    assert loop.world.run("apply").code == 0
    text = (loop.user.path / "manifests/backups.yaml").read_text()
    loop.user.write(
        "manifests/backups.yaml", text.replace("restoreWindowDays: 2", "restoreWindowDays: 4")
    )
    unsigned = loop.push("unsigned change")
    result = loop.world.run("apply")
    assert loop.world.schedule("orders-db")["restoreWindowDays"] == 2
    assert result.code == 1
    assert f"commit {unsigned} is not signed by a trusted key" in result.err
    source = loop.report()["source"]
    assert source["revision"] == signed
    assert source["tip"] == unsigned
    assert [n["code"] for n in source["notes"]] == ["unverified"]
    assert unsigned[:12] in loop.remote.show(BRANCH, REPORT)
