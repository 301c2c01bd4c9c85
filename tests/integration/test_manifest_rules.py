"""Every manifest rule of SPEC §1, each proved on a real file read by the real loader."""

from __future__ import annotations

import shutil

import pytest
from conftest import REPO
from support import manifests as m

DOCS_EXAMPLE = REPO / "tests" / "data" / "docs-example"


def test_docs_example_items_mapping_is_an_error_whose_hint_shows_the_list(tmp_path, check):
    """The published policy example writes spec.items as a mapping: an error with the list form."""
    shutil.copy(DOCS_EXAMPLE / "policy.yaml", tmp_path / "policy.yaml")
    problem = m.only(check().problems, "wrong-type")
    assert (problem.file, problem.line, problem.column) == (str(tmp_path / "policy.yaml"), 8, 4)
    assert "spec.items must be a list, got a mapping" in problem.message
    assert "  items:\n    - frequencyType: weekly\n      frequencyInterval: 1" in problem.hint


def test_docs_example_misspelt_auto_export_gets_did_you_mean(tmp_path, check):
    """The published schedule example's autoExportExabled is unknown, with the right suggestion."""
    shutil.copy(DOCS_EXAMPLE / "schedule.yaml", tmp_path / "schedule.yaml")
    problem = m.only(check().problems, "unknown-field")
    assert (problem.line, problem.column) == (8, 3)
    assert problem.message == "unknown field spec.autoExportExabled"
    assert problem.hint == "did you mean 'autoExportEnabled'?"


def test_calendar_retentions_that_atlas_accepts_are_valid(write, check):
    """hourly 2 days < daily 7 days < weekly 4 weeks < monthly 12 months <= yearly 1 year."""
    items = """
    - {frequencyType: hourly, frequencyInterval: 6, retentionUnit: days, retentionValue: 2}
    - {frequencyType: daily, frequencyInterval: 1, retentionUnit: days, retentionValue: 7}
    - {frequencyType: weekly, frequencyInterval: 1, retentionUnit: weeks, retentionValue: 4}
    - {frequencyType: monthly, frequencyInterval: 1, retentionUnit: months, retentionValue: 12}
    - {frequencyType: yearly, frequencyInterval: 1, retentionUnit: years, retentionValue: 1}
"""
    write("p.yaml", m.policy(items=items))
    assert check().problems == ()


def test_weekly_kept_shorter_than_daily_is_an_error_at_the_weekly_item(write, check):
    """daily 30 days + weekly 2 weeks: the less frequent item keeps less."""
    items = """
    - {frequencyType: daily, frequencyInterval: 1, retentionUnit: days, retentionValue: 30}
    - {frequencyType: weekly, frequencyInterval: 1, retentionUnit: weeks, retentionValue: 2}
"""
    write("p.yaml", m.policy(items=items))
    problem = m.only(check().problems, "retention-order")
    assert problem.line == 8
    assert "2 weeks, less than the daily item's 30 days" in problem.message


@pytest.mark.parametrize(
    ("frequency", "interval", "valid"),
    [
        ("hourly", 3, False),
        ("hourly", 12, True),
        ("daily", 2, False),
        ("weekly", 7, True),
        ("weekly", 8, False),
        ("monthly", 28, True),
        ("monthly", 29, False),
        ("monthly", 40, True),
        ("yearly", 12, True),
        ("yearly", 13, False),
    ],
)
def test_frequency_interval_must_suit_its_type(write, check, frequency, interval, valid):
    """Each frequency type takes only its own intervals (SPEC §1)."""
    items = (
        f"\n    - {{frequencyType: {frequency}, frequencyInterval: {interval},"
        " retentionUnit: years, retentionValue: 1}\n"
    )
    write("p.yaml", m.policy(items=items))
    found = m.codes(check().problems)
    assert len(found) == (0 if valid else 1), found
    assert set(found) <= {"invalid-interval", "invalid-value"}


@pytest.mark.parametrize(
    ("frequency", "value", "unit", "minimum"),
    [("weekly", 6, "days", 7), ("monthly", 4, "weeks", 5), ("yearly", 11, "months", 12)],
)
def test_retention_below_the_frequency_minimum_is_an_error(
    write, check, frequency, value, unit, minimum
):
    """Weekly keeps >= 7 days, monthly >= 31 days / 5 weeks, yearly >= 1 year."""
    items = (
        f"\n    - {{frequencyType: {frequency}, frequencyInterval: 1,"
        f" retentionUnit: {unit}, retentionValue: {value}}}\n"
    )
    write("p.yaml", m.policy(items=items))
    problem = m.only(check().problems, "retention-too-short")
    assert f"at least {minimum} {unit}" in problem.message


