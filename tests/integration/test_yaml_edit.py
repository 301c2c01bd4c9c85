"""Round-trip edits of real manifest files: only the intended lines change, byte for byte."""

from __future__ import annotations

import dataclasses
import difflib
import shutil
from collections import defaultdict

import pytest
from conftest import REPO
from support import builders as b

from gitopsd import desired as desired_loader
from gitopsd.adapters import manifest_files, yaml_edit
from gitopsd.core import adopt, plan
from gitopsd.core.adopt import Edit, EditOp
from gitopsd.core.model import ClusterKey, DesiredState, Kind, Mode, ProjectKey, ResourceId
from gitopsd.core.outcome import CycleResult
from gitopsd.core.plan import Observation

DATA = REPO / "tests" / "data" / "adopt"
INDENTED = "policy-indented.yaml"
FLUSH = "policy-flush.yaml"
FLOW = "policy-flow.yaml"
SCHEDULES = "schedules.yaml"
ANCHORS = "deployment-anchors.yaml"
PLAIN = "deployment-plain.yaml"

LEDGER_POLICY = ResourceId(kind=Kind.POLICY, namespace="payments", name="ledger")
FLUSH_POLICY = ResourceId(kind=Kind.POLICY, namespace="default", name="flush")
FLOW_POLICY = ResourceId(kind=Kind.POLICY, namespace="platform", name="compact")
NIGHTLY = ResourceId(kind=Kind.SCHEDULE, namespace="payments", name="nightly")
WEEKLY = ResourceId(kind=Kind.SCHEDULE, namespace="default", name="weekly")
LEDGER = ResourceId(kind=Kind.DEPLOYMENT, namespace="payments", name="ledger")
SEARCH = ResourceId(kind=Kind.DEPLOYMENT, namespace="default", name="search")


def read(name: str) -> str:
    """The text of a test data file."""
    return (DATA / name).read_text(encoding="utf-8")


def edit(
    file: str,
    resource: ResourceId,
    *path: str | int,
    value: adopt.EditValue = None,
    op: EditOp = EditOp.SET,
    after: tuple[str, ...] = (),
) -> Edit:
    """An edit of ``resource`` in ``file`` at ``path``."""
    return Edit(file=file, resource=resource, path=path, op=op, value=value, after=after)


def changed(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed from ``before`` and the lines added in ``after``."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    lines = list(difflib.unified_diff(old, new, n=0))
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def apply(name: str, *edits: Edit, default_namespace: str = "default") -> tuple[str, str]:
    """A data file's text before and after ``edits``."""
    before = read(name)
    return before, yaml_edit.apply_edits(before, edits, default_namespace=default_namespace)


# -- only what was asked changes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "no_op"),
    [
        (INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 0, "retentionValue", value=2)),
        (FLUSH, edit(FLUSH, FLUSH_POLICY, "spec", "items", 1, "retentionUnit", value="days")),
        (FLOW, edit(FLOW, FLOW_POLICY, "spec", "items", 0, "frequencyInterval", value=4)),
        (SCHEDULES, edit(SCHEDULES, NIGHTLY, "spec", "restoreWindowDays", value=2)),
        (SCHEDULES, edit(SCHEDULES, WEEKLY, "spec", "referenceHourOfDay", value=5)),
        (ANCHORS, edit(ANCHORS, LEDGER, "spec", "deploymentSpec", "pitEnabled", value=True)),
        (PLAIN, edit(PLAIN, SEARCH, "spec", "deploymentSpec", "pitEnabled", op=EditOp.DELETE)),
    ],
)
def test_an_edit_that_changes_no_value_leaves_the_file_byte_for_byte(name, no_op):
    """Rewriting a document with its own values gives back the very same bytes."""
    before, after = apply(name, no_op)
    assert after == before


def test_changed_value_changes_only_its_line_and_keeps_its_comment():
    """A retention edit touches one line; its end-of-line comment stays in its column."""
    before, after = apply(
        INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 1, "retentionValue", value=14)
    )
    assert changed(before, after) == (
        ["      retentionValue: 7        # the week the team reviews\n"],
        ["      retentionValue: 14       # the week the team reviews\n"],
    )


