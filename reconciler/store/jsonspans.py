"""Where things are in a registry file's text: the span of each top-level member, and of each
item of a list or object member.

Used by the writer so that a commit rewrites only what changed and every other entry keeps
its exact bytes (formatting, key order, `_comment`s, even entries meshctl cannot key).
Offsets are into the decoded text. The stdlib's C scanner (`raw_decode`) does the parsing;
for the common layout (a list pretty-printed with entries at one indent) a faster path finds
entry ends with `str.find`, and is checked against the entry count it must produce.
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


def object_members(text: str, start: int, *, skip_values: str | None = None,
                   expected: int | None = None) -> tuple[list[Member], int]:
    """Members of the object opening at `text[start]` ('{'), and the offset after its '}'.

    The value of member `skip_values` (the big entry list, of `expected` items) is located
    by `list_items` rather than decoded."""
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
            found, index = list_items(text, index, expected)
            items = tuple(found)
        else:
            index = _value_end(text, index)
        members.append(Member(key, key_start, Span(value_start, index), items))
        index = _skip(text, index)
        if index < len(text) and text[index] == ",":
            index += 1
            continue
        return members, _expect(text, index, "}")


def list_items(text: str, start: int, expected: int | None = None) -> tuple[list[Span], int]:
    """Spans of the items of the list opening at `text[start]` ('['), and the offset after
    its ']'. The fast path is tried first; `expected`, when known, is the count it must find."""
    fast = _pretty_list_items(text, start, expected)
    if fast is not None:
        return fast
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


def _pretty_list_items(text: str, start: int,
                       expected: int | None) -> tuple[list[Span], int] | None:
    """Items of a list laid out as `[\\n<indent>{...},\\n<indent>{...}\\n<outer>]`, where every
    item is an object whose closing brace is the first `\\n<indent>}` after its start (JSON
    strings cannot hold a raw newline, and deeper lines are indented further). None when the
    text is not laid out so, or the count differs from `expected` (when given)."""
    if start >= len(text) or text[start] != "[" or expected == 0:
        return None
    first = _skip(text, start + 1)
    line_start = text.rfind("\n", start, first)
    if line_start < 0 or text[first] != "{":
        return None
    indent = text[line_start + 1:first]
    if indent.strip(" "):
        return None
    closing = "\n" + indent + "}"
    items: list[Span] = []
    index = first
    while True:
        end = text.find(closing, index)
        if end < 0:
            return None
        end += len(closing)
        items.append(Span(index, end))
        after = _skip(text, end)
        if after < len(text) and text[after] == ",":
            index = _skip(text, after + 1)
            if index >= len(text) or text[index] != "{" or (
                    expected is not None and len(items) >= expected):
                return None
            continue
        if after < len(text) and text[after] == "]" and expected in (None, len(items)):
            return items, after + 1
        return None
