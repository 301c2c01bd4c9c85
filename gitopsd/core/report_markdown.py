"""REPORT.md: the drift report as Markdown that reads well in a pull request.

A title, a one-line verdict, the source line and a table of counts, then sections in a fixed
order: drift (changed in Atlas), pending Git changes, blocked, skipped, errors, manifest
problems, orphans, the affected graph (a Mermaid block) and the clusters in sync (named, not
tabled). Each cluster that needs a look gets a heading, a field table whose Git values link to
the manifest line that set them (relative to the report directory, ``../x.yaml#L12``), its
actions, and how to resolve it. Every string from manifests, file names or Atlas is escaped
(``_text``) or shown in a code span (``_code``), so none can add a link, an image, HTML, a
table column or a line; empty sections are left out. Pure: equal reports and arguments give
equal bytes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from urllib.parse import quote

from gitopsd.core import report_graph, report_model
from gitopsd.core.adopt import Adoption, Edit, EditOp
from gitopsd.core.diff import Value
from gitopsd.core.document import Span
from gitopsd.core.plan import Failure
from gitopsd.core.problems import Problem
from gitopsd.core.report_model import (
    ActionEntry,
    ChangeEntry,
    ClusterEntry,
    DriftReport,
    ManifestRef,
    Origin,
    ReportStatus,
)

IN_SYNC_LIMIT = 100
"""The most in-sync clusters REPORT.md names; report.json lists them all."""

_MISSING = "—"
_SECTIONS = (
    (ReportStatus.PENDING, "Pending"),
    (ReportStatus.BLOCKED, "Blocked"),
    (ReportStatus.SKIPPED, "Skipped"),
    (ReportStatus.UNKNOWN, "Unknown outcome"),
    (ReportStatus.ERROR, "Errors"),
)
_LABELS = {
    ReportStatus.DRIFTED: "Drifted (changed in Atlas)",
    ReportStatus.PENDING: "Pending (Git's values to apply)",
    ReportStatus.BLOCKED: "Blocked",
    ReportStatus.SKIPPED: "Skipped",
    ReportStatus.UNKNOWN: "Unknown (a write's outcome)",
    ReportStatus.ERROR: "Error",
    ReportStatus.IN_SYNC: "In sync",
}
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

Link = Callable[[str, int | None], str]
"""``(file relative to the repository root, line or None)`` → a link target."""


# -- escaping ----------------------------------------------------------------------------------


_PUNCTUATION = re.compile(r"([\\`*_\[\]~|#$])")
"""The characters that start Markdown inline syntax (GitHub's too: strikethrough, tables, math),
backslash-escaped in text so they show as themselves. ``<``, ``>`` and ``&`` become entities;
``(``, ``)`` and ``!`` mean nothing once ``[`` and ``]`` are escaped, so they stay readable."""


def _text(text: str) -> str:
    """Text from manifests or Atlas, safe inline: shown as written, one line.

    No HTML, no link, image, emphasis, code span, table pipe or heading mark can come out of
    it; every line break (whatever ``str.splitlines`` counts as one) becomes ``<br>``.
    """
    escaped = _PUNCTUATION.sub(r"\\\1", html.escape(text, quote=False))
    return "<br>".join(line.strip() for line in escaped.strip().splitlines())


def _code(text: str, *, cell: bool = False) -> str:
    """A code span holding ``text`` verbatim, however many backticks it contains."""
    flat = " ".join(text.splitlines())
    runs = [len(r) for r in re.findall(r"`+", flat)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    span = f"{fence}{pad}{flat}{pad}{fence}"
    return span.replace("|", "\\|") if cell else span


def _value(value: Value) -> str:
    """A field value as JSON text in a code span; absent is a dash."""
    if value is None:
        return _MISSING
    return _code(json.dumps(value, ensure_ascii=False), cell=True)


# -- links -------------------------------------------------------------------------------------


def _linker(report_dir: str) -> Link:
    """Links from ``report_dir`` (relative to the repository root) to a manifest line."""
    depth = 0
    for part in report_dir.replace("\\", "/").split("/"):
        if part == "..":
            depth = max(0, depth - 1)
        elif part not in {"", "."}:
            depth += 1
    up = "../" * depth

    def link(file: str, line: int | None) -> str:
        anchor = f"#L{line}" if line is not None else ""
        return f"{up}{quote(file, safe='/-._~')}{anchor}"

    return link


def _at(link: Link, span: Span | None, label: str) -> str:
    """``label`` linked to ``span``'s line, or just ``label``."""
    if span is None:
        return label
    return f"[{label}]({link(span.file, span.line)})"


def _problem_where(link: Link, problem: Problem) -> str:
    where = f"{problem.file}:{problem.line}:{problem.column}"
    return f"[{_text(where)}]({link(problem.file, problem.line)})"


# -- pieces ------------------------------------------------------------------------------------


def _failure(failure: Failure) -> str:
    """The message, then Atlas's errorCode, HTTP status and detail verbatim in brackets."""
    said = []
    if failure.error_code:
        said.append(f"errorCode {_code(failure.error_code)}")
    if failure.status is not None:
        said.append(f"HTTP {failure.status}")
    text = ", ".join(said)
    if failure.detail:
        text += (": " if text else "detail: ") + _text(failure.detail)
    if not text:
        return _text(failure.message)
    return f"{_text(failure.message)} ({'Atlas: ' if failure.status is not None else ''}{text})"


def _manifests(link: Link, cluster: ClusterEntry) -> str:
    refs: list[tuple[str, ManifestRef | None]] = [
        ("deployment", cluster.deployment),
        ("schedule", cluster.schedule),
        ("policy", cluster.policy),
    ]
    shown = [
        f"{kind} {_at(link, ref.source, _code(f'{ref.resource.namespace}/{ref.resource.name}'))}"
        for kind, ref in refs
        if ref is not None
    ]
    return " → ".join(shown)


_ORIGINS = {
    Origin.ATLAS: "Atlas changed out of band",
    Origin.GIT: "Git changed since Atlas last matched it",
    Origin.UNKNOWN: "not seen in sync before: whether Git or Atlas changed is unknown",
}


_TOLD_APART = frozenset({ReportStatus.PENDING, ReportStatus.BLOCKED})
"""The statuses whose advice depends on which side changed, so the status line says it."""


def _status_line(link: Link, cluster: ClusterEntry) -> str:
    status = f"**{cluster.status}**"
    if cluster.drift and cluster.status is not ReportStatus.DRIFTED:
        status += f" ({_ORIGINS[Origin.ATLAS]})"
    elif cluster.open and cluster.origin is not None and cluster.status in _TOLD_APART:
        status += f" ({_ORIGINS[cluster.origin]})"
    facts = [status, f"{cluster.mode} mode"]
    if cluster.resolved:
        facts.append("resolved this cycle")
    return " · ".join(facts) + "\n\n" + _manifests(link, cluster)


def _changes(link: Link, changes: tuple[ChangeEntry, ...]) -> list[str]:
    if not changes:
        return []
    lines = [
        "| Field | Atlas | Git | Severity | Effect of Git's value |",
        "|---|---|---|---|---|",
    ]
    for change in changes:
        severity = str(change.severity) + (", destructive" if change.destructive else "")
        git = _at(link, change.source, _value(change.git))
        lines.append(
            f"| {_code(change.path, cell=True)} | {_value(change.atlas)} | {git}"
            f" | {severity} | {_text(change.why)} |"
        )
    return [*lines, ""]


def _action(action: ActionEntry) -> str:
    parts = [f"- {_code(str(action.kind))}: {action.outcome}"]
    if action.reason:
        parts.append(_text(action.reason))
    if action.failure is not None:
        parts.append(_failure(action.failure))
    return ": ".join(parts)


def _edit_path(edit: Edit) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in edit.path)
    return text.removeprefix(".")


