"""Where things are in a registry file's text: the span of each top-level member, and of each
item of a list or object member.

Used by the writer so that a commit rewrites only what changed and every other entry keeps
its exact bytes (formatting, key order, `_comment`s, even entries meshctl cannot key).
Offsets are into the decoded text. The ends of a big list's items are first guessed from the
layout (the first `\n<indent>}` after an item's start, as every indenting writer puts it) and
each guess is proved by decoding exactly that span with orjson: a span that stops short of
its item's true end is an unclosed object and does not decode, so a proved span is the
item. One failed proof (nested objects closing at the items' indent, another layout) sends
the whole list to the stdlib's C scanner (`raw_decode`), which finds every end itself, at
about half the speed. The proof's decoded items come along, so the writer need not decode
them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


class SpanError(ValueError):
    """The text is not the JSON shape expected (the reader reports the details)."""


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int  # exclusive


@dataclass(frozen=True, slots=True)
class Member:
    key: str
    key_start: int  # where the member's quoted key starts
    value: Span
    items: tuple[Span, ...] | None = None  # for the skipped list: its items
    values: tuple[Any, ...] | None = None  # and their decoded values, when proved by decoding


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def _expect(text: str, index: int, char: str) -> int:
    index = _skip(text, index)
    if index >= len(text) or text[index] != char:
        raise SpanError(f"expected {char!r} at offset {index}")
    return index + 1


def _value_end(text: str, index: int) -> int:
    try:
        return int(_DECODER.raw_decode(text, index)[1])
    except json.JSONDecodeError as error:
        raise SpanError(str(error)) from error


def object_members(text: str, start: int, *,
                   skip_values: str | None = None) -> tuple[list[Member], int]:
    """Members of the object opening at `text[start]` ('{'), and the offset after its '}'.

    The value of member `skip_values` (the big entry list) also gets the span of each of its
    items, from `list_items`."""
    index = _expect(text, start, "{")
    members: list[Member] = []
    index = _skip(text, index)
    if index < len(text) and text[index] == "}":
        return members, index + 1
    while True:
        index = _skip(text, index)
        key_start = index
        try:
            key, index = _DECODER.raw_decode(text, index)
        except json.JSONDecodeError as error:
            raise SpanError(str(error)) from error
        if not isinstance(key, str):
            raise SpanError(f"object key expected at offset {key_start}")
        index = _skip(text, _expect(text, index, ":"))
        value_start = index
        items: tuple[Span, ...] | None = None
        values: tuple[Any, ...] | None = None
        if key == skip_values and index < len(text) and text[index] == "[":
            proved = items_by_layout(text, index)
            if proved is not None:
                spans, decoded, index = proved
                items, values = tuple(spans), tuple(decoded)
            else:
                found, index = list_items(text, index)
                items = tuple(found)
        else:
            index = _value_end(text, index)
        members.append(Member(key, key_start, Span(value_start, index), items, values))
        index = _skip(text, index)
        if index < len(text) and text[index] == ",":
            index += 1
            continue
        return members, _expect(text, index, "}")


def list_items(text: str, start: int) -> tuple[list[Span], int]:
    """Spans of the items of the list opening at `text[start]` ('['), and the offset after
    its ']'."""
    index = _expect(text, start, "[")
    items: list[Span] = []
    index = _skip(text, index)
    if index < len(text) and text[index] == "]":
        return items, index + 1
    while True:
        index = _skip(text, index)
        item_start = index
        index = _value_end(text, index)
        items.append(Span(item_start, index))
        index = _skip(text, index)
        if index < len(text) and text[index] == ",":
            index += 1
            continue
        return items, _expect(text, index, "]")


def items_by_layout(text: str, start: int) -> tuple[list[Span], list[Any], int] | None:
    """Spans and values of the objects in the list opening at `text[start]`, and the offset
    after its ']', when every item's end is where the layout says and decoding proves it;
    else None (use `list_items`)."""
    index = _skip(text, _expect(text, start, "["))
    if index >= len(text) or text[index] != "{":
        return None
    line_start = text.rfind("\n", 0, index) + 1
    indent = text[line_start:index]
    if line_start == 0 or indent.strip():
        return None
    closing = "\n" + indent + "}"
    spans: list[Span] = []
    values: list[Any] = []
    while True:
        end = text.find(closing, index)
        if end < 0:
            return None
        end += len(closing)
        try:
            values.append(orjson.loads(text[index:end]))
        except orjson.JSONDecodeError:
            return None
        spans.append(Span(index, end))
        index = _skip(text, end)
        if text.startswith("]", index):
            return spans, values, index + 1
        if not text.startswith(",", index):
            return None
        index = _skip(text, index + 1)
        if not text.startswith("{", index) or text.rfind("\n", 0, index) + 1 + len(indent) \
                != index:
            return None


@dataclass(frozen=True, slots=True)
class ListLayout:
    """Where everything is in a list registry's text: its top-level members, where each item
    of the entry list starts and ends, and each item's id (its id field when that is a
    string, else None; the reader keys the first item of each id). The writer splices with
    it; the store keeps the layout of the text it last wrote, keyed by the text's digest, so
    the next commit need not scan 26 MB again. Offsets are plain ints in two tuples (10,000
    span objects per write would cost more than the rest of the splice)."""

    members: tuple[Member, ...]  # without items
    list_key: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    ids: tuple[str | None, ...]

    @property
    def entry_list(self) -> Member:
        """The entry list member: the last one of that key, as the reader decodes it."""
        return next(m for m in reversed(self.members) if m.key == self.list_key)

    def to_json(self) -> dict[str, Any]:
        return {"list_key": self.list_key, "ids": list(self.ids), "starts": list(self.starts),
                "ends": list(self.ends), "members": [
                    [m.key, m.key_start, m.value.start, m.value.end] for m in self.members]}

    @classmethod
    def from_json(cls, data: Any) -> ListLayout:
        """The layout saved by `to_json`; ValueError when it is not of that shape."""
        try:
            members = tuple(Member(str(key), int(key_start), Span(int(start), int(end)))
                            for key, key_start, start, end in data["members"])
            layout = cls(members, str(data["list_key"]), tuple(data["starts"]),
                         tuple(data["ends"]), tuple(data["ids"]))
            layout.entry_list  # noqa: B018 (raises StopIteration when absent)
            if not len(layout.starts) == len(layout.ends) == len(layout.ids):
                raise ValueError("starts, ends and ids differ in length")
            return layout
        except (KeyError, TypeError, ValueError, IndexError, StopIteration) as error:
            raise ValueError(f"not a saved layout: {error}") from error


def id_of(value: Any, id_field: str) -> str | None:
    """An item's id: its id field when that is a string, else None."""
    name = value.get(id_field) if isinstance(value, dict) else None
    return name if isinstance(name, str) else None


