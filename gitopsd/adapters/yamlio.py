"""Read YAML text into positioned document trees; the only module that imports ruamel.yaml.

Manifests are read from the parser's event stream (libyaml through ruamel.yaml.clib when it is
installed) and composed here, without recursion, into ``gitopsd.core.document`` nodes. Owning
composition lets one pass enforce what a daemon reading other people's files needs: a nesting
limit, an alias-expansion budget (billion laughs), duplicate-key detection, YAML 1.2 core-schema
scalar resolution and a problem with file, line and column for each of them. The round-trip
loader is kept for editing manifests, where comments and layout matter; it is about eight
times slower.

Documents before a fatal error in a file are kept; the error says the rest was not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from gitopsd.core.document import Document, Mapping, Node, Scalar, ScalarValue, Sequence, Span
from gitopsd.core.problems import Problem, Severity

_TAG = "tag:yaml.org,2002:"
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
_MAX_INT_DIGITS = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Bounds that keep hostile input from costing time or memory."""

    max_depth: int = 64
    max_alias_nodes: int = 1_000


class _FatalError(Exception):
    """Stops composing a file: the problem is final for the rest of it."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _resolve_plain(text: str) -> ScalarValue:
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if len(text) <= _MAX_INT_DIGITS:
        if _INT.match(text):
            return int(text)
        if _OCT.match(text):
            return int(text, 8)
        if _HEX.match(text):
            return int(text, 16)
        if _FLOAT.match(text):
            return float(text)
    if _INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _NAN.match(text):
        return float("nan")
    return text


_TAG_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "null": (type(None),),
}


@dataclass(slots=True)
class _Frame:
    span: Span
    anchor: str | None
    is_map: bool
    items: list[Node] = field(default_factory=list)
    entries: list[tuple[Scalar, Node]] = field(default_factory=list)
    seen: dict[str, Scalar] = field(default_factory=dict)
    merges: list[tuple[Span, Node]] = field(default_factory=list)
    key: Scalar | None = None
    skip_value: bool = False
    size: int = 1


class _Composer:
    """Builds one file's documents from parser events."""

    def __init__(self, file: str, limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.problems: list[Problem] = []
        self.pending: list[Problem] = []
        self.documents: list[Document] = []

    def span(self, mark: object) -> Span:
        line = getattr(mark, "line", 0)
        column = getattr(mark, "column", 0)
        return Span(self.file, int(line) + 1, int(column) + 1)

    def problem(self, span: Span, code: str, message: str, hint: str = "") -> None:
        self.pending.append(Problem.at(span, Severity.ERROR, code, message, hint))

    def run(self, events: object) -> None:
        anchors: dict[str, tuple[Node, int]] = {}
        stack: list[_Frame] = []
        root: Node | None = None
        alias_nodes = 0
        index = 0
        for event in events:  # type: ignore[attr-defined]
            if isinstance(event, ev.ScalarEvent):
                node: Node = self.scalar(event)
                self.attach(stack, node, 1, event.anchor, anchors)
                if not stack:
                    root = node
            elif isinstance(event, ev.CollectionStartEvent):
                span = self.span(event.start_mark)
                if len(stack) >= self.limits.max_depth:
                    raise _FatalError(
                        Problem.at(
                            span,
                            Severity.ERROR,
                            "yaml-too-deep",
                            f"nesting deeper than {self.limits.max_depth} levels;"
                            " the rest of this file was not read",
                            "manifests nest a handful of levels; check for runaway brackets",
                        )
                    )
                self.check_tag(event, span, collection=True)
                stack.append(
                    _Frame(
                        span=span,
                        anchor=event.anchor,
                        is_map=isinstance(event, ev.MappingStartEvent),
                    )
                )
            elif isinstance(event, ev.CollectionEndEvent):
                frame = stack.pop()
                node = self.finish(frame)
                self.attach(stack, node, frame.size, frame.anchor, anchors)
                if not stack:
                    root = node
            elif isinstance(event, ev.AliasEvent):
                span = self.span(event.start_mark)
                target = anchors.get(event.anchor)
                if target is None:
                    raise _FatalError(
                        Problem.at(
                            span,
                            Severity.ERROR,
                            "yaml-syntax",
                            f"alias *{event.anchor} refers to no anchor",
                        )
                    )
                node, size = target
                alias_nodes += size
                if alias_nodes > self.limits.max_alias_nodes:
                    raise _FatalError(
                        Problem.at(
                            span,
                            Severity.ERROR,
                            "yaml-alias-budget",
                            f"aliases expand to more than {self.limits.max_alias_nodes} nodes;"
                            " the rest of this file was not read",
                            "aliases this large are a denial-of-service pattern; write the"
                            " values out or use fewer, smaller anchors",
                        )
                    )
                self.attach(stack, node, size, None, anchors)
                if not stack:
                    root = node
            elif isinstance(event, ev.DocumentEndEvent):
                if root is not None:
                    self.documents.append(
                        Document(
                            file=self.file, index=index, root=root, problems=tuple(self.pending)
                        )
                    )
                else:
                    self.problems.extend(self.pending)
                self.pending.clear()
                root = None
                index += 1
                anchors.clear()
                alias_nodes = 0

    def check_tag(self, event: ev.NodeEvent, span: Span, *, collection: bool) -> None:
        tag = getattr(event, "tag", None)
        if not tag or tag == "!":
            return
        allowed = {f"{_TAG}map", f"{_TAG}seq"} if collection else set()
        if tag not in allowed:
            self.problem(
                span,
                "yaml-unsupported-tag",
                f"unsupported tag {tag}",
                "manifests use plain YAML; remove the tag",
            )

    def scalar(self, event: ev.ScalarEvent) -> Scalar:
        span = self.span(event.start_mark)
        text: str = event.value
        quoted = bool(event.style)
        tag = event.tag
        value: ScalarValue
        if tag is None or tag == "!":
            value = text if quoted else _resolve_plain(text)
        elif tag == f"{_TAG}str":
            value, quoted = text, True
        elif tag.startswith(_TAG) and tag[len(_TAG) :] in _TAG_TYPES:
            value = _resolve_plain(text)
            wanted = _TAG_TYPES[tag[len(_TAG) :]]
            if isinstance(value, bool) and bool not in wanted:
                value = text
            if not isinstance(value, wanted):
                self.problem(span, "yaml-bad-tag", f"{text!r} is not a valid {tag}")
                value = text
        else:
            self.problem(
                span,
                "yaml-unsupported-tag",
                f"unsupported tag {tag}",
                "manifests use plain YAML; remove the tag",
            )
            value = text
        return Scalar(value=value, text=text, quoted=quoted, span=span)

    def attach(
        self,
        stack: list[_Frame],
        node: Node,
        size: int,
        anchor: str | None,
        anchors: dict[str, tuple[Node, int]],
    ) -> None:
        if anchor is not None:
            anchors[anchor] = (node, size)
        if not stack:
            return
        top = stack[-1]
        top.size += size
        if not top.is_map:
            top.items.append(node)
            return
        if top.key is None and not top.skip_value:
            if not isinstance(node, Scalar):
                self.problem(
                    node.span,
                    "yaml-complex-key",
                    "a mapping key must be a plain value, not a list or mapping",
                )
                top.skip_value = True
                return
            top.key = node
            return
        key, top.key = top.key, None
        if top.skip_value or key is None:
            top.skip_value = False
            return
        if key.text == "<<" and not key.quoted:
            top.merges.append((key.span, node))
            return
        first = top.seen.get(key.text)
        if first is not None:
            self.problem(
                key.span,
                "duplicate-key",
                f"duplicate key {key.text!r}; first defined at line {first.span.line}",
                "remove one of them: YAML readers disagree on which value wins",
            )
            return
        top.seen[key.text] = key
        top.entries.append((key, node))

    def finish(self, frame: _Frame) -> Node:
        if not frame.is_map:
            return Sequence(items=tuple(frame.items), span=frame.span)
        entries = frame.entries
        for span, source in frame.merges:
            sources = source.items if isinstance(source, Sequence) else (source,)
            for merged in sources:
                if not isinstance(merged, Mapping):
                    self.problem(span, "yaml-bad-merge", "a merge key '<<' needs a mapping")
                    continue
                for key, value in merged.entries:
                    if key.text not in frame.seen:
                        frame.seen[key.text] = key
                        entries.append((key, value))
        return Mapping(entries=tuple(entries), span=frame.span)


def _position_span(file: str, text: str, position: int) -> Span:
    before = text[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    return Span(file, line, column)


def _error_problem(file: str, text: str, exc: YAMLError) -> Problem:
    if isinstance(exc, ReaderError):
        span = _position_span(file, text, int(exc.position))
        char = exc.character
        shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
        return Problem.at(
            span,
            Severity.ERROR,
            "yaml-bad-character",
            f"character {shown} is not allowed in YAML; the rest of this file was not read",
            "remove control characters; is this a binary file?",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    span = Span(file, 1, 1)
    if mark is not None:
        span = _within(text, Span(file, int(mark.line) + 1, int(mark.column) + 1))
    index = getattr(mark, "index", None)
    if isinstance(exc, MarkedYAMLError) and _is_tab_at(text, span, index):
        return Problem.at(
            span,
            Severity.ERROR,
            "yaml-tab",
            "tab character in indentation; the rest of this file was not read",
            "YAML indents with spaces only: replace the tab with spaces",
        )
    opened = _unclosed(file, text, exc)
    if opened is not None:
        return opened
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"{context}: {reason}" if context else str(reason)
    return Problem.at(
        span,
        Severity.ERROR,
        "yaml-syntax",
        f"invalid YAML ({message}); the rest of this file was not read",
        "fix the YAML at this line; documents before it in the file were read",
    )


_FLOW = {
    "while parsing a flow sequence": ("list", "[", "]", "items"),
    "while parsing a flow mapping": ("mapping", "{", "}", "entries"),
}
_END_OF_STRING = ("found unexpected end of stream", "found unexpected document indicator")


def _unclosed(file: str, text: str, exc: YAMLError) -> Problem | None:
    """A bracket, quote or key that libyaml gave up on, placed where the fix belongs.

    libyaml notices an unclosed ``[``, ``{`` or quote only at the next token it cannot fit,
    often on the next line; its context mark says where the construct began. A flow list or
    mapping is certainly unclosed when the parser stopped at the end of the text or at a line
    indented no deeper than the line that opened it (flow content must be indented more), so
    the opening bracket is the place; otherwise a ',' may be what is missing, and the place is
    where the parser stopped.
    """
    context, reason = getattr(exc, "context", None), getattr(exc, "problem", None) or ""
    start, found = getattr(exc, "context_mark", None), getattr(exc, "problem_mark", None)
    if not isinstance(exc, MarkedYAMLError) or start is None or found is None:
        return None
    opened = _within(text, Span(file, int(start.line) + 1, int(start.column) + 1))
    stopped = _within(text, Span(file, int(found.line) + 1, int(found.column) + 1))
    rest = "the rest of this file was not read"
    before = "documents before it in the file were read"
    if context in _FLOW:
        shape, opening, closing, parts = _FLOW[context]
        if _left_open(text, opened, stopped, getattr(found, "index", None)):
            return Problem.at(
                opened,
                Severity.ERROR,
                "yaml-syntax",
                f"invalid YAML: the {shape} opened with {opening!r} here is not closed; {rest}",
                f"add the missing {closing!r}; {before}",
            )
        return Problem.at(
            stopped,
            Severity.ERROR,
            "yaml-syntax",
            f"invalid YAML: ',' or {closing!r} expected here, in the {shape} opened with"
            f" {opening!r} at {_place(opened, stopped)}; {rest}",
            f"add the ',' missing between two {parts}, or the {closing!r} that closes the"
            f" {shape}; {before}",
        )
    if context == "while scanning a quoted scalar" and reason.startswith(_END_OF_STRING):
        index = getattr(start, "index", None)
        quote = text[index] if isinstance(index, int) and 0 <= index < len(text) else '"'
        return Problem.at(
            opened,
            Severity.ERROR,
            "yaml-syntax",
            f"invalid YAML: the string opened with {quote} here is not closed; {rest}",
            f"add the closing {quote}; {before}",
        )
    if context == "while scanning a simple key":
        return Problem.at(
            opened,
            Severity.ERROR,
            "yaml-syntax",
            f"invalid YAML: no ':' after the text here (reading stopped at"
            f" {_place(stopped, opened)}); {rest}",
            f"write key: value, or indent a value continued from the line above; {before}",
        )
    return None


def _place(span: Span, other: Span) -> str:
    if span.line == other.line:
        return f"column {span.column}"
    return f"line {span.line}, column {span.column}"


def _left_open(text: str, opened: Span, stopped: Span, index: object) -> bool:
    if isinstance(index, int) and not text[index:].strip():
        return True  # the end of the text
    if stopped.line == opened.line:
        return False
    lines = text.split("\n")
    line = lines[opened.line - 1]
    block = len(line) - len(line.lstrip(" "))
    while line[block:].startswith("- "):  # a list item: its content starts after "- "
        block += 2 + len(line[block + 2 :]) - len(line[block + 2 :].lstrip(" "))
    later = lines[stopped.line - 1]
    return len(later) - len(later.lstrip(" ")) <= block


def _within(text: str, span: Span) -> Span:
    # At the end of a stream without a final newline libyaml marks the line after the last.
    lines = text.split("\n")
    if span.line <= len(lines):
        return span
    return Span(span.file, len(lines), len(lines[-1]) + 1)


def _is_tab_at(text: str, span: Span, index: object) -> bool:
    lines = text.splitlines()
    if 0 < span.line <= len(lines):
        line = lines[span.line - 1]
        if "\t" in line[: max(span.column, 1)]:
            return True
    return isinstance(index, int) and 0 <= index < len(text) and text[index] == "\t"


def load_text(
    text: str, file: str, limits: Limits | None = None
) -> tuple[tuple[Document, ...], tuple[Problem, ...]]:
    """Compose every document of ``text``; problems name ``file`` and the line."""
    composer = _Composer(file, limits or Limits())
    yaml = YAML(typ="safe")
    try:
        composer.run(yaml.parse(text))
    except _FatalError as exc:
        composer.problems.extend(composer.pending)
        composer.problems.append(exc.problem)
    except YAMLError as exc:
        composer.problems.extend(composer.pending)
        composer.problems.append(_error_problem(file, text, exc))
    return tuple(composer.documents), tuple(composer.problems)
