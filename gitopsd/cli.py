"""The command line: argv -> a command -> an exit code.

Exit codes (SPEC §6, docs/problems.md): 0 success, 1 problems found or an error, 2 usage, 3
(``plan``, ``apply``) changes, drift or blocked actions left, 130 interrupted, 141 standard output
closed by its reader. Output goes to stdout; notes for people (summaries, problems while
printing a graph) go to stderr. Every failure ends in one line, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gitopsd import __version__, config, daemon, demo, desired, publish, reconcile, wiring
from gitopsd.adapters import logs, manifest_files, progress, state_dir
from gitopsd.core import (
    graph_export,
    manifests,
    outcome,
    plan_output,
    problems,
    report,
    report_model,
)
from gitopsd.errors import (
    ConfigError,
    GitError,
    ManifestPathError,
    NoDeploymentsError,
    StateLockedError,
)

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_CHANGES = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), as a shell reports it
EXIT_PIPE = 141  # the reader of standard output went away, as a shell reports SIGPIPE


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _manifest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--default-namespace",
        default=manifests.DEFAULT_NAMESPACE,
        metavar="NS",
        help="namespace of manifests that name none (default: %(default)s)",
    )
    parser.add_argument(
        "--max-file-bytes",
        type=_positive,
        default=manifest_files.DEFAULT_MAX_FILE_BYTES,
        metavar="N",
        help="refuse manifest files larger than this (default: %(default)s)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATH",
        help="skip this file or directory (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="gitopsd",
        description="Keep MongoDB Atlas cloud backups exactly as the manifests in Git say.",
    )
    parser.add_argument("--version", action="version", version=f"gitopsd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate", help="check manifests: parse, validate, build the graph (no network)"
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or directories")
    validate.add_argument("--format", choices=("text", "json", "github"), default="text")
    _manifest_options(validate)

    show = commands.add_parser("graph", help="print the desired state graph")
    show.add_argument("path", metavar="PATH", help="manifest file or directory")
    show.add_argument("--format", choices=("mermaid", "dot", "json"), default="mermaid")
    _manifest_options(show)

    plan = commands.add_parser(
        "plan", help="read the manifests and Atlas, print what would change (never writes)"
    )
    plan.add_argument("--config", required=True, metavar="FILE", help="the TOML config file")
    plan.add_argument("--format", choices=("text", "json"), default="text")

    apply = commands.add_parser(
        "apply", help="one full cycle: plan, apply what the guard allows, read Atlas back"
    )
    apply.add_argument("--config", required=True, metavar="FILE", help="the TOML config file")
    apply.add_argument(
        "--dry-run", action="store_true", help="send reads only; print the writes instead"
    )
    apply.add_argument("--format", choices=("text", "json"), default="text")

    daemon_ = commands.add_parser(
        "run", help="the daemon: poll Git, converge Atlas, publish reports until SIGTERM"
    )
    daemon_.add_argument("--config", required=True, metavar="FILE", help="the TOML config file")

    demo = commands.add_parser(
        "demo", help="the whole loop on the example manifests: Git, an emulated Atlas, reports"
    )
    demo.add_argument(
        "--manifests",
        default="manifests-example",
        metavar="DIR",
        help="the manifests to use (default: %(default)s)",
    )

    emulator = commands.add_parser(
        "emulator", help="serve the Atlas Admin API emulator on loopback until SIGTERM"
    )
    emulator.add_argument("--listen", default="127.0.0.1:8089", metavar="HOST:PORT")
    emulator.add_argument("--state", default=None, metavar="FILE", help="YAML or JSON seed")
    emulator.add_argument(
        "--updating-s", type=float, default=0.0, metavar="S", help="UPDATING time after a PATCH"
    )
    emulator.add_argument("--seed", type=int, default=0, help="seed for ids and faults")
    return parser


def _colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def _load(args: argparse.Namespace, paths: list[str]) -> desired.Result:
    options = manifest_files.LoadOptions(
        max_file_bytes=args.max_file_bytes, exclude=tuple(args.exclude)
    )
    return desired.load(paths, default_namespace=args.default_namespace, options=options)


def _validate(args: argparse.Namespace) -> int:
    result = _load(args, args.paths)
    found = result.problems
    failed = problems.has_errors(found)
    state = result.state
    if args.format == "json":
        body = {
            "schemaVersion": 1,
            "valid": not failed,
            "files": result.files,
            "documents": result.documents,
            "clusters": len(state.clusters),
            "blocked": len(state.blocked),
            "problems": [p.as_json() for p in found],
        }
        print(json.dumps(body, indent=2, sort_keys=True))
    elif args.format == "github":
        if found:
            print(problems.render_github(found))
    else:
        if found:
            print(problems.render_text(found, colour=_colour(sys.stdout)))
        files = report_model.count(result.files, "file")
        documents = report_model.count(result.documents, "document")
        clusters = report_model.count(len(state.clusters), "cluster")
        print(
            f"{files}, {documents}: {problems.summary(found)};"
            f" {clusters} ready, {len(state.blocked)} blocked",
            file=sys.stderr,
        )
    return EXIT_PROBLEMS if failed else EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    result = _load(args, [args.path])
    render = {
        "mermaid": graph_export.to_mermaid,
        "dot": graph_export.to_dot,
        "json": graph_export.to_json,
    }[args.format]
    print(render(result.state))
    if args.format != "json" and result.problems:
        print(problems.render_text(result.problems, colour=_colour(sys.stderr)), file=sys.stderr)
    return EXIT_PROBLEMS if problems.has_errors(result.problems) else EXIT_OK


def _cycle(args: argparse.Namespace, *, write: bool) -> int:
    settings = config.load(args.config)
    stop = threading.Event()
    dry_run = not write or args.dry_run
    watcher = progress.TerminalProgress.for_stream(sys.stderr)  # None off a terminal
    # A daemon on the same state directory would race this command on the clone and the state.
    with (
        state_dir.lock(Path(settings.state.dir)),
        wiring.Runtime(
            settings,
            dry_run=dry_run,
            stop=stop,
            progress=watcher or reconcile.UNWATCHED,
            on_atlas_response=watcher.on_response if watcher else None,
        ) as runtime,
        watcher or contextlib.nullcontext(),
    ):
        cycle, published = runtime.cycle(write=write)
    drift = published.drift if published is not None else report.compute(cycle)
    if args.format == "json":
        print(plan_output.render_json(cycle, drift=drift))
    else:
        print(plan_output.render_text(cycle, colour=_colour(sys.stdout), drift=drift))
        if published is not None:
            print("\n" + "\n".join(describe(published)))
        if cycle.problems:
            print(problems.render_text(cycle.problems, colour=_colour(sys.stderr)), file=sys.stderr)
    for note in cycle.source.notes:
        print(f"gitopsd: {note.message}", file=sys.stderr)
    if published is not None and published.problems:
        for problem in published.problems:
            print(f"gitopsd: {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    return _cycle_exit(cycle, drift)


def describe(published: publish.Publication) -> list[str]:
    """Where the report went, a line each: the local copy, the report branch, the pull request."""
    lines = [f"report: {published.paths[0]}"]
    if published.branch:
        if published.commit:
            lines.append(
                f"report branch: {published.branch} @ {published.commit[:12]} (new commit)"
            )
        else:
            lines.append(f"report branch: {published.branch} already holds this report")
    if published.pull_request:
        lines.append(f"pull request: {published.pull_request}")
    return lines


_FAILED = frozenset({report.ReportStatus.ERROR, report.ReportStatus.UNKNOWN})
"""A write whose outcome could not be learned is a failure to talk to Atlas, as an error is."""
_SOURCE_ERRORS = frozenset({outcome.SourceNoteCode.FETCH_FAILED, outcome.SourceNoteCode.UNVERIFIED})


def _cycle_exit(cycle: outcome.CycleResult, drift: report.DriftReport) -> int:
    """1 on any error, 3 when a cluster still needs a look, else 0 (SPEC §6).

    The statuses are the report's, so the exit code says what the report says. A branch tip
    that could not be fetched or verified is an error too: what Git asks now was not read,
    whatever the last good revision says.
    """
    failed = any(c.status in _FAILED for c in drift.clusters)
    if failed or drift.not_planned or problems.has_errors(cycle.problems):
        return EXIT_PROBLEMS
    if any(note.code in _SOURCE_ERRORS for note in cycle.source.notes):
        return EXIT_PROBLEMS
    if any(c.open for c in drift.clusters):
        return EXIT_CHANGES
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    return demo.run(Path(args.manifests))


def _emulator(args: argparse.Namespace) -> int:
    from gitopsd.emulator import runner  # noqa: PLC0415 - only this command needs the server

    state = Path(args.state) if args.state else None
    return runner.run(
        listen=args.listen, state_path=state, updating_s=args.updating_s, seed=args.seed
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args = build_parser().parse_args(argv)
    if args.command != "run":  # the daemon logs to standard output for journald
        logs.configure(stream=sys.stderr, level="warning")
    command = {
        "validate": _validate,
        "graph": _graph,
        "plan": lambda a: _cycle(a, write=False),
        "apply": lambda a: _cycle(a, write=True),
        "run": lambda a: daemon.run(Path(a.config)),
        "emulator": _emulator,
        "demo": _demo,
    }[args.command]
    try:
        code = command(args)
        sys.stdout.flush()  # here, so a reader gone away is met inside this try, not at exit
    except ManifestPathError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (ConfigError, StateLockedError, NoDeploymentsError) as exc:
        return _fail(str(exc), EXIT_PROBLEMS)
    except GitError as exc:
        return _fail(f"Git: {exc}{'; ' + exc.hint if exc.hint else ''}", EXIT_PROBLEMS)
    except BrokenPipeError:
        # The reader went away (`gitopsd graph | head`): stop quietly, as a filter does.
        _silence_stdout()
        return EXIT_PIPE
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except OSError as exc:  # the machine refused: a full disk, a file that vanished
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"{exc.strerror or type(exc).__name__}{where}", EXIT_PROBLEMS)
    return code


def _fail(message: str, code: int) -> int:
    """One line on standard error, then the exit code."""
    with contextlib.suppress(OSError):  # standard error gone too: the exit code says it alone
        print(f"gitopsd: {message}", file=sys.stderr, flush=True)
    return code


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush cannot fail too."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
