"""Adopting drift: which manifest edits accept what Atlas holds, and when none can."""

from __future__ import annotations

import dataclasses

import pytest
from support.builders import (
    SOURCES,
    cluster_key,
    copy_setting,
    desired_cluster,
    desired_schedule,
    desired_state,
    export,
    observation_of,
    observed_copy,
    observed_item,
    observed_items_of,
    resource,
    span,
)

from gitopsd.core import adopt, plan
from gitopsd.core.adopt import Adoption, Edit, EditOp
from gitopsd.core.model import DesiredCluster, Kind, Mode, ResourceId
from gitopsd.core.outcome import CycleResult
from gitopsd.core.plan import Observation

FILE = "backups.yaml"
DEPLOYMENT = resource(Kind.DEPLOYMENT, "orders")
SCHEDULE = resource(Kind.SCHEDULE, "standard")
POLICY = resource(Kind.POLICY, "standard")
ITEMS = ("spec", "items")
COPIES = ("spec", "copySettings")


def cycle_of(
    *pairs: tuple[DesiredCluster, Observation],
    edges: tuple[tuple[ResourceId, ResourceId], ...] = (),
) -> CycleResult:
    """An observe-mode cycle over ``pairs`` of (what Git asks, what Atlas holds)."""
    state = dataclasses.replace(desired_state(*(d for d, _ in pairs)), edges=edges)
    observed = {d.key: seen for d, seen in pairs}
    todo = plan.compute(state, observed, plan.Options(mode=Mode.OBSERVE))
    return CycleResult(
        revision="main@1a2b3c4",
        plan=todo,
        problems=(),
        clusters=(),
        mode=Mode.OBSERVE,
        desired=state,
        observed=tuple(sorted(observed.items())),
        settled=frozenset(observed),
    )


def atlas(desired: DesiredCluster, cluster: dict | None = None, **schedule) -> Observation:
    """What Atlas holds for ``desired``: in sync, but for the cluster and schedule fields given."""
    seen = observation_of(desired, **(cluster or {}))
    assert seen.schedule is not None
    return dataclasses.replace(seen, schedule=dataclasses.replace(seen.schedule, **schedule))


def adoption(
    desired: DesiredCluster,
    seen: Observation,
    *others: tuple[DesiredCluster, Observation],
    edges: tuple[tuple[ResourceId, ResourceId], ...] = (),
) -> Adoption:
    """The adoption of ``desired``'s drift, with ``others`` in the same cycle."""
    result = adopt.compute(cycle_of((desired, seen), *others, edges=edges), [desired.key])
    assert len(result) == 1
    return result[0]


def on_schedule(
    *path: str | int, value: adopt.EditValue = None, pointer: str, op: EditOp = EditOp.SET
) -> Edit:
    """An edit of the baseline schedule document."""
    return Edit(file=FILE, resource=SCHEDULE, path=path, op=op, value=value, pointer=pointer)


def on_policy(
    *path: str | int, value: adopt.EditValue = None, pointer: str, op: EditOp = EditOp.SET
) -> Edit:
    """An edit of the baseline policy document."""
    return Edit(file=FILE, resource=POLICY, path=path, op=op, value=value, pointer=pointer)


def in_sync(name: str, **overrides) -> tuple[DesiredCluster, Observation]:
    """Another cluster, Atlas in sync with Git."""
    other = desired_cluster(name, **overrides)
    return other, observation_of(other)


# -- cluster flags -----------------------------------------------------------------------------


def test_flag_drift_is_adopted_on_the_deployment():
    """PIT turned off in Atlas becomes pitEnabled: false in the deployment, after backupEnabled."""
    desired = desired_cluster()
    result = adoption(desired, atlas(desired, cluster={"pit_enabled": False}))
    assert result.edits == (
        Edit(
            file=FILE,
            resource=DEPLOYMENT,
            path=("spec", "deploymentSpec", "pitEnabled"),
            op=EditOp.SET,
            value=False,
            pointer="/pitEnabled",
            after=("backupEnabled", "name"),
        ),
    )
    assert result.adoptable


def test_flag_drift_is_adopted_even_when_the_schedule_is_shared():
    """The deployment serves only its cluster, whoever shares its schedule."""
    desired = desired_cluster()
    result = adoption(desired, atlas(desired, cluster={"pit_enabled": False}), in_sync("payments"))
    assert [e.path for e in result.edits] == [("spec", "deploymentSpec", "pitEnabled")]


