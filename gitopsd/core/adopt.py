"""Adopting drift: the manifest edits that make Git say what Atlas now holds (observe mode).

Where a drifted cluster's values live in manifests that serve only that cluster (its
deployment, a schedule no other deployment uses, a policy no other schedule uses), editing them
to Atlas's values accepts the drift without changing any other cluster. ``compute`` returns, per
drifted cluster, either those edits or the reason they cannot be made. Pure: the shell applies
the edits to the files with round-trip YAML and commits them on the report branch.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from gitopsd.core import policy_items, schema
from gitopsd.core.diff import FieldChange
from gitopsd.core.model import (
    ClusterKey,
    CopySetting,
    DesiredCluster,
    Frequency,
    Kind,
    ResourceId,
)
from gitopsd.core.observed import ObservedCluster, ObservedCopySetting, ObservedItem
from gitopsd.core.observed import ObservedSchedule as Held
from gitopsd.core.outcome import CycleResult
from gitopsd.core.plan import ClusterPlan, Observation

EditValue = bool | int | str | None | list["EditValue"] | dict[str, "EditValue"]
"""A JSON-shaped value to write into a manifest."""


class EditOp(enum.StrEnum):
    """What an edit does at its path."""

    SET = "set"
    DELETE = "delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    """One change to one manifest document.

    ``file`` is the manifest's path relative to the repository root (as in ``Span.file``);
    ``resource`` names the document within the file; ``path`` leads from the document's root
    (``("spec", "restoreWindowDays")``; an ``int`` indexes a list); ``pointer`` is the field
    change it adopts. ``after`` places a key the document does not have yet: after the first of
    these sibling keys that exists, else at the end of its mapping.
    """

    file: str
    resource: ResourceId
    path: tuple[str | int, ...]
    op: EditOp
    value: EditValue = None
    pointer: str = ""
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Adoption:
    """Whether a drifted cluster's drift can be adopted, and how.

    ``edits`` is empty and ``reason`` says why when it cannot be adopted.
    """

    cluster: ClusterKey
    edits: tuple[Edit, ...] = ()
    reason: str = ""

    @property
    def adoptable(self) -> bool:
        """Whether merging the report branch would accept this drift."""
        return bool(self.edits) and not self.reason


FLAGS = {"/backupEnabled": "backupEnabled", "/pitEnabled": "pitEnabled"}
"""Cluster flags: ``spec.deploymentSpec.<name>`` of the deployment."""
SCALARS = {
    f"/schedule/{name}": name
    for name in (
        "referenceHourOfDay",
        "referenceMinuteOfHour",
        "restoreWindowDays",
        "autoExportEnabled",
        "useOrgAndGroupNamesInExportPrefix",
    )
}
"""Schedule fields: ``spec.<name>`` of the schedule."""
EXPORT = "/schedule/export"
ITEMS = "/schedule/policyItems/"
COPIES = "/schedule/copySettings/"
_BOOLEANS = frozenset({"autoExportEnabled", "useOrgAndGroupNamesInExportPrefix"})
_ATTRIBUTES = {
    "referenceHourOfDay": "reference_hour_of_day",
    "referenceMinuteOfHour": "reference_minute_of_hour",
    "restoreWindowDays": "restore_window_days",
    "autoExportEnabled": "auto_export_enabled",
    "useOrgAndGroupNamesInExportPrefix": "use_org_and_group_names_in_export_prefix",
}

ItemKey = tuple[Frequency, int]
CopyKey = tuple[str, str]


def compute(cycle: CycleResult, drifted: Iterable[ClusterKey]) -> tuple[Adoption, ...]:
    """Per drifted cluster (sorted, once each): the edits that accept its drift, or why not.

    All or nothing per cluster: every field change of the cluster's plan must be written into
    a manifest that serves only this cluster (its deployment; a schedule no other deployment
    uses; a policy no other schedule uses), with a value a manifest can express.
    """
    plans = {p.key: p for p in cycle.plan.clusters}
    users = _users(cycle)
    adoptions: list[Adoption] = []
    for key in sorted(set(drifted)):
        cluster_plan = plans.get(key)
        if cluster_plan is None:
            reason = f"cluster {key} is not in this cycle's plan: nothing to adopt"
            adoptions.append(Adoption(cluster=key, reason=reason))
            continue
        adoptions.append(_adopt(cluster_plan, cycle.observation(key), users))
    return tuple(adoptions)


def _users(cycle: CycleResult) -> dict[ResourceId, frozenset[ResourceId]]:
    """Who uses each schedule (deployments) and each policy (schedules), orphans and all."""
    pairs: set[tuple[ResourceId, ResourceId]] = set()
    clusters = [p.desired for p in cycle.plan.clusters]
    if cycle.desired is not None:
        pairs.update(cycle.desired.edges)
        clusters.extend(cycle.desired.clusters)
    for cluster in clusters:
        if cluster.schedule_id is not None:
            pairs.add((cluster.deployment, cluster.schedule_id))
            if cluster.policy_id is not None:
                pairs.add((cluster.schedule_id, cluster.policy_id))
    found: defaultdict[ResourceId, set[ResourceId]] = defaultdict(set)
    uses = {Kind.SCHEDULE: Kind.DEPLOYMENT, Kind.POLICY: Kind.SCHEDULE}
    for user, used in pairs:
        if uses.get(used.kind) is user.kind:
            found[used].add(user)
    return {used: frozenset(who) for used, who in found.items()}


def _name(rid: ResourceId) -> str:
    return f"{rid.namespace}/{rid.name}"


def _listing(names: Iterable[str]) -> str:
    ordered = sorted(names)
    if len(ordered) <= 1:
        return "".join(ordered)
    return ", ".join(ordered[:-1]) + " and " + ordered[-1]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Target:
    """A manifest document edits go to."""

    file: str
    resource: ResourceId


@dataclass(slots=True, kw_only=True)
class _Draft:
    """One cluster's adoption while it is worked out."""

    desired: DesiredCluster
    edits: list[Edit] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def target(self, pointer: str, resource: ResourceId | None, what: str) -> _Target | None:
        span = self.desired.source(pointer)
        if resource is None or span is None:
            self.reasons.append(f"where the {what} of {self.desired.key} is written is not known")
            return None
        return _Target(file=span.file, resource=resource)

    def add(
        self,
        target: _Target,
        path: tuple[str | int, ...],
        value: EditValue,
        pointer: str,
        *,
        op: EditOp = EditOp.SET,
        after: tuple[str, ...] = (),
    ) -> None:
        self.edits.append(
            Edit(
                file=target.file,
                resource=target.resource,
                path=path,
                op=op,
                value=value,
                pointer=pointer,
                after=after,
            )
        )


