"""Apply ``core.adopt`` edits to a manifest file's text, keeping everything the edits do not touch.

Reading manifests is ``yamlio``'s job; this module owns writing them back, with ruamel.yaml's
round-trip mode. A file is cut into its documents at the parser's document boundaries; only the
documents an edit names are loaded, edited and dumped again, so every other document keeps its
bytes. Inside an edited document comments, key order, quoting, flow style and the indentation
the document already uses (inferred from its text) are kept. Comments travel with the lines they
sit above: removing a list item drops the comment above it and keeps the one above the next
item; adding a key or item after the last one leaves a block's trailing comments at its end.

Paths lead from the document root; an ``int`` step is a list index. ``SET`` at the index one
past the end appends; ``DELETE`` of a missing key is a no-op, of a missing index an error.
Anything that cannot be done raises ``ManifestEditError`` naming the file and the resource.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from gitopsd.core import adopt, schema
from gitopsd.core.model import Kind, ResourceId
from gitopsd.errors import GitopsdError

DEFAULT_NAMESPACE = "default"
_WIDTH = 4096  # never fold a long line that was not folded
_COMMENT_OR_BLANK = re.compile(r"\s*(?:#.*)?")
_DASH = re.compile(r"- +")
_OPENER = re.compile(r"[^\s#'\"\[{][^#]*?:\s*(?:#.*)?")  # "key:" with nothing after it


Container = CommentedMap | CommentedSeq
Key = str | int
_Parent = tuple[Container, Key] | None


class ManifestEditError(GitopsdError):
    """A manifest could not be edited as asked (document or path not found, unreadable YAML)."""


@dataclass(frozen=True, slots=True)
class _Segment:
    """One document's text: verbatim ``prefix`` and ``suffix`` around the YAML ``body``."""

    prefix: str
    body: str
    suffix: str
    explicit_start: bool


@dataclass(frozen=True, slots=True)
class Layout:
    """Indentation of a document, in ruamel.yaml's terms (``YAML.indent``)."""

    mapping: int = 2
    sequence: int = 2
    offset: int = 0


def apply_edits(
    text: str, edits: Sequence[adopt.Edit], *, default_namespace: str = DEFAULT_NAMESPACE
) -> str:
    """``text`` with ``edits`` applied in order; documents no edit names keep their bytes.

    A document is found by kind, ``metadata.name`` and ``metadata.namespace`` (absent means
    ``default_namespace``). Raises ``ManifestEditError`` when one cannot be found or edited.
    """
    if not edits:
        return text
    file = edits[0].file
    segments = _segments(text, file)
    documents: dict[int, object] = {}
    unreadable: dict[int, str] = {}
    for index, segment in enumerate(segments):
        try:
            documents[index] = _keep_anchors(_yaml(Layout()).load(segment.body))
        except YAMLError as exc:
            unreadable[index] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    dirty: dict[int, str] = {}
    for edit in edits:
        index = _find(documents, unreadable, edit, default_namespace)
        _apply(documents[index], edit)
        dirty.setdefault(index, _where(edit, 0).removesuffix(": the document"))
    out: list[str] = []
    for index, segment in enumerate(segments):
        if index not in dirty:
            out.append(segment.prefix + segment.body + segment.suffix)
            continue
        dumped = _dump(documents[index], segment, text, dirty[index])
        out.append(segment.prefix + dumped + segment.suffix)
    return "".join(out)


