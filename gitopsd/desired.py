"""Manifest paths -> the desired state: read files, parse, build the graph.

The shell half of the pure pipeline's first two steps, shared by the commands that only read
manifests (``validate``, ``graph``) and, later, by the reconcile cycle.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass

from gitopsd.adapters import manifest_files
from gitopsd.core import graph, manifests
from gitopsd.core.model import DesiredState
from gitopsd.core.problems import Problem, ordered


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The desired state, every problem (file-level ones included), and what was read."""

    state: DesiredState
    problems: tuple[Problem, ...]
    files: int
    documents: int


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the duration of a load.

    A load builds millions of small objects that form no reference cycles; reference counting
    frees them all. Left running, the cyclic collector rescans the growing heap over and over,
    which doubled the time of a 10k-cluster load (docs/benchmarks.md).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Cache:
    """What a long-running process keeps between loads: each file's parse, the last result.

    A load whose files are all unchanged returns the last result (a frozen value) as it is;
    otherwise only the changed files are parsed again, and the graph is built anew.
    """

    def __init__(self) -> None:
        self.files = manifest_files.ParseCache()
        self._last: tuple[str, Result] | None = None
        self.rebuilt = False
        """The last load built a new desired state (something changed, or it was the first)."""

    def unchanged(self, default_namespace: str) -> Result | None:
        """After reading the files: the last result, if no file and no setting changed."""
        last = self._last
        if self.files.unchanged and last is not None and last[0] == default_namespace:
            self.rebuilt = False
            return last[1]
        return None

    def keep(self, default_namespace: str, result: Result) -> None:
        """Remember the result of a load."""
        self._last, self.rebuilt = (default_namespace, result), True


def load(
    paths: list[str],
    *,
    default_namespace: str = manifests.DEFAULT_NAMESPACE,
    options: manifest_files.LoadOptions | None = None,
    cache: Cache | None = None,
) -> Result:
    """Read and check every manifest under ``paths``; raise ManifestPathError for a bad path.

    ``cache`` (a long-running process's) spares the work for files unchanged since its last
    load, and all of it when nothing changed.
    """
    with _collector_paused():
        loaded = manifest_files.load(paths, options, cache.files if cache else None)
        same = cache.unchanged(default_namespace) if cache else None
        if same is not None:
            return same
        parsed = manifests.parse(loaded.documents, default_namespace=default_namespace)
        state = graph.build(parsed)
    result = Result(
        state=state,
        problems=ordered(list(loaded.problems) + list(state.problems)),
        files=len(loaded.files),
        documents=len(loaded.documents),
    )
    if cache is not None:
        cache.keep(default_namespace, result)
    return result
