"""The daemon's Prometheus metrics: every family, on a private registry, and its text rendering.

Owns the metric names, types, labels and buckets, and the small API the daemon and the
adapters call (``observe_cycle``, ``set_clusters``, ``count_atlas_request`` ...). Every
``Metrics`` has its own ``CollectorRegistry`` (never prometheus-client's global one), so two
daemons or two tests in one process never share a counter. It must not serve HTTP (that is
``adapters.http_server``), decide what a status means, or log.

    gitopsd_cycle_duration_seconds          histogram  result
    gitopsd_cycle_exceptions_total          counter
    gitopsd_cycle_requests_deferred_total   counter
    gitopsd_last_success_timestamp_seconds  gauge
    gitopsd_clusters                        gauge      status (every status, zeros included)
    gitopsd_atlas_requests_total            counter    method, status ("200", "429", "error")
    gitopsd_atlas_rate_limit_remaining      gauge      (NaN until Atlas has said)
    gitopsd_git_fetch_failures_total        counter
    gitopsd_state_db_rebuilds_total         counter
    gitopsd_webhooks_total                  counter    result
    gitopsd_build_info                      gauge = 1  version, python
    process_*                               the standard process collector (RSS, fds, CPU)
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterable, Mapping

import prometheus_client
from prometheus_client import exposition, registry

from gitopsd import __version__
from gitopsd.core.report_model import ReportStatus

CLUSTER_STATUSES = tuple(str(status) for status in ReportStatus)
"""The ``status`` label values of ``gitopsd_clusters``; each is always exported."""

CYCLE_BUCKETS_S = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""A cycle is one Git fetch plus a few Atlas calls per cluster: seconds to tens of minutes."""

CONTENT_TYPE = exposition.CONTENT_TYPE_PLAIN_0_0_4
"""The text format every Prometheus version reads (the names here need no UTF-8 escaping)."""

NO_RESPONSE = "error"
"""The ``status`` label of an Atlas request that got no HTTP answer (timeout, reset)."""


class _WithoutCreated(registry.Collector):
    """The registry's families minus prometheus-client's ``*_created`` samples.

    In the text format those come out as one extra gauge per counter and histogram series,
    which doubles the series count and means nothing to Prometheus.
    """

    def __init__(self, source: registry.CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[prometheus_client.Metric]:
        """Each family, freshly built by the registry, with its created samples dropped."""
        for family in self._source.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class Metrics:
    """The metric families of one daemon; thread-safe, as prometheus-client's metrics are.

    Args:
        process: also export the standard ``process_*`` collector (off in tests that
            compare whole scrapes).
    """

    def __init__(self, *, process: bool = True) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        into = self.registry
        self._cycle_duration = prometheus_client.Histogram(
            "gitopsd_cycle_duration_seconds",
            "How long a reconciliation cycle took, by result.",
            ["result"],
            buckets=CYCLE_BUCKETS_S,
            registry=into,
        )
        self._cycle_exceptions = prometheus_client.Counter(
            "gitopsd_cycle_exceptions_total",
            "Cycles that ended in an unexpected exception (a bug: see the log).",
            registry=into,
        )
        self._cycle_requests_deferred = prometheus_client.Counter(
            "gitopsd_cycle_requests_deferred_total",
            "Requested cycles (SIGUSR1, push webhooks) that could not run when asked, because"
            " no revision could be checked out; each runs at the first poll that checks one out.",
            registry=into,
        )
        self._last_success = prometheus_client.Gauge(
            "gitopsd_last_success_timestamp_seconds",
            "Unix time the last successful cycle finished; 0 before the first.",
            registry=into,
        )
        self._clusters = prometheus_client.Gauge(
            "gitopsd_clusters",
            "Clusters by status after the last cycle.",
            ["status"],
            registry=into,
        )
        self._atlas_requests = prometheus_client.Counter(
            "gitopsd_atlas_requests_total",
            'Atlas Admin API requests by method and HTTP status ("error": no answer).',
            ["method", "status"],
            registry=into,
        )
        self._rate_limit_remaining = prometheus_client.Gauge(
            "gitopsd_atlas_rate_limit_remaining",
            "Requests left in Atlas's rate-limit window, as last reported; NaN until known.",
            registry=into,
        )
        self._git_fetch_failures = prometheus_client.Counter(
            "gitopsd_git_fetch_failures_total",
            "Fetches of the watched repository that failed.",
            registry=into,
        )
        self._state_db_rebuilds = prometheus_client.Counter(
            "gitopsd_state_db_rebuilds_total",
            "Times a corrupt state database was moved aside and made afresh (see the log).",
            registry=into,
        )
        self._webhooks = prometheus_client.Counter(
            "gitopsd_webhooks_total",
            "Requests to /hooks/git by result.",
            ["result"],
            registry=into,
        )
        build = prometheus_client.Gauge(
            "gitopsd_build_info",
            "Always 1; the labels say which gitopsd and Python are running.",
            ["version", "python"],
            registry=into,
        )
        build.labels(version=__version__, python=platform.python_version()).set(1)
        self._rate_limit_remaining.set(math.nan)
        self.set_clusters({})
        if process:
            prometheus_client.ProcessCollector(registry=into)
        self._exported = _WithoutCreated(into)

    def observe_cycle(self, duration_s: float, result: str) -> None:
        """Record one cycle's duration under ``result`` (a small fixed set, e.g. ok/failed)."""
        self._cycle_duration.labels(result=result).observe(duration_s)

    def count_cycle_exception(self) -> None:
        """Count a cycle that ended in an unexpected exception."""
        self._cycle_exceptions.inc()

    def count_deferred_requests(self, n: int) -> None:
        """Count ``n`` requested cycles that could not run when asked."""
        self._cycle_requests_deferred.inc(n)

    def set_last_success(self, unix_s: float) -> None:
        """Record when the last successful cycle finished (Unix seconds)."""
        self._last_success.set(unix_s)

    def set_clusters(self, counts: Mapping[str, int]) -> None:
        """Set every status's count; a status missing from ``counts`` is set to 0.

        Raises ValueError for a status outside ``CLUSTER_STATUSES`` (a label set must stay
        closed, or every typo becomes a new time series).
        """
        unknown = sorted(set(counts) - set(CLUSTER_STATUSES))
        if unknown:
            raise ValueError(f"unknown cluster status {unknown}; known: {CLUSTER_STATUSES}")
        for status in CLUSTER_STATUSES:
            self._clusters.labels(status=status).set(counts.get(status, 0))

    def count_atlas_request(self, method: str, status: int | None) -> None:
        """Count one Atlas request; ``status`` None or 0 means no HTTP answer arrived."""
        label = str(status) if status else NO_RESPONSE
        self._atlas_requests.labels(method=method.upper(), status=label).inc()

    def set_rate_limit_remaining(self, n: float) -> None:
        """Record the rate-limit headroom Atlas last reported."""
        self._rate_limit_remaining.set(n)

    def count_git_fetch_failure(self) -> None:
        """Count a failed fetch of the watched repository."""
        self._git_fetch_failures.inc()

    def count_state_db_rebuild(self) -> None:
        """Count a corrupt state database moved aside and made afresh."""
        self._state_db_rebuilds.inc()

    def count_webhook(self, result: str) -> None:
        """Count one /hooks/git request by its result (the server's fixed set)."""
        self._webhooks.labels(result=result).inc()

    def render(self) -> tuple[bytes, str]:
        """The scrape body in the Prometheus text format, and its Content-Type."""
        return prometheus_client.generate_latest(self._exported), CONTENT_TYPE
