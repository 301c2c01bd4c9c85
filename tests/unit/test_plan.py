"""The plan: what is sent now, in what order, and what is held back and why."""

from __future__ import annotations

import pytest
from support.builders import (
    blocked_cluster,
    cluster_key,
    default_items,
    desired_cluster,
    desired_schedule,
    desired_state,
    failed_observation,
    item,
    observation_of,
    observed_cluster,
    observed_schedule,
    problem,
)

from gitopsd.core.diff import Severity
from gitopsd.core.model import DesiredCluster, Mode
from gitopsd.core.plan import (
    ALLOW_DESTRUCTIVE,
    ActionKind,
    ClusterPlan,
    Failure,
    Hold,
    Observation,
    Options,
    Status,
    compute,
    for_cluster,
    schedule_blocker,
)

ENFORCE = Options()


def without(frequency: str) -> list:
    """The baseline items less the ``frequency`` one."""
    return [i for i in default_items() if str(i.frequency) != frequency]


def plan_of(
    desired: DesiredCluster, seen: Observation | None = None, options: Options = ENFORCE
) -> ClusterPlan:
    """The plan of ``desired`` against ``seen`` (by default Atlas in sync with the baseline)."""
    seen = seen if seen is not None else observation_of(desired_cluster(desired.key.cluster))
    return for_cluster(desired, seen, options)


def atlas(**cluster_overrides) -> Observation:
    """What Atlas holds for the baseline cluster, the cluster bent as told."""
    return observation_of(desired_cluster(), **cluster_overrides)


def holds(plan: ClusterPlan) -> list[tuple[ActionKind, Hold | None]]:
    """Each action's kind and hold, in order."""
    return [(a.kind, a.hold) for a in plan.actions]


def failure_of(plan: ClusterPlan) -> Failure:
    """The plan's failure, which the test expects."""
    assert plan.failure is not None
    return plan.failure


def item_removed() -> DesiredCluster:
    """A cluster whose manifest drops the daily item."""
    return desired_cluster(schedule=desired_schedule(items=without("daily")))


# -- in sync -----------------------------------------------------------------------------------


def test_in_sync_cluster_has_no_actions():
    """A converged cluster yields no changes and no actions."""
    plan = plan_of(desired_cluster())
    assert (plan.changes, plan.actions) == ((), ())


def test_in_sync_cluster_status_is_in_sync():
    """A converged cluster reports in-sync."""
    assert plan_of(desired_cluster()).status is Status.IN_SYNC


def test_plan_of_converged_clusters_is_empty():
    """A plan with every cluster in sync is empty."""
    a, b = desired_cluster("orders"), desired_cluster("billing")
    plan = compute(desired_state(a, b), {c.key: observation_of(c) for c in (a, b)}, ENFORCE)
    assert plan.empty


def test_plan_with_a_change_is_not_empty():
    """One pending cluster makes the plan non-empty."""
    a, b = desired_cluster("orders"), desired_cluster("billing")
    seen = {a.key: observation_of(a), b.key: observation_of(b, pit_enabled=False)}
    assert not compute(desired_state(a, b), seen, ENFORCE).empty


# -- order and content -------------------------------------------------------------------------


def test_cluster_flags_come_before_the_schedule():
    """The cluster PATCH is planned ahead of the schedule PATCH."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    plan = plan_of(desired, atlas(pit_enabled=False))
    assert [a.kind for a in plan.todo] == [ActionKind.PATCH_CLUSTER, ActionKind.PATCH_SCHEDULE]


def test_plan_lists_cluster_changes_then_schedule_changes():
    """A cluster plan carries the flag changes followed by the schedule changes."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    plan = plan_of(desired, atlas(pit_enabled=False))
    assert [c.path for c in plan.changes] == ["/pitEnabled", "/schedule/restoreWindowDays"]


