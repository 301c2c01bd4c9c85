"""Settings -> the dependencies of a cycle: source, loader, Atlas clients, memory, publishing.

Owns the construction of long-lived objects from ``config.Settings``: one ``AtlasClient`` per
credentials profile (created on first use, so an unused profile's missing secrets cost
nothing), the source (a Git clone, or a plain directory read in place), the state database,
and what publishing needs: the report branch (the Git source itself), the pull-request client
and the manifest editor. ``Runtime`` is a context manager that closes every client it opened.
Credentials are read here and handed to the clients; they are never logged or kept elsewhere.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from gitopsd import config, desired, publish, reconcile, source
from gitopsd.adapters import atlas, forge, logs, state_db, yaml_edit
from gitopsd.core import plan
from gitopsd.core.outcome import CycleResult
from gitopsd.errors import NoDeploymentsError
from gitopsd.reconcile import AtlasApi, Deps

log = logs.get("gitopsd.state")


def log_state_rebuilt(rebuilt: state_db.Rebuilt) -> None:
    """The loud line for a corrupt state database moved aside and made afresh."""
    log.error(
        "state_db_rebuilt",
        error=f"the state database was corrupt ({rebuilt.reason}); it was moved aside and made"
        " afresh",
        kept=str(rebuilt.kept),
        hint="nothing to do for gitopsd: the next cycles relearn what it held (a cluster found"
        " out of sync is reported as pending, not drifted); look into what damaged the file"
        " (disk, another writer), then remove the kept copy",
    )


class Runtime:
    """The live dependencies built from one Settings; close it to release connections.

    ``long_lived`` (the daemon) keeps every manifest file's parsed documents between cycles,
    and the last desired state, so a cycle parses only the files that changed (nothing when no
    file did); a one-shot command would only pay for the memory.
    """

    def __init__(
        self,
        settings: config.Settings,
        *,
        dry_run: bool = False,
        stop: threading.Event,
        on_atlas_response: Callable[[str, int], None] | None = None,
        long_lived: bool = False,
        progress: reconcile.Progress = reconcile.UNWATCHED,
        on_state_rebuilt: Callable[[state_db.Rebuilt], None] | None = None,
    ) -> None:
        self.settings = settings
        self.progress = progress
        self.dry_run = dry_run
        self.stop = stop
        self._on_atlas_response = on_atlas_response
        self._clients: dict[str | None, atlas.AtlasClient] = {}
        self._lock = threading.Lock()
        self.source = source.from_settings(
            settings.git, settings.state.dir, report=settings.report, stop=stop
        )
        self.memory = state_db.StateDB(
            settings.state.dir,
            history=settings.state.history,
            on_rebuilt=on_state_rebuilt or log_state_rebuilt,
        )
        self._forge: forge.ForgeClient | None = None
        self.parsed = desired.Cache() if long_lived else None
        self.verified = reconcile.Verified()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every Atlas client opened so far."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
            pull_requests, self._forge = self._forge, None
        for client in clients:
            client.close()
        if pull_requests is not None:
            pull_requests.close()

    def client(self, profile: str | None) -> AtlasApi | None:
        """The client of a credentials profile (None: ``[atlas]``); None if no such profile.

        Raises ConfigError when the profile's credentials cannot be read.
        """
        with self._lock:
            if profile in self._clients:
                return self._clients[profile]
            files = self.settings.atlas.credentials if profile is None else None
            if profile is not None:
                files = self.settings.atlas.profile(profile)
            if files is None:
                return None
            a = self.settings.atlas
            table = "atlas" if profile is None else f"atlas.profiles.{profile}"
            client = atlas.AtlasClient(
                a.base_url,
                atlas.auth_for(files.load(table=table), base_url=a.base_url, timeout_s=a.timeout_s),
                timeout_s=a.timeout_s,
                retry=a.retry_policy(),
                concurrency=a.concurrency,
                dry_run=self.dry_run,
                stop=self.stop,
                on_response=self._on_atlas_response,
                ca_file=a.ca_file,
            )
            self._clients[profile] = client
            return client

    def dry_run_lines(self) -> tuple[str, ...]:
        """Every write the dry run refused, across profiles."""
        with self._lock:
            clients = list(self._clients.values())
        return tuple(line for c in clients for line in c.dry_run_lines)

    def load(self, checkout: source.Checkout) -> desired.Result:
        """Read the manifests of a checkout, leaving out the report directory."""
        s = self.settings
        options = s.manifests.load_options(root=checkout.manifests)
        options = dataclasses.replace(
            options,
            exclude=(*options.exclude, str(Path(checkout.root, s.report.dir))),
            relative_to=str(checkout.root),
        )
        loaded = desired.load(
            [str(checkout.manifests)],
            default_namespace=s.reconcile.default_namespace,
            options=options,
            cache=self.parsed,
        )
        if s.manifests.allow_empty or loaded.state.clusters or loaded.state.blocked:
            return loaded
        # A report of nothing would say "all 0 clusters are in sync": gitopsd cannot tell an
        # empty repository from the wrong one, so it stops before planning or reporting.
        read = f"{loaded.files} file{'' if loaded.files == 1 else 's'} read"
        raise NoDeploymentsError(
            f"no AtlasDeployment in {checkout.manifests} at {checkout.revision} ({read}), so"
            " nothing was planned or reported: check [git] url, branch and path; if none is"
            " expected there yet, set [manifests] allow_empty = true"
        )

    def deps(self) -> Deps:
        """The dependencies of one cycle."""
        r = self.settings.reconcile
        return Deps(
            source=self.source,
            load=self.load,
            clients=self.client,
            memory=self.memory,
            options=plan.Options(mode=r.mode, allow_destructive=r.allow_destructive),
            dry_run=self.dry_run,
            dry_run_lines=self.dry_run_lines,
            verified=self.verified,
            progress=self.progress,
        )

    def sink(self) -> source.ReportSink | None:
        """Where reports are committed: the Git source; None for a plain directory."""
        return self.source if isinstance(self.source, source.ReportSink) else None

    def forge(self) -> forge.ForgeClient | None:
        """The pull-request client of ``[forge]``, or None when it is off or there is no branch.

        Raises ConfigError when ``[forge]`` is on but its token cannot be read.
        """
        if self.sink() is None:
            return None
        with self._lock:
            if self._forge is None:
                s = self.settings
                self._forge = forge.from_settings(
                    s.forge,
                    head=s.report.branch,
                    base=s.git.branch,
                    timeout_s=s.atlas.timeout_s,
                    stop=self.stop,
                )
            return self._forge

    def publish_deps(self) -> publish.PublishDeps:
        """Where the cycle's report goes."""
        s = self.settings
        return publish.PublishDeps(
            state_dir=Path(s.state.dir),
            report_dir=s.report.dir,
            memory=self.memory,
            edit=functools.partial(
                yaml_edit.apply_edits, default_namespace=s.reconcile.default_namespace
            ),
            sink=self.sink(),
            forge=self.forge(),
        )

    def rate_limit_remaining(self) -> int | None:
        """The lowest rate-limit budget Atlas reported to any client, if it reported one."""
        with self._lock:
            seen = [c.rate_limit_remaining for c in self._clients.values()]
        known = [n for n in seen if n is not None]
        return min(known) if known else None

    def cycle(
        self, *, write: bool, checkout: source.Checkout | None = None, full: bool = True
    ) -> tuple[CycleResult, publish.Publication | None]:
        """One cycle: read the source, converge (with ``write``), and publish the report.

        ``plan`` (``write`` False) publishes nothing; it only reads. ``full`` False reads from
        Atlas only what changed in Git or was not in sync (``reconcile.Verified``).
        """
        checkout = self.source.checkout() if checkout is None else checkout
        result = reconcile.run_cycle(
            self.deps(), self.stop, write=write, checkout=checkout, full=full
        )
        if not write:
            return result, None
        self.progress.phase("publishing the report", 0)
        return result, publish.publish(result, checkout, self.publish_deps())
