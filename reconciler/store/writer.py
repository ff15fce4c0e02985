"""New contents for the registry files a change set touches, in AgentMesh's layout.

Called by the file store inside a commit. Only files whose content changes are produced.
Inside a rewritten file every entry the change does not touch keeps its exact bytes
(its formatting, key order, `_comment`s; even entries meshctl could not key), new entries are
appended, and the file's own keys stay as they were except `last_updated`, which is refreshed.
New or changed entries are written with indent 2, like upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from reconciler.model import ids, kinds
from reconciler.model.kinds import Kind
from reconciler.store import jsonspans
from reconciler.store.jsonspans import ListLayout, Member, Span

Entry = dict[str, Any]
Changes = Mapping[str, Entry | None]  # name -> new entry, or None to delete
DEFAULT_VERSION = "1.0.0"


class WriteError(ValueError):
    """A registry file is not in a shape that can be rewritten safely."""


@dataclass(frozen=True, slots=True)
class FileContent:
    relative: str  # path under the registries directory
    text: str | None  # None: remove the file
    layout: ListLayout | None = None  # for a list registry: where everything is in `text`


def workflow_path(name: str) -> str:
    problem = ids.id_problem(name)
    if problem is not None:  # validation refuses such ids first; this is the last guard
        raise WriteError(f"workflow id {name!r} {problem}")
    return f"workflows/{name}.json"


def render_files(kind: Kind, changes: Changes, read: Any, now: str,
                 layouts: Mapping[str, ListLayout] | None = None) -> list[FileContent]:
    """The new contents for `changes` to resources of `kind`. `read(relative)` returns a
    file's current text, or None when it does not exist; `layouts` may hold the layout of a
    list registry's current text (else it is scanned)."""
    if kind is Kind.WORKFLOW:
        contents = [_workflow(name, entry, read(workflow_path(name))) for name, entry in
                    changes.items()]
        return [content for content in contents if content is not None]
    info = kinds.info(kind)
    assert info.collection_key is not None
    old = read(info.registry_file)
    if kind is Kind.GOVERNANCE_POLICY:
        text = _rewrite_object_member(old, info.collection_key, changes, now)
    else:
        assert info.id_field is not None
        known = (layouts or {}).get(info.registry_file)
        written = _rewrite_list_member(old, info.collection_key, info.id_field, changes, now,
                                       known)
        if written is None or written[0] == old:
            return []
        return [FileContent(info.registry_file, written[0], written[1])]
    return [] if text is None or text == old else [FileContent(info.registry_file, text)]


