"""One reconcile cycle: observe Atlas, plan, apply, read back. The only place core meets adapters.

    checkout = source.checkout()                       # the manifests and their revision
    desired  = load(checkout)                          # parse -> graph (core)
    observed = observe(desired, atlas)                 # projects, cluster lists, schedules
    todo     = plan.compute(desired, observed, ...)    # core; empty plan == converged
    remember the corrections about to be written       # reported even if the cycle dies
    results  = apply(todo, atlas, ...)                 # writes, each read back

Observation makes the minimum of calls (SPEC §3): one project lookup per project, one
paginated cluster list per project, one schedule GET per managed cluster that has backup on.
A full cycle reads every cluster. An incremental cycle (the daemon's answer to a Git change)
reads only the clusters whose desire in Git changed, or that the last cycle to read them did
not find in sync (``Verified``); the rest are planned in sync, and the drift check's next full
cycle reads them again.
Writes go cluster by cluster with bounded concurrency (``AtlasClient.map``); inside a cluster
the flags go before the schedule, and a failure stops only that cluster. Every action ends in
an ``Outcome``; convergence is confirmed by reading Atlas back, never assumed. This module
must not decide anything ``core.plan`` decides, and must not log secrets (it never sees them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gitopsd import desired
from gitopsd.adapters import logs
from gitopsd.core import diff, digest, plan
from gitopsd.core.model import ClusterKey, DesiredCluster, DesiredSchedule, ProjectKey
from gitopsd.core.observed import ObservedCluster, ObservedProject, ObservedSchedule
from gitopsd.core.outcome import (
    DONE,
    ActionResult,
    ClusterResult,
    Correction,
    CycleResult,
    Outcome,
)
from gitopsd.core.plan import ActionKind, Failure, Observation
from gitopsd.errors import AtlasError, AtlasUnknownOutcomeError
from gitopsd.source import Checkout, Source

_T = TypeVar("_T")
_R = TypeVar("_R")


class AtlasApi(Protocol):
    """The Atlas operations a cycle needs (``adapters.atlas.AtlasClient`` implements them)."""

    def project_by_name(self, name: str) -> ObservedProject: ...  # noqa: D102
    def project(self, project_id: str) -> ObservedProject: ...  # noqa: D102
    def clusters(self, project_id: str) -> tuple[ObservedCluster, ...]: ...  # noqa: D102
    def cluster(self, project_id: str, name: str) -> ObservedCluster: ...  # noqa: D102
    def schedule(self, project_id: str, cluster: str) -> ObservedSchedule: ...  # noqa: D102
    def patch_cluster(  # noqa: D102
        self,
        project_id: str,
        name: str,
        *,
        backup_enabled: bool | None = None,
        pit_enabled: bool | None = None,
    ) -> ObservedCluster | None: ...
    def patch_schedule(  # noqa: D102
        self,
        project_id: str,
        cluster: str,
        desired: DesiredSchedule,
        *,
        observed: ObservedSchedule | None,
        zone_id: str | None,
    ) -> ObservedSchedule | None: ...
    def map(self, fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R | AtlasError]: ...  # noqa: D102


class Progress(Protocol):
    """Who watches a cycle's progress (``adapters.progress`` on a terminal); it must be quick."""

    def phase(self, name: str, total: int) -> None: ...  # noqa: D102
    def tick(self) -> None: ...  # noqa: D102


class _Unwatched:
    """Progress nobody watches."""

    def phase(self, name: str, total: int) -> None:
        """Nothing to show."""

    def tick(self) -> None:
        """Nothing to count."""


UNWATCHED: Progress = _Unwatched()