def test_list_item_edited_in_place_keeps_the_comments_around_it():
    """Editing an item keeps the comment above it, its own comments and the next item's."""
    before, after = apply(
        INDENTED,
        edit(INDENTED, LEDGER_POLICY, "spec", "items", 0, "retentionUnit", value="weeks"),
        edit(INDENTED, LEDGER_POLICY, "spec", "items", 0, "retentionValue", value=1),
    )
    assert changed(before, after) == (
        ["      retentionUnit: days\n", "      retentionValue: 2        # >= the restore window\n"],
        [
            "      retentionUnit: weeks\n",
            "      retentionValue: 1        # >= the restore window\n",
        ],
    )
    assert "    # Every 6 hours, kept 2 days: covers the PIT window.\n" in after
    assert "    # Daily, kept a week.\n" in after


def test_removed_item_takes_the_comment_above_it_and_leaves_the_next_ones():
    """Deleting the weekly item deletes its lines and its comment, nothing else."""
    before, after = apply(
        INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 2, op=EditOp.DELETE)
    )
    assert changed(before, after) == (
        [
            "    # Saturdays, kept four weeks.\n",
            "    - frequencyType: weekly\n",
            "      frequencyInterval: 6\n",
            "      retentionUnit: weeks\n",
            "      retentionValue: 4\n",
        ],
        [],
    )


def test_removing_the_first_item_keeps_the_comment_above_the_second():
    """The comment above the first item goes with it; the second item's comment stays."""
    before, after = apply(
        INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 0, op=EditOp.DELETE)
    )
    removed, added = changed(before, after)
    assert added == []
    assert removed == [
        "    # Every 6 hours, kept 2 days: covers the PIT window.\n",
        "    - frequencyType: hourly\n",
        "      frequencyInterval: 6       # hours between snapshots\n",
        "      retentionUnit: days\n",
        "      retentionValue: 2        # >= the restore window\n",
    ]


def test_removing_the_last_item_keeps_the_comment_that_ends_the_document():
    """A comment after the last item stays at the end of the document."""
    before, after = apply(
        INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 3, op=EditOp.DELETE)
    )
    assert after.endswith("      retentionValue: 4\n# Review yearly with finance.\n")
    assert len(changed(before, after)[0]) == 5


YEARLY: adopt.EditValue = {
    "frequencyType": "yearly",
    "frequencyInterval": 1,
    "retentionUnit": "years",
    "retentionValue": 1,
}


@pytest.mark.parametrize(
    ("name", "resource", "index", "dash"),
    [(INDENTED, LEDGER_POLICY, 4, "    - "), (FLUSH, FLUSH_POLICY, 2, "  - ")],
)
def test_appended_item_follows_the_file_indentation(name, resource, index, dash):
    """A new item is written like the others: "- " indented under its key, or flush with it."""
    before, after = apply(name, edit(name, resource, "spec", "items", index, value=YEARLY))
    inner = " " * len(dash)
    assert changed(before, after) == (
        [],
        [
            f"{dash}frequencyType: yearly\n",
            f"{inner}frequencyInterval: 1\n",
            f"{inner}retentionUnit: years\n",
            f"{inner}retentionValue: 1\n",
        ],
    )


def test_appended_item_goes_before_the_comment_that_ends_the_document():
    """The document's closing comment stays its last line."""
    _, after = apply(INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 4, value=YEARLY))
    assert after.endswith("      retentionValue: 1\n# Review yearly with finance.\n")


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        (INDENTED, yaml_edit.Layout(mapping=2, sequence=4, offset=2)),
        (FLUSH, yaml_edit.Layout(mapping=2, sequence=2, offset=0)),
        (ANCHORS, yaml_edit.Layout(mapping=2, sequence=4, offset=2)),
    ],
)
def test_layout_is_inferred_from_the_file(name, layout):
    """The mapping indent, and where "- " sits, are read from the text."""
    assert yaml_edit.guess_layout(read(name)) == layout


def test_layout_without_lists_comes_from_the_next_text():
    """A document without lists takes the list layout of the text after it (its file)."""
    without = "spec:\n    name: x\n"
    assert yaml_edit.guess_layout(without, read(INDENTED)) == yaml_edit.Layout(
        mapping=4, sequence=4, offset=2
    )


