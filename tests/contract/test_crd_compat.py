"""Contract: gitopsd's manifest declarations agree with the Atlas operator's released CRDs.

For AtlasBackupPolicy, AtlasBackupSchedule and AtlasDeployment, ``gitopsd.core.schema.KINDS`` is
compared with the ``v1`` schema of the operator's CRDs (release v2.15.1, kept in
``../shared/reference/atlas-operator-crds/``): group, version and kind; every field the CRD
defines is accepted (nothing operator-valid is an unknown field); every field gitopsd accepts
under spec exists in the CRD; types, enums, required fields, ranges, patterns and defaults; and
that every CRD constraint is either compared here or listed.

Below a field gitopsd declares OPAQUE (accepted, not managed) nothing is compared: an OPAQUE field
accepts anything. Each deliberate difference is an entry in one of the dicts below, with its reason
(docs/manifests.md has the table for users). An entry that no longer describes a real difference
fails as well, so the lists stay true when gitopsd or the CRDs change.

The reference directory is ``../shared/reference`` next to the repository, or
``$GITOPSD_REFERENCE_DIR``. Without it the tests skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitopsd.core import schema
from gitopsd.core.schema import KINDS, Field, Type

pytestmark = pytest.mark.reference

REFERENCE_ENV = "GITOPSD_REFERENCE_DIR"
DEFAULT_REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
CRD_DIR = "atlas-operator-crds"
GROUP = "atlas.mongodb.com"
VERSION = "v1"

POLICY = "AtlasBackupPolicy"
SCHEDULE = "AtlasBackupSchedule"
DEPLOYMENT = "AtlasDeployment"
CRD_FILES = {
    POLICY: "atlas.mongodb.com_atlasbackuppolicies.yaml",
    SCHEDULE: "atlas.mongodb.com_atlasbackupschedules.yaml",
    DEPLOYMENT: "atlas.mongodb.com_atlasdeployments.yaml",
}
CRD_KINDS = tuple(CRD_FILES)

# Top-level fields every Kubernetes object has; the API server, not the CRD, requires them.
ENVELOPE = ("apiVersion", "kind", "metadata")

Node = dict[str, Any]
Key = tuple[str, str]  # (kind, path), e.g. (SCHEDULE, "spec.copySettings[].regionName")


@dataclass(frozen=True)
class EnumException:
    """An enum that differs on purpose; ``crd=None``: the CRD has none (gitopsd is stricter)."""

    crd: tuple[str | int, ...] | None
    gitopsd: tuple[str | int, ...]
    reason: str


@dataclass(frozen=True)
class ValueException:
    """A bound or default that differs on purpose; ``None`` means "none declared"."""

    crd: str | int | bool | None
    gitopsd: str | int | bool | None
    reason: str


# Fields gitopsd accepts under spec that the CRD does not define. There should be none.
INVENTED_FIELDS: dict[Key, str] = {}

# CRD scalar fields gitopsd declares OPAQUE: accepted and listed, their values not checked.
NOT_MANAGED = "not managed: accepted without checks, listed as not managed (docs/manifests.md)"
OPAQUE_SCALARS: dict[Key, str] = {
    (DEPLOYMENT, "spec.upgradeToDedicated"): NOT_MANAGED,
    **{
        (DEPLOYMENT, f"spec.deploymentSpec.{name}"): NOT_MANAGED
        for name in (
            "clusterType",
            "configServerManagementMode",
            "diskSizeGB",
            "encryptionAtRestProvider",
            "mongoDBMajorVersion",
            "mongoDBVersion",
            "paused",
            "rootCertType",
            "terminationProtectionEnabled",
            "versionReleaseSystem",
        )
    },
}

ENUM_EXCEPTIONS: dict[Key, EnumException] = {
    (SCHEDULE, "spec.export.frequencyType"): EnumException(
        crd=("monthly",),
        gitopsd=("monthly", "yearly"),
        reason="the Atlas API accepts yearly exports; the product spec asks for both",
    ),
    (SCHEDULE, "spec.copySettings[].frequencies[]"): EnumException(
        crd=None,
        gitopsd=("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND"),
        reason="stricter: Atlas's snapshot frequency names; a typo makes Atlas reject the schedule",
    ),
}

# Required by gitopsd, optional in the CRD.
STRICTER_REQUIRED: dict[Key, str] = {
    **{
        (kind, "spec"): "a manifest without spec declares nothing to reconcile"
        for kind in CRD_KINDS
    },
    (SCHEDULE, "spec.copySettings[].regionName"): (
        "a copy setting without a region is meaningless and Atlas rejects it"
    ),
    (SCHEDULE, "spec.copySettings[].frequencies"): (
        "a copy setting without frequencies is meaningless and Atlas rejects it"
    ),
}

# Required by the CRD, optional in gitopsd.
LOOSER_REQUIRED: dict[Key, str] = {
    (SCHEDULE, "spec.export.frequencyType"): (
        "the CRD defaults it to monthly, so the API server fills it in; gitopsd defaults the same"
    ),
}

# Keyed by kind, path and bound: minimum, maximum or minItems.
RANGE_EXCEPTIONS: dict[tuple[str, str, str], ValueException] = {
    (POLICY, "spec.items", "minItems"): ValueException(
        crd=None, gitopsd=1, reason="stricter: a policy without items takes no snapshots"
    ),
    (POLICY, "spec.items[].retentionValue", "minimum"): ValueException(
        crd=None, gitopsd=1, reason="stricter: a retention below 1 keeps nothing"
    ),
    (SCHEDULE, "spec.restoreWindowDays", "minimum"): ValueException(
        crd=None,
        gitopsd=1,
        reason="stricter: the CRD's description says 'a positive, non-zero integer'",
    ),
}

LEFT_OUT_NOT_MANAGED = (
    "left out means not managed (docs/manifests.md): applying a default nobody wrote"
    " could change Atlas, e.g. shorten a restore window"
)
DEFAULT_EXCEPTIONS: dict[Key, ValueException] = {
    (SCHEDULE, "spec.restoreWindowDays"): ValueException(
        crd=1, gitopsd=None, reason=LEFT_OUT_NOT_MANAGED
    ),
    (SCHEDULE, "spec.autoExportEnabled"): ValueException(
        crd=False, gitopsd=None, reason=LEFT_OUT_NOT_MANAGED
    ),
}

# CEL rules (x-kubernetes-validations) on managed fields: their messages, and how gitopsd treats
# them. Schema keywords cannot express them, so they are listed rather than compared.
CEL_RULES: dict[Key, tuple[tuple[str, ...], str]] = {
    (DEPLOYMENT, "spec"): (
        (
            "must define only one project reference through externalProjectRef or projectRef",
            "must define a local connection secret when referencing an external project",
            "serverlessSpec cannot be added - serverless instances are deprecated",
        ),
        (
            "one project reference: an error in gitopsd (project-ref); connectionSecret with"
            " externalProjectRef: a warning, gitopsd has default credentials; serverlessSpec:"
            " a transition rule (oldSelf), needs the stored object"
        ),
    ),
    (DEPLOYMENT, "spec.deploymentSpec.name"): (
        ("Name cannot be modified after deployment creation",),
        "a transition rule (self == oldSelf): needs the stored object",
    ),
}

# Schema keywords this module compares or lists; any other keyword on a managed field fails.
COMPARED_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "items",
        "required",
        "enum",
        "minimum",
        "maximum",
        "minItems",
        "pattern",
        "default",
        "format",
        "x-kubernetes-validations",
    }
)
# ``format`` values that add nothing gitopsd must check (int64: Atlas's values are small).
IGNORED_FORMATS = frozenset({"int64"})

TYPES: dict[str, frozenset[Type]] = {
    "string": frozenset({Type.STRING}),
    "integer": frozenset({Type.INTEGER}),
    "boolean": frozenset({Type.BOOLEAN}),
    "object": frozenset({Type.OBJECT, Type.OPAQUE}),
    "array": frozenset({Type.ARRAY, Type.OPAQUE}),
}
SCALARS = ("string", "integer", "boolean")


# --- loading the reference -------------------------------------------------------------------


def _reference_dir() -> Path:
    override = os.environ.get(REFERENCE_ENV)
    return Path(override) if override else DEFAULT_REFERENCE


@functools.cache
def _parse(path: Path) -> Node:
    document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path}: not a YAML mapping"
    return document


def crd(kind: str) -> Node:
    """The CustomResourceDefinition for ``kind``; skip (fail in CI) when the reference is absent."""
    path = _reference_dir() / CRD_DIR / CRD_FILES[kind]
    if not path.is_file():
        message = (
            f"operator CRD not found: {path} (the reference directory defaults to"
            f" {DEFAULT_REFERENCE}; {REFERENCE_ENV} overrides it)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the contract tests", pytrace=False)
        pytest.skip(message)
    return _parse(path)


def _version(kind: str) -> Node:
    versions = [v for v in crd(kind)["spec"]["versions"] if v["name"] == VERSION]
    assert len(versions) == 1, f"{kind}: the CRD has {len(versions)} versions named {VERSION!r}"
    return versions[0]


def root_schema(kind: str) -> Node:
    """The openAPIV3Schema of the CRD's v1 version: the whole document."""
    return _version(kind)["schema"]["openAPIV3Schema"]


