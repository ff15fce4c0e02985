"""New contents for the registry files a change set touches, in AgentMesh's layout.

Called by the file store inside a commit. Only files whose content changes are produced.
Inside a rewritten file every entry the change does not touch keeps its exact bytes
(its formatting, key order, `_comment`s; even entries meshctl could not key), new entries are
appended, and the file's own keys stay as they were except `last_updated`, which is refreshed.
New or changed entries are written with indent 2, like upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from reconciler.model import ids, kinds
from reconciler.model.kinds import Kind, Layout
from reconciler.store import jsonedit, jsonspans
from reconciler.store.heldfile import HeldFile, HeldSpan, joined
from reconciler.store.jsonspans import ListLayout, Member, Span

Entry = dict[str, Any]
Changes = Mapping[str, Entry | None]  # name -> new entry, or None to delete
DEFAULT_VERSION = "1.0.0"


class WriteError(ValueError):
    """A registry file is not in a shape that can be rewritten safely."""


Piece = bytes | memoryview | HeldSpan


@dataclass(frozen=True, slots=True)
class FileContent:
    """A file's new bytes, as pieces to write one after the other (a 26 MB registry with ten
    entries changed is a few views into its old bytes, or spans of the old file held open,
    and the new entries: never copied)."""

    relative: str  # path under the registries directory
    pieces: tuple[Piece, ...] | None  # None: remove the file
    layout: ListLayout | None = None  # for a list registry: where everything is in it

    @property
    def data(self) -> bytes | None:
        return None if self.pieces is None else joined(self.pieces)

    @property
    def text(self) -> str | None:
        data = self.data
        return None if data is None else data.decode("utf-8")


def document_path(kind: Kind, name: str) -> str:
    """The file of one entry of a one-file-per-entry kind (workflows)."""
    problem = ids.id_problem(name)
    if problem is not None:  # validation refuses such ids first; this is the last guard
        raise WriteError(f"{kinds.info(kind).label} id {name!r} {problem}")
    return kinds.file_of(kind, name)


def render_files(kind: Kind, changes: Changes, read: Any, now: str,
                 layouts: Mapping[str, ListLayout] | None = None) -> list[FileContent]:
    """The new contents for `changes` to resources of `kind`. `read(relative)` returns a
    file's current bytes (or text, or the file held open), or None when it does not exist;
    `layouts` may hold the layout of a list registry's current bytes (else they are
    scanned). A held list registry with a known layout is not read: its untouched entries
    become spans of it (`HeldSpan`), and only the changed ones are read."""

    def current(relative: str) -> bytes | None:
        found = read(relative)
        if isinstance(found, HeldFile):
            found = _whole(found)
        return found.encode("utf-8") if isinstance(found, str) else found

    info = kinds.info(kind)
    if info.layout is Layout.PER_FILE:
        contents = [_one_document(document_path(kind, name), entry,
                                  _text(current(document_path(kind, name))))
                    for name, entry in changes.items()]
        return [content for content in contents if content is not None]
    if info.layout is Layout.SINGLETON:
        entry = changes.get(kinds.SINGLETON_NAME)
        before = _text(current(info.registry_file))
        if entry is None:
            return [FileContent(info.registry_file, None)] if before is not None else []
        document = _rewrite_document(before, entry, now)
        return [] if document == before else [FileContent(info.registry_file,
                                                          (document.encode("utf-8"),))]
    assert info.collection_key is not None
    if info.layout is Layout.POLICY_MAP:
        before = _text(current(info.registry_file))
        text = _rewrite_object_member(before, info.collection_key, changes, now)
        if text is None or text == before:
            return []
        return [FileContent(info.registry_file, (text.encode("utf-8"),))]
    assert info.id_field is not None
    known = (layouts or {}).get(info.registry_file)
    found = read(info.registry_file)
    source = found if isinstance(found, HeldFile) and known is not None else \
        current(info.registry_file)
    written = _rewrite_list_member(source, info.collection_key, info.id_field, changes, now,
                                   known)
    if written is None:
        return []
    return [FileContent(info.registry_file, tuple(written[0]), written[1])]


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8")


dumps = jsonedit.dumps


def _one_document(relative: str, entry: Entry | None, old: str | None) -> FileContent | None:
    if entry is None:
        return FileContent(relative, None) if old is not None else None
    if old is None:
        return FileContent(relative, ((dumps(entry) + "\n").encode("utf-8"),))
    if _same(entry, orjson.loads(old)):  # unchanged: keep the file
        return None
    return FileContent(relative, (_edited(old, entry).encode("utf-8"),))


def _rewrite_document(old: str | None, entry: Entry, now: str) -> str:
    """A one-document file (system config) holding `entry`, edited in place (`jsonedit`):
    an unchanged section keeps its bytes, so editing one setting changes that line; the
    file's key order stays; `last_updated`, when the file has it, is refreshed."""
    if old is None:
        return dumps(entry) + "\n"
    try:
        before = orjson.loads(old)
    except orjson.JSONDecodeError as error:
        raise WriteError(f"cannot read the document: {error}") from error
    if not isinstance(before, dict):
        raise WriteError("the file does not hold one JSON object")
    document = {key: now if key == "last_updated" else entry[key] for key in before
                if key == "last_updated" or key in entry}
    document.update((key, value) for key, value in entry.items() if key not in document)
    if _same({k: v for k, v in document.items() if k != "last_updated"},
             {k: v for k, v in before.items() if k != "last_updated"}):
        return old  # nothing but the stamp would change: the file stays as it is
    return _edited(old, document)


