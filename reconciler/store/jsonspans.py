"""Where things are in a registry file's text: the span of each top-level member, and of each
item of a list or object member.

Used by the writer so that a commit rewrites only what changed and every other entry keeps
its exact bytes (formatting, key order, `_comment`s, even entries meshctl cannot key).
Offsets are into the decoded text. The stdlib's C scanner (`raw_decode`) finds every end.
Guessing ends from the layout (the first `\n<indent>}` after an entry's start) is twice as
fast but not sound: a valid file whose nested objects close at the entries' indent is
misread, and a commit would then write inside the wrong entry, so it is not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

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
        if key == skip_values and index < len(text) and text[index] == "[":
            found, index = list_items(text, index)
            items = tuple(found)
        else:
            index = _value_end(text, index)
        members.append(Member(key, key_start, Span(value_start, index), items))
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