def test_two_hourly_items_are_an_error(write, check):
    """A policy takes at most one hourly item."""
    items = m.ITEMS + (
        "    - {frequencyType: hourly, frequencyInterval: 12,"
        " retentionUnit: days, retentionValue: 2}\n"
    )
    write("p.yaml", m.policy(items=items))
    assert "first at line" in m.only(check().problems, "duplicate-frequency").message


def test_quoted_integer_is_a_wrong_type_with_a_hint(write, check):
    """frequencyInterval: "1" is a string; the hint says to drop the quotes."""
    items = (
        '\n    - {frequencyType: daily, frequencyInterval: "1",'
        " retentionUnit: days, retentionValue: 7}\n"
    )
    write("p.yaml", m.policy(items=items))
    problem = m.only(check().problems, "wrong-type")
    assert problem.message == 'spec.items[0].frequencyInterval must be an integer, got string "1"'
    assert problem.hint == "remove the quotes: 1"
    assert problem.line == 7


def test_yaml11_boolean_gets_a_specific_hint(write, check):
    """backupEnabled: yes is a string in YAML 1.2; the hint says to write true or false."""
    write(
        "all.yaml",
        m.docs(m.project(), m.deployment(schedule_name="", flags="    backupEnabled: yes\n")),
    )
    problem = m.only(check().problems, "wrong-type")
    assert "write true or false" in problem.hint


def test_auto_export_needs_an_export(write, check):
    """autoExportEnabled: true without export is an error at the flag."""
    path = write("s.yaml", m.docs(m.policy(), m.schedule(extra="  autoExportEnabled: true\n")))
    problem = m.only(check().problems, "export-missing")
    assert problem.line == m.line_of(path, "autoExportEnabled: true")


def test_pit_needs_an_hourly_item(write, check):
    """A PIT deployment whose policy has no hourly item is blocked."""
    items = (
        "\n    - {frequencyType: daily, frequencyInterval: 1,"
        " retentionUnit: days, retentionValue: 7}\n"
    )
    flags = "    backupEnabled: true\n    pitEnabled: true\n"
    write(
        "all.yaml",
        m.docs(m.project(), m.policy(items=items), m.schedule(), m.deployment(flags=flags)),
    )
    result = check()
    assert m.only(result.problems, "pit-without-hourly")
    assert [b.deployment.name for b in result.state.blocked] == ["orders"]


def test_oplog_copy_blocks_only_the_deployment_without_pit(write, check):
    """shouldCopyOplogs needs PIT on every user: only the deployment without PIT is blocked."""
    copy = (
        "  copySettings:\n"
        "    - cloudProvider: AWS\n      regionName: US_WEST_2\n"
        "      shouldCopyOplogs: true\n      frequencies: [HOURLY, DAILY]\n"
    )
    pit = "    backupEnabled: true\n    pitEnabled: true\n"
    write(
        "all.yaml",
        m.docs(
            m.project(),
            m.policy(),
            m.schedule(extra=copy),
            m.deployment(name="with-pit", cluster="a", flags=pit),
            m.deployment(name="without-pit", cluster="b"),
        ),
    )
    result = check()
    assert m.only(result.problems, "oplogs-without-pit").message.startswith(
        "schedule nightly copies oplogs to US_WEST_2"
    )
    assert [c.deployment.name for c in result.state.clusters] == ["with-pit"]
    assert [b.deployment.name for b in result.state.blocked] == ["without-pit"]


def test_backup_ref_with_backup_disabled_is_an_error(write, check):
    """backupRef implies backup; an explicit backupEnabled: false contradicts it."""
    write(
        "all.yaml",
        m.docs(
            m.project(), m.policy(), m.schedule(), m.deployment(flags="    backupEnabled: false\n")
        ),
    )
    assert m.only(check().problems, "backup-disabled-with-ref")


def test_backup_ref_implies_backup_enabled_from_the_ref(write, check):
    """Without backupEnabled, a backupRef makes backup desired, sourced at the ref."""
    path = write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment(flags="")))
    (cluster,) = check().state.clusters
    assert cluster.backup_enabled is True
    assert cluster.pit_enabled is None
    span = cluster.source("/backupEnabled")
    assert span is not None
    assert span.line == m.line_of(path, "backupRef:") + 1