class Memory(Protocol):
    """What gitopsd remembers between cycles (``adapters.state_db.StateDB``)."""

    def fresh_defaults(self) -> frozenset[str]: ...  # noqa: D102
    def remember_fresh_default(self, cluster: str, revision: str) -> None: ...  # noqa: D102
    def forget_fresh_default(self, cluster: str) -> None: ...  # noqa: D102
    def settled(self) -> Mapping[str, str]: ...  # noqa: D102
    def remember_settled(  # noqa: D102
        self, entries: Iterable[tuple[str, str]], revision: str, at: str
    ) -> None: ...
    def unreported(self) -> Mapping[str, str]: ...  # noqa: D102
    def remember_unreported(self, entries: Iterable[tuple[str, str]]) -> None: ...  # noqa: D102
    def forget_unreported(self, clusters: Iterable[str] | None = None) -> None: ...  # noqa: D102


class Verified:
    """The clusters this process last read in sync, with what Git asked of each then.

    An incremental cycle reads from Atlas only the clusters missing here or whose desire
    changed (``DesiredCluster`` equality, which leaves manifest positions out); the others it
    plans in sync. Held by one ``wiring.Runtime``, so it starts empty (the first cycle reads
    everything) and a reload starts afresh. Cycles never overlap, so it needs no lock.
    """

    def __init__(self) -> None:
        self._desired: dict[ClusterKey, DesiredCluster] = {}

    def __len__(self) -> int:
        return len(self._desired)

    def unchanged(self, cluster: DesiredCluster) -> bool:
        """Whether ``cluster`` was read in sync last time, wanting what it wants now."""
        return self._desired.get(cluster.key) == cluster

    def replace(self, in_sync: Iterable[DesiredCluster]) -> None:
        """After a cycle: exactly these clusters are in sync (read now, or taken as before)."""
        self._desired = {c.key: c for c in in_sync}


Clients = Callable[[str | None], AtlasApi | None]
"""The client for a credentials profile (None: the default credentials); None if unknown."""


def failure_of(error: AtlasError) -> Failure:
    """A core Failure carrying Atlas's error verbatim."""
    return Failure(
        message=str(error),
        error_code=error.error_code or None,
        detail=error.detail or None,
        status=error.status or None,
    )


# -- observe --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _ProjectView:
    project_id: str | None = None
    clusters: Mapping[str, ObservedCluster] = dataclasses.field(default_factory=dict)
    failure: Failure | None = None


def observe(
    clusters: Iterable[DesiredCluster], clients: Clients, progress: Progress = UNWATCHED
) -> dict[ClusterKey, Observation]:
    """What Atlas holds for each of ``clusters``, with the minimum of calls."""
    groups: dict[str | None, list[DesiredCluster]] = defaultdict(list)
    for cluster in clusters:
        groups[cluster.profile].append(cluster)
    progress.phase("reading Atlas", sum(len(members) for members in groups.values()))
    seen: dict[ClusterKey, Observation] = {}
    for profile, members in sorted(groups.items(), key=lambda g: g[0] or ""):
        api = clients(profile)
        if api is None:
            failure = Failure(
                message=f"the deployment names credentials {profile!r}"
                " (spec.connectionSecret.name), and the config has no [atlas.profiles."
                f"{profile}] table; add it, or remove connectionSecret",
                error_code="UNKNOWN_CREDENTIALS_PROFILE",
            )
            seen |= {c.key: Observation(failure=failure) for c in members}
            for _ in members:
                progress.tick()
            continue
        seen |= _observe_with(api, members, progress)
    return seen


