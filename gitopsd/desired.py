"""Manifest paths -> the desired state: read files, parse, build the graph.

The shell half of the pure pipeline's first two steps, shared by the commands that only read
manifests (``validate``, ``graph``) and, later, by the reconcile cycle.
"""

from __future__ import annotations

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


def load(
    paths: list[str],
    *,
    default_namespace: str = manifests.DEFAULT_NAMESPACE,
    options: manifest_files.LoadOptions | None = None,
) -> Result:
    """Read and check every manifest under ``paths``; raise ManifestPathError for a bad path."""
    loaded = manifest_files.load(paths, options)
    parsed = manifests.parse(loaded.documents, default_namespace=default_namespace)
    state = graph.build(parsed)
    return Result(
        state=state,
        problems=ordered(list(loaded.problems) + list(state.problems)),
        files=len(loaded.files),
        documents=len(loaded.documents),
    )
