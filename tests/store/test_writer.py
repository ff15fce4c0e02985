"""The byte-stable writer: a change rewrites only what it changes.

Each test renders new contents for one registry file with `writer.render_files` and compares
the text with the old one. Entries are located in the texts by `raw_entries` below, written
here on its own (not with the module under test), so a misplaced span shows as a failure.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import jsonspans, writer
from reconciler.store.filestore import FileStore, default_info
from reconciler.store.registry_files import files_of
from reconciler.store.writer import FileContent, WriteError
from tests.conftest import FIXTURE_REGISTRIES

NOW = "2030-01-02T03:04:05Z"
OLD_STAMP = '"last_updated": "2025-12-22T10:00:00Z"'
NEW_STAMP = f'"last_updated": "{NOW}"'
_DECODER = json.JSONDecoder()


def fixture_text(relative: str) -> str:
    return (FIXTURE_REGISTRIES / relative).read_text(encoding="utf-8")


def raw_entries(text: str, key: str) -> list[str]:
    """The exact text of each item of the top-level list (or of each `"name": {...}` member
    of the top-level object) `key`, found by decoding from the opening bracket."""
    document = json.loads(text)
    opening = text.index(f'"{key}"')
    index = text.index("[" if isinstance(document[key], list) else "{", opening)
    is_list = text[index] == "["
    index += 1
    found: list[str] = []
    while True:
        while text[index] in " \t\r\n,":
            index += 1
        if text[index] in "]}":
            return found
        start = index
        if not is_list:
            _, index = _DECODER.raw_decode(text, index)  # the member's key
            while text[index] in " \t\r\n:":
                index += 1
        _, index = _DECODER.raw_decode(text, index)
        found.append(text[start:index])


def by_id(text: str, key: str, id_field: str) -> dict[str, str]:
    return {json.loads(raw)[id_field]: raw for raw in raw_entries(text, key)}


def pretty(entry: Any, indent: str) -> str:
    """How upstream's json.dump(indent=2) writes an entry, continued lines shifted."""
    return json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def render(kind: Kind, changes: dict[str, Any],
           files: dict[str, str | None]) -> list[FileContent]:
    return writer.render_files(kind, changes, files.get, NOW)


def render_one(kind: Kind, changes: dict[str, Any], relative: str, text: str | None) -> str:
    contents = render(kind, changes, {relative: text})
    assert [c.relative for c in contents] == [relative]
    assert contents[0].text is not None
    return contents[0].text


def agent(text: str, name: str) -> dict[str, Any]:
    return next(a for a in json.loads(text)["agents"] if a["agent_id"] == name)


# --- list registries (agents, tools, model profiles) ----------------------------------------


def test_an_update_replaces_that_entry_and_the_timestamp_only() -> None:
    old = fixture_text("agent_registry.json")
    entry = copy.deepcopy(agent(old, "fraud_agent"))
    entry["max_iterations"] = 9
    new = render_one(Kind.AGENT, {"fraud_agent": entry}, "agent_registry.json", old)
    original = by_id(old, "agents", "agent_id")["fraud_agent"]
    edited = original.replace('"max_iterations": 5,', '"max_iterations": 9,')
    assert edited != original
    expected = old.replace(original, edited).replace(OLD_STAMP, NEW_STAMP)
    assert new == expected  # the changed value alone: the entry's other bytes are kept
    assert old.count(original) == 1 and old.count(OLD_STAMP) == 1


def test_unchanged_entries_keep_their_exact_text_and_order() -> None:
    old = fixture_text("agent_registry.json")
    entry = copy.deepcopy(agent(old, "intake_agent"))
    entry["description"] = "Reads claims"
    new = render_one(Kind.AGENT, {"intake_agent": entry}, "agent_registry.json", old)
    before, after = raw_entries(old, "agents"), raw_entries(new, "agents")
    assert [json.loads(r)["agent_id"] for r in after] == [json.loads(r)["agent_id"]
                                                          for r in before]
    changed = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a]
    assert changed == [[json.loads(r)["agent_id"] for r in before].index("intake_agent")]
    # The fixture writes short lists inline ("required": [...]): kept, not re-indented.
    assert '"required": ["status", "evidence_map", "agents_executed"]' in new


