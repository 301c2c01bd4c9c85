"""A rich cycle's drift report against golden REPORT.md and report.json.

Set ``GITOPSD_UPDATE_GOLDEN=1`` to rewrite the golden files from the current rendering, then
review the diff like any other change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

from support.builders import (
    adoption,
    blocked_cluster,
    cluster_key,
    cluster_result,
    cycle_result,
    default_items,
    desired_cluster,
    desired_schedule,
    desired_state,
    edges_of,
    edit,
    item,
    observation_of,
    observed_cluster,
    observed_item,
    observed_items_of,
    observed_schedule,
    plan_of,
    problem,
    resource,
    source_note,
    source_state,
    span,
)

from gitopsd.core import report, report_json, report_markdown
from gitopsd.core.model import Kind, Mode
from gitopsd.core.outcome import CycleResult, Outcome
from gitopsd.core.plan import Failure, Observation
from gitopsd.core.problems import Problem, Severity

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "drift-reports.md"
GENERATED_AT = "2025-03-14T09:26:53Z"
REPORT_DIR = "drift-report"
REFUSED = Failure(
    message="Atlas refused the schedule",
    error_code="INVALID_ATTRIBUTE",
    detail="Invalid attribute restoreWindowDays specified.",
    status=400,
)


def _pairs(*, reverse: bool) -> list:
    own_schedule = resource(Kind.SCHEDULE, "inventory")
    own_policy = resource(Kind.POLICY, "inventory")
    pairs = [
        (desired_cluster("analytics"), observation_of(desired_cluster("analytics"))),
        (
            desired_cluster("billing", schedule=desired_schedule(restore_window_days=14)),
            observation_of(desired_cluster("billing")),
        ),
        (
            desired_cluster("catalog"),
            Observation(
                cluster=observed_cluster("catalog"),
                schedule=observed_schedule("catalog", reference_hour_of_day=9),
            ),
        ),
        (
            desired_cluster(
                "inventory", mode=Mode.OBSERVE, schedule_id=own_schedule, policy_id=own_policy
            ),
            Observation(
                cluster=observed_cluster("inventory"),
                schedule=observed_schedule("inventory", restore_window_days=3),
            ),
        ),
        (
            desired_cluster("ledger", mode=Mode.OBSERVE),
            Observation(
                cluster=observed_cluster("ledger"),
                schedule=observed_schedule("ledger", reference_minute_of_hour=0),
            ),
        ),
        (
            desired_cluster(
                "orders",
                schedule=desired_schedule(
                    items=[i for i in default_items() if str(i.frequency) != "daily"]
                ),
            ),
            Observation(
                cluster=observed_cluster("orders"),
                schedule=observed_schedule("orders", unmanaged=("extraRetentionSettings",)),
            ),
        ),
        (
            desired_cluster("payments"),
            Observation(
                cluster=observed_cluster("payments"),
                schedule=observed_schedule(
                    "payments",
                    items=(
                        *observed_items_of(default_items()),
                        observed_item("yearly", 12, 7, "years"),
                    ),
                ),
            ),
        ),
        (
            desired_cluster("reports", schedule=desired_schedule(restore_window_days=14)),
            observation_of(desired_cluster("reports"), paused=True),
        ),
        (
            desired_cluster("search", schedule=desired_schedule(restore_window_days=21)),
            observation_of(desired_cluster("search")),
        ),
        (desired_cluster("ghost"), Observation(cluster=None)),
        (
            desired_cluster(
                "sandbox",
                key=cluster_key("sandbox", project="Staging"),
                schedule=desired_schedule(items=[*default_items(), item("yearly", 1, 1, "years")]),
            ),
            observation_of(desired_cluster("sandbox"), state_name="UPDATING"),
        ),
    ]
    return list(reversed(pairs)) if reverse else pairs


OUTCOMES = {
    "billing": ((Outcome.APPLIED,), True),
    "catalog": ((Outcome.APPLIED,), True),
    "inventory": ((Outcome.OBSERVED,), False),
    "ledger": ((Outcome.OBSERVED,), False),
    "orders": ((Outcome.BLOCKED,), False),
    "payments": ((Outcome.BLOCKED,), False),
    "reports": ((Outcome.SKIPPED,), False),
    "search": ((Outcome.FAILED,), False),
    "sandbox": ((Outcome.SKIPPED,), False),
    "ghost": ((), False),
    "analytics": ((), True),
}


def rich_cycle(*, reverse: bool = False) -> CycleResult:
    """An applied cycle with a cluster in every status, drift of both kinds and problems."""
    pairs = _pairs(reverse=reverse)
    unknown = Problem.at(
        span(3, 3),
        Severity.ERROR,
        "unknown-field",
        "unknown field autoExportExabled in AtlasBackupSchedule default/weekend",
        "did you mean autoExportEnabled?",
    )
    dangling = problem(
        12, "backupRef names AtlasBackupSchedule default/nightly, which does not exist"
    )
    legacy = blocked_cluster("legacy", dangling)
    plan = plan_of(*pairs, blocked=[legacy], problems=[unknown, dangling])
    clusters = [d for d, _ in pairs]
    desired = dataclasses.replace(
        desired_state(*clusters, blocked=[legacy], problems=[unknown, dangling]),
        orphan_schedules=(resource(Kind.SCHEDULE, "weekend"),),
        orphan_policies=(resource(Kind.POLICY, "archive"),),
        edges=tuple(
            sorted(
                {
                    *edges_of(*clusters),
                    (legacy.deployment, resource(Kind.PROJECT, "production")),
                }
            )
        ),
    )
    results = tuple(
        cluster_result(
            c, *OUTCOMES[c.key.cluster][0], converged=OUTCOMES[c.key.cluster][1], failure=REFUSED
        )
        for c in plan.clusters
    )
    settled = frozenset(
        cluster_key(n) for n in ("analytics", "catalog", "inventory", "ledger", "payments")
    )
    return cycle_result(
        plan,
        clusters=results,
        applied=True,
        desired=desired,
        settled=settled,
        source=source_state(
            tip="9c0ffee5a1b2c3d4e5f60718293a4b5c6d7e8f90",
            notes=(
                source_note(
                    "unverified",
                    "main is at 9c0ffee5a1b2, whose signature could not be verified; the report"
                    " is for 4f2a9c1d7e3b, the last verified revision",
                ),
            ),
        ),
    )


def rich_adoptions() -> dict:
    """The inventory drift can be adopted; the ledger drift cannot."""
    inventory, ledger = cluster_key("inventory"), cluster_key("ledger")
    return {
        inventory: adoption(
            inventory, edit(resource_id=resource(Kind.SCHEDULE, "inventory"), value=3)
        ),
        ledger: adoption(
            ledger,
            reason="schedule default/standard also serves Production/orders and 8 other"
            " clusters; editing it would change them too",
        ),
    }


def rich_report(*, reverse: bool = False) -> report.DriftReport:
    """The drift report of the rich cycle."""
    return report.compute(rich_cycle(reverse=reverse), adoptions=rich_adoptions())


def _golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if os.environ.get("GITOPSD_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def test_markdown_matches_the_golden_file():
    """The rich report renders exactly as tests/data/golden/report.md."""
    text = report_markdown.render_markdown(
        rich_report(), report_dir=REPORT_DIR, generated_at=GENERATED_AT
    )
    assert text == _golden("report.md", text)


def test_json_matches_the_golden_file():
    """The rich report renders exactly as tests/data/golden/report.json."""
    text = report_json.render_json(rich_report(), generated_at=GENERATED_AT)
    assert text == _golden("report.json", text)


def test_commit_message_matches_the_golden_file():
    """The rich report's commit message reads exactly as tests/data/golden/report-commit.txt."""
    text = report.commit_message(rich_report())
    assert text == _golden("report-commit.txt", text)


