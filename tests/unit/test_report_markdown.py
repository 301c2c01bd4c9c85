"""REPORT.md: sections, field tables, links relative to the report directory, escaping, graph."""

from __future__ import annotations

import dataclasses
import re

import pytest
from support.builders import (
    cluster_key,
    cluster_result,
    cycle_result,
    default_items,
    desired_cluster,
    desired_schedule,
    desired_state,
    edges_of,
    observation_of,
    plan_of,
    problem,
    resource,
    span,
)

from gitopsd.core import report, report_graph, report_markdown
from gitopsd.core.diff import Severity
from gitopsd.core.document import Span
from gitopsd.core.model import ClusterKey, Kind, ProjectKey
from gitopsd.core.outcome import Outcome
from gitopsd.core.plan import Failure, Observation
from gitopsd.core.problems import Problem
from gitopsd.core.problems import Severity as ProblemSeverity
from gitopsd.core.report_model import ChangeEntry

AT = "2025-03-14T09:26:53Z"
ORDERS = cluster_key("orders")


def window(name: str = "orders", days: int = 14, **cluster):
    """A cluster whose restore window Git changes from 7 to ``days``."""
    wanted = desired_cluster(name, schedule=desired_schedule(restore_window_days=days))
    return wanted, observation_of(desired_cluster(name), **cluster)


def in_sync(name: str):
    """A converged cluster."""
    return desired_cluster(name), observation_of(desired_cluster(name))


def removal(name: str = "orders"):
    """A cluster whose manifest drops the daily item."""
    items = [i for i in default_items() if str(i.frequency) != "daily"]
    return desired_cluster(name, schedule=desired_schedule(items=items)), observation_of(
        desired_cluster(name)
    )


def drift_report(*pairs, settled=(), graph=True, **state) -> report.DriftReport:
    """The report of a plan-only cycle of ``pairs`` with its graph edges."""
    plan = plan_of(*pairs, **state)
    clusters = [d for d, _ in pairs]
    desired = dataclasses.replace(
        desired_state(*clusters), edges=edges_of(*clusters) if graph else ()
    )
    cycle = cycle_result(plan, desired=desired, settled=frozenset(cluster_key(n) for n in settled))
    return report.compute(cycle)


def render(drift: report.DriftReport, report_dir: str = "drift-report") -> str:
    """REPORT.md for ``drift``."""
    return report_markdown.render_markdown(drift, report_dir=report_dir, generated_at=AT)


def with_change(drift: report.DriftReport, **fields) -> report.DriftReport:
    """``drift`` whose first cluster's only change is bent as told."""
    cluster = drift.clusters[0]
    values = {
        "path": "/schedule/restoreWindowDays",
        "git": 14,
        "atlas": 7,
        "severity": Severity.LOW,
        "destructive": False,
        "why": "lengthens the window",
        "source": span(22),
    }
    values.update(fields)
    changed = dataclasses.replace(cluster, changes=(ChangeEntry(**values),))
    return dataclasses.replace(drift, clusters=(changed, *drift.clusters[1:]))


def table_rows(text: str, header: str) -> list[str]:
    """The body rows of the table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def cells(row: str) -> list[str]:
    """A table row's cells, split on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


# -- layout ------------------------------------------------------------------------------------


def test_report_opens_with_title_verdict_and_source():
    """Title, verdict, then the source line with branch@short sha, mode and the time."""
    lines = render(drift_report(window(), in_sync("b"))).splitlines()
    assert lines[0] == "# gitopsd drift report"
    assert lines[2] == "**1 of 2 clusters needs attention:** 1 pending."
    assert lines[4] == (
        "Source `main@4f2a9c1d7e3b` of `https://git.example.com/acme/atlas-backups.git`"
        f" · mode enforce · plan only · generated {AT}"
    )


def test_verdict_says_all_in_sync():
    """Nothing open reads all in sync."""
    assert "**All 2 clusters are in sync**." in render(drift_report(in_sync("a"), in_sync("b")))


