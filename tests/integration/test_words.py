"""What `plan`, `apply` and the drift report say: true, the same words everywhere, said once.

Every test runs the real command line against the emulator over HTTP and reads what a user
reads: the printed lines, `--format json`, and the REPORT.md and report.json the cycle wrote.
"""

from __future__ import annotations

import json

from support.manifests import deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, World, items

EXTRA_ITEM = {
    "policies": [
        {
            "policyItems": items(
                ("hourly", 6, "days", 2), ("daily", 1, "days", 7), ("weekly", 1, "weeks", 4)
            )
        }
    ]
}
"""Git's schedule with a weekly item added by hand: removing it again is destructive."""

ATLAS_DEFAULT_ITEMS = """
    - frequencyType: hourly
      frequencyInterval: 6
      retentionUnit: days
      retentionValue: 7
    - frequencyType: daily
      frequencyInterval: 1
      retentionUnit: days
      retentionValue: 7
    - frequencyType: weekly
      frequencyInterval: 1
      retentionUnit: weeks
      retentionValue: 4
    - frequencyType: monthly
      frequencyInterval: 40
      retentionUnit: months
      retentionValue: 12
"""
"""The items of the schedule the emulator (like Atlas) creates when backup is turned on."""


def manifests(world: World, *, items_block: str | None = None, when: str = "") -> None:
    """Cluster orders-db with schedule nightly and policy standard (``when`` replaces 03:30)."""
    nightly = schedule()
    if when:
        nightly = nightly.replace(
            "  referenceHourOfDay: 3\n  referenceMinuteOfHour: 30\n  restoreWindowDays: 2\n", when
        )
    chosen = policy() if items_block is None else policy(items=items_block)
    world.write(
        "backups.yaml", docs(project(atlas_name=PROJECT_NAME), chosen, nightly, deployment())
    )


def seed(world: World, held: dict[str, object] | None = MATCHING, **cluster: object) -> None:
    """orders-db (M30, backup on unless told) holding ``held`` as its schedule."""
    fields = {"projectId": PROJECT_ID, "name": "orders-db", "backupEnabled": True} | cluster
    state: dict[str, object] = {
        "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
        "clusters": [{"instanceSize": "M30", **fields}],
    }
    if held is not None:
        state["schedules"] = [{"projectId": PROJECT_ID, "clusterName": "orders-db", **held}]
    world.seed(state)


def report_json(world: World) -> dict[str, object]:
    """The report.json the last cycle wrote under the state directory."""
    return dict(json.loads((world.root / "state" / "report" / "report.json").read_text()))


def report_md(world: World) -> str:
    """The REPORT.md the last cycle wrote under the state directory."""
    return (world.root / "state" / "report" / "REPORT.md").read_text(encoding="utf-8")


def only_cluster(body: dict[str, object]) -> dict[str, object]:
    """The one cluster of a plan's JSON or a report.json."""
    (cluster,) = body["clusters"]  # type: ignore[misc]
    return dict(cluster)


# -- 1. who changed what ---------------------------------------------------------------------


def test_an_item_added_in_atlas_is_drift_even_while_the_guard_holds_its_removal(world):
    """Atlas gained an item after gitopsd saw it match: drifted and blocked, never Git's doing."""
    manifests(world)
    seed(world)
    assert world.run("apply").code == 0
    world.drift_schedule("orders-db", EXTRA_ITEM)
    result = world.run("apply")
    assert result.code == 3, result.out
    assert f"~ {PROJECT_NAME}/orders-db  [drifted, blocked]" in result.out
    cluster = only_cluster(report_json(world))
    assert (cluster["status"], cluster["drift"], cluster["origin"]) == ("blocked", True, "atlas")
    advice = str(cluster["resolution"])
    assert advice.startswith("Atlas was changed out of band")
    assert "To keep Atlas's values, put them in the manifests" in advice
    assert 'gitopsd.io/allow-destructive: "true"' in advice
    drift_section = report_md(world).split("## Drift (changed in Atlas)")[1].split("## Blocked")[0]
    assert f"### {PROJECT_NAME}/orders-db" in drift_section
    assert "**blocked** (Atlas changed out of band)" in drift_section


