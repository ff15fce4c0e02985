"""`jsonedit.edit`: a changed JSON value is written in place; what did not change keeps its
bytes (inline lists, spacing, key order are the author's)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.store import jsonedit

TEXT = """{
      "connector_id": "gw",
      "tags": ["claims", "guidewire"],
      "scaling": {"qps": 25, "burst": 50},
      "retry": {
        "max": 3
      }
    }"""


def edited(change: Any) -> str:
    entry = json.loads(TEXT)
    change(entry)
    return jsonedit.edit(TEXT, entry, "    ")


def test_a_changed_value_is_the_only_change() -> None:
    out = edited(lambda e: e["retry"].update(max=4))
    assert out == TEXT.replace('"max": 3', '"max": 4')


def test_an_inline_object_keeps_its_line() -> None:
    out = edited(lambda e: e["scaling"].update(qps=30))
    assert out == TEXT.replace('"qps": 25', '"qps": 30')


def test_a_grown_inline_list_stays_inline() -> None:
    out = edited(lambda e: e["tags"].append("west"))
    assert out == TEXT.replace('"guidewire"]', '"guidewire", "west"]')


def test_an_added_key_goes_last_at_the_entry_indent() -> None:
    out = edited(lambda e: e.update(timeout_ms=5000))
    assert json.loads(out)["timeout_ms"] == 5000
    assert out.splitlines()[-2] == '      "timeout_ms": 5000'
    assert '"tags": ["claims", "guidewire"]' in out


def test_a_removed_key_leaves_the_others_as_they_were() -> None:
    out = edited(lambda e: e.pop("scaling"))
    assert "scaling" not in out
    assert '"tags": ["claims", "guidewire"]' in out and json.loads(out)["retry"] == {"max": 3}


def test_reordered_keys_are_written_anew() -> None:
    entry = json.loads(TEXT)
    reordered = {"tags": entry["tags"], **{k: v for k, v in entry.items() if k != "tags"}}
    out = jsonedit.edit(TEXT, reordered, "    ")
    assert list(json.loads(out)) == list(reordered)


SCALARS = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=5)
JSON = st.recursive(SCALARS,
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_the_result_always_reads_back_as_the_new_value(old: Any, new: Any) -> None:
    for text in (json.dumps(old), json.dumps(old, indent=2)):
        out = jsonedit.edit(text, new)
        assert json.loads(out) == new
        assert jsonedit.same(json.loads(out), new)


@pytest.mark.parametrize("text", ["{}", "[]", '{"a": 1, "a": 2}', "not json"])
def test_odd_inputs_are_written_anew(text: str) -> None:
    assert json.loads(jsonedit.edit(text, {"b": [1]})) == {"b": [1]}
