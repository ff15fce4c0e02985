"""The live registry reader: exact entries, and every damaged file or entry reported (L001-L006)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler import engine
from reconciler.errors import Severity
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store.registry_files import files_of, read_live_state
from tests.conftest import FIXTURE_REGISTRIES, beyond_fixture, by_code, codes, only, write


def dump(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def test_the_fixture_reads_with_no_diagnostics() -> None:
    live = read_live_state(FIXTURE_REGISTRIES)
    assert live.diagnostics == []
    assert live.unkeyed == {}
    assert {k.value: n for k, n in live.state.counts().items()} == {
        "ModelProfile": 6, "Tool": 6, "Agent": 7, "Workflow": 1, "GovernancePolicy": 9}
    assert beyond_fixture(engine.validate_live(live)) == []


def test_entries_keep_every_key_and_their_order() -> None:
    live = read_live_state(FIXTURE_REGISTRIES)
    raw = json.loads((FIXTURE_REGISTRIES / "agent_registry.json").read_text())
    assert [r.name for r in live.state.of_kind(Kind.AGENT).values()] == [
        a["agent_id"] for a in raw["agents"]]
    for entry in raw["agents"]:
        resource = live.state.get(ResourceKey(Kind.AGENT, entry["agent_id"]))
        assert resource is not None
        assert resource.entry == entry
        assert list(resource.entry) == list(entry)
    policies = json.loads((FIXTURE_REGISTRIES / "governance_policies.json").read_text())
    assert list(live.state.of_kind(Kind.GOVERNANCE_POLICY)) == list(policies["policies"])
    limits = live.state.get(ResourceKey(Kind.GOVERNANCE_POLICY, "iteration_limits"))
    assert limits is not None
    assert limits.entry == policies["policies"]["iteration_limits"]
    assert "_comment" in limits.entry["agent_overrides"][0]


def test_file_level_keys_are_kept_as_headers() -> None:
    live = read_live_state(FIXTURE_REGISTRIES)
    assert list(live.headers[Kind.AGENT]) == ["version", "last_updated", "_comment"]
    assert live.headers[Kind.TOOL] == {"version": "1.0.0", "last_updated": "2025-12-22T10:00:00Z"}
    assert "policies" not in live.headers[Kind.GOVERNANCE_POLICY]


def test_unknown_keys_are_kept(registries: Path) -> None:
    path = registries / "tool_registry.json"
    data = json.loads(path.read_text())
    data["tools"][0] = {"zzz_first": 1, **data["tools"][0], "x_future": {"a": [1]}}
    dump(path, data)
    live = read_live_state(registries)
    tool = live.state.get(ResourceKey(Kind.TOOL, data["tools"][0]["tool_id"]))
    assert tool is not None
    assert list(tool.entry) == list(data["tools"][0])
    assert tool.entry["x_future"] == {"a": [1]}


def test_missing_registry_files_read_as_empty(tmp_path: Path) -> None:
    live = read_live_state(tmp_path / "nothing-here")
    assert live.diagnostics == []
    assert len(live.state) == 0
    (tmp_path / "partial").mkdir()
    dump(tmp_path / "partial" / "model_profiles.json", {"profiles": []})
    partial = read_live_state(tmp_path / "partial")
    assert partial.diagnostics == [] and len(partial.state) == 0
    assert list(files_of(partial).file_digests) == ["model_profiles.json"]


def test_invalid_json_is_l001_with_its_line(registries: Path) -> None:
    path = write(registries / "tool_registry.json",
                 '{\n  "tools": [\n    {"tool_id": "a",}\n  ]\n}\n')
    live = read_live_state(registries)
    diagnostic = only(live.diagnostics, "L001")
    assert (diagnostic.file, diagnostic.line) == (str(path), 3)
    assert diagnostic.severity is Severity.ERROR
    assert "invalid JSON" in diagnostic.message
    assert live.state.of_kind(Kind.TOOL) == {}


def test_a_file_that_is_not_utf8_is_l001(registries: Path) -> None:
    (registries / "model_profiles.json").write_bytes(b'{"profiles": ["\xff"]}')
    assert "L001" in codes(read_live_state(registries).diagnostics)


def test_wrong_shapes_are_l002(registries: Path) -> None:
    dump(registries / "agent_registry.json", [{"agent_id": "a"}])
    dump(registries / "tool_registry.json", {"tools": {"t": {}}})
    dump(registries / "governance_policies.json", {"policies": []})
    live = read_live_state(registries)
    found = by_code(live.diagnostics, "L002")
    assert sorted(Path(d.file or "").name for d in found) == [
        "agent_registry.json", "governance_policies.json", "tool_registry.json"]
    agents = next(d for d in found if "agent" in (d.file or ""))
    assert "'agents'" in agents.message and "list" in agents.message
    assert agents.hint is not None and '"agents": [...]' in agents.hint
    assert live.state.of_kind(Kind.AGENT) == {}


def test_entries_without_ids_are_kept_in_unkeyed_and_reported(registries: Path) -> None:
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    nameless = {"name": "No id", "model_profile_id": "default_gpt35"}
    data["agents"] += [nameless, "not an object", {"agent_id": 7}]
    dump(path, data)
    live = read_live_state(registries)
    found = by_code(live.diagnostics, "L003")
    assert [d.message for d in found] == [
        "entry agents[7] has no string 'agent_id'",
        "entry agents[8] is not an object",
        "entry agents[9] has no string 'agent_id'",
    ]
    assert all(d.file == str(path) and d.is_error for d in found)
    assert live.unkeyed == {"agent_registry.json": [nameless, "not an object", {"agent_id": 7}]}
    assert len(live.state.of_kind(Kind.AGENT)) == 7


def test_workflows_and_policies_without_ids_are_l003(registries: Path) -> None:
    dump(registries / "workflows" / "nameless.json", {"name": "no id"})
    path = registries / "governance_policies.json"
    data = json.loads(path.read_text())
    data["policies"]["broken"] = ["not", "an", "object"]
    dump(path, data)
    live = read_live_state(registries)
    messages = [d.message for d in by_code(live.diagnostics, "L003")]
    assert "workflow file has no string 'workflow_id'" in messages
    assert "policy 'broken' is not an object" in messages
    assert live.unkeyed["workflows/nameless.json"] == [{"name": "no id"}]
    assert live.unkeyed["governance_policies.json"] == [{"broken": ["not", "an", "object"]}]


def test_duplicate_ids_are_l004_and_the_first_is_used(registries: Path) -> None:
    path = registries / "model_profiles.json"
    data = json.loads(path.read_text())
    copy = {**data["profiles"][0], "name": "second copy"}
    data["profiles"].append(copy)
    dump(path, data)
    live = read_live_state(registries)
    diagnostic = only(live.diagnostics, "L004")
    name = copy["profile_id"]
    assert diagnostic.resource == f"model-profile/{name}"
    assert "appears twice" in diagnostic.message
    resource = live.state.get(ResourceKey(Kind.MODEL_PROFILE, name))
    assert resource is not None and resource.entry["name"] != "second copy"
    assert live.unkeyed == {"model_profiles.json": [copy]}


def test_a_workflow_file_named_unlike_its_id_is_l005(registries: Path) -> None:
    source = registries / "workflows" / "claims_triage.json"
    source.rename(registries / "workflows" / "triage.json")
    live = read_live_state(registries)
    diagnostic = only(live.diagnostics, "L005")
    assert diagnostic.file == str(registries / "workflows" / "triage.json")
    assert "differs from its workflow_id 'claims_triage'" in diagnostic.message
    assert diagnostic.hint == "rename the file to claims_triage.json"
    assert ResourceKey(Kind.WORKFLOW, "claims_triage") in live.state  # still read


def test_an_unreadable_registry_file_is_l006(registries: Path) -> None:
    (registries / "tool_registry.json").unlink()
    (registries / "tool_registry.json").mkdir()  # a folder where the file should be
    live = read_live_state(registries)
    diagnostic = only(live.diagnostics, "L006")
    assert diagnostic.file == str(registries / "tool_registry.json")
    assert live.state.of_kind(Kind.TOOL) == {}


def test_invalid_entries_are_reported_by_validation_not_dropped(registries: Path) -> None:
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    data["agents"][1]["max_iterations"] = 500
    data["agents"][1]["allowed_tools"].append("ghost_tool")
    del data["agents"][2]["name"]
    dump(path, data)
    live = read_live_state(registries)
    assert live.diagnostics == []
    assert len(live.state.of_kind(Kind.AGENT)) == 7
    found = beyond_fixture(engine.validate_live(live))
    assert {(d.code, d.resource) for d in found} == {
        ("S003", f"agent/{data['agents'][1]['agent_id']}"),
        ("R002", f"agent/{data['agents'][1]['agent_id']}"),
        ("S001", f"agent/{data['agents'][2]['agent_id']}"),
        ("L007", f"agent/{data['agents'][2]['agent_id']}"),  # the runtime skips it
    }
    assert all(d.file == str(path) for d in found)


def test_the_fingerprint_follows_the_bytes(registries: Path) -> None:
    before = read_live_state(registries).fingerprint
    assert read_live_state(registries).fingerprint == before
    path = registries / "tool_registry.json"
    path.write_text(path.read_text() + "\n")
    assert read_live_state(registries).fingerprint != before
