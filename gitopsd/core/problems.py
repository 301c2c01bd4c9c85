"""Problems found in manifests, and their renderings for people, machines and CI.

A Problem is a value: where (file, line, column), how bad (severity), what (a stable code and
a message) and what to do (a hint). Codes are kebab-case and stable; docs/problems.md lists
them. Rendering is pure: colour is a parameter, not a terminal probe.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from gitopsd.core.document import Span


class Severity(enum.StrEnum):
    """How much a problem matters: errors block, warnings and notices inform."""

    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a manifest, located in its file."""

    file: str
    line: int
    column: int
    severity: Severity
    code: str
    message: str
    hint: str = ""

    @classmethod
    def at(cls, span: Span, severity: Severity, code: str, message: str, hint: str = "") -> Problem:
        """Build a problem located at ``span``."""
        return cls(
            file=span.file,
            line=span.line,
            column=span.column,
            severity=severity,
            code=code,
            message=message,
            hint=hint,
        )

    @property
    def is_error(self) -> bool:
        """Whether this problem blocks what depends on its document."""
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, int, str, str]:
        """Order problems by place, then severity, then code."""
        return (
            self.file,
            self.line,
            self.column,
            _SEVERITY_ORDER[self.severity],
            self.code,
            self.message,
        )

    def as_json(self) -> dict[str, object]:
        """The documented JSON shape of a problem."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": str(self.severity),
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


def with_article(word: str) -> str:
    """``a daily``, ``an hourly``: the indefinite article by sound, for gitopsd's own words."""
    an = word[:1].lower() in "aeiou" or word.lower().startswith("hour")
    return f"{'an' if an else 'a'} {word}"


def ordered(problems: tuple[Problem, ...] | list[Problem]) -> tuple[Problem, ...]:
    """Problems sorted for output, exact duplicates removed."""
    return tuple(sorted(set(problems), key=Problem.sort_key))


def has_errors(problems: tuple[Problem, ...]) -> bool:
    """Whether any problem is an error."""
    return any(p.is_error for p in problems)


_COLOURS = {Severity.ERROR: "\033[31m", Severity.WARNING: "\033[33m", Severity.NOTICE: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def render_text(problems: tuple[Problem, ...], *, colour: bool) -> str:
    """``file:line:col: severity code: message`` lines, each followed by its hint."""
    lines: list[str] = []
    for p in problems:
        where = f"{p.file}:{p.line}:{p.column}"
        hint = p.hint.replace("\n", "\n          ")
        if colour:
            sev = f"{_COLOURS[p.severity]}{p.severity}{_RESET}"
            lines.append(f"{_BOLD}{where}{_RESET}: {sev} {p.code}: {p.message}")
            if p.hint:
                lines.append(f"    {_DIM}hint:{_RESET} {hint}")
        else:
            lines.append(f"{where}: {p.severity} {p.code}: {p.message}")
            if p.hint:
                lines.append(f"    hint: {hint}")
    return "\n".join(lines)


def summary(problems: tuple[Problem, ...]) -> str:
    """``2 errors, 1 warning`` style counts."""
    counts = {s: sum(1 for p in problems if p.severity is s) for s in Severity}
    parts = [
        f"{n} {sev}{'' if n == 1 else 's'}"
        for sev, n in counts.items()
        if n or sev is Severity.ERROR
    ]
    return ", ".join(parts)


def render_json(problems: tuple[Problem, ...]) -> str:
    """A JSON array of problems in the documented shape."""
    return json.dumps([p.as_json() for p in problems], indent=2, sort_keys=True)


_GITHUB_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "notice"}


def _github_escape(text: str, *, prop: bool) -> str:
    # GitHub workflow commands need %, CR and LF escaped; properties also ':' and ','.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(problems: tuple[Problem, ...]) -> str:
    """GitHub Actions workflow commands that annotate the offending lines."""
    lines = []
    for p in problems:
        props = ",".join(
            (
                f"file={_github_escape(p.file, prop=True)}",
                f"line={p.line}",
                f"col={p.column}",
                f"title={_github_escape(p.code, prop=True)}",
            )
        )
        message = p.message + (f" (hint: {p.hint})" if p.hint else "")
        lines.append(
            f"::{_GITHUB_LEVEL[p.severity]} {props}::{_github_escape(message, prop=False)}"
        )
    return "\n".join(lines)
