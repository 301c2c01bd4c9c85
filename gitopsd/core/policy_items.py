"""A backup policy's items: what each one says, and the rules of SPEC §1 over them.

Owns which frequencyInterval each frequencyType takes, the shortest retention per frequency,
and the rules across items: at most one hourly and one daily item, no two items alike, and a
less frequent item kept at least as long as a more frequent one. An item with a missing or
wrong field is still checked for everything its other fields say, so every problem of a policy
shows at once; only complete, valid items become ``PolicyItem``s. Field types and required
fields are the schema walker's, and their problems are never repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitopsd.core import schema
from gitopsd.core.document import Mapping, Node, Scalar, Span
from gitopsd.core.model import Frequency, PolicyItem, Retention, RetentionUnit
from gitopsd.core.problems import Problem, Severity, with_article

# SPEC §1: which frequencyInterval values each frequencyType accepts.
INTERVALS: dict[Frequency, tuple[int, ...]] = {
    Frequency.HOURLY: (1, 2, 4, 6, 8, 12),
    Frequency.DAILY: (1,),
    Frequency.WEEKLY: tuple(range(1, 8)),
    Frequency.MONTHLY: (*range(1, 29), 40),
    Frequency.YEARLY: tuple(range(1, 13)),
}
INTERVAL_WORDS = {
    Frequency.HOURLY: "1, 2, 4, 6, 8 or 12 (the hours between snapshots)",
    Frequency.DAILY: "only 1",
    Frequency.WEEKLY: "1-7 (the day of the week: 1 is Monday, 7 is Sunday)",
    Frequency.MONTHLY: "1-28 (the day of the month), or 40 for the last day of the month",
    Frequency.YEARLY: "1-12 (the month: 1 is January)",
}
"""The allowed intervals of each frequencyType, in words, for hints."""

# SPEC §1: the shortest retention Atlas accepts per frequency, in each unit.
MIN_RETENTION: dict[Frequency, dict[RetentionUnit, int]] = {
    Frequency.WEEKLY: {
        RetentionUnit.DAYS: 7,
        RetentionUnit.WEEKS: 1,
        RetentionUnit.MONTHS: 1,
        RetentionUnit.YEARS: 1,
    },
    Frequency.MONTHLY: {
        RetentionUnit.DAYS: 31,
        RetentionUnit.WEEKS: 5,
        RetentionUnit.MONTHS: 1,
        RetentionUnit.YEARS: 1,
    },
    Frequency.YEARLY: {
        RetentionUnit.DAYS: 365,
        RetentionUnit.WEEKS: 53,
        RetentionUnit.MONTHS: 12,
        RetentionUnit.YEARS: 1,
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Said:
    """What one item says, as far as its fields can be read."""

    span: Span
    frequency: Frequency | None
    interval: int | None
    retention: Retention | None
    valid: bool


def read(nodes: tuple[Node, ...]) -> tuple[tuple[PolicyItem, ...], tuple[Problem, ...]]:
    """The valid items of ``spec.items``, and every rule they break."""
    problems: list[Problem] = []
    said = [_read_item(node, problems) for node in nodes]
    _check_across(said, problems)
    items = tuple(
        PolicyItem(frequency=s.frequency, interval=s.interval, retention=s.retention, span=s.span)
        for s in said
        if s.valid and s.frequency and s.interval is not None and s.retention
    )
    return items, tuple(problems)


def _field(node: Node, name: str) -> Scalar | None:
    value = node.get(name) if isinstance(node, Mapping) else None
    return value if isinstance(value, Scalar) else None


def _int(node: Scalar | None) -> int | None:
    if node is None or isinstance(node.value, bool) or not isinstance(node.value, int):
        return None
    return node.value


def _choice(node: Scalar | None, choices: tuple[str, ...]) -> str | None:
    if node is None or not isinstance(node.value, str) or node.value not in choices:
        return None
    return node.value


def _read_item(node: Node, problems: list[Problem]) -> _Said:
    frequency_text = _choice(_field(node, "frequencyType"), schema.FREQUENCY_TYPES)
    frequency = Frequency(frequency_text) if frequency_text else None
    interval_node = _field(node, "frequencyInterval")
    interval = _int(interval_node)
    unit = _choice(_field(node, "retentionUnit"), schema.RETENTION_UNITS)
    value_node = _field(node, "retentionValue")
    value = _int(value_node)
    retention = None
    if unit is not None and value is not None and value >= 1:
        retention = Retention(value=value, unit=RetentionUnit(unit))
    valid = interval is not None
    if interval_node is not None and interval is not None:
        valid = _check_interval(interval_node, interval, frequency, problems)
    if frequency is not None and retention is not None and value_node is not None:
        minimum = MIN_RETENTION.get(frequency, {}).get(retention.unit)
        if minimum is not None and retention.value < minimum:
            shortest = Retention(value=minimum, unit=retention.unit)
            problems.append(
                Problem.at(
                    value_node.span,
                    Severity.ERROR,
                    "retention-too-short",
                    f"{with_article(frequency)} item must be kept at least {shortest},"
                    f" not {retention}",
                    f"set retentionValue to {minimum} or more",
                )
            )
    return _Said(
        span=node.span, frequency=frequency, interval=interval, retention=retention, valid=valid
    )


def _check_interval(
    node: Scalar, interval: int, frequency: Frequency | None, problems: list[Problem]
) -> bool:
    """Whether ``interval`` suits ``frequency`` (any type when it is unknown); if not, why."""
    if frequency is None:
        if interval in schema.FREQUENCY_INTERVALS:
            return True
        problems.append(
            Problem.at(
                node.span,
                Severity.ERROR,
                "invalid-value",
                f"frequencyInterval {interval} is not allowed",
                "frequencyInterval takes 1-28, or 40 for the last day of the month; which of"
                " them depends on frequencyType",
            )
        )
        return False
    if interval in INTERVALS[frequency]:
        return True
    problems.append(
        Problem.at(
            node.span,
            Severity.ERROR,
            "invalid-interval",
            f"frequencyInterval {interval} is not valid for {with_article(frequency)} item",
            f"{frequency} items take {INTERVAL_WORDS[frequency]}",
        )
    )
    return False


def _check_across(said: list[_Said], problems: list[Problem]) -> None:
    seen: dict[tuple[Frequency, int], _Said] = {}
    per_frequency: dict[Frequency, _Said] = {}
    for item in said:
        if item.frequency is None:
            continue
        if item.interval is not None:
            same = seen.get((item.frequency, item.interval))
            if same is not None:
                problems.append(
                    Problem.at(
                        item.span,
                        Severity.ERROR,
                        "duplicate-item",
                        f"a second {item.frequency} item with interval {item.interval}"
                        f" (first at line {same.span.line})",
                        "keep one item per frequency and interval",
                    )
                )
                continue
            seen[(item.frequency, item.interval)] = item
        if item.frequency in (Frequency.HOURLY, Frequency.DAILY):
            first = per_frequency.get(item.frequency)
            if first is not None:
                problems.append(
                    Problem.at(
                        item.span,
                        Severity.ERROR,
                        "duplicate-frequency",
                        f"a policy takes at most one {item.frequency} item"
                        f" (first at line {first.span.line})",
                        "merge them into one item",
                    )
                )
                continue
        per_frequency.setdefault(item.frequency, item)
    _check_order(per_frequency, problems)


def _check_order(per_frequency: dict[Frequency, _Said], problems: list[Problem]) -> None:
    longest: tuple[Frequency, Retention, Span] | None = None
    for frequency in sorted(per_frequency, key=lambda f: f.rank):
        item = per_frequency[frequency]
        if item.retention is None:
            continue
        if longest is not None and not item.retention.at_least(longest[1]):
            problems.append(
                Problem.at(
                    item.span,
                    Severity.ERROR,
                    "retention-order",
                    f"the {frequency} item keeps snapshots {item.retention}, less than the"
                    f" {longest[0]} item's {longest[1]} (line {longest[2].line})",
                    "a less frequent item must be kept at least as long as a more frequent one",
                )
            )
        if longest is None or item.retention.at_least(longest[1]):
            longest = (frequency, item.retention, item.span)