def test_summary_table_counts_every_status():
    """The counts table lists every status and the total."""
    rows = table_rows(render(drift_report(window(), removal("b"), in_sync("c"))), "| Status |")
    assert [cells(r) for r in rows] == [
        ["Drifted (changed in Atlas)", "0", "0"],
        ["Pending (Git's values to apply)", "1", "1"],
        ["Blocked", "1", "1"],
        ["Skipped", "0", "0"],
        ["Error", "0", "0"],
        ["In sync", "1", "0"],
        ["**Total**", "**3**", "**2**"],
    ]


def test_summary_table_tells_resolved_clusters_from_those_needing_attention():
    """A cluster resolved this cycle counts under its status but not as needing attention."""
    plan = plan_of(window(), removal("b"))
    done = [cluster_result(c, *(Outcome.APPLIED for _ in c.actions)) for c in plan.clusters[:1]]
    held = cluster_result(plan.clusters[1], Outcome.BLOCKED, converged=False)
    text = render(report.compute(cycle_result(plan, clusters=(*done, held), applied=True)))
    rows = [cells(r) for r in table_rows(text, "| Status |")]
    assert ["Pending (Git's values to apply)", "1", "0"] in rows
    assert ["**Total**", "**2**", "**1**"] in rows
    assert "**1 of 2 clusters needs attention:** 1 blocked." in text


def test_sections_come_in_the_fixed_order():
    """Drift, pending, blocked, skipped, errors, problems, orphans, graph, in sync."""
    text = render(
        drift_report(
            window("a"),
            window("b"),
            removal("c"),
            window("d", paused=True),
            (desired_cluster("e"), Observation(cluster=None)),
            in_sync("f"),
            settled=("a",),
            problems=[problem(3, "unknown field", code="unknown-field")],
        )
    )
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Drift (changed in Atlas)",
        "## Pending",
        "## Blocked",
        "## Skipped",
        "## Errors",
        "## Manifest problems",
        "## Graph",
        "## In sync",
    ]


def test_empty_sections_are_left_out():
    """A report with only a pending cluster has no drift, blocked or error sections."""
    headings = [line for line in render(drift_report(window())).splitlines() if line[:3] == "## "]
    assert headings == ["## Pending", "## Graph"]


def test_blocked_drift_is_listed_under_drift_and_named_under_blocked():
    """A cluster blocked because of drift gets its block under Drift and a pointer in Blocked."""
    text = render(drift_report(removal(), settled=("orders",)))
    drift, blocked = text.split("## Blocked")
    assert "### Production/orders" in drift
    assert "Also blocked, because of drift (see above): `Production/orders`." in blocked
    assert "### Production/orders" not in blocked


def test_in_sync_clusters_are_named_not_tabled():
    """In-sync clusters are one line of names, without headings or tables."""
    text = render(drift_report(window(), in_sync("alpha"), in_sync("beta")))
    section = text.split("## In sync")[1]
    assert "2 clusters: `Production/alpha`, `Production/beta`." in section
    assert "### Production/alpha" not in text


def test_in_sync_list_is_capped():
    """Past the cap, the in-sync line counts the rest."""
    pairs = [in_sync(f"c{n:03}") for n in range(report_markdown.IN_SYNC_LIMIT + 2)]
    section = render(drift_report(*pairs, graph=False)).split("## In sync")[1]
    assert section.count("`Production/c") == report_markdown.IN_SYNC_LIMIT
    assert ", and 2 more." in section


def test_cluster_block_has_status_table_actions_and_resolution():
    """A cluster block names status and mode, tables its fields, lists actions, then advice."""
    text = render(drift_report(window()))
    block = text.split("### Production/orders")[1].split("## Graph")[0]
    assert "**pending** (not seen in sync before: whether Git or Atlas changed is unknown)" in block
    assert "| Field | Atlas | Git | Severity | Effect of Git's value |" in block
    assert "- `patch-schedule`: planned" in block
    assert "**How to resolve:** gitopsd applies Git's values" in block


