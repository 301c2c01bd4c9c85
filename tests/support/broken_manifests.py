"""Fifty broken manifest files, one or more per problem code of docs/problems.md.

Each ``Broken`` is a file to put in a repository (text, bytes, or a symlink), the problem code
it must produce and where: the line is found by a needle in the file, or given outright for
the files gitopsd refuses before reading (binary, not UTF-8, a dangling link). Files that hold
an AtlasDeployment target clusters ``q-NN`` of the AtlasProject ``quarantine``; ``DEPENDENTS``
holds valid deployments (also on ``quarantine``) that reach a broken file through a reference,
so each of them must be left out of the plan. Names are prefixed ``bNN`` so that no two
catalogue entries collide by accident; the one collision that is meant is ``duplicate-resource``.
"""

from __future__ import annotations

from dataclasses import dataclass

from support import manifests as m

API = "apiVersion: atlas.mongodb.com/v1"
QUARANTINE = "quarantine"
"""metadata.name of the AtlasProject every broken or dependent deployment targets."""
QUARANTINE_ATLAS_NAME = "Quarantine"


@dataclass(frozen=True, slots=True, kw_only=True)
class Broken:
    """One broken file and the problem it must be reported with."""

    name: str
    code: str
    text: str | bytes | None = None
    """The content; None for a symlink (``link_to``)."""
    needle: str = ""
    """The line to expect: the ``nth`` line containing this; else ``line``."""
    nth: int = 1
    line: int = 1
    link_to: str = ""
    severity: str = "error"

    @property
    def path(self) -> str:
        """The file's path under the manifests directory."""
        return f"broken/{self.name}"

    def data(self) -> bytes:
        """The bytes of the file (not for links)."""
        assert self.text is not None
        return self.text if isinstance(self.text, bytes) else self.text.encode()

    def expected_line(self) -> int:
        """The line the problem must be reported at."""
        if not self.needle:
            return self.line
        lines = self.data().decode("utf-8", errors="replace").splitlines()
        hits = [n for n, text in enumerate(lines, 1) if self.needle in text]
        assert len(hits) >= self.nth, f"{self.needle!r} not {self.nth} times in {self.name}"
        return hits[self.nth - 1]


def _policy(name: str, items: str) -> str:
    return m.policy(name=name, items=items).lstrip("\n") + "\n"


def _schedule(name: str, policy_name: str = "fleet-p0", extra: str = "") -> str:
    return m.schedule(name=name, policy_name=policy_name, extra=extra).lstrip("\n")


def _deployment(n: int, **kw: object) -> str:
    """A deployment ``bNN`` on cluster ``q-NN`` of the quarantine project."""
    values: dict[str, object] = {
        "name": f"b{n:02d}",
        "cluster": f"q-{n:02d}",
        "schedule_name": "fleet-s00",
        "project_name": QUARANTINE,
    }
    return m.deployment(**(values | kw)).lstrip("\n")  # type: ignore[arg-type]


def _item(kind: str, interval: int, unit: str, value: int) -> str:
    return (
        f"\n    - {{frequencyType: {kind}, frequencyInterval: {interval},"
        f" retentionUnit: {unit}, retentionValue: {value}}}"
    )


def _laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, 10):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


DAILY = _item("daily", 1, "days", 7)
HOURLY = _item("hourly", 6, "days", 2)
COPY = "    - cloudProvider: AWS\n      regionName: US_WEST_2\n      frequencies: [DAILY]\n"
TIER = (
    "    replicationSpecs:\n      - regionConfigs:\n"
    "          - providerName: TENANT\n            backingProviderName: AWS\n"
    "            regionName: US_EAST_1\n            electableSpecs: {instanceSize: M2}\n"
)