def test_a_create_is_appended_at_the_end_in_the_file_indent() -> None:
    old = fixture_text("tool_registry.json")
    entry = {"tool_id": "new_tool", "name": "New", "description": "d", "endpoint": "/x",
             "input_schema": {"type": "object"}}
    new = render_one(Kind.TOOL, {"new_tool": entry}, "tool_registry.json", old)
    last = raw_entries(old, "tools")[-1]
    expected = old.replace(last + "\n  ]", last + ",\n    " + pretty(entry, "    ") + "\n  ]")
    assert new == expected.replace(OLD_STAMP, NEW_STAMP)
    assert [t["tool_id"] for t in json.loads(new)["tools"]][-1] == "new_tool"


def test_a_delete_removes_that_entry_only() -> None:
    old = fixture_text("model_profiles.json")
    new = render_one(Kind.MODEL_PROFILE, {"claude_opus_3": None}, "model_profiles.json", old)
    before = by_id(old, "profiles", "profile_id")
    gone = before.pop("claude_opus_3")
    assert by_id(new, "profiles", "profile_id") == before
    assert new == old.replace(",\n    " + gone, "").replace(OLD_STAMP, NEW_STAMP)


def test_deleting_the_first_and_last_entries_keeps_valid_separators() -> None:
    old = fixture_text("model_profiles.json")
    ids = [p["profile_id"] for p in json.loads(old)["profiles"]]
    new = render_one(Kind.MODEL_PROFILE, {ids[0]: None, ids[-1]: None}, "model_profiles.json",
                     old)
    assert [p["profile_id"] for p in json.loads(new)["profiles"]] == ids[1:-1]
    assert raw_entries(new, "profiles") == raw_entries(old, "profiles")[1:-1]


def test_deleting_every_entry_leaves_an_empty_list_and_the_file_keys() -> None:
    old = fixture_text("model_profiles.json")
    ids = [p["profile_id"] for p in json.loads(old)["profiles"]]
    new = render_one(Kind.MODEL_PROFILE, dict.fromkeys(ids), "model_profiles.json", old)
    data = json.loads(new)
    assert data["profiles"] == []
    assert list(data) == list(json.loads(old))
    assert data["_comment"] == json.loads(old)["_comment"]


def test_file_keys_are_kept_and_only_last_updated_changes() -> None:
    old = fixture_text("agent_registry.json")
    entry = copy.deepcopy(agent(old, "fraud_agent"))
    entry["max_iterations"] = 9
    new = json.loads(render_one(Kind.AGENT, {"fraud_agent": entry}, "agent_registry.json",
                                old))
    before = json.loads(old)
    assert list(new) == list(before) == ["version", "last_updated", "_comment", "agents"]
    assert new["last_updated"] == NOW
    assert {k: v for k, v in new.items() if k not in ("last_updated", "agents")} == {
        k: v for k, v in before.items() if k not in ("last_updated", "agents")}


def test_a_file_without_last_updated_does_not_get_one() -> None:
    old = '{\n  "tools": [\n    {\n      "tool_id": "a"\n    }\n  ]\n}\n'
    new = render_one(Kind.TOOL, {"b": {"tool_id": "b"}}, "tool_registry.json", old)
    assert json.loads(new) == {"tools": [{"tool_id": "a"}, {"tool_id": "b"}]}


def test_entry_comments_and_unknown_keys_survive() -> None:
    data = json.loads(fixture_text("tool_registry.json"))
    data["tools"][0] = {"_comment": "kept", **data["tools"][0], "x_future": [1, {"a": None}]}
    old = json.dumps(data, indent=2)
    second = copy.deepcopy(data["tools"][1])
    second["description"] = "changed"
    new = render_one(Kind.TOOL, {second["tool_id"]: second}, "tool_registry.json", old)
    assert raw_entries(new, "tools")[0] == raw_entries(old, "tools")[0]
    assert json.loads(new)["tools"][0] == data["tools"][0]


