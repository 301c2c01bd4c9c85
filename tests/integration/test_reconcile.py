"""`gitopsd plan` and `apply` against the emulator over real HTTP: convergence and its rules."""

from __future__ import annotations

import pytest
from conftest import REPO
from support.manifests import ITEMS, deployment, docs, policy, project, schedule
from support.world import MATCHING, PROJECT_ID, PROJECT_NAME, World, items

from gitopsd import cli

# What Git asks, as Atlas holds it: hourly 6 / 2 days, daily / 7 days, 03:30, 2 days window.
# Less than Git asks everywhere, so converging only adds protection.
SHORTER = {
    "referenceHourOfDay": 1,
    "referenceMinuteOfHour": 0,
    "restoreWindowDays": 1,
    "copySettings": [],
    "policies": [{"policyItems": items(("hourly", 6, "days", 1), ("daily", 1, "days", 3))}],
}


def manifests(world: World, *, annotations: str = "", flags: str = "", extra: str = "") -> None:
    """One project, policy, schedule and deployment for cluster orders-db."""
    meta = f"  annotations:\n{annotations}" if annotations else ""
    dep = deployment(flags=flags or "    backupEnabled: true\n")
    if meta:
        dep = dep.replace("  name: orders\n", f"  name: orders\n{meta}", 1)
    world.write(
        "backups.yaml",
        docs(
            project(atlas_name=PROJECT_NAME),
            policy(items=ITEMS),
            schedule(extra=extra),
            dep,
        ),
    )


def seed(world: World, schedule_fields: dict[str, object] | None, **cluster: object) -> None:
    """One cluster orders-db (M30, backup on, IDLE unless told) with the given schedule."""
    fields = {"backupEnabled": True, "instanceSize": "M30"} | cluster
    state: dict[str, object] = {
        "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
        "clusters": [{"projectId": PROJECT_ID, "name": "orders-db", **fields}],
    }
    if schedule_fields is not None:
        state["schedules"] = [
            {"projectId": PROJECT_ID, "clusterName": "orders-db", **schedule_fields}
        ]
    world.seed(state)


def policy_items(world: World) -> set[tuple[object, ...]]:
    """The emulator's policy items of orders-db as (type, interval, unit, value)."""
    held = world.schedule("orders-db")
    found = held["policies"][0]["policyItems"]  # type: ignore[index]
    return {
        (i["frequencyType"], i["frequencyInterval"], i["retentionUnit"], i["retentionValue"])
        for i in found
    }


def test_apply_converges_then_a_second_run_sends_no_write(world):
    """Apply patches the drifted schedule; the next plan is empty and the next apply is a no-op."""
    manifests(world)
    seed(world, SHORTER)
    first = world.run("apply")
    assert first.code == 0, first.out + first.err
    assert policy_items(world) == {("hourly", 6, "days", 2), ("daily", 1, "days", 7)}
    assert world.schedule("orders-db")["restoreWindowDays"] == 2
    assert world.run("plan").code == 0
    world.forget_requests()
    again = world.run("apply")
    assert again.code == 0
    assert world.writes() == []


@pytest.mark.parametrize(
    "held",
    [
        pytest.param(MATCHING, id="same-items"),
        pytest.param(
            {
                **MATCHING,
                "policies": [
                    {
                        "id": "aaaaaaaaaaaaaaaaaaaaaaaa",
                        "policyItems": list(reversed(MATCHING["policies"][0]["policyItems"])),
                    }
                ],
            },
            id="other-order-and-policy-id",
        ),
    ],
)
def test_equal_essence_needs_no_patch(world, held):
    """Item ids, policy id, links, nextSnapshot, zoneId and item order are not differences."""
    manifests(world)
    seed(world, held)
    world.forget_requests()
    result = world.run("apply")
    assert result.code == 0, result.out
    assert world.writes() == []


def test_plan_prints_each_field_as_atlas_to_git_with_severity(world):
    """The text plan shows `~ project/cluster` and `path: atlas → git [severity]` lines."""
    manifests(world)
    seed(world, SHORTER)
    result = world.run("plan")
    assert result.code == 3
    assert f"~ {PROJECT_NAME}/orders-db" in result.out
    assert "/schedule/restoreWindowDays: 1 → 2  [low]" in result.out
    assert "/schedule/referenceHourOfDay: 1 → 3  [medium]" in result.out
    assert "/schedule/policyItems/daily/1: 3 days → 7 days  [low]" in result.out
    assert world.writes() == []