def scan_list_layout(data: bytes, list_key: str, id_field: str) -> ListLayout:
    """The layout of a list registry's bytes (offsets are byte offsets), found by reading
    it all (SpanError when it is not an object whose `list_key` is a list, or not UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpanError(f"not UTF-8: {error.reason}") from error
    layout = _scan_text(text, list_key, id_field)
    if len(text) == len(data):  # ASCII: character offsets are byte offsets
        return layout
    return _in_bytes(text, layout)


def _in_bytes(text: str, layout: ListLayout) -> ListLayout:
    """`layout` of `text` with every offset turned from characters into UTF-8 bytes."""
    offsets = sorted({*layout.starts, *layout.ends, *(n for m in layout.members
                                                      for n in (m.key_start, m.value.start,
                                                                m.value.end))})
    at: dict[int, int] = {}
    position = previous = 0
    for offset in offsets:
        position += len(text[previous:offset].encode("utf-8"))
        previous = offset
        at[offset] = position
    members = tuple(Member(m.key, at[m.key_start], Span(at[m.value.start], at[m.value.end]))
                    for m in layout.members)
    return ListLayout(members, layout.list_key, tuple(at[n] for n in layout.starts),
                      tuple(at[n] for n in layout.ends), layout.ids)


def _scan_text(text: str, list_key: str, id_field: str) -> ListLayout:
    members, _ = object_members(text, _skip(text, 0), skip_values=list_key)
    entry_list = next((m for m in reversed(members) if m.key == list_key), None)
    if entry_list is None or entry_list.items is None:
        raise SpanError(f"no '{list_key}' list")
    values = entry_list.values or tuple(
        orjson.loads(text[span.start:span.end]) for span in entry_list.items)
    ids = tuple(id_of(value, id_field) for value in values)
    bare = tuple(Member(m.key, m.key_start, m.value) for m in members)
    return ListLayout(bare, list_key, tuple(span.start for span in entry_list.items),
                      tuple(span.end for span in entry_list.items), ids)

