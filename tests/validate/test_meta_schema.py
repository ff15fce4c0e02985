"""The fast Draft 7 meta-check agrees with `jsonschema.Draft7Validator.check_schema`."""

from __future__ import annotations

from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.validate import schema

KEYWORDS = ["type", "properties", "items", "required", "enum", "minimum", "maxLength",
            "pattern", "additionalProperties", "allOf", "anyOf", "oneOf", "not", "if", "then",
            "else", "dependencies", "definitions", "patternProperties", "contains",
            "propertyNames", "additionalItems", "format", "const", "$ref", "uniqueItems"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["string", "object", "array", "integer", "strin", "(", "a", "#", ""]))


def schemas() -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.sampled_from(KEYWORDS), children, max_size=4),
            st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2),
        ),
        max_leaves=12,
    )


def reference_says_valid(candidate: Any) -> bool:
    try:
        jsonschema.Draft7Validator.check_schema(candidate)
    except jsonschema.SchemaError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYWORDS), schemas(), max_size=5))
def test_fast_check_matches_jsonschema(candidate: dict[str, Any]) -> None:
    assert (schema.schema_problem(candidate) is None) == reference_says_valid(candidate)


def test_a_known_invalid_nested_schema_is_reported_with_its_path() -> None:
    problem = schema.schema_problem({"properties": {"a": {"type": "strin"}}})
    assert problem is not None
    path, message = problem
    assert path == "properties.a.type"
    assert "strin" in message


def test_the_meta_schema_read_without_jsonschema_is_jsonschemas() -> None:
    """The fast check's meta-schema comes from the file jsonschema reads it from, so a
    small plan need not import jsonschema: it must be the very same document."""
    assert schema._draft7_meta_schema() == jsonschema.Draft7Validator.META_SCHEMA  # noqa: SLF001