# --- walking both declarations -----------------------------------------------------------------


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def pairs(node: Node, decl: Field, path: str = "") -> Iterator[tuple[str, Node, Field]]:
    """Every path both the CRD and gitopsd declare, down to (and including) OPAQUE fields."""
    yield path, node, decl
    if decl.type is Type.OPAQUE:
        return
    for name, sub in node.get("properties", {}).items():
        if name in decl.fields:
            yield from pairs(sub, decl.fields[name], _join(path, name))
    if "items" in node and decl.items is not None:
        yield from pairs(node["items"], decl.items, f"{path}[]")


def managed(kind: str) -> dict[str, tuple[Node, Field]]:
    """The paths under spec that both declare and gitopsd checks (OPAQUE ones left out)."""
    root = root_schema(kind)
    assert "spec" in root.get("properties", {}), f"{kind}: the CRD defines no spec"
    return {
        path: (node, decl)
        for path, node, decl in pairs(
            root["properties"]["spec"], KINDS[kind].fields["spec"], "spec"
        )
        if decl.type is not Type.OPAQUE
    }


def _preserves_unknown(node: Node) -> bool:
    extra = node.get("additionalProperties")
    return bool(node.get("x-kubernetes-preserve-unknown-fields")) or extra not in (None, False)


def _stale(kind: str, listed: Iterable[Key], seen: set[Key], name: str) -> list[str]:
    """An exception that no longer describes a real difference is an error too."""
    return [
        f"{k} {path}: listed in {name} but there is no such difference any more"
        for k, path in listed
        if k == kind and (k, path) not in seen
    ]


