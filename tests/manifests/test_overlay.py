"""The two patch forms of an environment's overlay (reconciler/manifests/overlay.py): RFC
7396 merge patches, by the RFC's own examples and by its laws over random JSON, and RFC
6902 operations, all or none, naming the operation that does not apply."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.manifests.overlay import PatchFailed, apply_operations, merge_patch

SCALARS = st.one_of(st.booleans(), st.integers(), st.text(max_size=5),
                    st.floats(allow_nan=False))
KEYS = st.sampled_from(["a", "b", "c", "spec", "base_url"])
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
PATCH_VALUES = st.recursive(st.one_of(SCALARS, st.none()), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
DOCUMENTS = st.dictionaries(KEYS, JSON, max_size=5)
PATCHES = st.dictionaries(KEYS, PATCH_VALUES, max_size=5)

# RFC 7396, Appendix A: (target, patch, result).
RFC_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_EXAMPLES)
def test_the_rfcs_examples(target: Any, patch: Any, result: Any) -> None:
    assert merge_patch(target, patch) == result


def without_nulls(value: Any) -> Any:
    """What a patch value becomes where the target has nothing: its nulls removed."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    return value


@settings(max_examples=300)
@given(DOCUMENTS, PATCHES)
def test_a_patch_has_exactly_its_effect(target: dict[str, Any], patch: dict[str, Any]) -> None:
    before, given_patch = copy.deepcopy(target), copy.deepcopy(patch)
    merged = merge_patch(target, patch)
    assert (target, patch) == (before, given_patch)  # neither argument changes
    for key, value in patch.items():
        if value is None:
            assert key not in merged
        elif isinstance(value, dict):
            assert merged[key] == merge_patch(target.get(key), value)
        else:
            assert merged[key] == value
    for key in target:
        if key not in patch:
            assert merged[key] == target[key]
    # The target's keys keep their order; new ones follow in the patch's.
    order = [key for key in target if key in merged] + [
        key for key in patch if key not in target and key in merged]
    assert list(merged) == order


@settings(max_examples=300)
@given(DOCUMENTS, PATCHES)
def test_patching_twice_is_patching_once(target: dict[str, Any], patch: dict[str, Any]) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


@given(DOCUMENTS)
def test_the_empty_patch_changes_nothing(target: dict[str, Any]) -> None:
    assert merge_patch(target, {}) == target


@given(PATCHES)
def test_a_patch_of_nothing_is_the_patch_without_its_nulls(patch: dict[str, Any]) -> None:
    assert merge_patch({}, patch) == without_nulls(patch)


def test_the_result_shares_nothing_mutable_with_the_patch() -> None:
    patch: dict[str, Any] = {"spec": {"capabilities": ["a"]}}
    merged = merge_patch({}, patch)
    merged["spec"]["capabilities"].append("b")
    assert patch == {"spec": {"capabilities": ["a"]}}


def test_runtime_placeholders_pass_unchanged() -> None:
    merged = merge_patch({"spec": {"base_url": "${GW_BASE_URL}/claims"}},
                         {"spec": {"auth": "${GW_TOKEN}"}})
    assert merged == {"spec": {"base_url": "${GW_BASE_URL}/claims", "auth": "${GW_TOKEN}"}}


def test_operations_edit_a_list_without_restating_it() -> None:
    document = {"spec": {"capabilities": ["intake"], "max_iterations": 5}}
    patched = apply_operations(document, [
        {"op": "add", "path": "/spec/capabilities/-", "value": "triage"},
        {"op": "replace", "path": "/spec/max_iterations", "value": 3},
        {"op": "remove", "path": "/spec/capabilities/0"}])
    assert patched == {"spec": {"capabilities": ["triage"], "max_iterations": 3}}
    assert document == {"spec": {"capabilities": ["intake"], "max_iterations": 5}}


@pytest.mark.parametrize(("operations", "named"), [
    ([{"op": "remove", "path": "/spec/missing"}], "patches[0] (remove /spec/missing)"),
    ([{"op": "add", "path": "/spec/x", "value": 1},
      {"op": "test", "path": "/spec/x", "value": 2}], "patches[1] (test /spec/x)"),
    ([{"op": "add", "path": "/spec/x", "value": 1}, {"path": "/spec"}],
     "patches[1] is not an operation"),
])
def test_an_operation_that_does_not_apply_is_named_and_nothing_changes(
        operations: list[Any], named: str) -> None:
    document: dict[str, Any] = {"spec": {}}
    with pytest.raises(PatchFailed, match=re.escape(named)):
        apply_operations(document, operations)
    assert document == {"spec": {}}
