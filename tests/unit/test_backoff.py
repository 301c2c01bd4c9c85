"""Retry delays: exponential with full jitter, Retry-After as a floor, bounded by budget."""

from __future__ import annotations

import pytest

from gitopsd.core.backoff import RetryPolicy, delay_s

POLICY = RetryPolicy(max_attempts=5, base_s=1.0, cap_s=8.0, deadline_s=60.0)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)])
def test_ceiling_doubles_per_attempt_up_to_the_cap(attempt, ceiling):
    """The largest possible wait doubles each attempt and stops at cap_s."""
    wait = delay_s(POLICY, attempt=attempt, elapsed_s=0, jitter=0.999999)
    assert wait == pytest.approx(ceiling, rel=1e-5)


def test_cap_holds_for_late_attempts():
    """Past the cap, the ceiling stays at cap_s."""
    policy = RetryPolicy(max_attempts=50, base_s=1.0, cap_s=8.0, deadline_s=1e9)
    assert delay_s(policy, attempt=20, elapsed_s=0, jitter=0.5) == pytest.approx(4.0)


def test_full_jitter_scales_the_whole_interval():
    """Jitter 0 means retry at once; jitter 0.5 means half the ceiling."""
    assert delay_s(POLICY, attempt=3, elapsed_s=0, jitter=0.0) == 0.0
    assert delay_s(POLICY, attempt=3, elapsed_s=0, jitter=0.5) == pytest.approx(2.0)


def test_retry_after_is_a_floor():
    """A server's Retry-After is honoured even when jitter draws less."""
    assert delay_s(POLICY, attempt=1, elapsed_s=0, jitter=0.1, retry_after_s=3.0) == 3.0


def test_attempts_are_capped():
    """After max_attempts failed attempts there is no further retry."""
    assert delay_s(POLICY, attempt=5, elapsed_s=0, jitter=0.5) is None


def test_a_wait_past_the_deadline_is_not_started():
    """When the wait would end after the deadline, give up now."""
    assert delay_s(POLICY, attempt=1, elapsed_s=59.5, jitter=0.0, retry_after_s=1.0) is None
    assert delay_s(POLICY, attempt=1, elapsed_s=58.0, jitter=0.0, retry_after_s=1.0) == 1.0
