"""New contents for the registry files a change set touches, in AgentMesh's layout.

Called by the file store inside a commit. Only files whose content changes are produced.
Inside a rewritten file every entry the change does not touch keeps its exact bytes
(its formatting, key order, `_comment`s; even entries meshctl could not key), new entries are
appended, and the file's own keys stay as they were except `last_updated`, which is refreshed.
New or changed entries are written with indent 2, like upstream.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from reconciler.model import ids, kinds
from reconciler.model.kinds import Kind
from reconciler.store import jsonspans
from reconciler.store.jsonspans import Span

Entry = dict[str, Any]
Changes = Mapping[str, Entry | None]  # name -> new entry, or None to delete
DEFAULT_VERSION = "1.0.0"


class WriteError(ValueError):
    """A registry file is not in a shape that can be rewritten safely."""


@dataclass(frozen=True, slots=True)
class FileContent:
    relative: str  # path under the registries directory
    text: str | None  # None: remove the file


def workflow_path(name: str) -> str:
    problem = ids.id_problem(name)
    if problem is not None:  # validation refuses such ids first; this is the last guard
        raise WriteError(f"workflow id {name!r} {problem}")
    return f"workflows/{name}.json"


def render_files(kind: Kind, changes: Changes, read: Any, now: str,
                 existing: frozenset[str] = frozenset()) -> list[FileContent]:
    """The new contents for `changes` to resources of `kind`. `read(relative)` returns a
    file's current text, or None when it does not exist; `existing` names the changed
    resources known to be in the file (updates and deletes)."""
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
        text = _rewrite_list_member(old, info.collection_key, info.id_field, changes, now,
                                    existing)
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


def _splice(text: str, replacements: list[tuple[Span, str]]) -> str:
    out: list[str] = []
    cursor = 0
    for span, new in sorted(replacements, key=lambda item: item[0].start):
        out.append(text[cursor:span.start])
        out.append(new)
        cursor = span.end
    out.append(text[cursor:])
    return "".join(out)


def _same(new: Entry | None, old: Any) -> bool:
    return new is not None and new == old and orjson.dumps(new) == orjson.dumps(old)


def _container(opening: str, closing: str, items: list[str], outer: str, inner: str) -> str:
    if not items:
        return opening + closing
    return f"{opening}\n{inner}" + f",\n{inner}".join(items) + f"\n{outer}{closing}"


def _last_updated(members: list[jsonspans.Member], now: str) -> list[tuple[Span, str]]:
    return [(m.value, dumps(now)) for m in members if m.key == "last_updated"]


def _rewrite_list_member(old: str | None, key: str, id_field: str, changes: Changes,
                         now: str, existing: frozenset[str]) -> str | None:
    if old is None:
        created = [entry for entry in changes.values() if entry is not None]
        return _new_document(key, created, now) if created else None
    members = _top_level(old, key)
    member = next((m for m in members if m.key == key), None)
    if member is None or member.items is None:
        raise WriteError(f"no '{key}' list to write into")
    spans = member.items
    at = _locate(old, spans, member.value, id_field, changes, existing)
    outer = _indent_of(old, member.key_start)
    inner = _indent_of(old, spans[0].start) if spans else outer + "  "
    items: list[str] = []
    touched = False
    for number, span in enumerate(spans):
        name = at.get(number)
        original = old[span.start:span.end]
        if name is None:  # untouched, unkeyed, or a later duplicate the reader kept aside
            items.append(original)
            continue
        replacement = changes[name]
        if _same(replacement, orjson.loads(original)):  # written again unchanged: keep bytes
            items.append(original)
            continue
        touched = True
        if replacement is not None:
            items.append(dumps(replacement, inner))
    placed = set(at.values())
    appended = [dumps(entry, inner) for name, entry in changes.items()
                if entry is not None and name not in placed]
    if not touched and not appended:  # nothing changes: the file stays as it is
        return old
    body = _container("[", "]", items + appended, outer, inner)
    return _splice(old, [(member.value, body), *_last_updated(members, now)])


FEW_CHANGES = 64  # up to this many, only entries that can hold a changed id are parsed


def _locate(text: str, spans: tuple[Span, ...], within: Span, id_field: str,
            changes: Changes, existing: frozenset[str]) -> dict[int, str]:
    """Item number -> id, for the first item holding each changed id.

    For a few changes, only the items whose text contains the id (found with `str.find`) are
    parsed; a 26 MB registry is then never decoded. Otherwise (or when an id known to exist
    is not found so, as when a file spells it with escapes), every item is."""
    found: dict[int, str] = {}
    if len(changes) <= FEW_CHANGES:
        found = _locate_by_text(text, spans, within, id_field, changes)
        if existing <= set(found.values()):
            return found
        found = {}
    seen: set[str] = set()
    for number, span in enumerate(spans):
        entry = orjson.loads(text[span.start:span.end])
        name = entry.get(id_field) if isinstance(entry, dict) else None
        if isinstance(name, str) and name in changes and name not in seen:
            seen.add(name)
            found[number] = name
    return found


def _locate_by_text(text: str, spans: tuple[Span, ...], within: Span, id_field: str,
                    changes: Changes) -> dict[int, str]:
    found: dict[int, str] = {}
    starts = [span.start for span in spans]
    for name in changes:
        needle = dumps(name)
        candidates: set[int] = set()
        position = text.find(needle, within.start, within.end)
        while position >= 0:
            number = bisect.bisect_right(starts, position) - 1
            if number >= 0 and position < spans[number].end:
                candidates.add(number)
            position = text.find(needle, position + len(needle), within.end)
        for number in sorted(candidates):
            entry = orjson.loads(text[spans[number].start:spans[number].end])
            if isinstance(entry, dict) and entry.get(id_field) == name:
                found[number] = name
                break
    return found


def _rewrite_object_member(old: str | None, key: str, changes: Changes,
                           now: str) -> str | None:
    if old is None:
        created = {name: entry for name, entry in changes.items() if entry is not None}
        if not created:
            return None
        return dumps({"version": DEFAULT_VERSION, "last_updated": now, key: created}) + "\n"
    members = _top_level(old, "")
    member = next((m for m in members if m.key == key), None)
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
    return _splice(old, [(member.value, body), *_last_updated(members, now)])