def _fmt(values: object) -> str:
    return "none" if values is None else repr(values)


# --- 1. group, version, kind -------------------------------------------------------------------


def test_api_version_is_the_operators():
    """gitopsd reads apiVersion atlas.mongodb.com/v1."""
    assert schema.API_VERSION == f"{GROUP}/{VERSION}" == "atlas.mongodb.com/v1"


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_crd_group_version_and_kind_are_gitopsds(kind):
    """The CRD is for group atlas.mongodb.com, serves v1, and its kind is one gitopsd declares."""
    document = crd(kind)
    assert document.get("kind") == "CustomResourceDefinition", f"{CRD_FILES[kind]} is not a CRD"
    spec = document["spec"]
    assert spec["group"] == GROUP, f"{kind}: CRD group is {spec['group']!r}"
    assert spec["names"]["kind"] == kind, (
        f"{CRD_FILES[kind]} defines kind {spec['names']['kind']!r}"
    )
    assert kind in KINDS, f"gitopsd declares no {kind}"
    version = _version(kind)
    assert version.get("served") is True, f"{kind}: the CRD does not serve {VERSION}"
    assert f"{spec['group']}/{version['name']}" == schema.API_VERSION


# --- 2. and 3. accepted fields, both ways ------------------------------------------------------


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_every_crd_field_is_accepted(kind):
    """No field the CRD defines is an unknown field to gitopsd, down to OPAQUE fields."""
    rejected = []
    for path, node, decl in pairs(root_schema(kind), KINDS[kind]):
        if decl.type is not Type.OBJECT or not decl.fields or decl.open:
            continue  # OPAQUE, or an object that accepts any key
        rejected += [
            _join(path, name) for name in node.get("properties", {}) if name not in decl.fields
        ]
        if _preserves_unknown(node):
            rejected.append(f"{_join(path, '*')} (the CRD accepts any key)")
    assert not rejected, f"{kind}: gitopsd rejects these CRD fields as unknown: {rejected}"


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_every_accepted_field_is_in_the_crd(kind):
    """gitopsd accepts no field under spec that the CRD lacks, except INVENTED_FIELDS."""
    root = root_schema(kind)
    invented = [name for name in KINDS[kind].fields if name not in root.get("properties", {})]
    for path, (node, decl) in managed(kind).items():
        if _preserves_unknown(node):
            continue
        properties = node.get("properties", {})
        invented += [_join(path, name) for name in decl.fields if name not in properties]
    seen = {(kind, path) for path in invented}
    problems = [
        f"{kind} {path}: accepted by gitopsd, not in the CRD"
        for path in invented
        if (kind, path) not in INVENTED_FIELDS
    ]
    problems += _stale(kind, INVENTED_FIELDS, seen, "INVENTED_FIELDS")
    assert not problems, "\n".join(problems)