def test_writing_an_entry_unchanged_keeps_its_bytes_and_no_change_writes_no_file() -> None:
    old = fixture_text("agent_registry.json")
    same = agent(old, "orchestrator_agent")
    assert render(Kind.AGENT, {"orchestrator_agent": same}, {"agent_registry.json": old}) == []
    other = copy.deepcopy(agent(old, "fraud_agent"))
    other["max_iterations"] = 9
    new = render_one(Kind.AGENT, {"orchestrator_agent": same, "fraud_agent": other},
                     "agent_registry.json", old)
    orchestrator = by_id(old, "agents", "agent_id")["orchestrator_agent"]
    assert by_id(new, "agents", "agent_id")["orchestrator_agent"] == orchestrator
    assert orchestrator != pretty(same, "    ")  # so the bytes kept are not a re-dump


def test_an_entry_without_an_id_survives_a_rewrite_in_place() -> None:
    data = json.loads(fixture_text("agent_registry.json"))
    data["agents"].insert(2, {"name": "no id here", "max_iterations": 3})
    data["agents"].insert(4, "not even an object")
    old = json.dumps(data, indent=2)
    entry = copy.deepcopy(data["agents"][3])
    entry["description"] = "changed"
    new = render_one(Kind.AGENT, {entry["agent_id"]: entry}, "agent_registry.json", old)
    items = json.loads(new)["agents"]
    assert items[2] == {"name": "no id here", "max_iterations": 3}
    assert items[4] == "not even an object"
    assert raw_entries(new, "agents")[2] == raw_entries(old, "agents")[2]
    assert len(items) == len(data["agents"])


def test_a_duplicate_id_the_reader_set_aside_is_kept_untouched() -> None:
    old = json.dumps({"version": "1", "tools": [
        {"tool_id": "a", "name": "first"}, {"tool_id": "b"}, {"tool_id": "a", "name": "dup"}]},
        indent=2)
    new = render_one(Kind.TOOL, {"a": {"tool_id": "a", "name": "changed"}},
                     "tool_registry.json", old)
    assert json.loads(new)["tools"] == [
        {"tool_id": "a", "name": "changed"}, {"tool_id": "b"}, {"tool_id": "a", "name": "dup"}]


def test_an_id_spelled_with_escapes_is_still_found() -> None:
    old = ('{\n  "agents": [\n    {\n      "agent_id": "fraud\\u005fagent",\n'
           '      "max_iterations": 5\n    }\n  ]\n}\n')
    new = render_one(Kind.AGENT, {"fraud_agent": {"agent_id": "fraud_agent",
                                                  "max_iterations": 6}},
                     "agent_registry.json", old)
    assert json.loads(new)["agents"] == [{"agent_id": "fraud_agent", "max_iterations": 6}]


def test_a_compact_file_is_rewritten_correctly() -> None:
    data = json.loads(fixture_text("tool_registry.json"))
    old = json.dumps(data, separators=(",", ":"))
    ids = [t["tool_id"] for t in data["tools"]]
    changed = copy.deepcopy(data["tools"][2])
    changed["name"] = "renamed"
    new = render_one(Kind.TOOL, {ids[2]: changed, ids[0]: None, "z": {"tool_id": "z"}},
                     "tool_registry.json", old)
    expected = [changed if t["tool_id"] == ids[2] else t for t in data["tools"][1:]]
    assert json.loads(new)["tools"] == [*expected, {"tool_id": "z"}]
    kept = raw_entries(old, "tools")
    assert raw_entries(new, "tools")[0] == kept[1]


