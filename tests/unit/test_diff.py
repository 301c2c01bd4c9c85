"""Field comparison: what differs, how much it matters, and what the guard covers."""

from __future__ import annotations

import pytest
from support.builders import (
    copy_setting,
    default_items,
    desired_cluster,
    desired_schedule,
    export,
    item,
    observed_cluster,
    observed_copy,
    observed_item,
    observed_schedule,
    observed_schedule_of,
    source,
)

from gitopsd.core.diff import FieldChange, Severity, diff_cluster, diff_schedule
from gitopsd.core.model import DesiredSchedule
from gitopsd.core.observed import ObservedSchedule

CRITICAL, HIGH, MEDIUM, LOW = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def changes_of(desired: DesiredSchedule, held: ObservedSchedule) -> tuple[FieldChange, ...]:
    """The schedule changes, with the baseline cluster's sources."""
    return diff_schedule(desired, held, desired_cluster(schedule=desired).source)


def only(changes: tuple[FieldChange, ...]) -> FieldChange:
    """The single change of ``changes``."""
    assert len(changes) == 1, changes
    return changes[0]


def rubric(change: FieldChange) -> tuple[str, Severity, bool]:
    """Path, severity and whether the guard covers the change."""
    return change.path, change.severity, change.destructive


def retention_change(
    old: tuple[int, str], new: tuple[int, str], *, update_snapshots: bool | None = None
) -> FieldChange:
    """The change when the daily item's retention goes from ``old`` to ``new``."""
    others = [i for i in default_items() if str(i.frequency) != "daily"]
    held = observed_schedule_of(desired_schedule(items=[*others, item("daily", 1, *old)]))
    wanted = desired_schedule(
        items=[*others, item("daily", 1, *new)], update_snapshots=update_snapshots
    )
    return only(changes_of(wanted, held))


# -- cluster flags -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "held", "expected"),
    [
        ({"backup_enabled": False}, {"backup_enabled": True}, ("/backupEnabled", CRITICAL, True)),
        ({"pit_enabled": False}, {"pit_enabled": True}, ("/pitEnabled", HIGH, True)),
        ({"backup_enabled": True}, {"backup_enabled": False}, ("/backupEnabled", LOW, False)),
        ({"pit_enabled": True}, {"pit_enabled": False}, ("/pitEnabled", LOW, False)),
    ],
    ids=["backup-off", "pit-off", "backup-on", "pit-on"],
)
def test_flag_change_follows_the_rubric(wanted, held, expected):
    """Turning backup off is critical, PIT off high, both destructive; turning on is low."""
    change = only(diff_cluster(desired_cluster(**wanted), observed_cluster(**held)))
    assert rubric(change) == expected


def test_flag_change_carries_both_values():
    """A flag change holds Atlas's value and Git's."""
    change = only(
        diff_cluster(desired_cluster(pit_enabled=True), observed_cluster(pit_enabled=False))
    )
    assert (change.atlas, change.git) == (False, True)


@pytest.mark.parametrize("held", [True, False])
def test_flags_left_out_of_the_manifest_are_not_compared(held):
    """Flags that are None in Git never differ from Atlas."""
    desired = desired_cluster(backup_enabled=None, pit_enabled=None)
    assert diff_cluster(desired, observed_cluster(backup_enabled=held, pit_enabled=held)) == ()


def test_backup_off_turns_pit_off_when_the_manifest_leaves_it_out():
    """Atlas keeps no PIT without backup, so backup off also reports PIT off, guarded."""
    changes = diff_cluster(
        desired_cluster(backup_enabled=False, pit_enabled=None), observed_cluster()
    )
    assert [rubric(c) for c in changes] == [
        ("/backupEnabled", CRITICAL, True),
        ("/pitEnabled", HIGH, True),
    ]


def test_backup_off_leaves_pit_alone_when_it_is_already_off():
    """Backup off with PIT already off in Atlas is the one backup change."""
    held = observed_cluster(pit_enabled=False)
    changes = diff_cluster(desired_cluster(backup_enabled=False, pit_enabled=None), held)
    assert [c.path for c in changes] == ["/backupEnabled"]