def _adopt(
    cluster_plan: ClusterPlan,
    seen: Observation | None,
    users: dict[ResourceId, frozenset[ResourceId]],
) -> Adoption:
    desired = cluster_plan.desired
    changes = cluster_plan.changes
    if not changes:
        return Adoption(cluster=desired.key, reason="Atlas holds what Git says: nothing to adopt")
    draft = _Draft(desired=desired)
    flags = [c for c in changes if c.path in FLAGS]
    in_schedule = [c for c in changes if c.path in SCALARS or c.path == EXPORT]
    items = [c for c in changes if c.path.startswith(ITEMS)]
    copies = [c for c in changes if c.path.startswith(COPIES)]
    known = {id(c) for c in (*flags, *in_schedule, *items, *copies)}
    draft.reasons.extend(
        f"{c.path} cannot be written into a manifest" for c in changes if id(c) not in known
    )
    cluster = seen.cluster if seen is not None else None
    held = seen.schedule if seen is not None else None
    if flags:
        _flags(draft, flags, cluster)
    if in_schedule or items or copies:
        _schedule(draft, held, users, in_schedule=in_schedule, items=items, copies=copies)
    _check_result(draft, cluster, held, changes)
    if draft.reasons:
        return Adoption(cluster=desired.key, reason="; ".join(dict.fromkeys(draft.reasons)))
    return Adoption(cluster=desired.key, edits=tuple(draft.edits))


# -- the deployment ----------------------------------------------------------------------------


