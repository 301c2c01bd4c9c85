"""The report half of a cycle: classify, adopt, render, commit, open the pull request, remember.

    statuses  = report.classify(cycle)                 # drifted, pending, blocked, ...
    adoptions = adopt.compute(cycle, drifted)          # observe mode: edits that accept drift
    drift     = report.compute(cycle, adoptions)       # the report (core, pure)
    sink.publish(ReportCommit(...))                    # report branch: new fingerprints only
    forge.sync(...)                                    # pull request: new fingerprints only

Every cycle writes its report under ``<state dir>/report/`` (``REPORT.md``, ``report.json``), so
a one-shot ``gitopsd apply`` and an operator on the machine can read it even when nothing is
published. A report is committed only when its fingerprint changes, and the pull request is
touched only then (or after a failed attempt). Once a report is published, the corrections
cycles recorded before writing (``reconcile``) are shown and forgotten. Failing to publish
never undoes the cycle: the problem is returned for the caller to report, and the next cycle
tries again. This module must not talk to Atlas and must not decide anything ``core.report``
decides.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gitopsd.adapters import state_db
from gitopsd.core import adopt, report
from gitopsd.core import problems as wording
from gitopsd.core.model import Mode
from gitopsd.core.outcome import CycleResult, SourceNote, SourceNoteCode
from gitopsd.errors import GitopsdError
from gitopsd.source import Checkout, ReportCommit, ReportSink

LOCAL_DIR = "report"
MARKDOWN = "REPORT.md"
JSON = "report.json"
BODY_LIMIT = 60_000
"""Characters of REPORT.md put in a pull request body (GitHub refuses more than 65,536)."""


class SyncResultLike(Protocol):
    """What a pull-request sync returns (``adapters.forge.SyncResult``)."""

    @property
    def action(self) -> str: ...  # noqa: D102
    @property
    def url(self) -> str: ...  # noqa: D102


class Forge(Protocol):
    """The pull request from the report branch (``adapters.forge.ForgeClient``)."""

    def sync(self, *, title: str, body: str, open_: bool) -> SyncResultLike: ...  # noqa: D102


class ReportMemory(Protocol):
    """What publishing remembers (``adapters.state_db.StateDB``)."""

    def published(self, what: str) -> state_db.Published | None: ...  # noqa: D102
    def remember_published(self, what: str, record: state_db.Published) -> None: ...  # noqa: D102
    def record_cycle(self, record: state_db.CycleRecord) -> None: ...  # noqa: D102
    def forget_unreported(self, clusters: Iterable[str] | None = None) -> None: ...  # noqa: D102
    def unreported(self) -> Mapping[str, str]: ...  # noqa: D102


Editor = Callable[[str, Sequence[adopt.Edit]], str]
"""Apply edits to a manifest's text, keeping its layout (``adapters.yamlio``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishDeps:
    """Where reports go, built from the settings (``gitopsd.wiring``)."""

    state_dir: Path
    report_dir: str
    memory: ReportMemory
    edit: Editor
    sink: ReportSink | None = None
    forge: Forge | None = None
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Publication:
    """What became of one cycle's report.

    ``commit`` is the new commit on the report branch (None: nothing new to commit, or no
    branch to commit to); ``problems`` are failures to publish, for the caller to report.
    """

    drift: report.DriftReport
    fingerprint: str
    paths: tuple[Path, ...]
    commit: str | None = None
    branch: str = ""
    pull_request: str = ""
    problems: tuple[str, ...] = ()


def publish(cycle: CycleResult, checkout: Checkout, deps: PublishDeps) -> Publication:
    """Render the cycle's report, keep a local copy, and publish it where configured."""
    started = deps.clock()
    publishing = deps.sink is not None and not cycle.dry_run
    report_files = (f"{deps.report_dir}/{MARKDOWN}", f"{deps.report_dir}/{JSON}")
    if deps.sink is not None and publishing:
        cycle = _noting_displaced(cycle, deps.sink, report_files, deps.report_dir)
    adoptions, edited = _adoptions(cycle, checkout, deps.edit)
    drift = report.compute(cycle, adoptions={a.cluster: a for a in adoptions})
    fingerprint = report.fingerprint(drift)
    at = started.isoformat(timespec="seconds")
    markdown = report.render_markdown(
        drift, report_dir=deps.report_dir, generated_at=at, fingerprint=fingerprint
    )
    json_text = report.render_json(drift, generated_at=at, fingerprint=fingerprint)
    paths = _write_local(deps.state_dir / LOCAL_DIR, markdown, json_text)
    problems: list[str] = []
    commit, branch = None, ""
    if deps.sink is not None and publishing:
        files = (
            (report_files[0], markdown.encode()),
            (report_files[1], json_text.encode()),
            *edited,
        )
        message = report.commit_message(drift, fingerprint_=fingerprint)
        try:
            published = deps.sink.publish(
                ReportCommit(
                    base=cycle.revision, files=files, message=message, fingerprint=fingerprint
                )
            )
        except GitopsdError as exc:
            problems.append(f"the report was not published: {exc}")
        else:
            commit, branch = published.commit, published.branch
            reference = published.commit or _previous(deps.memory, "report")
            deps.memory.remember_published(
                "report", state_db.Published(fingerprint=fingerprint, reference=reference, at=at)
            )
    if cycle.applied and not cycle.dry_run and not problems:
        # This report shows them (or the local copy, with no sink), but for the writes whose
        # outcome is still to be learned: the next report tells what became of those.
        kept = {str(key) for key in cycle.still_unsettled}
        deps.memory.forget_unreported(k for k in deps.memory.unreported() if k not in kept)
    pull_request = ""
    if deps.forge is not None and deps.sink is not None and not cycle.dry_run and not problems:
        pull_request = _sync_forge(
            deps, drift=drift, fingerprint=fingerprint, markdown=markdown, at=at, problems=problems
        )
    if cycle.applied and not cycle.dry_run:
        deps.memory.record_cycle(
            state_db.CycleRecord(
                started_at=at,
                finished_at=deps.clock().isoformat(timespec="seconds"),
                revision=cycle.revision,
                mode=str(cycle.mode),
                counts={str(status): n for status, n in drift.summary.by_status},
                fingerprint=fingerprint,
                error="; ".join(problems),
            )
        )
    return Publication(
        drift=drift,
        fingerprint=fingerprint,
        paths=paths,
        commit=commit,
        branch=branch,
        pull_request=pull_request,
        problems=tuple(problems),
    )