def _edited(old: str, document: Entry) -> str:
    """A whole file's one JSON document edited in place; its leading and trailing
    whitespace (a final newline or none) kept."""
    start, end = len(old) - len(old.lstrip()), len(old.rstrip())
    return old[:start] + jsonedit.edit(old[start:end], document) + old[end:]


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


def _indent_at(data: bytes | HeldFile, position: int) -> str:
    if isinstance(data, HeldFile):  # the line up to `position`, read back by growing windows
        window = 256
        while True:
            start = max(0, position - window)
            before = data.span(start, position)
            if b"\n" in before or start == 0 or before.strip():
                data, position = before, len(before)
                break
            window *= 4
    line_start = data.rfind(b"\n", 0, position) + 1
    prefix = data[line_start:position]
    return prefix.decode("ascii") if not prefix.strip() and prefix.isascii() else ""


def _same(new: Entry | None, old: Any) -> bool:
    return new is not None and jsonedit.same(new, old)


def _container(opening: str, closing: str, items: list[str], outer: str, inner: str) -> str:
    if not items:
        return opening + closing
    return f"{opening}\n{inner}" + f",\n{inner}".join(items) + f"\n{outer}{closing}"


def _last_updated(members: list[jsonspans.Member], now: str) -> list[tuple[Span, list[str]]]:
    return [(m.value, [dumps(now)]) for m in members if m.key == "last_updated"]


def _rewrite_list_member(old: bytes | HeldFile | None, key: str, id_field: str,
                         changes: Changes, now: str, known: ListLayout | None = None
                         ) -> tuple[list[Piece], ListLayout | None] | None:
    """The new bytes (as pieces) and their layout, or None when nothing changes. `known`
    is the layout of `old` when the caller has it (else `old`, bytes then, is scanned)."""
    if old is None:
        created = [entry for entry in changes.values() if entry is not None]
        if not created:
            return None
        return [_new_document(key, created, now).encode("utf-8")], None
    try:
        layout = known or jsonspans.scan_list_layout(_whole(old), key, id_field)
    except jsonspans.SpanError as error:
        raise WriteError(f"cannot locate entries: {error}") from error
    member = layout.entry_list
    starts, ends = layout.starts, layout.ends
    first: dict[str, int] = {}  # the item the reader keys for each changed id: its first
    for number, name in enumerate(layout.ids):
        if name is not None and name in changes and name not in first:
            first[name] = number
    outer = _indent_at(old, member.key_start)
    inner = _indent_at(old, starts[0]) if starts else outer + "  "
    edits: dict[int, bytes | None] = {}
    for name, number in first.items():
        replacement = changes[name]
        was = old.span(starts[number], ends[number]) if isinstance(old, HeldFile) else \
            bytes(old[starts[number]:ends[number]])
        if not _same(replacement, orjson.loads(was)):
            edits[number] = None if replacement is None else jsonedit.edit(
                was.decode("utf-8"), replacement, inner).encode("utf-8")
    appended = [(jsonspans.id_of(entry, id_field), _encoded(entry, inner))
                for name, entry in changes.items() if entry is not None and name not in first]
    if not edits and not appended:  # nothing changes: the file stays as it is
        return None
    new_ids = {number: jsonspans.id_of(changes[name], id_field) for name, number in first.items()}
    view = old if isinstance(old, HeldFile) else memoryview(old)
    edited = _edited_list(view, member.value, starts, ends, layout.ids, edits, new_ids,
                          appended, outer.encode(), inner.encode())
    replacements: list[tuple[Span, list[Any]]] = [(member.value, edited.pieces)]
    replacements += [(m.value, [dumps(now).encode()]) for m in layout.members
                     if m.key == "last_updated"]
    pieces, moved = _splice_pieces(view, replacements)
    members = []
    for m in layout.members:
        start = moved(m.value.start)
        if m is member:
            end = start + edited.length
        elif m.key == "last_updated":
            end = start + len(dumps(now).encode())
        else:
            end = moved(m.value.end)
        members.append(Member(m.key, moved(m.key_start), Span(start, end)))
    base = moved(member.value.start)
    return pieces, ListLayout(tuple(members), key, tuple([base + n for n in edited.starts]),
                              tuple([base + n for n in edited.ends]), tuple(edited.ids))