def _flags(draft: _Draft, flags: list[FieldChange], cluster: ObservedCluster | None) -> None:
    desired = draft.desired
    if cluster is None:
        draft.reasons.append(f"Atlas's cluster {desired.key} was not read")
        return
    target = draft.target("/deployment", desired.deployment, "deployment")
    if target is None:
        return
    for change in flags:
        name = FLAGS[change.path]
        value = cluster.backup_enabled if name == "backupEnabled" else cluster.pit_enabled
        if name == "backupEnabled" and not value and desired.schedule_id is not None:
            draft.reasons.append(
                f"Atlas has cloud backup off, but deployment {_name(desired.deployment)} turns"
                f" it on with its backupRef to schedule {_name(desired.schedule_id)}: to accept"
                " it, remove backupRef and set backupEnabled: false in Git; otherwise turn"
                " backup on again in Atlas"
            )
            continue
        after = ("backupEnabled", "name") if name == "pitEnabled" else ("name",)
        draft.add(target, ("spec", "deploymentSpec", name), value, change.path, after=after)


# -- the schedule and its policy ---------------------------------------------------------------


def _schedule(
    draft: _Draft,
    held: Held | None,
    users: dict[ResourceId, frozenset[ResourceId]],
    *,
    in_schedule: list[FieldChange],
    items: list[FieldChange],
    copies: list[FieldChange],
) -> None:
    desired = draft.desired
    schedule_id = desired.schedule_id
    if held is None or desired.schedule is None or schedule_id is None:
        draft.reasons.append(f"Atlas's backup schedule of {desired.key} was not read")
        return
    others = sorted(_name(d) for d in users.get(schedule_id, ()) if d != desired.deployment)
    if others:
        draft.reasons.append(
            f"schedule {_name(schedule_id)} also serves {_listing(others)}: adopting would"
            " change them too; change the schedule in Git or revert the change in Atlas"
        )
    policy_id = desired.policy_id
    if items and policy_id is not None:
        schedules = users.get(policy_id, frozenset()) | {schedule_id}
        if len(schedules) > 1:
            draft.reasons.append(
                f"the policy {_name(policy_id)} is shared by {len(schedules)} schedules"
                f" ({_listing(_name(s) for s in schedules)}): adopting would change the others'"
                " clusters too; change the policy in Git or revert the change in Atlas"
            )
    if draft.reasons:
        return
    target = draft.target("/schedule", schedule_id, "schedule")
    if target is not None:
        for change in in_schedule:
            if change.path == EXPORT:
                _export(draft, target, held, change)
            else:
                _scalar(draft, target, held, change)
        if copies:
            _copies(draft, target, held, copies)
    if items:
        policy = draft.target("/policy", policy_id, "policy")
        if policy is not None:
            _items(draft, policy, held)


def _scalar(draft: _Draft, target: _Target, held: Held, change: FieldChange) -> None:
    name = SCALARS[change.path]
    value = getattr(held, _ATTRIBUTES[name])
    if name in _BOOLEANS:
        value = bool(value)
    elif value is None:
        draft.reasons.append(
            f"Atlas holds no {name} for {draft.desired.key}, and a manifest cannot ask for none"
            f" (leaving {name} out means not managed)"
        )
        return
    draft.add(target, ("spec", name), value, change.path)


def _export(draft: _Draft, target: _Target, held: Held, change: FieldChange) -> None:
    export = held.export
    wanted = draft.desired.schedule.export if draft.desired.schedule else None
    if export is None:
        draft.add(target, ("spec", "export"), None, change.path, op=EditOp.DELETE)
        return
    if export.frequency not in schema.EXPORT_FREQUENCIES:
        draft.reasons.append(
            f"Atlas exports {draft.desired.key} {export.frequency}, which a manifest cannot"
            f" express ({' or '.join(schema.EXPORT_FREQUENCIES)})"
        )
        return
    if wanted is None:
        value: EditValue = {"exportBucketId": export.bucket_id, "frequencyType": export.frequency}
        draft.add(target, ("spec", "export"), value, change.path)
        return
    if export.bucket_id != wanted.bucket_id:
        draft.add(target, ("spec", "export", "exportBucketId"), export.bucket_id, change.path)
    if export.frequency != wanted.frequency:
        draft.add(target, ("spec", "export", "frequencyType"), export.frequency, change.path)


def _item_pointer(key: ItemKey) -> str:
    return f"{ITEMS}{key[0]}/{key[1]}"


