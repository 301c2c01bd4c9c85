"""Settings -> the dependencies of a cycle: source, manifest loader, Atlas clients, memory.

Owns the construction of long-lived objects from ``config.Settings``: one ``AtlasClient`` per
credentials profile (created on first use, so an unused profile's missing secrets cost
nothing), the ``DirectorySource`` and the state database. ``Runtime`` is a context manager that
closes every client it opened. Credentials are read here and handed to the clients; they are
never logged or kept elsewhere.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from gitopsd import config, desired, source
from gitopsd.adapters import atlas, state_db
from gitopsd.core import plan
from gitopsd.reconcile import AtlasApi, Deps


class Runtime:
    """The live dependencies built from one Settings; close it to release connections."""

    def __init__(
        self, settings: config.Settings, *, dry_run: bool = False, stop: threading.Event
    ) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self.stop = stop
        self._clients: dict[str | None, atlas.AtlasClient] = {}
        self._lock = threading.Lock()
        self.source = source.from_url(settings.git.url, settings.git.path)
        self.memory = state_db.StateDB(settings.state.dir)

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
        for client in clients:
            client.close()

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
            client = atlas.AtlasClient(
                a.base_url,
                atlas.auth_for(files.load(), base_url=a.base_url, timeout_s=a.timeout_s),
                timeout_s=a.timeout_s,
                retry=a.retry_policy(),
                concurrency=a.concurrency,
                dry_run=self.dry_run,
                stop=self.stop,
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
        return desired.load(
            [str(checkout.manifests)],
            default_namespace=s.reconcile.default_namespace,
            options=options,
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
        )