# -- documents ---------------------------------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _segments(text: str, file: str) -> list[_Segment]:
    """Cut ``text`` into documents at the parser's boundaries, losing no character."""
    try:
        events = list(YAML(typ="safe").parse(text))
    except YAMLError as exc:
        raise ManifestEditError(f"{file}: not valid YAML, not edited ({exc})") from exc
    starts = _line_starts(text)

    def offset(mark: object) -> int:
        line = min(int(getattr(mark, "line", 0)), len(starts) - 1)
        return min(starts[line] + int(getattr(mark, "column", 0)), len(text))

    def line_start(mark: object) -> int:
        return starts[min(int(getattr(mark, "line", 0)), len(starts) - 1)]

    def next_line(position: int) -> int:
        newline = text.find("\n", position)
        return len(text) if newline < 0 else newline + 1

    bounds: list[tuple[ev.DocumentStartEvent, ev.DocumentEndEvent]] = []
    begin: ev.DocumentStartEvent | None = None
    for event in events:
        if isinstance(event, ev.DocumentStartEvent):
            begin = event
        elif isinstance(event, ev.DocumentEndEvent) and begin is not None:
            bounds.append((begin, event))
    cuts = [0]
    for number, (begin, _end) in enumerate(bounds[1:], start=1):
        if begin.explicit:
            cuts.append(line_start(begin.start_mark))
        else:
            cuts.append(next_line(offset(bounds[number - 1][1].start_mark)))
    cuts.append(len(text))
    segments: list[_Segment] = []
    for number, (begin, end) in enumerate(bounds):
        low, high = cuts[number], cuts[number + 1]
        body_low, body_high, explicit = low, high, False
        if begin.explicit:
            marker = offset(begin.end_mark)  # just after "---" (directives come before it)
            after = next_line(marker)
            if _COMMENT_OR_BLANK.fullmatch(text[marker:after].rstrip("\r\n")):
                body_low = min(after, high)
            else:
                body_low, explicit = line_start(begin.end_mark), True
        if end.explicit:
            body_high = max(line_start(end.start_mark), body_low)
        segments.append(
            _Segment(
                prefix=text[low:body_low],
                body=text[body_low:body_high],
                suffix=text[body_high:high],
                explicit_start=explicit,
            )
        )
    if not segments:
        segments.append(_Segment(prefix="", body=text, suffix="", explicit_start=False))
    return segments


def _yaml(layout: Layout) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = _WIDTH
    yaml.indent(mapping=layout.mapping, sequence=layout.sequence, offset=layout.offset)
    return yaml


def guess_layout(*texts: str) -> Layout:
    """The indentation the texts use: the first nested mapping and block list decide.

    A list whose ``- `` sits at its key's column gets offset 0 (``sequence`` 2); one indented
    under its key gets that offset. A later text is asked only for what an earlier one does
    not show (a document without lists, then its whole file); without any evidence
    ruamel.yaml's defaults (2, 2, 0) stand.
    """
    mapping: int | None = None
    sequence: int | None = None
    offset: int | None = None
    for text in texts:
        found = _evidence(text)
        mapping = mapping or found[0]
        if sequence is None and found[1] is not None:
            sequence, offset = found[1], found[2]
    if sequence is None or offset is None or offset < 0 or sequence < offset + 2:
        sequence, offset = 2, 0
    return Layout(mapping=mapping or 2, sequence=sequence, offset=offset)


def _evidence(text: str) -> tuple[int | None, int | None, int | None]:
    """The mapping indent, sequence indent and dash offset ``text`` shows, where it shows them."""
    mapping: int | None = None
    sequence: int | None = None
    offset: int | None = None
    opener: int | None = None  # the column of the key that opened a block on the line before
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if _COMMENT_OR_BLANK.fullmatch(line):
            continue
        content = line.lstrip(" ")
        column = len(line) - len(content)
        item = _DASH.match(content)
        if opener is not None and item is not None and sequence is None:
            offset = column - opener
            sequence = offset + item.end()
        elif opener is not None and item is None and mapping is None and column > opener:
            mapping = column - opener
        while (dash := _DASH.match(content)) is not None:
            column += dash.end()
            content = content[dash.end() :]
        opener = column if _OPENER.fullmatch(content) else None
        if mapping is not None and sequence is not None:
            break
    return mapping, sequence, offset


def _keep_anchors(document: object) -> object:
    """Mark every anchor to be written back, even one no alias refers to."""
    stack, seen = [document], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        anchor = getattr(node, "yaml_anchor", lambda: None)()
        if anchor is not None:
            anchor.always_dump = True
        if isinstance(node, CommentedMap):
            stack.extend(node.values())
            stack.extend(node.merge)  # the mappings merged in with "<<"
        elif isinstance(node, CommentedSeq):
            stack.extend(node)
    return document


def _dump(document: object, segment: _Segment, whole: str, where: str) -> str:
    yaml = _yaml(guess_layout(segment.body, whole))
    yaml.explicit_start = segment.explicit_start
    out = io.StringIO()
    try:
        yaml.dump(document, out)
        dumped = out.getvalue()
        yaml.load(dumped)  # never hand back a file that no longer reads
    except YAMLError as exc:
        raise ManifestEditError(f"{where}: the edited document would not be valid YAML") from exc
    text = _keep_spacing(segment.body, dumped, yaml)
    if not segment.body.endswith("\n"):
        text = text.removesuffix("\n")
    if "\r\n" in segment.body:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text


