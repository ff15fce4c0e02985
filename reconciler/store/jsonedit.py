"""Edit a JSON value in place: what did not change keeps its bytes.

The writer uses it for every entry it rewrites, so changing one setting of a connector
changes that setting's line in `connectors.json`, not the formatting of the rest of the
entry (inline lists, spacing, key order are the user's). Where an edit cannot be placed
(keys reordered, a duplicate key, a value of another type) that value is written anew with
indent 2, as upstream writes.
"""

from __future__ import annotations

from typing import Any

import orjson

from reconciler.store import jsonspans


def dumps(value: Any, indent: str = "") -> str:
    """JSON with indent 2 (as upstream's json.dump), continued lines shifted by `indent`."""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return text.replace("\n", "\n" + indent) if indent else text


def same(new: Any, old: Any) -> bool:
    """Equal, with the same key order (what `==` on dicts ignores)."""
    return bool(new == old) and orjson.dumps(new) == orjson.dumps(old)


def edit(text: str, new: Any, indent: str = "") -> str:
    """`text` (one JSON value, its continued lines indented by `indent`) changed to hold
    `new`, keeping the bytes of every part whose value is unchanged."""
    try:
        old = orjson.loads(text)
    except orjson.JSONDecodeError:
        return dumps(new, indent)
    return _edit(text, 0, len(text), old, new, indent)


def _edit(text: str, start: int, end: int, old: Any, new: Any, base: str) -> str:
    if same(new, old):
        return text[start:end]
    edited = _in_place(text, start, end, old, new, base)
    if edited is not None:
        return edited
    if isinstance(new, list) and isinstance(old, list) and "\n" not in text[start:end] and all(
            not isinstance(item, dict | list) for item in new):
        return "[" + ", ".join(dumps(item) for item in new) + "]"  # an inline list stays so
    return dumps(new, _indent_at(text, start, base))


def _in_place(text: str, start: int, end: int, old: Any, new: Any, base: str) -> str | None:
    """A container edited member by member, or None where that cannot be done (another
    type, another length of list, text the scanner cannot follow)."""
    try:
        if isinstance(old, dict) and isinstance(new, dict) and old and new:
            return _edit_object(text, start, end, old, new, base)
        if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and old:
            return _edit_list(text, start, end, old, new, base)
    except jsonspans.SpanError:
        return None
    return None


def _edit_object(text: str, start: int, end: int, old: dict[str, Any], new: dict[str, Any],
                 base: str) -> str | None:
    members, _ = jsonspans.object_members(text, start)
    keys = [member.key for member in members]
    if len(set(keys)) != len(keys):
        return None  # a repeated key: which one counts is for a fresh write to settle
    kept = [key for key in keys if key in new]
    if list(new)[:len(kept)] != kept:
        return None  # keys reordered
    added = [key for key in new if key not in old]
    if len(kept) < len(keys) or added:  # members dropped or added: the container anew
        inner = (_indent_at(text, members[0].key_start, base) if members
                 else _indent_at(text, start, base) + "  ")
        outer = _indent_at(text, start, base)
        items = [text[m.key_start:m.value.start]
                 + _edit(text, m.value.start, m.value.end, old[m.key], new[m.key], base)
                 for m in members if m.key in new]
        items += [f"{dumps(key)}: {dumps(new[key], inner)}" for key in added]
        if "\n" not in text[start:end]:  # an inline object stays inline
            return "{" + ", ".join(items) + "}"
        return "{\n" + inner + f",\n{inner}".join(items) + f"\n{outer}}}"
    out: list[str] = []
    cursor = start
    for member in members:
        out.append(text[cursor:member.value.start])
        out.append(_edit(text, member.value.start, member.value.end, old[member.key],
                         new[member.key], base))
        cursor = member.value.end
    out.append(text[cursor:end])
    return "".join(out)


def _edit_list(text: str, start: int, end: int, old: list[Any], new: list[Any],
               base: str) -> str:
    spans, _ = jsonspans.list_items(text, start)
    out: list[str] = []
    cursor = start
    for span, was, now in zip(spans, old, new, strict=True):
        out.append(text[cursor:span.start])
        out.append(_edit(text, span.start, span.end, was, now, base))
        cursor = span.end
    out.append(text[cursor:end])
    return "".join(out)


def _indent_at(text: str, position: int, base: str) -> str:
    """The indent of the line `position` is on (`base` on the fragment's first line)."""
    line_start = text.rfind("\n", 0, position) + 1
    if line_start == 0:
        return base
    line = text[line_start:position]
    return line[:len(line) - len(line.lstrip())]