def test_metadata_name_must_be_dns1123(write, check):
    """Upper case or underscores in metadata.name are invalid names."""
    write("p.yaml", m.policy(name="Bad_Name"))
    assert m.only(check().problems, "invalid-name").line == 4


def test_unknown_metadata_field_gets_did_you_mean(write, check):
    """metadata.namspace is a slip for namespace."""
    write("p.yaml", m.policy().replace("  name: standard\n", "  name: standard\n  namspace: x\n"))
    assert m.only(check().problems, "unknown-field").hint == "did you mean 'namespace'?"


def test_duplicate_resources_are_reported_at_both_places(write, check):
    """The same (kind, namespace, name) twice: one problem at each, naming the other."""
    write("a.yaml", m.policy())
    write("b.yaml", m.policy())
    found = [p for p in check().problems if p.code == "duplicate-resource"]
    assert sorted((p.file.rsplit("/", 1)[-1], p.line) for p in found) == [
        ("a.yaml", 4),
        ("b.yaml", 4),
    ]
    assert "b.yaml:4:9" in next(p for p in found if p.file.endswith("a.yaml")).message


def test_dangling_reference_suggests_the_near_name(write, check):
    """A backupRef to a missing schedule is an error at the ref, with a did-you-mean."""
    write(
        "all.yaml",
        m.docs(m.project(), m.policy(), m.schedule(), m.deployment(schedule_name="nightyl")),
    )
    result = check()
    problem = m.only(result.problems, "dangling-reference")
    assert problem.hint == "did you mean 'nightly'?"
    assert result.state.clusters == ()


def test_reference_without_namespace_means_the_referrers(write, check):
    """A schedule in namespace team-a refers to a policy in team-a unless it says otherwise."""
    write(
        "p.yaml",
        m.policy().replace("  name: standard\n", "  name: standard\n  namespace: team-a\n"),
    )
    write("s.yaml", m.schedule())
    problem = m.only(check().problems, "dangling-reference")
    assert "AtlasBackupPolicy default/standard" in problem.message
    assert problem.hint.startswith(
        "it exists in namespace 'team-a': set namespace: team-a in the reference"
    )


def test_default_namespace_is_configurable(write, check):
    """With default namespace team-a, manifests without a namespace live there."""
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment()))
    (cluster,) = check(default_namespace="team-a").state.clusters
    assert str(cluster.deployment) == "AtlasDeployment/team-a/orders"
    assert str(cluster.schedule_id) == "AtlasBackupSchedule/team-a/nightly"


def test_two_deployments_on_one_cluster_are_both_blocked(write, check):
    """Two deployments targeting (Production, orders-db): both blocked, each naming the other."""
    write(
        "all.yaml",
        m.docs(
            m.project(), m.policy(), m.schedule(), m.deployment(name="a"), m.deployment(name="b")
        ),
    )
    result = check()
    assert [p.code for p in result.problems] == ["duplicate-target", "duplicate-target"]
    assert [b.deployment.name for b in result.state.blocked] == ["a", "b"]


def test_broken_schedule_blocks_only_its_deployments(write, check):
    """One schedule with an error blocks its user; the cluster on a good schedule still yields."""
    write(
        "good.yaml",
        m.docs(m.project(), m.policy(), m.schedule(), m.deployment(name="good", cluster="good-db")),
    )
    write(
        "bad.yaml",
        m.docs(
            m.schedule(name="broken", extra="  updateSnapshots: maybe\n"),
            m.deployment(name="bad", cluster="bad-db", schedule_name="broken"),
        ),
    )
    result = check()
    m.only(result.problems, "wrong-type")
    assert [c.key.cluster for c in result.state.clusters] == ["good-db"]
    (blocked,) = result.state.blocked
    assert blocked.deployment.name == "bad"
    assert [r.code for r in blocked.reasons] == ["wrong-type"]


def test_orphan_schedules_and_policies_are_listed(write, check):
    """A schedule no deployment uses and a policy no schedule uses are orphans."""
    write("all.yaml", m.docs(m.policy(), m.policy(name="unused"), m.schedule()))
    state = check().state
    assert [r.name for r in state.orphan_schedules] == ["nightly"]
    assert [r.name for r in state.orphan_policies] == ["unused"]


