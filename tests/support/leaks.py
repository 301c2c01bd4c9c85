"""Look for secrets where they must never be: every form of every value, in every artifact.

``Evidence`` gathers what a run left behind, each piece named by where it came from: log lines,
HTTP answers, metrics pages, files (read as bytes, so SQLite pages and Git's index count too),
every object of a Git repository (decompressed by ``git cat-file``), a fake forge's pull
requests and request bodies. ``Evidence.leaks(secrets)`` answers every (where, secret, form)
found. The forms are the secret itself, URL-encoded (``quote``, ``quote_plus``), JSON-escaped,
and base64 at each of the three alignments a prefix can give it (``x-access-token:<token>`` in
a Basic header, ``client_id:client_secret``): a base64 text holding the secret holds one of
those middles, whatever came before it. This is written independently of
``gitopsd.adapters.logs``, which redacts the same forms: the check must not share the code it
checks.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

from support.gitworld import clean_env

MIN_FORM = 8
"""Shorter forms (a base64 middle of a short secret) would match by chance."""


def forms(secret: str) -> dict[str, str]:
    """Every form of ``secret`` to look for, by a name for the report of a hit."""
    found = {
        "plain": secret,
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "json-escaped": json.dumps(secret)[1:-1],
        "basic x-access-token": base64.b64encode(f"x-access-token:{secret}".encode()).decode(),
    }
    raw = secret.encode()
    for shift in range(3):
        padded = b"\0" * shift + raw
        start, end = -(-8 * shift // 6), 8 * len(padded) // 6
        found[f"base64+{shift}"] = base64.b64encode(padded).decode()[start:end]
        found[f"base64url+{shift}"] = base64.urlsafe_b64encode(padded).decode()[start:end]
    unique: dict[str, str] = {}
    for name, form in found.items():
        if len(form) >= MIN_FORM and form not in unique.values():
            unique[name] = form
    return unique


@dataclass(frozen=True, slots=True)
class Leak:
    """One secret found somewhere it must not be."""

    where: str
    secret: str
    form: str

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.where}"


@dataclass(slots=True)
class Evidence:
    """Everything a run left behind, as (where, text) pieces."""

    pieces: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, content: str | bytes | object) -> None:
        """One piece; bytes are read as Latin-1 so no byte is lost or refused."""
        if isinstance(content, bytes):
            text = content.decode("latin-1")
        elif isinstance(content, str):
            text = content
        else:
            text = json.dumps(content, default=str, ensure_ascii=False)
        self.pieces.append((where, text))

    def add_all(self, where: str, contents: Iterable[object]) -> None:
        """Many pieces from one place, numbered."""
        for n, content in enumerate(contents):
            self.add(f"{where}[{n}]", content)

    def add_tree(self, root: Path, where: str = "") -> None:
        """Every regular file under ``root`` (links not followed), as bytes."""
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                self.add(f"{where or root.name}/{path.relative_to(root)}", path.read_bytes())

    def add_git(self, repo: Path, where: str, home: Path) -> None:
        """Every object of the repository at ``repo`` (bare or not), decompressed, and its refs."""
        for args in (
            ["cat-file", "--batch-all-objects", "--batch"],
            ["for-each-ref"],
            ["log", "--all", "--format=%H %an <%ae>%n%B"],
        ):
            done = subprocess.run(
                ["git", *args], cwd=repo, env=clean_env(home), capture_output=True,
                check=True, timeout=60,
            )  # fmt: skip
            self.add(f"{where}: git {args[0]}", done.stdout)

    def add_response(self, where: str, status: int, headers: Mapping[str, str], body: str) -> None:
        """An HTTP answer: status line, headers and body."""
        head = "\n".join(f"{k}: {v}" for k, v in headers.items())
        self.add(where, f"{status}\n{head}\n\n{body}")

    @property
    def size(self) -> int:
        """Characters gathered."""
        return sum(len(text) for _, text in self.pieces)

    def leaks(self, secrets: Mapping[str, str]) -> list[Leak]:
        """Every (piece, secret, form) found."""
        wanted = [
            (name, kind, form) for name, s in secrets.items() for kind, form in forms(s).items()
        ]
        return [
            Leak(where, name, kind)
            for where, text in self.pieces
            for name, kind, form in wanted
            if form in text
        ]

    def checks(self, secrets: Mapping[str, str]) -> int:
        """How many (piece, form) searches ``leaks`` makes."""
        return len(self.pieces) * sum(len(forms(s)) for s in secrets.values())
