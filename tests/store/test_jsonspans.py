"""The reader's layouts found on a registry's bytes (issue 26): `lay_out_list_registry`,
`decode_list_registry` and the policy map's never decode the file whole, and find what the
scan of the decoded text finds (byte offsets), in any layout, with any text in it."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconciler.store import jsonspans

_BLANKS = " \t\n\r"
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=6), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
# é and emoji (two and four bytes), a line separator, a quote and a backslash, escapes
_TEXT = st.text(st.sampled_from("aé😀\u2028\"\\/\u00e9{}[]\n\t "), max_size=8)
_ENTRIES = st.lists(st.fixed_dictionaries(
    {"agent_id": _TEXT}, optional={"description": _TEXT, "x": _VALUES}), max_size=5)
_LAYOUTS = st.sampled_from([None, 0, 1, 2, 4, "\t", " \t"])


def _dumped(document: dict[str, Any], indent: int | str | None, ascii_only: bool,
            crlf: bool, escaped: bool, duplicate: bool = False) -> bytes:
    """`document` as json.dump writes it; with CRLF line endings, with keys spelled with
    escapes (the reader's keys are the decoded ones), or (`duplicate`) after an earlier
    entry list laid out one item per block (the reader decodes the last one)."""
    text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
    if duplicate:
        text = text.replace("{", '{"agents": [\n  {"agent_id": "dup"\n  }\n], ', 1)
    if escaped:
        text = text.replace('"agent_id"', '"agent\\u005fid"', 2).replace(
            '"_comment"', '"_\\u0063omment"')
    if crlf:
        text = text.replace("\n", "\r\n")  # (json.dumps writes a newline in a string as \n)
    return text.encode()


def _by_text(data: bytes, list_key: str, id_field: str
             ) -> tuple[dict[str, Any], jsonspans.ListLayout] | None:
    """The reader's one pass as it was before it worked on bytes: the text decoded whole,
    its members scanned and the entry list laid out by its blocks, or None."""
    try:
        text = data.decode("utf-8")
        start = len(text) - len(text.lstrip(_BLANKS))
        members, end = jsonspans.object_members(text, start, skip_values=list_key, scan=False)
        document = orjson.loads(data)
    except (UnicodeDecodeError, jsonspans.SpanError, orjson.JSONDecodeError):
        return None
    entry_list = next((m for m in reversed(members) if m.key == list_key), None)
    if text[end:].strip(_BLANKS) or entry_list is None or entry_list.items is None:
        return None
    return document, jsonspans.scan_list_layout(data, list_key, id_field)


@settings(max_examples=400, deadline=None)
@given(entries=_ENTRIES, indent=_LAYOUTS, ascii_only=st.booleans(), crlf=st.booleans(),
       escaped=st.booleans(), duplicate=st.booleans(),
       before=st.dictionaries(st.sampled_from(["version", "_comment", "agents"]), _VALUES,
                              max_size=2),
       after=st.dictionaries(st.sampled_from(["last_updated", "é"]), _VALUES, max_size=2))
def test_a_list_registry_laid_out_on_its_bytes_is_what_the_texts_scan_finds(
        entries: list[dict[str, Any]], indent: int | str | None, ascii_only: bool,
        crlf: bool, escaped: bool, duplicate: bool, before: dict[str, Any],
        after: dict[str, Any]) -> None:
    """Found or declined alike, the same document (order included) and the same layout, its
    offsets bytes: non-ASCII text, escaped keys, CRLF, tabs, header members around the list,
    a second list of the same key (the last one counts)."""
    document = {**before, "agents": entries, **after}
    data = _dumped(document, indent, ascii_only, crlf, escaped, duplicate)
    expected = _by_text(data, "agents", "agent_id")
    found = jsonspans.decode_list_registry(data, "agents", "agent_id")
    assert found == expected
    laid_out = jsonspans.lay_out_list_registry(data, "agents", "agent_id")
    assert laid_out == (None if expected is None else expected[1])
    if found is None:
        return
    assert list(found[0].items()) == list(orjson.loads(data).items())
    layout = found[1]
    for start, end, entry in zip(layout.starts, layout.ends, found[0]["agents"], strict=True):
        assert orjson.loads(data[start:end]) == entry
    for member in layout.members:
        assert data[member.key_start:member.key_start + 1] == b'"'


@given(entries=_ENTRIES.filter(bool), indent=st.sampled_from([2, 4, "\t"]),
       ascii_only=st.booleans(), crlf=st.booleans(), escaped=st.booleans())
def test_a_list_registry_that_json_dump_indents_is_always_laid_out(
        entries: list[dict[str, Any]], indent: int | str, ascii_only: bool, crlf: bool,
        escaped: bool) -> None:
    """(That the property above is not only ever None.)"""
    data = _dumped({"_comment": "é 😀", "agents": entries}, indent, ascii_only, crlf, escaped)
    assume(b"Infinity" not in data)  # json.dumps writes an infinite float so: not JSON
    assert jsonspans.lay_out_list_registry(data, "agents", "agent_id") is not None


@settings(max_examples=300, deadline=None)
@given(policies=st.dictionaries(_TEXT, st.dictionaries(_TEXT, _VALUES, max_size=3)
                                | _VALUES, max_size=4),
       indent=_LAYOUTS, ascii_only=st.booleans(), crlf=st.booleans(), escaped=st.booleans(),
       header=st.dictionaries(st.sampled_from(["version", "_comment", "policies"]), _VALUES,
                              max_size=2))
def test_a_policy_map_laid_out_on_its_bytes_holds_each_policy_where_it_says(
        policies: dict[str, Any], indent: int | str | None, ascii_only: bool, crlf: bool,
        escaped: bool, header: dict[str, Any]) -> None:
    """Each name's byte span holds its policy; found whenever json.dump indents the map and
    every policy is an object with members (an empty one is not its own block), or there is
    none."""
    data = _dumped({**header, "policies": policies}, indent, ascii_only, crlf, escaped)
    try:
        whole = orjson.loads(data)
    except orjson.JSONDecodeError:  # (an integer orjson refuses, or Infinity)
        whole = None
    found = jsonspans.decode_policy_map(data, "policies")
    laid_out = jsonspans.lay_out_policy_map(data, "policies")
    assert laid_out == (None if found is None else found[1])
    if indent != 0:  # (indent 0: each body ends at the first "\n}", a nested one's too)
        blocks = not policies or indent is not None and all(
            isinstance(p, dict) and p for p in policies.values())
        assert (found is not None) is (blocks and whole is not None)
    if found is None:
        return
    document, layout = found
    assert list(document.items()) == list(whole.items())
    assert list(layout.ids) == list(policies)
    for name, start, end in zip(layout.ids, layout.starts, layout.ends, strict=True):
        assert orjson.loads(data[start:end]) == whole["policies"][name]
    for member in layout.members:
        assert orjson.loads(data[member.value.start:member.value.end]) == whole[member.key]


@pytest.mark.parametrize("text", [
    # a nested object closing at the items' indent: the first guess does not decode
    '{"agents": [\n  {"agent_id": "a", "x": {\n  },\n  "y": 1\n  }\n]}',
    # two items on one line, an item on the first line, a compact file, an empty list
    '{"agents": [\n  {"agent_id": "a"\n  }, {"agent_id": "b"\n  }\n]}',
    '{"agents": [{"agent_id": "a"\n}\n]}',
    '{"agents":[{"agent_id":"a"}]}',
    '{\n  "agents": []\n}',
    # not an object, or something after it; a header member orjson refuses (NaN), a
    # lone surrogate in an item, the last "agents" not a list
    '[\n  {"agent_id": "a"\n  }\n]',
    '{"agents": [\n  {"agent_id": "a"\n  }\n]} x',
    '{"version": NaN, "agents": [\n  {"agent_id": "a"\n  }\n]}',
    '{"agents": [\n  {"agent_id": "\\ud800"\n  }\n]}',
    '{"agents": [\n  {"agent_id": "a"\n  }\n], "agents": 1}',
])
def test_bytes_not_laid_out_one_item_per_block_are_declined(text: str) -> None:
    data = text.encode()
    assert jsonspans.decode_list_registry(data, "agents", "agent_id") is None
    assert jsonspans.lay_out_list_registry(data, "agents", "agent_id") is None
    assert _by_text(data, "agents", "agent_id") is None


@pytest.mark.parametrize("data", [
    b'\xef\xbb\xbf{"agents": [\n  {"agent_id": "a"\n  }\n]}',  # a byte order mark
    b'{"agents": [\n  {"agent_id": "\xff"\n  }\n]}',  # not UTF-8 in an item
    b'{"_comment": "\xc3", "agents": [\n  {"agent_id": "a"\n  }\n]}',  # in the header
    b'{"agents": [\n  {"agent_id": "a"\n  }\n], "\xed\xa0\x80": 1}',  # an encoded surrogate
])
def test_bytes_that_are_not_utf8_are_declined(data: bytes) -> None:
    assert jsonspans.lay_out_list_registry(data, "agents", "agent_id") is None
    assert _by_text(data, "agents", "agent_id") is None


@pytest.mark.parametrize("data", [
    b'{"p": {\n  "\xff": {"a": 1\n  }\n}}',  # in a name
    b'{"p": {\n  "a": {"a": "\xc3"\n  }\n}}',  # in a body
    b'{"p": {\n  "a": {"a": 1\n  }\n}, "v": "\xe2\x82"}',  # in the header
])
def test_a_policy_map_that_is_not_utf8_is_declined(data: bytes) -> None:
    assert jsonspans.lay_out_policy_map(data, "p") is None
    assert jsonspans.lay_out_policy_map(data.replace(b"\xff", b"b").replace(b'"\xc3"', b"2")
                                        .replace(b'"\xe2\x82"', b"3"), "p") is not None


def test_a_header_member_longer_than_the_first_window_is_found_whole() -> None:
    """A header member's end is found on a window of the bytes that grows: a long
    `_comment` with multi-byte characters across the window's edges, a number at its end."""
    for size in (4095, 4096, 4097, 40_000):
        document = {"_comment": "é" * size, "version": 10 ** 17, "agents": [{"agent_id": "a"}],
                    "after": ["😀" * size, 12345678901234567]}
        data = json.dumps(document, indent=2, ensure_ascii=False).encode()
        found = jsonspans.decode_list_registry(data, "agents", "agent_id")
        assert found is not None and found[0] == document
        assert found == _by_text(data, "agents", "agent_id")


def test_laying_out_does_not_decode_the_file_whole() -> None:
    """What a first plan of 100,000 agents depends on: the 280 MB registry is not held a
    second time as text while its layout is found (nor are its entries kept)."""
    entry = {"description": "é😀 " * 2_000, "capabilities": [{"name": "ü"}] * 3}
    data = json.dumps({"_comment": "ñ", "agents": [
        {"agent_id": f"agent-{n}", **entry} for n in range(500)]}, indent=2,
        ensure_ascii=False).encode()
    tracemalloc.start()
    try:
        layout = jsonspans.lay_out_list_registry(data, "agents", "agent_id")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert layout is not None and len(layout.ids) == 500
    assert peak < len(data) / 10