def test_nested_objects_closing_at_the_entry_indent_are_not_mistaken_for_entries() -> None:
    """A layout guess (the first `\\n<indent>}` ends an entry) would put the new entry inside
    agent a's list, or write into the wrong entry: every item end is found by decoding."""
    old = ('{\n  "version": "1.0.0",\n  "agents": [\n  {"agent_id": "a", "x": [{\n  }, {\n'
           '  }]},\n  {"agent_id": "b"}\n  ]\n}\n')
    new = render_one(Kind.AGENT, {"c": {"agent_id": "c"}}, "agent_registry.json", old)
    assert json.loads(new)["agents"] == [
        {"agent_id": "a", "x": [{}, {}]}, {"agent_id": "b"}, {"agent_id": "c"}]
    old = ('{\n  "agents": [\n    {\n      "agent_id": "a"}],\n      "other": [{\n    }\n'
           '  ]\n}\n')
    new = render_one(Kind.AGENT, {"c": {"agent_id": "c"}}, "agent_registry.json", old)
    assert json.loads(new) == {"agents": [{"agent_id": "a"}, {"agent_id": "c"}],
                               "other": [{}]}
    old = ('{\n  "agents": [\n  {"agent_id": "a", "rules": [{"k": 1\n  }, {\n'
           '    "agent_id": "b", "n": 1\n  }]},\n  {\n    "agent_id": "b", "n": 1\n  }\n  ]\n}\n')
    new = render_one(Kind.AGENT, {"b": {"agent_id": "b", "n": 2}}, "agent_registry.json", old)
    assert json.loads(new)["agents"] == [
        {"agent_id": "a", "rules": [{"k": 1}, {"agent_id": "b", "n": 1}]},
        {"agent_id": "b", "n": 2}]


def test_an_empty_list_gets_entries_one_indent_deeper() -> None:
    old = '{\n  "version": "1.0.0",\n  "tools": []\n}\n'
    new = render_one(Kind.TOOL, {"a": {"tool_id": "a"}}, "tool_registry.json", old)
    assert new == '{\n  "version": "1.0.0",\n  "tools": [\n    {\n      "tool_id": "a"\n' \
                  '    }\n  ]\n}\n'


def test_a_missing_file_is_created_in_upstreams_layout() -> None:
    new = render_one(Kind.TOOL, {"a": {"tool_id": "a"}}, "tool_registry.json", None)
    assert json.loads(new) == {"version": "1.0.0", "last_updated": NOW,
                               "tools": [{"tool_id": "a"}]}
    assert new.endswith("}\n")
    assert render(Kind.TOOL, {"a": None}, {}) == []


@pytest.mark.parametrize("text", ['{"agents": {}}', '{"version": "1"}', '[]', '{"agents": [1,'])
def test_a_file_of_another_shape_is_refused(text: str) -> None:
    with pytest.raises(WriteError):
        render(Kind.AGENT, {"a": {"agent_id": "a"}}, {"agent_registry.json": text})


# --- governance policies (one object member per policy) -------------------------------------


def test_a_policy_update_keeps_every_other_policy_and_its_rule_comments() -> None:
    old = fixture_text("governance_policies.json")
    policies = json.loads(old)["policies"]
    changed = copy.deepcopy(policies["model_usage"])
    changed["enforcement_level"] = "advisory"
    new = render_one(Kind.GOVERNANCE_POLICY, {"model_usage": changed},
                     "governance_policies.json", old)
    before, after = raw_entries(old, "policies"), raw_entries(new, "policies")
    assert [b == a for b, a in zip(before, after, strict=True)] == [
        name != "model_usage" for name in policies]
    assert json.loads(new)["policies"]["model_usage"] == changed
    limits = json.loads(new)["policies"]["iteration_limits"]
    assert limits["agent_overrides"][0]["_comment"] == (
        "Orchestrator needs more iterations as it coordinates multiple agents")
    assert new.count(NEW_STAMP) == 1 and OLD_STAMP not in new


