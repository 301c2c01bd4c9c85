"""Loaded documents -> manifest resources, or every problem found, all at once.

``parse`` classifies each document (ours, another kind of atlas.mongodb.com, another API),
checks it against its declaration in ``schema`` and against the rules of SPEC §1 that live
inside one document, and builds the resource. A document with errors still yields its
resource (marked invalid) whenever its identity can be read, so the graph can block exactly
the clusters that depend on it and keep the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from gitopsd.core import policy_items, schema
from gitopsd.core.document import Document, Mapping, Node, Scalar, Sequence, Span
from gitopsd.core.model import (
    BackupPolicy,
    BackupSchedule,
    CopySetting,
    Deployment,
    Export,
    Kind,
    Meta,
    Mode,
    Project,
    Ref,
    Resource,
    ResourceId,
)
from gitopsd.core.problems import Problem, Severity

DEFAULT_NAMESPACE = "default"
_T = TypeVar("_T")

SHARED_TIERS = frozenset({"M0", "M2", "M5"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifests:
    """The resources read, and every problem met reading them."""

    resources: tuple[Resource, ...]
    problems: tuple[Problem, ...]


class _Doc:
    """One document being read: its problems, and tolerant typed getters over its tree."""

    def __init__(self, document: Document, walker: schema.Walker) -> None:
        self.document = document
        self.walker = walker

    def error(self, span: Span, code: str, message: str, hint: str = "") -> None:
        self.walker.error(span, code, message, hint)

    def warn(self, span: Span, code: str, message: str, hint: str = "") -> None:
        self.walker.problems.append(Problem.at(span, Severity.WARNING, code, message, hint))


def _at(node: Node | None, *path: str) -> Node | None:
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _str(node: Node | None) -> str | None:
    if isinstance(node, Scalar) and isinstance(node.value, str):
        return node.value
    return None


def _int(node: Node | None) -> int | None:
    if (
        isinstance(node, Scalar)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        return node.value
    return None


def _bool(node: Node | None) -> bool | None:
    if isinstance(node, Scalar) and isinstance(node.value, bool):
        return node.value
    return None


def _ref(node: Node | None, namespace: str) -> Ref | None:
    name = _str(_at(node, "name"))
    if node is None or not name:
        return None
    written = _str(_at(node, "namespace"))
    return Ref(
        name=name,
        namespace=written or namespace,
        span=node.span,
        namespace_written=bool(written),
    )


def parse(
    documents: tuple[Document, ...], *, default_namespace: str = DEFAULT_NAMESPACE
) -> Manifests:
    """Every document -> its resource (if it is ours) and all problems, in one pass."""
    resources: list[Resource] = []
    problems: list[Problem] = []
    for document in documents:
        resource, found = _parse_document(document, default_namespace)
        problems.extend(found)
        if resource is not None:
            resources.append(resource)
    return Manifests(resources=tuple(resources), problems=tuple(problems))


def _parse_document(
    document: Document, default_namespace: str
) -> tuple[Resource | None, tuple[Problem, ...]]:
    walker = schema.Walker(problems=list(document.problems))
    doc = _Doc(document, walker)
    root = document.root
    if isinstance(root, Scalar) and root.value is None:
        return None, tuple(walker.problems)  # an empty document, e.g. after a trailing ---
    if not isinstance(root, Mapping):
        shape = "a list" if isinstance(root, Sequence) else f"a plain value ({root.text!r})"
        doc.error(
            root.span,
            "not-a-manifest",
            f"document {document.index + 1} is {shape}, not a manifest",
            "a manifest is a mapping with apiVersion, kind, metadata and spec",
        )
        return None, tuple(walker.problems)
    kind = _classify(doc, root)
    if kind is None:
        return None, tuple(walker.problems)
    declaration = schema.KINDS[kind]
    if _str(root.get("apiVersion")) is None:  # _classify said so, with the value to write
        api = replace(declaration.fields["apiVersion"], required=False)
        declaration = replace(declaration, fields={**declaration.fields, "apiVersion": api})
    walker.walk(root, declaration, "", root.span)
    meta = _meta(doc, root, Kind(kind), default_namespace)
    build = _BUILDERS[Kind(kind)]
    if meta is None:
        # Without a name there is no resource, but its rules still run so that every problem
        # of the document shows at once.
        anonymous = ResourceId(kind=Kind(kind), namespace=default_namespace, name="")
        build(doc, root, Meta(id=anonymous, span=root.span))
        return None, tuple(walker.problems)
    resource = build(doc, root, meta)
    errors = tuple(p for p in walker.problems if p.is_error)
    resource = _with_errors(resource, errors)
    return resource, tuple(walker.problems)


def _with_errors(resource: Resource, errors: tuple[Problem, ...]) -> Resource:
    return replace(resource, meta=replace(resource.meta, errors=errors))


def _classify(doc: _Doc, root: Mapping) -> str | None:
    """The kind to read this document as, or None (with a notice or error) to skip it."""
    api_node, kind_node = root.get("apiVersion"), root.get("kind")
    api, kind = _str(api_node), _str(kind_node)
    ours = tuple(schema.KINDS)
    if api is None and kind is None:
        doc.walker.problems.append(
            Problem.at(
                root.span,
                Severity.NOTICE,
                "skipped-document",
                "document has no apiVersion or kind: not a manifest, skipped",
                f"list files that are not manifests in {'.gitopsdignore'}",
            )
        )
        return None
    if kind is None:
        doc.error(root.span, "missing-field", "required field 'kind' is missing")
        return None
    if api is None:
        doc.error(
            root.span,
            "missing-field",
            "required field 'apiVersion' is missing",
            f"add apiVersion: {schema.API_VERSION}",
        )
        # One of our kinds is still checked as one, so that its other problems show too.
        return kind if kind in ours else None
    assert kind_node is not None
    assert api_node is not None
    if api != schema.API_VERSION:
        if kind in ours:
            doc.warn(
                api_node.span,
                "skipped-api-version",
                f"{kind} with apiVersion {api!r} is skipped",
                f"gitopsd reads apiVersion {schema.API_VERSION}",
            )
        else:
            doc.walker.problems.append(
                Problem.at(
                    api_node.span,
                    Severity.NOTICE,
                    "skipped-document",
                    f"{kind} ({api}) is not an Atlas manifest; skipped",
                )
            )
        return None
    if kind in ours:
        return kind
    near = schema.closest(kind, ours)
    if near is not None:
        doc.error(
            kind_node.span, "unknown-kind", f"unknown kind {kind!r}", f"did you mean {near!r}?"
        )
        return None
    doc.walker.problems.append(
        Problem.at(
            kind_node.span,
            Severity.NOTICE,
            "not-managed",
            f"{kind} is not managed by gitopsd; skipped",
            "gitopsd manages AtlasBackupPolicy, AtlasBackupSchedule and AtlasDeployment backups",
        )
    )
    return None


def _meta(doc: _Doc, root: Mapping, kind: Kind, default_namespace: str) -> Meta | None:
    metadata = root.get("metadata")
    name_node = _at(metadata, "name")
    name = _str(name_node)
    written = _str(_at(metadata, "namespace"))
    annotations: list[tuple[str, str]] = []
    notes = _at(metadata, "annotations")
    if isinstance(notes, Mapping):
        for key, value in notes.entries:
            text = _str(value)
            if key.text.startswith(schema.ANNOTATION_PREFIX):
                _check_annotation(doc, key, value)
            if text is not None:
                annotations.append((key.text, text))
    if name is None or name_node is None or not re.fullmatch(schema.DNS1123_SUBDOMAIN, name):
        return None
    return Meta(
        id=ResourceId(kind=kind, namespace=written or default_namespace, name=name),
        span=name_node.span,
        annotations=tuple(annotations),
        namespace_written=bool(written),
    )


def _check_annotation(doc: _Doc, key: Scalar, value: Node) -> None:
    allowed = schema.ANNOTATIONS.get(key.text)
    if allowed is None:
        doc.error(
            key.span,
            "unknown-annotation",
            f"unknown annotation {key.text!r}",
            schema.did_you_mean(key.text, tuple(schema.ANNOTATIONS)),
        )
        return
    if isinstance(value, Scalar) and value.text in allowed and not isinstance(value.value, str):
        doc.error(
            value.span,
            "wrong-type",
            f"annotation {key.text} must be a quoted string",
            f'write "{value.text}" (Kubernetes annotation values are strings)',
        )
    elif (text := _str(value)) is not None and text not in allowed:
        doc.error(
            value.span,
            "invalid-value",
            f"annotation {key.text} is {text!r}",
            "expected one of: " + ", ".join(f'"{a}"' for a in allowed),
        )


def _build_policy(doc: _Doc, root: Mapping, meta: Meta) -> BackupPolicy:
    node = _at(root, "spec", "items")
    if not isinstance(node, Sequence):
        return BackupPolicy(meta=meta, items=())
    items, found = policy_items.read(node.items)
    doc.walker.problems.extend(found)
    return BackupPolicy(meta=meta, items=items)


def _sourced(
    spec: Node | None,
    name: str,
    read: Callable[[Node | None], _T | None],
    sources: list[tuple[str, Span]],
) -> _T | None:
    node = _at(spec, name)
    value = read(node)
    if value is not None and node is not None:
        sources.append((f"/{name}", node.span))
    return value


def _build_schedule(doc: _Doc, root: Mapping, meta: Meta) -> BackupSchedule:
    spec = _at(root, "spec")
    sources: list[tuple[str, Span]] = []
    export = None
    export_node = _at(spec, "export")
    bucket = _str(_at(export_node, "exportBucketId"))
    if export_node is not None and bucket is not None:
        export = Export(
            bucket_id=bucket,
            frequency=_str(_at(export_node, "frequencyType")) or "monthly",
        )
        sources.append(("/export", export_node.span))
    auto_export = _sourced(spec, "autoExportEnabled", _bool, sources)
    if auto_export is True and export_node is None:
        flag = _at(spec, "autoExportEnabled")
        assert flag is not None
        doc.error(
            flag.span,
            "export-missing",
            "autoExportEnabled is true but the schedule has no export",
            "add export: {exportBucketId: <bucket id>, frequencyType: monthly}",
        )
    copy_settings = None
    copy_node = _at(spec, "copySettings")
    if isinstance(copy_node, Sequence):
        copy_settings = tuple(c for c in map(_copy_setting, copy_node.items) if c is not None)
        _check_copy_settings(doc, copy_settings)
        sources.append(("/copySettings", copy_node.span))
    return BackupSchedule(
        meta=meta,
        policy=_ref(_at(spec, "policy"), meta.id.namespace),
        reference_hour_of_day=_sourced(spec, "referenceHourOfDay", _int, sources),
        reference_minute_of_hour=_sourced(spec, "referenceMinuteOfHour", _int, sources),
        restore_window_days=_sourced(spec, "restoreWindowDays", _int, sources),
        auto_export_enabled=auto_export,
        export=export,
        use_org_and_group_names_in_export_prefix=_sourced(
            spec, "useOrgAndGroupNamesInExportPrefix", _bool, sources
        ),
        update_snapshots=_sourced(spec, "updateSnapshots", _bool, sources),
        copy_settings=copy_settings,
        sources=tuple(sources),
    )


def _copy_setting(node: Node) -> CopySetting | None:
    region = _str(_at(node, "regionName"))
    if region is None:
        return None
    frequencies = _at(node, "frequencies")
    # Without frequencies the setting is invalid (the walker says so), but it is still checked
    # for duplicates and oplog copies, so that those problems show at once too.
    items = frequencies.items if isinstance(frequencies, Sequence) else ()
    names = tuple(sorted({f for f in (_str(n) for n in items) if f is not None}))
    return CopySetting(
        cloud_provider=_str(_at(node, "cloudProvider")) or "AWS",
        region_name=region,
        should_copy_oplogs=_bool(_at(node, "shouldCopyOplogs")),
        frequencies=names,
        span=node.span,
    )


def _check_copy_settings(doc: _Doc, settings: tuple[CopySetting, ...]) -> None:
    seen: dict[tuple[str, str], CopySetting] = {}
    for setting in settings:
        where = (setting.cloud_provider, setting.region_name)
        if where in seen:
            doc.error(
                setting.span,
                "duplicate-copy-setting",
                f"a second copy setting for {setting.cloud_provider} {setting.region_name}"
                f" (first at line {seen[where].span.line})",
                "merge their frequencies into one entry",
            )
        seen.setdefault(where, setting)


def _build_deployment(doc: _Doc, root: Mapping, meta: Meta) -> Deployment:
    spec = _at(root, "spec")
    namespace = meta.id.namespace
    project_node, external_node = _at(spec, "projectRef"), _at(spec, "externalProjectRef")
    secret = _str(_at(spec, "connectionSecret", "name"))
    if isinstance(spec, Mapping) and project_node is None and external_node is None:
        doc.error(
            root.key_span("spec") or spec.span,
            "project-ref",
            "a deployment needs exactly one of projectRef and externalProjectRef; neither is set",
            "name its project with projectRef: {name: <AtlasProject>} or"
            " externalProjectRef: {id: <Atlas project id>}",
        )
    elif isinstance(spec, Mapping) and project_node is not None and external_node is not None:
        project_key = spec.key_span("projectRef") or project_node.span
        external_key = spec.key_span("externalProjectRef") or external_node.span
        doc.error(
            project_key,
            "project-ref",
            "a deployment needs exactly one of projectRef and externalProjectRef; both are set"
            f" (projectRef on line {project_key.line}, externalProjectRef on line"
            f" {external_key.line})",
            "keep one: projectRef names an AtlasProject manifest, externalProjectRef an Atlas"
            " project id",
        )
    if external_node is not None and secret is None:
        doc.warn(
            external_node.span,
            "operator-incompatible",
            "the operator requires connectionSecret with externalProjectRef",
            "gitopsd uses its default credentials; add connectionSecret to stay operator-valid",
        )
    sources: list[tuple[str, Span]] = []
    dspec = _at(spec, "deploymentSpec")
    cluster_node = _at(dspec, "name")
    cluster_name = _str(cluster_node)
    backup_node, pit_node = _at(dspec, "backupEnabled"), _at(dspec, "pitEnabled")
    backup, pit = _bool(backup_node), _bool(pit_node)
    for pointer, node, value in (
        ("/backupEnabled", backup_node, backup),
        ("/pitEnabled", pit_node, pit),
    ):
        if node is not None and value is not None:
            sources.append((pointer, node.span))
    if cluster_node is not None and cluster_name is not None:
        sources.append(("/name", cluster_node.span))
    backup_ref_node = _at(spec, "backupRef")
    if schema.is_empty(backup_ref_node):
        backup_ref_node = None  # the operator's Go types write an unset reference as {name: ""}
    backup_ref = _ref(backup_ref_node, namespace)
    if backup_ref is not None:
        sources.append(("/backupRef", backup_ref.span))
    _check_deployment(doc, spec, backup_ref_node, backup_node, pit_node)
    unmanaged: tuple[str, ...] = ()
    if isinstance(dspec, Mapping):
        unmanaged = tuple(
            f"deploymentSpec.{k.text}"
            for k, _ in dspec.entries
            if k.text in schema.DEPLOYMENT_SPEC_UNMANAGED
        )
    if isinstance(spec, Mapping):
        unmanaged += tuple(k.text for k, _ in spec.entries if k.text in schema.DEPLOYMENT_UNMANAGED)
    mode = meta.annotation("gitopsd.io/mode")
    return Deployment(
        meta=meta,
        project_ref=_ref(project_node, namespace),
        project_id=_str(_at(external_node, "id")),
        cluster_name=cluster_name
        if cluster_name and re.fullmatch(schema.CLUSTER_NAME, cluster_name)
        else None,
        backup_enabled=backup,
        pit_enabled=pit,
        backup_ref=backup_ref,
        profile=secret,
        mode=Mode(mode) if mode in tuple(Mode) else None,
        allow_destructive=meta.annotation("gitopsd.io/allow-destructive") == "true",
        unmanaged=unmanaged,
        sources=tuple(sources),
    )


def _check_deployment(
    doc: _Doc,
    spec: Node | None,
    backup_ref_node: Node | None,
    backup_node: Node | None,
    pit_node: Node | None,
) -> None:
    dspec = _at(spec, "deploymentSpec")
    backup, pit = _bool(backup_node), _bool(pit_node)
    wants_backup = backup_ref_node is not None or backup is True or pit is True
    if isinstance(spec, Mapping) and dspec is None:
        other = next((k for k in ("flexSpec", "serverlessSpec") if spec.get(k) is not None), None)
        if other is not None and backup_ref_node is not None:
            doc.error(
                backup_ref_node.span,
                "backup-not-supported",
                f"a {other.removesuffix('Spec')} instance cannot take a backup schedule:"
                " it is backed up automatically",
                "remove backupRef",
            )
        elif other is None:
            doc.error(
                spec.span,
                "missing-field",
                "required field 'deploymentSpec' is missing in spec",
                "add deploymentSpec: {name: <Atlas cluster name>}",
            )
    if backup is False and backup_ref_node is not None:
        assert backup_node is not None
        doc.error(
            backup_node.span,
            "backup-disabled-with-ref",
            "backupEnabled is false but the deployment has a backupRef",
            "a backupRef turns backup on: remove backupEnabled: false, or remove backupRef",
        )
    if backup is False and pit is True:
        assert pit_node is not None
        doc.error(
            pit_node.span,
            "pit-without-backup",
            "pitEnabled is true but backupEnabled is false",
            "continuous backup needs cloud backup: set backupEnabled: true",
        )
    tier = _shared_tier(dspec)
    if tier is not None and wants_backup:
        where = backup_ref_node or backup_node or pit_node
        assert where is not None
        doc.error(
            where.span,
            "backup-not-supported",
            f"cloud backup is not available on the shared tier {tier}",
            "move the cluster to M10 or larger, or remove its backup settings",
        )


def _shared_tier(dspec: Node | None) -> str | None:
    specs = _at(dspec, "replicationSpecs")
    if not isinstance(specs, Sequence):
        return None
    for spec in specs.items:
        configs = _at(spec, "regionConfigs")
        if not isinstance(configs, Sequence):
            continue
        for config in configs.items:
            size = _str(_at(config, "electableSpecs", "instanceSize"))
            if size in SHARED_TIERS:
                return size
            if _str(_at(config, "providerName")) == "TENANT":
                return size or "TENANT"
    return None


def _build_project(_doc: _Doc, root: Mapping, meta: Meta) -> Project:
    return Project(meta=meta, name=_str(_at(root, "spec", "name")))


_BUILDERS: dict[Kind, Callable[[_Doc, Mapping, Meta], Resource]] = {
    Kind.POLICY: _build_policy,
    Kind.SCHEDULE: _build_schedule,
    Kind.DEPLOYMENT: _build_deployment,
    Kind.PROJECT: _build_project,
}