def _adoption(link: Link, cluster: ClusterEntry, adoption: Adoption) -> list[str]:
    if not adoption.adoptable:
        reason = adoption.reason or "no manifest edit would accept it"
        return [f"**Cannot be adopted automatically:** {_text(reason)}", ""]
    lines = [
        "**Adopting Atlas's values:** merging this pull request makes these manifest edits.",
        "",
        "| Manifest | Field | New value |",
        "|---|---|---|",
    ]
    lines_of = {c.path: c.source.line for c in cluster.changes if c.source is not None}
    for edit in adoption.edits:
        line = lines_of.get(edit.pointer)
        target = link(edit.file, line)
        new = "(removed)" if edit.op is EditOp.DELETE else _edit_value(edit)
        lines.append(
            f"| [{_code(edit.file, cell=True)}]({target}) | {_code(_edit_path(edit), cell=True)}"
            f" | {new} |"
        )
    return [*lines, ""]


def _edit_value(edit: Edit) -> str:
    return _code(json.dumps(edit.value, ensure_ascii=False, sort_keys=True), cell=True)


def _cluster(link: Link, cluster: ClusterEntry) -> list[str]:
    lines = [f"### {_text(str(cluster.key))}", "", _status_line(link, cluster), ""]
    if cluster.failure is not None:
        lines += [f"**Error:** {_failure(cluster.failure)}", ""]
    lines += _changes(link, cluster.changes)
    if cluster.actions:
        lines += ["Actions:", "", *(_action(a) for a in cluster.actions), ""]
    if cluster.unmanaged:
        names = ", ".join(_code(u) for u in cluster.unmanaged)
        lines += [f"Unmanaged in Atlas, left as they are: {names}", ""]
    if cluster.adoption is not None:
        lines += _adoption(link, cluster, cluster.adoption)
    lines += [f"**How to resolve:** {_text(cluster.resolution)}", ""]
    return lines