def _observe_with(
    api: AtlasApi, members: list[DesiredCluster], progress: Progress
) -> dict[ClusterKey, Observation]:
    projects = sorted({c.key.project for c in members})
    views = dict(zip(projects, api.map(lambda p: _view(api, p), projects), strict=True))
    seen: dict[ClusterKey, Observation] = {}
    wanted: list[tuple[DesiredCluster, ObservedCluster]] = []
    for member in members:
        view = views[member.key.project]
        if isinstance(view, AtlasError):
            seen[member.key] = Observation(failure=failure_of(view))
        elif view.failure is not None:
            seen[member.key] = Observation(failure=view.failure)
        elif (held := view.clusters.get(member.key.cluster)) is None:
            seen[member.key] = Observation()
        elif member.schedule is not None and held.backup_enabled:
            wanted.append((member, held))
        else:
            seen[member.key] = Observation(cluster=held)
        if member.key in seen:
            progress.tick()

    def fetch(pair: tuple[DesiredCluster, ObservedCluster]) -> ObservedSchedule:
        try:
            return api.schedule(pair[1].project_id, pair[1].name)
        finally:
            progress.tick()

    schedules = api.map(fetch, wanted)
    for (member, held), schedule in zip(wanted, schedules, strict=True):
        if isinstance(schedule, AtlasError):
            seen[member.key] = Observation(cluster=held, failure=failure_of(schedule))
        else:
            seen[member.key] = Observation(cluster=held, schedule=schedule)
    return seen


def _view(api: AtlasApi, key: ProjectKey) -> _ProjectView:
    try:
        project = api.project(key.id) if key.id else api.project_by_name(key.name)
    except AtlasError as error:
        if error.status == 404:
            return _ProjectView(
                failure=Failure(
                    message=f"project {key} does not exist in Atlas, or these credentials"
                    " cannot see it; check the AtlasProject name or projectRef",
                    error_code=error.error_code or None,
                    detail=error.detail or None,
                    status=error.status,
                )
            )
        raise
    clusters = api.clusters(project.id)
    return _ProjectView(project_id=project.id, clusters={c.name: c for c in clusters})


# -- apply ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyContext:
    """What applying needs besides the plan."""

    clients: Clients
    options: plan.Options
    memory: Memory
    revision: str
    stop: threading.Event
    dry_run: bool = False


def apply(
    todo: plan.Plan,
    observed: Mapping[ClusterKey, Observation],
    context: ApplyContext,
    progress: Progress = UNWATCHED,
) -> tuple[ClusterResult, ...]:
    """Carry out the plan; a result for every cluster, in the plan's order."""
    by_profile: dict[str | None, list[plan.ClusterPlan]] = defaultdict(list)
    for cluster_plan in todo.clusters:
        by_profile[cluster_plan.desired.profile].append(cluster_plan)
    busy = sum(1 for p in todo.clusters if p.actions or p.failure is not None)
    progress.phase("dry run" if context.dry_run else "writing to Atlas", busy)
    results: dict[ClusterKey, ClusterResult] = {}
    for profile, all_plans in by_profile.items():
        plans = []
        for cluster_plan in all_plans:  # nothing to do: in sync without a thread's round trip
            if cluster_plan.actions or cluster_plan.failure is not None:
                plans.append(cluster_plan)
            else:
                results[cluster_plan.key] = ClusterResult(
                    plan=cluster_plan, results=(), converged=True
                )
        if not plans:
            continue
        api = context.clients(profile)
        if api is None:
            results |= {p.key: _unapplied(p) for p in plans}
            for _ in plans:
                progress.tick()
            continue

        def one(cluster_plan: plan.ClusterPlan, api: AtlasApi = api) -> ClusterResult:
            seen = observed.get(cluster_plan.key, Observation())
            held = seen.cluster
            with logs.bind(
                project_id=held.project_id if held else "", cluster=str(cluster_plan.key)
            ):
                try:
                    return _Applier(api, context, cluster_plan, seen).run()
                finally:
                    progress.tick()

        for cluster_plan, result in zip(plans, api.map(one, plans), strict=True):
            if isinstance(result, AtlasError):
                results[cluster_plan.key] = _unapplied(cluster_plan, failure_of(result))
            else:
                results[cluster_plan.key] = result
    return tuple(results[p.key] for p in todo.clusters)


def _unapplied(cluster_plan: plan.ClusterPlan, failure: Failure | None = None) -> ClusterResult:
    results = tuple(
        ActionResult(
            kind=a.kind,
            outcome=Outcome.FAILED if failure else Outcome.of_hold(a.hold or plan.Hold.SKIPPED),
            changes=a.changes,
            reason=a.reason,
            failure=failure,
        )
        for a in cluster_plan.actions
    )
    converged = cluster_plan.failure is None and failure is None and not cluster_plan.actions
    return ClusterResult(plan=cluster_plan, results=results, converged=converged)