def test_appended_item_in_a_flow_style_list_is_flow_style():
    """Items written as {…} get a new item written as {…}."""
    before, after = apply(FLOW, edit(FLOW, FLOW_POLICY, "spec", "items", 2, value=YEARLY))
    assert changed(before, after) == (
        [],
        [
            (
                "    - {frequencyType: yearly, frequencyInterval: 1, retentionUnit: years,"
                " retentionValue: 1}\n"
            )
        ],
    )


def test_flow_item_edited_in_place_keeps_its_style_and_comment():
    """A flow mapping item stays one line with its comment."""
    before, after = apply(
        FLOW, edit(FLOW, FLOW_POLICY, "spec", "items", 0, "retentionValue", value=2)
    )
    assert changed(before, after)[1] == [
        (
            "    - {frequencyType: hourly, frequencyInterval: 4, retentionUnit: days,"
            " retentionValue: 2}  # short\n"
        )
    ]


def test_quoted_string_keeps_its_quotes():
    """A double-quoted bucket id is replaced by a double-quoted one."""
    before, after = apply(
        SCHEDULES,
        edit(
            SCHEDULES, NIGHTLY, "spec", "export", "exportBucketId", value="64f1c0ffee0000000000e1e1"
        ),
    )
    assert changed(before, after) == (
        ['    exportBucketId: "6553f0a1c2b3d4e5f6a7b8c9"   # Atlas\'s id, quoted\n'],
        ['    exportBucketId: "64f1c0ffee0000000000e1e1"   # Atlas\'s id, quoted\n'],
    )


def test_flow_list_replaced_stays_flow_style():
    """``frequencies: [DAILY, WEEKLY]`` becomes ``[DAILY]``, comment and all."""
    before, after = apply(
        SCHEDULES,
        edit(SCHEDULES, NIGHTLY, "spec", "copySettings", 0, "frequencies", value=["DAILY"]),
    )
    assert changed(before, after) == (
        ["      frequencies: [DAILY, WEEKLY]   # flow list\n"],
        ["      frequencies: [DAILY]           # flow list\n"],
    )


def test_block_list_replaced_stays_block_style():
    """A block list of frequencies grows in block style."""
    before, after = apply(
        SCHEDULES,
        edit(
            SCHEDULES,
            NIGHTLY,
            "spec",
            "copySettings",
            1,
            "frequencies",
            value=["MONTHLY", "YEARLY"],
        ),
    )
    assert changed(before, after) == ([], ["        - YEARLY\n"])


def test_untouched_lines_keep_their_spacing():
    """``restoreWindowDays:   2`` keeps its spaces when another field of the document changes."""
    before, after = apply(
        SCHEDULES, edit(SCHEDULES, NIGHTLY, "spec", "referenceHourOfDay", value=4)
    )
    assert changed(before, after) == (
        ["  referenceHourOfDay: 3    # 03:00 UTC\n"],
        ["  referenceHourOfDay: 4    # 03:00 UTC\n"],
    )
    assert "  restoreWindowDays:   2\n" in after


def test_a_string_whose_spacing_is_its_value_is_written_as_asked():
    """Inner spaces of a new string value are data, not layout: they are not restored."""
    _, after = apply(
        SCHEDULES,
        edit(SCHEDULES, NIGHTLY, "spec", "referenceMinuteOfHour", value="30   "),
    )
    assert "  referenceMinuteOfHour: '30   '\n" in after


# -- documents ---------------------------------------------------------------------------------


def test_other_documents_of_the_file_keep_their_bytes():
    """Editing the last document leaves the ones before it, odd spacing included, untouched."""
    before, after = apply(SCHEDULES, edit(SCHEDULES, WEEKLY, "spec", "restoreWindowDays", value=3))
    marker = before.index("--- # weekly")
    assert after[:marker] == before[:marker]
    assert changed(before, after) == ([], ["  restoreWindowDays: 3\n"])


def test_header_comment_directive_and_markers_are_kept():
    """The file's header comment, %YAML directive, "--- # comment" and "..." survive edits."""
    before, after = apply(
        SCHEDULES,
        edit(SCHEDULES, NIGHTLY, "spec", "restoreWindowDays", value=5),
        edit(SCHEDULES, WEEKLY, "spec", "referenceHourOfDay", value=6),
    )
    assert after.startswith("# Schedules of the payments team: several documents in one file.\n")
    assert "%YAML 1.2\n---\n" in after
    assert "--- # weekly: the flush policy, default namespace\n" in after
    assert after.endswith("  referenceHourOfDay: 6\n...\n")
    assert len(changed(before, after)[1]) == 2