def test_rich_report_has_every_status():
    """The golden case covers every status, drift both corrected and open, and adoptions."""
    drift = rich_report()
    assert all(n > 0 for _, n in drift.summary.by_status)
    assert (drift.summary.drift_corrected, drift.summary.resolved) == (1, 2)
    adoptions = [c.adoption.adoptable for c in drift.clusters if c.adoption is not None]
    assert sorted(adoptions) == [False, True]


def test_renderings_are_byte_identical_for_equal_inputs():
    """The same findings built in another order give the same bytes."""
    first, second = rich_report(), rich_report(reverse=True)
    assert report_json.render_json(first, generated_at=GENERATED_AT).encode() == (
        report_json.render_json(second, generated_at=GENERATED_AT).encode()
    )
    assert report_markdown.render_markdown(
        first, report_dir=REPORT_DIR, generated_at=GENERATED_AT
    ) == report_markdown.render_markdown(second, report_dir=REPORT_DIR, generated_at=GENERATED_AT)


def _keys(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        found = set()
        for key, inner in value.items():
            found.add(key)
            if key != "byStatus":  # keyed by status values, documented as such
                found |= _keys(inner)
        return found
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


def test_every_json_key_is_documented():
    """docs/drift-reports.md names every key report.json uses."""
    body = json.loads(report_json.render_json(rich_report(), generated_at=GENERATED_AT))
    documented = set(re.findall(r"`([A-Za-z]+)`", DOCS.read_text(encoding="utf-8")))
    assert _keys(body) - documented == set()