# --- 4. types ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_types_match_crd(kind):
    """CRD string/integer/boolean/object/array is gitopsd's STRING/.../OBJECT/ARRAY (or OPAQUE)."""
    problems, seen = [], set()
    for path, node, decl in pairs(root_schema(kind), KINDS[kind]):
        crd_type = node.get("type")
        allowed = set(TYPES.get(crd_type, ())) if crd_type else {Type.OPAQUE}
        extra = node.get("additionalProperties")
        if crd_type == "object" and isinstance(extra, dict) and extra.get("type") == "string":
            allowed.add(Type.STRING_MAP)
        if decl.type is Type.OPAQUE and crd_type in SCALARS and (kind, path) in OPAQUE_SCALARS:
            seen.add((kind, path))
        elif decl.type not in allowed:
            problems.append(
                f"{kind} {path or '<document>'}: the CRD says type {crd_type!r},"
                f" gitopsd declares {decl.type.name}"
            )
        if decl.type is Type.ARRAY and "items" in node and decl.items is None:
            problems.append(f"{kind} {path}: the CRD types the items, gitopsd declares none")
    problems += _stale(kind, OPAQUE_SCALARS, seen, "OPAQUE_SCALARS")
    assert not problems, "\n".join(problems)


# --- 5. enums ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_enums_match_crd(kind):
    """gitopsd's accepted values equal the CRD's enum, except ENUM_EXCEPTIONS."""
    problems, seen = [], set()
    for path, (node, decl) in managed(kind).items():
        key = (kind, path)
        crd_enum = tuple(node["enum"]) if "enum" in node else None
        ours = decl.enum or None
        if key in ENUM_EXCEPTIONS:
            seen.add(key)
            listed = ENUM_EXCEPTIONS[key]
            listed_crd = None if listed.crd is None else set(listed.crd)
            if (None if crd_enum is None else set(crd_enum)) != listed_crd:
                problems.append(
                    f"{kind} {path}: the CRD enum is {_fmt(crd_enum)},"
                    f" ENUM_EXCEPTIONS says {_fmt(listed.crd)}"
                )
            if set(decl.enum) != set(listed.gitopsd):
                problems.append(
                    f"{kind} {path}: gitopsd's enum is {_fmt(ours)},"
                    f" ENUM_EXCEPTIONS says {listed.gitopsd!r}"
                )
        elif crd_enum is None and ours is not None:
            problems.append(
                f"{kind} {path}: gitopsd restricts it to {ours!r}, the CRD has no enum"
                " (list a stricter rule in ENUM_EXCEPTIONS with its reason)"
            )
        elif crd_enum is not None and set(crd_enum) != set(decl.enum):
            problems.append(
                f"{kind} {path}: enums differ; only in the CRD:"
                f" {sorted(set(crd_enum) - set(decl.enum), key=str)},"
                f" only in gitopsd: {sorted(set(decl.enum) - set(crd_enum), key=str)}"
            )
    problems += _stale(kind, ENUM_EXCEPTIONS, seen, "ENUM_EXCEPTIONS")
    assert not problems, "\n".join(problems)