CATALOGUE: tuple[Broken, ...] = (
    # -- reading files ---------------------------------------------------------------------------
    Broken(name="b01-huge.yaml", code="file-too-large", text="# padding\n" * 110_000),
    Broken(
        name="b02-binary.yaml",
        code="file-binary",
        text=f"{API}\nkind: AtlasBackupPolicy\n\x00\x01\x02\x7f".encode(),
        line=3,
    ),
    Broken(
        name="b03-latin1.yaml",
        code="file-encoding",
        text=f"{API}\nkind: AtlasProject\nmetadata:\n  name: caf".encode() + b"\xe9\n",
        line=4,
    ),
    Broken(name="b04-dangling-link.yaml", code="file-unreadable", link_to="no-such-file.yaml"),
    # -- YAML ----------------------------------------------------------------------------------
    Broken(
        name="b05-syntax.yaml",
        code="yaml-syntax",
        text=_policy("b05-kept", DAILY) + "\n---\nkind: [unclosed\nother: 1\n",
        needle="kind: [unclosed",  # where the list opens, not where the reader gave up
    ),
    Broken(
        name="b06-tab.yaml",
        code="yaml-tab",
        text=f"{API}\nkind: AtlasBackupPolicy\nmetadata:\n  name: b06\nspec:\n\titems: []\n",
        line=6,
    ),
    Broken(
        name="b07-control.yaml",
        code="yaml-bad-character",
        text=f"{API}\nkind: AtlasProject\nmetadata:\n  name: b07\x07\n",
        line=4,
    ),
    Broken(name="b08-deep-flow.yaml", code="yaml-too-deep", text="spec: " + "[" * 10_000 + "\n"),
    Broken(
        name="b09-deep-block.yaml",
        code="yaml-too-deep",
        text="".join("  " * n + f"k{n}:\n" for n in range(200)) + "  " * 200 + "v\n",
        line=65,
    ),
    Broken(name="b10-laughs.yaml", code="yaml-alias-budget", text=_laughs(), line=4),
    Broken(
        name="b11-custom-tag.yaml",
        code="yaml-unsupported-tag",
        text=_policy("b11", DAILY.replace("retentionValue: 7", "retentionValue: !secret 7")),
        needle="!secret",
    ),
    Broken(
        name="b12-bad-tag.yaml",
        code="yaml-bad-tag",
        text=_policy("b12", DAILY.replace("retentionValue: 7", "retentionValue: !!int seven")),
        needle="!!int",
    ),
    Broken(
        name="b13-complex-key.yaml",
        code="yaml-complex-key",
        text=_policy("b13", DAILY) + "\n  ? [a, b]\n  : 1\n",
        needle="? [a, b]",
    ),
    Broken(
        name="b14-bad-merge.yaml",
        code="yaml-bad-merge",
        text=_schedule("b14", extra="  <<: 5\n"),
        needle="<<: 5",
    ),
    Broken(
        name="b15-duplicate-key.yaml",
        code="duplicate-key",
        text=_policy("b15", DAILY).replace("spec:\n", "spec:\n  items: []\n", 1),
        needle="items:",
        nth=2,
    ),
    # -- documents -----------------------------------------------------------------------------
    Broken(name="b16-list.yaml", code="not-a-manifest", text="- a\n- b\n"),
    Broken(
        name="b17-scalar.yaml",
        code="not-a-manifest",
        text=_policy("b17", DAILY) + "\n---\njust a string\n",
        needle="just a string",
    ),
    Broken(
        name="b18-configmap.yaml",
        code="skipped-document",
        text="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b18\n",
        severity="notice",
    ),
    Broken(
        name="b19-api-version.yaml",
        code="skipped-api-version",
        text=_policy("b19", DAILY).replace("/v1\n", "/v1beta1\n", 1),
        severity="warning",
    ),
    Broken(
        name="b20-database-user.yaml",
        code="not-managed",
        text=f"{API}\nkind: AtlasDatabaseUser\nmetadata:\n  name: b20\n",
        needle="kind:",
        severity="notice",
    ),
    Broken(
        name="b21-kind-typo.yaml",
        code="unknown-kind",
        text=f"{API}\nkind: AtlasBackupSchedul\nmetadata:\n  name: b21\n",
        needle="kind:",
    ),
    # -- fields --------------------------------------------------------------------------------
    Broken(
        name="b22-unknown-field.yaml",
        code="unknown-field",
        text=_schedule("b22", extra="  autoExportExabled: true\n"),
        needle="autoExportExabled",
    ),
    Broken(
        name="b23-missing-policy.yaml",
        code="missing-field",
        text=_schedule("b23").replace("  policy:\n    name: fleet-p0\n", ""),
        needle="spec:",
    ),
    Broken(
        name="b24-quoted-number.yaml",
        code="wrong-type",
        text=_policy("b24", DAILY.replace("frequencyInterval: 1", 'frequencyInterval: "1"')),
        needle='"1"',
    ),
    Broken(
        name="b25-yes.yaml",
        code="wrong-type",
        text=_deployment(25, flags="    backupEnabled: yes\n"),
        needle="backupEnabled: yes",
    ),
    Broken(
        name="b26-items-mapping.yaml",
        code="wrong-type",
        text=_policy("b26", "\n    frequencyType: weekly\n    frequencyInterval: 1")
        + "\n    retentionUnit: days\n    retentionValue: 7\n",
        needle="items:",
    ),
    Broken(
        name="b27-bad-enum.yaml",
        code="invalid-value",
        text=_policy("b27", DAILY.replace("frequencyType: daily", "frequencyType: daly")),
        needle="daly",
    ),
    Broken(
        name="b28-hour-24.yaml",
        code="out-of-range",
        text=_schedule("b28").replace("referenceHourOfDay: 3", "referenceHourOfDay: 24"),
        needle="referenceHourOfDay: 24",
    ),
    Broken(
        name="b29-name.yaml",
        code="invalid-name",
        text=_policy("B29_Policy", DAILY),
        needle="name: B29_Policy",
    ),
    Broken(
        name="b30-annotation.yaml",
        code="unknown-annotation",
        text=_deployment(30).replace(
            "  name: b30\n",
            '  name: b30\n  annotations:\n    gitopsd.io/allow-destructve: "true"\n',
            1,
        ),
        needle="allow-destructve",
    ),
    # -- backup rules --------------------------------------------------------------------------
    Broken(
        name="b31-interval.yaml",
        code="invalid-interval",
        text=_policy("b31", _item("hourly", 3, "days", 2) + DAILY),
        needle="frequencyInterval: 3",
    ),
    Broken(
        name="b32-retention-short.yaml",
        code="retention-too-short",
        text=_policy("b32", DAILY + _item("weekly", 1, "days", 6)),
        needle="weekly",
    ),
    Broken(
        name="b33-retention-order.yaml",
        code="retention-order",
        text=_policy("b33", _item("daily", 1, "days", 30) + _item("weekly", 1, "weeks", 2)),
        needle="weekly",
    ),
    Broken(
        name="b34-two-hourly.yaml",
        code="duplicate-frequency",
        text=_policy("b34", HOURLY + DAILY + _item("hourly", 12, "days", 2)),
        needle="frequencyInterval: 12",
    ),
    Broken(
        name="b35-same-item.yaml",
        code="duplicate-item",
        text=_policy(
            "b35", DAILY + _item("weekly", 2, "weeks", 4) + _item("weekly", 2, "weeks", 8)
        ),
        needle="weeks, retentionValue: 8",
    ),
    Broken(
        name="b36-copies.yaml",
        code="duplicate-copy-setting",
        text=_schedule("b36", extra="  copySettings:\n" + COPY + COPY),
        needle="cloudProvider",
        nth=2,
    ),
    Broken(
        name="b37-export.yaml",
        code="export-missing",
        text=_schedule("b37", extra="  autoExportEnabled: true\n"),
        needle="autoExportEnabled",
    ),
    Broken(
        name="b38-backup-off.yaml",
        code="backup-disabled-with-ref",
        text=_deployment(38, flags="    backupEnabled: false\n"),
        needle="backupEnabled: false",
    ),
    Broken(
        name="b39-pit-no-backup.yaml",
        code="pit-without-backup",
        text=_deployment(
            39, schedule_name="", flags="    backupEnabled: false\n    pitEnabled: true\n"
        ),
        needle="pitEnabled: true",
    ),
    Broken(
        name="b40-shared-tier.yaml",
        code="backup-not-supported",
        text=_deployment(40, extra=TIER),
        needle="name: fleet-s00",
    ),
    Broken(
        name="b41-two-project-refs.yaml",
        code="project-ref",
        text=_deployment(41).replace(
            "  projectRef:",
            "  externalProjectRef:\n    id: 5f1d0e7a2c1b3a4d5e6f7a8b\n  projectRef:",
        ),
        needle="  projectRef:",
    ),
    # -- the graph -----------------------------------------------------------------------------
    Broken(
        name="b43-duplicate-a.yaml",
        code="duplicate-resource",
        text=_policy("b43-dup", DAILY),
        needle="name: b43-dup",
    ),
    Broken(
        name="b44-duplicate-b.yaml",
        code="duplicate-resource",
        text=_policy("b43-dup", HOURLY + DAILY),
        needle="name: b43-dup",
    ),
    Broken(
        name="b45-dangling.yaml",
        code="dangling-reference",
        text=_deployment(45, schedule_name="fleet-s0"),
        needle="name: fleet-s0",
    ),
    Broken(
        name="b46-same-target.yaml",
        code="duplicate-target",
        text=m.docs(_deployment(46), _deployment(46, name="b46-twin")),
        needle="name: q-46",
    ),
    Broken(
        name="b47-oplogs.yaml",
        code="oplogs-without-pit",
        text=m.docs(
            _schedule(
                "b47",
                extra="  copySettings:\n"
                + COPY.replace("[DAILY]", "[HOURLY]\n      shouldCopyOplogs: true"),
            ),
            _deployment(47, schedule_name="b47"),
        ),
        needle="name: b47",
        nth=3,
    ),
    Broken(
        name="b48-pit-daily-only.yaml",
        code="pit-without-hourly",
        text=m.docs(
            _policy("b48", DAILY),
            _schedule("b48", policy_name="b48"),
            _deployment(
                48, schedule_name="b48", flags="    backupEnabled: true\n    pitEnabled: true\n"
            ),
        ),
        needle="pitEnabled: true",
    ),
    Broken(
        name="b49-unclosed-quote.yaml",
        code="yaml-syntax",
        text=_schedule("b49-kept")
        + "---\n"
        + _schedule("b49-lost").replace("name: b49-lost", 'name: "b49-lost'),
        needle='name: "b49-lost',  # where the quote opens, not the end of the file
    ),
    Broken(
        name="b50-project-without-name.yaml",
        code="missing-field",
        text=m.project(name="b50", atlas_name="").lstrip("\n"),
        needle="name: ",
        nth=2,
    ),
)