def test_pending_cluster_status_is_pending():
    """A cluster with actions to send reports pending."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    assert plan_of(desired).status is Status.PENDING


def test_cluster_action_carries_only_the_flags_that_change():
    """The cluster PATCH sends the changed flag and leaves the other unset."""
    desired = desired_cluster()
    (action,) = plan_of(desired, atlas(pit_enabled=False)).todo
    assert (action.backup_enabled, action.pit_enabled) == (None, True)


def test_schedule_action_carries_the_whole_desired_schedule():
    """The schedule PATCH sends the full desired schedule."""
    schedule = desired_schedule(restore_window_days=14)
    (action,) = plan_of(desired_cluster(schedule=schedule)).todo
    assert action.schedule == schedule


# -- the destructive-change guard --------------------------------------------------------------


def test_destructive_flag_change_is_blocked():
    """Turning PIT off is held BLOCKED and nothing is sent."""
    plan = plan_of(desired_cluster(pit_enabled=False))
    assert (holds(plan), plan.todo, plan.status) == (
        [(ActionKind.PATCH_CLUSTER, Hold.BLOCKED)],
        (),
        Status.BLOCKED,
    )


def test_safe_flag_is_planned_beside_a_blocked_one():
    """Backup on is sent while PIT off waits on the guard, in two actions."""
    desired = desired_cluster(backup_enabled=True, pit_enabled=False, schedule=None)
    seen = Observation(cluster=observed_cluster(backup_enabled=False, pit_enabled=True))
    plan = plan_of(desired, seen)
    planned, blocked = plan.actions
    assert (
        (planned.hold, planned.backup_enabled, planned.pit_enabled),
        (blocked.hold, [c.path for c in blocked.changes]),
    ) == ((None, True, None), (Hold.BLOCKED, ["/pitEnabled"]))


def test_destructive_flag_change_allowed_by_config():
    """Options(allow_destructive=True) lets PIT off through."""
    plan = plan_of(desired_cluster(pit_enabled=False), options=Options(allow_destructive=True))
    assert [(a.hold, a.pit_enabled) for a in plan.actions] == [(None, False)]


def test_destructive_flag_change_allowed_by_annotation():
    """A deployment that allows destructive changes lets PIT off through."""
    plan = plan_of(desired_cluster(pit_enabled=False, allow_destructive=True))
    assert [(a.hold, a.pit_enabled) for a in plan.actions] == [(None, False)]


def test_backup_off_is_sent_as_false():
    """An allowed backup-off PATCH says backupEnabled false, not nothing."""
    desired = desired_cluster(backup_enabled=False, pit_enabled=None, schedule=None)
    seen = atlas(pit_enabled=False)
    (action,) = plan_of(desired, seen, Options(allow_destructive=True)).todo
    assert (action.backup_enabled, action.pit_enabled) == (False, None)


def test_schedule_with_a_destructive_change_is_blocked_as_a_whole():
    """One destructive change holds the whole schedule PATCH, safe changes included."""
    desired = desired_cluster(
        schedule=desired_schedule(items=without("daily"), reference_hour_of_day=5)
    )
    (action,) = plan_of(desired).actions
    assert (action.kind, action.hold, sorted(c.path for c in action.changes)) == (
        ActionKind.PATCH_SCHEDULE,
        Hold.BLOCKED,
        ["/schedule/policyItems/daily/1", "/schedule/referenceHourOfDay"],
    )


def test_guard_reason_names_the_annotation():
    """A blocked action says what is destructive and how to allow it."""
    (action,) = plan_of(item_removed()).actions
    assert "removes the daily item" in action.reason
    assert f'{ALLOW_DESTRUCTIVE}: "true"' in action.reason


def test_allow_destructive_annotation_is_spelled_as_in_the_spec():
    """The guard's annotation is gitopsd.io/allow-destructive."""
    assert ALLOW_DESTRUCTIVE == "gitopsd.io/allow-destructive"


def test_backup_off_takes_pit_off_in_the_same_patch():
    """Backup off with pitEnabled left out sends PIT off too, in one cluster PATCH."""
    desired = desired_cluster(backup_enabled=False, pit_enabled=None, schedule=None)
    (action,) = plan_of(desired, options=Options(allow_destructive=True)).todo
    assert (action.backup_enabled, action.pit_enabled) == (False, False)


@pytest.mark.parametrize(
    ("desired", "options"),
    [
        (item_removed(), Options(allow_destructive=True)),
        (
            desired_cluster(
                schedule=desired_schedule(items=without("daily")), allow_destructive=True
            ),
            ENFORCE,
        ),
    ],
    ids=["config", "annotation"],
)
def test_destructive_schedule_change_allowed(desired, options):
    """Allowed destructive schedule changes are planned, still marked destructive."""
    plan = plan_of(desired, options=options)
    assert (holds(plan), [c.destructive for c in plan.changes]) == (
        [(ActionKind.PATCH_SCHEDULE, None)],
        [True],
    )


