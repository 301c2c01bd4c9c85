"""Builders of manifest text: a valid baseline each test bends one way."""

from __future__ import annotations

from gitopsd.core.problems import Problem


def project(name: str = "prod", atlas_name: str = "Production", namespace: str = "") -> str:
    """An AtlasProject document."""
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"""
apiVersion: atlas.mongodb.com/v1
kind: AtlasProject
metadata:
  name: {name}{ns}
spec:
  name: {atlas_name}
"""


ITEMS = """
    - frequencyType: hourly
      frequencyInterval: 6
      retentionUnit: days
      retentionValue: 2
    - frequencyType: daily
      frequencyInterval: 1
      retentionUnit: days
      retentionValue: 7
"""


def policy(name: str = "standard", items: str = ITEMS) -> str:
    """An AtlasBackupPolicy document with the given items block."""
    return f"""
apiVersion: atlas.mongodb.com/v1
kind: AtlasBackupPolicy
metadata:
  name: {name}
spec:
  items:{items}"""


def schedule(name: str = "nightly", policy_name: str = "standard", extra: str = "") -> str:
    """An AtlasBackupSchedule document; ``extra`` is more spec lines, indented two spaces."""
    return f"""
apiVersion: atlas.mongodb.com/v1
kind: AtlasBackupSchedule
metadata:
  name: {name}
spec:
  policy:
    name: {policy_name}
  referenceHourOfDay: 3
  referenceMinuteOfHour: 30
  restoreWindowDays: 2
{extra}"""


def deployment(
    *,
    name: str = "orders",
    cluster: str = "orders-db",
    schedule_name: str = "nightly",
    project_name: str = "prod",
    flags: str = "    backupEnabled: true\n",
    extra: str = "",
) -> str:
    """An AtlasDeployment document targeting ``cluster``."""
    backup = f"  backupRef:\n    name: {schedule_name}\n" if schedule_name else ""
    return f"""
apiVersion: atlas.mongodb.com/v1
kind: AtlasDeployment
metadata:
  name: {name}
spec:
  projectRef:
    name: {project_name}
{backup}  deploymentSpec:
    name: {cluster}
{flags}{extra}"""


def docs(*parts: str) -> str:
    """Join documents into one multi-document file."""
    return "---".join(part if part.startswith("\n") else "\n" + part for part in parts).lstrip("\n")


def codes(problems: tuple[Problem, ...]) -> list[str]:
    """The codes of the problems, in order."""
    return [p.code for p in problems]


def only(problems: tuple[Problem, ...], code: str) -> Problem:
    """The single problem with ``code``; fails the test if there are none or several."""
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, f"expected one {code}, got {[str(p) for p in problems]}"
    return found[0]


def line_of(path: object, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line containing ``needle`` in the file at ``path``."""
    from pathlib import Path

    hits = [
        n for n, line in enumerate(Path(str(path)).read_text().splitlines(), 1) if needle in line
    ]
    assert len(hits) >= nth, f"{needle!r} not found {nth} times in {path}"
    return hits[nth - 1]