def test_equal_flags_give_no_change():
    """Flags Atlas already holds are not changes."""
    assert diff_cluster(desired_cluster(), observed_cluster()) == ()


@pytest.mark.parametrize(
    ("flag", "pointer"), [("backup_enabled", "/backupEnabled"), ("pit_enabled", "/pitEnabled")]
)
def test_flag_change_points_at_the_manifest_line(flag, pointer):
    """A flag change carries the span that set the flag."""
    change = only(diff_cluster(desired_cluster("orders", **{flag: False}), observed_cluster()))
    assert change.source == source(pointer)


def test_flag_change_is_in_cluster_scope():
    """Flags are cluster fields, everything under /schedule/ is schedule scope."""
    flag = only(diff_cluster(desired_cluster(pit_enabled=False), observed_cluster()))
    window = only(changes_of(desired_schedule(restore_window_days=3), observed_schedule()))
    assert (flag.scope, window.scope) == ("cluster", "schedule")


# -- policy items ------------------------------------------------------------------------------


def test_converged_schedule_gives_no_change():
    """A schedule Atlas already holds has no differences."""
    assert changes_of(desired_schedule(), observed_schedule()) == ()


def test_item_removed_is_critical_and_destructive():
    """Dropping an item from the policy loses its snapshots."""
    wanted = desired_schedule(items=[i for i in default_items() if str(i.frequency) != "daily"])
    change = only(changes_of(wanted, observed_schedule()))
    assert rubric(change) == ("/schedule/policyItems/daily/1", CRITICAL, True)


def test_item_removed_shows_the_retention_it_had():
    """A removal's Atlas value is the retention that is lost; Git's is none."""
    wanted = desired_schedule(items=[i for i in default_items() if str(i.frequency) != "daily"])
    change = only(changes_of(wanted, observed_schedule()))
    assert (change.atlas, change.git) == ("7 days", None)


def test_item_removal_points_at_the_policy():
    """A removed item has no line of its own, so the change points at the policy manifest."""
    wanted = desired_schedule(items=[i for i in default_items() if str(i.frequency) != "daily"])
    assert only(changes_of(wanted, observed_schedule())).source == source("/policy")


def test_item_added_is_low_protection_gained():
    """A new item adds protection: low, not destructive, pointing at its line."""
    added = item("yearly", 12, 3, "years", line=58)
    change = only(
        changes_of(desired_schedule(items=[*default_items(), added]), observed_schedule())
    )
    assert (rubric(change), change.atlas, change.git, change.source) == (
        ("/schedule/policyItems/yearly/12", LOW, False),
        None,
        "3 years",
        added.span,
    )


@pytest.mark.parametrize(
    ("old", "new", "severity", "destructive"),
    [
        ((7, "days"), (3, "days"), HIGH, True),
        ((7, "days"), (14, "days"), LOW, False),
        ((2, "weeks"), (13, "days"), HIGH, True),
        ((7, "days"), (1, "weeks"), LOW, False),
        ((1, "weeks"), (7, "days"), LOW, False),
        ((1, "years"), (11, "months"), HIGH, True),
        ((12, "months"), (1, "years"), LOW, False),
        ((1, "years"), (12, "months"), LOW, False),
    ],
    ids=[
        "shorter",
        "longer",
        "weeks-to-fewer-days",
        "7d-to-1w",
        "1w-to-7d",
        "1y-to-11mo",
        "12mo-to-1y",
        "1y-to-12mo",
    ],
)
def test_retention_change_within_a_unit_family_compares_exactly(old, new, severity, destructive):
    """Days and weeks, or months and years, compare by exact length."""
    change = retention_change(old, new)
    assert (change.severity, change.destructive) == (severity, destructive)