def test_backup_turned_off_under_a_backup_ref_is_not_adopted():
    """A manifest cannot keep backupRef and say backupEnabled: false."""
    desired = desired_cluster()
    seen = atlas(desired, cluster={"backup_enabled": False, "pit_enabled": False})
    result = adoption(desired, seen)
    assert not result.adoptable
    assert result.edits == ()
    assert result.reason == (
        "Atlas has cloud backup off, but deployment default/orders turns it on with its"
        " backupRef to schedule default/standard: to accept it, remove backupRef and set"
        " backupEnabled: false in Git; otherwise turn backup on again in Atlas"
    )


def test_backup_turned_off_without_a_backup_ref_is_adopted():
    """A deployment that only sets the flags takes Atlas's flags."""
    desired = desired_cluster(schedule=None, schedule_id=None, policy_id=None)
    seen = dataclasses.replace(
        observation_of(desired, backup_enabled=False, pit_enabled=False), schedule=None
    )
    result = adoption(desired, seen)
    assert [(e.path[-1], e.value) for e in result.edits] == [
        ("backupEnabled", False),
        ("pitEnabled", False),
    ]


# -- schedule fields ---------------------------------------------------------------------------


def test_schedule_field_drift_is_adopted_on_the_schedule():
    """A restore window changed in Atlas is written into the schedule."""
    desired = desired_cluster()
    result = adoption(desired, atlas(desired, restore_window_days=3))
    assert result.edits == (
        on_schedule("spec", "restoreWindowDays", value=3, pointer="/schedule/restoreWindowDays"),
    )


def test_boolean_schedule_field_is_written_as_a_boolean():
    """Export turned on in Atlas (with its target) is written as autoExportEnabled: true."""
    desired = desired_cluster(schedule=desired_schedule(export=export()))
    seen = atlas(desired, auto_export_enabled=True)
    assert adoption(desired, seen).edits == (
        on_schedule("spec", "autoExportEnabled", value=True, pointer="/schedule/autoExportEnabled"),
    )


def test_schedule_shared_with_another_deployment_is_not_adopted():
    """Editing a schedule two deployments use would change the other cluster too."""
    desired = desired_cluster()
    result = adoption(
        desired, atlas(desired, reference_hour_of_day=9), in_sync("payments"), in_sync("search")
    )
    assert result.edits == ()
    assert result.reason == (
        "schedule default/standard also serves default/payments and default/search: adopting"
        " would change them too; change the schedule in Git or revert the change in Atlas"
    )


def test_schedule_shared_with_a_blocked_deployment_is_not_adopted():
    """A deployment the graph blocks still uses the schedule (the graph's edges say so)."""
    desired = desired_cluster()
    broken = resource(Kind.DEPLOYMENT, "broken", namespace="payments")
    result = adoption(desired, atlas(desired, reference_hour_of_day=9), edges=((broken, SCHEDULE),))
    assert "also serves payments/broken" in result.reason
    assert not result.adoptable


def test_policy_shared_by_another_schedule_is_not_adopted():
    """Items live in the policy; another schedule's clusters use it too."""
    desired = desired_cluster()
    other = in_sync("payments", schedule_id=resource(Kind.SCHEDULE, "nightly"))
    seen = atlas(desired, items=observed_items_of(desired_schedule().items)[:3])
    result = adoption(desired, seen, other)
    assert result.reason == (
        "the policy default/standard is shared by 2 schedules (default/nightly and"
        " default/standard): adopting would change the others' clusters too; change the policy"
        " in Git or revert the change in Atlas"
    )


def test_policy_shared_by_an_orphan_schedule_is_not_adopted():
    """A schedule no deployment uses still names the policy."""
    desired = desired_cluster()
    orphan = resource(Kind.SCHEDULE, "unused")
    seen = atlas(desired, items=observed_items_of(desired_schedule().items)[:3])
    assert "shared by 2 schedules" in adoption(desired, seen, edges=((orphan, POLICY),)).reason


def test_schedule_field_drift_is_adopted_when_only_the_policy_is_shared():
    """A shared policy does not matter when no item changed."""
    desired = desired_cluster()
    other = in_sync("payments", schedule_id=resource(Kind.SCHEDULE, "nightly"))
    result = adoption(desired, atlas(desired, reference_minute_of_hour=45), other)
    assert [e.path for e in result.edits] == [("spec", "referenceMinuteOfHour")]


