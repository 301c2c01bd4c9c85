"""report.json: the documented shape, stable bytes, the time outside the fingerprint."""

from __future__ import annotations

import json

from support.builders import (
    adoption,
    cluster_key,
    cycle_result,
    desired_cluster,
    desired_schedule,
    edit,
    failed_observation,
    observation_of,
    plan_of,
    source_note,
    source_state,
)

from gitopsd.core import report, report_json

AT = "2025-03-14T09:26:53Z"
ORDERS = cluster_key("orders")


def window(name: str = "orders"):
    """A cluster whose restore window Git changes from 7 to 14."""
    wanted = desired_cluster(name, schedule=desired_schedule(restore_window_days=14))
    return wanted, observation_of(desired_cluster(name))


def in_sync(name: str):
    """A converged cluster."""
    return desired_cluster(name), observation_of(desired_cluster(name))


def body(*pairs, generated_at: str = AT, **cycle) -> dict:
    """report.json of a plan-only cycle of ``pairs``, parsed."""
    adoptions = cycle.pop("adoptions", {})
    drift = report.compute(cycle_result(plan_of(*pairs), **cycle), adoptions=adoptions)
    return json.loads(report_json.render_json(drift, generated_at=generated_at))


def test_schema_version_is_1():
    """The document carries schemaVersion 1."""
    assert body(window())["schemaVersion"] == 1


def test_text_ends_with_one_newline_and_sorted_keys():
    """Two-space indent, keys sorted, one trailing newline."""
    drift = report.compute(cycle_result(plan_of(window(), in_sync("b"))))
    text = report_json.render_json(drift, generated_at=AT)
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        inner = [_keys(v) for k, v in value.items() if k != "byStatus"]
        return set(value) | set().union(*inner)
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def test_keys_are_camel_case():
    """No key has an underscore or a hyphen (status counts are keyed by status values)."""
    found = _keys(body(window(), in_sync("b"), settled=frozenset({ORDERS})))
    assert [k for k in found if "_" in k or "-" in k] == []


def test_generated_at_is_shown_but_not_fingerprinted():
    """Rendering at another time changes generatedAt and nothing else."""
    one, two = body(window()), body(window(), generated_at="2030-01-01T00:00:00Z")
    assert (one.pop("generatedAt"), two.pop("generatedAt")) == (AT, "2030-01-01T00:00:00Z")
    assert one == two


def test_fingerprint_is_the_reports():
    """The fingerprint field is report.fingerprint of the same report."""
    drift = report.compute(cycle_result(plan_of(window())))
    assert json.loads(report_json.render_json(drift, generated_at=AT))["fingerprint"] == (
        report.fingerprint(drift)
    )


def test_every_cluster_is_listed_in_key_order():
    """In-sync clusters are listed too, sorted by project and name."""
    clusters = body(window("zeta"), in_sync("alpha"))["clusters"]
    assert [(c["key"], c["status"]) for c in clusters] == [
        ("Production/alpha", "in-sync"),
        ("Production/zeta", "pending"),
    ]


def test_summary_counts_by_status_and_flags():
    """The summary has every status count and the drift and resolution counters."""
    summary = body(window(), in_sync("b"), settled=frozenset({ORDERS}))["summary"]
    assert summary == {
        "byStatus": {
            "blocked": 0,
            "drifted": 1,
            "error": 0,
            "in-sync": 1,
            "pending": 0,
            "skipped": 0,
        },
        "clusters": 2,
        "drift": 1,
        "driftCorrected": 0,
        "notPlanned": 0,
        "orphans": 0,
        "problems": 0,
        "resolved": 0,
    }


def test_change_carries_both_values_severity_and_manifest_location():
    """A change has path, git, atlas, severity, destructive, why and a source location."""
    (change,) = body(window())["clusters"][0]["changes"]
    assert change == {
        "atlas": 7,
        "destructive": False,
        "git": 14,
        "path": "/schedule/restoreWindowDays",
        "severity": "low",
        "source": {"column": 1, "file": "backups.yaml", "line": 22},
        "why": "lengthens the window",
    }


def test_cluster_failure_carries_atlas_error_verbatim():
    """errorCode, detail and status are Atlas's, as they came."""
    (cluster,) = body((desired_cluster(), failed_observation()))["clusters"]
    assert cluster["failure"] == {
        "detail": "Unexpected error.",
        "errorCode": "UNEXPECTED_ERROR",
        "message": "Atlas answered 500 three times",
        "status": 500,
    }
    assert cluster["status"] == "error"


def test_adoption_edits_are_listed_with_file_pointer_and_value():
    """An adoptable drift lists each edit in full."""
    (cluster,) = body(
        window(),
        settled=frozenset({ORDERS}),
        adoptions={ORDERS: adoption(ORDERS, edit(value=7))},
    )["clusters"]
    assert cluster["adoption"] == {
        "adoptable": True,
        "edits": [
            {
                "file": "backups.yaml",
                "op": "set",
                "path": ["spec", "restoreWindowDays"],
                "pointer": "/schedule/restoreWindowDays",
                "resource": {
                    "kind": "AtlasBackupSchedule",
                    "name": "standard",
                    "namespace": "default",
                },
                "value": 7,
            }
        ],
        "reason": "",
    }


def test_source_lists_revision_tip_and_notes():
    """The source section keeps revision, tip and notes as the cycle had them."""
    source = body(
        window(),
        source=source_state("a" * 40, tip="b" * 40, notes=(source_note(),)),
    )["source"]
    assert source == {
        "branch": "main",
        "notes": [{"code": "unverified", "message": "the tip is not signed"}],
        "revision": "a" * 40,
        "tip": "b" * 40,
        "url": "https://git.example.com/acme/atlas-backups.git",
    }


def test_needs_attention_is_included():
    """needsAttention says whether a pull request should be open."""
    assert (body(window())["needsAttention"], body(in_sync("a"))["needsAttention"]) == (
        True,
        False,
    )
