"""RegistryManager against the example registries: every read method, every write method
through the engine (rules, commit, history), each rejection's message, and that a rejected
write changes nothing, in memory or on disk."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import (
    AgentMetadata,
    ChangeRejected,
    GovernancePolicies,
    ModelProfile,
    RegistryManager,
    ToolMetadata,
    WorkflowDefinition,
)
from reconciler.model.kinds import Kind
from reconciler.store import history
from reconciler.store.registry_files import read_live_state
from tests.conftest import files_state


def raw(registries: Path, name: str) -> Any:
    return json.loads((registries / name).read_text())


@pytest.fixture
def manager(registries: Path) -> Iterator[RegistryManager]:
    with RegistryManager(registries, watch=False) as found:
        found.load_all()
        yield found


def agent_entry(registries: Path, name: str) -> dict[str, Any]:
    return next(a for a in raw(registries, "agent_registry.json")["agents"]
                if a["agent_id"] == name)


def new_agent(registries: Path, name: str, **fields: Any) -> AgentMetadata:
    base = agent_entry(registries, "severity_agent")
    return AgentMetadata.model_validate({**base, "agent_id": name, **fields})


# --- reads ------------------------------------------------------------------------------------


def test_every_read_method_serves_the_files(registries: Path,
                                            manager: RegistryManager) -> None:
    agents = raw(registries, "agent_registry.json")["agents"]
    tools = raw(registries, "tool_registry.json")["tools"]
    profiles = raw(registries, "model_profiles.json")["profiles"]
    fraud = manager.get_agent("fraud_agent")
    assert isinstance(fraud, AgentMetadata)
    assert fraud.model_dump(exclude_unset=True) == agent_entry(registries, "fraud_agent")
    assert manager.get_agent("nobody") is None
    assert [a.agent_id for a in manager.list_agents()] == [a["agent_id"] for a in agents]
    capability = agents[3]["capabilities"][0]
    assert [a.agent_id for a in manager.list_agents(capability=capability)] == [
        a["agent_id"] for a in agents if capability in a["capabilities"]]
    orchestrator = agent_entry(registries, "orchestrator_agent")
    assert [a.agent_id for a in manager.get_agents_for_orchestrator()] == [
        name for name in orchestrator["allowed_agents"] if name != "orchestrator_agent"
        and any(a["agent_id"] == name for a in agents)]
    tool = manager.get_tool("fraud_rules")
    assert isinstance(tool, ToolMetadata) and tool.tool_id == "fraud_rules"
    assert [t.tool_id for t in manager.get_tools_for_agent("fraud_agent")] == [
        "fraud_rules", "similarity"]
    assert manager.get_tools_for_agent("nobody") == []
    assert [t.tool_id for t in manager.list_tools()] == [t["tool_id"] for t in tools]
    tag = tools[1]["lineage_tags"][0]
    assert [t.tool_id for t in manager.list_tools(tag=tag)] == [
        t["tool_id"] for t in tools if tag in t["lineage_tags"]]
    profile = manager.get_model_profile("gpt4")
    assert isinstance(profile, ModelProfile) and profile.model_name == "gpt-4"
    assert [p.profile_id for p in manager.list_model_profiles()] == [
        p["profile_id"] for p in profiles]
    flow = manager.get_workflow("claims_triage")
    assert isinstance(flow, WorkflowDefinition)
    assert flow.required_agents == raw(registries, "workflows/claims_triage.json")[
        "required_agents"]
    assert [w.workflow_id for w in manager.list_workflows()] == ["claims_triage"]
    policies = manager.get_governance_policies()
    assert isinstance(policies, GovernancePolicies)
    assert policies.version == raw(registries, "governance_policies.json")["version"]
    assert set(policies.policies) == set(raw(registries, "governance_policies.json")["policies"])


def test_governance_decisions_follow_the_rules(manager: RegistryManager) -> None:
    assert manager.is_agent_invocation_allowed("orchestrator_agent", "fraud_agent")
    assert not manager.is_agent_invocation_allowed("orchestrator_agent", "orchestrator_agent")
    assert not manager.is_agent_invocation_allowed("fraud_agent", "intake_agent")  # no rule
    assert manager.is_tool_access_allowed("intake_agent", "schema_validator")
    assert not manager.is_tool_access_allowed("intake_agent", "fraud_rules")  # denied
    assert not manager.is_tool_access_allowed("intake_agent", "unlisted_tool")


def test_without_governance_everything_is_allowed(registries: Path) -> None:
    (registries / "governance_policies.json").unlink()
    with RegistryManager(registries, watch=False) as manager:
        manager.load_all()
        assert manager.get_governance_policies() is None
        assert manager.is_agent_invocation_allowed("a", "b")
        assert manager.is_tool_access_allowed("a", "t")


def test_stats_count_and_say_when(manager: RegistryManager) -> None:
    stats = manager.stats()
    assert stats["counts"] == {"agents": 7, "tools": 6, "models": 6, "workflows": 1,
                               "governance_policies": 9}
    assert stats["load_count"] == 1 and stats["loaded_at"] and stats["last_error"] is None
    assert stats["revision"] == 0
    assert manager.get_stats() == stats


def test_get_agent_returns_one_object_until_a_change(manager: RegistryManager) -> None:
    assert manager.get_agent("fraud_agent") is manager.get_agent("fraud_agent")


# --- writes -----------------------------------------------------------------------------------


def test_create_update_delete_every_kind(registries: Path, manager: RegistryManager) -> None:
    manager.create_agent(new_agent(registries, "triage_agent"))
    assert manager.get_agent("triage_agent") is not None
    changed = manager.get_agent("triage_agent").model_copy(  # type: ignore[union-attr]
        update={"max_iterations": 9})
    manager.update_agent("triage_agent", changed)
    assert manager.get_agent("triage_agent").max_iterations == 9  # type: ignore[union-attr]
    tool = raw(registries, "tool_registry.json")["tools"][0]
    manager.create_tool({**tool, "tool_id": "ocr", "name": "OCR"})
    manager.update_tool("ocr", {**tool, "tool_id": "ocr", "name": "OCR v2"})
    profile = raw(registries, "model_profiles.json")["profiles"][0]
    manager.create_model_profile({**profile, "profile_id": "small"})
    manager.update_model_profile("small", {**profile, "profile_id": "small",
                                           "timeout_seconds": 60})
    flow = raw(registries, "workflows/claims_triage.json")
    manager.create_workflow({**flow, "workflow_id": "second"})
    manager.update_workflow("second", {**flow, "workflow_id": "second", "name": "Second"})
    on_disk = read_live_state(registries)

    def entry_of(kind: str, name: str) -> dict[str, Any]:
        resource = on_disk.state.get(key(kind, name))
        assert resource is not None
        return resource.entry

    assert entry_of("Agent", "triage_agent")["max_iterations"] == 9
    assert entry_of("Tool", "ocr")["name"] == "OCR v2"
    assert entry_of("ModelProfile", "small")["timeout_seconds"] == 60
    assert (registries / "workflows" / "second.json").exists()
    assert manager.get_workflow("second").name == "Second"  # type: ignore[union-attr]
    deletes: tuple[Callable[[], None], ...] = (
        lambda: manager.delete_workflow("second"),
        lambda: manager.delete_agent("triage_agent"),
        lambda: manager.delete_tool("ocr"),
        lambda: manager.delete_model_profile("small"))
    for delete in deletes:
        delete()
    assert not (registries / "workflows" / "second.json").exists()
    assert manager.get_agent("triage_agent") is None and manager.get_tool("ocr") is None
    assert read_live_state(registries).fingerprint == manager.stats()["fingerprint"]
    records = [history.load(registries / ".meshctl", n)
               for n in history.numbers(registries / ".meshctl")]
    assert len(records) == 12 and {r["source"] for r in records} == {"library"}
    assert manager.stats()["revision"] == 12


def test_governance_update_replaces_the_policies(registries: Path,
                                                 manager: RegistryManager) -> None:
    current = manager.get_governance_policies()
    assert current is not None
    document = current.model_dump(mode="json", exclude_unset=True)
    # The access policies stay what the mesh needs (every agent the orchestrator and the
    # workflow run, every tool an agent lists, granted: A001-A003); the change is a grant
    # no agent asks for yet, and one policy left out.
    rules = document["policies"]["agent_tool_access"]["rules"]
    severity = next(rule for rule in rules if rule["agent_id"] == "severity_agent")
    assert not manager.is_tool_access_allowed("severity_agent", "schema_validator")
    severity["allowed_tools"].append("schema_validator")
    del document["policies"]["context_filtering"]
    manager.update_governance_policies(document)
    assert manager.is_tool_access_allowed("severity_agent", "schema_validator")
    on_disk = raw(registries, "governance_policies.json")
    assert "context_filtering" not in on_disk["policies"]
    assert on_disk["version"] == document["version"]
    assert "schema_validator" in next(
        rule for rule in on_disk["policies"]["agent_tool_access"]["rules"]
        if rule["agent_id"] == "severity_agent")["allowed_tools"]
    # A revocation takes effect too (made on a fresh copy of the document).
    document = copy.deepcopy(document)
    next(rule for rule in document["policies"]["agent_tool_access"]["rules"]
         if rule["agent_id"] == "severity_agent")["allowed_tools"].remove("schema_validator")
    manager.update_governance_policies(document)
    assert not manager.is_tool_access_allowed("severity_agent", "schema_validator")


def test_an_update_keeps_the_entrys_key_order_and_unknown_keys(
        registries: Path, manager: RegistryManager) -> None:
    path = registries / "agent_registry.json"
    data = json.loads(path.read_text())
    data["agents"][3] = {"_comment": "kept", **data["agents"][3], "x_future": {"a": 1}}
    path.write_text(json.dumps(data, indent=2))
    manager.load_all()
    agent = manager.get_agent("fraud_agent")
    assert agent is not None
    manager.update_agent("fraud_agent", agent.model_copy(update={"max_iterations": 8}))
    entry = agent_entry(registries, "fraud_agent")
    assert list(entry) == list(data["agents"][3])
    assert entry["_comment"] == "kept" and entry["x_future"] == {"a": 1}
    assert entry["max_iterations"] == 8


# --- rejections -------------------------------------------------------------------------------


def rejected(registries: Path, manager: RegistryManager, write: Any) -> str:
    """Run `write`, expecting a ValueError; check nothing changed anywhere; its message."""
    before = files_state(registries)
    stats = manager.stats()
    with pytest.raises(ValueError) as caught:
        write()
    assert isinstance(caught.value, ChangeRejected)
    assert files_state(registries) == before
    assert manager.stats()["fingerprint"] == stats["fingerprint"]
    assert manager.stats()["revision"] == stats["revision"]
    return str(caught.value)


def test_each_rejection_says_what_and_what_to_do(registries: Path,
                                                 manager: RegistryManager) -> None:
    def message(write: Any) -> str:
        return rejected(registries, manager, write)

    assert message(lambda: manager.create_agent(new_agent(registries, "fraud_agent"))) == (
        "Agent 'fraud_agent' already exists; update it instead")
    unknown_model = message(lambda: manager.create_agent(
        new_agent(registries, "a1", model_profile_id="gpt-4")))
    assert "unknown model profile 'gpt-4' in model_profile_id" in unknown_model
    assert "did you mean 'gpt4'?" in unknown_model and "available:" in unknown_model
    unknown_tool = message(lambda: manager.create_agent(
        new_agent(registries, "a2", allowed_tools=["fraud_rule"])))
    assert "unknown tool 'fraud_rule' in allowed_tools[0]" in unknown_tool
    assert "did you mean 'fraud_rules'?" in unknown_tool
    tool = raw(registries, "tool_registry.json")["tools"][0]
    bad_schema = message(lambda: manager.create_tool(
        {**tool, "tool_id": "t9", "input_schema": {"type": "objekt"}}))
    assert "input_schema" in bad_schema and "objekt" in bad_schema
    assert message(lambda: manager.delete_tool("fraud_rules")).startswith(
        "Cannot delete tool 'fraud_rules': used by agents fraud_agent")
    assert "used by agents" in message(lambda: manager.delete_model_profile("default_gpt35"))
    in_workflow = message(lambda: manager.delete_agent("intake_agent"))
    assert "workflows claims_triage" in in_workflow and "orchestrator_agent" in in_workflow
    assert message(lambda: manager.delete_agent("orchestrator_agent")) == (
        "Cannot delete agent 'orchestrator_agent': the orchestrator can be updated, never "
        "deleted")
    mismatch = message(lambda: manager.update_agent(
        "fraud_agent", new_agent(registries, "coverage_agent")))
    assert mismatch.startswith("Agent ID mismatch: 'fraud_agent' != 'coverage_agent'")
    missing = message(lambda: manager.update_agent("fraud_agnet",
                                                   new_agent(registries, "fraud_agnet")))
    assert missing.startswith("Agent 'fraud_agnet' not found; did you mean 'fraud_agent'?")
    flow = raw(registries, "workflows/claims_triage.json")
    assert "unknown agent 'ghost'" in message(lambda: manager.create_workflow(
        {**flow, "workflow_id": "w2", "required_agents": ["ghost"]}))
    too_many = message(lambda: manager.update_agent(
        "fraud_agent", {**agent_entry(registries, "fraud_agent"), "max_iterations": 500}))
    assert "max_iterations" in too_many
    audit = [json.loads(line) for line in
             (registries / ".meshctl" / "audit.jsonl").read_text().splitlines()]
    assert sum(1 for a in audit if a["result"] == "refused" and a["source"] == "library") == 12


def key(kind: str, name: str) -> Any:
    from reconciler.model.kinds import Kind
    from reconciler.model.resource import ResourceKey

    return ResourceKey(Kind(kind), name)


def test_entries_json_cannot_hold_are_refused(registries: Path,
                                               manager: RegistryManager) -> None:
    """What the manifest reader refuses to read cannot come in through the library either."""
    tool = raw(registries, "tool_registry.json")["tools"][0]
    for extra, says in (({"name": "bad \ud800 surrogate"}, "cannot be stored as JSON"),
                        ({"x_big": 2 ** 70}, "integers within 64 bits"),
                        ({"x_nan": float("nan")}, "NaN or Infinity"),
                        ({"input_schema": {"type": "object", "x": float("inf")}}, "NaN")):
        assert says in rejected(registries, manager,
                                lambda e=extra: manager.create_tool(
                                    {**tool, "tool_id": "t_bad", **e}))


def test_what_a_caller_changes_after_a_write_never_reaches_the_snapshot(
        registries: Path) -> None:
    """A write keeps its own copy of the entry: appending to the caller's nested lists
    afterwards changes nothing served (and the next write of them is a real change)."""
    manager = RegistryManager(registries, watch=False)
    manager.load_all()
    document = manager.get_governance_policies()
    assert document is not None
    body = document.model_dump(mode="json", exclude_unset=True, by_alias=True)
    rules = body["policies"]["agent_tool_access"]["rules"]
    severity = next(rule for rule in rules if rule["agent_id"] == "severity_agent")
    severity["allowed_tools"].append("schema_validator")
    manager.update_governance_policies(body)
    assert manager.is_tool_access_allowed("severity_agent", "schema_validator")
    severity["allowed_tools"].remove("schema_validator")
    assert manager.is_tool_access_allowed("severity_agent", "schema_validator")
    manager.update_governance_policies(body)  # now a change: the grant is revoked
    assert not manager.is_tool_access_allowed("severity_agent", "schema_validator")
    agent = manager.entry(Kind.AGENT, "severity_agent")
    assert agent is not None
    manager.update_agent("severity_agent", agent)
    agent["capabilities"].append("mutated")
    served = manager.get_agent("severity_agent")
    assert served is not None and "mutated" not in served.capabilities
    manager.close()
