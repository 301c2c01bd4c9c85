"""The fault soak's world and its judge: a fleet in Git and Atlas, drift, and what may change.

``Fleet`` generates N clusters in P projects: each cluster has its own AtlasBackupSchedule
(a unique snapshot time, so a write meant for one cluster cannot pass for another's) on one
of four shared AtlasBackupPolicies; one in ten deployments is in observe mode and one in ten
carries ``gitopsd.io/allow-destructive``; PIT is on, off or left out. The matching emulator
state has most clusters as Git says, some with backup off and no schedule (gitopsd turns it
on, Atlas creates its default schedule and gitopsd replaces it), some behind Git (pending),
some ahead of it (the guard holds them), and one cluster per project that Git does not name.

``Held`` is a cluster as the emulator holds it; ``settle`` says what it must become once
gitopsd has converged it (the guard's rules from docs/reconcile.md, written out again here so
the judge does not share gitopsd's code); ``check_writes`` judges one stretch of cycles from
the state before, the state after and the request log in between. ``drift`` makes the
out-of-band changes. Nothing here talks to gitopsd; the driver is ``support.soak``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

API = "apiVersion: atlas.mongodb.com/v1"
Item = tuple[str, int, str, int]  # frequencyType, frequencyInterval, retentionUnit, value
Key = tuple[str, str]  # project id, cluster name
POLICIES: tuple[tuple[Item, ...], ...] = (
    (("hourly", 6, "days", 2), ("daily", 1, "days", 7), ("weekly", 6, "weeks", 4),
     ("monthly", 40, "months", 12)),
    (("hourly", 12, "days", 3), ("daily", 1, "days", 14)),
    (("hourly", 4, "days", 1), ("daily", 1, "days", 7), ("weekly", 1, "weeks", 8)),
    (("hourly", 6, "days", 2), ("daily", 1, "days", 10), ("monthly", 40, "months", 6)),
)  # fmt: skip
DEFAULT_ITEMS: frozenset[Item] = frozenset(
    {("hourly", 6, "days", 7), ("daily", 1, "days", 7), ("weekly", 1, "weeks", 4),
     ("monthly", 40, "months", 12)}
)  # fmt: skip
"""The schedule Atlas creates when backup is first enabled (docs/emulator.md)."""
EXTRA_ITEM: Item = ("yearly", 1, "years", 2)
ENFORCE, OBSERVE = "enforce", "observe"
MANAGED_SCHEDULE_KEYS = frozenset(
    {"referenceHourOfDay", "referenceMinuteOfHour", "restoreWindowDays", "policies", "copySettings"}
)
KINDS = (
    "hour",
    "window-shorter",
    "window-longer",
    "retention-shorter",
    "retention-longer",
    "item-removed",
    "item-added",
    "pit-flip",
    "backup-off",
)
"""Out-of-band changes. Restoring Git's value is harmless after hour, *-shorter, item-removed
and backup-off; it is destructive after window-longer, retention-longer, item-added and
pit-flip to on (where Git says off), so the guard must hold those unless the deployment allows
it. pit-flip on a deployment that leaves pitEnabled out changes an unmanaged field."""
WRITE_PATH = re.compile(
    r"^/api/atlas/v2/groups/(?P<project>[0-9a-f]{24})/clusters/(?P<name>[^/]+)"
    r"(?P<schedule>/backup/schedule)?$"
)


def project_id(p: int) -> str:
    """Project ``p``'s 24-hex id in the emulator."""
    return f"50a0c0ffee{p:014x}"


# -- values ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """The managed fields of a backup schedule; items and copies compare as sets."""

    hour: int
    minute: int
    window: int
    items: frozenset[Item]
    copies: frozenset[tuple[str, str]] = frozenset()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """One deployment as Git says it."""

    index: int
    project: int
    mode: str
    allow: bool
    pit: bool | None
    hour: int
    minute: int
    window: int
    policy: int

    @property
    def name(self) -> str:
        """The Atlas cluster name."""
        return f"soak-{self.index:05d}"

    @property
    def key(self) -> Key:
        """(project id, cluster name)."""
        return project_id(self.project), self.name

    def schedule(self) -> Schedule:
        """The schedule Git asks for."""
        return Schedule(self.hour, self.minute, self.window, frozenset(POLICIES[self.policy]))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """A cluster as the emulator holds it: flags, managed schedule, and the rest verbatim."""

    backup: bool
    pit: bool
    schedule: Schedule | None
    unmanaged: str  # the schedule's other fields, canonical JSON without ids
    raw: str  # flags and the whole schedule, canonical JSON without ids

    def outcome(self) -> tuple[bool, bool, Schedule | None]:
        """What convergence is judged on."""
        return self.backup, self.pit, self.schedule


