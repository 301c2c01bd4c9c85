"""References between manifests on real files: unset, empty, dangling, and which project."""

from __future__ import annotations

import pytest
from support import manifests as m

SETTINGS = (
    "set by --default-namespace on the command line or [reconcile] default_namespace in the"
    " configuration"
)


def _deployment(backup_ref: str) -> str:
    return m.deployment(schedule_name="", flags="").replace(
        "  deploymentSpec:", f"  backupRef: {backup_ref}\n  deploymentSpec:"
    )


@pytest.mark.parametrize("backup_ref", ["{}", '{name: ""}', '{name: "", namespace: ""}'])
def test_an_empty_backup_ref_means_no_schedule(write, check, backup_ref):
    """backupRef as the operator writes an unset one is no reference: the cluster is ready."""
    write("all.yaml", m.docs(m.project(), _deployment(backup_ref)))
    result = check()
    assert result.problems == ()
    (cluster,) = result.state.clusters
    assert (cluster.schedule_id, cluster.backup_enabled) == (None, None)


def test_a_backup_ref_with_a_namespace_and_no_name_is_a_missing_name(write, check):
    """{name: "", namespace: x} names a namespace: a missing-field error, not a dangling one."""
    path = write("all.yaml", m.docs(m.project(), _deployment('{name: "", namespace: team-a}')))
    result = check()
    problem = m.only(result.problems, "missing-field")
    assert problem.message == "spec.backupRef.name is required but empty"
    assert problem.hint == "name the AtlasBackupSchedule, or remove backupRef for no schedule"
    assert problem.line == m.line_of(path, "backupRef:")
    assert [b.deployment.name for b in result.state.blocked] == ["orders"]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (m.schedule(policy_name='""'), "spec.policy.name"),
        (m.deployment(schedule_name="", project_name='""'), "spec.projectRef.name"),
        (
            m.deployment(schedule_name="", extra="  connectionSecret: {name: ''}\n"),
            "spec.connectionSecret.name",
        ),
    ],
)
def test_an_empty_name_in_a_required_reference_is_a_missing_field(write, check, text, path):
    """policy, projectRef and connectionSecret with name "" are missing a name, not dangling."""
    write("all.yaml", m.docs(m.project(), text))
    problem = m.only(check().problems, "missing-field")
    assert problem.message == f"{path} is required but empty"
    assert problem.hint


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


def test_dangling_reference_from_the_default_namespace_names_its_settings(write, check):
    """A deployment in the default namespace misses a schedule of team-a: the hint says so."""
    schedule = m.schedule().replace("spec:", "  namespace: team-a\nspec:", 1)
    policy = m.policy().replace("spec:", "  namespace: team-a\nspec:", 1)
    write("all.yaml", m.docs(m.project(), policy, schedule, m.deployment()))
    problem = m.only(check().problems, "dangling-reference")
    assert problem.hint == (
        "it exists in namespace 'team-a': set namespace: team-a in the reference. This"
        " deployment names no namespace, so it is in the default namespace, 'default' here"
        f" ({SETTINGS})"
    )


def test_dangling_reference_to_a_target_in_the_default_namespace_says_so(write, check):
    """A deployment of team-a misses a schedule that landed in the default namespace."""
    deployment = m.deployment().replace("  name: orders\n", "  name: orders\n  namespace: team-a\n")
    deployment = deployment.replace("    name: prod\n", "    name: prod\n    namespace: default\n")
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), deployment))
    problem = m.only(check().problems, "dangling-reference")
    assert problem.message == (
        "deployment orders refers to AtlasBackupSchedule team-a/nightly, which does not exist"
    )
    assert problem.hint == (
        "it exists in namespace 'default': set namespace: default in the reference, or give it"
        " metadata.namespace: team-a. Its manifest names no namespace, so it is in the default"
        f" namespace, 'default' here ({SETTINGS})"
    )


def test_dangling_reference_to_nothing_from_the_default_namespace_names_its_settings(write, check):
    """No schedule of that name anywhere: add one, in the default namespace it relies on."""
    write("all.yaml", m.docs(m.project(), m.deployment(schedule_name="weekly")))
    problem = m.only(check().problems, "dangling-reference")
    assert problem.hint == (
        "add an AtlasBackupSchedule named 'weekly' in namespace 'default'. This deployment"
        f" names no namespace, so it is in the default namespace, 'default' here ({SETTINGS})"
    )


def test_dangling_reference_with_written_namespaces_leaves_the_default_out(write, check):
    """Namespaces written on both sides: the hint has nothing to say about the default."""
    deployment = m.deployment(schedule_name="").replace(
        "  deploymentSpec:", "  backupRef: {name: nightly, namespace: team-b}\n  deploymentSpec:"
    )
    deployment = deployment.replace("  name: orders\n", "  name: orders\n  namespace: team-a\n")
    deployment = deployment.replace("    name: prod\n", "    name: prod\n    namespace: default\n")
    write("all.yaml", m.docs(m.project(), deployment))
    problem = m.only(check().problems, "dangling-reference")
    assert problem.hint == "add an AtlasBackupSchedule named 'nightly' in namespace 'team-b'"