def _keep_spacing(before: str, after: str, yaml: YAML) -> str:
    """``after``, with lines that differ from ``before`` only in inner spacing kept as before.

    ruamel.yaml normalises ``key:   value`` to ``key: value``; the author's spacing is theirs.
    A line keeps its old text only when its indentation and words are the same, and only if
    the result still reads as the same data (a string value's inner spaces are data).
    """
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, low, high, new_low, new_high in matcher.get_opcodes():
        if tag == "replace" and high - low == new_high - new_low:
            for was, now in zip(old[low:high], new[new_low:new_high], strict=True):
                same = _indent(was) == _indent(now) and was.split() == now.split()
                out.append(was if same and was.endswith("\n") == now.endswith("\n") else now)
        else:
            out.extend(new[new_low:new_high])
    kept = "".join(out)
    try:
        same = kept != after and _plain(yaml.load(kept)) == _plain(yaml.load(after))
    except YAMLError:
        same = False
    return kept if same else after


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _plain(document: object) -> str:
    return json.dumps(document, default=str)


def _identity(document: object, default_namespace: str) -> ResourceId | None:
    if not isinstance(document, CommentedMap):
        return None
    metadata = document.get("metadata")
    kind, name = document.get("kind"), None
    if isinstance(metadata, CommentedMap):
        name = metadata.get("name")
    if document.get("apiVersion") != schema.API_VERSION or not isinstance(name, str):
        return None
    if kind not in {str(k) for k in Kind}:
        return None
    namespace = metadata.get("namespace") or default_namespace
    return ResourceId(kind=Kind(kind), namespace=str(namespace), name=name)


def _find(
    documents: dict[int, object],
    unreadable: dict[int, str],
    edit: adopt.Edit,
    default_namespace: str,
) -> int:
    found = [
        index
        for index, document in sorted(documents.items())
        if _identity(document, default_namespace) == edit.resource
    ]
    what = f"{edit.resource.kind} {edit.resource.namespace}/{edit.resource.name}"
    if len(found) == 1:
        return found[0]
    if found:
        raise ManifestEditError(f"{edit.file}: {what} is defined {len(found)} times")
    unread = "".join(
        f"; document {index + 1} could not be read ({why})"
        for index, why in sorted(unreadable.items())
    )
    raise ManifestEditError(f"{edit.file}: no document {what} in this file{unread}")


# -- edits -------------------------------------------------------------------------------------


def _where(edit: adopt.Edit, depth: int) -> str:
    shown = ""
    for step in edit.path[:depth]:
        shown += f"[{step}]" if isinstance(step, int) else (f".{step}" if shown else step)
    resource = f"{edit.resource.kind} {edit.resource.namespace}/{edit.resource.name}"
    return f"{edit.file}: {resource}: {shown or 'the document'}"


def _apply(document: object, edit: adopt.Edit) -> None:
    if not edit.path:
        raise ManifestEditError(f"{_where(edit, 0)}: an edit needs a path")
    node = document
    parent: _Parent = None
    for depth, step in enumerate(edit.path[:-1], start=1):
        child = _child(node, step, edit, depth)
        if child is None:
            if edit.op is adopt.EditOp.DELETE:
                return  # nothing there to delete
            assert isinstance(node, CommentedMap)  # _child checked: only a key can be missing
            child = CommentedSeq() if isinstance(edit.path[depth], int) else CommentedMap()
            if step in node:
                node[step] = child  # written as null
            else:
                _insert(node, step, child, ())
        if isinstance(node, CommentedMap | CommentedSeq):
            parent = (node, step)
        node = child
    last = edit.path[-1]
    if edit.op is adopt.EditOp.DELETE:
        _delete(node, last, edit, parent)
    else:
        _set(node, last, edit.value, edit)


def _child(node: object, step: Key, edit: adopt.Edit, depth: int) -> object:
    if isinstance(step, int):
        if not isinstance(node, CommentedSeq):
            raise ManifestEditError(f"{_where(edit, depth - 1)} is not a list")
        if not 0 <= step < len(node):
            raise ManifestEditError(f"{_where(edit, depth)} does not exist")
        return node[step]
    if not isinstance(node, CommentedMap):
        raise ManifestEditError(f"{_where(edit, depth - 1)} is not a mapping")
    return node.get(step)


def _set(node: object, step: Key, value: adopt.EditValue, edit: adopt.Edit) -> None:
    depth = len(edit.path)
    if isinstance(step, int):
        if not isinstance(node, CommentedSeq):
            raise ManifestEditError(f"{_where(edit, depth - 1)} is not a list")
        if step == len(node):
            _insert(node, step, _new_node(value, _sibling_flow(node)), ())
        elif 0 <= step < len(node):
            _replace(node, step, value)
        else:
            raise ManifestEditError(
                f"{_where(edit, depth)} does not exist (the list has {len(node)})"
            )
        return
    if not isinstance(node, CommentedMap):
        raise ManifestEditError(f"{_where(edit, depth - 1)} is not a mapping")
    if step in node and node[step] is not None:
        _replace(node, step, value)
    elif step in node:
        node[step] = _new_node(value, flow=False)
    else:
        _insert(node, step, _new_node(value, flow=False), edit.after)