# -- sections ----------------------------------------------------------------------------------


def _verdict(drift: DriftReport) -> str:
    total = drift.summary.clusters
    needing = sum(1 for c in drift.clusters if c.open)
    clusters = report_model.count(total, "cluster")
    if needing:
        verb = "needs" if needing == 1 else "need"
        tally = ", ".join(report_model.tally(drift))
        head = f"**{needing} of {clusters} {verb} attention:** {tally}"
    elif drift.summary.resolved:
        head = f"**Atlas matches Git:** this cycle resolved {drift.summary.resolved} of {clusters}"
        if drift.summary.drift_corrected:
            head += f" ({drift.summary.drift_corrected} of them drifted)"
    elif total == 1:
        head = "**The cluster is in sync**"
    else:
        head = f"**All {clusters} are in sync**"
    tails = []
    if drift.problems:
        tails.append(f"the manifests have {report_model.count(len(drift.problems), 'problem')}")
    if drift.source.notes:
        tails.append("see the note on the source")
    return head + "".join(f"; {t}" for t in tails) + "."


def _short(revision: str) -> str:
    return revision[:12] if _SHA.fullmatch(revision) else revision


def _source(drift: DriftReport, generated_at: str) -> list[str]:
    source = drift.source
    revision = _short(source.revision)
    where = f"{source.branch}@{revision}" if source.branch else revision
    run = "dry run" if drift.dry_run else ("applied" if drift.applied else "plan only")
    facts = [f"Source {_code(where)}", f"mode {drift.mode}", run, f"generated {generated_at}"]
    if source.url:
        facts[0] += f" of {_code(source.url)}"
    lines = [" · ".join(facts), ""]
    if source.tip and source.tip != source.revision:
        lines += [
            f"The branch tip is {_code(_short(source.tip))}, not the revision reported on.",
            "",
        ]
    for note in source.notes:
        lines += [f"> **Note ({note.code}):** {_text(note.message)}", ""]
    return lines


def _counts(drift: DriftReport) -> list[str]:
    summary = drift.summary
    lines = ["| Status | Clusters | Need attention |", "|---|---:|---:|"]
    lines += [
        f"| {_LABELS[s]} | {n} | {report_model.open_count(drift, s)} |"
        for s, n in summary.by_status
    ]
    needing = sum(1 for c in drift.clusters if c.open)
    lines.append(f"| **Total** | **{summary.clusters}** | **{needing}** |")
    extra = (
        ("Drift corrected this cycle", summary.drift_corrected),
        ("Resolved this cycle", summary.resolved),
        ("Not planned (manifest problems)", summary.not_planned),
        ("Manifest problems", summary.problems),
        ("Orphans", summary.orphans),
    )
    lines += [f"| {label} | {n} | |" for label, n in extra if n]
    return [*lines, ""]


