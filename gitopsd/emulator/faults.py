"""Misbehaviour on purpose: seeded fault injection and the token-bucket rate limiter.

Owns the fault settings (latency, 5xx rate, drop rate, a scripted queue of next answers),
the seeded random source that makes them reproducible, and the token bucket. It decides what
a request suffers; it never builds HTTP responses or touches cluster state. Callers hold the
emulator's lock.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import deque
from collections.abc import Callable, Mapping

from gitopsd.emulator import problems

DROP = "drop"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """What one request suffers: a delay, then maybe a drop or an injected status."""

    delay_s: float = 0.0
    drop: bool = False
    status: int | None = None
    retry_after_s: int | None = None


def _number(raw: Mapping[str, object], key: str, default: float, *, upper: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise problems.invalid(f"{key} must be a number between 0 and {upper}", key)
    return float(value)


def _script_entry(entry: object) -> str:
    text = str(entry).strip().lower()
    status, _, retry_after = text.partition(":")
    if text != DROP and not (
        status.isdigit()
        and 400 <= int(status) <= 599
        and (not retry_after or retry_after.isdigit())
    ):
        raise problems.invalid(f"script entry {entry!r} is not STATUS[:RETRY_AFTER_S] or drop")
    return text


class FaultPlan:
    """Seeded fault injection for /api/atlas/v2 requests; off until configured."""

    def __init__(self) -> None:
        self.configure({})

    def configure(self, raw: Mapping[str, object]) -> None:
        """Replace every fault setting from a PUT /_emulator/faults document."""
        latency_ms = _number(raw, "latency_ms", 0, upper=600_000)
        error_rate = _number(raw, "error_rate", 0, upper=1)
        drop_rate = _number(raw, "drop_rate", 0, upper=1)
        seed = raw.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise problems.invalid("seed must be an integer", "seed")
        script = raw.get("script", [])
        if not isinstance(script, list):
            raise problems.invalid("script must be a list", "script")
        entries = [_script_entry(entry) for entry in script]
        self.latency_ms, self.error_rate, self.drop_rate = latency_ms, error_rate, drop_rate
        self.seed = seed
        self.script: deque[str] = deque(entries)
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not cryptography

    def as_json(self) -> dict[str, object]:
        """The current settings, with what is left of the script."""
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "drop_rate": self.drop_rate,
            "seed": self.seed,
            "script": list(self.script),
        }

    def next_fault(self) -> Fault:
        """Draw the fault for the next request: the script first, then the rates."""
        delay_s = self.latency_ms / 1000
        if self.script:
            entry = self.script.popleft()
            if entry == DROP:
                return Fault(delay_s=delay_s, drop=True)
            status, _, retry_after = entry.partition(":")
            return Fault(
                delay_s=delay_s,
                status=int(status),
                retry_after_s=int(retry_after) if retry_after else None,
            )
        if self.drop_rate and self._rng.random() < self.drop_rate:
            return Fault(delay_s=delay_s, drop=True)
        if self.error_rate and self._rng.random() < self.error_rate:
            return Fault(delay_s=delay_s, status=self._rng.choice((500, 503)))
        return Fault(delay_s=delay_s)


class TokenBucket:
    """Atlas-style token bucket: `capacity` requests, refilled at `refill_per_s`."""

    def __init__(self, *, capacity: int, refill_per_s: float, clock: Callable[[], float]) -> None:
        if capacity < 1 or refill_per_s <= 0:
            raise ValueError("a token bucket needs capacity >= 1 and refill_per_s > 0")
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def take(self) -> tuple[bool, int, int]:
        """Spend one token: (allowed, remaining, retry_after_s)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.refill_per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True, math.floor(self._tokens), 0
        retry_after_s = max(1, math.ceil((1 - self._tokens) / self.refill_per_s))
        return False, 0, retry_after_s

    def as_json(self) -> dict[str, object]:
        """The limiter's settings."""
        return {"capacity": self.capacity, "refill_per_s": self.refill_per_s}