def test_document_without_namespace_is_found_in_the_default_namespace():
    """A document that leaves out metadata.namespace is in the namespace the graph defaults to."""
    resource = dataclasses.replace(WEEKLY, namespace="platform")
    before, after = apply(
        SCHEDULES,
        edit(SCHEDULES, resource, "spec", "referenceHourOfDay", value=7),
        default_namespace="platform",
    )
    assert changed(before, after) == (
        ["  referenceHourOfDay: 5\n"],
        ["  referenceHourOfDay: 7\n"],
    )


def test_missing_document_is_an_error_naming_file_and_resource():
    """An edit for a document the file does not hold fails, saying which file and which one."""
    monthly = dataclasses.replace(NIGHTLY, name="monthly")
    with pytest.raises(yaml_edit.ManifestEditError) as caught:
        apply(SCHEDULES, edit(SCHEDULES, monthly, "spec", "referenceHourOfDay", value=1))
    assert str(caught.value) == (
        "schedules.yaml: no document AtlasBackupSchedule payments/monthly in this file"
    )


def test_document_of_another_api_is_never_edited():
    """A ConfigMap with a matching name is not an Atlas manifest."""
    other = ResourceId(kind=Kind.SCHEDULE, namespace="default", name="not-ours")
    with pytest.raises(yaml_edit.ManifestEditError, match="no document"):
        apply(SCHEDULES, edit(SCHEDULES, other, "data", "note", value="x"))


def test_missing_list_index_is_an_error():
    """An index past the end of a list (other than the one that appends) fails clearly."""
    with pytest.raises(yaml_edit.ManifestEditError) as caught:
        apply(INDENTED, edit(INDENTED, LEDGER_POLICY, "spec", "items", 9, value=YEARLY))
    assert "policy-indented.yaml: AtlasBackupPolicy payments/ledger: spec.items[9]" in str(
        caught.value
    )


def test_path_through_a_plain_value_is_an_error():
    """A path that leads through a scalar cannot be edited."""
    with pytest.raises(yaml_edit.ManifestEditError, match=r"spec.restoreWindowDays is not a"):
        apply(SCHEDULES, edit(SCHEDULES, NIGHTLY, "spec", "restoreWindowDays", "x", value=1))


def test_unreadable_yaml_is_an_error():
    """A file that is not YAML is not edited."""
    with pytest.raises(yaml_edit.ManifestEditError, match=r"broken.yaml: not valid YAML"):
        yaml_edit.apply_edits("a: [1, 2\n", [edit("broken.yaml", NIGHTLY, "spec", "x", value=1)])


def test_edit_errors_are_gitopsd_errors():
    """Publishing catches GitopsdError; an edit failure must be one."""
    from gitopsd.errors import GitopsdError

    assert issubclass(yaml_edit.ManifestEditError, GitopsdError)


# -- keys --------------------------------------------------------------------------------------


def test_new_key_goes_after_its_sibling_and_the_comment_stays_with_the_next_key():
    """pitEnabled lands after backupEnabled; the comment above clusterType stays above it."""
    before, after = apply(
        PLAIN,
        edit(
            PLAIN,
            SEARCH,
            "spec",
            "deploymentSpec",
            "pitEnabled",
            value=True,
            after=("backupEnabled", "name"),
        ),
    )
    assert changed(before, after) == ([], ["    pitEnabled: true\n"])
    assert after.index("pitEnabled") < after.index("# Replica set")


def test_absent_key_is_added_at_the_end_of_its_mapping():
    """A key the manifest leaves out is added; the spec's closing comment stays last."""
    before, after = apply(
        SCHEDULES, edit(SCHEDULES, NIGHTLY, "spec", "useOrgAndGroupNamesInExportPrefix", value=True)
    )
    assert changed(before, after) == ([], ["  useOrgAndGroupNamesInExportPrefix: true\n"])
    assert "true\n  # Keep the window short: PIT costs.\n---\n" in after