def test_export_target_changed_in_atlas_is_adopted_field_by_field():
    """Only the bucket id changes; the rest of the export mapping stays as written."""
    desired = desired_cluster(schedule=desired_schedule(export=export("aaa")))
    result = adoption(desired, atlas(desired, export=export("bbb")))
    assert result.edits == (
        on_schedule("spec", "export", "exportBucketId", value="bbb", pointer="/schedule/export"),
    )


def test_export_removed_in_atlas_deletes_the_export():
    """No export in Atlas: the schedule's export mapping goes."""
    desired = desired_cluster(schedule=desired_schedule(export=export()))
    result = adoption(desired, atlas(desired, export=None))
    assert result.edits == (
        on_schedule("spec", "export", op=EditOp.DELETE, pointer="/schedule/export"),
    )


def test_schedule_field_atlas_does_not_hold_is_not_adopted():
    """A manifest cannot ask for "no restore window"; leaving it out means not managed."""
    desired = desired_cluster()
    result = adoption(desired, atlas(desired, restore_window_days=None))
    assert result.reason == (
        "Atlas holds no restoreWindowDays for Production/orders, and a manifest cannot ask for"
        " none (leaving restoreWindowDays out means not managed)"
    )


def test_export_frequency_a_manifest_cannot_say_is_not_adopted():
    """An export frequency outside monthly and yearly cannot be written."""
    desired = desired_cluster(schedule=desired_schedule(export=export()))
    result = adoption(desired, atlas(desired, export=export(frequency="weekly")))
    assert "which a manifest cannot express (monthly or yearly)" in result.reason


# -- policy items ------------------------------------------------------------------------------


def test_changed_retention_is_edited_in_place():
    """The daily item keeps 14 days in Atlas: its retentionValue changes, nothing else."""
    desired = desired_cluster()
    items = (
        observed_item("hourly", 6, 2, "days"),
        observed_item("daily", 1, 14, "days"),
        observed_item("weekly", 6, 4, "weeks"),
        observed_item("monthly", 40, 12, "months"),
    )
    assert adoption(desired, atlas(desired, items=items)).edits == (
        on_policy(*ITEMS, 1, "retentionValue", value=14, pointer="/schedule/policyItems/daily/1"),
    )


def test_changed_retention_unit_edits_unit_and_value():
    """Weekly kept 1 month instead of 4 weeks: both retention fields of the item change."""
    desired = desired_cluster()
    items = (
        observed_item("hourly", 6, 2, "days"),
        observed_item("daily", 1, 7, "days"),
        observed_item("weekly", 6, 1, "months"),
        observed_item("monthly", 40, 12, "months"),
    )
    pointer = "/schedule/policyItems/weekly/6"
    assert adoption(desired, atlas(desired, items=items)).edits == (
        on_policy(*ITEMS, 2, "retentionUnit", value="months", pointer=pointer),
        on_policy(*ITEMS, 2, "retentionValue", value=1, pointer=pointer),
    )


def test_item_removed_in_atlas_is_deleted_from_the_policy():
    """Atlas dropped the weekly item; the third list entry goes."""
    desired = desired_cluster()
    items = observed_items_of(i for i in desired_schedule().items if str(i.frequency) != "weekly")
    assert adoption(desired, atlas(desired, items=items)).edits == (
        on_policy(*ITEMS, 2, op=EditOp.DELETE, pointer="/schedule/policyItems/weekly/6"),
    )


def test_item_added_in_atlas_is_appended_as_manifests_spell_it():
    """A yearly item Atlas gained is appended with the manifest's field names."""
    desired = desired_cluster()
    items = (*observed_items_of(desired_schedule().items), observed_item("yearly", 1, 2, "years"))
    assert adoption(desired, atlas(desired, items=items)).edits == (
        on_policy(
            *ITEMS,
            4,
            value={
                "frequencyType": "yearly",
                "frequencyInterval": 1,
                "retentionUnit": "years",
                "retentionValue": 2,
            },
            pointer="/schedule/policyItems/yearly/1",
        ),
    )


def test_items_are_deleted_last_first_then_appended():
    """Deletes run from the end so earlier indexes hold; new items go after what is left."""
    desired = desired_cluster()
    items = (
        observed_item("hourly", 6, 2, "days"),
        observed_item("monthly", 40, 12, "months"),
        observed_item("yearly", 1, 2, "years"),
    )
    edits = adoption(desired, atlas(desired, items=items)).edits
    assert [(e.path, e.op) for e in edits] == [
        ((*ITEMS, 2), EditOp.DELETE),
        ((*ITEMS, 1), EditOp.DELETE),
        ((*ITEMS, 2), EditOp.SET),
    ]