def _item_value(item: ObservedItem) -> EditValue:
    return {
        "frequencyType": str(item.frequency),
        "frequencyInterval": item.interval,
        "retentionUnit": str(item.retention.unit),
        "retentionValue": item.retention.value,
    }


def _items(draft: _Draft, target: _Target, held: Held) -> None:
    """Rewrite the policy's items to Atlas's: in place where frequency and interval match."""
    schedule = draft.desired.schedule
    assert schedule is not None
    problem = _items_problem(held.items)
    if problem is not None:
        draft.reasons.append(f"Atlas's policy items {problem}; a manifest cannot express that")
        return
    # A valid policy's items are its list entries, one each, in the order they are written.
    written = sorted(schedule.items, key=lambda i: (i.span.line, i.span.column))
    atlas = {(i.frequency, i.interval): i for i in held.items}
    gone: list[int] = []
    for index, item in enumerate(written):
        key = (item.frequency, item.interval)
        now = atlas.pop(key, None)
        if now is None:
            gone.append(index)
            continue
        where: tuple[str | int, ...] = ("spec", "items", index)
        if now.retention.unit != item.retention.unit:
            unit = str(now.retention.unit)
            draft.add(target, (*where, "retentionUnit"), unit, _item_pointer(key))
        if now.retention.value != item.retention.value:
            draft.add(target, (*where, "retentionValue"), now.retention.value, _item_pointer(key))
    for index in reversed(gone):
        key = (written[index].frequency, written[index].interval)
        draft.add(target, ("spec", "items", index), None, _item_pointer(key), op=EditOp.DELETE)
    size = len(written) - len(gone)
    for offset, (key, now) in enumerate(sorted(atlas.items(), key=lambda kv: _rank(kv[0]))):
        path = ("spec", "items", size + offset)
        draft.add(target, path, _item_value(now), _item_pointer(key))


def _rank(key: ItemKey) -> tuple[int, int]:
    return (key[0].rank, key[1])


def _items_problem(items: tuple[ObservedItem, ...]) -> str | None:
    """What about Atlas's items a manifest could not say (SPEC §1's item rules), or None."""
    seen: set[ItemKey] = set()
    first: dict[Frequency, ObservedItem] = {}
    for item in items:
        what = f"{'an' if item.frequency is Frequency.HOURLY else 'a'} {item.frequency} item"
        if item.interval not in policy_items.INTERVALS[item.frequency]:
            return f"include {what} with frequencyInterval {item.interval}"
        minimum = policy_items.MIN_RETENTION.get(item.frequency, {}).get(item.retention.unit)
        if minimum is not None and item.retention.value < minimum:
            return f"include {what} kept only {item.retention}"
        if (item.frequency, item.interval) in seen or (
            item.frequency in (Frequency.HOURLY, Frequency.DAILY) and item.frequency in first
        ):
            return f"include more than one {item.frequency} item"
        seen.add((item.frequency, item.interval))
        first.setdefault(item.frequency, item)
    longest: ObservedItem | None = None
    for item in sorted(first.values(), key=lambda i: i.frequency.rank):
        if longest is not None and not item.retention.at_least(longest.retention):
            return (
                f"keep {item.frequency} snapshots {item.retention}, less than"
                f" {longest.frequency} ones ({longest.retention})"
            )
        if longest is None or item.retention.at_least(longest.retention):
            longest = item
    return None


def _copy_value(copy: ObservedCopySetting) -> EditValue:
    value: dict[str, EditValue] = {
        "cloudProvider": copy.cloud_provider,
        "regionName": copy.region_name,
    }
    if copy.should_copy_oplogs is not None:
        value["shouldCopyOplogs"] = copy.should_copy_oplogs
    value["frequencies"] = list(copy.frequencies)
    return value


def _copy_problem(copies: tuple[ObservedCopySetting, ...]) -> str | None:
    seen: set[CopyKey] = set()
    for copy in copies:
        where = f"{copy.cloud_provider} {copy.region_name}"
        if copy.cloud_provider not in schema.CLOUD_PROVIDERS or not copy.region_name:
            return f"copies snapshots to {where}"
        if not copy.frequencies:
            return f"copies no snapshot frequency to {where}"
        odd = sorted(set(copy.frequencies) - set(schema.COPY_FREQUENCIES))
        if odd:
            return f"copies {', '.join(odd)} snapshots to {where}"
        if (copy.cloud_provider, copy.region_name) in seen:
            return f"has two copy settings for {where}"
        seen.add((copy.cloud_provider, copy.region_name))
    return None