_IN_SYNC = "once backup was on, Atlas's schedule read back as Git says: nothing to write"
_NOT_SENT = "not sent: no attempt reached Atlas"
_EARLIER_FAILED = "an earlier action did not take effect, or whether it did is unknown"
_UNLEARNED = (
    "whether Atlas applied it is unknown; the next cycle reads the cluster back and reports"
    " what it finds"
)
_TAKEN = "reading the cluster back shows it was applied"
_NOT_TAKEN = (
    "Atlas's answer was lost, and reading the cluster back shows it is not applied; the next"
    " cycle tries again, and reports it if it took effect late"
)
_UNREAD = (
    "Atlas's schedule could not be read once backup was on; the next cycle plans it against"
    " what Atlas holds then"
)
_AFTER_DRY_RUN = (
    "dry run: not sent; apply writes it once backup is on, against the schedule Atlas then holds"
)


class _Applier:
    """Applies one cluster's actions in order and reads the result back."""

    def __init__(
        self,
        api: AtlasApi,
        context: ApplyContext,
        cluster_plan: plan.ClusterPlan,
        seen: Observation,
    ) -> None:
        self.api, self.context, self.plan = api, context, cluster_plan
        self.desired = cluster_plan.desired
        self.cluster = seen.cluster
        self.schedule = seen.schedule
        self.results: list[ActionResult] = []
        self.converged = cluster_plan.failure is None
        self.cluster_patched = False
        self.backup_turned_on = False
        self.backup_would_turn_on = False
        self.lost: AtlasUnknownOutcomeError | None = None
        """The last write's answer, when Atlas left its outcome unknown."""

    def run(self) -> ClusterResult:
        """Every action to an outcome; then whether the cluster converged."""
        if self.plan.failure is not None or self.cluster is None:
            return ClusterResult(plan=self.plan, results=(), converged=False)
        failed = False
        for action in self.plan.actions:
            if action.hold is not None and not self._retry_schedule(action):
                self._held(action)
            elif failed or self.context.stop.is_set():
                why = "gitopsd is stopping" if not failed else _EARLIER_FAILED
                self._record(action, Outcome.SKIPPED, why)
            elif action.kind is ActionKind.PATCH_CLUSTER:
                failed = not self._patch_cluster(action)
            elif (current := self._current_schedule_action(action)) is None:
                self._record(dataclasses.replace(action, changes=()), Outcome.NOT_NEEDED, _IN_SYNC)
            else:
                failed = not self._patch_schedule(current)
        return ClusterResult(plan=self.plan, results=tuple(self.results), converged=self.converged)

    def _record(
        self,
        action: plan.Action,
        outcome: Outcome,
        reason: str,
        failure: Failure | None = None,
        *,
        unsettled: bool = False,
    ) -> None:
        result = ActionResult(
            kind=action.kind,
            outcome=outcome,
            changes=action.changes,
            reason=reason,
            failure=failure,
            unsettled=unsettled,
        )
        self.results.append(result)
        if outcome not in DONE:
            self.converged = False

    def _held(self, action: plan.Action) -> None:
        assert action.hold is not None
        self._record(action, Outcome.of_hold(action.hold), action.reason)

    def _retry_schedule(self, action: plan.Action) -> bool:
        """Whether a schedule action held for the cluster's state is to be planned again."""
        return (
            action.kind is ActionKind.PATCH_SCHEDULE
            and action.hold is plan.Hold.SKIPPED
            and self.cluster_patched
        )

    def _write(
        self, action: plan.Action, send: Callable[[], object | None], read: Callable[[], _R]
    ) -> _R | Outcome:
        """Send one write and read the result back; else the outcome recorded instead.

        A write whose outcome Atlas left unknown is read back all the same (``_confirmed``
        then says what the read-back showed); when that read fails too, or fails after Atlas
        accepted the write, the outcome is unknown, never "refused".
        """
        self.lost = None
        try:
            if send() is None:
                self._record(action, Outcome.WOULD_APPLY, "dry run: not sent")
                return Outcome.WOULD_APPLY
        except AtlasUnknownOutcomeError as error:
            self.lost = error
        except AtlasError as error:
            why = _NOT_SENT if error.status == 0 else "Atlas refused the change"
            self._record(action, Outcome.FAILED, why, failure_of(error))
            return Outcome.FAILED
        try:
            return read()
        except AtlasError as error:
            said = (
                f"{self.lost}; reading the cluster back failed too"
                if self.lost is not None
                else "Atlas accepted the change, and reading the cluster back failed"
            )
            failure = Failure(
                message=f"{said}: {error}",
                error_code=error.error_code or None,
                detail=error.detail or None,
                status=error.status or None,
            )
            self._record(action, Outcome.UNKNOWN, _UNLEARNED, failure, unsettled=True)
            return Outcome.UNKNOWN

    def _confirmed(self, action: plan.Action, wrong: tuple[diff.FieldChange, ...]) -> bool:
        """Record the action applied when the read-back shows no difference, failed if not."""
        lost = self.lost
        if wrong:
            paths = ", ".join(c.path for c in wrong)
            if lost is None:
                failure = Failure(
                    message=f"Atlas accepted the PATCH but reads back different {paths}"
                )
                self._record(action, Outcome.FAILED, "not confirmed by reading back", failure)
                return False
            failure = Failure(message=f"{lost}; reading back, Atlas does not hold Git's {paths}")
            self._record(action, Outcome.FAILED, _NOT_TAKEN, failure, unsettled=True)
            return False
        taken = "" if lost is None else f"Atlas's answer was lost ({lost}); {_TAKEN}"
        self._record(action, Outcome.APPLIED, taken)
        return True

    def _patch_cluster(self, action: plan.Action) -> bool:
        assert self.cluster is not None
        project_id, name = self.cluster.project_id, self.cluster.name
        if (
            action.backup_enabled is True
            and not self.cluster.backup_enabled
            and not self.context.dry_run
        ):
            # Remembered before sending: if the answer or read-back is lost, Atlas's default
            # is still known to be gitopsd's doing (and plan checks it still looks default).
            self.context.memory.remember_fresh_default(str(self.desired.key), self.context.revision)
        readback = self._write(
            action,
            lambda: self.api.patch_cluster(
                project_id,
                name,
                backup_enabled=action.backup_enabled,
                pit_enabled=action.pit_enabled,
            ),
            lambda: self.api.cluster(project_id, name),
        )
        if isinstance(readback, Outcome):
            if readback is Outcome.WOULD_APPLY and action.backup_enabled is True:
                self.backup_would_turn_on = not self.cluster.backup_enabled
            return readback is Outcome.WOULD_APPLY
        sent = dataclasses.replace(
            self.desired, backup_enabled=action.backup_enabled, pit_enabled=action.pit_enabled
        )
        if not self._confirmed(action, diff.diff_cluster(sent, readback)):
            return False
        key = str(self.desired.key)
        if action.backup_enabled is True and not self.cluster.backup_enabled:
            self.context.memory.remember_fresh_default(key, self.context.revision)
            self.backup_turned_on = True
        elif action.backup_enabled is False:
            self.context.memory.forget_fresh_default(key)
        self.cluster, self.cluster_patched = readback, True
        return True

    def _current_schedule_action(self, action: plan.Action) -> plan.Action | None:
        """After a flags PATCH, plan the schedule again against what Atlas now holds.

        None when Atlas already holds Git's schedule (the one it created when backup went
        on, or one it brought back): there is nothing to write.
        """
        if not self.cluster_patched or self.cluster is None:
            return action
        blocker = plan.schedule_blocker(self.cluster)
        if blocker is not None:
            return dataclasses.replace(action, hold=plan.Hold.SKIPPED, reason=blocker)
        try:
            self.schedule = self.api.schedule(self.cluster.project_id, self.cluster.name)
        except AtlasError:
            return dataclasses.replace(action, hold=plan.Hold.SKIPPED, reason=_UNREAD)
        fresh = self.context.options.fresh_defaults
        if self.backup_turned_on:
            fresh |= {self.desired.key}
        options = dataclasses.replace(self.context.options, fresh_defaults=fresh)
        again = plan.for_cluster(
            self.desired, Observation(cluster=self.cluster, schedule=self.schedule), options
        )
        if again.failure is not None:
            return dataclasses.replace(action, hold=plan.Hold.SKIPPED, reason=_UNREAD)
        return next((a for a in again.actions if a.kind is ActionKind.PATCH_SCHEDULE), None)

    def _patch_schedule(self, action: plan.Action) -> bool:
        if action.hold is not None:
            self._held(action)
            return True
        cluster, schedule = self.cluster, action.schedule
        assert cluster is not None
        assert schedule is not None
        blocker = plan.schedule_blocker(cluster)
        if blocker is not None and self.backup_would_turn_on:
            self._record(action, Outcome.WOULD_APPLY, _AFTER_DRY_RUN)
            return True
        if blocker is not None:
            self._record(action, Outcome.SKIPPED, blocker)
            return True
        project_id, name = cluster.project_id, cluster.name
        readback = self._write(
            action,
            lambda: self.api.patch_schedule(
                project_id, name, schedule, observed=self.schedule, zone_id=cluster.zone_id
            ),
            lambda: self.api.schedule(project_id, name),
        )
        if isinstance(readback, Outcome):
            return readback is Outcome.WOULD_APPLY
        if not self._confirmed(action, diff.diff_schedule(schedule, readback, self.desired.source)):
            return False
        self.context.memory.forget_fresh_default(str(self.desired.key))
        self.schedule = readback
        return True


