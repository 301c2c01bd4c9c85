"""Plans and cycle results for people (a diff-like text) and machines (stable JSON).

Both render the cycle's drift report (``core.report``), so the command line and REPORT.md and
report.json speak one vocabulary: the same statuses (drifted, pending, blocked, skipped,
error, in-sync, and resolved this cycle), the same field changes, the same counts.

Text reads like a good diff: a block per cluster that needs a look (``~``, or ``!`` for an
error), a line per field ``path: atlas → git [severity]`` with the manifest line that asked
for it, and every action with how it ended and why. Clusters whose blocks read the same share
one block; a reason said in several blocks is said once, after them, with the clusters it
holds. Clusters in sync are counted, not listed. The last line says what the command did (a
plan, a dry run that wrote nothing, or the writes an apply sent) and counts the clusters.

JSON (``schemaVersion`` 2, documented in docs/reconcile.md) lists every cluster, in sync or
not, as the same objects report.json has; keys are sorted, so equal inputs give equal bytes.
Pure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from gitopsd.core import report, report_json, report_model
from gitopsd.core.diff import Value
from gitopsd.core.document import Span
from gitopsd.core.outcome import CycleResult, Outcome
from gitopsd.core.report_model import (
    ClusterEntry,
    DriftReport,
    ReportStatus,
    count,
    failure_text,
)

SCHEMA_VERSION = 2
NAMES_SHOWN = 3
"""How many clusters a shared block or reason names before it says how many more."""

_COLOURS = {"~": "33", "!": "31", "+": "32", "x": "31"}


def _value(value: Value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _where(span: Span | None) -> str:
    return "" if span is None else f"  ({span})"


def listed(keys: Sequence[str]) -> str:
    """``a, b, c``, or ``a, b, c, … (and 297 more)``."""
    shown = ", ".join(keys[:NAMES_SHOWN])
    more = len(keys) - NAMES_SHOWN
    return shown + (f", … (and {more} more)" if more > 0 else "")


def names(keys: Sequence[str]) -> str:
    """``3 clusters: a, b, c``, or ``300 clusters: a, b, c, … (and 297 more)``."""
    return f"{count(len(keys), 'cluster')}: {listed(keys)}"


# -- text --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reason:
    """Why an action ended as it did (or why a cluster failed): ``head: text``."""

    head: str
    text: tuple[str, ...]


_Part = str | _Reason


@dataclass(frozen=True, slots=True)
class _Block:
    """One cluster's lines, or those of several clusters whose lines are the same."""

    marker: str
    label: str
    mode: str
    deployment: str
    body: tuple[_Part, ...]
    keys: tuple[str, ...]


def label(entry: ClusterEntry) -> str:
    """The report's words for a status: ``pending``, ``drifted, blocked``, ``pending, resolved``."""
    words = []
    if entry.drift and entry.status is not ReportStatus.DRIFTED:
        words.append("drifted")
    words.append(str(entry.status))
    if entry.resolved:
        words.append("resolved")
    return ", ".join(words)


def _body(entry: ClusterEntry) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    if entry.failure is not None:
        parts.append(_Reason("error", (failure_text(entry.failure),)))
    for change in entry.changes:
        flags = change.severity.value + (", destructive" if change.destructive else "")
        parts.append(
            f"    {change.path}: {_value(change.atlas)} → {_value(change.git)}  [{flags}]"
            f"{_where(change.source)}"
        )
    for action in entry.actions:
        head = f"{action.outcome}: {action.kind}"
        lines = action.reason.split("\n") if action.reason else []
        if action.failure is not None:
            lines.append(f"Atlas: {failure_text(action.failure)}")
        parts.append(_Reason(head, tuple(lines)) if lines else f"    {head}")
    if entry.unmanaged:
        parts.append(f"    unmanaged in Atlas, left as they are: {', '.join(entry.unmanaged)}")
    return tuple(parts)


def _blocks(drift: DriftReport) -> list[_Block]:
    """A block per cluster that needs a look; clusters whose lines are the same share one."""
    merged: dict[tuple[object, ...], _Block] = {}
    for entry in drift.clusters:
        if entry.status is ReportStatus.IN_SYNC:
            continue
        block = _Block(
            marker="!" if entry.status in {ReportStatus.ERROR, ReportStatus.UNKNOWN} else "~",
            label=label(entry),
            mode=str(entry.mode),
            deployment=f"{entry.deployment.resource.namespace}/{entry.deployment.resource.name}",
            body=_body(entry),
            keys=(str(entry.key),),
        )
        same = (block.marker, block.label, block.mode, block.body)
        found = merged.get(same)
        merged[same] = (
            block
            if found is None
            else _Block(
                marker=found.marker,
                label=found.label,
                mode=found.mode,
                deployment=found.deployment,
                body=found.body,
                keys=(*found.keys, *block.keys),
            )
        )
    return list(merged.values())


def _shared(blocks: list[_Block]) -> dict[_Reason, list[str]]:
    """The reasons said in more than one block, with every cluster of those blocks."""
    where: dict[_Reason, list[_Block]] = {}
    for block in blocks:
        for part in dict.fromkeys(p for p in block.body if isinstance(p, _Reason)):
            where.setdefault(part, []).append(block)
    return {
        reason: [key for block in found for key in block.keys]
        for reason, found in where.items()
        if len(found) > 1
    }