def test_the_only_time_is_generated_at():
    """Two renderings at different times differ in the source line only."""
    drift = drift_report(window(), removal("b"))
    one = render(drift).splitlines()
    two = report_markdown.render_markdown(
        drift, report_dir="drift-report", generated_at="2030-01-01T00:00:00Z"
    ).splitlines()
    assert [n for n, (a, b) in enumerate(zip(one, two, strict=True)) if a != b] == [4]


def test_source_notes_are_quoted():
    """Each source note is a quoted line with its code."""
    from support.builders import source_note, source_state

    cycle = cycle_result(
        plan_of(window()),
        source=source_state(notes=(source_note("fetch-failed", "the remote did not answer"),)),
    )
    text = render(report.compute(cycle))
    assert "> **Note (fetch-failed):** the remote did not answer" in text


# -- field table -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("git", "atlas", "expected"),
    [
        (True, False, ["`false`", "[`true`](../backups.yaml#L22)"]),
        (14, 7, ["`7`", "[`14`](../backups.yaml#L22)"]),
        ("7 days", None, ["—", '[`"7 days"`](../backups.yaml#L22)']),
        (None, "7 days", ['`"7 days"`', "[—](../backups.yaml#L22)"]),
        (["DAILY", "WEEKLY"], [], ["`[]`", '[`["DAILY", "WEEKLY"]`](../backups.yaml#L22)']),
    ],
)
def test_values_read_as_json_and_missing_as_a_dash(git, atlas, expected):
    """Atlas's then Git's value, as JSON in code spans; an absent value is a dash."""
    text = render(with_change(drift_report(window()), git=git, atlas=atlas))
    (row,) = table_rows(text, "| Field |")
    assert cells(row)[1:3] == expected


def test_severity_cell_marks_destructive_changes():
    """A destructive change reads severity, destructive."""
    (row,) = table_rows(render(drift_report(window(days=3))), "| Field |")
    assert cells(row)[3] == "high, destructive"


def test_git_values_without_a_source_are_not_links():
    """A change with no manifest location shows its value unlinked."""
    text = render(with_change(drift_report(window()), source=None))
    (row,) = table_rows(text, "| Field |")
    assert cells(row)[2] == "`14`"


@pytest.mark.parametrize(
    ("report_dir", "target"),
    [
        ("drift-report", "../backups.yaml#L22"),
        ("reports/drift", "../../backups.yaml#L22"),
        (".", "backups.yaml#L22"),
        ("", "backups.yaml#L22"),
        ("./drift-report/", "../backups.yaml#L22"),
    ],
)
def test_links_are_relative_to_the_report_directory(report_dir, target):
    """Manifest links climb out of the report directory to the repository root."""
    text = render(drift_report(window()), report_dir=report_dir)
    (row,) = table_rows(text, "| Field |")
    assert cells(row)[2] == f"[`14`]({target})"


def test_link_targets_are_url_encoded():
    """A manifest path with spaces or parentheses stays one link."""
    drift = with_change(drift_report(window()), source=Span("my dir/b (1).yaml", 5, 1))
    (row,) = table_rows(render(drift), "| Field |")
    assert cells(row)[2] == "[`14`](../my%20dir/b%20%281%29.yaml#L5)"


def test_manifests_line_links_deployment_schedule_and_policy():
    """The block links the deployment, schedule and policy to where they are written."""
    assert (
        "deployment [`default/orders`](../backups.yaml#L1) → schedule"
        " [`default/standard`](../backups.yaml#L14) → policy"
        " [`default/standard`](../backups.yaml#L40)"
    ) in render(drift_report(window()))


# -- escaping ----------------------------------------------------------------------------------


def test_pipes_and_newlines_do_not_break_the_field_table():
    """A why with pipes and newlines stays in its cell."""
    text = render(with_change(drift_report(window()), why="a | b\nc"))
    (row,) = table_rows(text, "| Field |")
    assert len(cells(row)) == 5
    assert cells(row)[4] == "a \\| b<br>c"


def test_pipes_in_values_are_escaped_inside_code_spans():
    """A value with a pipe keeps the table's columns."""
    text = render(with_change(drift_report(window()), atlas="x|y"))
    (row,) = table_rows(text, "| Field |")
    assert cells(row)[1] == '`"x\\|y"`'


