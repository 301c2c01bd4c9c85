"""Where things are written in a TOML text, so configuration messages can say ``file:line``.

tomllib gives values without positions. This module scans the text a second time, tracking
``[table]`` headers and ``key =`` lines, and maps every key path to the line that writes it. It
is approximate by design: a key it cannot place falls back to the nearest enclosing table that
it can, or to no line at all. ``Report`` places each problem at its line and raises them
together as one ConfigError.

It also turns tomllib's syntax errors into words about the key at fault: table paths written as
TOML (``[git]``, never a Python tuple), a key set twice named with its first line, and a value
TOML cannot read (most often text without quotes) with the way to write it. Only there does it
look at a value, and it never shows one that may be a secret.
"""

from __future__ import annotations

import ast
import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field

from gitopsd import config_checks
from gitopsd.errors import ConfigError

KeyPath = tuple[str, ...]

_SEGMENT = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_SEGMENT}(?:\s*\.\s*{_SEGMENT})*"
_HEADER = re.compile(rf"\s*\[\[?\s*(?P<key>{_DOTTED})\s*\]\]?\s*(?:#.*)?")
_ASSIGN = re.compile(rf"\s*(?P<key>{_DOTTED})\s*=(?P<rest>.*)")
_POSITION = re.compile(r"\s*\(at line (?P<line>\d+), column (?P<column>\d+)\)$")
_END = " (at end of document)"
_QUOTED = r"""(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
_TUPLE = re.compile(rf"\({_QUOTED}(?:, {_QUOTED})*,?\)")
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_COMMENT = re.compile(r"\s+#.*$")
_VALUE_ERRORS = ("Invalid value", "Expected newline or end of document after a statement")
_OPEN_STRING = ("Illegal character '\\n'", "Unterminated string")


@dataclass(frozen=True, slots=True)
class Lines:
    """The 1-based line of every table header and key written in one TOML text."""

    index: dict[KeyPath, int]
    duplicate: int | None = None
    """The line of the first key or table written a second time, if any."""
    statements: dict[int, tuple[KeyPath, str | None]] = field(default_factory=dict)
    """Per line: the key path it writes and the text after ``=`` (None for a table header)."""

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
    statements: dict[int, tuple[KeyPath, str | None]] = {}
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
            statements[number] = (path, None)
        elif assign:
            path = table + _segments(assign["key"])
            statements[number] = (path, assign["rest"])
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
    return Lines(index=index, duplicate=duplicate, statements=statements)


@dataclass(frozen=True, slots=True)
class Expected:
    """What a key takes: its Python type and the words for it."""

    kind: type
    words: str


Expectations = Callable[[KeyPath], Expected | None]


def table_name(path: KeyPath) -> str:
    """A key path as TOML writes it: ``atlas.profiles.prod``, quoting what needs quotes."""
    return ".".join(part if _BARE.fullmatch(part) else json.dumps(part) for part in path)


def label(path: KeyPath) -> str:
    """How messages name a key: ``[git] url``; a table as ``[git]``; a top-level key bare."""
    if len(path) == 1:
        return path[0]
    return f"[{table_name(path[:-1])}] {path[-1]}"


def _as_toml(found: re.Match[str]) -> str:
    try:
        path = ast.literal_eval(found[0])
    except (ValueError, SyntaxError):
        return found[0]
    return f"[{table_name(tuple(path))}]"


def syntax_error(
    exc: tomllib.TOMLDecodeError, lines: Lines, expects: Expectations | None = None
) -> tuple[int | None, str]:
    """The line and the reason of a TOML syntax error, in words about the key at fault."""
    message = str(exc)
    found = _POSITION.search(message)
    if found:
        line, column = int(found["line"]), int(found["column"])
        reason = message[: found.start()]
        better = _explain(reason, lines, (line, column), expects or (lambda _: None))
        return line, better or f"{_TUPLE.sub(_as_toml, reason)} (column {column})"
    if message.endswith(_END):
        message = message.removesuffix(_END)
        if message.startswith("Cannot "):
            twice = lines.duplicate
            statement = lines.statements.get(twice) if twice is not None else None
            if twice is not None and statement is not None:
                return twice, _written_twice(statement[0], statement[1] is None, lines, twice)
            return twice, f"{_TUPLE.sub(_as_toml, message)}: a key or table is written twice"
        if message.startswith(_OPEN_STRING):
            return None, "a string is not closed at the end of the file: add its closing quote"
        if message.startswith("Invalid value"):
            return None, "the file ends where a value was expected: is a [ or { not closed?"
    return None, _TUPLE.sub(_as_toml, message)


def _named(reason: str) -> KeyPath | None:
    found = _TUPLE.search(reason)
    if found is None:
        return None
    try:
        return tuple(ast.literal_eval(found[0]))
    except (ValueError, SyntaxError):
        return None


def _explain(
    reason: str, lines: Lines, where: tuple[int, int], expects: Expectations
) -> str | None:
    line, column = where
    statement = lines.statements.get(line)
    if statement is None:
        return None
    path, rest = statement
    named = _named(reason)
    if reason.startswith("Cannot redefine namespace") and named is not None:
        table = table_name(named)
        first = lines.index.get(named)
        at = f" (line {first})" if first is not None else ""
        return (
            f"{label(path)}: [{table}] is already a table{at}; write this key under its"
            f" [{table}] header"
        )
    if reason.startswith("Cannot mutate immutable namespace") and named is not None:
        return (
            f"[{table_name(named)}] was written whole (as an inline table or array) and cannot"
            " be added to here: write all its keys in one place"
        )
    if reason.startswith(("Cannot declare", "Cannot overwrite")):
        return _written_twice(path, rest is None, lines, line)
    if rest is None:
        return None
    value = _COMMENT.sub("", rest).strip()
    if reason.startswith(_OPEN_STRING) and value[:1] in ("'", '"'):
        return f"{label(path)}: the string is not closed: add the closing {value[0]} on this line"
    if reason.startswith(_VALUE_ERRORS) and value[:1] in ("'", '"'):
        return f"{label(path)}: something follows the value on this line; a # starts a comment"
    if reason.startswith("Invalid value") and value[:1] == "[":
        return (
            f"{label(path)}: an item of the list is not a TOML value (column {column}); text"
            ' must be in quotes, e.g. ["drafts"]'
        )
    if reason.startswith(_VALUE_ERRORS) and value and value[:1] not in ("[", "{"):
        return _bad_value(path, value, expects(path))
    return None


def _written_twice(path: KeyPath, table: bool, lines: Lines, line: int) -> str:
    first = lines.index.get(path)
    earlier = lines.statements.get(first) if first is not None and first != line else None
    name = table_name(path)
    if earlier is None:
        for end in range(len(path) - 1, 0, -1):
            whole = lines.statements.get(lines.index.get(path[:end], 0))
            if whole is not None and whole[0] == path[:end] and whole[1] is not None:
                return (
                    f"[{table_name(path[:end])}] was written whole (as an inline table) at line"
                    f" {lines.index[path[:end]]} and cannot be added to here: write all its"
                    " keys in one place"
                )
        if table:
            return f"[{name}] is already defined: put all its keys under one [{name}] header"
        return f"{label(path)} is already set: keep one"
    earlier_path, earlier_value = earlier
    if table and earlier_value is None:
        return (
            f"[{name}] is written twice (first at line {first}): put all its keys under one"
            f" [{name}] header"
        )
    if table and earlier_path == path:
        return f"[{name}] would make a table of {label(path)}, which is set at line {first}"
    if table:
        return (
            f"[{name}] is already made at line {first} by the dotted key"
            f" {table_name(earlier_path)}: write its keys in one place"
        )
    if earlier_value is None:
        return f"{label(path)} is already the table [{name}] (line {first}): keep one"
    return f"{label(path)} is set twice (first at line {first}): keep one"


def _bad_value(path: KeyPath, value: str, expected: Expected | None) -> str:
    key = path[-1]
    name = label(path)
    if config_checks.is_secret(key):
        return f"{name}: {config_checks.secret_problem(key, ())}"
    kind = expected.kind if expected else str
    words = f"expected {expected.words}" if expected else "TOML cannot read it"
    if value.lower() in ("true", "false") and (expected is None or kind is bool):
        return f"{name}: TOML booleans are lower case: {key} = {value.lower()}"
    if kind is bool:
        return f"{name}: {words}, in lower case and without quotes"
    # A value with an @ may be a URL with a token in it: say what to do without showing it.
    hidden = "@" in value
    if kind in (int, float):
        shown = "the value" if hidden else value
        return f"{name}: {shown} is not a number: {words}, written without quotes or units"
    quoted = '"..."' if hidden else json.dumps(value, ensure_ascii=False)
    unshown = " (the value is not shown in case it holds a token)" if hidden else ""
    if kind is tuple:
        return (
            f"{name}: {words}; write it in brackets, each path in quotes: {key} = [{quoted}]"
            + unshown
        )
    return f"{name}: text must be in quotes: {key} = {quoted}{unshown}"


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
