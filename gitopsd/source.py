"""Where a cycle's manifests come from, and where its reports go: the seams to Git.

A ``Source`` hands the cycle a ``Checkout``: a directory of manifests and the revision it
holds. ``DirectorySource`` reads a local directory as it is (a working copy, a CI checkout);
its revision is a digest of the manifest files' paths and bytes, so an unchanged directory
gives an unchanged revision. It must not modify anything it reads. A ``ReportSink`` commits a
``ReportCommit`` to the report branch (``adapters.gitrepo.GitSource`` is both), and says
beforehand what in the watched tree a report file would replace (``Displaced``).
``from_settings`` picks the source for ``[git] url``; this module must not import ``git``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from gitopsd import config
from gitopsd.core.outcome import SourceNote, SourceState
from gitopsd.errors import ConfigError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkout:
    """Manifests ready to read: their directory and the revision they come from.

    ``root`` is the top of the repository (manifest links are relative to it). ``url`` is
    safe to show (no credentials). ``tip`` is the branch tip when this is not it, and
    ``notes`` say why (a failed fetch, an unverified signature) or what had to be repaired.
    """

    root: Path
    manifests: Path
    revision: str
    url: str = ""
    branch: str = ""
    tip: str = ""
    notes: tuple[SourceNote, ...] = ()

    def state(self) -> SourceState:
        """The source as a report tells it."""
        return SourceState(
            url=self.url, branch=self.branch, revision=self.revision, tip=self.tip, notes=self.notes
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportCommit:
    """One report to commit on the report branch, made from the watched revision ``base``.

    ``files`` are repository-relative paths and their bytes (report files and edited
    manifests), laid over ``base``'s tree. ``message`` is the whole commit message, trailers
    included; ``fingerprint`` (``sha256:...``) is also its ``Drift-Fingerprint`` trailer.
    """

    base: str
    files: tuple[tuple[str, bytes], ...]
    message: str
    fingerprint: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """Where a report went: ``commit`` is None when the branch already held its fingerprint.

    ``rebuilt`` says the branch was (re)created from the watched revision instead of getting
    one more commit on top of the previous report.
    """

    branch: str
    commit: str | None
    rebuilt: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Displaced:
    """Something in the watched tree where a report file must go, so it gives way to the report.

    ``kind`` is ``file``, ``executable file``, ``symbolic link`` or ``submodule`` (standing
    where the report needs a directory), or ``directory`` (where it needs a file).
    """

    path: str
    kind: str


class Source(Protocol):
    """Anything that can produce the manifests of a cycle."""

    def checkout(self) -> Checkout:
        """The current manifests; raises GitopsdError when there are none to read."""
        ...


@runtime_checkable
class ReportSink(Protocol):
    """Where reports are committed: the report branch of the watched repository."""

    def publish(self, report: ReportCommit) -> Published:
        """Commit ``report`` unless the branch already holds it; raises GitError."""
        ...

    def displaced(self, base: str, paths: tuple[str, ...]) -> tuple[Displaced, ...]:
        """What in ``base``'s tree must give way for ``paths`` to be files; raises GitError."""
        ...


class DirectorySource:
    """A local directory, read in place.

    Args:
        root: the directory (``[git] url`` when it is a local path).
        path: the manifests directory inside it (``[git] path``).
    """

    def __init__(self, root: str | Path, path: str = ".") -> None:
        self.root = Path(root)
        self.path = path

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.root)!r}, path={self.path!r})"

    def checkout(self) -> Checkout:
        """The directory as it is now, with a digest of its manifests as the revision."""
        if not self.root.is_dir():
            raise ConfigError(
                f"[git] url: {self.root} is not a directory; point it at the repository"
            )
        manifests = resolved_dir(self.root / self.path)
        if manifests is None:
            raise ConfigError(
                f"[git] path: {self.path} is not a directory inside {self.root}; point it at"
                " the manifests directory (relative to the repository)"
            )
        return Checkout(
            root=self.root, manifests=manifests, revision=_digest(manifests), url=str(self.root)
        )


def resolved_dir(path: Path) -> Path | None:
    """``path`` with its links followed, if that is a directory; None if not, or if links loop."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # RuntimeError: Python 3.11's word for a symbolic link loop
        return None
    return resolved if resolved.is_dir() else None


def _digest(directory: Path) -> str:
    """``dir:<sha256 prefix>`` over the relative paths and bytes of the manifest files."""
    digest = hashlib.sha256()
    for file in sorted(directory.rglob("*")):
        if file.suffix in MANIFEST_SUFFIXES and file.is_file() and ".git" not in file.parts:
            digest.update(str(file.relative_to(directory)).encode())
            digest.update(b"\0")
            try:
                digest.update(file.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
    return f"dir:{digest.hexdigest()[:12]}"


def from_settings(
    git: config.GitSettings,
    state_dir: str | Path,
    *,
    report: config.ReportSettings | None = None,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> Source:
    """The source for ``[git]``: a Git repository (remote or local), or a plain directory.

    A URL (``https://``, ``ssh://``, ``user@host:path``, ``file://``) or a local path that is
    a Git repository gives ``adapters.gitrepo.GitSource``, which clones it under
    ``<state_dir>/repo`` and is also the ``ReportSink`` (``report`` names the report branch and
    its author); a local path to a plain directory gives ``DirectorySource``, read in place.
    Credentials are read on each fetch or push, from files, ``$CREDENTIALS_DIRECTORY`` or
    ``environ`` (default: ``os.environ``). ``stop`` cuts short the waits between push retries.
    """
    local = local_path(git.url)
    if local is not None and not is_repository(Path(local)):
        return DirectorySource(local, git.path)
    # gitrepo imports this module's value types; importing it here keeps the seam import-cycle
    # free and keeps GitPython out of processes that only read directories.
    from gitopsd.adapters import gitrepo  # noqa: PLC0415

    return gitrepo.GitSource(git, state_dir, report=report, environ=environ, stop=stop)


def local_path(url: str) -> str | None:
    """The directory ``url`` names (a path or ``file:///abs/path``), None for a remote URL."""
    if url.startswith("file://"):
        local = url.removeprefix("file://")
        if not local.startswith("/"):
            raise ConfigError(f"[git] url: {url} is a relative file:// URL; write file:///abs/path")
        return local
    if "://" in url or ":" in url.split("/", 1)[0]:
        return None
    return url


def is_repository(path: Path) -> bool:
    """Whether ``path`` itself is a Git repository: a working tree (``.git``) or a bare one."""
    if (path / ".git").exists():
        return True
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()
