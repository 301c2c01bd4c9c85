"""Find and read manifest files; the only module that walks the file system for manifests.

Given files or directories, it collects every ``*.yaml``/``*.yml`` below them (recursively,
sorted, without following directory links and without hidden directories such as ``.git``),
honours ``.gitopsdignore`` files (gitignore syntax, through pathspec) and excluded paths (the
report directory), and refuses files that are too large, binary or not UTF-8 with a problem
that names the file, instead of reading them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

from gitopsd.adapters import yamlio
from gitopsd.core.document import Document, Span
from gitopsd.core.problems import Problem, Severity
from gitopsd.errors import ManifestPathError

IGNORE_FILE = ".gitopsdignore"
SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadOptions:
    """How to find and bound manifest files."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    exclude: tuple[str, ...] = ()
    relative_to: str | None = None
    """Name files relative to this directory in spans and problems (e.g. the repository)."""
    limits: yamlio.Limits = field(default_factory=yamlio.Limits)


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    """Every document read, every problem met, and the files looked at."""

    documents: tuple[Document, ...]
    problems: tuple[Problem, ...]
    files: tuple[str, ...]


def _ignore_spec(directory: Path) -> GitIgnoreSpec | None:
    path = directory / IGNORE_FILE
    if not path.is_file():
        return None
    return GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8").splitlines())


def _is_ignored(path: Path, specs: list[tuple[Path, GitIgnoreSpec]], *, is_dir: bool) -> bool:
    for base, spec in specs:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        if spec.match_file(rel + "/" if is_dir else rel):
            return True
    return False