def _copies(draft: _Draft, target: _Target, held: Held, changes: list[FieldChange]) -> None:
    """Rewrite ``copySettings`` to Atlas's, in place where provider and region match."""
    schedule = draft.desired.schedule
    assert schedule is not None
    problem = _copy_problem(held.copy_settings)
    if problem is not None:
        draft.reasons.append(f"Atlas {problem}, which a manifest cannot express")
        return
    pointers = {c.path for c in changes}

    def pointer(key: CopyKey) -> str:
        path = f"{COPIES}{key[0]}/{key[1]}"
        return path if path in pointers else changes[0].path

    # Without the key Git asks for no copies; with it, its entries are the list's, in order.
    written: tuple[CopySetting, ...] = ()
    if draft.desired.source("/schedule/copySettings") is not None:
        written = schedule.copy_settings
    atlas = {(c.cloud_provider, c.region_name): c for c in held.copy_settings}
    gone: list[int] = []
    for index, copy in enumerate(written):
        key = (copy.cloud_provider, copy.region_name)
        now = atlas.pop(key, None)
        if now is None:
            gone.append(index)
            continue
        where: tuple[str | int, ...] = ("spec", "copySettings", index)
        if set(now.frequencies) != set(copy.frequencies):
            draft.add(target, (*where, "frequencies"), list(now.frequencies), pointer(key))
        if copy.should_copy_oplogs is not None and copy.should_copy_oplogs != bool(
            now.should_copy_oplogs
        ):
            oplogs = bool(now.should_copy_oplogs)
            draft.add(target, (*where, "shouldCopyOplogs"), oplogs, pointer(key))
    for index in reversed(gone):
        key = (written[index].cloud_provider, written[index].region_name)
        path = ("spec", "copySettings", index)
        draft.add(target, path, None, pointer(key), op=EditOp.DELETE)
    size = len(written) - len(gone)
    for offset, (key, now) in enumerate(sorted(atlas.items())):
        path = ("spec", "copySettings", size + offset)
        draft.add(target, path, _copy_value(now), pointer(key))


# -- what the manifests would say afterwards ---------------------------------------------------


def _check_result(
    draft: _Draft,
    cluster: ObservedCluster | None,
    held: Held | None,
    changes: tuple[FieldChange, ...],
) -> None:
    """Refuse an adoption whose manifests would break a rule that spans documents."""
    if draft.reasons:
        return
    desired, schedule = draft.desired, draft.desired.schedule
    paths = {c.path for c in changes}
    pit = desired.pit_enabled
    if "/pitEnabled" in paths and cluster is not None:
        pit = cluster.pit_enabled
    if schedule is None:
        return
    frequencies = {i.frequency for i in schedule.items}
    if held is not None and any(p.startswith(ITEMS) for p in paths):
        frequencies = {i.frequency for i in held.items}
    if pit is True and Frequency.HOURLY not in frequencies:
        draft.reasons.append(
            f"PIT would be on for {desired.key} without an hourly policy item, which a"
            " manifest cannot say (pitEnabled needs an hourly item)"
        )
    oplogs = any(c.should_copy_oplogs for c in schedule.copy_settings)
    if held is not None and any(p.startswith(COPIES) for p in paths):
        oplogs = any(c.should_copy_oplogs for c in held.copy_settings)
    if oplogs and pit is not True:
        draft.reasons.append(
            f"the schedule would copy oplogs for {desired.key} without PIT, which a manifest"
            " cannot say (shouldCopyOplogs needs pitEnabled: true)"
        )
    auto_export, export = schedule.auto_export_enabled, schedule.export
    if held is not None and "/schedule/autoExportEnabled" in paths:
        auto_export = bool(held.auto_export_enabled)
    if held is not None and EXPORT in paths:
        export = held.export
    if auto_export is True and export is None:
        draft.reasons.append(
            f"exports would be on for {desired.key} without an export target, which a"
            " manifest cannot say (autoExportEnabled needs export)"
        )
