"""The remaining per-document rules, one real file each: code, and the line it points at."""

from __future__ import annotations

import pytest
from support import manifests as m

PIT_NO_BACKUP = m.deployment(
    schedule_name="", flags="    backupEnabled: false\n    pitEnabled: true\n"
)
TWIN_ITEMS = m.ITEMS + (
    "    - {frequencyType: daily, frequencyInterval: 1, retentionUnit: days, retentionValue: 9}\n"
)
TWIN_COPIES = (
    "  copySettings:\n"
    "    - {cloudProvider: AWS, regionName: EU_WEST_1, frequencies: [DAILY]}\n"
    "    - {cloudProvider: AWS, regionName: EU_WEST_1, frequencies: [WEEKLY]}\n"
)
FLEX = (
    "apiVersion: atlas.mongodb.com/v1\nkind: AtlasDeployment\nmetadata: {name: tiny}\n"
    "spec:\n  projectRef: {name: prod}\n  backupRef: {name: nightly}\n"
    "  flexSpec:\n    name: tiny\n"
)


@pytest.mark.parametrize(
    ("text", "code", "needle"),
    [
        (PIT_NO_BACKUP, "pit-without-backup", "pitEnabled: true"),
        (m.policy(items=TWIN_ITEMS), "duplicate-item", "retentionValue: 9"),
        (m.docs(m.policy(), m.schedule(extra=TWIN_COPIES)), "duplicate-copy-setting", "WEEKLY"),
        (FLEX, "backup-not-supported", "backupRef"),
        (m.schedule(extra="  referenceMinuteOfHour: 60\n"), "duplicate-key", "MinuteOfHour: 60"),
        (
            m.schedule().replace("referenceHourOfDay: 3", "referenceHourOfDay: 24"),
            "out-of-range",
            "referenceHourOfDay: 24",
        ),
        (
            m.policy().replace("frequencyType: daily", "frequencyType: dialy"),
            "invalid-value",
            "dialy",
        ),
        (m.schedule().replace("  policy:\n    name: standard\n", ""), "missing-field", "spec:"),
        (
            m.policy().replace("atlas.mongodb.com/v1", "atlas.mongodb.com/v1beta1"),
            "skipped-api-version",
            "v1beta1",
        ),
        (
            m.deployment().replace("    name: orders-db", "    name: orders_db"),
            "invalid-name",
            "orders_db",
        ),
    ],
)
def test_rule_is_reported_on_its_line(write, check, text, code, needle):
    """Each rule's problem carries its code and points at the offending line."""
    path = write("doc.yaml", m.docs(m.project(), text) if "AtlasDeployment" in text else text)
    problem = m.only(check().problems, code)
    assert problem.file == str(path)
    assert problem.line == m.line_of(path, needle)


def test_pit_without_backup_hint_says_what_to_do(write, check):
    """The PIT rule's hint names the fix."""
    write("doc.yaml", m.docs(m.project(), PIT_NO_BACKUP))
    assert m.only(check().problems, "pit-without-backup").hint == (
        "continuous backup needs cloud backup: set backupEnabled: true"
    )


def test_unmanaged_deployment_fields_are_listed(write, check):
    """deploymentSpec fields gitopsd does not manage are listed, never rejected."""
    extra = '    clusterType: REPLICASET\n    mongoDBMajorVersion: "7.0"\n'
    write("all.yaml", m.docs(m.project(), m.policy(), m.schedule(), m.deployment(extra=extra)))
    result = check()
    assert result.problems == ()
    (cluster,) = result.state.clusters
    assert cluster.unmanaged == ("deploymentSpec.clusterType", "deploymentSpec.mongoDBMajorVersion")
