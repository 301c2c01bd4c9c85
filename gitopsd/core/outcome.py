"""What happened to each planned action when a cycle ran: the values ``apply`` returns.

Every action of a plan ends in exactly one outcome (STYLE §5): applied (and read back),
would-apply (dry run), skipped, blocked, observed (observe mode) or failed with Atlas's
``errorCode`` and ``detail`` verbatim. Pure values; the shell in ``reconcile`` produces them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gitopsd.core.diff import FieldChange
from gitopsd.core.model import ClusterKey, DesiredState, Mode
from gitopsd.core.plan import ActionKind, ClusterPlan, Failure, Hold, Observation, Plan, Status
from gitopsd.core.problems import Problem


class Outcome(enum.StrEnum):
    """How one action ended."""

    APPLIED = "applied"
    WOULD_APPLY = "would-apply"
    SKIPPED = "skipped"
    BLOCKED = "blocked"
    OBSERVED = "observed"
    FAILED = "failed"

    @classmethod
    def of_hold(cls, hold: Hold) -> Outcome:
        """The outcome of an action the plan held back."""
        return {Hold.BLOCKED: cls.BLOCKED, Hold.SKIPPED: cls.SKIPPED, Hold.OBSERVED: cls.OBSERVED}[
            hold
        ]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """One action and how it ended."""

    kind: ActionKind
    outcome: Outcome
    changes: tuple[FieldChange, ...]
    reason: str = ""
    failure: Failure | None = None


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
        if Outcome.BLOCKED in outcomes:
            return Status.BLOCKED
        if Outcome.SKIPPED in outcomes:
            return Status.SKIPPED
        if self.converged:
            return Status.IN_SYNC
        return Status.PENDING


class SourceNoteCode(enum.StrEnum):
    """Something about the source a report must say."""

    FETCH_FAILED = "fetch-failed"
    UNVERIFIED = "unverified"
    RECLONED = "recloned"
    HISTORY_REWRITTEN = "history-rewritten"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceNote:
    """Why the revision read is not simply the branch tip, or what the source had to repair."""

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
    found on one of them was made in Atlas, out of band (drift), not asked for by Git.
    ``observed`` is what Atlas held before any write.
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

    def observation(self, key: ClusterKey) -> Observation | None:
        """What Atlas held for ``key`` before any write, if it was read."""
        return next((seen for k, seen in self.observed if k == key), None)

    @property
    def statuses(self) -> tuple[Status, ...]:
        """Each cluster's status: after applying, or as planned."""
        if self.applied:
            return tuple(c.status for c in self.clusters)
        return tuple(c.status for c in self.plan.clusters)