def test_every_desired_value_knows_its_source_line(write, check):
    """Flags, schedule fields and policy items point at the manifest lines that set them."""
    path = write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment()))
    (cluster,) = check().state.clusters
    lines = {pointer: span.line for pointer, span in cluster.sources}
    assert lines["/schedule/restoreWindowDays"] == m.line_of(path, "restoreWindowDays: 2")
    assert lines["/schedule/referenceHourOfDay"] == m.line_of(path, "referenceHourOfDay: 3")
    assert lines["/schedule/policies/0/policyItems/0"] == m.line_of(path, "frequencyType: hourly")
    assert lines["/schedule/policies/0/policyItems/1"] == m.line_of(path, "frequencyType: daily")
    assert lines["/backupEnabled"] == m.line_of(path, "backupEnabled: true")
    assert lines["/name"] == m.line_of(path, "name: orders-db")
    assert cluster.schedule is not None
    assert cluster.schedule.restore_window_days == 2


def test_other_api_versions_and_kinds_are_skipped_with_notices(write, check):
    """A ConfigMap and an AtlasDatabaseUser are notices; a typo of a managed kind is an error."""
    write(
        "other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n"
        "apiVersion: atlas.mongodb.com/v1\nkind: AtlasDatabaseUser\nmetadata: {name: u}\n---\n"
        "apiVersion: atlas.mongodb.com/v1\nkind: AtlasBackupSchedul\nmetadata: {name: s}\n",
    )
    found = {(p.code, str(p.severity)) for p in check().problems}
    assert found == {
        ("skipped-document", "notice"),
        ("not-managed", "notice"),
        ("unknown-kind", "error"),
    }


def test_backup_on_a_shared_tier_is_an_error_naming_the_tier(write, check):
    """Cloud backup is not available on M0/M2/M5."""
    tier = (
        "    replicationSpecs:\n      - regionConfigs:\n"
        "          - providerName: TENANT\n            backingProviderName: AWS\n"
        "            regionName: US_EAST_1\n            electableSpecs: {instanceSize: M2}\n"
    )
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment(extra=tier)))
    assert "shared tier M2" in m.only(check().problems, "backup-not-supported").message


def test_annotations_are_checked(write, check):
    """An unknown gitopsd.io annotation and an unquoted boolean value are both errors."""
    notes = (
        '  annotations:\n    gitopsd.io/allow-destructve: "true"\n    gitopsd.io/mode: observe\n'
    )
    text = m.deployment().replace("  name: orders\n", "  name: orders\n" + notes, 1)
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), text))
    result = check()
    assert (
        m.only(result.problems, "unknown-annotation").hint
        == "did you mean 'gitopsd.io/allow-destructive'?"
    )


def test_observe_mode_annotation_reaches_the_cluster(write, check):
    """The mode and allow-destructive annotations are carried to the desired cluster."""
    notes = (
        '  annotations:\n    gitopsd.io/allow-destructive: "true"\n    gitopsd.io/mode: "observe"\n'
    )
    text = m.deployment().replace("  name: orders\n", "  name: orders\n" + notes, 1)
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), text))
    (cluster,) = check().state.clusters
    assert (str(cluster.mode), cluster.allow_destructive) == ("observe", True)


def test_project_ref_and_external_ref_are_exclusive(write, check):
    """A deployment with both projectRef and externalProjectRef is an error."""
    text = m.deployment().replace(
        "  projectRef:", "  externalProjectRef:\n    id: 5f1d0e7a2c1b3a4d5e6f7a8b\n  projectRef:"
    )
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), text))
    assert m.only(check().problems, "project-ref")


def test_external_project_ref_targets_the_project_id(write, check):
    """externalProjectRef targets a project by id; without connectionSecret it warns."""
    text = m.deployment().replace(
        "  projectRef:\n    name: prod\n",
        "  externalProjectRef:\n    id: 5f1d0e7a2c1b3a4d5e6f7a8b\n",
    )
    write("all.yaml", m.docs(m.policy(), m.schedule(), text))
    result = check()
    assert m.only(result.problems, "operator-incompatible").severity == "warning"
    (cluster,) = result.state.clusters
    assert str(cluster.key) == "id:5f1d0e7a2c1b3a4d5e6f7a8b/orders-db"


def test_item_missing_its_interval_is_still_checked_for_retention(write, check):
    """A weekly item without frequencyInterval also gets its too-short retention reported."""
    items = "\n    - {frequencyType: weekly, retentionUnit: days, retentionValue: 3}\n"
    write("p.yaml", m.policy(items=items))
    assert sorted(m.codes(check().problems)) == ["missing-field", "retention-too-short"]