def _whole(old: bytes | HeldFile) -> bytes:
    if isinstance(old, bytes):
        return old
    data = old.whole()
    if data is None:
        raise WriteError(f"{old.path} changed while it was being rewritten")
    return data


def _encoded(entry: Entry, indent: str) -> bytes:
    return dumps(entry, indent).encode("utf-8")


def _splice_pieces(view: Any, replacements: list[tuple[Span, list[Any]]]
                   ) -> tuple[list[Any], Callable[[int], int]]:
    """`view` (a memoryview, or a str) with each span replaced by its pieces, as pieces;
    and a function telling where an offset outside the replaced spans (or a replaced span's
    start) moved to."""
    out: list[Any] = []
    cursor = 0
    shifts: list[tuple[int, int]] = []  # (old end of a replaced span, total shift after it)
    shift = 0
    for span, new in sorted(replacements, key=lambda item: item[0].start):
        out.append(view[cursor:span.start])
        out.extend(new)
        shift += sum(len(piece) for piece in new) - (span.end - span.start)
        shifts.append((span.end, shift))
        cursor = span.end
    out.append(view[cursor:])

    def moved(offset: int) -> int:
        return offset + next((total for end, total in reversed(shifts) if end <= offset), 0)

    return out, moved


@dataclass(slots=True)
class _Edited:
    """A rewritten entry list: its pieces, and each item's start, end (relative to the
    list's opening bracket) and id."""

    pieces: list[Piece] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)
    length: int = 0

    def put(self, piece: Piece) -> None:
        self.pieces.append(piece)
        self.length += len(piece)

    def put_item(self, name: str | None, item: bytes) -> None:
        self.starts.append(self.length)
        self.ends.append(self.length + len(item))
        self.ids.append(name)
        self.put(item)


def _edited_list(view: memoryview | HeldFile, value: Span, starts: tuple[int, ...],
                 ends: tuple[int, ...], ids: tuple[str | None, ...], edits: dict[int, bytes | None],
                 edited_ids: dict[int, str | None], appended: list[tuple[str | None, bytes]],
                 outer: bytes, inner: bytes) -> _Edited:
    """The list at `value` with items replaced (`edits[i]`) or dropped (None) and `appended`
    (id, bytes) added at its end. Runs of untouched items are one view with the separators
    between them, so a few changes to a 10,000-entry list cost a few views, no copy."""
    out = _Edited()
    if not starts:
        if not appended:
            return _Edited([b"[]"], length=2)
        out.put(b"[\n" + inner)
        for number, (name, item) in enumerate(appended):
            if number:
                out.put(b",\n" + inner)
            out.put_item(name, item)
        out.put(b"\n" + outer + b"]")
        return out

    def separator_before(number: int) -> Piece:
        if number > 0:
            return view[ends[number - 1]:starts[number]]
        return view[ends[0]:starts[1]] if len(starts) > 1 else b",\n" + inner

    def put_run(first: int, last: int) -> None:  # untouched items first..last, one view
        shift = out.length - starts[first]
        out.starts.extend([n + shift for n in starts[first:last + 1]])
        out.ends.extend([n + shift for n in ends[first:last + 1]])
        out.ids.extend(ids[first:last + 1])
        out.put(view[starts[first]:ends[last]])

    out.put(view[value.start:starts[0]])
    cursor = 0  # the first item not handled yet
    for number in sorted(edits):
        if cursor < number:
            if out.ids:
                out.put(separator_before(cursor))
            put_run(cursor, number - 1)
        cursor = number + 1
        edit = edits[number]
        if edit is not None:
            if out.ids:
                out.put(separator_before(number))
            out.put_item(edited_ids[number], edit)
    if cursor < len(starts):
        if out.ids:
            out.put(separator_before(cursor))
        put_run(cursor, len(starts) - 1)
    for name, item in appended:
        if out.ids:
            out.put(separator_before(len(starts) - 1))
        out.put_item(name, item)
    if not out.ids:
        return _Edited([b"[]"], length=2)
    out.put(view[ends[-1]:value.end])
    return out


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
                items.append(old[item.key_start:item.value.start] + jsonedit.edit(
                    old[item.value.start:item.value.end], replacement, inner))
        else:
            items.append(old[item.key_start:item.value.end])
    appended = [f"{dumps(name)}: {dumps(entry, inner)}" for name, entry in changes.items()
                if entry is not None and name not in done]
    if not touched and not appended:  # nothing changes: the file stays as it is
        return old
    body = _container("{", "}", items + appended, outer, inner)
    pieces, _ = _splice_pieces(old, [(member.value, [body]), *_last_updated(members, now)])
    return "".join(pieces)