def test_policy_frequency_interval_enum_is_the_crds():
    """spec.items[].frequencyInterval allows 1-28 and 40, in the CRD and in gitopsd."""
    node, decl = managed(POLICY)["spec.items[].frequencyInterval"]
    expected = {*range(1, 29), 40}
    assert set(node["enum"]) == expected, f"the CRD's frequencyInterval enum is {node['enum']}"
    assert set(decl.enum) == set(node["enum"]), (
        f"gitopsd's frequencyInterval enum {decl.enum} is not the CRD's {node['enum']}"
    )


# --- 6. required fields ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_crd_required_fields_are_required(kind):
    """CRD-required fields are required, except LOOSER_REQUIRED; extras are STRICTER_REQUIRED."""
    problems, seen = [], set()
    for path, node, decl in pairs(root_schema(kind), KINDS[kind]):
        if decl.type is not Type.OBJECT:
            continue
        crd_required = set(node.get("required", ()))
        for name, sub in decl.fields.items():
            if (not path and name in ENVELOPE) or name not in node.get("properties", {}):
                continue  # the envelope is Kubernetes's; invented fields are another test's
            key = (kind, _join(path, name))
            if name in crd_required and not sub.required:
                if key in LOOSER_REQUIRED:
                    seen.add(key)
                else:
                    problems.append(f"{kind} {key[1]}: required by the CRD, optional in gitopsd")
            elif sub.required and name not in crd_required:
                if key in STRICTER_REQUIRED:
                    seen.add(key)
                else:
                    problems.append(
                        f"{kind} {key[1]}: required by gitopsd, optional in the CRD"
                        " (list it in STRICTER_REQUIRED with its reason)"
                    )
    problems += _stale(kind, LOOSER_REQUIRED, seen, "LOOSER_REQUIRED")
    problems += _stale(kind, STRICTER_REQUIRED, seen, "STRICTER_REQUIRED")
    assert not problems, "\n".join(problems)


# --- 7. ranges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "minimum", "maximum"),
    [("spec.referenceHourOfDay", 0, 23), ("spec.referenceMinuteOfHour", 0, 59)],
)
def test_reference_time_ranges_match_crd(path, minimum, maximum):
    """The schedule's reference hour and minute have the CRD's minimum and maximum."""
    node, decl = managed(SCHEDULE)[path]
    assert (node.get("minimum"), node.get("maximum")) == (minimum, maximum), (
        f"the CRD's {path} range is {node.get('minimum')}..{node.get('maximum')}"
    )
    assert (decl.minimum, decl.maximum) == (node["minimum"], node["maximum"]), (
        f"gitopsd's {path} range is {decl.minimum}..{decl.maximum},"
        f" the CRD's {node['minimum']}..{node['maximum']}"
    )


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_ranges_match_crd(kind):
    """minimum, maximum and minItems agree with the CRD everywhere, except RANGE_EXCEPTIONS."""
    problems, seen = [], set()
    for path, (node, decl) in managed(kind).items():
        ours = {"minimum": decl.minimum, "maximum": decl.maximum, "minItems": decl.min_items}
        for bound, value in ours.items():
            theirs, mine = node.get(bound), value
            if bound == "minItems":  # 0 is no bound
                theirs, mine = theirs or None, mine or None
            key = (kind, path, bound)
            if key in RANGE_EXCEPTIONS:
                seen.add((kind, f"{path} {bound}"))
                listed = RANGE_EXCEPTIONS[key]
                if (theirs, mine) != (listed.crd, listed.gitopsd):
                    problems.append(
                        f"{kind} {path} {bound}: CRD {_fmt(theirs)}, gitopsd {_fmt(mine)};"
                        f" RANGE_EXCEPTIONS says CRD {_fmt(listed.crd)},"
                        f" gitopsd {_fmt(listed.gitopsd)}"
                    )
            elif theirs != mine:
                problems.append(f"{kind} {path} {bound}: CRD {_fmt(theirs)}, gitopsd {_fmt(mine)}")
    listed_here = [(k, f"{p} {b}") for k, p, b in RANGE_EXCEPTIONS]
    problems += _stale(kind, listed_here, seen, "RANGE_EXCEPTIONS")
    assert not problems, "\n".join(problems)


