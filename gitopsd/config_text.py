"""Where things are written in a TOML text, so configuration messages can say ``file:line``.

tomllib gives values without positions. This module scans the text a second time, tracking
``[table]`` headers and ``key =`` lines, and maps every key path to the line that writes it. It
reads only the text it is given and never looks at values. It is approximate by design: a key it
cannot place falls back to the nearest enclosing table that it can, or to no line at all.
``Report`` places each problem at its line and raises them together as one ConfigError.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field

from gitopsd.errors import ConfigError

KeyPath = tuple[str, ...]

_SEGMENT = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_SEGMENT}(?:\s*\.\s*{_SEGMENT})*"
_HEADER = re.compile(rf"\s*\[\[?\s*(?P<key>{_DOTTED})\s*\]\]?\s*(?:#.*)?")
_ASSIGN = re.compile(rf"\s*(?P<key>{_DOTTED})\s*=(?P<rest>.*)")
_POSITION = re.compile(r"\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_END = " (at end of document)"


@dataclass(frozen=True, slots=True)
class Lines:
    """The 1-based line of every table header and key written in one TOML text."""

    index: dict[KeyPath, int]
    duplicate: int | None = None
    """The line of the first key or table written a second time, if any."""

    def of(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its nearest written parent, else None."""
        for end in range(len(path), 0, -1):
            line = self.index.get(path[:end])
            if line is not None:
                return line
        return None


def _segments(dotted: str) -> KeyPath:
    return tuple(part.strip("\"'") for part in re.findall(_SEGMENT, dotted))


def locate(text: str) -> Lines:
    """Index the headers and keys of ``text``, which tomllib has already accepted or refused."""
    index: dict[KeyPath, int] = {}
    written: set[KeyPath] = set()
    duplicate: int | None = None
    table: KeyPath = ()
    closing = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if closing:
            if closing in line:
                closing = ""
            continue
        header = _HEADER.fullmatch(line)
        assign = None if header else _ASSIGN.match(line)
        if header:
            table = _segments(header["key"])
            path = table
        elif assign:
            path = table + _segments(assign["key"])
            for end in range(len(table) + 1, len(path)):
                index.setdefault(path[:end], number)
            # A multi-line string may hold lines that look like headers or keys: skip them.
            rest = assign["rest"]
            for quotes in ('"""', "'''"):
                if rest.count(quotes) % 2:
                    closing = quotes
                    break
        else:
            continue
        if path in written and duplicate is None and not line.lstrip().startswith("[["):
            duplicate = number
        written.add(path)
        index.setdefault(path, number)
    return Lines(index=index, duplicate=duplicate)


def syntax_error(exc: tomllib.TOMLDecodeError, lines: Lines) -> tuple[int | None, str]:
    """The line and the reason of a TOML syntax error, from tomllib's message."""
    message = str(exc)
    found = _POSITION.search(message)
    if found:
        return int(found["line"]), f"{message[: found.start()]} (column {found['column']})"
    if message.endswith(_END):
        message = message.removesuffix(_END)
        if message.startswith("Cannot "):
            return lines.duplicate, f"{message}: a key or table is written twice"
    return None, message


@dataclass(slots=True)
class Report:
    """The problems of one file, each placed at its line, raised together in file order."""

    file: str
    lines: Lines
    problems: list[tuple[float, int, str]] = field(default_factory=list)

    def add(self, where: KeyPath, label: str, problem: str, var: str = "") -> None:
        """Record ``problem`` of the key at ``where``; ``var`` names an environment override."""
        line = None if var else self.lines.of(where)
        place = self.file if line is None else f"{self.file}:{line}"
        origin = f" from {var}" if var else ""
        rank = math.inf if line is None else line
        self.problems.append((rank, len(self.problems), f"{place}: {label}{origin}: {problem}"))

    def raise_any(self) -> None:
        """Raise one ConfigError with a line per problem, if there are any."""
        if self.problems:
            raise ConfigError("\n".join(message for *_, message in sorted(self.problems)))
