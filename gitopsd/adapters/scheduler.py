"""APScheduler 3.x behind a small typed seam: interval jobs that never overlap themselves.

Owns the scheduler's configuration (a thread pool, ``max_instances=1``, coalescing, jitter,
UTC) so the daemon speaks only of jobs, intervals and "run this one now". The only module
that imports apscheduler, which ships without type information. It must not run gitopsd's
own logic: jobs are callables handed in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
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


class Scheduler:
    """Interval jobs on a background thread pool; each job runs at most once at a time.

    A run that comes due while the same job still runs is skipped (``max_instances=1``),
    quietly, and runs missed while the process was busy are folded into one (``coalesce``).
    """

    def __init__(self, *, workers: int = 4) -> None:
        logging.getLogger("apscheduler.scheduler").addFilter(_SKIP_NOTICES)
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )

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
        """Start running jobs on the background thread."""
        self._scheduler.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, return only when running jobs have finished."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
