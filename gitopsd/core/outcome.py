"""What happened to each planned action when a cycle ran: the values ``apply`` returns.

Every action of a plan ends in exactly one outcome (STYLE §5): applied (and read back),
would-apply (dry run), skipped, blocked, observed (observe mode) or failed with Atlas's
``errorCode`` and ``detail`` verbatim. Pure values; the shell in ``reconcile`` produces them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gitopsd.core.diff import FieldChange
from gitopsd.core.plan import ActionKind, ClusterPlan, Failure, Hold, Plan, Status
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


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleResult:
    """One full cycle: where the manifests came from, the plan, and every cluster's result.

    ``applied`` is False for ``plan`` (nothing was tried; ``clusters`` is empty).
    """

    revision: str
    plan: Plan
    problems: tuple[Problem, ...]
    clusters: tuple[ClusterResult, ...]
    applied: bool = False
    dry_run: bool = False
    dry_run_lines: tuple[str, ...] = ()

    @property
    def statuses(self) -> tuple[Status, ...]:
        """Each cluster's status: after applying, or as planned."""
        if self.applied:
            return tuple(c.status for c in self.clusters)
        return tuple(c.status for c in self.plan.clusters)