def test_plan_json_lists_every_cluster_with_its_changes(world):
    """JSON plan output carries the schema version, the summary and each change."""
    manifests(world)
    seed(world, SHORTER)
    body = world.run("plan", "--format", "json").json()
    assert body["schemaVersion"] == 2
    assert body["kind"] == "plan"
    (cluster,) = body["clusters"]  # type: ignore[misc]
    assert cluster["status"] == "pending"
    paths = {c["path"] for c in cluster["changes"]}
    assert "/schedule/restoreWindowDays" in paths
    assert body["summary"]["byStatus"]["pending"] == 1  # type: ignore[index]


def test_removing_copy_settings_from_git_patches_an_empty_list(world):
    """Copy settings Atlas holds and Git no longer names are removed when allowed."""
    manifests(world, annotations='    gitopsd.io/allow-destructive: "true"\n')
    copy = {"cloudProvider": "AWS", "regionName": "US_WEST_2", "frequencies": ["DAILY"]}
    seed(world, {**MATCHING, "copySettings": [copy]})
    result = world.run("apply")
    assert result.code == 0, result.out
    assert world.schedule("orders-db")["copySettings"] == []


def test_copy_settings_removal_is_blocked_without_consent(world):
    """Removing copy settings is destructive: blocked, reported, nothing written."""
    manifests(world)
    copy = {"cloudProvider": "AWS", "regionName": "US_WEST_2", "frequencies": ["DAILY"]}
    seed(world, {**MATCHING, "copySettings": [copy]})
    world.forget_requests()
    result = world.run("apply")
    assert result.code == 3
    assert "blocked: patch-schedule: destructive" in result.out
    assert world.writes() == []


def test_paused_cluster_is_skipped_without_writes(world):
    """A paused cluster yields a skip with the reason, and no request that would fail."""
    manifests(world)
    seed(world, SHORTER, paused=True)
    world.forget_requests()
    result = world.run("apply")
    assert result.code == 3
    assert "skipped: patch-schedule: the cluster is paused" in result.out
    assert world.writes() == []


def test_observe_mode_only_reads(world):
    """In observe mode the changes are reported and the request log holds only GETs."""
    manifests(world)
    seed(world, SHORTER)
    world.config(reconcile='mode = "observe"')
    world.forget_requests()
    result = world.run("apply")
    assert result.code == 3
    assert "observed: patch-schedule: observe mode" in result.out
    methods = {e["method"] for e in world.requests()}
    assert methods == {"GET"}


def test_dry_run_prints_the_writes_and_sends_none(world):
    """--dry-run sends reads only and lists each refused write with its body."""
    manifests(world)
    seed(world, SHORTER)
    world.forget_requests()
    result = world.run("apply", "--dry-run")
    assert result.code == 3
    assert f"would PATCH /api/atlas/v2/groups/{PROJECT_ID}/clusters/orders-db/backup/schedule" in (
        result.out
    )
    assert world.writes() == []


def test_missing_cluster_is_an_error_and_others_still_converge(world):
    """A cluster named in Git but absent in Atlas fails alone; gitopsd never creates it."""
    manifests(world)
    world.write(
        "more.yaml",
        deployment(name="ghost", cluster="ghost-db"),
    )
    seed(world, SHORTER)
    result = world.run("apply")
    assert result.code == 1
    assert "ghost-db does not exist" in result.out
    assert policy_items(world) == {("hourly", 6, "days", 2), ("daily", 1, "days", 7)}


def test_shared_tier_cluster_gets_a_clear_error_and_no_write(world):
    """Backup on an M0 cluster is refused by gitopsd itself, naming the tier."""
    manifests(world)
    seed(world, None, instanceSize="M0", backupEnabled=False)
    world.forget_requests()
    result = world.run("apply")
    assert result.code == 1
    assert "shared M0 cluster" in result.out
    assert world.writes() == []


ALLOW = '    gitopsd.io/allow-destructive: "true"\n'
DESTRUCTIVE = {
    "backup-off": (
        {"flags": "    backupEnabled: false\n", "no_schedule": True},
        MATCHING,
        lambda w: w.cluster("orders-db")["backupEnabled"] is False,
    ),
    "pit-off": (
        {"flags": "    backupEnabled: true\n    pitEnabled: false\n"},
        MATCHING,
        lambda w: w.cluster("orders-db")["pitEnabled"] is False,
    ),
    "item-removed": (
        {},
        {
            **MATCHING,
            "policies": [
                {
                    "policyItems": items(
                        ("hourly", 6, "days", 2), ("daily", 1, "days", 7), ("weekly", 1, "weeks", 4)
                    )
                }
            ],
        },
        lambda w: ("weekly", 1, "weeks", 4) not in policy_items(w),
    ),
    "retention-shortened": (
        {},
        {
            **MATCHING,
            "policies": [
                {"policyItems": items(("hourly", 6, "days", 2), ("daily", 1, "days", 14))}
            ],
        },
        lambda w: ("daily", 1, "days", 7) in policy_items(w),
    ),
    "restore-window-shortened": (
        {},
        {**MATCHING, "restoreWindowDays": 5},
        lambda w: w.schedule("orders-db")["restoreWindowDays"] == 2,
    ),
    "copy-settings-removed": (
        {},
        {
            **MATCHING,
            "copySettings": [
                {"cloudProvider": "GCP", "regionName": "EUROPE_WEST_3", "frequencies": ["DAILY"]}
            ],
        },
        lambda w: w.schedule("orders-db")["copySettings"] == [],
    ),
    "update-snapshots-with-shorter-retention": (
        {"extra": "  updateSnapshots: true\n"},
        {
            **MATCHING,
            "policies": [
                {"policyItems": items(("hourly", 6, "days", 2), ("daily", 1, "days", 10))}
            ],
        },
        lambda w: ("daily", 1, "days", 7) in policy_items(w),
    ),
}