# --- 8. defaults and patterns ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "default"),
    [("spec.copySettings[].cloudProvider", "AWS"), ("spec.export.frequencyType", "monthly")],
)
def test_schedule_nested_defaults_match_crd(path, default):
    """Defaults inside a copy setting and the export are the CRD's."""
    node, decl = managed(SCHEDULE)[path]
    assert node.get("default") == default, f"the CRD's {path} default is {node.get('default')!r}"
    assert decl.default == node["default"], (
        f"gitopsd's {path} default is {decl.default!r}, the CRD's {node['default']!r}"
    )


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_defaults_match_crd(kind):
    """gitopsd's Field.default is the CRD's default everywhere, except DEFAULT_EXCEPTIONS."""
    problems, seen = [], set()
    for path, (node, decl) in managed(kind).items():
        key = (kind, path)
        theirs = node.get("default")
        if key in DEFAULT_EXCEPTIONS:
            seen.add(key)
            listed = DEFAULT_EXCEPTIONS[key]
            if (theirs, decl.default) != (listed.crd, listed.gitopsd):
                problems.append(
                    f"{kind} {path}: CRD default {_fmt(theirs)}, gitopsd {_fmt(decl.default)};"
                    f" DEFAULT_EXCEPTIONS says CRD {_fmt(listed.crd)},"
                    f" gitopsd {_fmt(listed.gitopsd)}"
                )
        elif theirs != decl.default or type(theirs) is not type(decl.default):
            problems.append(
                f"{kind} {path}: CRD default {_fmt(theirs)}, gitopsd default {_fmt(decl.default)}"
            )
    problems += _stale(kind, DEFAULT_EXCEPTIONS, seen, "DEFAULT_EXCEPTIONS")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_patterns_match_crd(kind):
    """A CRD pattern (anchored) is gitopsd's pattern (full match), and gitopsd adds none."""
    problems = []
    for path, (node, decl) in managed(kind).items():
        theirs = node.get("pattern", "").removeprefix("^").removesuffix("$")
        if theirs != decl.pattern:
            problems.append(f"{kind} {path}: CRD pattern {theirs!r}, gitopsd {decl.pattern!r}")
    assert not problems, "\n".join(problems)


# --- every constraint accounted for ------------------------------------------------------------


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_every_crd_keyword_on_managed_fields_is_compared(kind):
    """A CRD constraint this module does not compare (maxLength, a new format...) fails here."""
    problems = []
    for path, (node, _decl) in managed(kind).items():
        unknown = sorted(set(node) - COMPARED_KEYWORDS)
        if unknown:
            problems.append(f"{kind} {path}: the CRD uses {unknown}, not compared by this test")
        if node.get("format", "int64") not in IGNORED_FORMATS:
            problems.append(f"{kind} {path}: the CRD has format {node['format']!r}, not compared")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_crd_validation_rules_are_listed(kind):
    """Every CEL rule on a managed field is in CEL_RULES, with how gitopsd treats it."""
    found = {
        (kind, path): tuple(rule["message"] for rule in node["x-kubernetes-validations"])
        for path, (node, _decl) in managed(kind).items()
        if "x-kubernetes-validations" in node
    }
    listed = {key: messages for key, (messages, _reason) in CEL_RULES.items() if key[0] == kind}
    assert found == listed, f"{kind}: the CRD's CEL rules {found} differ from CEL_RULES {listed}"
