"""The event reader (`_from_events`) against the reference node-tree reader (`_from_nodes`):
`parse_documents` gives exactly what the reference gives (data with its JSON types and key
order, every recorded line, the problem), whichever reader answers; and the event reader
answers the usual manifests itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.manifests import yamlparse
from reconciler.manifests.loader import find_manifest_files
from reconciler.manifests.yamlparse import MAX_DEPTH, RECORD_DEPTH, parse_documents

ROOT = Path(__file__).resolve().parents[2]


def outcome(found: tuple[list[yamlparse.ParsedDocument], yamlparse.YamlProblem | None]
            ) -> bytes:
    """Everything a reader returns, typed (1, 1.0 and true differ) and in order."""
    documents, problem = found
    return orjson.dumps({
        "documents": [[d.data, d.line, list(d.lines.items())] for d in documents],
        "problem": problem and [problem.code, problem.message, problem.line, problem.hint]})


def assert_same_as_reference(text: str) -> None:
    assert outcome(parse_documents(text)) == outcome(yamlparse._from_nodes(text))


# Scalars the resolver types, or nearly does: each reader must read them the same way.
SCALARS = ["yes", "No", "on", "OFF", "true", "~", "null", "", "0", "00", "017", "08", "0x1F",
           "0b101", "1_000", "1:20", "-3", "+7", "1.5", "1e3", "6.02e+23", ".5", "-.inf",
           ".NaN", "99999999999999999999", "2024-01-31", "2025-12-22T10:00:00Z", "=", "<<",
           "text", "a b", "[0]", "x_schema", "a.b", "0abc", "-", "é", "'q'", "#", "a: b"]
KEYS = ["name", "spec", "steps", "input_schema", "output_schema", "[1]", "a.b", "yes", "1",
        "null", "<<", "x", "y", "_c", "", "deep"]


def values(depth: int) -> st.SearchStrategy[Any]:
    leaf = st.sampled_from(SCALARS) | st.integers(-10**20, 10**20) | st.booleans() \
        | st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    if depth == 0:
        return leaf
    inner = values(depth - 1)
    return leaf | st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values(4), min_size=1, max_size=3), st.sampled_from([None, True, False]),
       st.sampled_from([None, '"', "'", "|"]), st.integers(0, 3))
def test_dumped_documents_read_as_the_reference_reads_them(
        documents: list[Any], flow: bool | None, style: str | None, indent: int) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow, default_style=style,
                              indent=indent + 2, allow_unicode=True, sort_keys=False)
    assert_same_as_reference(text)


FRAGMENTS = ["a: 1\n", "b:\n  - x\n  - y\n", "- 1\n", "{x: [1, 2]}\n", "---\n", "...\n",
             "c: &k v\n", "d: *k\n", "<<: {m: 1}\n", "e: !!str 5\n", "f: !t x\n", "a: 2\n",
             "g: [\n", "  h: 1\n", "i: 'q\n", "j: |\n  lit\n", "k: >\n  fold\n",
             "? [z]\n: 1\n", "yes: no\n", "l: .nan\n", "m: 0x_\n", "n_schema:\n  p: 1\n",
             "\t", "# c\n", "o: 1e999\n", "p: 123456789012345678901234\n", "~\n"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=8))
def test_any_text_reads_as_the_reference_reads_it(parts: list[str]) -> None:
    text = "".join(parts)
    try:
        expected = outcome(yamlparse._from_nodes(text))
    except ValueError:  # (libyaml's int for '0x_': both readers raise the same)
        with pytest.raises(ValueError):
            parse_documents(text)
        return
    assert outcome(parse_documents(text)) == expected


def nested(depth: int, sequence: bool) -> str:
    """A mapping `depth` levels deep with keys (or list items) at every level."""
    lines, indent = [], ""
    for level in range(depth):
        if sequence and level % 2:
            lines.append(f"{indent}- k{level}: {level}")
            indent += "  "
        else:
            lines.append(f"{indent}k{level}: {level}")
            lines.append(f"{indent}n{level}:")
        indent += "  "
    lines.append(f"{indent}leaf: [1, {{a: b}}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("depth", [RECORD_DEPTH - 1, RECORD_DEPTH, RECORD_DEPTH + 2,
                                   MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
@pytest.mark.parametrize("sequence", [False, True])
def test_lines_past_the_recorded_depth_and_the_nesting_limit(depth: int,
                                                             sequence: bool) -> None:
    assert_same_as_reference(nested(depth, sequence))


def test_flow_nesting_at_the_limit() -> None:
    for depth in (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2):
        assert_same_as_reference("x: " + "[" * depth + "]" * depth + "\n")
        assert_same_as_reference("[" * depth + "1" + "]" * depth + "\n")


def test_the_example_manifests_are_read_by_the_event_reader() -> None:
    """The fast path is the one taken for real manifests, and gives the reference's data."""
    files = find_manifest_files([ROOT / "manifests"])
    assert len(files) > 20
    for file in files:
        text = file.read_text(encoding="utf-8")
        read = yamlparse._from_events(text)  # raises if it left the file to the reference
        assert outcome((read, None)) == outcome(yamlparse._from_nodes(text)), file


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "a: *x\n", "<<: {m: 1}\nn: 2\n",
                                  "a: !!str 1\n", "a: 1\na: 2\n", "1: a\n", "a: [1\n"])
def test_what_the_event_reader_leaves_to_the_reference(text: str) -> None:
    if yamlparse._ANCHOR.search(text) is None:
        with pytest.raises(Exception):  # noqa: B017 - any: parse_documents then asks the reference
            yamlparse._from_events(text)
    assert_same_as_reference(text)
