"""Rendered output is deterministic: same manifests, same bytes, whatever the hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO
from ruamel.yaml import YAML

EXAMPLE = str(REPO / "manifests-example")


def render(fmt: str, seed: str) -> str:
    """The graph of the example in ``fmt`` from a fresh process with PYTHONHASHSEED=seed."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    run = subprocess.run(
        [sys.executable, "-m", "gitopsd", "graph", EXAMPLE, "--format", fmt],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    )
    return run.stdout


def test_graph_bytes_do_not_depend_on_hash_seed():
    """Set and dict order never leak into output: two seeds, identical JSON, Mermaid and DOT."""
    for fmt in ("json", "mermaid", "dot"):
        assert render(fmt, "1") == render(fmt, "4242"), fmt


def test_pre_commit_hook_runs_the_validator():
    """The shipped pre-commit hook is `gitopsd validate .`, which passes on the example."""
    hooks = YAML(typ="safe").load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "gitopsd-validate"
    command = [*hook["entry"].split(), *hook["args"]]
    assert command == ["gitopsd", "validate", "."]
    run = subprocess.run(
        [sys.executable, "-m", "gitopsd", *command[1:]],
        capture_output=True,
        text=True,
        check=False,
        cwd=EXAMPLE,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