@pytest.mark.parametrize(
    ("old", "new", "destructive"),
    [
        ((30, "days"), (1, "months"), True),
        ((31, "days"), (1, "months"), True),
        ((28, "days"), (1, "months"), False),
        ((4, "weeks"), (1, "months"), False),
        ((1, "months"), (31, "days"), False),
        ((1, "months"), (32, "days"), False),
        ((1, "months"), (30, "days"), True),
        ((1, "years"), (365, "days"), True),
        ((1, "years"), (366, "days"), False),
        ((365, "days"), (1, "years"), False),
        ((366, "days"), (1, "years"), True),
        ((14, "months"), (427, "days"), True),
        ((14, "months"), (428, "days"), False),
    ],
    ids=lambda v: f"{v[0]}{v[1][0]}" if isinstance(v, tuple) else str(v),
)
def test_retention_change_across_unit_families_is_shorter_unless_it_never_can_be(
    old, new, destructive
):
    """Across families, new is shorter when its shortest length is under the old's longest."""
    assert retention_change(old, new).destructive is destructive


def test_retention_shortened_is_high():
    """A shorter retention loses snapshots early: high."""
    assert retention_change((7, "days"), (3, "days")).severity is HIGH


def test_retention_shortened_with_update_snapshots_is_critical():
    """updateSnapshots applies a shorter retention to snapshots already taken: critical."""
    change = retention_change((7, "days"), (3, "days"), update_snapshots=True)
    assert (change.severity, change.destructive) == (CRITICAL, True)


def test_retention_shortened_with_update_snapshots_says_so():
    """The reason names updateSnapshots when it rewrites existing snapshots."""
    assert (
        "updateSnapshots" in retention_change((7, "days"), (3, "days"), update_snapshots=True).why
    )


def test_retention_lengthened_with_update_snapshots_stays_low():
    """updateSnapshots does not make a longer retention dangerous."""
    change = retention_change((7, "days"), (14, "days"), update_snapshots=True)
    assert (change.severity, change.destructive) == (LOW, False)


def test_retention_change_shows_both_lengths():
    """The change reads old and new retention in their own units."""
    change = retention_change((7, "days"), (1, "weeks"))
    assert (change.path, change.atlas, change.git) == (
        "/schedule/policyItems/daily/1",
        "7 days",
        "1 week",
    )


def test_retention_change_points_at_the_new_item():
    """A retention change carries the span of the item that asks for it."""
    new = item("daily", 1, 3, "days", line=47)
    others = [i for i in default_items() if str(i.frequency) != "daily"]
    change = only(changes_of(desired_schedule(items=[*others, new]), observed_schedule()))
    assert change.source == new.span


def test_items_compare_as_a_set():
    """Atlas's item order, item ids and policy id do not make a difference."""
    held = observed_schedule(
        policy_id="000000000000000000000000",
        items=[
            observed_item(
                str(i.frequency),
                i.interval,
                i.retention.value,
                str(i.retention.unit),
                id=f"{n:024x}",
            )
            for n, i in enumerate(reversed(default_items()))
        ],
    )
    assert changes_of(desired_schedule(), held) == ()


def test_item_changes_come_most_frequent_first():
    """Changes to several items are listed hourly to yearly, whatever order Atlas holds."""
    wanted = desired_schedule(
        items=[item("hourly", 6, 3), item("daily", 1, 14), item("monthly", 40, 24, "months")]
    )
    held = observed_schedule(
        items=[
            observed_item("monthly", 40, 12, "months"),
            observed_item("daily", 1, 7),
            observed_item("hourly", 6, 2),
        ]
    )
    paths = [c.path for c in changes_of(wanted, held)]
    assert paths == [
        "/schedule/policyItems/hourly/6",
        "/schedule/policyItems/daily/1",
        "/schedule/policyItems/monthly/40",
    ]


def test_changed_interval_is_a_removal_and_an_addition():
    """Items are keyed by frequency and interval: a new interval is a new item."""
    others = [i for i in default_items() if str(i.frequency) != "hourly"]
    wanted = desired_schedule(items=[*others, item("hourly", 4, 2, "days")])
    changes = changes_of(wanted, observed_schedule())
    assert [rubric(c) for c in changes] == [
        ("/schedule/policyItems/hourly/6", CRITICAL, True),
        ("/schedule/policyItems/hourly/4", LOW, False),
    ]


