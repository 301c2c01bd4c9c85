"""The command line as users run it: a real `gitopsd` process, its output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO
from support import manifests as m

EXAMPLE = str(REPO / "manifests-example")


def gitopsd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gitopsd`` with ``args``; never raises on a non-zero exit."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gitopsd", *args],
        capture_output=True,
        text=True,
        check=False,
        env=full_env,
        timeout=60,
    )


def test_validate_accepts_the_example_repository():
    """manifests-example/ is valid: exit 0, no problems, every cluster ready."""
    run = gitopsd("validate", EXAMPLE)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == ""
    assert "0 errors" in run.stderr
    assert "0 blocked" in run.stderr


def test_validate_text_reports_location_code_and_hint(write, tmp_path):
    """Text output is `file:line:col: severity code: message` then the hint; exit 1."""
    schedule = m.schedule().replace("restoreWindowDays", "restoreWindowDay")
    path = write("s.yaml", m.docs(m.policy(), schedule))
    run = gitopsd("validate", str(tmp_path))
    assert run.returncode == 1
    line = m.line_of(path, "restoreWindowDay")
    assert run.stdout.splitlines()[0] == (
        f"{path}:{line}:3: error unknown-field: unknown field spec.restoreWindowDay"
    )
    assert run.stdout.splitlines()[1] == "    hint: did you mean 'restoreWindowDays'?"
    assert "\033[" not in run.stdout


def test_validate_summary_counts_one_of_each_in_the_singular(write, tmp_path):
    """One file, one document, one cluster: the summary line says so without plurals."""
    external = "  externalProjectRef: {id: 5f1d0e7a2c1b3a4d5e6f7a8b}\n  connectionSecret: {name: a}"
    write(
        "d.yaml", m.deployment(schedule_name="").replace("  projectRef:\n    name: prod", external)
    )
    run = gitopsd("validate", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == "1 file, 1 document: 0 errors; 1 cluster ready, 0 blocked\n"


def test_validate_colours_only_when_asked_or_on_a_tty(write, tmp_path):
    """FORCE_COLOR turns colour on for a pipe; the default is plain text."""
    write("s.yaml", m.schedule().replace("restoreWindowDays", "restoreWindowDay"))
    run = gitopsd("validate", str(tmp_path), env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\033[31merror\033[0m" in run.stdout


def test_validate_json_has_the_documented_problem_shape(write, tmp_path):
    """JSON output: a stable object whose problems carry the seven documented keys."""
    write("p.yaml", m.policy(name="Bad_Name"))
    run = gitopsd("validate", str(tmp_path), "--format", "json")
    assert run.returncode == 1
    body = json.loads(run.stdout)
    assert body["valid"] is False
    assert body["files"] == 1
    (problem,) = body["problems"]
    assert set(problem) == {"file", "line", "column", "severity", "code", "message", "hint"}
    assert (problem["code"], problem["line"], problem["severity"]) == ("invalid-name", 4, "error")


def test_validate_github_format_annotates_lines(write, tmp_path):
    """GitHub format prints ::error workflow commands with file, line and column."""
    path = write("p.yaml", m.policy(name="Bad_Name"))
    run = gitopsd("validate", str(tmp_path), "--format", "github")
    assert run.returncode == 1
    assert run.stdout.startswith(f"::error file={path},line=4,col=9,title=invalid-name::")


def test_validate_missing_path_is_a_usage_error(tmp_path):
    """A path that does not exist exits 2 with a message naming it."""
    run = gitopsd("validate", str(tmp_path / "nope"))
    assert run.returncode == 2
    assert "nope: no such file or directory" in run.stderr


def test_validate_bad_option_is_a_usage_error():
    """An unknown format exits 2."""
    assert gitopsd("validate", EXAMPLE, "--format", "xml").returncode == 2


def test_graph_mermaid_of_the_example():
    """The example graph renders as a Mermaid flowchart with edges."""
    run = gitopsd("graph", EXAMPLE, "--format", "mermaid")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    assert any(" --> " in line for line in lines)


def test_graph_dot_of_the_example():
    """The example graph renders as a Graphviz digraph."""
    run = gitopsd("graph", EXAMPLE, "--format", "dot")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("digraph gitopsd {")
    assert run.stdout.rstrip().endswith("}")


def test_graph_json_lists_clusters_with_desired_values_and_sources():
    """The JSON graph holds every example cluster with desired values and their sources."""
    run = gitopsd("graph", EXAMPLE, "--format", "json")
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["schemaVersion"] == 1
    assert body["blocked"] == []
    assert body["orphans"] == {"schedules": [], "policies": []}
    assert len(body["clusters"]) >= 5
    with_schedule = [c for c in body["clusters"] if "schedule" in c["desired"]]
    assert with_schedule
    for cluster in with_schedule:
        items = cluster["desired"]["schedule"]["policies"][0]["policyItems"]
        assert items
        assert all(
            s.startswith("manifests-example/") or "/manifests-example/" in s
            for s in cluster["sources"].values()
        )


def test_graph_exits_1_and_still_prints_the_valid_part(write, tmp_path):
    """With a broken deployment the graph still shows the good cluster, and exits 1."""
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment()))
    write("bad.yaml", m.deployment(name="bad", cluster="bad-db", schedule_name="missing"))
    run = gitopsd("graph", str(tmp_path), "--format", "json")
    assert run.returncode == 1
    body = json.loads(run.stdout)
    assert [c["cluster"] for c in body["clusters"]] == ["orders-db"]
    assert [b["deployment"] for b in body["blocked"]] == ["default/bad"]
