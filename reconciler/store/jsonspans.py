"""Where things are in a registry file: the span of each top-level member, and of each
item of a list or object member.

Used by the writer so that a commit rewrites only what changed and every other entry keeps
its exact bytes (formatting, key order, `_comment`s, even entries meshctl cannot key), and by
the reader, whose lazy snapshots decode an entry from its span when first asked for. The
ends of a big list's items are first guessed from the layout (the first `\n<indent>}` after
an item's start, as every indenting writer puts it) and each guess is proved by decoding
exactly that span with orjson: a span that stops short of its item's true end is an unclosed
object and does not decode, so a proved span is the item. The reader's layouts
(`lay_out_list_registry`, `decode_list_registry`, the policy map's) are found on the file's
bytes, not decoded whole (a 280 MB agent registry would be held twice): JSON's structure is
ASCII, which UTF-8 never uses inside a character, so searching the bytes finds byte offsets,
and only the pieces that hold values are decoded, each alone. The writer's full scan
(`scan_list_layout`, `object_members`) works on the decoded text: one failed proof there
(nested objects closing at the items' indent, another layout) sends the whole list to the
stdlib's C scanner (`raw_decode`), which finds every end itself, at about half the speed.
"""

from __future__ import annotations

import bisect
import codecs
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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
    items: tuple[Span, ...] | None = None  # for the skipped list: its items' values
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