def test_item_missing_a_field_still_counts_for_duplicates(write, check):
    """A second hourly item without retentionUnit is also reported as a second hourly item."""
    items = m.ITEMS + "    - {frequencyType: hourly, frequencyInterval: 12, retentionValue: 2}\n"
    write("p.yaml", m.policy(items=items))
    assert sorted(m.codes(check().problems)) == ["duplicate-frequency", "missing-field"]


def test_item_with_a_wrong_interval_still_counts_for_retention_order(write, check):
    """An item with an interval its type does not take is still compared with the others."""
    items = (
        "\n    - {frequencyType: daily, frequencyInterval: 1,"
        " retentionUnit: days, retentionValue: 30}"
        "\n    - {frequencyType: weekly, frequencyInterval: 9,"
        " retentionUnit: days, retentionValue: 7}\n"
    )
    write("p.yaml", m.policy(items=items))
    assert sorted(m.codes(check().problems)) == ["invalid-interval", "retention-order"]


def test_copy_setting_without_frequencies_is_still_checked_for_oplogs(write, check):
    """A copy setting missing frequencies still needs PIT on the deployments for its oplogs."""
    copy = "  copySettings:\n    - regionName: US_WEST_2\n      shouldCopyOplogs: true\n"
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(extra=copy), m.deployment()))
    assert sorted(m.codes(check().problems)) == ["missing-field", "oplogs-without-pit"]


def test_policy_without_a_name_is_still_checked(write, check):
    """A policy missing metadata.name has its items checked too."""
    items = (
        "\n    - {frequencyType: weekly, frequencyInterval: 1,"
        " retentionUnit: days, retentionValue: 3}\n"
    )
    write("p.yaml", m.policy(items=items).replace("  name: standard\n", "  labels: {}\n"))
    assert sorted(m.codes(check().problems)) == ["missing-field", "retention-too-short"]


def test_export_without_a_bucket_is_not_called_missing(write, check):
    """An export without exportBucketId is reported as that, not as no export at all."""
    extra = "  autoExportEnabled: true\n  export:\n    frequencyType: monthly\n"
    write("s.yaml", m.docs(m.policy(), m.schedule(extra=extra)))
    (problem,) = check().problems
    assert problem.message == "required field 'exportBucketId' is missing in spec.export"


def test_interval_hint_gives_the_values_of_its_frequency_type(write, check):
    """monthly 30: the message says monthly, the hint the days and what 40 means."""
    items = (
        "\n    - {frequencyType: monthly, frequencyInterval: 30,"
        " retentionUnit: months, retentionValue: 12}\n"
    )
    write("p.yaml", m.policy(items=items))
    problem = m.only(check().problems, "invalid-interval")
    assert problem.message == "frequencyInterval 30 is not valid for a monthly item"
    assert problem.hint == (
        "monthly items take 1-28 (the day of the month), or 40 for the last day of the month"
    )


def test_interval_without_a_frequency_type_is_named_without_quotes_or_a_list(write, check):
    """With no valid frequencyType, an interval no type takes is reported compactly."""
    items = "\n    - {frequencyInterval: 30, retentionUnit: days, retentionValue: 7}\n"
    write("p.yaml", m.policy(items=items))
    problem = m.only(check().problems, "invalid-value")
    assert problem.message == "frequencyInterval 30 is not allowed"
    assert problem.hint == (
        "frequencyInterval takes 1-28, or 40 for the last day of the month; which of them"
        " depends on frequencyType"
    )


def test_an_hourly_item_is_named_with_an(write, check):
    """The article before hourly is "an": "not valid for an hourly item"."""
    items = (
        "\n    - {frequencyType: hourly, frequencyInterval: 3,"
        " retentionUnit: days, retentionValue: 2}\n"
    )
    write("p.yaml", m.policy(items=items))
    problem = m.only(check().problems, "invalid-interval")
    assert problem.message == "frequencyInterval 3 is not valid for an hourly item"
    assert problem.hint == "hourly items take 1, 2, 4, 6, 8 or 12 (the hours between snapshots)"


def test_policy_without_api_version_is_still_checked_as_a_policy(write, check):
    """A policy missing apiVersion gets that error once, and its items are checked too."""
    items = (
        "\n    - {frequencyType: weekly, frequencyInterval: 1,"
        " retentionUnit: days, retentionValue: 3}\n"
    )
    write("p.yaml", m.policy(items=items).replace("apiVersion: atlas.mongodb.com/v1\n", ""))
    problems = check().problems
    assert sorted(m.codes(problems)) == ["missing-field", "retention-too-short"]
    assert m.only(problems, "missing-field").hint == "add apiVersion: atlas.mongodb.com/v1"
