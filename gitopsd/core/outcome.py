"""What happened to each planned action when a cycle ran: the values ``apply`` returns.

Every action of a plan ends in exactly one outcome (STYLE §5): applied (and read back),
not-needed (Atlas already held Git's values when the time came to write), would-apply (dry
run), skipped, blocked, observed (observe mode), failed with Atlas's ``errorCode`` and
``detail`` verbatim, or unknown (sent, and neither Atlas's answer nor a read-back said whether
it took effect). Pure values; the shell in ``reconcile`` produces them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gitopsd.core.diff import FieldChange, Severity, Value
from gitopsd.core.document import Span
from gitopsd.core.model import ClusterKey, DesiredState, Mode
from gitopsd.core.plan import ActionKind, ClusterPlan, Failure, Hold, Observation, Plan, Status
from gitopsd.core.problems import Problem

_NOT_FOUND = 404


class Outcome(enum.StrEnum):
    """How one action ended."""

    APPLIED = "applied"
    NOT_NEEDED = "not-needed"
    WOULD_APPLY = "would-apply"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    OBSERVED = "observed"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def of_hold(cls, hold: Hold) -> Outcome:
        """The outcome of an action the plan held back."""
        return {Hold.BLOCKED: cls.BLOCKED, Hold.SKIPPED: cls.SKIPPED, Hold.OBSERVED: cls.OBSERVED}[
            hold
        ]


DONE = frozenset({Outcome.APPLIED, Outcome.NOT_NEEDED})
"""The outcomes that leave Atlas as Git says: written and read back, or nothing to write."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """One action and how it ended."""

    kind: ActionKind
    outcome: Outcome
    changes: tuple[FieldChange, ...]
    reason: str = ""
    failure: Failure | None = None
    unsettled: bool = False
    """Sent, and not known to be in Atlas: Atlas's answer was lost and the read-back did not
    show it (or could not be made), so it may still take effect; the next report tells."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterResult:
    """A cluster's plan, what became of each action, and whether Atlas now matches Git.

    ``converged`` is read back from Atlas after the writes, never assumed.
    """

    plan: ClusterPlan
    results: tuple[ActionResult, ...]
    converged: bool

    @property
    def status(self) -> Status:
        """The cluster's status after the cycle."""
        outcomes = {r.outcome for r in self.results}
        if self.plan.failure is not None or Outcome.FAILED in outcomes:
            return Status.ERROR
        if Outcome.UNKNOWN in outcomes:
            return Status.UNKNOWN
        if Outcome.BLOCKED in outcomes:
            return Status.BLOCKED
        if Outcome.SKIPPED in outcomes:
            return Status.SKIPPED
        if self.converged:
            return Status.IN_SYNC
        return Status.PENDING

    @property
    def resolved(self) -> bool:
        """Whether the cycle wrote what was needed and Atlas read back as Git says."""
        return resolves(tuple(r.outcome for r in self.results)) and self.converged

    @property
    def unsettled(self) -> tuple[ActionResult, ...]:
        """The writes that may still be in Atlas though this cycle could not confirm them."""
        return tuple(r for r in self.results if r.unsettled)


