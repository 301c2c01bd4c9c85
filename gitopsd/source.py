"""Where a cycle's manifests come from: the seam between the cycle and the Git source.

A ``Source`` hands the cycle a ``Checkout``: a directory of manifests and the revision it
holds. ``DirectorySource`` reads a local directory as it is (a working copy, a CI checkout);
its revision is a digest of the manifest files' paths and bytes, so an unchanged directory
gives an unchanged revision. It must not modify anything it reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class Source(Protocol):
    """Anything that can produce the manifests of a cycle."""

    def checkout(self) -> Checkout:
        """The current manifests; raises GitopsdError when there are none to read."""
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
        manifests = (self.root / self.path).resolve()
        if not manifests.is_dir():
            raise ConfigError(
                f"[git] path: {self.path} is not a directory inside {self.root}; point it at"
                " the manifests directory (relative to the repository)"
            )
        return Checkout(
            root=self.root, manifests=manifests, revision=_digest(manifests), url=str(self.root)
        )


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


def from_url(url: str, path: str = ".") -> Source:
    """The source for ``[git] url``: a local directory (``file:///abs/path`` or a path)."""
    local = url.removeprefix("file://")
    if url.startswith("file://") and not local.startswith("/"):
        raise ConfigError(f"[git] url: {url} is a relative file:// URL; write file:///abs/path")
    if "://" in local or (":" in local and "@" in local.split(":", 1)[0]):
        raise ConfigError(
            f"[git] url: {_scrub(url)} is a remote repository, which this version cannot"
            " fetch; point url at a local clone of it"
        )
    return DirectorySource(local, path)


def _scrub(url: str) -> str:
    """``url`` without any user or password before ``@``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