def test_backticks_in_values_get_a_longer_fence():
    """A value with backticks is still one code span."""
    text = render(with_change(drift_report(window()), atlas="a`b"))
    (row,) = table_rows(text, "| Field |")
    assert cells(row)[1] == '``"a`b"``'


def test_html_from_atlas_is_escaped():
    """Atlas's detail cannot inject HTML into the page."""
    failure = Failure(
        message="Atlas refused",
        error_code="X",
        detail="<script>alert(1)</script> & more",
        status=400,
    )
    text = render(drift_report((desired_cluster(), Observation(failure=failure))))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in text
    assert "<script>" not in text


def test_problem_messages_are_escaped_in_their_table():
    """A problem with a pipe and a hint stays one row of four cells."""
    found = Problem.at(
        span(3, 5), ProblemSeverity.ERROR, "unknown-field", "bad | value", "did you mean x?"
    )
    (row,) = table_rows(render(drift_report(window(), problems=[found])), "| Where |")
    assert cells(row) == [
        "[backups.yaml:3:5](../backups.yaml#L3)",
        "error",
        "`unknown-field`",
        "bad \\| value<br>Hint: did you mean x?",
    ]


def test_error_shows_atlas_error_code_status_and_detail():
    """A failed cluster shows the message and Atlas's errorCode, status and detail verbatim."""
    failure = Failure(
        message="Atlas answered 500 three times",
        error_code="UNEXPECTED_ERROR",
        detail="Unexpected error.",
        status=500,
    )
    text = render(drift_report((desired_cluster(), Observation(failure=failure))))
    assert (
        "**Error:** Atlas answered 500 three times (Atlas: errorCode `UNEXPECTED_ERROR`,"
        " HTTP 500: Unexpected error.)"
    ) in text


# -- graph -------------------------------------------------------------------------------------


def mermaid(text: str) -> str:
    """The Mermaid block of a report."""
    return text.split("```mermaid\n")[1].split("```", maxsplit=1)[0]


def test_graph_draws_only_affected_clusters():
    """In-sync deployments are left out; the schedule and policy they share are drawn."""
    block = mermaid(render(drift_report(window("alpha"), in_sync("beta"))))
    assert "deployment default/alpha<br/>Production/alpha: pending" in block
    assert "default/beta" not in block
    assert "schedule default/standard" in block
    assert "policy default/standard" in block
    assert "project default/production" in block


def test_graph_styles_deployments_by_status():
    """Deployments carry their status class, and only used classes are defined."""
    block = mermaid(render(drift_report(window("a"), removal("b"))))
    assert re.search(r'\["deployment default/a<br/>Production/a: pending"\]:::pending', block)
    assert re.search(r'\["deployment default/b<br/>Production/b: blocked"\]:::blocked', block)
    classes = re.findall(r"classDef (\w+)", block)
    assert classes == ["pending", "blocked"]


def test_graph_is_left_out_when_everything_is_in_sync():
    """No affected cluster, no graph section."""
    assert "```mermaid" not in render(drift_report(in_sync("a")))


def test_graph_is_capped_with_a_note():
    """Past the cap, the drawing counts the deployments it leaves out."""
    pairs = [window(f"c{n:02}") for n in range(report_graph.LIMIT + 3)]
    drift = drift_report(*pairs)
    text = render(drift)
    assert drift.graph.omitted == 3
    assert mermaid(text).count("deployment default/") == report_graph.LIMIT
    assert "…and 3 more affected deployments, not drawn" in text


def test_graph_labels_escape_quotes():
    """A project name with quotes and angle brackets cannot break the Mermaid label."""
    key = ClusterKey(project=ProjectKey(name='Acme "Prod" <eu>'), cluster="orders")
    wanted = desired_cluster(schedule=desired_schedule(restore_window_days=14), key=key)
    block = mermaid(render(drift_report((wanted, observation_of(desired_cluster())))))
    assert "Acme #quot;Prod#quot; #lt;eu#gt;/orders: pending" in block