# -- schedule scalars --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "held", "wanted", "expected"),
    [
        ("restore_window_days", 7, 3, ("/schedule/restoreWindowDays", HIGH, True)),
        ("restore_window_days", 3, 7, ("/schedule/restoreWindowDays", LOW, False)),
        ("restore_window_days", None, 7, ("/schedule/restoreWindowDays", LOW, False)),
        ("reference_hour_of_day", 3, 4, ("/schedule/referenceHourOfDay", MEDIUM, False)),
        ("reference_minute_of_hour", 30, 0, ("/schedule/referenceMinuteOfHour", MEDIUM, False)),
        ("auto_export_enabled", True, False, ("/schedule/autoExportEnabled", HIGH, False)),
        ("auto_export_enabled", False, True, ("/schedule/autoExportEnabled", LOW, False)),
        ("auto_export_enabled", None, True, ("/schedule/autoExportEnabled", LOW, False)),
        (
            "use_org_and_group_names_in_export_prefix",
            False,
            True,
            ("/schedule/useOrgAndGroupNamesInExportPrefix", MEDIUM, False),
        ),
    ],
    ids=[
        "window-shortened",
        "window-lengthened",
        "window-unset-in-atlas",
        "hour",
        "minute",
        "export-off",
        "export-on",
        "export-on-unset-in-atlas",
        "export-prefix",
    ],
)
def test_schedule_field_change_follows_the_rubric(field, held, wanted, expected):
    """Window shortened is high and destructive, timing medium, export off high but unguarded."""
    change = only(
        changes_of(desired_schedule(**{field: wanted}), observed_schedule(**{field: held}))
    )
    assert rubric(change) == expected


def test_auto_export_off_in_git_matches_unset_in_atlas():
    """autoExportEnabled missing in Atlas reads as off."""
    assert (
        changes_of(
            desired_schedule(auto_export_enabled=False), observed_schedule(auto_export_enabled=None)
        )
        == ()
    )


def test_restore_window_change_shows_both_values():
    """The restore window change holds Atlas's days and Git's."""
    change = only(changes_of(desired_schedule(restore_window_days=3), observed_schedule()))
    assert (change.atlas, change.git) == (7, 3)


def test_schedule_field_change_points_at_the_manifest_line():
    """A schedule field change carries the span of the field in the schedule manifest."""
    change = only(changes_of(desired_schedule(restore_window_days=3), observed_schedule()))
    assert change.source == source("/schedule/restoreWindowDays")


def test_fields_left_out_of_the_manifest_are_not_compared():
    """Schedule fields that are None in Git never differ from Atlas."""
    wanted = desired_schedule(
        reference_hour_of_day=None,
        reference_minute_of_hour=None,
        restore_window_days=None,
        auto_export_enabled=None,
        export=None,
        use_org_and_group_names_in_export_prefix=None,
    )
    held = observed_schedule(
        reference_hour_of_day=11,
        reference_minute_of_hour=45,
        restore_window_days=2,
        auto_export_enabled=True,
        export=export(),
        use_org_and_group_names_in_export_prefix=True,
    )
    assert changes_of(wanted, held) == ()


def test_export_target_added_is_low():
    """An export target where Atlas has none adds protection."""
    change = only(changes_of(desired_schedule(export=export()), observed_schedule(export=None)))
    assert (rubric(change), change.atlas, change.git) == (
        ("/schedule/export", LOW, False),
        None,
        "64f1c0ffee0000000000e1e1 (monthly)",
    )


@pytest.mark.parametrize(
    "wanted",
    [export(bucket_id="64f1c0ffee0000000000e2e2"), export(frequency="yearly")],
    ids=["bucket", "frequency"],
)
def test_export_target_changed_is_medium(wanted):
    """A different bucket or export frequency is a medium change."""
    change = only(changes_of(desired_schedule(export=wanted), observed_schedule(export=export())))
    assert rubric(change) == ("/schedule/export", MEDIUM, False)


def test_equal_export_target_gives_no_change():
    """An export target Atlas already holds is not a change."""
    assert changes_of(desired_schedule(export=export()), observed_schedule(export=export())) == ()


# -- copy settings -----------------------------------------------------------------------------