def test_a_difference_met_before_any_match_never_blames_the_manifests(world):
    """An extra item Atlas held before gitopsd's first cycle: which side moved is unknown."""
    manifests(world)
    seed(world, EXTRA_ITEM)
    result = world.run("apply")
    assert result.code == 3, result.out
    cluster = only_cluster(report_json(world))
    assert (cluster["status"], cluster["drift"], cluster["origin"]) == (
        "blocked",
        False,
        "unknown",
    )
    text = report_md(world)
    assert "manifest change" not in text
    assert "The manifests remove" not in text
    assert "**blocked** (not seen in sync before: whether Git or Atlas changed is unknown)" in text
    assert "To keep Atlas's values, put them in the manifests" in str(cluster["resolution"])


def test_a_git_change_that_removes_an_item_is_said_to_be_the_manifests(world):
    """Git dropped an item after gitopsd saw Atlas match: the advice says revert the manifest."""
    manifests(world)
    seed(world)
    assert world.run("apply").code == 0
    hourly_only = "\n".join(policy().split("\n")[:-5]) + "\n"
    assert "daily" not in hourly_only
    world.write(
        "backups.yaml",
        docs(project(atlas_name=PROJECT_NAME), hourly_only, schedule(), deployment()),
    )
    result = world.run("apply")
    assert result.code == 3, result.out
    assert f"~ {PROJECT_NAME}/orders-db  [blocked]" in result.out
    cluster = only_cluster(report_json(world))
    assert (cluster["drift"], cluster["origin"]) == (False, "git")
    assert str(cluster["resolution"]).endswith("otherwise revert the manifest change.")


# -- 2. a dry run writes nothing and says so ---------------------------------------------------


def test_a_dry_run_says_nothing_was_written(world):
    """`apply --dry-run` never says Applied: nothing was written, and how much would be."""
    manifests(world)
    seed(world, MATCHING | {"restoreWindowDays": 1})
    result = world.run("apply", "--dry-run")
    assert result.code == 3, result.out
    last = result.out.split("\n\nreport:")[0].splitlines()[-1]
    assert last.startswith("Dry run at ")
    assert ": nothing was written to Atlas; 1 write would be sent. 1 cluster:" in last
    assert "Applied" not in result.out
    assert world.writes() == []


# -- 3. the plan shows what apply writes ------------------------------------------------------


def test_the_plan_of_a_cluster_without_backup_lists_every_field_apply_writes(world):
    """Backup off: the plan lists the schedule fields too, and apply writes none it did not list."""
    manifests(world)
    seed(world, None, backupEnabled=False)
    planned = world.run("plan", "--format", "json")
    assert planned.code == 3, planned.out
    plan_paths = {c["path"] for c in only_cluster(planned.json())["changes"]}  # type: ignore[attr-defined]
    assert "/schedule/referenceHourOfDay" in plan_paths
    assert "/schedule/policyItems/weekly/1" in plan_paths  # the default item Git replaces
    applied = world.run("apply", "--format", "json")
    assert applied.code == 0, applied.out
    cluster = only_cluster(applied.json())
    written = {p for a in cluster["actions"] for p in a["paths"]}  # type: ignore[attr-defined]
    assert "/schedule/restoreWindowDays" in written
    assert written <= plan_paths
    assert [a["outcome"] for a in cluster["actions"]] == ["applied", "applied"]  # type: ignore[attr-defined]


# -- 4. one vocabulary, one schema ------------------------------------------------------------


