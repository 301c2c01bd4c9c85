"""`gitopsd run`: the long-running service. Lifecycle, scheduling, signals and health.

    settings = config.load(path)                    # exit 78 when unusable
    lock the state directory                        # one daemon per [state] dir
    runtime  = wiring.Runtime(settings)             # credentials read now: exit 78 if missing
    listener = HttpServer(...)                      # /healthz /readyz /metrics /hooks/git
    first fetch, then READY=1                       # systemd Type=notify
    scheduler: poll (Git), drift (full check), heartbeat (WATCHDOG=1)
    SIGHUP -> RELOADING=1, re-read, READY=1         # a bad config keeps the old one
    SIGUSR1 -> a cycle now                          # the manual trigger
    SIGTERM -> STOPPING=1, finish in-flight, exit 0

Owns the process's lifetime and the one rule that matters for safety: cycles never overlap.
The poll job fetches the watched branch and runs an incremental cycle when the revision
changed (it reads from Atlas only what Git changed, or what was not in sync); the drift job
runs a full cycle every ``drift_interval_s``; a webhook asks for a poll now, SIGUSR1 for a
full cycle. Every request that arrives while a cycle runs is folded into one more cycle after it.
A cycle's unexpected exception is logged with its traceback and counted, and the daemon keeps
going; polls try that revision again after a wait that doubles up to the drift interval. A
cycle asked for while no revision can be checked out waits for the first poll that can fetch
one (``cycle_deferred``). /readyz says whether the last cycle was a success (``ready``).
The heartbeat sends WATCHDOG=1 only while the scheduler runs and no cycle is stuck, so
systemd restarts a daemon that stopped making progress. It must not decide anything a cycle
decides (``wiring.Runtime.cycle``), and must not catch exceptions anywhere but at a job's edge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from gitopsd import config, credentials, metrics, publish, source, wiring
from gitopsd.adapters import (
    http_server,
    logs,
    scheduler,
    state_db,
    state_dir,
    systemd,
    webhooks,
)
from gitopsd.core import report
from gitopsd.core.outcome import CycleResult, SourceNote, SourceNoteCode
from gitopsd.errors import (
    ConfigError,
    GitDiskFullError,
    GitopsdError,
    ListenError,
    StateLockedError,
)

EXIT_OK = 0
EXIT_LOCKED = 1
EXIT_CONFIG = 78
_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
STUCK_FACTOR = 3.0
"""A cycle running longer than this many drift intervals counts as stuck: no WATCHDOG=1."""

log = logs.get("gitopsd.daemon")


@dataclass(slots=True)
class _Last:
    """What the daemon knows about its last cycles (for /readyz, STATUS= and polling)."""

    revision: str = ""
    tip: str = ""
    success_at: float | None = None
    failure: str = ""
    """Why the last cycle was not a success ("" when it was, or before the first)."""
    stale: bool = False
    """The last cycle read the last good revision instead of the tip (Git away, unverified)."""
    retry_at: float = 0.0
    retry_s: float = 0.0
    """After a cycle that failed as a whole: when a poll may try it again, and the wait."""
    summary: str = "no cycle yet"
    running_since: float | None = None

    @property
    def healthy(self) -> bool:
        """The last cycle was a success."""
        return self.success_at is not None and not self.failure


class Daemon:
    """One daemon process over one configuration file.

    Args:
        config_path: the TOML file (re-read on SIGHUP).
        environ: where credentials and NOTIFY_SOCKET come from (default ``os.environ``).
        stream: where logs go (default: standard error).
    """

    def __init__(
        self,
        config_path: Path,
        *,
        environ: Mapping[str, str] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.config_path = config_path
        self.environ = os.environ if environ is None else environ
        self.stream = stream
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.metrics = metrics.Metrics()
        self.notifier = systemd.Notifier.from_environ(self.environ)
        self._reload = threading.Event()
        self._trigger = threading.Event()
        self._cycle_lock = threading.Lock()
        self._wanted = threading.Event()
        self._full_wanted = threading.Event()
        self._state_lock = threading.Lock()
        self._last = _Last()
        self._settings: config.Settings | None = None
        self._runtime: wiring.Runtime | None = None
        self._server: http_server.HttpServer | None = None
        self._scheduler: scheduler.Scheduler | None = None
        self._heartbeat_at = time.monotonic()
        self._first_notes: tuple[SourceNote, ...] = ()
        self._requests = 0  # requested cycles (SIGUSR1, webhooks) not yet served
        self._requests_told = 0  # of those, how many a cycle_deferred line has counted
        self._fetch_error = ""

    # -- the process ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM; the exit code (0, or 78 for a configuration error)."""
        logs.configure(stream=self.stream)
        try:
            settings = config.load(self.config_path, environ=self.environ)
        except ConfigError as exc:
            log.error("config_invalid", error=str(exc))  # noqa: TRY400 - the message says it all
            return EXIT_CONFIG
        try:
            with state_dir.lock(Path(settings.state.dir)):
                return self._serve(settings)
        except StateLockedError as exc:
            log.error("state_locked", error=str(exc))  # noqa: TRY400 - the message says it all
            return EXIT_LOCKED
        except ConfigError as exc:
            log.error("config_invalid", error=str(exc))  # noqa: TRY400 - the message says it all
            return EXIT_CONFIG
        except ListenError as exc:
            # Waiting cannot free the port: exit 78, so systemd does not restart into a loop.
            log.error("listen_failed", error=f"[server] listen: {exc}")  # noqa: TRY400
            return EXIT_CONFIG

    def _serve(self, settings: config.Settings) -> int:
        self._install_signals()
        self._settings = settings
        self._runtime = self._open_runtime(settings)
        try:
            with self._signals_blocked():
                self._server = self._open_server(settings).start()
            log.info("daemon_started", listen=self._server.url, config=str(self.config_path))
            if not self._first_fetch():
                return EXIT_OK
            self.notifier.ready(status=f"watching {settings.git.branch}; first cycle starting")
            with self._signals_blocked():
                self._scheduler = self._start_scheduler(settings)
            self._main_loop()
        finally:
            self._shut_down()
        log.info("daemon_stopped")
        return EXIT_OK

    @contextlib.contextmanager
    def _signals_blocked(self) -> Iterator[None]:
        """Start threads here: they inherit a mask blocking the daemon's signals.

        The kernel then delivers those signals to the main thread, the only one that runs
        Python signal handlers, so none waits on a busy thread.
        """
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_reload_signal)
        signal.signal(signal.SIGUSR1, self._on_trigger_signal)

    def _on_stop_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop.set()
        self.wake.set()

    def _on_reload_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload.set()
        self.wake.set()

    def _on_trigger_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._trigger.set()
        self.wake.set()

    def _open_runtime(self, settings: config.Settings) -> wiring.Runtime:
        """A runtime whose credentials are read now, so a missing secret fails at start."""
        runtime = wiring.Runtime(
            settings,
            stop=self.stop,
            on_atlas_response=self.metrics.count_atlas_request,
            long_lived=True,
            on_state_rebuilt=self._on_state_rebuilt,
        )
        try:
            runtime.client(None)  # reads the credentials: ConfigError when they are missing
            runtime.forge()
        except ConfigError:
            runtime.close()
            raise
        return runtime

    def _open_server(self, settings: config.Settings) -> http_server.HttpServer:
        secret = credentials.read_secret(
            "webhook_secret", file=settings.server.webhook_secret_file, environ=self.environ
        )
        return http_server.HttpServer(
            settings.server.address(),
            health=self,
            metrics=self.metrics,
            on_push=self._on_push,
            branch=settings.git.branch,
            webhook_secret=secret,
        )

    def _on_state_rebuilt(self, rebuilt: state_db.Rebuilt) -> None:
        self.metrics.count_state_db_rebuild()
        wiring.log_state_rebuilt(rebuilt)

    def _first_fetch(self) -> bool:
        """Fetch until it works (READY=1 waits for it) or until asked to stop."""
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            delay_s = min(60.0, 2.0**attempt)
            try:
                assert self._runtime is not None
                checkout = self._runtime.source.checkout()
            except GitopsdError as exc:
                self.metrics.count_git_fetch_failure()
                log.warning("first_fetch_failed", error=str(exc), attempt=attempt, delay_s=delay_s)
                self.notifier.status(f"waiting for the first fetch: {exc}")
                self.stop.wait(delay_s)
                continue
            except Exception as exc:  # a bug: logged with its traceback, counted, retried
                self.metrics.count_git_fetch_failure()
                self.metrics.count_cycle_exception()
                log.exception(
                    "first_fetch_failed", error=str(exc), attempt=attempt, delay_s=delay_s
                )
                self.notifier.status(f"waiting for the first fetch: {exc}")
                self.stop.wait(delay_s)
                continue
            log.info("first_fetch", revision=checkout.revision)
            self._first_notes = checkout.notes  # e.g. the clone was made again: the first
            return True  # cycle's report must say so, though its own fetch finds it sound
        return False

    def _start_scheduler(self, settings: config.Settings) -> scheduler.Scheduler:
        jobs = scheduler.Scheduler(on_clock_step=self._on_clock_step)
        self._add_jobs(jobs, settings)
        jobs.start()
        return jobs

    def _add_jobs(self, jobs: scheduler.Scheduler, settings: config.Settings) -> None:
        poll_s = settings.git.poll_interval_s
        drift_s = settings.reconcile.drift_interval_s
        jobs.every(
            "poll", self._poll, interval_s=poll_s, jitter_s=min(poll_s * 0.1, 5.0), start_now=True
        )
        jobs.every("drift", self._drift, interval_s=drift_s, jitter_s=min(drift_s * 0.05, 30.0))
        watchdog_s = self.notifier.watchdog_interval_s() or min(poll_s, 30.0)
        jobs.every("heartbeat", self._heartbeat, interval_s=watchdog_s, start_now=True)

    def _main_loop(self) -> None:
        while not self.stop.is_set():
            self.wake.wait(timeout=1.0)  # a bound, should a signal still land elsewhere
            self.wake.clear()
            if self._reload.is_set() and not self.stop.is_set():
                self._reload.clear()
                self._do_reload()
            if self._trigger.is_set() and not self.stop.is_set():
                self._trigger.clear()
                log.info("cycle_requested", by="SIGUSR1")
                self.request_cycle(full=True)

    def _shut_down(self) -> None:
        self.notifier.stopping(status="stopping: finishing the cycle in flight")
        self.stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        with self._cycle_lock:  # the in-flight cycle has written its report
            pass
        if self._server is not None:
            self._server.stop()
        if self._runtime is not None:
            self._runtime.close()
        self.notifier.close()

    # -- reload ---------------------------------------------------------------------------------

    def _do_reload(self) -> None:
        """RELOADING=1, re-read the file, swap between cycles, READY=1 (old config on failure)."""
        self.notifier.reloading(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        try:
            settings = config.load(self.config_path, environ=self.environ)
            if self._settings is not None:
                _refuse_restart_only(self._settings, settings)
            runtime = self._open_runtime(settings)
        except ConfigError as exc:
            log.error("reload_failed", error=str(exc))  # noqa: TRY400 - the message says it all
            self.notifier.ready(status=f"reload failed, keeping the old configuration: {exc}")
            return
        with self._cycle_lock:
            old, self._runtime, self._settings = self._runtime, runtime, settings
        if old is not None:
            old.close()
        if self._scheduler is not None:
            self._add_jobs(self._scheduler, settings)
        log.info("config_reloaded", config=str(self.config_path))
        self.notifier.ready(status=f"configuration reloaded; {self._last.summary}")

    # -- jobs -----------------------------------------------------------------------------------

    def _poll(self) -> None:
        """Fetch; run a cycle when the revision changed or a cycle was asked for.

        The fetch moves the worktree the manifests are read from, so it happens only while no
        cycle runs: a poll that finds one running asks it for one more instead.
        """
        self._run("poll", poll=True)

    def _drift(self) -> None:
        self._run("drift", full=True)

    def _on_push(self, event: webhooks.PushEvent) -> bool:
        """A push to the watched branch: poll now (after the running cycle, if any)."""
        log.info("webhook_push", ref=event.ref, after=event.after)
        self.request_cycle()
        return True

    def request_cycle(self, *, full: bool = False) -> None:
        """Run a cycle as soon as possible, without overlapping one that runs.

        A webhook's cycle is incremental: it reads from Atlas what Git changed. ``full`` (the
        manual trigger) reads every cluster, as the drift check does.
        """
        if full:
            self._full_wanted.set()
        with self._state_lock:
            self._requests += 1
        self._wanted.set()
        if self._scheduler is not None:
            self._scheduler.run_soon("poll")

    def _run(self, reason: str, *, poll: bool = False, full: bool = False) -> None:
        """Cycles until no request is left; never two at once.

        A poll's cycle is incremental (``wiring.Runtime.cycle``); the drift check's and the
        manual trigger's are full, and so is the first after a start or a reload, since
        nothing has been read in sync yet.
        """
        if not self._cycle_lock.acquire(blocking=False):
            if full:
                self._full_wanted.set()
            self._wanted.set()  # the running cycle's owner runs one more
            return
        try:
            checkout = self._fetch()
            if checkout is None:  # what was asked for waits for the first poll that can fetch
                if full:
                    self._full_wanted.set()
                    self._wanted.set()
                self._tell_deferred()
                return
            if poll and not self._wanted.is_set():
                with self._state_lock:
                    last = self._last
                    unchanged = (checkout.revision, checkout.tip) == (last.revision, last.tip)
                    if unchanged and last.healthy and not checkout.notes:  # nothing new
                        last.success_at = time.monotonic()
                    back = last.stale and not _stale(checkout.notes)  # the tip is usable again
                    due = 0 < last.retry_at <= time.monotonic()  # a failed cycle's retry
                    if unchanged and not back and not due:
                        return
            while not self.stop.is_set():
                with self._state_lock:
                    self._requests = self._requests_told = 0
                self._wanted.clear()
                full = full or self._full_wanted.is_set()
                self._full_wanted.clear()
                self._one_cycle(reason, checkout, full=full)
                if not self._wanted.is_set():
                    break
                reason, full = "requested", False
                checkout = self._fetch()
                if checkout is None:
                    self._wanted.set()  # still wanted: the first poll that can fetch runs it
                    self._tell_deferred()
                    break
        finally:
            self._cycle_lock.release()

    def _tell_deferred(self) -> None:
        """Log and count requested cycles that a failed checkout keeps from running now."""
        with self._state_lock:
            untold, self._requests_told = self._requests - self._requests_told, self._requests
        if untold <= 0 or self.stop.is_set():
            return
        self.metrics.count_deferred_requests(untold)
        log.warning(
            "cycle_deferred",
            requests=untold,
            reason=f"no revision of the watched branch can be checked out: {self._fetch_error}",
            hint="the requested cycle runs at the first poll that checks one out; see fetch_failed",
        )

    def _fetch(self) -> source.Checkout | None:
        """The watched branch now; None (counted, logged) when there is no revision to read."""
        runtime = self._runtime
        self._fetch_error = "gitopsd is stopping"
        if runtime is None or self.stop.is_set():
            return None
        try:
            checkout = runtime.source.checkout()
        except GitDiskFullError as exc:
            self._fetch_error = str(exc)
            if not exc.deferred:  # else no fetch was tried: the source waits for space
                self.metrics.count_git_fetch_failure()
                log.warning("fetch_failed", error=str(exc), retry_in_s=round(exc.retry_in_s))
            return None
        except GitopsdError as exc:
            self.metrics.count_git_fetch_failure()
            log.warning("fetch_failed", error=str(exc))
            self._fetch_error = str(exc)
            return None
        except Exception as exc:  # the job boundary: a bug, logged with its traceback, counted
            self.metrics.count_git_fetch_failure()
            self.metrics.count_cycle_exception()
            log.exception("fetch_failed", error=str(exc))
            self._fetch_error = f"an unexpected error: {exc}"
            return None
        self._fetch_error = ""
        for note in checkout.notes:
            if note.code is SourceNoteCode.FETCH_FAILED:
                self.metrics.count_git_fetch_failure()
                log.warning("fetch_failed", error=note.message, revision=checkout.revision)
        if self._first_notes:  # e.g. the clone was made again before READY=1: the first
            notes = (*self._first_notes, *checkout.notes)  # cycle's report must say so
            checkout, self._first_notes = dataclasses.replace(checkout, notes=notes), ()
        return checkout

    def _one_cycle(self, reason: str, checkout: source.Checkout, *, full: bool) -> None:
        runtime = self._runtime
        assert runtime is not None
        cycle_id = uuid.uuid4().hex[:12]
        started = time.monotonic()
        with self._state_lock:
            self._last.running_since = started
        with logs.bind(cycle_id=cycle_id):
            log.info("cycle_started", reason=reason, full=full)
            try:
                result, published = runtime.cycle(write=True, checkout=checkout, full=full)
            except Exception as exc:  # the job boundary: log, count, keep running
                self.metrics.count_cycle_exception()
                self.metrics.observe_cycle(time.monotonic() - started, "exception")
                log.exception("cycle_failed", error=str(exc))
                self.notifier.status(f"last cycle failed: {exc}")
                with self._state_lock:
                    last = self._last
                    last.running_since = None
                    last.failure = f"the last cycle failed: {exc}"
                    # polls try this revision again after a wait, not at every poll
                    last.revision, last.tip = checkout.revision, checkout.tip
                    last.retry_s = self._retry_wait_s(last.retry_s)
                    last.retry_at = time.monotonic() + last.retry_s
                return
            if runtime.parsed is None or runtime.parsed.rebuilt:
                _freeze_what_lives()
            duration_s = time.monotonic() - started
            self._record(result, published, duration_s)

    def _record(
        self, result: CycleResult, published: publish.Publication | None, duration_s: float
    ) -> None:
        drift = None if published is None else published.drift
        problems = () if published is None else published.problems
        failure = _failure(result, problems)
        failed = bool(failure)
        self.metrics.observe_cycle(duration_s, "published-with-problems" if failed else "ok")
        if drift is not None:
            by_status = {str(s): n for s, n in drift.summary.by_status}
            self.metrics.set_clusters(by_status)
            summary = report.subject(drift)
        else:
            summary = f"{len(result.plan.clusters)} clusters"
        remaining = self._runtime.rate_limit_remaining() if self._runtime else None
        if remaining is not None:
            self.metrics.set_rate_limit_remaining(float(remaining))
        now = time.monotonic()
        with self._state_lock:
            self._last.revision = result.revision
            self._last.tip = result.source.tip
            self._last.running_since = None
            self._last.summary = f"{summary} at {result.source.branch}@{result.revision[:12]}"
            self._last.failure = failure
            self._last.stale = _stale(result.source.notes)
            if problems:  # no report published (Git away for the push, say): a poll tries the
                # revision again after a wait, so the report follows when Git is back
                self._last.retry_s = self._retry_wait_s(self._last.retry_s)
                self._last.retry_at = now + self._last.retry_s
            else:
                self._last.retry_at = self._last.retry_s = 0.0
            if not failed:
                self._last.success_at = now
        if not failed:
            self.metrics.set_last_success(time.time())
        for problem in problems:
            log.error("publish_failed", error=problem)
        log.info(
            "cycle_finished",
            duration_s=round(duration_s, 3),
            summary=summary,
            full=result.full,
            read=len(result.observed),
        )
        self.notifier.status(self._last.summary)

    def _retry_wait_s(self, previous_s: float) -> float:
        """The wait before a failed cycle is tried again by a poll.

        One poll interval first, then doubling, up to the drift interval (whose full cycle
        runs anyway).
        """
        settings = self._settings
        poll_s = settings.git.poll_interval_s if settings else 60.0
        drift_s = settings.reconcile.drift_interval_s if settings else 900.0
        return min(max(poll_s, 2 * previous_s), max(drift_s, poll_s))

    def _on_clock_step(self, step_s: float) -> None:
        log.warning(
            "wall_clock_stepped",
            step_s=round(step_s, 3),
            hint="the jobs were moved with it: polls, drift checks and the watchdog keep their"
            " intervals; check the host's time synchronisation",
        )

    def _heartbeat(self) -> None:
        """WATCHDOG=1 while the scheduler runs jobs and no cycle is stuck."""
        self._heartbeat_at = time.monotonic()
        if self._stuck():
            log.warning("cycle_stuck", running_s=self._running_s())
            return
        self.notifier.watchdog()

    def _running_s(self) -> float:
        with self._state_lock:
            since = self._last.running_since
        return 0.0 if since is None else time.monotonic() - since

    def _stuck(self) -> bool:
        settings = self._settings
        limit_s = STUCK_FACTOR * (settings.reconcile.drift_interval_s if settings else 900.0)
        return self._running_s() > limit_s

    # -- health (http_server.Health) -------------------------------------------------------------

    def alive(self) -> bool:
        """The scheduler's heartbeat ran recently and no cycle is stuck."""
        settings = self._settings
        if settings is None or self._scheduler is None:
            return False
        window_s = 3 * max(settings.git.poll_interval_s, 1.0) + 60.0
        return time.monotonic() - self._heartbeat_at < window_s and not self._stuck()

    def ready(self) -> tuple[bool, str]:
        """The last cycle was a success, within the last three poll intervals.

        A success read Git's tip (fetched and trusted), read from Atlas every cluster it meant
        to, and published its report (docs/http.md). A poll that finds the revision unchanged
        renews a success, never a failure: Git was read and there was nothing new to do.
        """
        settings = self._settings
        with self._state_lock:
            success_at, failure = self._last.success_at, self._last.failure
        if failure:
            return False, failure
        if settings is None or success_at is None:
            return False, "no successful cycle yet"
        age_s = time.monotonic() - success_at
        window_s = 3 * settings.git.poll_interval_s
        if age_s > window_s:
            why = f"the last successful cycle was {age_s:.0f} s ago (> {window_s:.0f} s)"
            fetch_error = self._fetch_error
            return False, f"{why}; the last fetch failed: {fetch_error}" if fetch_error else why
        return True, ""


def _stale(notes: tuple[SourceNote, ...]) -> bool:
    """Whether a checkout with these notes is the last good revision instead of the tip."""
    return any(n.code in (SourceNoteCode.FETCH_FAILED, SourceNoteCode.UNVERIFIED) for n in notes)


def _failure(result: CycleResult, problems: tuple[str, ...]) -> str:
    """Why a cycle that ran to its end is not a success; "" when it is."""
    for note in result.source.notes:
        if note.code in (SourceNoteCode.FETCH_FAILED, SourceNoteCode.UNVERIFIED):
            return f"the last cycle could not use the branch tip: {note.message}"
    unread = result.unread
    if unread:
        key, failure = unread[0]
        return (
            f"the last cycle could not read {len(unread)} of {len(result.observed)} clusters"
            f" from Atlas (e.g. {key}: {failure.message})"
        )
    if problems:
        return f"publishing the last cycle's report failed ({problems[0]})"
    return ""


def _refuse_restart_only(old: config.Settings, new: config.Settings) -> None:
    """ConfigError when ``new`` changes what only a restart can change (the lock, the listener)."""
    changes = config.restart_only_changes(old, new)
    if changes:
        raise ConfigError(
            "; ".join(changes) + ": these take effect only at a restart"
            " (systemctl restart gitopsd); undo the change to reload the rest"
        )


def _freeze_what_lives() -> None:
    """Collect, then take what survives out of the cyclic collector's future passes.

    After a cycle that built a new desired state, what is alive is mostly what later cycles
    keep: the parsed manifests, the desired state, the clients. Left in the collector's
    oldest generation, millions of such objects were scanned again by every full collection,
    a few times a cycle (about a fifth of a 10,000-cluster no-op cycle's CPU,
    docs/benchmarks.md). Collected first, so no garbage is frozen; a frozen object dropped
    later is still freed by reference counting, and these values form no reference cycles.
    """
    gc.collect()
    gc.freeze()


def run(config_path: Path) -> int:
    """``gitopsd run --config FILE``."""
    return Daemon(config_path).run()