# -- clusters that cannot take writes now ------------------------------------------------------


def test_paused_cluster_holds_every_action_skipped():
    """Nothing is sent to a paused cluster; flags and schedule wait."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    plan = plan_of(desired, atlas(pit_enabled=False, paused=True))
    assert (holds(plan), plan.todo) == (
        [(ActionKind.PATCH_CLUSTER, Hold.SKIPPED), (ActionKind.PATCH_SCHEDULE, Hold.SKIPPED)],
        (),
    )


def test_paused_cluster_reason_says_paused():
    """Each skipped action on a paused cluster says the cluster is paused."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    plan = plan_of(desired, atlas(pit_enabled=False, paused=True))
    assert all("paused" in a.reason for a in plan.actions)


def test_paused_cluster_status_is_skipped():
    """A paused cluster with changes reports skipped."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    assert plan_of(desired, atlas(paused=True)).status is Status.SKIPPED


def test_busy_cluster_skips_the_schedule():
    """A schedule change waits while the cluster is UPDATING."""
    desired = desired_cluster(schedule=desired_schedule(restore_window_days=14))
    (action,) = plan_of(desired, atlas(state_name="UPDATING")).actions
    assert action.hold is Hold.SKIPPED
    assert action.reason.startswith("the cluster is UPDATING")


BACKUP_OFF = Observation(cluster=observed_cluster(backup_enabled=False), schedule=None)


def test_schedule_is_planned_with_backup_turned_on():
    """Backup off in Atlas: the cluster PATCH and the schedule are both planned, in order."""
    plan = plan_of(desired_cluster(), BACKUP_OFF)
    assert holds(plan) == [(ActionKind.PATCH_CLUSTER, None), (ActionKind.PATCH_SCHEDULE, None)]
    assert plan.status is Status.PENDING


def test_schedule_with_backup_turned_on_says_when_it_is_written():
    """The schedule planned with backup says it is compared with Atlas's default, written later."""
    schedule_action = plan_of(desired_cluster(), BACKUP_OFF).actions[-1]
    assert schedule_action.reason.startswith("compared with the default schedule Atlas creates")
    assert "written once backup is on and the cluster is IDLE" in schedule_action.reason


def test_schedule_with_backup_turned_on_lists_every_field_against_atlas_default():
    """Every field apply may write is a change: time and window unknown, default items replaced."""
    plan = plan_of(desired_cluster(), BACKUP_OFF)
    changes = {c.path: (c.atlas, c.git) for c in plan.changes}
    assert changes == {
        "/backupEnabled": (False, True),
        "/schedule/referenceHourOfDay": (None, 3),
        "/schedule/referenceMinuteOfHour": (None, 30),
        "/schedule/restoreWindowDays": (None, 7),
        "/schedule/policyItems/hourly/6": ("7 days", "2 days"),
        "/schedule/policyItems/weekly/1": ("4 weeks", None),
        "/schedule/policyItems/weekly/6": (None, "4 weeks"),
    }
    assert plan.actions[-1].changes == tuple(c for c in plan.changes if c.scope == "schedule")


def test_replacing_atlas_default_planned_with_backup_is_not_destructive():
    """Removing or shortening the default's items is not guarded: nobody asked for them."""
    plan = plan_of(desired_cluster(), BACKUP_OFF)
    removal = next(c for c in plan.changes if c.path == "/schedule/policyItems/weekly/1")
    assert (removal.destructive, removal.severity) == (False, Severity.LOW)
    assert removal.why.endswith(
        "part of the default schedule Atlas creates when backup is turned on"
    )


def test_schedule_matching_atlas_default_is_still_planned_with_backup():
    """A schedule Git asks as Atlas's default has it is still checked once backup is on."""
    schedule = desired_schedule(
        reference_hour_of_day=None,
        reference_minute_of_hour=None,
        restore_window_days=None,
        items=[
            item("hourly", 6, 7, "days"),
            item("daily", 1, 7, "days"),
            item("weekly", 1, 4, "weeks"),
            item("monthly", 40, 12, "months"),
        ],
    )
    plan = plan_of(desired_cluster(schedule=schedule), BACKUP_OFF)
    (check,) = (a for a in plan.actions if a.kind is ActionKind.PATCH_SCHEDULE)
    assert (check.hold, check.changes) == (None, ())
    assert "writes it only if it differs" in check.reason