# -- the cycle ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    """Everything a cycle talks to, built once from the settings (``gitopsd.wiring``)."""

    source: Source
    load: Callable[[Checkout], desired.Result]
    clients: Clients
    memory: Memory
    options: plan.Options
    dry_run: bool = False
    dry_run_lines: Callable[[], tuple[str, ...]] = tuple
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    verified: Verified | None = None
    """What incremental cycles may take as in sync; None: every cycle is full."""
    progress: Progress = UNWATCHED


def run_cycle(
    deps: Deps,
    stop: threading.Event,
    *,
    write: bool = True,
    checkout: Checkout | None = None,
    full: bool = True,
) -> CycleResult:
    """Read the manifests and Atlas, plan, and (with ``write``) apply and read back.

    ``checkout`` is read when given (the caller needs it afterwards, to publish the report);
    otherwise the source is asked for one. A cycle that writes (not ``plan``, not a dry run)
    remembers which clusters Atlas matches, so that a later change to them reads as drift, and
    records its corrections before writing them, for the report. ``full`` False reads only
    the clusters ``deps.verified`` cannot vouch for (and those with unreported corrections).
    """
    deps.progress.phase("reading the manifests", 0)
    checkout = deps.source.checkout() if checkout is None else checkout
    loaded = deps.load(checkout)
    wanted = loaded.state.clusters
    digests = {c.key: digest.of_cluster(c) for c in wanted}
    before = deps.memory.settled()
    settled = frozenset(key for key, d in digests.items() if before.get(str(key)) == d)
    met = frozenset(key for key in digests if str(key) in before)
    writes = write and not deps.dry_run
    unreported = _unreported(deps.memory, digests) if writes else {}
    verified = deps.verified
    carried: tuple[DesiredCluster, ...] = ()
    if not full and verified is not None:
        carried = tuple(c for c in wanted if c.key not in unreported and verified.unchanged(c))
    taken = frozenset(c.key for c in carried)
    observed = observe((c for c in wanted if c.key not in taken), deps.clients, deps.progress)
    remembered = deps.memory.fresh_defaults()
    fresh = frozenset(c.key for c in wanted if str(c.key) in remembered)
    options = dataclasses.replace(deps.options, fresh_defaults=fresh)
    todo = plan.compute(loaded.state, observed, options, in_sync=taken)
    clusters: tuple[ClusterResult, ...] = ()
    if write:
        context = ApplyContext(
            clients=deps.clients,
            options=options,
            memory=deps.memory,
            revision=checkout.revision,
            stop=stop,
            dry_run=deps.dry_run,
        )
        if writes:
            _remember_corrections(deps.memory, todo, settled, checkout.revision)
        clusters = apply(todo, observed, context, deps.progress)
        if writes:
            matched = [  # read and matching now; the clusters taken as in sync were not read
                (str(c.plan.key), digests[c.plan.key])
                for c in clusters
                if c.converged and c.plan.key not in taken
            ]
            deps.memory.remember_settled(matched, checkout.revision, deps.clock().isoformat())
            deps.memory.forget_unreported(
                str(c.plan.key)
                for c in clusters
                if c.results and not c.resolved and not c.unsettled
            )
            _remember_unsettled(deps.memory, clusters, settled, checkout.revision)
        if verified is not None:
            verified.replace(c.plan.desired for c in clusters if c.converged)
    return CycleResult(
        revision=checkout.revision,
        plan=todo,
        problems=loaded.problems,
        clusters=clusters,
        applied=write,
        dry_run=deps.dry_run,
        dry_run_lines=deps.dry_run_lines() if write else (),
        mode=deps.options.mode,
        source=checkout.state(),
        desired=loaded.state,
        observed=tuple(sorted(observed.items(), key=lambda pair: pair[0])),
        settled=settled,
        met=met,
        unreported=tuple(sorted(unreported.values(), key=lambda c: c.key)),
        full=not taken,
    )