def _delete(node: object, step: Key, edit: adopt.Edit, parent: _Parent) -> None:
    if isinstance(step, int):
        if not isinstance(node, CommentedSeq):
            raise ManifestEditError(f"{_where(edit, len(edit.path) - 1)} is not a list")
        if not 0 <= step < len(node):
            raise ManifestEditError(f"{_where(edit, len(edit.path))} does not exist")
        _remove(node, step, parent)
        return
    if not isinstance(node, CommentedMap):
        raise ManifestEditError(f"{_where(edit, len(edit.path) - 1)} is not a mapping")
    if step in node:
        _remove(node, step, parent)


def _same(old: object, new: adopt.EditValue) -> bool:
    if isinstance(new, bool) or isinstance(old, bool):
        return isinstance(new, bool) and isinstance(old, bool) and bool(old) is new
    if isinstance(new, dict | list):
        return False
    return type(old) is not bool and old == new and (new is None) == (old is None)


def _replace(container: Container, key: Key, value: adopt.EditValue) -> None:
    """Put ``value`` at ``container[key]``, changing as little of the old node as it can."""
    old = container[key]
    if isinstance(value, dict) and isinstance(old, CommentedMap):
        for name in [k for k in old if k not in value]:
            _remove(old, name, (container, key))
        for name, child in value.items():
            if name in old:
                _replace(old, name, child)
            else:
                _insert(old, name, _new_node(child, flow=_is_flow(old)), ())
        return
    if isinstance(value, list) and isinstance(old, CommentedSeq):
        for index, child in enumerate(value[: len(old)]):
            _replace(old, index, child)
        while len(old) > len(value):
            _remove(old, len(old) - 1, (container, key))
        for child in value[len(old) :]:
            _insert(old, len(old), _new_node(child, _sibling_flow(old)), ())
        return
    if _same(old, value):
        return
    rest = _pop_rest(container, key) if _is_block(old) else ""
    new = _new_node(value, flow=_is_flow(old))
    if isinstance(new, str) and isinstance(old, ScalarString):
        new = type(old)(new)  # keep the quoting the author chose
    container[key] = new
    _push_rest(container, key, rest)


def _new_node(value: adopt.EditValue, flow: bool) -> object:
    if isinstance(value, dict):
        mapping = CommentedMap()
        for name, child in value.items():
            mapping[name] = _new_node(child, flow=flow)
        if flow:
            mapping.fa.set_flow_style()
        return mapping
    if isinstance(value, list):
        scalars = all(not isinstance(c, dict | list) for c in value)
        sequence = CommentedSeq(_new_node(child, flow=flow) for child in value)
        if flow or scalars:
            sequence.fa.set_flow_style()
        return sequence
    return value


def _is_flow(node: object) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and bool(node.fa.flow_style())


def _is_block(node: object) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq) and len(node) > 0 and not _is_flow(node)


def _sibling_flow(sequence: CommentedSeq) -> bool:
    """Whether a new item should be written in flow style, like the items already there."""
    return bool(sequence) and _is_flow(sequence[-1])


# -- comments ----------------------------------------------------------------------------------
# ruamel.yaml keeps the comment lines below an entry on the entry's last scalar, as one token:
# the end-of-line comment, then every full line up to the next entry. Those lines belong to
# the next entry (or end the block), so they move whenever entries come and go.


def _keys(container: Container) -> list[Key]:
    return list(container) if isinstance(container, CommentedMap) else list(range(len(container)))


def _tail(container: Container, key: Key) -> tuple[Container, Key, int]:
    """Where the comment below ``container[key]`` lives: (holder, key in holder, slot)."""
    value = container[key]
    while _is_block(value):
        container, key = value, _keys(value)[-1]
        value = container[key]
    return container, key, 2 if isinstance(container, CommentedMap) else 0


def _token(holder: Container, key: Key, slot: int) -> CommentToken | None:
    entry = holder.ca.items.get(key)
    if entry is None or len(entry) <= slot:
        return None
    token = entry[slot]
    return token if isinstance(token, CommentToken) else None


