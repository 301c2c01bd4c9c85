"""References between manifests on real files: unset, empty, dangling, and which project."""

from __future__ import annotations

from support import manifests as m


def test_both_project_references_are_named_with_their_lines(write, check):
    """projectRef and externalProjectRef together: "both are set", with both lines."""
    text = m.deployment(schedule_name="").replace(
        "  projectRef:", "  externalProjectRef:\n    id: 5f1d0e7a2c1b3a4d5e6f7a8b\n  projectRef:"
    )
    path = write("all.yaml", m.docs(m.project(), text))
    problem = m.only(check().problems, "project-ref")
    project, external = m.line_of(path, "  projectRef:"), m.line_of(path, "externalProjectRef:")
    assert problem.message == (
        "a deployment needs exactly one of projectRef and externalProjectRef; both are set"
        f" (projectRef on line {project}, externalProjectRef on line {external})"
    )
    assert problem.line == project


def test_no_project_reference_says_neither_is_set(write, check):
    """A deployment with neither reference says so, at its spec."""
    text = m.deployment(schedule_name="").replace("  projectRef:\n    name: prod\n", "")
    path = write("d.yaml", text)
    problem = m.only(check().problems, "project-ref")
    assert problem.message.endswith("; neither is set")
    assert problem.line == m.line_of(path, "spec:")