def test_unreadable_schedule_is_skipped():
    """Backup on but no schedule read: the schedule is skipped with that reason."""
    seen = Observation(cluster=observed_cluster(), schedule=None)
    (action,) = plan_of(desired_cluster(), seen).actions
    assert (action.hold, action.reason) == (Hold.SKIPPED, "Atlas's schedule could not be read")


def test_schedule_is_not_planned_when_backup_goes_off():
    """A deployment turning backup off plans no schedule write."""
    desired = desired_cluster(backup_enabled=False, pit_enabled=False)
    plan = plan_of(desired, options=Options(allow_destructive=True))
    assert [a.kind for a in plan.actions] == [ActionKind.PATCH_CLUSTER]


def test_schedule_blocker_lets_an_idle_cluster_with_backup_through():
    """An IDLE, running cluster with backup on takes a schedule write."""
    assert schedule_blocker(observed_cluster()) is None


@pytest.mark.parametrize(
    ("cluster", "reason"),
    [
        (observed_cluster(paused=True), "the cluster is paused"),
        (observed_cluster(backup_enabled=False), "backup is not on yet"),
        (observed_cluster(state_name="UPDATING"), "the cluster is UPDATING"),
        (observed_cluster(state_name=""), "the cluster is not IDLE"),
    ],
    ids=["paused", "backup-off", "updating", "unknown-state"],
)
def test_schedule_blocker_explains_why_a_schedule_must_wait(cluster, reason):
    """A paused, backup-less or busy cluster gets a reason."""
    assert (schedule_blocker(cluster) or "").startswith(reason)


# -- observe mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployment_mode", "options"),
    [(None, Options(mode=Mode.OBSERVE)), (Mode.OBSERVE, ENFORCE)],
    ids=["global", "deployment"],
)
def test_observe_mode_holds_every_action_observed(deployment_mode, options):
    """In observe mode every action is reported, none is sent."""
    desired = desired_cluster(
        mode=deployment_mode, schedule=desired_schedule(restore_window_days=14)
    )
    plan = plan_of(desired, atlas(pit_enabled=False), options)
    assert (holds(plan), plan.todo) == (
        [(ActionKind.PATCH_CLUSTER, Hold.OBSERVED), (ActionKind.PATCH_SCHEDULE, Hold.OBSERVED)],
        (),
    )


@pytest.mark.parametrize(
    ("deployment_mode", "options", "expected"),
    [
        (None, ENFORCE, Mode.ENFORCE),
        (None, Options(mode=Mode.OBSERVE), Mode.OBSERVE),
        (Mode.OBSERVE, ENFORCE, Mode.OBSERVE),
        (Mode.ENFORCE, Options(mode=Mode.OBSERVE), Mode.ENFORCE),
    ],
    ids=["default", "global-observe", "deployment-observe", "deployment-enforce"],
)
def test_deployment_mode_overrides_the_global_mode(deployment_mode, options, expected):
    """The plan's mode is the deployment's annotation, else the configured default."""
    assert plan_of(desired_cluster(mode=deployment_mode), options=options).mode is expected


def test_enforced_deployment_is_planned_under_global_observe():
    """A deployment annotated enforce is written even when the default is observe."""
    desired = desired_cluster(mode=Mode.ENFORCE, schedule=desired_schedule(restore_window_days=14))
    assert len(plan_of(desired, options=Options(mode=Mode.OBSERVE)).todo) == 1


def test_observe_mode_holds_a_destructive_change_observed():
    """In observe mode a destructive change is observed too: nothing would be written anyway."""
    plan = plan_of(item_removed(), options=Options(mode=Mode.OBSERVE))
    assert holds(plan) == [(ActionKind.PATCH_SCHEDULE, Hold.OBSERVED)]


def test_observe_mode_still_marks_destructive_changes():
    """Observe mode reports a destructive change as destructive, though it holds no guard."""
    plan = plan_of(item_removed(), options=Options(mode=Mode.OBSERVE))
    assert [(c.severity, c.destructive) for c in plan.changes] == [(Severity.CRITICAL, True)]


def test_observe_mode_holds_the_schedule_observed_while_backup_is_off():
    """In observe mode a schedule waiting for backup is observed, not skipped."""
    seen = Observation(cluster=observed_cluster(backup_enabled=False), schedule=None)
    plan = plan_of(desired_cluster(), seen, Options(mode=Mode.OBSERVE))
    assert holds(plan) == [
        (ActionKind.PATCH_CLUSTER, Hold.OBSERVED),
        (ActionKind.PATCH_SCHEDULE, Hold.OBSERVED),
    ]