def _split(value: str) -> tuple[str, str]:
    """An end-of-line comment (with its newline) and the full lines below it."""
    newline = value.find("\n")
    if newline < 0:
        return value, ""
    return value[: newline + 1], value[newline + 1 :]


def _pop_rest(container: Container, key: Key) -> str:
    """Take the full comment lines below ``container[key]``, keeping its end-of-line comment."""
    holder, at, slot = _tail(container, key)
    token = _token(holder, at, slot)
    if token is None:
        return ""
    eol, rest = _split(token.value)
    _set_token(holder, at, slot, eol)
    return rest


def _push_rest(container: Container, key: Key, rest: str) -> None:
    """Put full comment lines below ``container[key]``, after its end-of-line comment."""
    if not rest:
        return
    holder, at, slot = _tail(container, key)
    token = _token(holder, at, slot)
    eol = _split(token.value)[0] if token is not None else "\n"
    _set_token(holder, at, slot, (eol or "\n") + rest)


def _set_token(holder: Container, key: Key, slot: int, value: str) -> None:
    entry = holder.ca.items.get(key)
    if value in {"", "\n"}:
        if entry is not None and len(entry) > slot:
            entry[slot] = None
        return
    token = _token(holder, key, slot)
    if token is not None:
        token.value = value
        return
    if entry is None:
        entry = holder.ca.items[key] = [None, None, None, None]
    entry[slot] = CommentToken(value, start_mark=CommentMark(0))


def _insert(container: Container, key: Key, node: object, after: Sequence[str]) -> None:
    """Add a new entry: after the first of ``after`` that exists, else at the end."""
    keys = _keys(container)
    position = len(keys)
    if isinstance(container, CommentedMap):
        for name in after:
            if name in container:
                position = keys.index(name) + 1
                break
    rest = _pop_rest(container, keys[position - 1]) if position > 0 else ""
    if isinstance(container, CommentedMap):
        container.insert(position, key, node)
        _push_rest(container, key, rest)
    else:
        if not container and isinstance(node, CommentedMap | CommentedSeq):
            container.fa.set_block_style()  # "[]" grows into a block list of mappings
        container.insert(position, node)
        _push_rest(container, position, rest)


def _remove(container: Container, key: Key, parent: _Parent) -> None:
    """Delete an entry with the comment above it; the comment above the next entry stays."""
    keys = _keys(container)
    position = keys.index(key)
    below = _pop_rest(container, key)
    if len(keys) == 1:
        _empty(container, key, below, parent)
        return
    if position > 0:
        previous = keys[position - 1]
        _pop_rest(container, previous)  # the comment above the removed entry goes with it
        _push_rest(container, previous, below)
    else:
        _replace_leading(container, below, parent)
    del container[key]
    if isinstance(container, CommentedMap):
        container.ca.items.pop(key, None)


def _empty(container: Container, key: Key, below: str, parent: _Parent) -> None:
    """Remove the last entry: the block becomes ``[]`` or ``{}``, which carries the comments."""
    _replace_leading(container, "", parent)
    del container[key]
    container.ca.items.clear()
    container.fa.set_flow_style()
    eol = "\n"
    if parent is not None and isinstance(parent[0], CommentedMap):
        entry = parent[0].ca.items.get(parent[1])
        if entry is not None:  # the comments on "key:" itself now follow the "[]"
            token = entry[2] if len(entry) > 2 else None
            if isinstance(token, CommentToken):
                eol = _split(token.value)[0] or "\n"
            entry[2:] = [None] * (len(entry) - 2)
            if not any(entry):
                del parent[0].ca.items[parent[1]]
    container.ca.comment = None
    if eol + below != "\n":
        container.ca.comment = [CommentToken(eol + below, start_mark=CommentMark(0)), None]


def _replace_leading(container: Container, lines: str, parent: _Parent) -> None:
    """The comment lines above the first entry of a block become ``lines``.

    ruamel.yaml keeps them twice, as one list: on the block and on its parent's entry.
    """
    comment = container.ca.comment
    tokens = comment[1] if comment is not None and len(comment) > 1 else None
    if tokens:
        if lines:
            tokens[0].value = lines.lstrip(" ")
            del tokens[1:]
        else:
            tokens.clear()
        return
    if not lines or parent is None:
        return
    holder, key = parent
    column = len(lines) - len(lines.lstrip(" "))
    tokens = [CommentToken(lines.lstrip(" "), start_mark=CommentMark(column))]
    entry = holder.ca.items.setdefault(key, [None, None, None, None])
    while len(entry) < 4:
        entry.append(None)
    entry[3] = tokens
    container.ca.comment = [None, tokens]
