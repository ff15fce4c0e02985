"""YAML text -> data with line marks, and what the parser refuses (M001, M003, M004, M006)."""

from __future__ import annotations

import pytest

from reconciler.manifests.yamlparse import MAX_DEPTH, parse_documents
from tests.conftest import dedent


def parse_one(text: str) -> tuple[object, dict[str, int]]:
    documents, problem = parse_documents(dedent(text))
    assert problem is None, problem.message if problem else None
    assert len(documents) == 1
    return documents[0].data, documents[0].lines


def problem_of(text: str) -> tuple[str, int | None, str]:
    _, problem = parse_documents(dedent(text))
    assert problem is not None, "expected the parser to refuse this text"
    return problem.code, problem.line, problem.message


def test_data_keeps_key_order_and_json_types() -> None:
    data, _ = parse_one("""
        zeta: 1
        alpha: 2.5
        mid: [true, false, null, text]
        _comment: kept
        """)
    assert data == {"zeta": 1, "alpha": 2.5, "mid": [True, False, None, "text"],
                    "_comment": "kept"}
    assert isinstance(data, dict)
    assert list(data) == ["zeta", "alpha", "mid", "_comment"]


def test_every_field_and_list_item_has_its_line() -> None:
    _, lines = parse_one("""
        spec:
          allowed_tools:
          - fraud_rules
          - similarity
          steps:
          - step_id: a
            context_compilation:
              include_prior_outputs: [x, y]
        """)
    assert lines["spec"] == 1
    assert lines["spec.allowed_tools"] == 2
    assert lines["spec.allowed_tools[0]"] == 3
    assert lines["spec.allowed_tools[1]"] == 4
    assert lines["spec.steps[0]"] == 6
    assert lines["spec.steps[0].step_id"] == 6
    assert lines["spec.steps[0].context_compilation.include_prior_outputs[1]"] == 8


def test_json_schema_bodies_record_only_their_own_line() -> None:
    _, lines = parse_one("""
        spec:
          input_schema:
            type: object
            properties:
              a: {type: string}
        """)
    assert lines["spec.input_schema"] == 2
    assert not any(path.startswith("spec.input_schema.") for path in lines)


def test_timestamps_stay_as_written_text() -> None:
    data, _ = parse_one("""
        created: 2024-01-31
        updated: 2025-12-22T10:00:00Z
        """)
    assert data == {"created": "2024-01-31", "updated": "2025-12-22T10:00:00Z"}


def test_merge_keys_merge_earlier_sources_first() -> None:
    data, _ = parse_one("""
        base: &base {k: 1, j: 2}
        other:
          <<: *base
          j: 3
        """)
    assert data == {"base": {"k": 1, "j": 2}, "other": {"k": 1, "j": 3}}


def test_multiple_documents_and_empty_ones_skipped() -> None:
    documents, problem = parse_documents(dedent("""
        ---
        ---
        # only a comment
        ---
        a: 1
        ---
        ~
        ---
        b: 2
        """))
    assert problem is None
    assert [d.data for d in documents] == [{"a": 1}, {"b": 2}]
    assert [d.line for d in documents] == [5, 9]


def test_syntax_error_is_m001_with_its_line() -> None:
    code, line, message = problem_of("""
        a: 1
        b: [1, 2
        c: 3
        """)
    assert code == "M001"
    assert line is not None and line >= 2
    assert "YAML syntax error" in message


def test_documents_before_a_problem_are_kept() -> None:
    documents, problem = parse_documents("a: 1\n---\nb: [\n")
    assert [d.data for d in documents] == [{"a": 1}]
    assert problem is not None and problem.code == "M001"


def test_duplicate_key_is_m003_naming_both_lines() -> None:
    code, line, message = problem_of("""
        spec:
          name: first
          description: x
          name: second
        """)
    assert code == "M003"
    assert line == 4
    assert "duplicate key 'name'" in message
    assert "first defined on line 2" in message


