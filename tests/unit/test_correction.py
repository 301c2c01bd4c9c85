"""The record a cycle keeps of the corrections it is about to write: JSON there and back."""

from __future__ import annotations

import json

import pytest

from gitopsd.core.diff import FieldChange, Severity
from gitopsd.core.document import Span
from gitopsd.core.model import ClusterKey, ProjectKey
from gitopsd.core.outcome import Correction
from gitopsd.core.plan import ActionKind

KEY = ClusterKey(project=ProjectKey(name="Production"), cluster="orders-db")


def change(path: str, source: Span | None) -> FieldChange:
    """A field change with values of every JSON shape reports use."""
    return FieldChange(
        path=path,
        atlas=["a", "b"],
        git=None,
        severity=Severity.HIGH,
        destructive=True,
        why="copies removed",
        source=source,
    )


def test_a_correction_survives_json_unchanged():
    """Kinds, values, severities and positions (a file name with colons too) come back equal."""
    correction = Correction(
        key=KEY,
        drift=True,
        actions=(
            (ActionKind.PATCH_CLUSTER, (change("/pitEnabled", None),)),
            (
                ActionKind.PATCH_SCHEDULE,
                (change("/schedule/copySettings", Span("dir:odd/b.yaml", 12, 3)),),
            ),
        ),
        revision="a" * 40,
    )
    text = json.dumps(correction.to_json())
    assert Correction.from_json(KEY, json.loads(text)) == correction


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"drift": True, "revision": "r", "actions": "none"},
        {"drift": True, "revision": "r", "actions": [{"kind": "DELETE_CLUSTER", "changes": []}]},
        {"drift": True, "revision": "r", "actions": [{"kind": "patch-cluster", "changes": [1]}]},
        {
            "drift": True,
            "revision": "r",
            "actions": [
                {
                    "kind": "patch-cluster",
                    "changes": [
                        {
                            "path": "/x",
                            "atlas": {"not": "a value"},
                            "git": 1,
                            "severity": "high",
                            "destructive": False,
                            "why": "",
                            "source": None,
                        }
                    ],
                }
            ],
        },
    ],
)
def test_a_record_of_another_shape_is_none(data):
    """Damaged or foreign records are ignored, never half read."""
    assert Correction.from_json(KEY, data) is None


def test_an_unsettled_correction_survives_json_and_older_records_read_as_settled():
    """The unsettled mark comes back; a record written before it existed reads as settled."""
    unsettled = Correction(key=KEY, drift=False, actions=(), revision="abc", unsettled=True)
    data = json.loads(json.dumps(unsettled.to_json()))
    assert Correction.from_json(KEY, data) == unsettled
    del data["unsettled"]
    older = Correction.from_json(KEY, data)
    assert older is not None
    assert older.unsettled is False
