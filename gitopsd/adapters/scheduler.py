"""APScheduler 3.x behind a small typed seam: interval jobs that never overlap themselves.

Owns the scheduler's configuration (a thread pool, ``max_instances=1``, coalescing, jitter,
UTC) so the daemon speaks only of jobs, intervals and "run this one now". The only module
that imports apscheduler, which ships without type information. It must not run gitopsd's
own logic: jobs are callables handed in.

APScheduler 3 keeps each job's next run as a wall-clock time. A wall clock stepped back an
hour (a bad NTP server, an operator's ``date -s``) would hold every job, the watchdog
heartbeat included, for that hour. So a guard thread compares the wall clock with the
monotonic clock every ``CLOCK_CHECK_S`` and, when they part by more than ``CLOCK_STEP_S``,
moves every job's next run by the step (never further than one interval from now): the
intervals keep following the monotonic clock, and a step delays nothing by more than one
check. A step forward can still let a job that the step made due run once before the guard
sees it (the scheduler may wake first); its next run is then one interval on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger


class _NoSkipNotices(logging.Filter):
    """Drops APScheduler's warning that a run was skipped because the job still runs.

    Skipping is how jobs here never overlap themselves, and the daemon folds what a skipped
    poll would have asked for into one more cycle; warned about, it filled the journal with a
    line per poll for as long as a cycle ran (1,333 in a soak).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in str(record.msg)


_SKIP_NOTICES = _NoSkipNotices()
CLOCK_CHECK_S = 1.0
"""How often the guard compares the wall clock with the monotonic clock."""
CLOCK_STEP_S = 1.0
"""A change of their difference larger than this is a step (a slew is parts per million)."""


class Scheduler:
    """Interval jobs on a background thread pool; each job runs at most once at a time.

    A run that comes due while the same job still runs is skipped (``max_instances=1``),
    quietly, and runs missed while the process was busy are folded into one (``coalesce``).
    """

    def __init__(
        self,
        *,
        workers: int = 4,
        on_clock_step: Callable[[float], None] | None = None,
        clock_check_s: float = CLOCK_CHECK_S,
    ) -> None:
        logging.getLogger("apscheduler.scheduler").addFilter(_SKIP_NOTICES)
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )
        self._on_clock_step = on_clock_step
        self._clock_check_s = clock_check_s
        self._stopping = threading.Event()
        self._guard = threading.Thread(target=self._guard_clock, name="clock-guard", daemon=True)

    def every(
        self,
        job_id: str,
        fn: Callable[[], None],
        *,
        interval_s: float,
        jitter_s: float = 0.0,
        start_now: bool = False,
    ) -> None:
        """Run ``fn`` every ``interval_s`` (± ``jitter_s``); replaces a job of the same id."""
        trigger = IntervalTrigger(seconds=interval_s, jitter=jitter_s or None)
        options: dict[str, object] = {"next_run_time": _now()} if start_now else {}
        self._scheduler.add_job(fn, trigger, id=job_id, replace_existing=True, **options)

    def run_soon(self, job_id: str) -> None:
        """Bring a job's next run forward to now (a no-op for an unknown job)."""
        with contextlib.suppress(JobLookupError):
            self._scheduler.modify_job(job_id, next_run_time=_now())

    def start(self) -> None:
        """Start running jobs on the background thread, and the clock guard on its own."""
        self._scheduler.start()
        self._guard.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, return only when running jobs have finished."""
        self._stopping.set()
        if self._guard.is_alive():
            self._guard.join()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def _guard_clock(self) -> None:
        """Keep the jobs on the monotonic clock across steps of the wall clock."""
        offset = _offset()
        while not self._stopping.wait(self._clock_check_s):
            now = _offset()
            step_s, offset = now - offset, now
            if abs(step_s) > CLOCK_STEP_S:
                self._shift(step_s)

    def _shift(self, step_s: float) -> None:
        """Move every job's next run by ``step_s`` (the wall clock's step), then say so.

        No job is put further off than one interval (and its jitter) from now: a run brought
        forward to "now" just after the step (``run_soon``) is in the new time already.
        """
        step = dt.timedelta(seconds=step_s)
        now = _now()
        for job in self._scheduler.get_jobs():
            if job.next_run_time is None:
                continue
            trigger = job.trigger
            furthest = now + trigger.interval + dt.timedelta(seconds=trigger.jitter or 0)
            with contextlib.suppress(JobLookupError):  # removed meanwhile
                self._scheduler.modify_job(
                    job.id, next_run_time=min(job.next_run_time + step, furthest)
                )
        if self._on_clock_step is not None:
            self._on_clock_step(step_s)


def _offset() -> float:
    """The wall clock minus the monotonic clock: constant unless the wall clock is stepped."""
    return time.time() - time.monotonic()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