def _noting_displaced(
    cycle: CycleResult, sink: ReportSink, paths: tuple[str, ...], report_dir: str
) -> CycleResult:
    """The cycle with a source note for each thing in the watched tree the report replaces."""
    try:
        displaced = sink.displaced(cycle.revision, paths)
    except GitopsdError:
        return cycle  # publishing fails the same way, and says so
    branch = cycle.source.branch or "the watched branch"
    notes = tuple(
        SourceNote(
            code=SourceNoteCode.REPORT_PATH_TAKEN,
            message=(
                f"{branch} has {wording.with_article(d.kind)} at {d.path}, where the report goes"
                f" ([report] dir = {report_dir}); the report branch has the report in its"
                f" place, so merging the report's pull request would delete that {d.kind}"
                f" from {branch}: move it, or set [report] dir to a path that is free"
            ),
        )
        for d in displaced
    )
    if not notes:
        return cycle
    source = dataclasses.replace(cycle.source, notes=cycle.source.notes + notes)
    return dataclasses.replace(cycle, source=source)


def _adoptions(
    cycle: CycleResult, checkout: Checkout, edit: Editor
) -> tuple[tuple[adopt.Adoption, ...], tuple[tuple[str, bytes], ...]]:
    """Adoptions for drifted clusters in observe mode, and the manifest files they edit."""
    statuses = report.classify(cycle)
    modes = {c.key: c.mode for c in cycle.plan.clusters}
    drifted = [
        key
        for key, status in statuses.items()
        if status is report.ReportStatus.DRIFTED and modes.get(key) is Mode.OBSERVE
    ]
    if not drifted:
        return (), ()
    adoptions = list(adopt.compute(cycle, drifted))
    while True:
        by_file: defaultdict[str, list[adopt.Edit]] = defaultdict(list)
        for adoption in adoptions:
            if adoption.adoptable:
                for one in adoption.edits:
                    by_file[one.file].append(one)
        edited, failed = _edit_files(checkout.root, by_file, edit)
        if not failed:
            return tuple(adoptions), tuple(sorted(edited.items()))
        adoptions = [_unless_failed(a, failed) for a in adoptions]


def _edit_files(
    root: Path, by_file: dict[str, list[adopt.Edit]], edit: Editor
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Each file's edited bytes, or why it could not be edited."""
    edited: dict[str, bytes] = {}
    failed: dict[str, str] = {}
    for file, edits in sorted(by_file.items()):
        try:
            text = (root / file).read_text(encoding="utf-8")
            edited[file] = edit(text, edits).encode()
        except (OSError, UnicodeDecodeError, GitopsdError) as exc:
            failed[file] = f"{file} could not be edited: {exc}"
    return edited, failed


def _unless_failed(adoption: adopt.Adoption, failed: dict[str, str]) -> adopt.Adoption:
    """The adoption, or a reason when one of the files it edits could not be edited."""
    broken = sorted({one.file for one in adoption.edits} & set(failed))
    if not broken or not adoption.adoptable:
        return adoption
    return adopt.Adoption(cluster=adoption.cluster, reason=failed[broken[0]])


def _write_local(directory: Path, markdown: str, json_text: str) -> tuple[Path, ...]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((MARKDOWN, markdown), (JSON, json_text)):
        path = directory / name
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        written.append(path)
    return tuple(written)


def _previous(memory: ReportMemory, what: str) -> str:
    last = memory.published(what)
    return "" if last is None else last.reference


def _sync_forge(
    deps: PublishDeps,
    *,
    drift: report.DriftReport,
    fingerprint: str,
    markdown: str,
    at: str,
    problems: list[str],
) -> str:
    """Open, update or close the pull request when the report changed since the last sync."""
    assert deps.forge is not None
    last = deps.memory.published("forge")
    if last is not None and last.fingerprint == fingerprint:
        return last.reference
    try:
        result = deps.forge.sync(
            title=_title(drift), body=_body(markdown), open_=report.needs_attention(drift)
        )
    except GitopsdError as exc:
        problems.append(f"the pull request was not updated: {exc}")
        return ""
    deps.memory.remember_published(
        "forge", state_db.Published(fingerprint=fingerprint, reference=result.url, at=at)
    )
    return result.url


def _title(drift: report.DriftReport) -> str:
    return "gitopsd: " + report.subject(drift)


def _body(markdown: str) -> str:
    if len(markdown) <= BODY_LIMIT:
        return markdown
    cut = markdown[:BODY_LIMIT].rsplit("\n", 1)[0]
    return cut + "\n\n*The report is longer than a pull request body; read REPORT.md.*\n"
