"""The accepted shape of each manifest kind, and a walker that reports every deviation.

The declarations here are the single source of which fields gitopsd accepts, their types,
enums and ranges; the compatibility test compares them with the operator's released CRDs.
The walker checks a document tree against a declaration and returns problems; the domain rules
that span fields (retention order, export needs a bucket, ...) live in ``manifests``.

Deliberate differences from the CRDs are listed in docs/manifests.md; in short: a null value
means "absent" (as the Kubernetes API server treats it), YAML 1.1 booleans (yes/no/on/off) get
a specific hint, and copy-setting frequencies must be Atlas's snapshot frequency names.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from gitopsd.core.document import Mapping, Node, Scalar, Sequence, Span, describe
from gitopsd.core.problems import Problem, Severity


class Type(enum.StrEnum):
    """The value types a manifest field can have."""

    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    STRING_MAP = "string map"
    OPAQUE = "any"


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One field's declaration; type OPAQUE means accepted, listed as not managed, never read."""

    type: Type
    required: bool = False
    enum: tuple[str | int, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    pattern: str = ""
    pattern_hint: str = ""
    fields: dict[str, Field] = field(default_factory=dict)
    items: Field | None = None
    min_items: int = 0
    open: bool = False
    default: str | int | bool | None = None
    empty_hint: str = ""
    """For a string: "" counts as missing, with this hint (a required reference's name)."""
    enum_by_rule: bool = False
    """The enum is checked by a rule of ``policy_items`` that knows more (the allowed values
    depend on another field); the walker leaves it alone."""
    unset_when_empty: bool = False
    """For an object: {} or one whose fields are all "" or null is read as absent, the way the
    operator's Go types write a reference nobody set (``backupRef: {name: ""}``)."""


def _s(**kw: object) -> Field:
    return Field(type=Type.STRING, **kw)  # type: ignore[arg-type]


def _i(**kw: object) -> Field:
    return Field(type=Type.INTEGER, **kw)  # type: ignore[arg-type]


def _b(**kw: object) -> Field:
    return Field(type=Type.BOOLEAN, **kw)  # type: ignore[arg-type]


def _o(fields: dict[str, Field], **kw: object) -> Field:
    return Field(type=Type.OBJECT, fields=fields, **kw)  # type: ignore[arg-type]


def _opaque() -> Field:
    return Field(type=Type.OPAQUE)


API_VERSION = "atlas.mongodb.com/v1"
FREQUENCY_TYPES = ("hourly", "daily", "weekly", "monthly", "yearly")
RETENTION_UNITS = ("days", "weeks", "months", "years")
CLOUD_PROVIDERS = ("AWS", "GCP", "AZURE")
EXPORT_FREQUENCIES = ("monthly", "yearly")
COPY_FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY", "ON_DEMAND")
FREQUENCY_INTERVALS = (*range(1, 29), 40)
DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
CLUSTER_NAME = r"[a-zA-Z0-9][a-zA-Z0-9-]*"
ANNOTATION_PREFIX = "gitopsd.io/"
ANNOTATIONS = {
    "gitopsd.io/allow-destructive": ("true", "false"),
    "gitopsd.io/mode": ("enforce", "observe"),
}


def _ref(empty_hint: str, **kw: object) -> Field:
    return _o({"name": _s(required=True, empty_hint=empty_hint), "namespace": _s()}, **kw)


def is_empty(node: Node | None) -> bool:
    """Whether ``node`` is a mapping whose values are all "" or null (``{}`` included)."""
    return isinstance(node, Mapping) and all(
        isinstance(value, Scalar) and value.value in (None, "") for _, value in node.entries
    )


_METADATA = _o(
    {
        "name": _s(
            required=True,
            pattern=DNS1123_SUBDOMAIN,
            pattern_hint="use lowercase letters, digits, '-' and '.', starting and ending"
            " with a letter or digit (Kubernetes DNS-1123 names)",
        ),
        "namespace": _s(
            pattern=DNS1123_LABEL,
            pattern_hint="use lowercase letters, digits and '-' (a DNS-1123 label)",
        ),
        "labels": Field(type=Type.STRING_MAP),
        "annotations": Field(type=Type.STRING_MAP),
        **{
            name: _opaque()
            for name in (
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "finalizers",
                "ownerReferences",
                "generateName",
                "managedFields",
                "selfLink",
            )
        },
    },
    required=True,
)

POLICY_ITEM = _o(
    {
        "frequencyType": _s(required=True, enum=FREQUENCY_TYPES),
        "frequencyInterval": _i(required=True, enum=FREQUENCY_INTERVALS, enum_by_rule=True),
        "retentionUnit": _s(required=True, enum=RETENTION_UNITS),
        "retentionValue": _i(required=True, minimum=1),
    }
)

POLICY_SPEC = _o(
    {"items": Field(type=Type.ARRAY, required=True, items=POLICY_ITEM, min_items=1)},
    required=True,
)

COPY_SETTING = _o(
    {
        "cloudProvider": _s(enum=CLOUD_PROVIDERS, default="AWS"),
        "regionName": _s(required=True),
        "shouldCopyOplogs": _b(),
        "frequencies": Field(
            type=Type.ARRAY, items=_s(enum=COPY_FREQUENCIES), min_items=1, required=True
        ),
    }
)

SCHEDULE_SPEC = _o(
    {
        "policy": _ref(
            "name the AtlasBackupPolicy this schedule uses: policy: {name: <policy name>}",
            required=True,
        ),
        "referenceHourOfDay": _i(minimum=0, maximum=23),
        "referenceMinuteOfHour": _i(minimum=0, maximum=59),
        "restoreWindowDays": _i(minimum=1),
        "autoExportEnabled": _b(),
        "export": _o(
            {
                "exportBucketId": _s(required=True),
                "frequencyType": _s(enum=EXPORT_FREQUENCIES, default="monthly"),
            }
        ),
        "useOrgAndGroupNamesInExportPrefix": _b(),
        "updateSnapshots": _b(),
        "copySettings": Field(type=Type.ARRAY, items=COPY_SETTING),
    },
    required=True,
)

# deploymentSpec fields gitopsd does not manage: accepted (the operator's CRD has them) and
# listed as "not managed"; their contents are the operator's business.
DEPLOYMENT_SPEC_UNMANAGED = (
    "biConnector",
    "clusterType",
    "configServerManagementMode",
    "customZoneMapping",
    "diskSizeGB",
    "encryptionAtRestProvider",
    "labels",
    "managedNamespaces",
    "mongoDBMajorVersion",
    "mongoDBVersion",
    "paused",
    "replicationSpecs",
    "rootCertType",
    "searchIndexes",
    "searchNodes",
    "tags",
    "terminationProtectionEnabled",
    "versionReleaseSystem",
)
DEPLOYMENT_UNMANAGED = ("flexSpec", "processArgs", "serverlessSpec", "upgradeToDedicated")

DEPLOYMENT_SPEC = _o(
    {
        "projectRef": _ref(
            "name the AtlasProject, or use externalProjectRef: {id: <Atlas project id>} instead"
        ),
        "externalProjectRef": _o(
            {"id": _s(required=True, empty_hint="write the Atlas project id (24 hex characters)")}
        ),
        "connectionSecret": _o(
            {
                "name": _s(
                    required=True,
                    empty_hint="name a credentials profile of the configuration"
                    " ([atlas.profiles.NAME]), or remove connectionSecret to use the"
                    " [atlas] credentials",
                )
            }
        ),
        "backupRef": _ref(
            "name the AtlasBackupSchedule, or remove backupRef for no schedule",
            unset_when_empty=True,
        ),
        "deploymentSpec": _o(
            {
                "name": _s(
                    required=True,
                    pattern=CLUSTER_NAME,
                    pattern_hint="Atlas cluster names use ASCII letters, digits and '-',"
                    " starting with a letter or digit",
                ),
                "backupEnabled": _b(),
                "pitEnabled": _b(),
                **{name: _opaque() for name in DEPLOYMENT_SPEC_UNMANAGED},
            }
        ),
        **{name: _opaque() for name in DEPLOYMENT_UNMANAGED},
    },
    required=True,
)


def document(spec: Field) -> Field:
    """The whole document around a kind's ``spec``."""
    return _o(
        {
            "apiVersion": _s(required=True),
            "kind": _s(required=True),
            "metadata": _METADATA,
            "spec": spec,
            "status": _opaque(),
        }
    )


KINDS: dict[str, Field] = {
    "AtlasBackupPolicy": document(POLICY_SPEC),
    "AtlasBackupSchedule": document(SCHEDULE_SPEC),
    "AtlasDeployment": document(DEPLOYMENT_SPEC),
    # Only spec.name matters to gitopsd; the rest of an AtlasProject is the operator's.
    "AtlasProject": document(_o({"name": _s(required=True)}, required=True, open=True)),
}

# Fields that older operator releases or the docs used, with what to do instead.
RETIRED_FIELDS = {
    "replicationSpecId": "gitopsd fills the copy setting's zone from the cluster; remove it",
}


def distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein with adjacent transpositions)."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def closest(word: str, candidates: tuple[str, ...] | list[str]) -> str | None:
    """The candidate nearest to ``word`` if it is near enough to be a slip."""
    best: tuple[int, str] | None = None
    for candidate in candidates:
        d = distance(word, candidate)
        if best is None or d < best[0]:
            best = (d, candidate)
    if best is None:
        return None
    limit = max(2, min(len(word), len(best[1])) // 3)
    return best[1] if best[0] <= limit else None


def did_you_mean(word: str, candidates: tuple[str, ...] | list[str]) -> str:
    """A hint naming the nearest candidate, or listing them all."""
    near = closest(word, candidates)
    if near is not None:
        return f"did you mean {near!r}?"
    return "expected one of: " + ", ".join(str(c) for c in candidates)


_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off"})


@dataclass(slots=True)
class Walker:
    """Collects the problems of one document against its declaration."""

    problems: list[Problem] = field(default_factory=list)

    def error(self, span: Span, code: str, message: str, hint: str = "") -> None:
        """Record an error at ``span``."""
        self.problems.append(Problem.at(span, Severity.ERROR, code, message, hint))

    def walk(self, node: Node, decl: Field, path: str, key_span: Span) -> None:
        """Check ``node`` (found at ``path``, its key at ``key_span``) against ``decl``."""
        if decl.type is Type.OPAQUE:
            return
        if isinstance(node, Scalar) and node.value is None and not node.quoted:
            if decl.required:
                self.error(
                    key_span, "missing-field", f"{path} is required but empty", decl.empty_hint
                )
            return
        if decl.unset_when_empty and is_empty(node):
            assert isinstance(node, Mapping)
            for key, _ in node.entries:
                if key.text not in decl.fields:
                    self._unknown(key, f"{path}.{key.text}", tuple(decl.fields))
            return
        check = getattr(self, f"_check_{decl.type.name.lower()}")
        check(node, decl, path, key_span)

    def _wrong(self, node: Node, path: str, expected: str, hint: str = "") -> None:
        self.error(
            node.span,
            "wrong-type",
            f"{path} must be {expected}, got {describe(node)}",
            hint,
        )

    def _check_string(self, node: Node, decl: Field, path: str, _key: Span) -> None:
        if not isinstance(node, Scalar) or not isinstance(node.value, str):
            hint = f'quote it: "{node.text}"' if isinstance(node, Scalar) else ""
            self._wrong(node, path, "a string", hint)
            return
        if decl.empty_hint and not node.value:
            self.error(node.span, "missing-field", f"{path} is required but empty", decl.empty_hint)
            return
        self._check_choice(node, node.value, decl, path)
        if decl.pattern and not re.fullmatch(decl.pattern, node.value):
            self.error(
                node.span, "invalid-name", f"{path} {node.value!r} is not valid", decl.pattern_hint
            )

    def _check_integer(self, node: Node, decl: Field, path: str, _key: Span) -> None:
        if not isinstance(node, Scalar) or isinstance(node.value, bool):
            self._wrong(node, path, "an integer")
            return
        value = node.value
        if not isinstance(value, int):
            hint = ""
            if node.quoted and re.fullmatch(r"[-+]?[0-9]+", node.text):
                hint = f"remove the quotes: {node.text}"
            self._wrong(node, path, "an integer", hint)
            return
        if decl.minimum is not None and value < decl.minimum:
            self.error(node.span, "out-of-range", f"{path} is {value}, below {decl.minimum}")
        elif decl.maximum is not None and value > decl.maximum:
            self.error(node.span, "out-of-range", f"{path} is {value}, above {decl.maximum}")
        else:
            self._check_choice(node, value, decl, path)

    def _check_boolean(self, node: Node, _decl: Field, path: str, _key: Span) -> None:
        if isinstance(node, Scalar) and isinstance(node.value, bool):
            return
        hint = ""
        if isinstance(node, Scalar) and node.text.lower() in {"true", "false"}:
            hint = f"remove the quotes: {node.text.lower()}"
        elif isinstance(node, Scalar) and node.text in _YAML11_BOOLS:
            hint = (
                "write true or false; yes/no/on/off are strings in YAML 1.2 and"
                " mean different things to different tools"
            )
        self._wrong(node, path, "true or false", hint)

    def _check_choice(self, node: Scalar, value: str | int, decl: Field, path: str) -> None:
        if decl.enum and not decl.enum_by_rule and value not in decl.enum:
            choices = tuple(str(c) for c in decl.enum)
            if isinstance(value, str):
                hint = did_you_mean(value, choices)
                shown = repr(node.text)
            else:
                hint = "expected one of: " + ", ".join(choices)
                shown = node.text
            self.error(node.span, "invalid-value", f"{path} {shown} is not allowed", hint)

    def _check_string_map(self, node: Node, _decl: Field, path: str, _key: Span) -> None:
        if not isinstance(node, Mapping):
            self._wrong(node, path, "a mapping of strings")
            return
        for key, value in node.entries:
            if not isinstance(value, Scalar) or not isinstance(value.value, str):
                hint = f'quote it: "{value.text}"' if isinstance(value, Scalar) else ""
                self._wrong(value, f"{path}.{key.text}", "a string", hint)

    def _check_object(self, node: Node, decl: Field, path: str, key_span: Span) -> None:
        if not isinstance(node, Mapping):
            self._wrong(node, path, "a mapping")
            return
        if not decl.fields:
            return
        known = tuple(decl.fields)
        for key, value in node.entries:
            sub = decl.fields.get(key.text)
            child = f"{path}.{key.text}" if path else key.text
            if sub is None:
                if not decl.open:
                    self._unknown(key, child, known)
                continue
            self.walk(value, sub, child, key.span)
        for name, sub in decl.fields.items():
            if sub.required and node.get(name) is None:
                child = f"{path}.{name}" if path else name
                where = f" in {path}" if path else ""
                self.error(
                    key_span if path else node.span,
                    "missing-field",
                    f"required field {name!r} is missing{where}",
                    f"add {child}",
                )

    def _unknown(self, key: Scalar, path: str, known: tuple[str, ...]) -> None:
        retired = RETIRED_FIELDS.get(key.text)
        hint = retired or did_you_mean(key.text, known)
        self.error(key.span, "unknown-field", f"unknown field {path}", hint)

    def _check_array(self, node: Node, decl: Field, path: str, key_span: Span) -> None:
        if isinstance(node, Mapping):
            self.error(
                key_span,
                "wrong-type",
                f"{path} must be a list, got a mapping (line {node.span.line})",
                _list_hint(node, path),
            )
            return
        if not isinstance(node, Sequence):
            self._wrong(node, path, "a list")
            return
        if len(node.items) < decl.min_items:
            self.error(
                node.span,
                "missing-field",
                f"{path} needs at least {decl.min_items} item{'s' if decl.min_items > 1 else ''}",
            )
        if decl.items is not None:
            for index, item in enumerate(node.items):
                self.walk(item, decl.items, f"{path}[{index}]", item.span)


def _list_hint(node: Mapping, path: str) -> str:
    name = path.rsplit(".", 1)[-1]
    lines = [f"write {name} as a list, each item starting with '- ':", f"  {name}:"]
    for n, (key, value) in enumerate(node.entries):
        shown = value.text if isinstance(value, Scalar) else "..."
        lines.append(f"    {'- ' if n == 0 else '  '}{key.text}: {shown}")
    return "\n".join(lines)