# -- failures ----------------------------------------------------------------------------------


def test_missing_cluster_fails_with_cluster_not_found():
    """A cluster Atlas does not have fails with CLUSTER_NOT_FOUND and no actions."""
    plan = plan_of(desired_cluster(), Observation(cluster=None))
    assert (failure_of(plan).error_code, plan.actions, plan.status) == (
        "CLUSTER_NOT_FOUND",
        (),
        Status.ERROR,
    )


def test_missing_cluster_message_names_the_cluster_and_project():
    """The not-found message names cluster and project and says gitopsd never creates one."""
    message = failure_of(plan_of(desired_cluster(), Observation(cluster=None))).message
    assert message.startswith("cluster orders does not exist in project Production;")
    assert "gitopsd never creates clusters" in message


def test_observation_failure_is_passed_through():
    """A failed read becomes the cluster's failure verbatim, with no actions."""
    seen = failed_observation()
    plan = plan_of(desired_cluster(), seen)
    assert (plan.failure, plan.actions) == (seen.failure, ())


@pytest.mark.parametrize("size", ["M0", "M2", "M5", "m2"])
def test_shared_tier_fails_naming_the_tier(size):
    """Backup on a shared tier is an error naming the tier; nothing is planned."""
    plan = plan_of(desired_cluster(), atlas(instance_size=size))
    failure = failure_of(plan)
    assert (failure.error_code, plan.actions) == ("TIER_WITHOUT_CLOUD_BACKUP", ())
    assert f"is a shared {size.upper()} cluster" in failure.message


@pytest.mark.parametrize(
    ("instance_size", "provider_name", "kind"),
    [("FLEX", "FLEX", "flex"), (None, "FLEX", "flex"), ("SERVERLESS", "AWS", "serverless")],
    ids=["flex-size", "flex-provider", "serverless"],
)
def test_automatic_backup_tier_fails(instance_size, provider_name, kind):
    """Flex and serverless instances back up on their own: an error, nothing planned."""
    seen = atlas(instance_size=instance_size, provider_name=provider_name)
    plan = plan_of(desired_cluster(pit_enabled=False), seen)
    failure = failure_of(plan)
    assert (failure.error_code, plan.actions) == ("TIER_WITHOUT_CLOUD_BACKUP", ())
    assert f"is a {kind} instance" in failure.message


def test_shared_tier_without_backup_in_the_manifest_is_fine():
    """A deployment that asks nothing of backups may target a shared tier."""
    desired = desired_cluster(backup_enabled=None, pit_enabled=None, schedule=None)
    plan = plan_of(desired, Observation(cluster=observed_cluster(instance_size="M0")))
    assert (plan.failure, plan.status) == (None, Status.IN_SYNC)


# -- fresh default schedules -------------------------------------------------------------------


ATLAS_DEFAULT = [
    item("hourly", 6, 7, "days"),
    item("daily", 1, 7, "days"),
    item("weekly", 1, 4, "weeks"),
    item("monthly", 40, 12, "months"),
]


def atlas_default() -> Observation:
    """Atlas holding the schedule it creates when backup is turned on."""
    return observation_of(desired_cluster(schedule=desired_schedule(items=ATLAS_DEFAULT)))


def default_item_removed() -> DesiredCluster:
    """A manifest asking for Atlas's default schedule without its daily item."""
    kept = [i for i in ATLAS_DEFAULT if str(i.frequency) != "daily"]
    return desired_cluster(schedule=desired_schedule(items=kept))


def test_fresh_default_item_removal_is_low_and_not_destructive():
    """Replacing Atlas's default schedule removes nothing anyone asked for."""
    desired = default_item_removed()
    fresh = Options(fresh_defaults=frozenset({desired.key}))
    plan = plan_of(desired, atlas_default(), options=fresh)
    (change,) = plan.changes
    assert (change.severity, change.destructive) == (Severity.LOW, False)
    assert change.why.endswith(
        "part of the default schedule Atlas created when gitopsd turned backup on"
    )


def test_fresh_default_schedule_is_planned_not_blocked():
    """A fresh default schedule is replaced without the guard."""
    desired = default_item_removed()
    fresh = Options(fresh_defaults=frozenset({desired.key}))
    plan = plan_of(desired, atlas_default(), options=fresh)
    assert holds(plan) == [(ActionKind.PATCH_SCHEDULE, None)]