def test_policies_are_added_at_the_end_and_deleted_in_place() -> None:
    old = fixture_text("governance_policies.json")
    names = list(json.loads(old)["policies"])
    body = {"description": "new", "enforcement_level": "strict", "rules": []}
    new = render_one(Kind.GOVERNANCE_POLICY, {"zz_new": body, names[3]: None},
                     "governance_policies.json", old)
    policies = json.loads(new)["policies"]
    assert list(policies) == [*names[:3], *names[4:], "zz_new"]
    assert policies["zz_new"] == body
    kept = raw_entries(old, "policies")
    assert raw_entries(new, "policies")[:-1] == kept[:3] + kept[4:]


def test_a_missing_policy_file_is_created() -> None:
    new = render_one(Kind.GOVERNANCE_POLICY, {"p": {"description": "x"}},
                     "governance_policies.json", None)
    assert json.loads(new) == {"version": "1.0.0", "last_updated": NOW,
                               "policies": {"p": {"description": "x"}}}


# --- workflows (one file each) --------------------------------------------------------------


def test_workflows_are_created_rewritten_and_removed_as_files() -> None:
    old = fixture_text("workflows/claims_triage.json")
    assert not old.endswith("\n")
    changed = json.loads(old)
    changed["mode"] = "autonomous"
    contents = render(Kind.WORKFLOW, {"claims_triage": changed, "new_flow": {
        "workflow_id": "new_flow"}, "gone": None},
        {"workflows/claims_triage.json": old, "workflows/gone.json": "{}"})
    by_path = {c.relative: c.text for c in contents}
    assert by_path["workflows/claims_triage.json"] == json.dumps(changed, indent=2,
                                                                 ensure_ascii=False)
    assert by_path["workflows/new_flow.json"] == '{\n  "workflow_id": "new_flow"\n}\n'
    assert by_path["workflows/gone.json"] is None


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden"])
def test_a_workflow_id_that_is_not_a_file_name_is_refused(name: str) -> None:
    with pytest.raises(WriteError):
        render(Kind.WORKFLOW, {name: {"workflow_id": name}}, {})


# --- jsonspans --------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", ["agent_registry.json", "tool_registry.json",
                                      "model_profiles.json"])
def test_spans_of_the_fixture_match_an_independent_decode(relative: str) -> None:
    text = fixture_text(relative)
    key = {"agent_registry.json": "agents", "tool_registry.json": "tools",
           "model_profiles.json": "profiles"}[relative]
    members, end = jsonspans.object_members(text, 0, skip_values=key)
    assert text[end:].strip() == ""
    assert [m.key for m in members] == list(json.loads(text))
    (listed,) = [m for m in members if m.key == key]
    assert listed.items is not None
    assert [text[s.start:s.end] for s in listed.items] == raw_entries(text, key)
    for member in members:
        assert json.loads(text[member.value.start:member.value.end]) == json.loads(text)[
            member.key]


def test_span_errors_are_reported() -> None:
    with pytest.raises(jsonspans.SpanError):
        jsonspans.object_members('{"a": [1, 2', 0, skip_values="a")
    with pytest.raises(jsonspans.SpanError):
        jsonspans.object_members('{"a" 1}', 0)
    with pytest.raises(jsonspans.SpanError):
        jsonspans.list_items("[1 2]", 0)


def test_the_fixture_layout_is_what_upstream_writes(tmp_path: Path) -> None:
    """Entries the writer creates look like upstream's own (json.dump, indent 2)."""
    entry = {"tool_id": "t", "nested": {"list": [1, 2], "empty": {}}, "text": "é"}
    assert writer.dumps(entry) == json.dumps(entry, indent=2, ensure_ascii=False)
    assert writer.dumps(entry, "    ") == pretty(entry, "    ")


