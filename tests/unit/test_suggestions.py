"""Did-you-mean suggestions come from edit distance and stay quiet when nothing is close."""

from __future__ import annotations

import pytest

from gitopsd.core import schema


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("autoExportExabled", "autoExportEnabled"),
        ("restorewindowdays", "restoreWindowDays"),
        ("refrenceHourOfDay", "referenceHourOfDay"),
        ("copysetings", "copySettings"),
        ("banana", None),
    ],
)
def test_closest_finds_slips_only(word, expected):
    """Typos, case slips and missing letters map back to the field; unrelated words do not."""
    assert schema.closest(word, tuple(schema.SCHEDULE_SPEC.fields)) == expected


def test_distance_counts_a_transposition_as_one():
    """Swapped neighbours are one edit."""
    assert schema.distance("nmae", "name") == 1