def test_list_under_an_absent_key_is_created_in_the_file_layout():
    """copySettings missing from a schedule is added as a block list."""
    copy: adopt.EditValue = {
        "cloudProvider": "AWS",
        "regionName": "US_WEST_2",
        "shouldCopyOplogs": False,
        "frequencies": ["DAILY"],
    }
    before, after = apply(SCHEDULES, edit(SCHEDULES, WEEKLY, "spec", "copySettings", 0, value=copy))
    assert changed(before, after) == (
        [],
        [
            "  copySettings:\n",
            "    - cloudProvider: AWS\n",
            "      regionName: US_WEST_2\n",
            "      shouldCopyOplogs: false\n",
            "      frequencies: [DAILY]\n",
        ],
    )


def test_intermediate_mappings_are_created():
    """Setting export.exportBucketId where there is no export adds the mapping."""
    before, after = apply(
        SCHEDULES, edit(SCHEDULES, WEEKLY, "spec", "export", "exportBucketId", value="abc")
    )
    assert changed(before, after) == ([], ["  export:\n", "    exportBucketId: abc\n"])


def test_deleted_key_takes_its_comment_and_leaves_the_next_ones():
    """Deleting pitEnabled deletes the comment above it; clusterType keeps its own line."""
    before, after = apply(
        ANCHORS, edit(ANCHORS, LEDGER, "spec", "deploymentSpec", "pitEnabled", op=EditOp.DELETE)
    )
    assert changed(before, after) == (
        ["    # PIT lets the team undo a bad batch to the second.\n", "    pitEnabled: true\n"],
        [],
    )


def test_deleting_an_absent_key_changes_nothing():
    """A delete of something already gone is done."""
    before, after = apply(SCHEDULES, edit(SCHEDULES, WEEKLY, "spec", "export", op=EditOp.DELETE))
    assert after == before


def test_list_emptied_by_deletes_reads_as_an_empty_list():
    """Deleting every copy setting leaves ``copySettings: []``."""
    before, after = apply(
        SCHEDULES,
        edit(SCHEDULES, NIGHTLY, "spec", "copySettings", 1, op=EditOp.DELETE),
        edit(SCHEDULES, NIGHTLY, "spec", "copySettings", 0, op=EditOp.DELETE),
    )
    removed, added = changed(before, after)
    assert added == ["  copySettings: []\n"]
    assert "    # Disaster recovery in a second region.\n" in removed
    assert "  # Keep the window short: PIT costs.\n" in after


def test_anchors_aliases_and_merge_keys_are_kept():
    """Anchors nobody aliases, aliases and "<<" merges all survive an edit of the document."""
    before, after = apply(
        ANCHORS, edit(ANCHORS, LEDGER, "spec", "deploymentSpec", "pitEnabled", value=False)
    )
    assert changed(before, after) == (["    pitEnabled: true\n"], ["    pitEnabled: false\n"])
    for kept in ("labels: &labels", "tags: &tags", "- <<: &region", "- <<: *region"):
        assert kept in after


def test_crlf_line_endings_are_kept(tmp_path):
    """A file written with CRLF stays CRLF."""
    before = read(INDENTED).replace("\n", "\r\n")
    after = yaml_edit.apply_edits(
        before, [edit(INDENTED, LEDGER_POLICY, "spec", "items", 1, "retentionValue", value=14)]
    )
    assert after.count("\r\n") == before.count("\r\n")
    assert "\n" not in after.replace("\r\n", "")
    assert changed(before, after)[1] == [
        "      retentionValue: 14       # the week the team reviews\r\n"
    ]


def test_applying_the_same_edits_twice_changes_nothing_more():
    """Edits set values, so a second run is a no-op."""
    edits = (
        edit(INDENTED, LEDGER_POLICY, "spec", "items", 1, "retentionValue", value=14),
        edit(INDENTED, LEDGER_POLICY, "spec", "items", 0, "retentionUnit", value="weeks"),
    )
    _, once = apply(INDENTED, *edits)
    assert yaml_edit.apply_edits(once, edits) == once


# -- adopting drift, end to end ----------------------------------------------------------------


def _example(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "manifests-example", root)
    return root


def _load(root) -> DesiredState:
    options = manifest_files.LoadOptions(relative_to=str(root))
    return desired_loader.load([str(root)], options=options).state


def _cycle(state: DesiredState, observed: dict[ClusterKey, Observation]) -> CycleResult:
    todo = plan.compute(state, observed, plan.Options(mode=Mode.OBSERVE))
    return CycleResult(
        revision="main@0000000",
        plan=todo,
        problems=(),
        clusters=(),
        mode=Mode.OBSERVE,
        desired=state,
        observed=tuple(sorted(observed.items())),
    )


