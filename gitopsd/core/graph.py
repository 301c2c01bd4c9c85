"""Manifests -> the desired state graph: one entry per target cluster, or why it is blocked.

Deployment -> schedule -> policy, and deployment -> project. References without a namespace
already carry the referrer's (``manifests`` defaults them). The graph reports what only the
whole set of manifests can show: duplicate identities (at both places), dangling references,
two deployments on one (project, cluster), and rules that cross documents (oplog copies need
PIT on every deployment using the schedule; PIT needs an hourly item). A problem blocks only
the clusters whose graph touches it; every other cluster is yielded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from gitopsd.core import schema
from gitopsd.core.document import Span
from gitopsd.core.manifests import Manifests
from gitopsd.core.model import (
    BackupPolicy,
    BackupSchedule,
    BlockedCluster,
    ClusterKey,
    Deployment,
    DesiredCluster,
    DesiredSchedule,
    DesiredState,
    Frequency,
    Kind,
    Meta,
    Project,
    ProjectKey,
    Ref,
    Resource,
    ResourceId,
)
from gitopsd.core.problems import Problem, Severity, ordered, with_article

_REFERRERS = {Kind.SCHEDULE: "schedule", Kind.DEPLOYMENT: "deployment"}


@dataclass(slots=True)
class _Index:
    """Resources by identity, with the problems that make an identity unusable."""

    by_id: dict[ResourceId, Resource] = field(default_factory=dict)
    broken: dict[ResourceId, list[Problem]] = field(default_factory=lambda: defaultdict(list))
    problems: list[Problem] = field(default_factory=list)

    def note(self, rid: ResourceId, problem: Problem) -> None:
        self.broken[rid].append(problem)
        self.problems.append(problem)


def _index(resources: tuple[Resource, ...]) -> _Index:
    index = _Index()
    groups: dict[ResourceId, list[Resource]] = defaultdict(list)
    for resource in resources:
        groups[resource.meta.id].append(resource)
    for rid, group in groups.items():
        index.by_id[rid] = group[0]
        index.broken[rid].extend(p for r in group for p in r.meta.errors)
        if len(group) > 1:
            for resource in group:
                others = ", ".join(str(o.meta.span) for o in group if o is not resource)
                index.note(
                    rid,
                    Problem.at(
                        resource.meta.span,
                        Severity.ERROR,
                        "duplicate-resource",
                        f"{rid.kind} {rid.namespace}/{rid.name} is defined more than once"
                        f" (also at {others})",
                        "rename or delete one; until then nothing that uses it is reconciled",
                    ),
                )
    return index


_DEFAULT_NAMESPACE_SETTINGS = (
    "set by --default-namespace on the command line or [reconcile] default_namespace in the"
    " configuration"
)


def _dangling(index: _Index, ref: Ref, kind: Kind, referrer: Meta) -> Problem:
    who = f"{_REFERRERS[referrer.id.kind]} {referrer.id.name}"
    same_kind = [rid for rid in index.by_id if rid.kind is kind]
    elsewhere = sorted(rid for rid in same_kind if rid.name == ref.name)
    inherited = not ref.namespace_written and not referrer.namespace_written
    if elsewhere:
        target = elsewhere[0]
        namespace = target.namespace
        hint = f"it exists in namespace {namespace!r}: set namespace: {namespace} in the reference"
        if not index.by_id[target].meta.namespace_written:
            hint += (
                f", or give it metadata.namespace: {ref.namespace}. Its manifest names no"
                f" namespace, so it is in the default namespace, {namespace!r} here"
                f" ({_DEFAULT_NAMESPACE_SETTINGS})"
            )
        elif inherited:
            hint += (
                f". This {_REFERRERS[referrer.id.kind]} names no namespace, so it is in the"
                f" default namespace, {ref.namespace!r} here ({_DEFAULT_NAMESPACE_SETTINGS})"
            )
    else:
        names = [rid.name for rid in same_kind if rid.namespace == ref.namespace]
        near = schema.closest(ref.name, names)
        if near:
            hint = f"did you mean {near!r}?"
        else:
            hint = f"add {with_article(kind)} named {ref.name!r} in namespace {ref.namespace!r}"
            if inherited:
                hint += (
                    f". This {_REFERRERS[referrer.id.kind]} names no namespace, so it is in the"
                    f" default namespace, {ref.namespace!r} here ({_DEFAULT_NAMESPACE_SETTINGS})"
                )
    return Problem.at(
        ref.span,
        Severity.ERROR,
        "dangling-reference",
        f"{who} refers to {kind} {ref.namespace}/{ref.name}, which does not exist",
        hint,
    )


def _resolve(
    index: _Index,
    ref: Ref,
    kind: Kind,
    referrer: Meta,
    *,
    reasons: list[Problem],
    new: list[Problem],
) -> Resource | None:
    """Look up ``ref``; record why it cannot be used in ``reasons``, new problems in ``new``."""
    rid = ResourceId(kind=kind, namespace=ref.namespace, name=ref.name)
    target = index.by_id.get(rid)
    if target is None:
        problem = _dangling(index, ref, kind, referrer)
        reasons.append(problem)
        new.append(problem)
        return None
    reasons.extend(index.broken.get(rid, ()))
    return target


@dataclass(slots=True)
class _Schedules:
    """Each schedule resolved once, with its policy and the problems that block its users."""

    index: _Index
    problems: list[Problem]
    resolved: dict[ResourceId, tuple[BackupPolicy | None, tuple[Problem, ...]]] = field(
        default_factory=dict
    )

    def policy_of(
        self, schedule: BackupSchedule
    ) -> tuple[BackupPolicy | None, tuple[Problem, ...]]:
        rid = schedule.meta.id
        if rid not in self.resolved:
            reasons: list[Problem] = []
            policy = None
            if schedule.policy is not None:
                found = _resolve(
                    self.index,
                    schedule.policy,
                    Kind.POLICY,
                    schedule.meta,
                    reasons=reasons,
                    new=self.problems,
                )
                policy = found if isinstance(found, BackupPolicy) else None
            self.resolved[rid] = (policy, tuple(reasons))
        return self.resolved[rid]


def build(manifests: Manifests) -> DesiredState:
    """Resolve every reference and yield each target cluster, blocked ones with their reasons."""
    index = _index(manifests.resources)
    new: list[Problem] = list(index.problems)
    schedules = _Schedules(index=index, problems=new)
    clusters: list[DesiredCluster] = []
    blocked: list[BlockedCluster] = []
    edges: set[tuple[ResourceId, ResourceId]] = set()
    used_schedules: set[ResourceId] = set()
    used_policies: set[ResourceId] = set()
    deployments = sorted(
        (r for r in manifests.resources if isinstance(r, Deployment)), key=lambda d: d.meta.id
    )
    for resource in manifests.resources:
        if isinstance(resource, BackupSchedule):
            schedules.policy_of(resource)
        if isinstance(resource, BackupSchedule) and resource.policy is not None:
            policy_id = ResourceId(
                kind=Kind.POLICY, namespace=resource.policy.namespace, name=resource.policy.name
            )
            edges.add((resource.meta.id, policy_id))
            used_policies.add(policy_id)
    seen: set[ResourceId] = set()
    for deployment in deployments:
        if deployment.meta.id in seen:
            continue
        seen.add(deployment.meta.id)
        reasons: list[Problem] = list(index.broken.get(deployment.meta.id, ()))
        key, project_id = _target(index, deployment, reasons, new, edges)
        schedule, policy = None, None
        if deployment.backup_ref is not None:
            found = _resolve(
                index,
                deployment.backup_ref,
                Kind.SCHEDULE,
                deployment.meta,
                reasons=reasons,
                new=new,
            )
            schedule = found if isinstance(found, BackupSchedule) else None
            schedule_id = ResourceId(
                kind=Kind.SCHEDULE,
                namespace=deployment.backup_ref.namespace,
                name=deployment.backup_ref.name,
            )
            edges.add((deployment.meta.id, schedule_id))
            used_schedules.add(schedule_id)
            if schedule is not None:
                policy, policy_reasons = schedules.policy_of(schedule)
                reasons.extend(policy_reasons)
                _cross_check(deployment, schedule, policy, reasons, new)
        if key is None and not reasons:
            continue
        if reasons:
            blocked.append(
                BlockedCluster(deployment=deployment.meta.id, key=key, reasons=ordered(reasons))
            )
            continue
        assert key is not None
        clusters.append(_desired(deployment, key, project_id, schedule, policy))
    clusters, duplicates = _split_duplicate_targets(clusters, deployments, new)
    blocked.extend(duplicates)
    orphans = sorted(
        r.meta.id
        for r in manifests.resources
        if isinstance(r, BackupSchedule) and r.meta.id not in used_schedules
    )
    orphan_policies = sorted(
        r.meta.id
        for r in manifests.resources
        if isinstance(r, BackupPolicy) and r.meta.id not in used_policies
    )
    return DesiredState(
        clusters=tuple(sorted(clusters, key=lambda c: c.key)),
        blocked=tuple(sorted(blocked, key=lambda b: b.deployment)),
        orphan_schedules=tuple(dict.fromkeys(orphans)),
        orphan_policies=tuple(dict.fromkeys(orphan_policies)),
        problems=ordered(list(manifests.problems) + new),
        edges=tuple(sorted(edges)),
    )


def _target(
    index: _Index,
    deployment: Deployment,
    reasons: list[Problem],
    new: list[Problem],
    edges: set[tuple[ResourceId, ResourceId]],
) -> tuple[ClusterKey | None, ResourceId | None]:
    project_key: ProjectKey | None = None
    project_id: ResourceId | None = None
    if deployment.project_ref is not None:
        ref = deployment.project_ref
        project_id = ResourceId(kind=Kind.PROJECT, namespace=ref.namespace, name=ref.name)
        edges.add((deployment.meta.id, project_id))
        found = _resolve(
            index,
            ref,
            Kind.PROJECT,
            deployment.meta,
            reasons=reasons,
            new=new,
        )
        if isinstance(found, Project) and found.name is not None:
            project_key = ProjectKey(name=found.name)
    elif deployment.project_id is not None:
        project_key = ProjectKey(id=deployment.project_id)
    if project_key is None or deployment.cluster_name is None:
        return None, project_id
    return ClusterKey(project=project_key, cluster=deployment.cluster_name), project_id


def _cross_check(
    deployment: Deployment,
    schedule: BackupSchedule,
    policy: BackupPolicy | None,
    reasons: list[Problem],
    new: list[Problem],
) -> None:
    ref = deployment.backup_ref
    assert ref is not None
    pit_span = dict(deployment.sources).get("/pitEnabled", ref.span)
    for setting in schedule.copy_settings or ():
        if setting.should_copy_oplogs and deployment.pit_enabled is not True:
            problem = Problem.at(
                ref.span,
                Severity.ERROR,
                "oplogs-without-pit",
                f"schedule {schedule.meta.id.name} copies oplogs to {setting.region_name}"
                f" ({setting.span}) but this deployment does not set pitEnabled: true",
                "set deploymentSpec.pitEnabled: true, or use a schedule without shouldCopyOplogs",
            )
            reasons.append(problem)
            new.append(problem)
            break
    if (
        deployment.pit_enabled is True
        and policy is not None
        and policy.meta.valid
        and not any(i.frequency is Frequency.HOURLY for i in policy.items)
    ):
        problem = Problem.at(
            pit_span,
            Severity.ERROR,
            "pit-without-hourly",
            f"pitEnabled needs an hourly item, and policy {policy.meta.id.name}"
            f" ({policy.meta.span}) has none",
            "add an hourly item to the policy, or turn pitEnabled off",
        )
        reasons.append(problem)
        new.append(problem)


def _desired(
    deployment: Deployment,
    key: ClusterKey,
    project_id: ResourceId | None,
    schedule: BackupSchedule | None,
    policy: BackupPolicy | None,
) -> DesiredCluster:
    sources: list[tuple[str, Span]] = [("/deployment", deployment.meta.span)]
    sources.extend(deployment.sources)
    backup_enabled = deployment.backup_enabled
    if backup_enabled is None and deployment.backup_ref is not None:
        backup_enabled = True
        sources.append(("/backupEnabled", deployment.backup_ref.span))
    desired_schedule = None
    if schedule is not None and policy is not None:
        sources.append(("/schedule", schedule.meta.span))
        sources.extend((f"/schedule{p}", span) for p, span in schedule.sources)
        sources.append(("/policy", policy.meta.span))
        sources.extend(
            (f"/schedule/policies/0/policyItems/{n}", item.span)
            for n, item in enumerate(policy.items)
        )
        desired_schedule = DesiredSchedule(
            reference_hour_of_day=schedule.reference_hour_of_day,
            reference_minute_of_hour=schedule.reference_minute_of_hour,
            restore_window_days=schedule.restore_window_days,
            auto_export_enabled=schedule.auto_export_enabled,
            export=schedule.export,
            use_org_and_group_names_in_export_prefix=schedule.use_org_and_group_names_in_export_prefix,
            update_snapshots=schedule.update_snapshots,
            copy_settings=schedule.copy_settings or (),
            items=frozenset(policy.items),
        )
    return DesiredCluster(
        key=key,
        deployment=deployment.meta.id,
        project=project_id,
        schedule_id=schedule.meta.id if schedule else None,
        policy_id=policy.meta.id if policy else None,
        backup_enabled=backup_enabled,
        pit_enabled=deployment.pit_enabled,
        schedule=desired_schedule,
        mode=deployment.mode,
        allow_destructive=deployment.allow_destructive,
        profile=deployment.profile,
        unmanaged=deployment.unmanaged,
        sources=tuple(sorted(sources, key=lambda s: s[0])),
    )


def _split_duplicate_targets(
    clusters: list[DesiredCluster], deployments: list[Deployment], new: list[Problem]
) -> tuple[list[DesiredCluster], list[BlockedCluster]]:
    by_key: dict[ClusterKey, list[DesiredCluster]] = defaultdict(list)
    for cluster in clusters:
        by_key[cluster.key].append(cluster)
    spans = {d.meta.id: dict(d.sources).get("/name", d.meta.span) for d in deployments}
    keep: list[DesiredCluster] = []
    blocked: list[BlockedCluster] = []
    for key, group in by_key.items():
        if len(group) == 1:
            keep.extend(group)
            continue
        for cluster in group:
            others = ", ".join(
                f"{o.deployment.namespace}/{o.deployment.name} ({spans[o.deployment]})"
                for o in group
                if o is not cluster
            )
            problem = Problem.at(
                spans[cluster.deployment],
                Severity.ERROR,
                "duplicate-target",
                f"cluster {key} is also the target of {others}",
                "one deployment per cluster: remove or retarget the others",
            )
            new.append(problem)
            blocked.append(
                BlockedCluster(deployment=cluster.deployment, key=key, reasons=(problem,))
            )
    return keep, blocked
