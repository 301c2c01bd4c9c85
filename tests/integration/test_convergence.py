"""The convergence property: for any valid manifests and any Atlas state, apply converges.

Hypothesis draws valid desired states (1-3 clusters, each with its own policy and schedule)
and initial Atlas states (backup and PIT on or off, any valid schedule, copy settings), then
runs the real command line against the emulator over HTTP: ``apply`` must converge (exit 0),
``plan`` must then be empty (exit 0), and a third run must send no write at all (checked in
the emulator's request log). Destructive changes are allowed in the config, since the guard
is tested on its own; every cluster is IDLE and unpaused.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support.manifests import docs, project
from support.world import PROJECT_ID, PROJECT_NAME, World

from gitopsd.emulator import Emulator

Item = tuple[str, int, str, int]
REGIONS = (("AWS", "US_WEST_2"), ("GCP", "EUROPE_WEST_3"), ("AZURE", "EUROPE_NORTH"))
FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND")


@st.composite
def policy_items(draw: st.DrawFn) -> list[Item]:
    """A valid policy: retentions never shrink from frequent to rare items."""
    out: list[Item] = []
    floor_days = 1
    if draw(st.booleans()):
        hours = draw(st.sampled_from((1, 2, 4, 6, 8, 12)))
        days = draw(st.integers(1, 7))
        out.append(("hourly", hours, "days", days))
        floor_days = days
    if draw(st.booleans()):
        days = draw(st.integers(floor_days, 28))
        out.append(("daily", 1, "days", days))
        floor_days = days
    if draw(st.booleans()):
        weeks = draw(st.integers(max(1, math.ceil(floor_days / 7)), 4))
        out.append(("weekly", draw(st.integers(1, 7)), "weeks", weeks))
    floor_months = 1
    if draw(st.booleans()):
        months = draw(st.integers(1, 24))
        day = draw(st.sampled_from((*range(1, 29), 40)))
        out.append(("monthly", day, "months", months))
        floor_months = months
    if draw(st.booleans()) or not out:
        years = draw(st.integers(max(1, math.ceil(floor_months / 12)), 3))
        out.append(("yearly", draw(st.integers(1, 12)), "years", years))
    return out


copy_settings = st.lists(
    st.tuples(
        st.sampled_from(REGIONS),
        st.lists(st.sampled_from(FREQUENCIES), min_size=1, max_size=3, unique=True),
    ),
    max_size=2,
    unique_by=lambda c: c[0],
)


@st.composite
def cluster_case(draw: st.DrawFn, n: int) -> dict[str, object]:
    """Git's wishes and Atlas's state for one cluster."""
    wanted = draw(policy_items())
    has_hourly = any(i[0] == "hourly" for i in wanted)
    held_backup = draw(st.booleans())
    return {
        "name": f"cluster-{n}",
        "items": wanted,
        "hour": draw(st.none() | st.integers(0, 23)),
        "minute": draw(st.none() | st.integers(0, 59)),
        "window": draw(st.none() | st.integers(1, 7)),
        "copies": draw(copy_settings),
        "pit": draw(st.sampled_from((None, False, True) if has_hourly else (None, False))),
        "held_backup": held_backup,
        "held_pit": held_backup and draw(st.booleans()),
        "held_items": draw(policy_items()) if held_backup else None,
        "held_hour": draw(st.integers(0, 23)),
        "held_window": draw(st.integers(1, 7)),
        "held_copies": draw(copy_settings),
    }


def manifest_text(case: dict[str, object]) -> str:
    """Policy, schedule and deployment documents for one cluster."""
    name = str(case["name"])
    item_lines = "".join(
        f"    - {{frequencyType: {f}, frequencyInterval: {i},"
        f" retentionUnit: {u}, retentionValue: {v}}}\n"
        for f, i, u, v in case["items"]  # type: ignore[attr-defined]
    )
    fields = ""
    for key, value in (
        ("referenceHourOfDay", case["hour"]),
        ("referenceMinuteOfHour", case["minute"]),
        ("restoreWindowDays", case["window"]),
    ):
        if value is not None:
            fields += f"  {key}: {value}\n"
    copies = case["copies"]
    if copies:
        fields += "  copySettings:\n"
        for (provider, region), frequencies in copies:  # type: ignore[attr-defined]
            fields += (
                f"    - {{cloudProvider: {provider}, regionName: {region},"
                f" shouldCopyOplogs: false, frequencies: [{', '.join(frequencies)}]}}\n"
            )
    pit = "" if case["pit"] is None else f"    pitEnabled: {str(case['pit']).lower()}\n"
    return f"""
apiVersion: atlas.mongodb.com/v1
kind: AtlasBackupPolicy
metadata:
  name: {name}-policy
spec:
  items:
{item_lines}---
apiVersion: atlas.mongodb.com/v1
kind: AtlasBackupSchedule
metadata:
  name: {name}-schedule
spec:
  policy:
    name: {name}-policy
{fields}---
apiVersion: atlas.mongodb.com/v1
kind: AtlasDeployment
metadata:
  name: {name}
spec:
  projectRef:
    name: prod
  backupRef:
    name: {name}-schedule
  deploymentSpec:
    name: {name}
{pit}"""


def atlas_state(cases: list[dict[str, object]]) -> dict[str, object]:
    """The emulator's initial world for the drawn clusters."""
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    clusters, schedules = [], []
    for case in cases:
        clusters.append(
            {
                "projectId": PROJECT_ID,
                "name": case["name"],
                "instanceSize": "M30",
                "backupEnabled": case["held_backup"],
                "pitEnabled": case["held_pit"],
            }
        )
        if case["held_items"] is not None:
            schedules.append(
                {
                    "projectId": PROJECT_ID,
                    "clusterName": case["name"],
                    "referenceHourOfDay": case["held_hour"],
                    "restoreWindowDays": case["held_window"],
                    "copySettings": [
                        {"cloudProvider": p, "regionName": r, "frequencies": f}
                        for (p, r), f in case["held_copies"]  # type: ignore[attr-defined]
                    ],
                    "policies": [
                        {
                            "policyItems": [
                                dict(zip(keys, i, strict=True))
                                for i in case["held_items"]  # type: ignore[attr-defined]
                            ]
                        }
                    ],
                }
            )
    return {
        "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
        "clusters": clusters,
        "schedules": schedules,
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*(cluster_case(i) for i in range(n)))))
def test_apply_converges_and_then_writes_nothing(cases):
    """apply converges, plan is then empty, and a third run sends zero writes."""
    cases = list(cases)
    with tempfile.TemporaryDirectory() as tmp, Emulator(atlas_state(cases)) as emulator:
        world = World(Path(tmp), emulator)
        try:
            world.write(
                "backups.yaml",
                docs(project(atlas_name=PROJECT_NAME), *(manifest_text(c) for c in cases)),
            )
            world.config(reconcile="allow_destructive = true")
            applied = world.run("apply")
            assert applied.code == 0, applied.out + applied.err
            event(f"first apply wrote {'something' if world.writes() else 'nothing'}")
            planned = world.run("plan")
            assert planned.code == 0, planned.out
            world.forget_requests()
            again = world.run("apply")
            assert again.code == 0, again.out
            assert world.writes() == []
        finally:
            world.admin.close()
