"""A loaded YAML document as plain, positioned values.

The YAML adapter turns parser events into these nodes; everything after it sees only this
tree, never a parser object. Every node knows where it came from (file, line, column, all
1-based), which is what lets every problem point at the exact spot in a manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gitopsd.core.problems import Problem

ScalarValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Span:
    """A position in a manifest file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Scalar:
    """A resolved scalar: its value, the text it was written as, and whether it was quoted."""

    value: ScalarValue
    text: str
    quoted: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Mapping:
    """A mapping whose keys are scalars, in source order, without duplicate keys."""

    entries: tuple[tuple[Scalar, Node], ...]
    span: Span

    def get(self, key: str) -> Node | None:
        """Return the value under ``key``, or None."""
        for k, v in self.entries:
            if k.text == key:
                return v
        return None

    def key_span(self, key: str) -> Span | None:
        """Return where ``key`` itself is written, or None."""
        for k, _ in self.entries:
            if k.text == key:
                return k.span
        return None


@dataclass(frozen=True, slots=True)
class Sequence:
    """A sequence of nodes in source order."""

    items: tuple[Node, ...]
    span: Span


Node = Scalar | Mapping | Sequence


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a file; ``index`` counts documents from 0 within the file.

    ``problems`` are what reading found inside this document (duplicate keys, bad tags).
    """

    file: str
    index: int
    root: Node
    problems: tuple[Problem, ...] = ()


def describe(node: Node) -> str:
    """Name a node's type the way a manifest author thinks of it."""
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, Sequence):
        return "a list"
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {node.text}"
    if isinstance(value, int):
        return f"integer {node.text}"
    if isinstance(value, float):
        return f"number {node.text}"
    return f'string "{value}"'
