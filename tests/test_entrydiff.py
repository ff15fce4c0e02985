"""`model.entrydiff` on its own: the one field diff (the planner's, `meshctl diff`'s and
`meshctl compare`'s), noise that is no change, and the shortcut that spares deepdiff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model import entrydiff
from reconciler.model.entrydiff import FieldChange, FieldOp, differences, field_changes
from reconciler.model.kinds import Kind

AGENT = {"agent_id": "a", "name": "A", "description": "d", "model_profile_id": "m"}


@pytest.mark.parametrize(("before", "after"), [
    ({"x": {"a": 1, "b": [1, 2.5]}}, {"x": {"b": [1.0, 2.5], "a": 1.0}}),
    ({}, {"allowed_agents": [], "allowed_tools": [], "input_schema": None}),
    ({"last_updated": "a"}, {"last_updated": "b"}),
    ({"input_schema": None}, {}),
])
def test_noise_is_no_field_change(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert field_changes(Kind.AGENT, {**AGENT, **before}, {**AGENT, **after}) == []


@pytest.mark.parametrize(("before", "after", "expected"), [
    ({"x": {"a": True}}, {"x": {"a": 1}}, [FieldChange("x.a", FieldOp.CHANGE, True, 1)]),
    ({"x": [False]}, {"x": [0]}, [FieldChange("x[0]", FieldOp.CHANGE, False, 0)]),
    ({"x": 0.1}, {"x": 0.1000000000001},  # no rounding to some number of digits
     [FieldChange("x", FieldOp.CHANGE, 0.1, 0.1000000000001)]),
    ({"x": [1.0, 2]}, {"x": [1, 2.5]}, [FieldChange("x[1]", FieldOp.CHANGE, 2, 2.5)]),
    ({"x": [1, 2, 3]}, {"x": [1, 3]}, [FieldChange("x[1]", FieldOp.REMOVE, 2, None)]),
    ({"x": ["a", "b", "X"]}, {"x": ["c", "a", "b", "Y"]},
     [FieldChange("x[0]", FieldOp.ADD, None, "c"), FieldChange("x[2]", FieldOp.CHANGE, "X", "Y")]),
    ({"x": "s"}, {"x": [1]}, [FieldChange("x", FieldOp.CHANGE, "s", [1])]),
    ({"x": {"a": 1}}, {}, [FieldChange("x", FieldOp.REMOVE, {"a": 1}, None)]),
    # A field the runtime requires is never filled in on comparison (the desired side is
    # completed before, so this is a live entry that lacks it: the change repairs it).
    ({}, {"max_iterations": 10}, [FieldChange("max_iterations", FieldOp.ADD, None, 10)]),
])
def test_field_changes(before: dict[str, Any], after: dict[str, Any],
                       expected: list[FieldChange]) -> None:
    assert field_changes(Kind.AGENT, {**AGENT, **before}, {**AGENT, **after}) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "y", "z"]), json_values, max_size=3))
def test_an_entry_equals_itself_reordered_and_with_integral_floats_as_ints(
        extra: dict[str, Any]) -> None:
    def ints(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: ints(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [ints(v) for v in value]
        return value

    entry = {**AGENT, **extra}
    assert field_changes(Kind.AGENT, entry, ints(entry)) == []


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "y", "z"]), json_values, min_size=1, max_size=3),
       st.dictionaries(st.sampled_from(["x", "y", "z"]), json_values, min_size=1, max_size=3))
def test_entries_that_differ_as_json_always_have_a_field_change(
        one: dict[str, Any], other: dict[str, Any]) -> None:
    def canonical(value: Any) -> str:
        def norm(v: Any) -> Any:
            if isinstance(v, float) and v.is_integer():
                return int(v)
            if isinstance(v, dict):
                return {k: norm(x) for k, x in v.items()}
            if isinstance(v, list):
                return [norm(x) for x in v]
            return v
        return json.dumps(norm(value), sort_keys=True)

    before, after = {**AGENT, **one}, {**AGENT, **other}
    differ = canonical(before) != canonical(after)
    assert bool(field_changes(Kind.AGENT, before, after)) == differ


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "y", "z", "max_iterations"]), json_values,
                       max_size=4),
       st.dictionaries(st.sampled_from(["x", "y", "z", "max_iterations"]), json_values,
                       max_size=4))
def test_the_top_level_shortcut_says_what_deepdiff_says(one: dict[str, Any],
                                                        other: dict[str, Any]) -> None:
    """Plain values changed and whole fields added or removed are listed without deepdiff;
    whenever the shortcut answers, deepdiff would have answered the same."""
    old = entrydiff.essence(Kind.AGENT, {**AGENT, **one})
    new = entrydiff.essence(Kind.AGENT, {**AGENT, **other})
    flat = entrydiff._top_level_changes(old, new)
    if flat is not None:
        assert flat == entrydiff._deep_changes(old, new)


def test_the_shortcut_leaves_changes_inside_lists_and_objects_to_deepdiff() -> None:
    old = entrydiff.essence(Kind.AGENT, {**AGENT, "allowed_tools": ["a"], "max_iterations": 3})
    new = entrydiff.essence(Kind.AGENT, {**AGENT, "allowed_tools": ["b"], "max_iterations": 4})
    assert entrydiff._top_level_changes(old, new) is None
    assert entrydiff._top_level_changes({"x": 1}, {"x": 2, "y": [1]}) == [
        FieldChange("x", FieldOp.CHANGE, 1, 2), FieldChange("y", FieldOp.ADD, None, [1])]


def test_differences_takes_mappings_as_they_are() -> None:
    """Labels and annotations: no defaults filled in, `last_updated` not special."""
    assert differences({"tier": "dev"}, {"tier": "dev"}) == []
    assert differences({"tier": "dev", "last_updated": "a"}, {"owner": "claims"}) == [
        FieldChange("last_updated", FieldOp.REMOVE, "a", None),
        FieldChange("owner", FieldOp.ADD, None, "claims"),
        FieldChange("tier", FieldOp.REMOVE, "dev", None)]
    assert field_changes(Kind.AGENT, {**AGENT, "input_schema": None}, AGENT) == []
    assert differences({**AGENT, "input_schema": None}, AGENT) == [
        FieldChange("input_schema", FieldOp.REMOVE, None, None)]



def test_a_changed_item_that_moved_says_where_it_is_now() -> None:
    [added, changed] = differences({"x": ["a", "b", "X"]}, {"x": ["c", "a", "b", "Y"]})
    assert (added.path_in_new, changed.path, changed.path_in_new) == ("x[0]", "x[2]", "x[3]")
    assert changed == FieldChange("x[2]", FieldOp.CHANGE, "X", "Y")  # it only locates


def test_equal_values_are_shared_and_nothing_else_is() -> None:
    """The desired entry takes the live entry's value objects where they are the same JSON
    (a watch loop then holds them once); a value that differs by order, type or number
    kind stays its own, and so do keys the other entry lacks."""
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    live = {"agent_id": "a", "name": "A", "input_schema": schema, "tools": ["x", "y"],
            "reordered": {"b": 1, "a": 2}, "number": [1.0], "flag": [True]}
    desired = {"agent_id": "a", "name": "A", "input_schema": json.loads(json.dumps(schema)),
               "tools": ["x", "y"], "reordered": {"a": 2, "b": 1}, "number": [1],
               "flag": [1], "only_here": {"k": "v"}}
    before = json.dumps(desired)
    entrydiff.share_equal_values(desired, live)
    assert json.dumps(desired) == before  # the same data, key order included
    assert desired["input_schema"] is schema and desired["tools"] is live["tools"]
    assert desired["name"] is live["name"]
    for kept in ("reordered", "number", "flag", "only_here"):
        assert desired[kept] is not live.get(kept)