def test_copy_setting_removed_is_high_and_destructive():
    """Stopping copies to a region loses protection and is guarded."""
    change = only(
        changes_of(
            desired_schedule(copy_settings=()), observed_schedule(copy_settings=[observed_copy()])
        )
    )
    assert (rubric(change), change.atlas, change.git) == (
        ("/schedule/copySettings/AWS/US_WEST_2", HIGH, True),
        "DAILY",
        None,
    )


def test_copy_setting_removal_points_at_copy_settings():
    """A removed copy setting points at the schedule's copySettings."""
    change = only(
        changes_of(
            desired_schedule(copy_settings=()), observed_schedule(copy_settings=[observed_copy()])
        )
    )
    assert change.source == source("/schedule/copySettings")


def test_copy_setting_removal_falls_back_to_the_schedule():
    """Without a copySettings key in Git, the removal points at the schedule manifest."""
    sources = tuple((p, s) for p, s in desired_cluster().sources if p != "/schedule/copySettings")
    held = observed_schedule(copy_settings=[observed_copy()])
    change = only(diff_schedule(desired_schedule(), held, desired_cluster(sources=sources).source))
    assert change.source == source("/schedule")


def test_copy_setting_added_is_low():
    """Copying to a new region adds protection, pointing at the setting's line."""
    wanted = copy_setting(should_copy_oplogs=True, frequencies=["HOURLY", "DAILY"])
    change = only(changes_of(desired_schedule(copy_settings=[wanted]), observed_schedule()))
    assert (rubric(change), change.atlas, change.git, change.source) == (
        ("/schedule/copySettings/AWS/US_WEST_2", LOW, False),
        None,
        "DAILY, HOURLY with oplogs",
        wanted.span,
    )


def test_copy_setting_losing_frequencies_is_high():
    """Copying fewer frequencies to a region loses protection."""
    held = observed_schedule(copy_settings=[observed_copy(frequencies=["HOURLY", "DAILY"])])
    change = only(
        changes_of(desired_schedule(copy_settings=[copy_setting(frequencies=["DAILY"])]), held)
    )
    assert (change.path, change.severity, change.atlas, change.git) == (
        "/schedule/copySettings/AWS/US_WEST_2",
        HIGH,
        "DAILY, HOURLY",
        "DAILY",
    )


def test_copy_setting_gaining_frequencies_is_low():
    """Copying more frequencies to a region adds protection."""
    held = observed_schedule(copy_settings=[observed_copy(frequencies=["DAILY"])])
    wanted = desired_schedule(copy_settings=[copy_setting(frequencies=["DAILY", "WEEKLY"])])
    assert only(changes_of(wanted, held)).severity is LOW


def test_copy_setting_stopping_oplogs_is_high():
    """No longer copying oplogs to a region loses protection."""
    held = observed_schedule(copy_settings=[observed_copy(should_copy_oplogs=True)])
    wanted = desired_schedule(copy_settings=[copy_setting(should_copy_oplogs=False)])
    assert only(changes_of(wanted, held)).severity is HIGH


def test_copy_setting_oplogs_left_out_are_not_compared():
    """shouldCopyOplogs that is None in Git never differs from Atlas."""
    held = observed_schedule(copy_settings=[observed_copy(should_copy_oplogs=True)])
    wanted = desired_schedule(copy_settings=[copy_setting(should_copy_oplogs=None)])
    assert changes_of(wanted, held) == ()


def test_copy_settings_compare_as_a_set_ignoring_zone_and_frequency_order():
    """Copy settings match by provider and region; zoneId and frequency order do not matter."""
    wanted = desired_schedule(
        copy_settings=[
            copy_setting("GCP", "EUROPE_WEST_1", frequencies=["WEEKLY", "DAILY"]),
            copy_setting(),
        ]
    )
    held = observed_schedule(
        copy_settings=[
            observed_copy(zone_id=None),
            observed_copy(
                "GCP",
                "EUROPE_WEST_1",
                frequencies=["DAILY", "WEEKLY"],
                zone_id="ffffffffffffffffffffffff",
            ),
        ]
    )
    assert changes_of(wanted, held) == ()


def test_severity_ranks_critical_first():
    """Severity ranks run from critical (0) to low (3)."""
    assert [s.rank for s in (CRITICAL, HIGH, MEDIUM, LOW)] == [0, 1, 2, 3]