def test_duplicate_key_in_a_nested_mapping() -> None:
    code, line, _ = problem_of("""
        steps:
        - step_id: a
          agent_id: x
          step_id: b
        """)
    assert (code, line) == ("M003", 4)


def test_billion_laughs_is_refused_quickly_as_m004() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    code, _, message = problem_of("\n".join(lines) + "\n")
    assert code == "M004"
    assert "alias" in message


def test_modest_alias_reuse_is_fine() -> None:
    data, _ = parse_one("""
        shared: &s {type: string}
        a: *s
        b: *s
        """)
    assert data == {"shared": {"type": "string"}, "a": {"type": "string"},
                    "b": {"type": "string"}}


@pytest.mark.parametrize(("text", "fragment"), [
    ("x: !!python/object/apply:os.system ['true']\n", "unsupported YAML tag"),
    ("x: !!binary aGVsbG8=\n", "unsupported YAML tag"),
    ("x: !custom text\n", "unsupported YAML tag"),
    ("x: !!python/object:os.system {}\n", "unsupported YAML tag"),
    ("x: !!set {a: null}\n", "unsupported YAML tag"),
    ("x: !custom [1, 2]\n", "unsupported YAML tag"),
    ("x: .nan\n", "not a finite number"),
    ("x: -.inf\n", "not a finite number"),
    ("x: 99999999999999999999\n", "does not fit in 64 bits"),
    ("x: 0b_\n", "has no digits"),  # YAML 1.1's int pattern admits it: int() crashed
    ("x: -0x_\n", "has no digits"),
    ("1: one\n", "registry keys are strings"),
    ("yes: 1\n", "read as bool"),
    ("null: 1\n", "registry keys are strings"),
    ("? [a, b]\n: 1\n", "plain string"),
])
def test_values_json_cannot_hold_are_m006(text: str, fragment: str) -> None:
    code, line, message = problem_of(text)
    assert code == "M006"
    assert line == 1
    assert fragment in message


def test_nesting_deeper_than_the_limit_is_m006() -> None:
    depth = MAX_DEPTH + 5
    code, _, message = problem_of("x: " + "[" * depth + "]" * depth + "\n")
    assert code == "M006"
    assert "nested deeper" in message


def test_quoted_values_stay_text() -> None:
    data, _ = parse_one("""
        'yes': 'no'
        '1': '99999999999999999999'
        nan: '.nan'
        """)
    assert data == {"yes": "no", "1": "99999999999999999999", "nan": ".nan"}


@pytest.mark.parametrize("value", ["!!set {a: null}", "!!omap [{a: 1}]", "!custom {type: object}",
                                   "{properties: !!python/object:os.system {}}"])
def test_tags_inside_a_json_schema_are_refused_too(value: str) -> None:
    code, line, message = problem_of(f"spec:\n  name: x\n  input_schema: {value}\n")
    assert (code, line) == ("M006", 3)
    assert "unsupported YAML tag" in message


def test_a_duplicate_key_inside_a_json_schema_is_m003() -> None:
    code, line, message = problem_of("""
        spec:
          input_schema:
            type: object
            required: [a]
            type: array
        """)
    assert (code, line) == ("M003", 5)
    assert "first defined on line 3" in message


def test_an_alias_bomb_inside_a_json_schema_is_m004() -> None:
    lines = ["spec:", "  input_schema:", "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"    a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    code, _, _ = problem_of("\n".join(lines) + "\n")
    assert code == "M004"


def test_schema_bodies_keep_their_data_exactly() -> None:
    data, _ = parse_one("""
        input_schema:
          type: object
          required: [a]
          properties:
            a: {type: string, default: '1.0', enum: [x, 'yes', 3, 2.5, null, true]}
        """)
    assert data == {"input_schema": {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string", "default": "1.0", "enum": ["x", "yes", 3, 2.5, None, True]}}}}
