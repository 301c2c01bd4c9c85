"""How long to wait before retrying a request: capped exponential backoff with full jitter.

Pure: the caller passes the attempt number, the time already spent, the server's Retry-After and
a jitter draw in [0, 1); the function returns the delay, or None when the retry budget (attempts
or deadline) is spent. The waiting itself happens in the adapter, on a stop event.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """The retry budget: attempts, exponential base and cap, and an overall deadline."""

    max_attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    deadline_s: float = 120.0


def delay_s(
    policy: RetryPolicy,
    *,
    attempt: int,
    elapsed_s: float,
    jitter: float,
    retry_after_s: float | None = None,
) -> float | None:
    """The wait before attempt ``attempt + 1`` after ``attempt`` failed ones; None to give up.

    Full jitter spreads retries of many clients evenly over ``[0, min(cap, base * 2**n))``;
    a server's Retry-After is a floor, never shortened by jitter. A wait that would end past
    the deadline is not started.
    """
    if attempt >= policy.max_attempts:
        return None
    ceiling = min(policy.cap_s, policy.base_s * 2.0 ** (attempt - 1))
    wait = ceiling * min(max(jitter, 0.0), 1.0)
    if retry_after_s is not None:
        wait = max(wait, retry_after_s)
    if elapsed_s + wait > policy.deadline_s:
        return None
    return wait