def test_a_remembered_default_that_no_longer_looks_default_stays_guarded():
    """Backup turned on again may bring back an older schedule: the guard stays on for it."""
    desired = item_removed()
    plan = plan_of(desired, options=Options(fresh_defaults=frozenset({desired.key})))
    assert holds(plan) == [(ActionKind.PATCH_SCHEDULE, Hold.BLOCKED)]


def test_fresh_defaults_cover_only_the_clusters_named():
    """Another cluster's fresh default does not lift this cluster's guard."""
    options = Options(fresh_defaults=frozenset({cluster_key("billing")}))
    assert holds(plan_of(item_removed(), options=options)) == [
        (ActionKind.PATCH_SCHEDULE, Hold.BLOCKED)
    ]


def test_fresh_default_leaves_safe_changes_as_they_are():
    """Non-destructive changes keep their severity on a fresh default schedule."""
    desired = desired_cluster(schedule=desired_schedule(reference_hour_of_day=5))
    plan = plan_of(desired, options=Options(fresh_defaults=frozenset({desired.key})))
    assert [(c.severity, c.why) for c in plan.changes] == [(Severity.MEDIUM, "moves snapshots")]


# -- unmanaged and compute ---------------------------------------------------------------------


def test_unmanaged_fields_come_from_the_observed_schedule():
    """Fields Atlas holds that manifests cannot express are carried into the plan."""
    unmanaged = ("copySettings[0].copyPolicyItems", "extraRetentionSettings")
    seen = Observation(cluster=observed_cluster(), schedule=observed_schedule(unmanaged=unmanaged))
    assert plan_of(desired_cluster(), seen).unmanaged == unmanaged


def test_compute_sorts_clusters_by_key():
    """Clusters are planned in (project, cluster) order whatever the desired order."""
    clusters = [
        desired_cluster("zeta"),
        desired_cluster("alpha", key=cluster_key("alpha", project="Staging")),
        desired_cluster("alpha"),
    ]
    seen = {c.key: observation_of(c) for c in clusters}
    plan = compute(desired_state(*clusters), seen, ENFORCE)
    assert [str(c.key) for c in plan.clusters] == [
        "Production/alpha",
        "Production/zeta",
        "Staging/alpha",
    ]


def test_compute_reports_blocked_deployments_as_unplanned():
    """Deployments kept out by manifest problems are listed by namespace/name with reasons."""
    reason = problem(12, "backupRef names schedule missing, which does not exist")
    state = desired_state(blocked=[blocked_cluster("zeta", reason), blocked_cluster("alpha")])
    assert compute(state, {}, ENFORCE).unplanned == (
        ("default/alpha", ()),
        ("default/zeta", (reason,)),
    )


def test_compute_passes_problems_through():
    """The manifests' problems travel with the plan."""
    found = problem(3, "unknown field autoExportExabled", code="unknown-field")
    assert compute(desired_state(problems=[found]), {}, ENFORCE).problems == (found,)


def test_cluster_absent_from_observed_fails():
    """A cluster the shell did not read fails instead of being planned blind."""
    plan = compute(desired_state(desired_cluster()), {}, ENFORCE)
    (cluster,) = plan.clusters
    assert (cluster.status, cluster.actions, plan.empty) == (Status.ERROR, (), False)


def test_compute_plans_each_cluster_against_its_own_observation():
    """Each cluster is compared with what Atlas holds for that cluster."""
    a, b = desired_cluster("orders"), desired_cluster("billing")
    seen = {a.key: observation_of(a), b.key: observation_of(b, pit_enabled=False)}
    plan = compute(desired_state(a, b), seen, ENFORCE)
    assert {str(c.key): c.status for c in plan.clusters} == {
        "Production/billing": Status.PENDING,
        "Production/orders": Status.IN_SYNC,
    }


def test_retention_change_plans_the_schedule():
    """A lengthened retention is a low change sent as a schedule PATCH."""
    desired = desired_cluster(
        schedule=desired_schedule(items=[*without("daily"), item("daily", 1, 14)])
    )
    plan = plan_of(desired)
    assert (holds(plan), [c.severity for c in plan.changes]) == (
        [(ActionKind.PATCH_SCHEDULE, None)],
        [Severity.LOW],
    )
