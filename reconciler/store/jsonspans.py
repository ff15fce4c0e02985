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

import bisect
import json
from collections.abc import Callable
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
    items: tuple[Span, ...] | None = None  # for the skipped list (or map): its items' values
    values: tuple[Any, ...] | None = None  # and their decoded values, when proved by decoding
    names: tuple[str, ...] | None = None  # for the skipped map: each item's name


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
                   scan: bool = True, skip_map: str | None = None,
                   keep: Callable[[Any], Any] | None = None) -> tuple[list[Member], int]:
    """Members of the object opening at `text[start]` ('{'), and the offset after its '}'.

    The value of member `skip_values` (the big entry list) also gets the span of each of its
    items: from its layout when decoding proves it, else from `list_items` (unless not
    `scan`: then SpanError, for a caller that would rather decode the file whole). The
    value of member `skip_map` (an object of objects: governance's policies) gets each
    item's name and value span from its layout when decoding proves it (else SpanError).
    `keep`: what of each decoded item (or body) to keep in `values` (else all of it)."""
    index = _expect(text, start, "{")
    members: list[Member] = []
    index = _skip(text, index)
    if index < len(text) and text[index] == "}":
        return members, index + 1
    while True:
        index = _skip(text, index)
        key_start = index
        names: tuple[str, ...] | None = None
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
            proved = items_by_layout(text, index, keep)
            if proved is not None:
                spans, decoded, index = proved
                items, values = tuple(spans), tuple(decoded)
            elif scan:
                found, index = list_items(text, index)
                items = tuple(found)
            else:
                raise SpanError("the entry list is not laid out one item per block")
        elif key == skip_map and index < len(text) and text[index] == "{":
            mapped = bodies_by_layout(text, index, keep)
            if mapped is None:
                raise SpanError("the map is not laid out one object per block")
            found_names, spans, decoded, index = mapped
            names, items, values = tuple(found_names), tuple(spans), tuple(decoded)
        else:
            index = _value_end(text, index)
        members.append(Member(key, key_start, Span(value_start, index), items, values, names))
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


def items_by_layout(text: str, start: int, keep: Callable[[Any], Any] | None = None
                    ) -> tuple[list[Span], list[Any], int] | None:
    """Spans and values of the objects in the list opening at `text[start]`, and the offset
    after its ']', when every item's end is where the layout says and decoding proves it;
    else None (use `list_items`). `keep`: what of each value to return (else all of it)."""
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
        values.append(value if keep is None else keep(value))
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


def bodies_by_layout(text: str, start: int, keep: Callable[[Any], Any] | None = None
                     ) -> tuple[list[str], list[Span], list[Any], int] | None:
    """Names, value spans and decoded values of the object opening at `text[start]`, whose
    every value is an object, and the offset after its '}', when each value ends where the
    layout says (the first `\n<indent>}` at its name's indent) and decoding proves it; else
    None. (A span that stops short is an unclosed object and does not decode.)"""
    index = _skip(text, _expect(text, start, "{"))
    if text.startswith("}", index):
        return [], [], [], index + 1
    line_start = text.rfind("\n", 0, index) + 1
    indent = text[line_start:index]
    if line_start == 0 or indent.strip() or not text.startswith('"', index):
        return None
    closing = "\n" + indent + "}"
    names: list[str] = []
    spans: list[Span] = []
    values: list[Any] = []
    while True:
        try:
            name, index = _DECODER.raw_decode(text, index)
            index = _skip(text, _expect(text, index, ":"))
        except (json.JSONDecodeError, SpanError):
            return None
        end = text.find(closing, index)
        if not isinstance(name, str) or not text.startswith("{", index) or end < 0:
            return None  # (a value not an object: the reader reports it)
        end += len(closing)
        try:
            value = orjson.loads(text[index:end])
        except orjson.JSONDecodeError:
            return None
        values.append(value if keep is None else keep(value))
        names.append(name)
        spans.append(Span(index, end))
        index = _skip(text, end)
        if text.startswith("}", index):
            return names, spans, values, index + 1
        if not text.startswith(",", index):
            return None
        index = _skip(text, index + 1)


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
    """A list registry decoded together with its layout, in one pass: the entry list's items
    are decoded one by one where the layout says they are (`items_by_layout`, whose proof is
    the decoding itself), the other top-level members as they are. What `orjson.loads(data)`
    gives, plus where everything is, so a write after a foreign edit need not scan the file
    again. None when the file is not of that shape (then decode it whole)."""
    found = _laid_out_list(data, list_key, None)
    if found is None:
        return None
    text, members, entry_list, document = found
    assert entry_list.values is not None
    document[list_key] = list(entry_list.values)
    ids = tuple(id_of(value, id_field) for value in entry_list.values)
    return document, _list_layout(data, text, members, entry_list, list_key, ids)


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

    found = _laid_out_list(data, list_key, keep)
    if found is None:
        return None
    text, members, entry_list, _ = found
    assert entry_list.values is not None
    return _list_layout(data, text, members, entry_list, list_key, entry_list.values)