def _unreported(memory: Memory, digests: Mapping[ClusterKey, str]) -> dict[ClusterKey, Correction]:
    """The corrections earlier cycles recorded and no report showed, for clusters still wanted."""
    by_text = {str(key): key for key in digests}
    found: dict[ClusterKey, Correction] = {}
    for text, record in memory.unreported().items():
        key = by_text.get(text)
        if key is None:
            continue
        try:
            data = json.loads(record)
        except ValueError:
            continue
        correction = Correction.from_json(key, data) if isinstance(data, dict) else None
        if correction is not None:
            found[key] = correction
    return found


def _remember_unsettled(
    memory: Memory,
    clusters: Iterable[ClusterResult],
    settled: frozenset[ClusterKey],
    revision: str,
) -> None:
    """Keep, for the next report, the writes sent whose outcome this cycle could not learn."""
    entries = []
    for result in clusters:
        if not result.unsettled:
            continue
        correction = Correction(
            key=result.plan.key,
            drift=result.plan.key in settled,
            actions=tuple((r.kind, r.changes) for r in result.unsettled),
            revision=revision,
            unsettled=True,
        )
        entries.append((str(result.plan.key), json.dumps(correction.to_json(), sort_keys=True)))
    if entries:
        memory.remember_unreported(entries)


def _remember_corrections(
    memory: Memory, todo: plan.Plan, settled: frozenset[ClusterKey], revision: str
) -> None:
    """Record what the cycle is about to write, before it writes (one transaction)."""
    entries = []
    for cluster_plan in todo.clusters:
        sent = tuple((a.kind, a.changes) for a in cluster_plan.actions if a.hold is None)
        if not sent:
            continue
        correction = Correction(
            key=cluster_plan.key,
            drift=cluster_plan.key in settled,
            actions=sent,
            revision=revision,
        )
        entries.append((str(cluster_plan.key), json.dumps(correction.to_json(), sort_keys=True)))
    memory.remember_unreported(entries)