def test_item_indexes_follow_the_order_the_items_are_written():
    """Index = position in the manifest's list, read from where each item is written."""
    written = (
        dataclasses.replace(i, span=span(60 - i.span.line))  # written in reverse order
        for i in desired_schedule().items
    )
    desired = desired_cluster(schedule=desired_schedule(items=written))
    items = observed_items_of(i for i in desired_schedule().items if str(i.frequency) != "weekly")
    assert [e.path for e in adoption(desired, atlas(desired, items=items)).edits] == [(*ITEMS, 1)]


def test_item_a_manifest_cannot_express_is_not_adopted():
    """An hourly item every 3 hours is not a valid manifest item."""
    desired = desired_cluster()
    items = (*observed_items_of(desired_schedule().items)[1:], observed_item("hourly", 3, 2))
    result = adoption(desired, atlas(desired, items=items))
    assert result.reason == (
        "Atlas's policy items include an hourly item with frequencyInterval 3; a manifest cannot"
        " express that"
    )


def test_items_out_of_retention_order_are_not_adopted():
    """A weekly item kept less than the daily one breaks a manifest rule."""
    desired = desired_cluster()
    items = (
        observed_item("hourly", 6, 2, "days"),
        observed_item("daily", 1, 60, "days"),
        observed_item("weekly", 6, 4, "weeks"),
    )
    result = adoption(desired, atlas(desired, items=items))
    assert "keep weekly snapshots 4 weeks, less than daily ones (60 days)" in result.reason


def test_pit_without_an_hourly_item_is_not_adopted():
    """Atlas dropped the hourly item while PIT is on in Git: no valid manifest says that."""
    desired = desired_cluster()
    items = observed_items_of(i for i in desired_schedule().items if str(i.frequency) != "hourly")
    result = adoption(desired, atlas(desired, items=items))
    assert "(pitEnabled needs an hourly item)" in result.reason
    assert result.edits == ()


# -- copy settings -----------------------------------------------------------------------------


def test_copy_setting_removed_in_atlas_is_deleted():
    """Atlas stopped copying to US_WEST_2; the list entry goes."""
    desired = desired_cluster(schedule=desired_schedule(copy_settings=[copy_setting()]))
    assert adoption(desired, atlas(desired, copy_settings=())).edits == (
        on_schedule(*COPIES, 0, op=EditOp.DELETE, pointer="/schedule/copySettings/AWS/US_WEST_2"),
    )


def test_copy_settings_left_out_of_git_are_added():
    """Git without copySettings asks for none; Atlas's copy is added as the key's first entry."""
    sources = tuple(s for s in SOURCES if s[0] != "/schedule/copySettings")
    desired = desired_cluster(sources=sources)
    seen = atlas(desired, copy_settings=(observed_copy("GCP", "EUROPE_WEST_3"),))
    assert adoption(desired, seen).edits == (
        on_schedule(
            *COPIES,
            0,
            value={
                "cloudProvider": "GCP",
                "regionName": "EUROPE_WEST_3",
                "shouldCopyOplogs": False,
                "frequencies": ["DAILY"],
            },
            pointer="/schedule/copySettings/GCP/EUROPE_WEST_3",
        ),
    )


def test_copy_setting_frequencies_are_edited_in_place():
    """Atlas copies weekly snapshots as well: the entry's frequencies change."""
    desired = desired_cluster(schedule=desired_schedule(copy_settings=[copy_setting()]))
    seen = atlas(desired, copy_settings=(observed_copy(frequencies=("DAILY", "WEEKLY")),))
    assert adoption(desired, seen).edits == (
        on_schedule(
            *COPIES,
            0,
            "frequencies",
            value=["DAILY", "WEEKLY"],
            pointer="/schedule/copySettings/AWS/US_WEST_2",
        ),
    )


def test_copy_setting_a_manifest_cannot_express_is_not_adopted():
    """A copy without any frequency cannot be written (frequencies needs one)."""
    desired = desired_cluster(schedule=desired_schedule(copy_settings=[copy_setting()]))
    seen = atlas(desired, copy_settings=(observed_copy(frequencies=()),))
    assert adoption(desired, seen).reason == (
        "Atlas copies no snapshot frequency to AWS US_WEST_2, which a manifest cannot express"
    )