def guarded(world: World, case: str, *, allow: bool) -> None:
    """Write the manifests and seed Atlas for one destructive case."""
    spec, held, _ = DESTRUCTIVE[case]
    annotations = ALLOW if allow else ""
    if spec.get("no_schedule"):
        dep = deployment(schedule_name="", flags=str(spec["flags"]))
        if allow:
            dep = dep.replace("  name: orders\n", f"  name: orders\n  annotations:\n{ALLOW}", 1)
        world.write("backups.yaml", docs(project(atlas_name=PROJECT_NAME), dep))
    else:
        flags = str(spec.get("flags", ""))
        manifests(world, annotations=annotations, flags=flags, extra=str(spec.get("extra", "")))
    seed(world, held, pitEnabled=True)


@pytest.mark.parametrize("case", sorted(DESTRUCTIVE))
def test_destructive_change_is_blocked_by_default(world, case):
    """Each destructive change is blocked and reported; Atlas keeps what it had."""
    guarded(world, case, allow=False)
    world.forget_requests()
    result = world.run("apply")
    assert result.code == 3, result.out
    assert "blocked: patch-" in result.out
    assert "gitopsd.io/allow-destructive" in result.out
    _, _, applied = DESTRUCTIVE[case]
    assert not applied(world)
    assert world.writes() == []


@pytest.mark.parametrize("case", sorted(DESTRUCTIVE))
def test_destructive_change_is_applied_with_the_annotation(world, case):
    """With gitopsd.io/allow-destructive: "true" the same change is applied and read back."""
    guarded(world, case, allow=True)
    result = world.run("apply")
    assert result.code == 0, result.out
    _, _, applied = DESTRUCTIVE[case]
    assert applied(world)


def test_config_allow_destructive_applies_without_annotation(world):
    """[reconcile] allow_destructive = true lets every deployment's destructive change through."""
    guarded(world, "retention-shortened", allow=False)
    world.config(reconcile="allow_destructive = true")
    assert world.run("apply").code == 0
    assert ("daily", 1, "days", 7) in policy_items(world)


def test_default_schedule_is_replaced_once_the_cluster_is_idle(world):
    """Backup turned on by gitopsd: Atlas's default schedule is replaced on a later cycle."""
    manifests(world)
    seed(world, None, backupEnabled=False)
    world.admin.patch("/_emulator/settings", json={"updating_s": 3600}).raise_for_status()
    first = world.run("apply")
    assert first.code == 3, first.out
    assert "skipped: patch-schedule: the cluster is UPDATING" in first.out
    assert ("monthly", 40, "months", 12) in policy_items(world)
    world.drift_cluster("orders-db", {"stateName": "IDLE"})
    second = world.run("apply")
    assert second.code == 0, second.out
    assert policy_items(world) == {("hourly", 6, "days", 2), ("daily", 1, "days", 7)}


def test_backup_on_and_schedule_in_one_cycle_when_atlas_is_quick(world):
    """When the cluster is IDLE right after the flags PATCH, the schedule follows at once."""
    manifests(world)
    seed(world, None, backupEnabled=False)
    result = world.run("apply")
    assert result.code == 0, result.out
    assert policy_items(world) == {("hourly", 6, "days", 2), ("daily", 1, "days", 7)}
    assert world.run("plan").code == 0


def test_out_of_band_change_to_the_default_is_still_guarded(world):
    """A default schedule gitopsd did not cause is protection someone has: removal is blocked."""
    manifests(world)
    seed(world, None)  # backup already on: Atlas's default schedule, made by someone else
    result = world.run("apply")
    assert result.code == 3, result.out
    assert "removes the monthly (last day) item" in result.out