def test_graph_labels_keep_to_their_line_whatever_breaks_a_name():
    """Every character Python counts as a line break becomes a space in a Mermaid label."""
    key = ClusterKey(project=ProjectKey(name="a\nb\rc\u2028d\x85e\x0bf"), cluster="orders")
    wanted = desired_cluster(schedule=desired_schedule(restore_window_days=14), key=key)
    block = mermaid(render(drift_report((wanted, observation_of(desired_cluster())))))
    assert "a b c d e f/orders: pending" in block
    assert block.splitlines() == block.rstrip("\n").split("\n")


def test_affected_graph_puts_open_clusters_before_resolved_ones():
    """With a cap of one, an open cluster is drawn and a resolved one is counted."""
    drift = drift_report(window("a"), window("b"))
    resolved = dataclasses.replace(drift.clusters[0], resolved=True)
    graph = report_graph.affected(
        (resolved, drift.clusters[1]), (), edges_of(desired_cluster("a")), limit=1
    )
    deployments = [n for n in graph.nodes if n.resource.kind is Kind.DEPLOYMENT]
    assert [(n.resource.name, graph.omitted) for n in deployments] == [("b", 1)]


def test_affected_graph_includes_deployments_kept_out_by_problems():
    """A not-planned deployment is drawn with its edges."""
    legacy = resource(Kind.DEPLOYMENT, "legacy")
    project = resource(Kind.PROJECT, "production")
    graph = report_graph.affected((), (legacy,), ((legacy, project),))
    assert [(str(n.resource), str(n.state)) for n in graph.nodes] == [
        ("AtlasDeployment/default/legacy", "not-planned"),
        ("AtlasProject/default/production", "plain"),
    ]


def test_unmanaged_fields_are_named():
    """Fields Atlas holds that manifests cannot express are named under the cluster."""
    from support.builders import observed_cluster, observed_schedule

    seen = Observation(
        cluster=observed_cluster(),
        schedule=observed_schedule(restore_window_days=3, unmanaged=("extraRetentionSettings",)),
    )
    text = render(drift_report((desired_cluster(), seen)))
    assert "Unmanaged in Atlas, left as they are: `extraRetentionSettings`" in text


# -- adoption ----------------------------------------------------------------------------------


def test_adoptable_drift_tables_the_manifest_edits():
    """Adoptable drift lists each edit: the manifest (linked to the line), the field, the value."""
    from support.builders import adoption, edit

    drift = report.compute(
        cycle_result(plan_of(window()), settled=frozenset({ORDERS})),
        adoptions={ORDERS: adoption(ORDERS, edit(value=7))},
    )
    text = render(drift)
    assert (
        "**Adopting Atlas's values:** merging this pull request makes these manifest edits." in text
    )
    (row,) = table_rows(text, "| Manifest |")
    assert cells(row) == [
        "[`backups.yaml`](../backups.yaml#L22)",
        "`spec.restoreWindowDays`",
        "`7`",
    ]


def test_edit_paths_show_list_indexes():
    """A path through a list reads with an index in brackets; a deletion reads removed."""
    from support.builders import adoption, edit

    from gitopsd.core.adopt import EditOp

    removed = edit(
        "/schedule/policyItems/daily/1", None, path=("spec", "items", 1), op=EditOp.DELETE
    )
    drift = report.compute(
        cycle_result(plan_of(window()), settled=frozenset({ORDERS})),
        adoptions={ORDERS: adoption(ORDERS, removed)},
    )
    (row,) = table_rows(render(drift), "| Manifest |")
    assert cells(row)[1:] == ["`spec.items[1]`", "(removed)"]


def test_drift_that_cannot_be_adopted_says_why():
    """Non-adoptable drift states the reason instead of edits."""
    from support.builders import adoption

    drift = report.compute(
        cycle_result(plan_of(window()), settled=frozenset({ORDERS})),
        adoptions={ORDERS: adoption(ORDERS, reason="the schedule serves 3 clusters")},
    )
    text = render(drift)
    assert "**Cannot be adopted automatically:** the schedule serves 3 clusters" in text
    assert "| Manifest |" not in text