def test_unchanged_workflows_and_policies_write_no_file() -> None:
    flow = fixture_text("workflows/claims_triage.json")
    policies = fixture_text("governance_policies.json")
    assert render(Kind.WORKFLOW, {"claims_triage": json.loads(flow), "absent": None},
                  {"workflows/claims_triage.json": flow}) == []
    same = json.loads(policies)["policies"]["model_usage"]
    assert render(Kind.GOVERNANCE_POLICY, {"model_usage": same, "absent": None},
                  {"governance_policies.json": policies}) == []
    assert render(Kind.TOOL, {"absent": None},
                  {"tool_registry.json": fixture_text("tool_registry.json")}) == []


# --- any mix of changes, against a plain model of the list ------------------------------------

_IDS = [f"a{n}" for n in range(8)]
_LAYOUTS = {"upstream": {"indent": 2}, "compact": {"separators": (",", ":")},
            "wide": {"indent": 4, "separators": (" ,  ", ": ")},
            "utf-8": {"indent": 2, "ensure_ascii": False}}  # offsets in bytes, not characters


@settings(max_examples=300, deadline=None)
@given(present=st.lists(st.sampled_from(_IDS), unique=True, max_size=6),
       changes=st.dictionaries(st.sampled_from(_IDS),
                               st.one_of(st.none(), st.integers(0, 3)), max_size=6),
       layout=st.sampled_from(sorted(_LAYOUTS)),
       escaped=st.booleans(), duplicate=st.booleans())
def test_any_mix_of_changes_gives_what_a_plain_rewrite_would(
        present: list[str], changes: dict[str, int | None], layout: str, escaped: bool,
        duplicate: bool) -> None:
    """Updates, deletes and creates in any combination, in any layout, with ids spelled with
    escapes and a later duplicate the reader sets aside: the result decodes to the plain
    model's list, and every untouched item keeps its exact text."""
    entries: list[dict[str, Any]] = [{"agent_id": name, "n": 9, "note": "é"} for name in present]
    if duplicate and present:
        entries.append({"agent_id": present[0], "n": 99})
    old = json.dumps({"version": "1.0.0", "last_updated": "x", "agents": entries},
                     **_LAYOUTS[layout])  # type: ignore[arg-type]
    if escaped:
        old = old.replace('"agent_id"', '"agent\\u005fid"', 1)
    new_entries = {name: None if n is None else {"agent_id": name, "n": n}
                   for name, n in changes.items()}
    contents = writer.render_files(Kind.AGENT, new_entries, {"agent_registry.json": old}.get, NOW)
    expected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in entries:
        name = entry["agent_id"]
        first = name not in seen
        seen.add(name)
        if first and name in new_entries:
            if new_entries[name] is not None:
                expected.append(new_entries[name])  # type: ignore[arg-type]
            continue
        expected.append(entry)
    expected += [e for name, e in new_entries.items() if e is not None and name not in seen]
    if not contents:  # nothing changed
        assert json.loads(old)["agents"] == expected
        return
    new = contents[0].text
    assert new is not None
    assert json.loads(new)["agents"] == expected
    # the layout it hands back is the layout of the new text, as a full scan finds it
    assert contents[0].layout == jsonspans.scan_list_layout(new.encode(), "agents", "agent_id")
    # and writing again with the old text's layout known gives the same text
    known = jsonspans.scan_list_layout(old.encode(), "agents", "agent_id")
    again = writer.render_files(Kind.AGENT, new_entries, {"agent_registry.json": old}.get, NOW,
                                {"agent_registry.json": known})
    assert again == contents
    untouched = [raw for raw in raw_entries(old, "agents")
                 if json.loads(raw) in expected and json.loads(raw)["agent_id"] not in changes]
    kept = raw_entries(new, "agents")
    assert all(raw in kept for raw in untouched)


# --- the reader's layout: found while decoding, equal to a scan ---------------------------------

_LIST_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 5)
                            | st.text(max_size=4), lambda inner: st.lists(inner, max_size=2)
                            | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                            max_leaves=4)