def test_cli_json_and_report_call_drift_the_same_and_share_the_change_schema(world):
    """Observed drift: the text, the plan's JSON and report.json all say drifted, alike."""
    manifests(world)
    seed(world)
    world.config(reconcile='mode = "observe"')
    assert world.run("apply").code == 0
    world.drift_schedule("orders-db", {"restoreWindowDays": 1})
    text = world.run("apply")
    assert text.code == 3
    assert f"~ {PROJECT_NAME}/orders-db  [drifted]" in text.out
    assert "1 cluster: 1 drifted, 0 pending, 0 blocked" in text.out
    reported = only_cluster(report_json(world))
    planned = world.run("plan", "--format", "json").json()
    assert planned["schemaVersion"] == 2
    assert planned["summary"]["byStatus"]["drifted"] == 1  # type: ignore[index]
    cluster = only_cluster(planned)
    assert cluster["status"] == reported["status"] == "drifted"
    assert cluster["changes"] == reported["changes"]
    assert reported["changes"][0]["source"]["file"] == "backups.yaml"  # type: ignore[index]


def test_text_and_field_table_read_atlas_then_git(world):
    """The CLI's `atlas → git` and the report's columns come in the same order."""
    manifests(world)
    seed(world, MATCHING | {"restoreWindowDays": 1})
    result = world.run("plan")
    assert "    /schedule/restoreWindowDays: 1 → 2  [low]" in result.out
    world.run("apply", "--dry-run")
    lines = report_md(world).splitlines()
    assert "| Field | Atlas | Git | Severity | Effect of Git's value |" in lines
    row = next(line for line in lines if line.startswith("| `/schedule/restoreWindowDays`"))
    assert row.startswith("| `/schedule/restoreWindowDays` | `1` | [`2`](")


def test_the_first_report_headline_and_table_agree(world):
    """A first apply that resolves everything: the table's attention column is the headline's 0."""
    manifests(world)
    seed(world, MATCHING | {"restoreWindowDays": 1})
    result = world.run("apply")
    assert result.code == 0, result.out
    assert "1 pending (1 resolved this cycle)" in result.out
    text = report_md(world)
    assert "**Atlas matches Git:** this cycle resolved 1 of 1 cluster." in text
    assert "| Pending (Git's values to apply) | 1 | 0 |" in text
    assert "| **Total** | **1** | **0** |" in text


# -- 5. backup on, schedule already right ------------------------------------------------------


def test_backup_turned_on_with_the_schedule_already_as_git_says_is_in_sync(world):
    """After backup goes on Atlas's default is Git's schedule: nothing more written, exit 0."""
    when = "  referenceHourOfDay: 0\n  referenceMinuteOfHour: 0\n  restoreWindowDays: 7\n"
    manifests(world, items_block=ATLAS_DEFAULT_ITEMS, when=when)
    seed(world, None, backupEnabled=False)
    result = world.run("apply")
    assert result.code == 0, result.out
    assert "    not-needed: patch-schedule: once backup was on" in result.out
    assert "backup is not on yet" not in result.out
    cluster = only_cluster(report_json(world))
    assert (cluster["status"], cluster["resolved"]) == ("pending", True)
    assert [p for p, _ in world.writes()] == ["PATCH"]
    assert world.run("plan").code == 0


# -- 6. one reason, many clusters -------------------------------------------------------------


def test_many_clusters_held_for_one_reason_print_it_once(world):
    """40 paused clusters alike: one block naming three and counting the rest; JSON lists all."""
    names = [f"db{n:02}" for n in range(40)]
    world.write(
        "backups.yaml",
        docs(
            project(atlas_name=PROJECT_NAME),
            policy(),
            schedule(),
            *(deployment(name=f"d{n}", cluster=n) for n in names),
        ),
    )
    world.seed(
        {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [
                {"projectId": PROJECT_ID, "name": n, "backupEnabled": True, "paused": True}
                for n in names
            ],
            "schedules": [
                {"projectId": PROJECT_ID, "clusterName": n, **MATCHING, "restoreWindowDays": 1}
                for n in names
            ],
        }
    )
    result = world.run("plan")
    assert result.code == 3, result.out
    assert result.out.startswith(
        f"~ 40 clusters  [skipped]  enforce mode: {PROJECT_NAME}/db00, {PROJECT_NAME}/db01,"
        f" {PROJECT_NAME}/db02, … (and 37 more)\n"
    )
    assert result.out.count("the cluster is paused") == 1
    body = world.run("plan", "--format", "json").json()
    assert len(body["clusters"]) == 40  # type: ignore[arg-type]