def discover(paths: list[str], exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every manifest file under ``paths``, sorted; raise ManifestPathError for a missing path."""
    found: list[str] = []
    excluded = {Path(os.path.normpath(e)) for e in exclude}
    for given in paths:
        root = Path(os.path.normpath(given))
        if root.is_file():
            found.append(str(root))
            continue
        if not root.is_dir():
            raise ManifestPathError(f"{given}: no such file or directory")
        specs: list[tuple[Path, GitIgnoreSpec]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            spec = _ignore_spec(here)
            if spec is not None:
                specs.append((here, spec))
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".")
                and here / d not in excluded
                and not _is_ignored(here / d, specs, is_dir=True)
            )
            found.extend(
                str(here / name)
                for name in sorted(filenames)
                if name.endswith(SUFFIXES)
                and here / name not in excluded
                and not _is_ignored(here / name, specs, is_dir=False)
            )
    return tuple(dict.fromkeys(found))


def _file_problem(file: str, code: str, message: str, hint: str, line: int = 1) -> Problem:
    return Problem.at(Span(file, line, 1), Severity.ERROR, code, message, hint)


def read_text(file: str, max_file_bytes: int, name: str | None = None) -> str | Problem:
    """The file's text, or the problem that kept it from being read (naming it ``name``)."""
    shown = name or file
    try:
        size = Path(file).stat().st_size
        if size > max_file_bytes:
            return _file_problem(
                shown,
                "file-too-large",
                f"file is {size} bytes, over the limit of {max_file_bytes}; not read",
                "split it into smaller files, or raise [manifests] max_file_bytes"
                " (--max-file-bytes)",
            )
        with Path(file).open("rb") as handle:
            data = handle.read(max_file_bytes + 1)
    except OSError as exc:
        return _file_problem(
            shown, "file-unreadable", f"cannot read file: {exc.strerror}", "check its permissions"
        )
    if len(data) > max_file_bytes:
        return _file_problem(
            shown, "file-too-large", f"file grew over the limit of {max_file_bytes}; not read", ""
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        return _file_problem(
            shown,
            "file-binary",
            "file contains NUL bytes: it looks binary, not YAML; not read",
            f"exclude it with a {IGNORE_FILE} entry, or rename it away from .yaml/.yml",
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _file_problem(
            shown,
            "file-encoding",
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); not read",
            "save the file as UTF-8",
            line=data.count(b"\n", 0, exc.start) + 1,
        )


def _outside(file: str, root: str, name: str) -> Problem | None:
    """Why ``file``, links followed, is not read as a file under ``root``; None when it is.

    A repository may link within itself, never to files of the machine reading it. A link
    that loops or leads nowhere is a problem of that file alone, as any unreadable file is.
    """
    try:
        inside = Path(file).resolve(strict=True).is_relative_to(Path(root).resolve())
    except RuntimeError:  # Python 3.11's word for a symbolic link that loops
        return _file_problem(
            name,
            "file-unreadable",
            "is a symbolic link that loops back on itself; not read",
            "remove the link, or point it at a manifest in the repository",
        )
    except OSError as exc:
        return _file_problem(
            name,
            "file-unreadable",
            f"is a symbolic link that cannot be followed ({exc.strerror}); not read",
            "remove the link, or point it at a manifest in the repository",
        )
    if inside:
        return None
    return _file_problem(
        name,
        "file-unreadable",
        "is a symbolic link to a file outside the repository; not read",
        "commit the manifest itself, not a link to a file elsewhere",
    )


_Parsed = tuple[str, yamlio.Limits, tuple[Document, ...], tuple[Problem, ...]]


class ParseCache:
    """Each file's parsed documents and problems from the last load, keyed by its text.

    A long-running process keeps one and passes it to every ``load``: a file whose name, text
    and limits are unchanged is not parsed again (parsing is most of a load's time). A load
    keeps only the files it read, so the cache holds one repository's documents at most.
    Documents are frozen values, safe to share between loads. Loads must not overlap.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Parsed] = {}
        self._next: dict[str, _Parsed] = {}
        self.hits = 0
        """Files the last load took from the cache."""
        self.unchanged = False
        """The last load read the same files as the one before, every one unchanged."""

    def begin(self) -> None:
        """A load starts."""
        self._next, self.hits, self.unchanged = {}, 0, False

    def parse(
        self, text: str, name: str, limits: yamlio.Limits
    ) -> tuple[tuple[Document, ...], tuple[Problem, ...]]:
        """``yamlio.load_text``, or its earlier answer for the same name, text and limits."""
        entry = self._entries.get(name)
        if entry is not None and entry[0] == text and entry[1] == limits:
            self.hits += 1
        else:
            docs, found = yamlio.load_text(text, name, limits)
            entry = (text, limits, docs, found)
        self._next[name] = entry
        return entry[2], entry[3]

    def end(self, found: int) -> None:
        """The load of ``found`` files is over: keep exactly the ones it parsed.

        Unchanged means every file found was parsed before, unchanged, and no file went away;
        a file that could not be read (too large, binary, a link outside) is never unchanged.
        """
        same = self._next.keys() == self._entries.keys()
        self.unchanged = self.hits == found and same
        self._entries, self._next = self._next, {}


def load(
    paths: list[str], options: LoadOptions | None = None, cache: ParseCache | None = None
) -> Loaded:
    """Read every manifest document under ``paths``; a bad file is a problem, never an abort."""
    options = options or LoadOptions()
    files = discover(paths, options.exclude)
    documents: list[Document] = []
    problems: list[Problem] = []
    if cache is not None:
        cache.begin()
    for file in files:
        name = os.path.relpath(file, options.relative_to) if options.relative_to else file
        outside = _outside(file, options.relative_to, name) if options.relative_to else None
        if outside is not None:
            problems.append(outside)
            continue
        text = read_text(file, options.max_file_bytes, name)
        if isinstance(text, Problem):
            problems.append(text)
            continue
        if cache is None:
            docs, found = yamlio.load_text(text, name, options.limits)
        else:
            docs, found = cache.parse(text, name, options.limits)
        documents.extend(docs)
        problems.extend(found)
    if cache is not None:
        cache.end(len(files))
    return Loaded(documents=tuple(documents), problems=tuple(problems), files=files)