OPERATOR_WARNING = Broken(
    name="b42-external-ref.yaml",
    code="operator-incompatible",
    text="",  # filled in by the test: it needs a project id of the emulator
    needle="id: ",
    severity="warning",
)
"""The catalogue's 50th file: a warning only, so its deployment is planned and converges."""


def operator_warning(project_id: str, cluster: str) -> Broken:
    """The b42 file, targeting ``cluster`` of the project ``project_id`` by id."""
    text = m.deployment(name="b42", cluster=cluster, schedule_name="fleet-s00").replace(
        "  projectRef:\n    name: prod\n", f"  externalProjectRef:\n    id: {project_id}\n"
    )
    return Broken(
        name=OPERATOR_WARNING.name,
        code=OPERATOR_WARNING.code,
        text=text.lstrip("\n"),
        needle=OPERATOR_WARNING.needle,
        severity=OPERATOR_WARNING.severity,
    )


DEPENDENT_SCHEDULES = m.docs(
    _schedule("dep-b24", policy_name="b24"),
    _schedule("dep-b43", policy_name="b43-dup"),
    _schedule("dep-b31", policy_name="b31"),
)
"""Valid schedules whose policies are broken: what uses them is blocked through them."""

DEPENDENTS: dict[str, str] = {
    "dep-b22": "b22",  # schedule with an unknown field
    "dep-b23": "b23",  # schedule without its policy
    "dep-b24": "dep-b24",  # valid schedule -> policy with a wrong type
    "dep-b28": "b28",  # schedule with an hour out of range
    "dep-b31": "dep-b31",  # valid schedule -> policy with an invalid interval
    "dep-b43": "dep-b43",  # valid schedule -> policy defined twice
    "dep-b49": "b49-lost",  # schedule in the unread rest of a file with a syntax error
}
"""Valid deployments (by name) and the schedule each refers to, all reaching a broken file."""


def dependents_file() -> str:
    """The valid file of deployments that depend on broken ones, plus their own schedules."""
    deployments = [
        m.deployment(
            name=name, cluster=f"q-{name}", schedule_name=ref, project_name=QUARANTINE
        ).lstrip("\n")
        for name, ref in DEPENDENTS.items()
    ]
    project_b50 = m.deployment(
        name="dep-b50", cluster="q-dep-b50", schedule_name="fleet-s00", project_name="b50"
    ).lstrip("\n")
    return m.docs(DEPENDENT_SCHEDULES, *deployments, project_b50)


def blocked_deployments() -> set[str]:
    """``namespace/name`` of every deployment that must be left out of the plan."""
    own = {f"b{n:02d}" for n in (25, 30, 38, 39, 40, 41, 45, 46, 47, 48)} | {"b46-twin"}
    return {f"default/{name}" for name in own | set(DEPENDENTS) | {"dep-b50"}}


def quarantine_clusters() -> list[str]:
    """Every cluster name a blocked deployment targets (seeded in Atlas, never to be touched)."""
    own = [f"q-{n:02d}" for n in (25, 30, 38, 39, 40, 41, 45, 46, 47, 48)]
    return own + [f"q-{name}" for name in DEPENDENTS]