def resolves(outcomes: tuple[Outcome, ...]) -> bool:
    """Whether actions ending so brought a cluster to Git's values: one write at least, all done."""
    return Outcome.APPLIED in outcomes and all(o in DONE for o in outcomes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Correction:
    """The writes a cycle was about to send to one cluster, kept until a report shows them.

    A cycle records its corrections before it writes and a published report clears them, so
    a cycle killed between the two leaves them for the next report: if that cycle finds the
    cluster matching Git, the report says it was resolved, and whether it was drift.
    ``unsettled`` marks writes that were sent and whose outcome the cycle could not learn
    (``ActionResult.unsettled``): their report said so, and they are kept for the next.
    """

    key: ClusterKey
    drift: bool
    actions: tuple[tuple[ActionKind, tuple[FieldChange, ...]], ...]
    revision: str
    unsettled: bool = False

    def to_json(self) -> dict[str, object]:
        """Plain JSON data (the state database stores it)."""
        return {
            "drift": self.drift,
            "unsettled": self.unsettled,
            "revision": self.revision,
            "actions": [
                {"kind": str(kind), "changes": [change_json(c) for c in changes]}
                for kind, changes in self.actions
            ],
        }

    @classmethod
    def from_json(cls, key: ClusterKey, data: dict[str, object]) -> Correction | None:
        """The correction ``to_json`` wrote; None when the data is not what it writes."""
        try:
            actions = tuple(
                (ActionKind(str(a["kind"])), tuple(_change_of(c) for c in _list(a["changes"])))
                for a in _list(data["actions"])
            )
            return cls(
                key=key,
                drift=bool(data["drift"]),
                actions=actions,
                revision=str(data["revision"]),
                unsettled=data.get("unsettled") is True,
            )
        except (KeyError, TypeError, ValueError):
            return None


def change_json(change: FieldChange) -> dict[str, object]:
    """A field change as JSON data (``plan --format json`` and the state database use it)."""
    return {
        "path": change.path,
        "atlas": change.atlas,
        "git": change.git,
        "severity": str(change.severity),
        "destructive": change.destructive,
        "why": change.why,
        "source": None if change.source is None else str(change.source),
    }


def _list(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError(value)
    return value


def _value(value: object) -> Value:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise TypeError(value)


def _change_of(data: object) -> FieldChange:
    if not isinstance(data, dict):
        raise TypeError(data)
    source = data["source"]
    span = None
    if isinstance(source, str):  # file:line:column, and a file name may hold a colon
        file, line, column = source.rsplit(":", 2)
        span = Span(file, int(line), int(column))
    return FieldChange(
        path=str(data["path"]),
        atlas=_value(data["atlas"]),
        git=_value(data["git"]),
        severity=Severity(data["severity"]),
        destructive=bool(data["destructive"]),
        why=str(data["why"]),
        source=span,
    )


class SourceNoteCode(enum.StrEnum):
    """Something about the source a report must say."""

    FETCH_FAILED = "fetch-failed"
    UNVERIFIED = "unverified"
    RECLONED = "recloned"
    HISTORY_REWRITTEN = "history-rewritten"
    REPORT_PATH_TAKEN = "report-path-taken"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceNote:
    """A fact about the source a report must tell.

    Why the revision read is not simply the branch tip, what the source had to repair, or what
    of the watched tree the report branch replaces (something at the report's path).
    """

    code: SourceNoteCode
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceState:
    """Where a cycle's manifests came from. ``url`` carries no credentials.

    ``tip`` is the branch tip seen at the remote when it is not ``revision`` (it could not be
    verified, or the remote could not be reached and ``revision`` is the last good one).
    """

    url: str = ""
    branch: str = ""
    revision: str = ""
    tip: str = ""
    notes: tuple[SourceNote, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleResult:
    """One full cycle: where the manifests came from, the plan, and every cluster's result.

    ``applied`` is False for ``plan`` (nothing was tried; ``clusters`` is empty). ``settled``
    holds the clusters whose desired state is the one gitopsd last saw Atlas match: a change
    found on one of them was made in Atlas, out of band (drift), not asked for by Git. ``met``
    holds every cluster gitopsd has seen Atlas match before, for any desired state: a change
    found on one of them that is not in ``settled`` was asked for by Git; on any other
    cluster, which side changed is not known.
    ``observed`` is what Atlas held before any write. ``unreported`` are corrections earlier
    cycles began and no published report showed (they stopped first). ``full`` is False for an
    incremental cycle, which read only the clusters Git changed or that were not in sync; the
    rest are planned and reported in sync, as the last cycle that read them found them.
    """

    revision: str
    plan: Plan
    problems: tuple[Problem, ...]
    clusters: tuple[ClusterResult, ...]
    applied: bool = False
    dry_run: bool = False
    dry_run_lines: tuple[str, ...] = ()
    mode: Mode = Mode.ENFORCE
    source: SourceState = SourceState()
    desired: DesiredState | None = None
    observed: tuple[tuple[ClusterKey, Observation], ...] = ()
    settled: frozenset[ClusterKey] = frozenset()
    met: frozenset[ClusterKey] = frozenset()
    unreported: tuple[Correction, ...] = ()
    full: bool = True

    def observation(self, key: ClusterKey) -> Observation | None:
        """What Atlas held for ``key`` before any write, if it was read."""
        return next((seen for k, seen in self.observed if k == key), None)

    @property
    def still_unsettled(self) -> frozenset[ClusterKey]:
        """The clusters whose recorded writes the next report must still tell about.

        This cycle's writes whose outcome it could not learn, and an earlier cycle's such
        writes on clusters this cycle could not read (its report cannot say what became of
        them). Every other recorded correction is shown, or given way to, by this report.
        """
        mine = {c.plan.key for c in self.clusters if c.unsettled}
        unread = {
            c.key
            for c in self.unreported
            if c.unsettled
            and ((seen := self.observation(c.key)) is None or seen.failure is not None)
        }
        return frozenset(mine | unread)

    @property
    def unread(self) -> tuple[tuple[ClusterKey, Failure], ...]:
        """The clusters this cycle meant to read from Atlas and could not, and why.

        Atlas answering that a project does not exist (404) is an answer, reported for each
        of its clusters; no answer (a timeout, a dropped connection), an error answer (429,
        5xx), refused credentials (401, 403) or no credentials for a profile are not.
        """
        return tuple(
            (key, seen.failure)
            for key, seen in self.observed
            if seen.failure is not None and seen.failure.status != _NOT_FOUND
        )

    @property
    def statuses(self) -> tuple[Status, ...]:
        """Each cluster's status: after applying, or as planned."""
        if self.applied:
            return tuple(c.status for c in self.clusters)
        return tuple(c.status for c in self.plan.clusters)