def _inline(reason: _Reason) -> list[str]:
    first, *rest = reason.text
    return [f"    {reason.head}: {first}", *(f"      {line}" for line in rest)]


def _block_lines(block: _Block, shared: dict[_Reason, list[str]]) -> list[str]:
    if len(block.keys) == 1:
        head = f"{block.keys[0]}  [{block.label}]  deployment {block.deployment}, {block.mode} mode"
    else:
        head = (
            f"{len(block.keys)} clusters  [{block.label}]  {block.mode} mode: {listed(block.keys)}"
        )
    lines = [f"{block.marker} {head}"]
    for part in block.body:
        if isinstance(part, str):
            lines.append(part)
        elif part in shared:
            lines.append(f"    {part.head} (reason below, shared by {len(shared[part])} clusters)")
        else:
            lines.extend(_inline(part))
    return lines


def _shared_lines(shared: dict[_Reason, list[str]]) -> list[str]:
    lines: list[str] = []
    for reason, keys in shared.items():
        first, *rest = reason.text
        said = [f"{reason.head}: {first}", *(f"  {line}" for line in rest)]
        said[-1] += f" — {names(keys)}"
        lines.extend(said)
    return lines


def _paint(line: str, *, colour: bool) -> str:
    code = _COLOURS.get(line[:1])
    return f"\x1b[{code}m{line}\x1b[0m" if colour and code else line


def summary(drift: DriftReport) -> str:
    """The clusters counted per status, those resolved this cycle, and how many need a look."""
    parts = []
    for status, n in drift.summary.by_status:
        text = count(n, *report_model.STATUS_WORDS[status])
        resolved = sum(1 for c in drift.clusters if c.status is status and c.resolved)
        if resolved:
            text += f" ({resolved} resolved this cycle)"
        parts.append(text)
    text = count(drift.summary.clusters, "cluster") + ": " + ", ".join(parts)
    needing = sum(1 for c in drift.clusters if c.open)
    if needing:
        text += f"; {needing} {'needs' if needing == 1 else 'need'} attention"
    else:
        text += "; no cluster needs attention"
    if drift.not_planned:
        unplanned = count(len(drift.not_planned), "deployment")
        text += f"; {unplanned} not planned (manifest problems)"
    return text


def _outcomes(cycle: CycleResult, outcome: Outcome) -> int:
    return sum(1 for c in cycle.clusters for r in c.results if r.outcome is outcome)


def headline(cycle: CycleResult, drift: DriftReport) -> str:
    """The last line: what the command did, then the counts of ``summary``."""
    revision = cycle.revision
    if not cycle.applied:
        return f"Plan at {revision}: {summary(drift)}"
    if cycle.dry_run:
        would = _outcomes(cycle, Outcome.WOULD_APPLY)
        said = f"{count(would, 'write')} would be sent" if would else "none would be sent"
        return f"Dry run at {revision}: nothing was written to Atlas; {said}. {summary(drift)}"
    written, failed = _outcomes(cycle, Outcome.APPLIED), _outcomes(cycle, Outcome.FAILED)
    done = []
    if written:
        done.append(f"{count(written, 'write')} sent and read back")
    if failed:
        done.append(f"{count(failed, 'write')} failed")
    if unknown := _outcomes(cycle, Outcome.UNKNOWN):
        done.append(f"{count(unknown, 'write')} sent, whether applied unknown")
    return f"Applied at {revision}: {', '.join(done) or 'nothing written'}. {summary(drift)}"


def render_text(
    cycle: CycleResult, *, colour: bool = False, drift: DriftReport | None = None
) -> str:
    """The plan (or what applying it did) as a diff people read.

    ``drift`` is the cycle's report when the caller has it (``report.compute(cycle)``).
    """
    drift = report.compute(cycle) if drift is None else drift
    blocks = _blocks(drift)
    shared = _shared(blocks)
    lines: list[str] = []
    for block in blocks:
        lines.extend(_paint(line, colour=colour) for line in _block_lines(block, shared))
    lines.extend(_shared_lines(shared))
    for unplanned in drift.not_planned:
        lines.append(_paint(f"x {unplanned.deployment}  [not planned]", colour=colour))
        lines.extend(
            f"    {r.file}:{r.line}:{r.column}: {r.code}: {r.message}" for r in unplanned.problems
        )
    if cycle.dry_run_lines:
        lines.append("dry run, not sent:")
        lines.extend(f"    {line}" for line in cycle.dry_run_lines)
    if not lines:
        lines.append("Atlas matches the manifests: nothing to change.")
    lines.append(headline(cycle, drift))
    return "\n".join(lines)


# -- JSON -------------------------------------------------------------------------------------


def render_json(cycle: CycleResult, *, drift: DriftReport | None = None) -> str:
    """The plan (or what applying it did) as stable, documented JSON."""
    drift = report.compute(cycle) if drift is None else drift
    body = {
        "schemaVersion": SCHEMA_VERSION,
        "kind": "apply" if cycle.applied else "plan",
        "revision": cycle.revision,
        "source": report_json.source_json(drift.source),
        "mode": str(drift.mode),
        "dryRun": cycle.dry_run,
        "needsAttention": report.needs_attention(drift),
        "summary": report_json.summary_json(drift.summary),
        "clusters": [report_json.cluster_json(c) for c in drift.clusters],
        "notPlanned": report_json.not_planned_json(drift),
        "problems": [p.as_json() for p in drift.problems],
        "dryRunRequests": list(cycle.dry_run_lines),
    }
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False)