def test_unknown_credentials_profile_fails_that_cluster_only(world):
    """A deployment naming a profile the config lacks fails; the others converge."""
    manifests(world)
    world.write(
        "other.yaml",
        deployment(
            name="billing",
            cluster="billing-db",
            extra="  connectionSecret:\n    name: billing-team\n",
        ),
    )
    state_extra = {"projectId": PROJECT_ID, "name": "billing-db", "backupEnabled": True}
    world.seed(
        {
            "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
            "clusters": [
                {"projectId": PROJECT_ID, "name": "orders-db", "backupEnabled": True},
                state_extra,
            ],
            "schedules": [{"projectId": PROJECT_ID, "clusterName": "orders-db", **SHORTER}],
        }
    )
    result = world.run("apply")
    assert result.code == 1
    assert "[atlas.profiles.billing-team]" in result.out
    assert policy_items(world) == {("hourly", 6, "days", 2), ("daily", 1, "days", 7)}


def test_bad_config_is_exit_1_naming_the_key(world):
    """A wrong value in the config stops plan with exit 1 and names the key."""
    manifests(world)
    world.config(reconcile='mode = "sometimes"')
    result = world.run("plan")
    assert result.code == 1
    assert "[reconcile] mode" in result.err


def test_faults_still_converge_within_a_few_cycles(world):
    """A 429 storm, then 5xx and dropped connections at 20% each: converged within 5 cycles."""
    manifests(world)
    seed(world, SHORTER)
    faults = {"error_rate": 0.2, "drop_rate": 0.2, "seed": 7, "script": ["429:0"] * 6}
    world.admin.put("/_emulator/faults", json=faults).raise_for_status()
    codes = []
    for _ in range(5):
        codes.append(world.run("apply").code)
        if codes[-1] == 0:
            break
    world.admin.put("/_emulator/faults", json={}).raise_for_status()
    assert codes[-1] == 0, codes
    assert world.run("plan").code == 0


def test_demo_runs_the_whole_loop_through_git(capsys):
    """`gitopsd demo`: apply, drift made by hand, a report commit with trailers, idempotence."""
    assert cli.main(["demo", "--manifests", str(REPO / "manifests-example")]) == 0
    out = capsys.readouterr().out
    applied = out.split("== 2.", 1)[1].split("== 3.", 1)[0]
    assert (
        "7 clusters: 0 drifted, 2 pending (2 resolved this cycle), 0 blocked, 0 skipped, 0 errors,"
        " 5 in sync; no cluster needs attention" in applied
    )
    assert "committed to gitopsd/drift as " in applied
    drifted = out.split("== 3.", 1)[1].split("== 4.", 1)[0]
    assert "~ Acme Production/CatalogEvents  [drifted]" in drifted
    assert "~ Acme Production/payments-ledger  [drifted, blocked]" in drifted
    branch = out.split("== 4.", 1)[1].split("== 5.", 1)[0]
    assert "drift: 1 drifted, 1 blocked, 1 resolved (7 clusters)" in branch
    assert branch.count("Drift-Fingerprint: sha256:") == 2
    assert "drift-report/REPORT.md" in branch
    report = out.split("== 5.", 1)[1].split("== 6.", 1)[0]
    assert "**Cannot be adopted automatically:** schedule catalog/catalog-standard" in report
    last = out.split("== 6.", 1)[1].split("== 7.", 1)[0]
    assert last.count("committed to gitopsd/drift as ") == 1
    assert "gitopsd/drift already holds this report" in last
    daemon = out.split("== 7.", 1)[1]
    assert "systemd was told: READY=1" in daemon
    assert "POST /hooks/git (GitHub push, signed): 202" in daemon
    assert "Atlas now: catalog-staging snapshots at 02:00" in daemon
    assert "SIGTERM: systemd was told STOPPING=1; exit code 0" in daemon


def test_a_configured_profile_is_used_for_its_deployments(world):
    """A deployment naming a profile is reconciled with that profile's credentials."""
    world.write(
        "backups.yaml",
        docs(
            project(atlas_name=PROJECT_NAME),
            policy(items=ITEMS),
            schedule(),
            deployment(extra="  connectionSecret:\n    name: billing-team\n"),
        ),
    )
    seed(world, SHORTER)
    secrets = world.secrets
    world.config(
        extra=f"""
[atlas.profiles.billing-team]
public_key_file = "{secrets / "public_key"}"
private_key_file = "{secrets / "private_key"}"
"""
    )
    result = world.run("apply")
    assert result.code == 0, result.out + result.err
    assert policy_items(world) == {("hourly", 6, "days", 2), ("daily", 1, "days", 7)}


def test_outputs_never_show_the_credentials(world):
    """Neither text nor JSON output of plan and apply contains the private key."""
    manifests(world)
    seed(world, SHORTER)
    secret = world.emulator.credentials.private_key
    runs = [world.run("plan", "--format", "json"), world.run("apply", "--dry-run")]
    runs.append(world.run("apply"))
    for result in runs:
        assert secret not in result.out
        assert secret not in result.err