def _laid_out_list(data: bytes, list_key: str, keep: Callable[[Any], Any] | None
                   ) -> tuple[str, list[Member], Member, dict[str, Any]] | None:
    """The text, its members, the entry list (its items laid out, `keep` of each decoded)
    and the other members decoded (the entry list's key placed, not filled); None when the
    file is not of that shape."""
    try:
        text = data.decode("utf-8")
        members, end = object_members(text, _skip(text, 0), skip_values=list_key, scan=False,
                                      keep=keep)
        if _skip(text, end) != len(text):
            return None
        entry_list = next((m for m in reversed(members) if m.key == list_key), None)
        if entry_list is None or entry_list.items is None or entry_list.values is None:
            return None
        document: dict[str, Any] = {}
        for member in members:
            document[member.key] = None if member is entry_list else \
                orjson.loads(text[member.value.start:member.value.end])
    except (UnicodeDecodeError, SpanError, orjson.JSONDecodeError):
        return None
    return text, members, entry_list, document


def _list_layout(data: bytes, text: str, members: list[Member], entry_list: Member,
                 list_key: str, ids: tuple[Any, ...]) -> ListLayout:
    assert entry_list.items is not None
    bare = tuple(Member(m.key, m.key_start, m.value) for m in members)
    layout = ListLayout(bare, list_key, tuple(span.start for span in entry_list.items),
                        tuple(span.end for span in entry_list.items), ids)
    return layout if len(text) == len(data) else _in_bytes(text, layout)


def decode_policy_map(data: bytes, map_key: str) -> tuple[dict[str, Any], ListLayout] | None:
    """A policy-map registry (governance: `{"version": ..., "policies": {"<name>": {...}}}`)
    decoded together with its layout, in one pass: each body decoded alone where the layout
    says it is (`bodies_by_layout`), the other members as they are. What `orjson.loads(data)`
    gives, plus where each body is (a `ListLayout` whose ids are the names), so that a
    plan's snapshot can decode the few policies it reads. None when the file is not of that
    shape (then decode it whole)."""
    found = _laid_out_map(data, map_key, None)
    if found is None:
        return None
    text, members, mapped = found
    try:
        document = _map_document(text, members)
    except orjson.JSONDecodeError:
        return None
    return document, _map_layout(data, text, members, mapped, map_key)


def lay_out_policy_map(data: bytes, map_key: str) -> ListLayout | None:
    """The layout `decode_policy_map` finds (each body proved by decoding it), no body
    kept: for bytes decoded whole already."""
    found = _laid_out_map(data, map_key, lambda _: None)
    if found is None:
        return None
    text, members, mapped = found
    try:
        for member in members:
            if member is not mapped:
                orjson.loads(text[member.value.start:member.value.end])
    except orjson.JSONDecodeError:
        return None
    return _map_layout(data, text, members, mapped, map_key)


def _laid_out_map(data: bytes, map_key: str, keep: Callable[[Any], Any] | None
                  ) -> tuple[str, list[Member], Member] | None:
    """The text, its members and the map (its bodies laid out, `keep` of each decoded);
    None when the file is not of that shape."""
    try:
        text = data.decode("utf-8")
        members, end = object_members(text, _skip(text, 0), skip_map=map_key, keep=keep)
    except (UnicodeDecodeError, SpanError):
        return None
    mapped = next((m for m in reversed(members) if m.key == map_key), None)
    if _skip(text, end) != len(text) or mapped is None or mapped.names is None \
            or mapped.items is None or not _keys_as_orjson(members, mapped.names):
        return None
    return text, members, mapped


def _map_layout(data: bytes, text: str, members: list[Member], mapped: Member,
                map_key: str) -> ListLayout:
    assert mapped.items is not None and mapped.names is not None
    bare = tuple(Member(m.key, m.key_start, m.value) for m in members)
    layout = ListLayout(bare, map_key, tuple(span.start for span in mapped.items),
                        tuple(span.end for span in mapped.items), mapped.names)
    return layout if len(text) == len(data) else _in_bytes(text, layout)


def _keys_as_orjson(members: list[Member], names: tuple[str, ...]) -> bool:
    """Would orjson take every key? The stdlib's scanner, which found them, takes a lone
    surrogate (then not UTF-8); orjson refuses the file."""
    try:
        "".join([*(m.key for m in members), *names]).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _map_document(text: str, members: list[Member]) -> dict[str, Any]:
    """The document of `members`, the map's from its decoded bodies: a repeated key takes
    its first place and its last value, as orjson's dict does."""
    document: dict[str, Any] = {}
    for member in members:
        document[member.key] = dict(zip(member.names, member.values, strict=True)) \
            if member.names is not None and member.values is not None else \
            orjson.loads(text[member.value.start:member.value.end])
    return document


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