def _write(root, adoptions: tuple[adopt.Adoption, ...]) -> None:
    by_file: defaultdict[str, list[Edit]] = defaultdict(list)
    for adoption in adoptions:
        for one in adoption.edits:
            by_file[one.file].append(one)
    for file, edits in by_file.items():
        path = root / file
        path.write_text(yaml_edit.apply_edits(path.read_text(encoding="utf-8"), edits))


LEDGER_KEY = ClusterKey(project=ProjectKey(name="Acme Production"), cluster="payments-ledger")


def _drifted_ledger(state: DesiredState) -> dict[ClusterKey, Observation]:
    observed = {c.key: b.observation_of(c) for c in state.clusters}
    seen = observed[LEDGER_KEY]
    assert seen.schedule is not None
    schedule = dataclasses.replace(
        seen.schedule,
        reference_hour_of_day=6,
        restore_window_days=5,
        items=(
            b.observed_item("hourly", 1, 3, "days"),
            b.observed_item("daily", 1, 14, "days"),
            b.observed_item("weekly", 7, 13, "weeks"),
            b.observed_item("yearly", 12, 2, "years"),
        ),
        copy_settings=(
            b.observed_copy("AWS", "US_WEST_2", should_copy_oplogs=True, frequencies=("DAILY",)),
            b.observed_copy("GCP", "EUROPE_WEST_3", frequencies=("DAILY", "WEEKLY")),
        ),
    )
    observed[LEDGER_KEY] = dataclasses.replace(seen, schedule=schedule)
    return observed


def test_adopted_drift_leaves_nothing_to_change_and_other_clusters_untouched(tmp_path):
    """After the edits, Git says what Atlas holds for the cluster, and no other cluster moved."""
    root = _example(tmp_path)
    state = _load(root)
    observed = _drifted_ledger(state)
    adoptions = adopt.compute(_cycle(state, observed), [LEDGER_KEY])
    assert [a.adoptable for a in adoptions] == [True]
    _write(root, adoptions)
    after = _load(root)
    assert [p for p in after.problems if p.is_error] == []
    replanned = {p.key: p for p in _cycle(after, observed).plan.clusters}
    assert replanned[LEDGER_KEY].changes == ()
    others = {c.key: c for c in state.clusters if c.key != LEDGER_KEY}
    assert {c.key: c for c in after.clusters if c.key != LEDGER_KEY} == others


def test_adoption_edits_only_the_ledgers_own_documents(tmp_path):
    """The ledger's schedule and policy are edited; shared files' other documents are not."""
    root = _example(tmp_path)
    state = _load(root)
    before = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    _write(root, adopt.compute(_cycle(state, _drifted_ledger(state)), [LEDGER_KEY]))
    touched = sorted(str(p.relative_to(root)) for p in before if p.read_bytes() != before[p])
    assert touched == ["policies/critical-pit.yaml", "schedules/payments.yaml"]
    text = (root / "schedules/payments.yaml").read_text(encoding="utf-8")
    original = before[root / "schedules/payments.yaml"].decode()
    second = original.index("---\n# For the reporting replica")
    assert text[text.index("---\n# For the reporting replica") :] == original[second:]


def test_pit_turned_off_in_atlas_is_adopted_on_the_deployment_alone(tmp_path):
    """catalog-main shares its schedule, but PIT lives on its own deployment: one line changes."""
    root = _example(tmp_path)
    state = _load(root)
    key = ClusterKey(project=ProjectKey(name="Acme Production"), cluster="catalog-main")
    observed = {c.key: b.observation_of(c) for c in state.clusters}
    observed[key] = b.observation_of(
        next(c for c in state.clusters if c.key == key), pit_enabled=False
    )
    file = root / "deployments/catalog/catalog-main.yaml"
    before = file.read_text(encoding="utf-8")
    _write(root, adopt.compute(_cycle(state, observed), [key]))
    assert changed(before, file.read_text(encoding="utf-8")) == (
        ["    pitEnabled: true\n"],
        ["    pitEnabled: false\n"],
    )
    assert {p.key: p.changes for p in _cycle(_load(root), observed).plan.clusters}[key] == ()