def _strip_ids(schedule: Mapping[str, object]) -> dict[str, object]:
    out = {k: v for k, v in schedule.items() if k not in {"projectId", "clusterName"}}
    policies = out.get("policies")
    if isinstance(policies, list):
        out["policies"] = [
            {"policyItems": sorted(
                (json.dumps({k: v for k, v in i.items() if k != "id"}, sort_keys=True)
                 for i in p.get("policyItems", [])),
            )}
            for p in policies
        ]  # fmt: skip
    copies = out.get("copySettings")
    if isinstance(copies, list):
        out["copySettings"] = sorted(
            json.dumps({k: v for k, v in c.items() if k != "zoneId"}, sort_keys=True)
            for c in copies
        )
    return out


def _schedule_of(raw: Mapping[str, object]) -> Schedule:
    policies = raw.get("policies") or [{}]
    assert isinstance(policies, list)
    items = frozenset(
        (i["frequencyType"], i["frequencyInterval"], i["retentionUnit"], i["retentionValue"])
        for i in policies[0].get("policyItems", [])
    )
    copies = frozenset(
        (c["cloudProvider"], c["regionName"])
        for c in raw.get("copySettings") or []  # type: ignore[attr-defined]
    )
    return Schedule(
        int(raw["referenceHourOfDay"]),  # type: ignore[call-overload]
        int(raw["referenceMinuteOfHour"]),  # type: ignore[call-overload]
        int(raw["restoreWindowDays"]),  # type: ignore[call-overload]
        items,
        copies,
    )


def read_state(dump: Mapping[str, object]) -> dict[Key, Held]:
    """Every cluster of an ``/_emulator/state`` dump."""
    schedules = {
        (str(s["projectId"]), str(s["clusterName"])): s
        for s in dump["schedules"]  # type: ignore[attr-defined]
    }
    held: dict[Key, Held] = {}
    for c in dump["clusters"]:  # type: ignore[attr-defined]
        key = (str(c["projectId"]), str(c["name"]))
        raw_schedule = schedules.get(key)
        stripped = None if raw_schedule is None else _strip_ids(raw_schedule)
        unmanaged = {k: v for k, v in (stripped or {}).items() if k not in MANAGED_SCHEDULE_KEYS}
        held[key] = Held(
            backup=bool(c["backupEnabled"]),
            pit=bool(c["pitEnabled"]),
            schedule=None if raw_schedule is None else _schedule_of(raw_schedule),
            unmanaged=json.dumps(unmanaged, sort_keys=True),
            raw=json.dumps([c["backupEnabled"], c["pitEnabled"], stripped], sort_keys=True),
        )
    return held


# -- the guard, written out again ---------------------------------------------------------------

_DAYS = {"days": (1, 1), "weeks": (7, 7), "months": (28, 31), "years": (365, 366)}


def _shorter(old: Item, new: Item) -> bool:
    if old[2] == new[2]:
        return new[3] < old[3]
    return new[3] * _DAYS[new[2]][0] < old[3] * _DAYS[old[2]][1]


def destructive(old: Schedule, new: Schedule) -> list[str]:
    """What replacing ``old`` with ``new`` takes away (docs/reconcile.md), empty if nothing."""
    found = []
    if new.window < old.window:
        found.append(f"restore window {old.window} -> {new.window} days")
    new_items = {(i[0], i[1]): i for i in new.items}
    for item in sorted(old.items):
        kept = new_items.get((item[0], item[1]))
        if kept is None:
            found.append(f"item {item} removed")
        elif _shorter(item, kept):
            found.append(f"item {item} shortened to {kept[2:]}")
    found += [f"copy {c} removed" for c in sorted(old.copies - new.copies)]
    return found


def settle(held: Held, spec: Spec | None, *, fresh: bool) -> tuple[bool, bool, Schedule | None]:
    """What a converged gitopsd leaves of ``held``: Git's values where the guard lets them in.

    ``fresh``: the schedule is the default Atlas created when gitopsd turned backup on, which
    gitopsd may replace whatever it takes away.
    """
    if spec is None or spec.mode == OBSERVE:
        return held.outcome()
    pit = held.pit
    if spec.pit is True or (spec.pit is False and spec.allow):
        pit = spec.pit
    want = spec.schedule()
    schedule = want
    if held.schedule is not None and not (fresh or spec.allow) and destructive(held.schedule, want):
        schedule = held.schedule
    return True, pit, schedule


# -- the fleet ---------------------------------------------------------------------------------