@given(entries=st.lists(st.fixed_dictionaries({"agent_id": st.text(max_size=4)},
                                              optional={"x": _LIST_VALUES}), max_size=4),
       indent=st.sampled_from([None, 2, 4, "\t"]), ascii_only=st.booleans(),
       header=st.dictionaries(st.sampled_from(["version", "_comment", "agents"]),
                              _LIST_VALUES, max_size=2))
def test_the_layout_found_while_decoding_is_the_scanned_one(
        entries: list[dict[str, Any]], indent: int | str | None, ascii_only: bool,
        header: dict[str, Any]) -> None:
    """`decode_list_registry` (the reader's one pass) gives exactly what decoding the whole
    file gives and the layout a scan finds, or declines."""
    data = json.dumps({**header, "agents": entries}, indent=indent,
                      ensure_ascii=ascii_only).encode()
    found = jsonspans.decode_list_registry(data, "agents", "agent_id")
    if found is None:
        assert indent is None or not entries  # only a file not laid out one item per block
        return
    document, layout = found
    assert document == orjson.loads(data)
    assert layout == jsonspans.scan_list_layout(data, "agents", "agent_id")


def test_a_write_after_a_foreign_edit_uses_the_layout_the_read_found(registries: Path) -> None:
    """The reload after an editor's rewrite found the new layout; the commit splices with it
    (the saved one is of the old bytes) and writes what a scan would have."""
    path = registries / "agent_registry.json"
    document = json.loads(path.read_text())
    document["agents"][0]["description"] = "edited by hand, ü"
    path.write_text(json.dumps(document, indent=4, ensure_ascii=False))
    store = FileStore(registries)
    live = store.snapshot()
    layout = files_of(live).layouts["agent_registry.json"]
    assert layout == jsonspans.scan_list_layout(path.read_bytes(), "agents", "agent_id")
    key = ResourceKey(Kind.AGENT, "fraud_agent")
    entry = {**live.state.of_kind(Kind.AGENT)["fraud_agent"].entry, "max_iterations": 7}
    store.commit({key: entry}, expected=live.fingerprint, known=live,
                 info=default_info("library"))
    after = json.loads(path.read_text())
    assert after["agents"][0]["description"] == "edited by hand, ü"
    assert next(a for a in after["agents"] if a["agent_id"] == "fraud_agent")[
        "max_iterations"] == 7


_ENTRIES = st.lists(st.fixed_dictionaries({"agent_id": st.text(max_size=3)},
                                          optional={"x": _LIST_VALUES}), max_size=5)


@given(before=_ENTRIES, after=_ENTRIES, indent=st.sampled_from([2, 4]),
       ascii_only=st.booleans(), cut=st.integers(0, 5), header=st.booleans())
def test_a_rewrite_decoded_from_what_differs_equals_a_whole_read(
        before: list[dict[str, Any]], after: list[dict[str, Any]], indent: int,
        ascii_only: bool, cut: int, header: bool) -> None:
    """`redecode_list_registry` (the reload of an edited registry, decoding only what
    differs) gives the entries and the layout a whole read gives, or declines."""
    def dumped(entries: list[dict[str, Any]], version: str) -> bytes:
        return json.dumps({"version": version, "agents": entries, "_comment": "c"},
                          indent=indent, ensure_ascii=ascii_only).encode()

    old = dumped(before, "1")
    new_entries = before[:cut] + after + before[cut + 1:]  # items replaced, added, removed
    new = dumped(new_entries, "2" if header else "1")
    decoded = jsonspans.decode_list_registry(old, "agents", "agent_id")
    assert decoded is not None or not before
    if decoded is None:
        return
    document, layout = decoded
    found = jsonspans.redecode_list_registry(old, layout, document["agents"], new, "agent_id")
    if found is None:
        assert header  # only a change beyond the entry list is declined
        return
    values, new_layout = found
    assert values == orjson.loads(new)["agents"]
    assert new_layout == jsonspans.scan_list_layout(new, "agents", "agent_id")