def dumps(value: Any, indent: str = "") -> str:
    """JSON with indent 2 (as upstream's json.dump), continued lines shifted by `indent`."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return text.replace("\n", "\n" + indent) if indent else text


def _workflow(name: str, entry: Entry | None, old: str | None) -> FileContent | None:
    if entry is None:
        return FileContent(workflow_path(name), None) if old is not None else None
    if old is not None and _same(entry, orjson.loads(old)):  # unchanged: keep the file
        return None
    trailing = "\n" if old is None or old.endswith("\n") else ""  # keep the file's habit
    return FileContent(workflow_path(name), dumps(entry) + trailing)


def _new_document(key: str, items: list[Any], now: str) -> str:
    return dumps({"version": DEFAULT_VERSION, "last_updated": now, key: items}) + "\n"


def _top_level(text: str, skip: str) -> list[jsonspans.Member]:
    start = jsonspans._skip(text, 0)
    try:
        members, _ = jsonspans.object_members(text, start, skip_values=skip)
    except jsonspans.SpanError as error:
        raise WriteError(f"cannot locate entries: {error}") from error
    return members


def _indent_of(text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    prefix = text[line_start:position]
    return prefix if not prefix.strip() else ""


def _splice(text: str, replacements: list[tuple[Span, str | list[str]]]
            ) -> tuple[str, Callable[[int], int]]:
    """`text` with each span replaced by a text (or by pieces, joined once with the rest),
    and a function telling where an offset outside the replaced spans (or a replaced
    span's start) moved to."""
    out: list[str] = []
    cursor = 0
    shifts: list[tuple[int, int]] = []  # (old end of a replaced span, total shift after it)
    shift = 0
    for span, new in sorted(replacements, key=lambda item: item[0].start):
        out.append(text[cursor:span.start])
        pieces = [new] if isinstance(new, str) else new
        out.extend(pieces)
        shift += sum(len(piece) for piece in pieces) - (span.end - span.start)
        shifts.append((span.end, shift))
        cursor = span.end
    out.append(text[cursor:])

    def moved(offset: int) -> int:
        return offset + next((total for end, total in reversed(shifts) if end <= offset), 0)

    return "".join(out), moved


def _same(new: Entry | None, old: Any) -> bool:
    return new is not None and new == old and orjson.dumps(new) == orjson.dumps(old)


def _container(opening: str, closing: str, items: list[str], outer: str, inner: str) -> str:
    if not items:
        return opening + closing
    return f"{opening}\n{inner}" + f",\n{inner}".join(items) + f"\n{outer}{closing}"


def _last_updated(members: list[jsonspans.Member], now: str) -> list[tuple[Span, str]]:
    return [(m.value, dumps(now)) for m in members if m.key == "last_updated"]


def _rewrite_list_member(old: str | None, key: str, id_field: str, changes: Changes,
                         now: str, known: ListLayout | None = None
                         ) -> tuple[str, ListLayout | None] | None:
    """The new text and its layout; `known` is the layout of `old` when the caller has it
    (else `old` is scanned)."""
    if old is None:
        created = [entry for entry in changes.values() if entry is not None]
        return (_new_document(key, created, now), None) if created else None
    try:
        layout = known or jsonspans.scan_list_layout(old, key, id_field)
    except jsonspans.SpanError as error:
        raise WriteError(f"cannot locate entries: {error}") from error
    member = layout.entry_list
    spans = member.items
    assert spans is not None
    first: dict[str, int] = {}  # the item the reader keys for each changed id: its first
    for number, name in enumerate(layout.ids):
        if name is not None and name in changes and name not in first:
            first[name] = number
    outer = _indent_of(old, member.key_start)
    inner = _indent_of(old, spans[0].start) if spans else outer + "  "
    edits: dict[int, str | None] = {}
    for name, number in first.items():
        replacement = changes[name]
        if not _same(replacement, orjson.loads(old[spans[number].start:spans[number].end])):
            edits[number] = None if replacement is None else dumps(replacement, inner)
    appended = [(jsonspans.id_of(entry, id_field), dumps(entry, inner))
                for name, entry in changes.items() if entry is not None and name not in first]
    if not edits and not appended:  # nothing changes: the file stays as it is
        return old, layout
    new_ids = {number: jsonspans.id_of(changes[name], id_field) for name, number in first.items()}
    pieces, items, ids = _edited_list(old, member.value, spans, layout.ids, edits, new_ids,
                                      appended, outer, inner)
    replacements: list[tuple[Span, str | list[str]]] = [
        (member.value, pieces), *_last_updated(list(layout.members), now)]
    text, moved = _splice(old, replacements)
    members = []
    for m in layout.members:
        start = moved(m.value.start)
        if m is member:
            body = Span(start, start + sum(len(piece) for piece in pieces))
            members.append(Member(m.key, moved(m.key_start), body, tuple(
                Span(start + item.start, start + item.end) for item in items)))
        elif m.key == "last_updated":
            members.append(Member(m.key, moved(m.key_start),
                                  Span(start, start + len(dumps(now))), m.items))
        else:
            members.append(Member(m.key, moved(m.key_start), Span(start, moved(m.value.end)),
                                  m.items))
    return text, ListLayout(tuple(members), key, ids)


def _edited_list(text: str, value: Span, spans: tuple[Span, ...], ids: tuple[str | None, ...],
                 edits: dict[int, str | None], edited_ids: dict[int, str | None],
                 appended: list[tuple[str | None, str]], outer: str, inner: str
                 ) -> tuple[list[str], list[Span], tuple[str | None, ...]]:
    """The list at `value` with items replaced (`edits[i]` a text) or dropped (None) and
    `appended` (id, text) added at its end, as pieces to join; with the new items' spans
    (relative to the list's start) and ids. Runs of untouched items are one slice with the
    separators between them, so a few changes to a 10,000-entry list cost a few slices."""
    if not spans:
        body = _container("[", "]", [item for _, item in appended], outer, inner)
        found, cursor = [], len(f"[\n{inner}")
        for _, item in appended:
            found.append(Span(cursor, cursor + len(item)))
            cursor += len(item) + len(f",\n{inner}")
        return [body], found, tuple(name for name, _ in appended)

    def separator_before(number: int) -> str:
        if number > 0:
            return text[spans[number - 1].end:spans[number].start]
        return text[spans[0].end:spans[1].start] if len(spans) > 1 else ",\n" + inner

    out = [text[value.start:spans[0].start]]
    length = len(out[0])
    new_spans: list[Span] = []
    new_ids: list[str | None] = []

    def put(piece: str) -> None:
        nonlocal length
        out.append(piece)
        length += len(piece)

    def put_run(first: int, last: int) -> None:  # untouched items first..last, one slice
        shift = length - spans[first].start
        new_spans.extend(Span(span.start + shift, span.end + shift)
                         for span in spans[first:last + 1])
        new_ids.extend(ids[first:last + 1])
        put(text[spans[first].start:spans[last].end])

    def put_item(name: str | None, item: str) -> None:
        new_spans.append(Span(length, length + len(item)))
        new_ids.append(name)
        put(item)

    cursor = 0  # the first item not handled yet
    for number in sorted(edits):
        if cursor < number:
            if new_spans:
                put(separator_before(cursor))
            put_run(cursor, number - 1)
        cursor = number + 1
        edit = edits[number]
        if edit is not None:
            if new_spans:
                put(separator_before(number))
            put_item(edited_ids[number], edit)
    if cursor < len(spans):
        if new_spans:
            put(separator_before(cursor))
        put_run(cursor, len(spans) - 1)
    for name, item in appended:
        if new_spans:
            put(separator_before(len(spans) - 1))
        put_item(name, item)
    if not new_spans:
        return ["[]"], [], ()
    put(text[spans[-1].end:value.end])
    return out, new_spans, tuple(new_ids)


def _rewrite_object_member(old: str | None, key: str, changes: Changes,
                           now: str) -> str | None:
    if old is None:
        created = {name: entry for name, entry in changes.items() if entry is not None}
        if not created:
            return None
        return dumps({"version": DEFAULT_VERSION, "last_updated": now, key: created}) + "\n"
    members = _top_level(old, "")
    member = next((m for m in reversed(members) if m.key == key), None)  # the reader's pick
    if member is None or old[member.value.start] != "{":
        raise WriteError(f"no '{key}' object to write into")
    try:
        inner_members, _ = jsonspans.object_members(old, member.value.start)
    except jsonspans.SpanError as error:
        raise WriteError(f"cannot locate entries: {error}") from error
    outer = _indent_of(old, member.key_start)
    inner = (_indent_of(old, inner_members[0].key_start) if inner_members
             else outer + "  ")
    items: list[str] = []
    done: set[str] = set()
    touched = False
    for item in inner_members:
        if item.key in changes and item.key not in done:
            done.add(item.key)
            replacement = changes[item.key]
            if _same(replacement, orjson.loads(old[item.value.start:item.value.end])):
                items.append(old[item.key_start:item.value.end])
                continue
            touched = True
            if replacement is not None:
                items.append(f"{dumps(item.key)}: {dumps(replacement, inner)}")
        else:
            items.append(old[item.key_start:item.value.end])
    appended = [f"{dumps(name)}: {dumps(entry, inner)}" for name, entry in changes.items()
                if entry is not None and name not in done]
    if not touched and not appended:  # nothing changes: the file stays as it is
        return old
    body = _container("{", "}", items + appended, outer, inner)
    return _splice(old, [(member.value, body), *_last_updated(members, now)])[0]