def object_members(text: str, start: int, *, skip_values: str | None = None,
                   scan: bool = True) -> tuple[list[Member], int]:
    """Members of the object opening at `text[start]` ('{'), and the offset after its '}'.

    The value of member `skip_values` (the big entry list) also gets the span of each of its
    items: from its layout when decoding proves it, else from `list_items` (unless not
    `scan`: then SpanError)."""
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
            elif scan:
                found, index = list_items(text, index)
                items = tuple(found)
            else:
                raise SpanError("the entry list is not laid out one item per block")
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
            value = orjson.loads(text[index:end])
        except orjson.JSONDecodeError:
            return None
        values.append(value)
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
    string, else None; the reader keys the first item of each id). For a policy map (the
    governance file, `decode_policy_map`), the items are the bodies and the ids their names.
    The writer splices with it; the store keeps the layout of the text it last wrote, keyed
    by the text's digest, so the next commit need not scan 26 MB again. Offsets are plain
    ints in two tuples (10,000 span objects per write would cost more than the rest of the
    splice)."""

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


def decode_list_registry(data: bytes, list_key: str, id_field: str
                         ) -> tuple[dict[str, Any], ListLayout] | None:
    """A list registry decoded together with its layout, in one pass over its bytes: the
    entry list's items are decoded one by one where the layout says they are (the proof of
    each span is the decoding itself), the other top-level members as they are. What
    `orjson.loads(data)` gives, plus where everything is, so a write after a foreign edit
    need not scan the file again. None when the file is not of that shape (then decode it
    whole)."""
    found = _lay_out(data, list_key, b"[", None)
    if found is None:
        return None
    document, values = found.document, found.items.values
    document[list_key] = values
    return document, found.layout(list_key, tuple(id_of(value, id_field) for value in values))


def lay_out_list_registry(data: bytes, list_key: str, id_field: str,
                          check: Callable[[Any], object] | None = None) -> ListLayout | None:
    """The layout `decode_list_registry` finds (each item proved by decoding it), keeping
    of each item its id alone: bytes decoded whole already (a cold read's) want only the
    layout, and all their entries decoded again at once doubled a read's memory. `check`
    sees each decoded item (and may raise)."""
    def keep(value: Any) -> Any:
        if check is not None:
            check(value)
        return id_of(value, id_field)

    found = _lay_out(data, list_key, b"[", keep)
    return None if found is None else found.layout(list_key, tuple(found.items.values))


def decode_policy_map(data: bytes, map_key: str) -> tuple[dict[str, Any], ListLayout] | None:
    """A policy-map registry (governance: `{"version": ..., "policies": {"<name>": {...}}}`)
    decoded together with its layout, in one pass: each body decoded alone where the layout
    says it is (the first `\\n<indent>}` at its name's indent), the other members as they
    are. What `orjson.loads(data)` gives, plus where each body is (a `ListLayout` whose ids
    are the names), so that a plan's snapshot can decode the few policies it reads. None
    when the file is not of that shape (then decode it whole)."""
    found = _lay_out(data, map_key, b"{", None)
    if found is None or not _keys_as_orjson(found):
        return None
    document, items = found.document, found.items
    document[map_key] = dict(zip(items.names, items.values, strict=True))
    return document, found.layout(map_key, tuple(items.names))


def lay_out_policy_map(data: bytes, map_key: str,
                       check: Callable[[Any], object] | None = None) -> ListLayout | None:
    """The layout `decode_policy_map` finds (each body proved by decoding it), no body
    kept: for bytes decoded whole already, or that a plan's snapshot decodes only where it
    looks. `check` sees each decoded body (and may raise)."""
    def keep(value: Any) -> None:
        if check is not None:
            check(value)

    found = _lay_out(data, map_key, b"{", keep)
    if found is None or not _keys_as_orjson(found):
        return None
    return found.layout(map_key, tuple(found.items.names))


# --- the reader's layouts, found on the bytes (issue 26) -----------------------------------
# Offsets found by searching the bytes are byte offsets: JSON's whitespace, brackets, commas
# and quotes are ASCII, and UTF-8 never uses an ASCII byte inside a longer character. Every
# byte of a file laid out is either such structure or inside a piece decoded alone (a name,
# an item, a header member), so the file is proved UTF-8 and JSON without a whole decode.

_BLANK = re.compile(rb"[ \t\n\r]*")  # `_WS`: what `_skip` skips
_QUOTED = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a string, up to its end
_WINDOW = 1 << 12  # bytes of a header member decoded to find its end (grown as needed)


@dataclass(slots=True)
class _Items:
    """The items of the member laid out: each one's span, name (a map's) and `keep` of its
    decoded value; and the offset after the member's closing bracket."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    end: int = 0


@dataclass(frozen=True, slots=True)
class _LaidOut:
    """A registry's bytes laid out: its top-level members (byte offsets), the others decoded
    (the laid-out key in its place, its value None) and the items of the laid-out member
    (the last of its key, as the reader decodes it)."""

    members: list[Member]
    document: dict[str, Any]
    items: _Items

    def layout(self, key: str, ids: tuple[Any, ...]) -> ListLayout:
        return ListLayout(tuple(self.members), key, tuple(self.items.starts),
                          tuple(self.items.ends), ids)


def _lay_out(data: bytes, key: str, opening: bytes, keep: Callable[[Any], Any] | None
             ) -> _LaidOut | None:
    """`data` laid out, member `key` item by item: a list of objects (`opening` '[') or an
    object of objects ('{'), each item where the layout says and proved by decoding it
    (`keep` of each decoded value kept, else all of it), every other member decoded. None
    when the bytes are not of that shape (not UTF-8 included)."""
    view = memoryview(data)
    try:
        members, laid, end = _top_members(data, key, opening, keep)
        if _skip_bytes(data, end) != len(data) or laid is None:
            return None
        member, items = laid
        document = {m.key: None if m is member else orjson.loads(view[m.value.start:m.value.end])
                    for m in members}
    except (SpanError, orjson.JSONDecodeError):
        return None
    return _LaidOut(members, document, items)


def _top_members(data: bytes, key: str, opening: bytes, keep: Callable[[Any], Any] | None
                 ) -> tuple[list[Member], tuple[Member, _Items] | None, int]:
    """`object_members` on bytes from the first non-blank byte: the members, the last
    `key` member with its items (None when that one is not laid out), and the offset after
    the '}'. Every `key` member that opens with `opening` must be laid out (SpanError)."""
    index = _expect_bytes(data, 0, b"{")
    members: list[Member] = []
    laid: tuple[Member, _Items] | None = None
    if data.startswith(b"}", _skip_bytes(data, index)):
        return members, None, _skip_bytes(data, index) + 1
    while True:
        key_start = index = _skip_bytes(data, index)
        name, index = _name_at(data, index)
        index = _skip_bytes(data, _expect_bytes(data, index, b":"))
        value_start = index
        items = None
        if name == key and data.startswith(opening, index):
            items = _blocks(data, index, keep)
            if items is None:
                raise SpanError(f"'{key}' is not laid out one item per block")
            index = items.end
        else:
            index = _value_end_bytes(data, index)
        members.append(Member(name, key_start, Span(value_start, index)))
        if name == key:
            laid = None if items is None else (members[-1], items)
        index = _skip_bytes(data, index)
        if data.startswith(b",", index):
            index += 1
            continue
        return members, laid, _expect_bytes(data, index, b"}")


def _blocks(data: bytes, start: int, keep: Callable[[Any], Any] | None) -> _Items | None:
    """The items of the list or object opening at `data[start]`, by their layout."""
    if data.startswith(b"[", start):
        return _items_by_blocks(data, start, keep)
    return _bodies_by_blocks(data, start, keep)


def _items_by_blocks(data: bytes, start: int, keep: Callable[[Any], Any] | None
                     ) -> _Items | None:
    """`items_by_layout` on bytes: the objects of the list opening at `data[start]`, when
    every item ends at the first `\\n<indent>}` after its start and decoding proves it,
    and each next item starts on a line of its own at that indent; else None."""
    index = _skip_bytes(data, start + 1)
    indent = _indent_before(data, index)
    if indent is None or not data.startswith(b"{", index):
        return None
    closing, view, items = b"\n" + indent + b"}", memoryview(data), _Items()
    while True:
        end = _take_block(data, view, index, closing, items, keep)
        found = None if end is None else _after_item(data, end, b"]", items)
        if found is None:
            return None
        if items.end:
            return items
        index = found
        if not data.startswith(b"{", index) or \
                data.rfind(b"\n", 0, index) + 1 + len(indent) != index:
            return None


def _bodies_by_blocks(data: bytes, start: int, keep: Callable[[Any], Any] | None
                      ) -> _Items | None:
    """The names and bodies of the object opening at `data[start]`, whose every value is an
    object, when each body ends at the first `\\n<indent>}` (its name's indent) after it
    and decoding proves it; else None (a value not an object: the reader reports it)."""
    index = _skip_bytes(data, start + 1)
    items, view = _Items(), memoryview(data)
    if data.startswith(b"}", index):
        items.end = index + 1
        return items
    indent = _indent_before(data, index)
    if indent is None or not data.startswith(b'"', index):
        return None
    closing = b"\n" + indent + b"}"
    while True:
        try:
            name, index = _name_at(data, index)
            index = _skip_bytes(data, _expect_bytes(data, index, b":"))
        except SpanError:
            return None
        end = _take_block(data, view, index, closing, items, keep)
        if end is None:
            return None
        items.names.append(name)
        found = _after_item(data, end, b"}", items)
        if found is None:
            return None
        if items.end:
            return items
        index = found


def _take_block(data: bytes, view: memoryview, index: int, closing: bytes, items: _Items,
                keep: Callable[[Any], Any] | None) -> int | None:
    """The object opening at `data[index]`, taken to end at the first `closing` and proved
    by decoding exactly that span, added to `items` (`keep` of its value); the offset
    after it, or None (not an object there, or not proved)."""
    end = data.find(closing, index)
    if end < 0 or not data.startswith(b"{", index):
        return None
    end += len(closing)
    try:
        value = orjson.loads(view[index:end])
    except orjson.JSONDecodeError:
        return None
    items.starts.append(index)
    items.ends.append(end)
    items.values.append(value if keep is None else keep(value))
    return end


def _after_item(data: bytes, end: int, close: bytes, items: _Items) -> int | None:
    """Past an item ending at `end`: where the next one starts (after its comma), or, when
    `close` ends the container, `items.end` set past it (and returned); None when neither
    follows."""
    index = _skip_bytes(data, end)
    if data.startswith(close, index):
        items.end = index + 1
        return items.end
    if not data.startswith(b",", index):
        return None
    return _skip_bytes(data, index + 1)


def _skip_bytes(data: bytes, index: int) -> int:
    blank = _BLANK.match(data, index)
    assert blank is not None  # (it matches the empty run too)
    return blank.end()


def _expect_bytes(data: bytes, index: int, char: bytes) -> int:
    index = _skip_bytes(data, index)
    if not data.startswith(char, index):
        raise SpanError(f"expected {char.decode()!r} at byte {index}")
    return index + 1


def _indent_before(data: bytes, index: int) -> bytes | None:
    """The blanks between the line start and `data[index]`; None when something else is
    on that line before it (or it is on the first line)."""
    line_start = data.rfind(b"\n", 0, index) + 1
    indent = data[line_start:index]
    return None if line_start == 0 or indent.strip() else indent


def _name_at(data: bytes, index: int) -> tuple[str, int]:
    """The string at `data[index]` (a member's or a policy's name) decoded as the stdlib's
    scanner decodes it (a lone surrogate's escape too, as the text's scan took it), and the
    offset after it; SpanError when there is none."""
    quoted = _QUOTED.match(data, index)
    if quoted is None:
        raise SpanError(f"object key expected at byte {index}")
    try:
        return str(_DECODER.decode(quoted.group().decode("utf-8"))), quoted.end()
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SpanError(str(error)) from error


def _value_end_bytes(data: bytes, index: int) -> int:
    """Where the value at `data[index]` ends: the stdlib's scanner (as `_value_end`) run on
    a window of the bytes from there, decoded, and grown until the value ends inside it. A
    header member is a few bytes; only a member that is not one costs more."""
    size = _WINDOW
    while True:
        final = index + size >= len(data)
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(
                data[index:index + size], final)  # (a character cut at the window's end waits)
            end = int(_DECODER.raw_decode(text)[1])
            if end < len(text) or final:  # (a number at the window's end may go on)
                return index + len(text[:end].encode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            if final or isinstance(error, (UnicodeDecodeError, RecursionError)):
                raise SpanError(str(error)) from error
        size *= 8


def _keys_as_orjson(found: _LaidOut) -> bool:
    """Would orjson take every key? The stdlib's scanner, which decoded them, takes a lone
    surrogate (then not UTF-8); orjson refuses the file."""
    try:
        "".join([*(m.key for m in found.members), *found.items.names]).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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



_CHUNK = 1 << 16


def common_prefix(a: bytes, b: bytes) -> int:
    """How many leading bytes `a` and `b` share: chunks compared (bytes slices compare by
    memcmp; memoryviews item by item, ten times slower), then halved."""
    limit, at = min(len(a), len(b)), 0
    step = _CHUNK
    while step:
        while at + step <= limit and a[at:at + step] == b[at:at + step]:
            at += step
        step //= 2
    return at


def common_suffix(a: bytes, b: bytes, limit: int) -> int:
    """How many trailing bytes `a` and `b` share, at most `limit`."""
    end_a, end_b, at = len(a), len(b), 0
    step = _CHUNK
    while step:
        while at + step <= limit and a[end_a - at - step:end_a - at] == \
                b[end_b - at - step:end_b - at]:
            at += step
        step //= 2
    return at


def redecode_list_registry(old: bytes, layout: ListLayout, values: list[Any], new: bytes,
                           id_field: str) -> tuple[list[Any], ListLayout] | None:
    """The entry list of `new`, a rewrite of `old` (whose layout and decoded items are
    known), decoding only the items in the bytes that differ: an editor's or a script's
    change of one entry in a 28 MB registry costs what that entry costs. The items before
    the first differing byte and after the last are `old`'s, moved; the ones between are
    found and decoded again. None when the difference reaches beyond the entry list (a
    header changed) or the new items there cannot be proved (then decode the file whole)."""
    if len(values) != len(layout.starts):
        return None
    entry_list = layout.entry_list
    opening, closing = entry_list.value.start + 1, entry_list.value.end - 1  # after '[', at ']'
    prefix = common_prefix(old, new)
    if prefix == len(old) == len(new):
        return values, layout
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    old_end, delta = len(old) - suffix, len(new) - len(old)
    if prefix < opening or old_end > closing:
        return None
    first = bisect.bisect_right(layout.ends, prefix)  # items wholly before the change
    last = bisect.bisect_left(layout.starts, old_end)  # items from here on: wholly after it
    region_start = layout.ends[first - 1] if first else opening
    region_end = (layout.starts[last] if last < len(layout.starts) else closing) + delta
    found = _region_items(new, region_start, region_end, leading=first > 0,
                          trailing=last < len(layout.starts))
    if found is None:
        return None
    spans, decoded = found
    try:  # as deep as orjson writes, no deeper (the whole-file read checks the same)
        orjson.dumps(decoded)
    except TypeError:
        return None
    ids = tuple(id_of(value, id_field) for value in decoded)
    members = tuple(
        m if m.value.end <= prefix
        else Member(m.key, m.key_start, Span(m.value.start, m.value.end + delta))
        if m.value.start < prefix
        else Member(m.key, m.key_start + delta, Span(m.value.start + delta,
                                                     m.value.end + delta))
        for m in layout.members)
    return (values[:first] + decoded + values[last:], ListLayout(
        members, layout.list_key,
        layout.starts[:first] + tuple(s for s, _ in spans)
        + tuple(offset + delta for offset in layout.starts[last:]),
        layout.ends[:first] + tuple(e for _, e in spans)
        + tuple(offset + delta for offset in layout.ends[last:]),
        layout.ids[:first] + ids + layout.ids[last:]))


def _region_items(data: bytes, start: int, end: int, *, leading: bool, trailing: bool
                  ) -> tuple[list[tuple[int, int]], list[Any]] | None:
    """The items in `data[start:end]`, a stretch of a list between two kept items (or a
    bracket): a ',' first when an item precedes it, a ',' last when one follows. Byte spans
    and values (decoded by orjson, as a whole-file read would)."""
    try:
        text = data[start:end].decode("utf-8")
        index = _skip(text, 0)
        if leading:
            if not text.startswith(",", index):
                return None if trailing or _skip(text, index) != len(text) else ([], [])
            index = _skip(text, index + 1)
        spans: list[tuple[int, int]] = []
        values: list[Any] = []
        while index < len(text):
            item_end = _value_end(text, index)
            values.append(orjson.loads(text[index:item_end]))
            spans.append((index, item_end))
            index = _skip(text, item_end)
            if index < len(text):
                if text[index] != ",":
                    return None
                index = _skip(text, index + 1)
                if index == len(text) and not trailing:
                    return None  # a trailing comma before ']'
            elif trailing:
                return None  # the kept item after this stretch needs a ',' before it
    except (UnicodeDecodeError, SpanError, orjson.JSONDecodeError):
        return None
    if leading and not spans and not trailing:
        return None
    if len(text) != end - start:  # not ASCII: character offsets become byte offsets
        spans = [(len(text[:s].encode("utf-8")), len(text[:e].encode("utf-8")))
                 for s, e in spans]
    return [(start + s, start + e) for s, e in spans], values