def _status_sections(link: Link, drift: DriftReport) -> list[str]:
    lines: list[str] = []
    drifted = [c for c in drift.clusters if c.drift]
    if drifted:
        lines += ["## Drift (changed in Atlas)", ""]
        for cluster in drifted:
            lines += _cluster(link, cluster)
    for status, title in _SECTIONS:
        members = drift.with_status(status)
        if not members:
            continue
        lines += [f"## {title}", ""]
        pointers = [_code(str(c.key)) for c in members if c.drift]
        if pointers:
            lines += [f"Also {status}, because of drift (see above): {', '.join(pointers)}.", ""]
        for cluster in (c for c in members if not c.drift):
            lines += _cluster(link, cluster)
    return lines


def _problems(link: Link, drift: DriftReport) -> list[str]:
    if not drift.problems and not drift.not_planned:
        return []
    lines = ["## Manifest problems", ""]
    if drift.problems:
        lines += ["| Where | Severity | Code | Message |", "|---|---|---|---|"]
        for p in drift.problems:
            message = _text(p.message) + (f"<br>Hint: {_text(p.hint)}" if p.hint else "")
            lines.append(
                f"| {_problem_where(link, p)} | {p.severity} | {_code(p.code, cell=True)}"
                f" | {message} |"
            )
        lines.append("")
    if drift.not_planned:
        lines += ["Not planned until these problems are fixed:", ""]
        for n in drift.not_planned:
            why = "; ".join(
                f"{_problem_where(link, p)} {_code(p.code)}: {_text(p.message)}" for p in n.problems
            )
            lines.append(f"- {_code(n.deployment)}" + (f": {why}" if why else ""))
        lines.append("")
    return lines


def _orphans(drift: DriftReport) -> list[str]:
    if not len(drift.orphans):
        return []
    lines = ["## Orphans", ""]
    lines += [
        f"- schedule {_code(f'{r.namespace}/{r.name}')}: no deployment uses it"
        for r in drift.orphans.schedules
    ]
    lines += [
        f"- policy {_code(f'{r.namespace}/{r.name}')}: no schedule uses it"
        for r in drift.orphans.policies
    ]
    return [*lines, ""]


def _graph(drift: DriftReport) -> list[str]:
    if not drift.graph.nodes:
        return []
    lines = ["## Graph", "", "```mermaid", report_graph.to_mermaid(drift.graph), "```", ""]
    if drift.graph.omitted:
        lines += [
            (
                f"…and {drift.graph.omitted} more affected deployments, not drawn"
                " (report.json lists every cluster)."
            ),
            "",
        ]
    return lines


def _in_sync(drift: DriftReport) -> list[str]:
    members = drift.with_status(ReportStatus.IN_SYNC)
    if not members:
        return []
    shown = ", ".join(_code(str(c.key)) for c in members[:IN_SYNC_LIMIT])
    more = len(members) - IN_SYNC_LIMIT
    tail = f", and {more} more" if more > 0 else ""
    n = len(members)
    return ["## In sync", "", f"{n} cluster{'s' if n != 1 else ''}: {shown}{tail}.", ""]


def render_markdown(
    drift: DriftReport, *, report_dir: str, generated_at: str, fingerprint: str | None = None
) -> str:
    """REPORT.md's text; manifest links are relative to ``report_dir`` in the repository.

    ``generated_at`` is the ISO-8601 UTC time the shell passes; it is not fingerprinted.
    ``fingerprint`` is ``fingerprint(drift)`` when the caller has it already (it is costly).
    """
    link = _linker(report_dir)
    lines = ["# gitopsd drift report", "", _verdict(drift), ""]
    lines += _source(drift, generated_at)
    lines += _counts(drift)
    lines += _status_sections(link, drift)
    lines += _problems(link, drift)
    lines += _orphans(drift)
    lines += _graph(drift)
    lines += _in_sync(drift)
    shown = fingerprint or report_model.fingerprint(drift)
    lines += [f"<sub>Fingerprint {_code(shown)}</sub>", ""]
    return "\n".join(lines)
