"""Retention lengths compare sensibly across calendar units."""

from __future__ import annotations

import pytest

from gitopsd.core.model import Retention, RetentionUnit


def r(value: int, unit: str) -> Retention:
    """A retention of ``value`` ``unit``."""
    return Retention(value=value, unit=RetentionUnit(unit))


@pytest.mark.parametrize(
    ("longer", "shorter", "expected"),
    [
        (r(1, "years"), r(12, "months"), True),
        (r(12, "months"), r(1, "years"), True),
        (r(11, "months"), r(1, "years"), False),
        (r(2, "weeks"), r(14, "days"), True),
        (r(2, "weeks"), r(30, "days"), False),
        (r(1, "months"), r(31, "days"), True),
        (r(1, "months"), r(32, "days"), False),
        (r(4, "weeks"), r(1, "months"), True),
        (r(3, "weeks"), r(1, "months"), False),
        (r(1, "years"), r(366, "days"), True),
        (r(1, "years"), r(367, "days"), False),
        (r(365, "days"), r(1, "years"), True),
        (r(364, "days"), r(1, "years"), False),
    ],
)
def test_at_least_compares_calendar_units_sensibly(longer, shorter, expected):
    """Same-family units compare exactly; across families a month spans 28-31 days."""
    assert longer.at_least(shorter) is expected


def test_retention_reads_naturally():
    """Retentions print with singular and plural units."""
    assert (str(r(1, "weeks")), str(r(12, "months"))) == ("1 week", "12 months")