def test_oplog_copy_without_pit_is_not_adopted():
    """Atlas copies oplogs while the deployment leaves PIT out: no valid manifest says that."""
    desired = desired_cluster(pit_enabled=None)
    seen = atlas(desired, copy_settings=(observed_copy(should_copy_oplogs=True),))
    assert "(shouldCopyOplogs needs pitEnabled: true)" in adoption(desired, seen).reason


# -- all or nothing, and which clusters --------------------------------------------------------


def test_mixed_drift_is_not_adopted_at_all():
    """A flag Git could take and a shared schedule it cannot: no edit is offered."""
    desired = desired_cluster()
    seen = atlas(desired, cluster={"pit_enabled": False}, reference_hour_of_day=9)
    result = adoption(desired, seen, in_sync("payments"))
    assert (result.edits, result.adoptable) == ((), False)
    assert result.reason.startswith("schedule default/standard also serves default/payments")


def test_every_edit_adopts_a_change_and_every_change_has_an_edit():
    """The pointers of the edits are exactly the paths of the plan's changes."""
    desired = desired_cluster(schedule=desired_schedule(copy_settings=[copy_setting()]))
    seen = atlas(
        desired,
        cluster={"pit_enabled": False},
        restore_window_days=2,
        items=(
            observed_item("daily", 1, 14, "days"),
            observed_item("weekly", 6, 4, "weeks"),
            observed_item("yearly", 1, 1, "years"),
        ),
        copy_settings=(observed_copy("AZURE", "EUROPE_NORTH"),),
    )
    cycle = cycle_of((desired, seen))
    (result,) = adopt.compute(cycle, [desired.key])
    assert result.adoptable
    assert {e.pointer for e in result.edits} == {c.path for c in cycle.plan.clusters[0].changes}


def test_edits_go_to_the_file_each_document_is_written_in():
    """Deployment, schedule and policy edits carry their own files."""
    sources = (
        *(s for s in SOURCES if s[0] not in {"/deployment", "/schedule", "/policy"}),
        ("/deployment", dataclasses.replace(span(1), file="deployments/orders.yaml")),
        ("/schedule", dataclasses.replace(span(1), file="schedules/standard.yaml")),
        ("/policy", dataclasses.replace(span(3), file="policies/standard.yaml")),
    )
    desired = desired_cluster(sources=tuple(sorted(sources)))
    items = observed_items_of(i for i in desired_schedule().items if str(i.frequency) != "weekly")
    seen = atlas(desired, cluster={"pit_enabled": False}, reference_hour_of_day=4, items=items)
    assert [e.file for e in adoption(desired, seen).edits] == [
        "deployments/orders.yaml",
        "schedules/standard.yaml",
        "policies/standard.yaml",
    ]


def test_only_the_clusters_passed_are_adopted():
    """A pending cluster is not passed, so it gets no adoption even though it has changes."""
    drifted = desired_cluster("orders", schedule_id=resource(Kind.SCHEDULE, "a"))
    pending = desired_cluster("payments", schedule_id=resource(Kind.SCHEDULE, "b"))
    cycle = cycle_of(
        (drifted, atlas(drifted, restore_window_days=3)),
        (pending, atlas(pending, restore_window_days=4)),
    )
    assert all(c.changes for c in cycle.plan.clusters)
    assert [a.cluster for a in adopt.compute(cycle, [drifted.key])] == [drifted.key]


def test_adoptions_come_once_each_in_cluster_order():
    """Keys passed twice or out of order give one adoption each, sorted."""
    first = desired_cluster("a-orders", schedule_id=resource(Kind.SCHEDULE, "a"))
    second = desired_cluster("b-orders", schedule_id=resource(Kind.SCHEDULE, "b"))
    cycle = cycle_of(
        (first, atlas(first, restore_window_days=3)),
        (second, atlas(second, restore_window_days=3)),
    )
    keys = [second.key, first.key, second.key]
    assert [a.cluster for a in adopt.compute(cycle, keys)] == [first.key, second.key]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (cluster_key("orders"), "Atlas holds what Git says: nothing to adopt"),
        (
            cluster_key("elsewhere"),
            "cluster Production/elsewhere is not in this cycle's plan: nothing to adopt",
        ),
    ],
)
def test_a_cluster_without_changes_gets_a_reason(key, reason):
    """A key with nothing to adopt, or not planned at all, is answered with why."""
    desired = desired_cluster()
    (result,) = adopt.compute(cycle_of((desired, observation_of(desired))), [key])
    assert (result.cluster, result.reason, result.adoptable) == (key, reason, False)
