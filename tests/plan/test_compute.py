"""`plan.compute` through `engine.make_plan`: every action, field-level changes, impact,
ordering, prune and --no-prune, every refusal, and the differences that are only noise.

Each test edits a copy of the example mesh (`ws`), whose manifests match its registries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from reconciler import graph
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.plan import planner
from reconciler.plan.model import Action, FieldChange, FieldOp, Location
from reconciler.plan.render.common import summary_line
from tests.conftest import agent, line_of, manifest, write
from tests.grants import INVOCATION_ACCESS, grant_in_manifests
from tests.grants import TOOL_ACCESS as TOOL_ACCESS_POLICY
from tests.plan.conftest import (
    MANIFESTS,
    actions,
    change_of,
    docs,
    edit,
    edit_registry,
    key,
    make_plan,
    position,
    profile,
    the_plan,
    tool,
)

ORCHESTRATOR = ResourceKey(Kind.AGENT, "orchestrator_agent")
FRAUD_AGENT = MANIFESTS / "agents" / "fraud_agent.yaml"
TOOL_ACCESS = MANIFESTS / "policies" / "agent_tool_access.yaml"
FRAUD_RULES_DEPENDENTS = (
    "agent/fraud_agent", "agent/orchestrator_agent", "workflow/claims_triage",
    "governance-policy/agent_invocation_access", "governance-policy/agent_tool_access",
    "governance-policy/hitl_access_control", "governance-policy/iteration_limits",
    "governance-policy/model_usage", "governance-policy/multi_agent_handoffs")


def add_live_only(registries: Path = Path("registries")) -> None:
    """Live resources no manifest declares: a tool and the agent using it, and an agent
    invoking another one named to sort *after* it (so name order cannot pass for
    dependency order)."""

    def agents(data: dict[str, Any]) -> None:
        base = {"description": "legacy", "model_profile_id": "default_gpt35"}
        data["agents"] += [
            {"agent_id": "legacy_agent", "name": "Legacy", **base,
             "allowed_tools": ["legacy_tool"]},
            {"agent_id": "aaa_user", "name": "User", **base, "allowed_agents": ["zzz_used"]},
            {"agent_id": "zzz_used", "name": "Used", **base},
        ]

    def tools(data: dict[str, Any]) -> None:
        data["tools"].append({"tool_id": "legacy_tool", "name": "Legacy tool",
                              "description": "old", "endpoint": "/invoke/legacy_tool",
                              "input_schema": {"type": "object"}})

    edit_registry("agent_registry.json", agents, registries)
    edit_registry("tool_registry.json", tools, registries)


# --- no changes ------------------------------------------------------------------------------


def test_the_example_manifests_match_the_registries(ws: Path) -> None:
    plan = the_plan()
    assert plan.actionable == ()
    assert len(plan.changes) == 29
    assert all(c.action is Action.NOOP for c in plan.changes)
    assert plan.summary.noop == 29 and not plan.summary.has_changes
    fraud = change_of(plan, "agent/fraud_agent")
    assert fraud.source == Location(str(FRAUD_AGENT), 1)
    assert (fraud.before, fraud.after, fraud.fields, fraud.impact) == (None, None, (), ())
    assert plan.live_fingerprint and plan.prune is True


# --- each action ----------------------------------------------------------------------------


def test_create(ws: Path) -> None:
    path = write(MANIFESTS / "new.yaml", tool("new_tool"))
    plan = the_plan()
    assert actions(plan) == {"tool/new_tool": "create"}
    change = change_of(plan, "tool/new_tool")
    assert change.before is None
    assert change.after == {"tool_id": "new_tool", "name": "new_tool",
                            "description": "test tool", "endpoint": "/invoke/new_tool",
                            "input_schema": {"type": "object"},
                            "output_schema": {"type": "object"},
                            "lineage_tags": []}  # left out, required: its default written
    assert change.source == Location(str(path), 1)
    assert change.fields == () and change.impact == () and not change.is_refused
    assert plan.summary.create == 1 and plan.summary.noop == 29


def test_update_lists_each_changed_field_with_path_old_and_new(ws: Path) -> None:
    edit(FRAUD_AGENT, "max_iterations: 5", "max_iterations: 7")
    edit(FRAUD_AGENT, "  - similarity\n", "  - similarity\n  - schema_validator\n")
    edit(FRAUD_AGENT, "  - anomaly_detection\n", "")
    edit(FRAUD_AGENT, "max_context_tokens: 6000", "max_context_tokens: 7000")
    edit(FRAUD_AGENT, "    memory_enabled: false\n", "")
    grant_in_manifests(MANIFESTS, TOOL_ACCESS_POLICY, "fraud_agent", "schema_validator")
    plan = the_plan()
    assert actions(plan) == {"agent/fraud_agent": "update",
                             "governance-policy/agent_tool_access": "update"}
    change = change_of(plan, "agent/fraud_agent")
    assert change.fields == (
        FieldChange("allowed_tools[2]", FieldOp.ADD, None, "schema_validator"),
        FieldChange("capabilities[3]", FieldOp.REMOVE, "anomaly_detection", None),
        FieldChange("context_requirements.max_context_tokens", FieldOp.CHANGE, 6000, 7000),
        FieldChange("context_requirements.memory_enabled", FieldOp.REMOVE, False, None),
        FieldChange("max_iterations", FieldOp.CHANGE, 5, 7),
    )
    assert change.before is not None and change.after is not None
    assert change.before["max_iterations"] == 5 and change.after["max_iterations"] == 7
    assert change.source == Location(str(FRAUD_AGENT), 1)


def test_a_replaced_list_item_reports_its_old_and_new_value(ws: Path) -> None:
    edit(FRAUD_AGENT, "  - risk_scoring\n", "  - risk_rating\n")
    change = change_of(the_plan(), "agent/fraud_agent")
    assert change.fields == (
        FieldChange("capabilities[1]", FieldOp.CHANGE, "risk_scoring", "risk_rating"),)


def test_delete(ws: Path) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    plan = the_plan()
    assert actions(plan) == {"model-profile/gpt4": "delete"}
    change = change_of(plan, "model-profile/gpt4")
    assert change.after is None
    assert change.before is not None and change.before["profile_id"] == "gpt4"
    assert change.source == Location("registries/model_profiles.json")
    assert not change.is_refused and change.users == () and change.impact == ()
    assert plan.summary.delete == 1 and plan.summary.refused == 0


def test_every_action_in_one_plan_and_the_summary_counts_them(ws: Path) -> None:
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    edit(FRAUD_AGENT, "max_iterations: 5", "max_iterations: 6")
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    plan = the_plan()
    assert actions(plan) == {"tool/new_tool": "create", "agent/fraud_agent": "update",
                             "model-profile/gpt4": "delete"}
    summary = plan.summary
    assert (summary.create, summary.update, summary.delete, summary.noop, summary.refused) == (
        1, 1, 1, 27, 0)
    assert summary.has_changes


# --- impact ---------------------------------------------------------------------------------


def test_an_update_lists_every_transitive_dependent(ws: Path) -> None:
    edit(MANIFESTS / "tools" / "fraud_rules.yaml", "name: Fraud Rules Engine",
         "name: Fraud Rules Engine v2")
    plan = the_plan()
    change = change_of(plan, "tool/fraud_rules")
    assert change.fields == (
        FieldChange("name", FieldOp.CHANGE, "Fraud Rules Engine", "Fraud Rules Engine v2"),)
    assert change.impact == tuple(key(k) for k in FRAUD_RULES_DEPENDENTS)
    assert plan.summary.impacted == 9
    assert plan.impact_by_kind() == {Kind.AGENT: 2, Kind.WORKFLOW: 1,
                                     Kind.GOVERNANCE_POLICY: 6}
    assert summary_line(plan) == (
        "Plan: 0 to create, 1 to update, 0 to delete, 0 refused. "
        "Impact: 9 dependents (2 agents, 1 workflow, 6 policies).")


def test_impact_is_counted_once_across_changes(ws: Path) -> None:
    edit(MANIFESTS / "tools" / "fraud_rules.yaml", "name: Fraud Rules Engine", "name: X")
    edit(FRAUD_AGENT, "max_iterations: 5", "max_iterations: 6")
    plan = the_plan()
    # fraud_agent is a dependent of fraud_rules and has its own (a subset): 9 distinct.
    assert len(change_of(plan, "agent/fraud_agent").impact) == 8
    assert plan.summary.impacted == 9


def test_a_leaf_update_has_no_impact_and_no_impact_clause(ws: Path) -> None:
    edit(MANIFESTS / "model-profiles" / "gpt4.yaml", "timeout_seconds: 60",
         "timeout_seconds: 90")
    plan = the_plan()
    assert change_of(plan, "model-profile/gpt4").impact == ()
    assert summary_line(plan) == "Plan: 0 to create, 1 to update, 0 to delete, 0 refused."


def test_one_dependent_is_singular() -> None:
    lone = ResourceKey(Kind.TOOL, "lone")
    user = ResourceKey(Kind.AGENT, "user")
    live, desired = MeshState(), MeshState()
    live.add(Resource(lone, {"tool_id": "lone", "endpoint": "/a"}))
    desired.add(Resource(lone, {"tool_id": "lone", "endpoint": "/b"}))
    desired.add(Resource(user, {"agent_id": "user", "allowed_tools": ["lone"]}))
    live.add(Resource(user, {"agent_id": "user", "allowed_tools": ["lone"]}))
    for state in (live, desired):
        state.add(Resource(ORCHESTRATOR, {"agent_id": ORCHESTRATOR.name}))
    small = planner.make(desired=desired, live=live, live_fingerprint="x").plan
    assert small is not None
    assert summary_line(small).endswith("Impact: 1 dependent (1 agent).")


# --- ordering -------------------------------------------------------------------------------


def test_what_others_refer_to_is_created_first(ws: Path) -> None:
    write(MANIFESTS / "new.yaml", docs(
        manifest("Workflow", "aaa_flow",
                 "name: Flow\ndescription: d\nrequired_agents: [aaa_agent]\n"),
        agent("aaa_agent", "allowed_tools: [zzz_tool]\nallowed_agents: [zzz_agent]\n",
              model="zzz_profile"),
        agent("zzz_agent"),
        tool("zzz_tool"),
        profile("zzz_profile"),
        manifest("GovernancePolicy", "aaa_policy",
                 "description: d\nrules:\n- workflow_id: aaa_flow\n"),
    ))
    edit(MANIFESTS / "agents" / "orchestrator_agent.yaml", "  - explainability_agent\n",
         "  - explainability_agent\n  - zzz_agent\n")
    grant_in_manifests(MANIFESTS, TOOL_ACCESS_POLICY, "aaa_agent", "zzz_tool")
    grant_in_manifests(MANIFESTS, INVOCATION_ACCESS, ORCHESTRATOR.name, "zzz_agent")
    plan = the_plan()
    assert actions(plan) == {
        "workflow/aaa_flow": "create", "agent/aaa_agent": "create", "agent/zzz_agent": "create",
        "tool/zzz_tool": "create", "model-profile/zzz_profile": "create",
        "governance-policy/aaa_policy": "create", "agent/orchestrator_agent": "update",
        "governance-policy/agent_tool_access": "update",
        "governance-policy/agent_invocation_access": "update"}
    at = {text: position(plan, text) for text in actions(plan)}
    assert at["model-profile/zzz_profile"] < at["agent/aaa_agent"]
    assert at["tool/zzz_tool"] < at["agent/aaa_agent"]
    assert at["agent/zzz_agent"] < at["agent/aaa_agent"]  # against name order
    assert at["agent/zzz_agent"] < at["agent/orchestrator_agent"]  # a create before an update
    assert at["agent/aaa_agent"] < at["workflow/aaa_flow"] < at["governance-policy/aaa_policy"]
    # and in general: no create or update comes before something it refers to (but in a
    # loop of references: claims_triage's checkpoints name roles of hitl_access_control,
    # which names claims_triage back).
    desired = make_plan().desired.state
    looped = {key for group in graph.build(desired).cycles() for key in group}
    seen: set[ResourceKey] = set()
    for change in plan.changes:
        resource = desired.get(change.key)
        assert resource is not None
        for edge in graph.references(resource):
            assert edge.target in seen or {edge.source, edge.target} <= looped, \
                f"{change.key} before {edge.target}"
        seen.add(change.key)


def test_deletes_come_after_creates_and_updates_and_users_go_first(ws: Path) -> None:
    add_live_only()
    write(MANIFESTS / "new.yaml", tool("new_tool"))
    edit(FRAUD_AGENT, "max_iterations: 5", "max_iterations: 6")
    plan = the_plan()
    assert actions(plan) == {
        "tool/new_tool": "create", "agent/fraud_agent": "update",
        "agent/legacy_agent": "delete", "tool/legacy_tool": "delete",
        "agent/aaa_user": "delete", "agent/zzz_used": "delete"}
    kinds_of_action = [c.action for c in plan.changes]
    first_delete = kinds_of_action.index(Action.DELETE)
    assert all(a is Action.DELETE for a in kinds_of_action[first_delete:])
    assert Action.DELETE not in kinds_of_action[:first_delete]
    assert position(plan, "agent/legacy_agent") < position(plan, "tool/legacy_tool")
    assert position(plan, "agent/aaa_user") < position(plan, "agent/zzz_used")  # not by name


def test_deleting_a_resource_with_all_of_its_users_is_allowed(ws: Path) -> None:
    add_live_only()
    plan = the_plan()
    assert plan.refusals == ()
    legacy = change_of(plan, "tool/legacy_tool")
    assert legacy.action is Action.DELETE and not legacy.is_refused and legacy.users == ()
    assert legacy.impact == (key("agent/legacy_agent"),)  # what the live mesh loses with it


def test_the_plan_is_deterministic(ws: Path) -> None:
    add_live_only()
    write(MANIFESTS / "new.yaml", docs(tool("t1"), tool("t2"), agent("a1", "allowed_tools: [t2]")))
    grant_in_manifests(MANIFESTS, TOOL_ACCESS_POLICY, "a1", "t2")
    assert the_plan() == the_plan()


# --- prune and --no-prune -------------------------------------------------------------------


def test_a_live_resource_without_a_manifest_is_pruned(ws: Path) -> None:
    (MANIFESTS / "tools" / "similarity.yaml").unlink()
    edit(FRAUD_AGENT, "  - similarity\n", "")
    edit(TOOL_ACCESS, "    - similarity\n", "", count=-1)
    assert "similarity" not in TOOL_ACCESS.read_text()
    plan = the_plan()
    assert plan.prune is True
    assert actions(plan) == {"tool/similarity": "delete", "agent/fraud_agent": "update",
                             "governance-policy/agent_tool_access": "update"}
    assert not change_of(plan, "tool/similarity").is_refused  # its users let go of it
    assert position(plan, "agent/fraud_agent") < position(plan, "tool/similarity")


def test_no_prune_keeps_live_only_resources_out_of_the_plan(ws: Path) -> None:
    add_live_only()
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    (MANIFESTS / "agents" / "orchestrator_agent.yaml").unlink()
    plan = the_plan(prune=False)
    assert plan.prune is False
    assert plan.actionable == () and plan.refusals == ()
    names = {str(c.key) for c in plan.changes}
    assert "model-profile/gpt4" not in names and "tool/legacy_tool" not in names
    assert "agent/orchestrator_agent" not in names
    assert not plan.summary.has_changes


def test_with_no_prune_manifests_may_refer_to_live_only_resources(ws: Path) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    path = write(MANIFESTS / "new.yaml", agent("new_agent", model="gpt4"))
    kept = make_plan(prune=False)
    assert kept.errors == [] and kept.plan is not None
    assert actions(kept.plan) == {"agent/new_agent": "create"}
    # Pruned, the same reference is not a validation error either: the delete is refused,
    # naming the new agent where it refers to the profile.
    pruned = the_plan()
    refused = change_of(pruned, "model-profile/gpt4")
    line = line_of(path, "model_profile_id")
    assert refused.refused == (
        f"Cannot delete model profile 'gpt4': used by agents new_agent ({path}:{line})")


# --- refusals -------------------------------------------------------------------------------


def test_deleting_a_tool_in_use_is_refused_naming_every_user(ws: Path) -> None:
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    plan = the_plan()
    change = change_of(plan, "tool/fraud_rules")
    assert change.action is Action.DELETE and change.is_refused
    agent_line = line_of(FRAUD_AGENT, "- fraud_rules")
    policy_line = line_of(TOOL_ACCESS, "- fraud_rules")
    assert change.refused == (
        f"Cannot delete tool 'fraud_rules': used by agents fraud_agent "
        f"({FRAUD_AGENT}:{agent_line}); policies agent_tool_access ({TOOL_ACCESS}:{policy_line})")
    assert [(str(u.key), u.path, str(u.location)) for u in change.users][:2] == [
        ("agent/fraud_agent", "allowed_tools[0]", f"{FRAUD_AGENT}:{agent_line}"),
        ("governance-policy/agent_tool_access", "rules[0].denied_tools[0]",
         f"{TOOL_ACCESS}:{policy_line}"),
    ]
    assert {str(u.key) for u in change.users} == {"agent/fraud_agent",
                                                  "governance-policy/agent_tool_access"}
    assert len(change.users) == 6  # every reference, one per field that names the tool
    assert change.impact == tuple(key(k) for k in FRAUD_RULES_DEPENDENTS)
    assert plan.refusals == (change,)
    assert plan.summary.refused == 1 and plan.summary.delete == 1


def test_deleting_the_orchestrator_is_refused(ws: Path) -> None:
    (MANIFESTS / "agents" / "orchestrator_agent.yaml").unlink()
    result = make_plan()
    assert result.errors == []  # not "no orchestrator" (O001): the deletion rule speaks
    assert result.plan is not None
    change = change_of(result.plan, "agent/orchestrator_agent")
    assert change.refused == ("Cannot delete agent 'orchestrator_agent': the orchestrator can "
                              "be updated, never deleted")
    assert result.plan.summary.refused == 1


def test_the_orchestrator_may_still_be_updated(ws: Path) -> None:
    edit(MANIFESTS / "agents" / "orchestrator_agent.yaml", "max_iterations: 10",
         "max_iterations: 12")
    plan = the_plan()
    assert actions(plan) == {"agent/orchestrator_agent": "update"} and plan.refusals == ()


def test_a_refusal_names_at_most_twenty_users(ws: Path) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    users = [agent(f"user_{n:02d}", model="gpt4") for n in range(25)]
    path = write(MANIFESTS / "users.yaml", docs(*users))
    reason = change_of(the_plan(), "model-profile/gpt4").refused
    assert reason is not None
    assert reason.startswith("Cannot delete model profile 'gpt4': used by agents user_00 (")
    assert f"user_19 ({path}:" in reason and "user_20" not in reason
    assert reason.endswith(", and 5 more")


def test_a_reference_to_a_resource_that_exists_nowhere_is_a_validation_error(ws: Path) -> None:
    path = write(MANIFESTS / "new.yaml", agent("new_agent", "allowed_tools: [no_such_tool]"))
    result = make_plan()
    assert result.plan is None
    (error,) = result.errors
    assert (error.code, error.file, error.line) == ("R002", str(path),
                                                     line_of(path, "allowed_tools"))
    assert "no_such_tool" in error.message


def test_invalid_manifests_give_no_plan(ws: Path) -> None:
    write(MANIFESTS / "bad.yaml", agent("bad_agent", "max_iterations: 0"))
    result = make_plan()
    assert result.plan is None and [d.code for d in result.errors] == ["S003"]


def test_unreadable_registries_give_no_plan(ws: Path) -> None:
    Path("registries/agent_registry.json").write_text("{ not json", encoding="utf-8")
    result = make_plan()
    assert result.plan is None
    assert [d.code for d in result.errors] == ["L001"]
    assert result.errors[0].file == "registries/agent_registry.json"


# --- noise: never a change ------------------------------------------------------------------


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


def test_key_order_in_manifests_is_not_a_change(ws: Path) -> None:
    for path in (FRAUD_AGENT, MANIFESTS / "workflows" / "claims_triage.yaml", TOOL_ACCESS):
        document = yaml.safe_load(path.read_text())
        document["spec"] = _reorder(document["spec"])
        text = yaml.safe_dump(document, sort_keys=False)
        assert text != path.read_text()
        path.write_text(text)
    assert the_plan().actionable == ()


def test_key_order_in_registries_is_not_a_change(ws: Path) -> None:
    edit_registry("agent_registry.json", lambda data: {
        **data, "agents": [_reorder(entry) for entry in data["agents"]]})
    assert the_plan().actionable == ()


def test_an_integer_and_the_same_float_are_not_a_change(ws: Path) -> None:
    gpt4 = MANIFESTS / "model-profiles" / "gpt4.yaml"
    edit(gpt4, "top_p: 1.0", "top_p: 1")
    edit(gpt4, "backoff_multiplier: 2", "backoff_multiplier: 2.0")

    def floats(data: dict[str, Any]) -> None:
        for entry in data["agents"]:
            entry["max_iterations"] = float(entry["max_iterations"])

    edit_registry("agent_registry.json", floats)
    assert '"max_iterations": 5.0' in Path("registries/agent_registry.json").read_text()
    assert the_plan().actionable == ()


def test_a_real_number_change_still_shows_its_values(ws: Path) -> None:
    edit(MANIFESTS / "model-profiles" / "gpt4.yaml", "top_p: 1.0", "top_p: 0.9")
    change = change_of(the_plan(), "model-profile/gpt4")
    assert change.fields == (FieldChange("parameters.top_p", FieldOp.CHANGE, 1.0, 0.9),)


def test_an_omitted_field_and_its_default_are_not_a_change(ws: Path) -> None:
    edit(MANIFESTS / "agents" / "explainability_agent.yaml", "  allowed_tools: []\n", "")
    edit(MANIFESTS / "model-profiles" / "claude_haiku_3.yaml", "  json_mode: false\n", "")
    edit(MANIFESTS / "agents" / "orchestrator_agent.yaml", "  max_iterations: 10\n",
         "")  # 10 is the default
    edit(FRAUD_AGENT, "  model_profile_id:", "  allowed_agents: []\n  model_profile_id:")
    assert the_plan().actionable == ()


def test_a_default_made_explicit_in_the_registry_is_not_a_change(ws: Path) -> None:
    def defaults(data: dict[str, Any]) -> None:
        for entry in data["agents"]:
            entry.setdefault("allowed_agents", [])
            entry.setdefault("capabilities", [])
            entry.setdefault("input_schema", None)

    edit_registry("agent_registry.json", defaults)
    assert the_plan().actionable == ()


def test_a_value_other_than_the_default_is_a_change(ws: Path) -> None:
    edit(MANIFESTS / "model-profiles" / "claude_haiku_3.yaml", "json_mode: false",
         "json_mode: true")
    edit(MANIFESTS / "agents" / "explainability_agent.yaml", "  allowed_tools: []\n",
         "  allowed_tools: [similarity]\n")
    grant_in_manifests(MANIFESTS, TOOL_ACCESS_POLICY, "explainability_agent", "similarity")
    plan = the_plan()
    assert change_of(plan, "model-profile/claude_haiku_3").fields == (
        FieldChange("json_mode", FieldOp.CHANGE, False, True),)
    assert change_of(plan, "agent/explainability_agent").fields == (
        FieldChange("allowed_tools[0]", FieldOp.ADD, None, "similarity"),)


def test_last_updated_is_not_a_change(ws: Path) -> None:
    before = make_plan()

    def touch(data: dict[str, Any]) -> None:
        data["last_updated"] = "2031-01-01T00:00:00Z"
        data["agents"][0]["last_updated"] = "2031-01-01T00:00:00Z"

    edit_registry("agent_registry.json", touch)
    edit(FRAUD_AGENT, "  max_iterations: 5\n", "  max_iterations: 5\n  last_updated: '2030'\n")
    after = make_plan()
    assert after.plan is not None and before.plan is not None
    assert after.plan.actionable == ()
    # the files did change: a plan saved before is stale, and the fingerprint says so
    assert after.plan.live_fingerprint != before.plan.live_fingerprint


def test_a_boolean_and_a_number_are_a_change(ws: Path) -> None:
    edit(FRAUD_AGENT, "    prefix_caching_eligible: true", "    prefix_caching_eligible: 1")
    change = change_of(the_plan(), "agent/fraud_agent")
    assert change.fields == (FieldChange("context_requirements.prefix_caching_eligible",
                                         FieldOp.CHANGE, True, 1),)


# --- the planner on its own ----------------------------------------------------------------


def test_the_planner_pairs_by_key_keeps_sources_and_refuses_deleting_what_is_used() -> None:
    source = Source("m.yaml", 3, {"allowed_tools[0]": 9})
    t = ResourceKey(Kind.TOOL, "t")
    a = ResourceKey(Kind.AGENT, "a")
    live, desired = MeshState(), MeshState()
    for state in (live, desired):
        state.add(Resource(ORCHESTRATOR, {"agent_id": ORCHESTRATOR.name}))
    live.add(Resource(t, {"tool_id": "t"}, Source("registries/tool_registry.json")))
    desired.add(Resource(a, {"agent_id": "a", "allowed_tools": ["t"]}, source))
    pruned = planner.make(desired=desired, live=live, live_fingerprint="abc").plan
    assert pruned is not None and pruned.live_fingerprint == "abc"
    assert [(str(c.key), c.action) for c in pruned.changes if c.action is not Action.NOOP] == [
        ("agent/a", Action.CREATE), ("tool/t", Action.DELETE)]
    deleted = pruned.changes[-1]
    assert deleted.refused == "Cannot delete tool 't': used by agents a (m.yaml:9)"
    assert deleted.users[0].location == Location("m.yaml", 9)
    kept = planner.make(desired=desired, live=live, live_fingerprint="abc", prune=False).plan
    assert kept is not None and kept.prune is False
    assert [(str(c.key), c.action) for c in kept.changes if c.action is not Action.NOOP] == [
        ("agent/a", Action.CREATE)]
    assert kept.changes[-1].source == Location("m.yaml", 3)


def test_a_scoped_plan_refuses_deleting_what_is_in_use_and_names_the_user() -> None:
    t = ResourceKey(Kind.TOOL, "t")
    a = ResourceKey(Kind.AGENT, "a")
    live = MeshState()
    live.add(Resource(ORCHESTRATOR, {"agent_id": ORCHESTRATOR.name}))
    live.add(Resource(t, {"tool_id": "t"}, Source("registries/tool_registry.json")))
    live.add(Resource(a, {"agent_id": "a", "allowed_tools": ["t"]},
                      Source("m.yaml", 3, {"allowed_tools[0]": 9})))
    desired = live.copy()
    desired.discard(t)
    planned = planner.make(desired=desired, live=live, live_fingerprint="abc",
                           scope=planner.Scope.of([t], graph.Referrers.build(live)))
    assert planned.plan is not None
    deleted, = planned.plan.changes
    assert deleted.action is Action.DELETE
    assert deleted.refused == "Cannot delete tool 't': used by agents a (m.yaml:9)"
    assert deleted.users[0].location == Location("m.yaml", 9)


def test_a_scoped_plan_lists_its_changes_in_the_whole_mesh_plans_order() -> None:
    """`deep` refers to `middle`, which does not change and refers to a tool: `deep` is
    two waves up, `shallow` one, so `shallow` comes first although `deep` sorts first by
    name and nothing changed links them directly (found at 2,000 agents by the crash test,
    whose revisions are compared with a whole-mesh apply's)."""
    tool = ResourceKey(Kind.TOOL, "t")
    keys = {name: ResourceKey(Kind.AGENT, name) for name in ("deep", "middle", "shallow")}
    live = MeshState()
    live.add(Resource(ORCHESTRATOR, {"agent_id": ORCHESTRATOR.name,
                                     "allowed_agents": sorted(keys)}))
    live.add(Resource(tool, {"tool_id": "t"}))
    live.add(Resource(keys["middle"], {"agent_id": "middle", "allowed_tools": ["t"]}))
    live.add(Resource(keys["deep"], {"agent_id": "deep", "allowed_agents": ["middle"]}))
    live.add(Resource(keys["shallow"], {"agent_id": "shallow", "allowed_tools": ["t"]}))
    desired = live.copy()
    for name in ("deep", "shallow"):
        before = live.get(keys[name])
        assert before is not None
        desired.add(Resource(keys[name], {**before.entry, "description": "changed"}))
    whole = planner.make(desired=desired, live=live, live_fingerprint="abc").plan
    scoped = planner.make(desired=desired, live=live, live_fingerprint="abc",
                          scope=planner.Scope.of([keys["deep"], keys["shallow"]],
                                                 graph.Referrers.build(live))).plan
    assert whole is not None and scoped is not None
    assert [c.key.name for c in whole.actionable] == ["shallow", "deep"]
    assert [c.key.name for c in scoped.actionable] == ["shallow", "deep"]
