"""The report branch rules: when to commit a report, on which parent, and how to push it.

Owns the decisions of ``GitSource.publish`` (``adapters.gitrepo`` runs the git commands behind
the ``Refs`` seam declared here):

- the branch tip already carries the report's ``Drift-Fingerprint`` trailer and contains the
  watched revision: nothing to do, so a report pushed just before a crash is never repeated;
- a new commit's tree is always the watched revision's tree with the report's files laid over
  it; its parent is the report tip when that contains the watched revision (report history
  stays linear), else the watched revision itself (the branch is rebuilt);
- the push names only the report branch, with a lease on the tip it was built on. Transient
  failures are retried with capped, jittered backoff (``core.backoff``), each wait on the stop
  event; a rejected lease (someone moved the branch) means fetch, rebuild and push again, a
  bounded number of rounds, then ``GitConflictError``.

It must not import ``git``, must not touch the watched branch, and must not log.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gitopsd.core import backoff
from gitopsd.errors import GitConflictError, GitError
from gitopsd.source import Published, ReportCommit

FINGERPRINT_TRAILER = "Drift-Fingerprint"
ROUNDS = 3
"""Fetch-build-push rounds before giving up on a branch that keeps moving."""
PUSH_RETRY = backoff.RetryPolicy(max_attempts=4, base_s=1.0, cap_s=8.0, deadline_s=60.0)
"""Attempts and waits of one push whose failure is not a rejection (network, server error)."""


class PushOutcome(enum.Enum):
    """How a push ended when git could talk to the remote."""

    PUSHED = "pushed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """A push that reached the remote; ``reason`` is the remote's word on a rejection."""

    outcome: PushOutcome
    reason: str = ""


class Refs(Protocol):
    """The git operations publishing needs; every method raises GitError when git fails."""

    def fetch_branch(self, branch: str) -> str | None:
        """Bring the remote branch's tip into the clone; None when the branch does not exist."""
        ...

    def contains(self, tip: str, revision: str) -> bool:
        """Whether ``revision`` is ``tip`` or one of its ancestors."""
        ...

    def trailer(self, commit: str, key: str) -> tuple[str, ...]:
        """The values of trailer ``key`` in ``commit``'s message."""
        ...

    def write_commit(
        self, *, base: str, parent: str, files: tuple[tuple[str, bytes], ...], message: str
    ) -> str:
        """A new commit object: ``base``'s tree with ``files`` laid over it, on ``parent``."""
        ...

    def push(self, commit: str, branch: str, *, expected: str | None) -> PushResult:
        """Point the remote ``branch`` at ``commit`` if it is still at ``expected``.

        ``expected`` None means the branch must not exist. Raises GitError when the remote
        could not be reached or failed (worth retrying), returns REJECTED when it refused.
        """
        ...


class Waiter(Protocol):
    """Something to wait on that a shutdown can interrupt; ``threading.Event`` is one."""

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True when woken to stop."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Pacing:
    """How publish waits between push attempts (tests pass their own)."""

    stop: Waiter
    policy: backoff.RetryPolicy = PUSH_RETRY
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random


def publish(refs: Refs, report: ReportCommit, *, branch: str, pacing: Pacing) -> Published:
    """Commit ``report`` on ``branch`` unless it is there already; see the module docstring."""
    reason = ""
    for _ in range(ROUNDS):
        tip = refs.fetch_branch(branch)
        stacked = tip is not None and refs.contains(tip, report.base)
        if stacked and tip is not None and _holds(refs, tip, report.fingerprint):
            return Published(branch=branch, commit=None)
        parent = tip if stacked and tip is not None else report.base
        commit = refs.write_commit(
            base=report.base, parent=parent, files=report.files, message=report.message
        )
        result = _push(refs, commit, branch, expected=tip, pacing=pacing)
        if result.outcome is PushOutcome.PUSHED:
            return Published(branch=branch, commit=commit, rebuilt=not stacked)
        reason = result.reason
    raise GitConflictError(
        f"the report branch {branch} moved during each of {ROUNDS} attempts to push"
        f" ({reason or 'rejected'}); the next cycle tries again"
    )


def _holds(refs: Refs, tip: str, fingerprint: str) -> bool:
    return fingerprint in refs.trailer(tip, FINGERPRINT_TRAILER)


def _push(
    refs: Refs, commit: str, branch: str, *, expected: str | None, pacing: Pacing
) -> PushResult:
    """Push, retrying failures that are not a rejection within the pacing's budget."""
    started = pacing.clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return refs.push(commit, branch, expected=expected)
        except GitError as exc:
            delay_s = backoff.delay_s(
                pacing.policy,
                attempt=attempt,
                elapsed_s=pacing.clock() - started,
                jitter=pacing.jitter(),
            )
            if delay_s is None:
                raise GitError(f"{exc} (gave up after {attempt} attempts)") from exc
            if pacing.stop.wait(delay_s):
                raise GitError(f"{exc} (not retried: gitopsd is stopping)") from exc