class Fleet:
    """Deployments in Git and the clusters Atlas holds at the start."""

    def __init__(self, *, clusters: int, projects: int) -> None:
        if not 1 <= projects <= clusters or clusters > 1440:
            raise ValueError("need 1 <= projects <= clusters <= 1440 (unique snapshot times)")
        self.projects = projects
        per = [clusters // projects + (p < clusters % projects) for p in range(projects)]
        self.specs: dict[Key, Spec] = {}
        i = 0
        for p, count in enumerate(per):
            for _ in range(count):
                spec = Spec(
                    index=i,
                    project=p,
                    mode=OBSERVE if i % 10 == 7 else ENFORCE,
                    allow=i % 10 == 3,
                    pit=(True, False, None)[i % 3],
                    hour=i % 24,
                    minute=(i // 24) % 60,
                    window=2 + i % 5,
                    policy=i % len(POLICIES),
                )
                self.specs[spec.key] = spec
                i += 1
        self.unmanaged = [(project_id(p), f"legacy-{p:02d}") for p in range(projects)]

    def write(self, root: Path) -> None:
        """Write the manifests under ``root`` (replacing what a previous write left)."""
        policies = [
            f"{API}\nkind: AtlasBackupPolicy\nmetadata:\n  name: policy-{n}\nspec:\n  items:\n"
            + "".join(
                f"    - frequencyType: {t}\n      frequencyInterval: {iv}\n"
                f"      retentionUnit: {u}\n      retentionValue: {v}\n"
                for t, iv, u, v in items
            )
            for n, items in enumerate(POLICIES)
        ]
        files: dict[Path, list[str]] = {root / "policies.yaml": policies}
        for p in range(self.projects):
            folder = root / "projects" / f"project-{p:02d}"
            files[folder / "project.yaml"] = [
                (
                    f"{API}\nkind: AtlasProject\nmetadata:\n  name: project-{p:02d}\n"
                    f"spec:\n  name: Soak Project {p:02d}\n"
                )
            ]
            files[folder / "schedules.yaml"] = []
            files[folder / "deployments.yaml"] = []
        for spec in self.specs.values():
            folder = root / "projects" / f"project-{spec.project:02d}"
            files[folder / "schedules.yaml"].append(_schedule_doc(spec))
            files[folder / "deployments.yaml"].append(_deployment_doc(spec))
        for path, docs in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("---\n".join(docs), encoding="utf-8")

    def initial_state(self) -> dict[str, object]:
        """The emulator's world at the start: mostly in sync, some behind, some ahead of Git."""
        projects = [
            {"id": project_id(p), "name": f"Soak Project {p:02d}"} for p in range(self.projects)
        ]
        clusters: list[dict[str, object]] = []
        schedules: list[dict[str, object]] = []
        for spec in self.specs.values():
            pid, i = project_id(spec.project), spec.index
            pit = spec.pit if spec.pit is not None else i % 2 == 0
            if i % 17 == 5:  # backup off and never on: Atlas has no schedule yet
                clusters.append({"projectId": pid, "name": spec.name, "backupEnabled": False})
                continue
            clusters.append(
                {"projectId": pid, "name": spec.name, "backupEnabled": True, "pitEnabled": pit}
            )
            items = list(POLICIES[spec.policy])
            window = spec.window
            if i % 17 == 9:  # behind Git: restoring lengthens the window
                window = spec.window - 1
            if i % 23 == 11:  # ahead of Git: restoring would remove an item
                items.append(EXTRA_ITEM)
            schedules.append(
                {"projectId": pid, "clusterName": spec.name, **_schedule_json(spec, window, items)}
            )
        for pid, name in self.unmanaged:
            clusters.append({"projectId": pid, "name": name, "backupEnabled": True})
        return {"projects": projects, "clusters": clusters, "schedules": schedules}

    def change_git(self, rng: random.Random, count: int) -> list[str]:
        """Edit some deployments' schedules in Git (longer, or shorter: the guard's business)."""
        enforced = sorted(k for k, s in self.specs.items() if s.mode == ENFORCE)
        said = []
        for key in rng.sample(enforced, min(count, len(enforced))):
            spec = self.specs[key]
            window = 1 if rng.random() < 0.3 else spec.window + 3
            self.specs[key] = dataclasses.replace(spec, window=window)
            said.append(f"{spec.name}: restoreWindowDays {spec.window} -> {window}")
        return said


def _schedule_json(spec: Spec, window: int, items: Iterable[Item]) -> dict[str, object]:
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    return {
        "referenceHourOfDay": spec.hour,
        "referenceMinuteOfHour": spec.minute,
        "restoreWindowDays": window,
        "copySettings": [],
        "policies": [{"policyItems": [dict(zip(keys, i, strict=True)) for i in items]}],
    }


def _schedule_doc(spec: Spec) -> str:
    return (
        f"{API}\nkind: AtlasBackupSchedule\nmetadata:\n  name: {spec.name}\nspec:\n"
        f"  policy:\n    name: policy-{spec.policy}\n"
        f"  referenceHourOfDay: {spec.hour}\n  referenceMinuteOfHour: {spec.minute}\n"
        f"  restoreWindowDays: {spec.window}\n"
    )


def _deployment_doc(spec: Spec) -> str:
    notes = []
    if spec.mode == OBSERVE:
        notes.append('    gitopsd.io/mode: "observe"\n')
    if spec.allow:
        notes.append('    gitopsd.io/allow-destructive: "true"\n')
    annotations = "  annotations:\n" + "".join(notes) if notes else ""
    pit = "" if spec.pit is None else f"    pitEnabled: {str(spec.pit).lower()}\n"
    return (
        f"{API}\nkind: AtlasDeployment\nmetadata:\n  name: {spec.name}\n{annotations}"
        f"spec:\n  projectRef:\n    name: project-{spec.project:02d}\n"
        f"  backupRef:\n    name: {spec.name}\n  deploymentSpec:\n    name: {spec.name}\n"
        f"    backupEnabled: true\n{pit}"
    )


# -- drift -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """One out-of-band change: admin PATCH bodies for the cluster and the schedule."""

    key: Key
    kind: str
    cluster: dict[str, object] | None = None
    schedule: dict[str, object] | None = None


def drift(key: Key, kind: str, held: Held, spec: Spec) -> Drift | None:
    """The change ``kind`` to ``held``, or None when it does not apply to this cluster."""
    if kind == "pit-flip":
        return Drift(key=key, kind=kind, cluster={"pitEnabled": not held.pit})
    if kind == "backup-off":
        if not held.backup:
            return None
        return Drift(key=key, kind=kind, cluster={"backupEnabled": False, "pitEnabled": False})
    s = held.schedule
    if s is None:
        return None
    items = sorted(s.items)
    changed: dict[str, object] | None = None
    if kind == "hour":
        changed = {"referenceHourOfDay": (s.hour + 5) % 24}
    elif kind == "window-shorter" and spec.window > 1:
        changed = {"restoreWindowDays": 1}
    elif kind == "window-longer":
        changed = {"restoreWindowDays": spec.window + 7}
    elif kind in {"retention-shorter", "retention-longer"}:
        daily = next((i for i in items if i[0] == "daily"), None)
        if daily is not None:
            value = 1 if kind == "retention-shorter" else daily[3] + 20
            items = [i if i != daily else (*i[:3], value) for i in items]
            changed = _items_json(items)
    elif kind == "item-removed" and len(items) > 1:
        changed = _items_json([i for i in items if i[0] != "daily"])
    elif kind == "item-added" and EXTRA_ITEM not in s.items:
        changed = _items_json([*items, EXTRA_ITEM])
    return None if changed is None else Drift(key=key, kind=kind, schedule=changed)


def _items_json(items: Iterable[Item]) -> dict[str, object]:
    keys = ("frequencyType", "frequencyInterval", "retentionUnit", "retentionValue")
    return {"policies": [{"policyItems": [dict(zip(keys, i, strict=True)) for i in items]}]}


# -- judging writes ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """One PATCH in the emulator's request log."""

    key: Key
    schedule: bool
    status: int | None  # None: the connection was dropped

    @property
    def what(self) -> str:
        """``schedule`` or ``cluster``."""
        return "schedule" if self.schedule else "cluster"


def writes_of(log: Iterable[Mapping[str, object]]) -> list[Write]:
    """Every PATCH to the Atlas API in a slice of the request log."""
    found = []
    for entry in log:
        if entry["method"] != "PATCH":
            continue
        match = WRITE_PATH.match(str(entry["path"]))
        assert match is not None, f"a PATCH to an unknown path: {entry['path']}"
        status = entry["status"]
        found.append(
            Write(
                key=(match["project"], match["name"]),
                schedule=match["schedule"] is not None,
                status=status if isinstance(status, int) else None,
            )
        )
    return found


def flags_to_fix(held: Held, spec: Spec) -> bool:
    """Whether a flag differs from Git in a way the guard lets gitopsd fix.

    Backup is always managed (``backupRef``); PIT only when the deployment says it, and
    turning it off only when the deployment allows destructive changes.
    """
    pit_on = spec.pit is True and not held.pit
    pit_off = spec.pit is False and held.pit and spec.allow
    return not held.backup or pit_on or pit_off


def check_writes(
    before: Mapping[Key, Held],
    after: Mapping[Key, Held],
    log: Iterable[Mapping[str, object]],
    specs: Mapping[Key, Spec],
    fresh: set[Key],
) -> list[str]:
    """Everything wrong with what a stretch of cycles wrote; updates ``fresh`` as Atlas did.

    Rules: only managed enforce-mode clusters are written; a PATCH that succeeded targets a
    cluster whose flags (or schedule) differed from Git before; every change of state comes
    from such a PATCH and says what Git says; nothing destructive changes unless the
    deployment allows it (or the schedule is the default gitopsd's own enable created);
    unmanaged fields never change.
    """
    log = list(log)
    bad = [
        f"{e['method']} {e['path']}: gitopsd writes to Atlas with PATCH only"
        for e in log
        if e["method"] not in {"GET", "HEAD", "PATCH"} and str(e["path"]).startswith("/api/atlas/")
    ]
    done: defaultdict[Key, set[str]] = defaultdict(set)
    for w in writes_of(log):
        spec = specs.get(w.key)
        if spec is None or spec.mode == OBSERVE:
            why = "Git does not manage it" if spec is None else "it is in observe mode"
            bad.append(f"{w.what} PATCH to {w.key[1]} (status {w.status}), but {why}")
            continue
        if w.status == 200:
            done[w.key].add(w.what)
    for key, kinds in sorted(done.items()):
        spec, held = specs[key], before[key]
        if "cluster" in kinds and not flags_to_fix(held, spec):
            bad.append(f"cluster PATCH to {key[1]}, whose flags had nothing gitopsd may change")
        if "schedule" in kinds and held.schedule == spec.schedule():
            bad.append(f"schedule PATCH to {key[1]}, whose schedule was already as Git says")
    for key in sorted(before):
        b, a = before[key], after[key]
        if b.raw == a.raw:
            continue
        spec = specs.get(key)
        if spec is None or spec.mode == OBSERVE:
            bad.append(f"{key[1]} changed ({b.outcome()} -> {a.outcome()}) but may not be written")
            continue
        bad += _judge_flags(key, b, a, spec, done[key])
        bad += _judge_schedule(key, b, a, spec, done[key], fresh=key in fresh)
        if b.schedule is None and a.schedule is not None:
            fresh.add(key)
    for key, kinds in done.items():
        if "schedule" in kinds:
            fresh.discard(key)
    return bad


def _judge_flags(key: Key, b: Held, a: Held, spec: Spec, kinds: set[str]) -> list[str]:
    if (b.backup, b.pit) == (a.backup, a.pit):
        return []
    bad = []
    name = key[1]
    if "cluster" not in kinds:
        bad.append(f"{name}: flags changed without a cluster PATCH that succeeded")
    if b.backup and not a.backup:
        bad.append(f"{name}: backup turned off (Git never asks for that here)")
    if not b.backup and a.backup is not True:
        bad.append(f"{name}: backup not turned on")
    if a.pit != b.pit:
        if spec.pit is None:
            bad.append(f"{name}: pitEnabled changed, but Git leaves it out")
        elif a.pit != spec.pit:
            bad.append(f"{name}: pitEnabled set to {a.pit}, Git says {spec.pit}")
        elif b.pit and not spec.allow:
            bad.append(f"{name}: PIT turned off past the guard")
    return bad


def _judge_schedule(
    key: Key, b: Held, a: Held, spec: Spec, kinds: set[str], *, fresh: bool
) -> list[str]:
    name = key[1]
    if b.schedule is None and a.schedule is not None and "schedule" not in kinds:
        if a.schedule.items == DEFAULT_ITEMS and not b.backup and a.backup:
            return []  # Atlas's default, created by the enable
        return [f"{name}: a schedule appeared that is neither Atlas's default nor Git's"]
    if b.schedule == a.schedule and b.unmanaged == a.unmanaged:
        return []
    bad = []
    if "schedule" not in kinds:
        bad.append(f"{name}: schedule changed without a schedule PATCH that succeeded")
    if a.schedule != spec.schedule():
        bad.append(f"{name}: schedule written as {a.schedule}, Git says {spec.schedule()}")
    if b.unmanaged != a.unmanaged and b.schedule is not None:
        bad.append(f"{name}: unmanaged schedule fields changed: {b.unmanaged} -> {a.unmanaged}")
    if b.schedule is not None and a.schedule is not None and not (fresh or spec.allow):
        taken = destructive(b.schedule, a.schedule)
        if taken:
            bad.append(f"{name}: destructive change past the guard: {'; '.join(taken)}")
    return bad
