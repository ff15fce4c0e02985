"""Reference rules: every id a resource names must exist (R001-R004), with hints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler import engine
from reconciler.errors import Severity
from reconciler.validate import references
from tests.conftest import agent, by_code, line_of, manifest, only
from tests.grants import grant_base_mesh

Case = Callable[[str], tuple[Path, engine.DesiredState]]


def test_an_unknown_model_profile_is_r001(case: Case) -> None:
    path, desired = case(agent("a1", model="gpt5"))
    diagnostic = only(desired.diagnostics, "R001")
    assert diagnostic.severity is Severity.ERROR
    assert (diagnostic.file, diagnostic.line) == (str(path), line_of(path, "model_profile_id"))
    assert diagnostic.path == "model_profile_id"
    assert diagnostic.resource == "agent/a1"
    assert "agent 'a1' refers to unknown model profile 'gpt5'" in diagnostic.message
    assert "did you mean 'gpt4'?" in diagnostic.message
    assert "available: default_gpt35, gpt4" in diagnostic.message
    assert diagnostic.hint == "declare model profile 'gpt5', or fix the name"


def test_an_unknown_tool_in_allowed_tools_is_r002_at_the_item_line(case: Case) -> None:
    path, desired = case(agent("a1", """
        allowed_tools:
        - similarity
        - fraud_rule
        """))
    diagnostic = only(desired.diagnostics, "R002")
    assert (diagnostic.file, diagnostic.line) == (str(path), line_of(path, "- fraud_rule"))
    assert diagnostic.path == "allowed_tools[1]"
    assert "unknown tool 'fraud_rule' in allowed_tools[1]" in diagnostic.message
    assert "did you mean 'fraud_rules'?" in diagnostic.message
    assert "available: fraud_rules, similarity" in diagnostic.message


def test_an_unknown_agent_in_allowed_agents_is_r003(case: Case) -> None:
    path, desired = case(agent("a1", "allowed_agents: [fraud_agent, ghost]"))
    diagnostic = only(desired.diagnostics, "R003")
    assert diagnostic.line == line_of(path, "allowed_agents")
    assert diagnostic.path == "allowed_agents[1]"
    # an agent is never offered as a reference to itself
    assert "available: fraud_agent, intake_agent, orchestrator_agent" in diagnostic.message


def test_valid_agent_references_pass(case: Case) -> None:
    _, desired = case(agent("a1", "allowed_tools: [fraud_rules]\nallowed_agents: [intake_agent]",
                            model="gpt4"))
    assert desired.diagnostics == []


WORKFLOW = """
name: W
description: d
required_agents: [fraud_agent, req_ghost]
optional_agents:
- opt_ghost
suggested_sequence: [intake_agent, seq_ghost]
steps:
- step_id: a
  agent_id: step_ghost
completion_criteria:
  required_agents_executed: [done_ghost]
hitl_checkpoints:
- checkpoint_id: c
  agent_id: hitl_ghost
"""


def test_every_agent_a_workflow_names_must_exist(case: Case) -> None:
    path, desired = case(manifest("Workflow", "w1", WORKFLOW))
    found = {d.path: d for d in by_code(desired.diagnostics, "R003")}
    assert set(found) == {
        "required_agents[1]", "optional_agents[0]", "suggested_sequence[1]",
        "steps[0].agent_id", "completion_criteria.required_agents_executed[0]",
        "hitl_checkpoints[0].agent_id"}
    assert found["optional_agents[0]"].line == line_of(path, "- opt_ghost")
    assert found["steps[0].agent_id"].line == line_of(path, "agent_id: step_ghost")
    assert found["hitl_checkpoints[0].agent_id"].line == line_of(path, "hitl_ghost")
    assert "workflow 'w1' refers to unknown agent 'step_ghost' in steps[0].agent_id" in found[
        "steps[0].agent_id"].message


def test_a_valid_workflow_passes(case: Case) -> None:
    text = WORKFLOW
    for ghost in ("req", "opt", "seq", "step", "done", "hitl"):
        text = text.replace(f"{ghost}_ghost", "fraud_agent")
    _, desired = case(manifest("Workflow", "w1", text))
    assert desired.diagnostics == []


POLICY = """
description: every reference key
rules:
- agent_id: fraud_agnt
  allowed_tools: ['*', fraud_rules, frau_rules]
  denied_tools: [nope]
  allowed_agents: [intake_agent, x1]
  denied_agents: ['*', x2]
- workflow_id: wf_missing
  allowed_profiles: [default_gpt35, gpt5]
  default_profile: gpt-4
agent_overrides:
- agent_id: ghost
  max_iterations: 3
  _comment: the rule-level comment is kept
agent_handoff_rules:
- from_agent_id: '*'
  to_agent_id: zed
- from_agent_id: nobody
  to_agent_id: '*'
roles:
- allowed_workflows: ['*', claims]
"""


def test_governance_rules_name_agents_tools_profiles_and_workflows(case: Case,
                                                                   mesh: Path) -> None:
    grant_base_mesh(mesh)  # a policy makes the mesh governed: grant what it asks for
    path, desired = case(manifest("GovernancePolicy", "pol", POLICY))
    found = {(d.code, d.path): d for d in desired.diagnostics}
    assert set(found) == {
        ("R003", "rules[0].agent_id"),
        ("R002", "rules[0].allowed_tools[2]"),
        ("R002", "rules[0].denied_tools[0]"),
        ("R003", "rules[0].allowed_agents[1]"),
        ("R003", "rules[0].denied_agents[1]"),
        ("R004", "rules[1].workflow_id"),
        ("R001", "rules[1].allowed_profiles[1]"),
        ("R001", "rules[1].default_profile"),
        ("R003", "agent_overrides[0].agent_id"),
        ("R003", "agent_handoff_rules[0].to_agent_id"),
        ("R003", "agent_handoff_rules[1].from_agent_id"),
        ("R004", "roles[0].allowed_workflows[1]"),
    }
    assert all(d.severity is Severity.ERROR and d.file == str(path) for d in found.values())
    assert found[("R003", "rules[0].agent_id")].line == line_of(path, "fraud_agnt")
    assert "did you mean 'fraud_agent'?" in found[("R003", "rules[0].agent_id")].message
    assert found[("R002", "rules[0].allowed_tools[2]")].line == line_of(path, "frau_rules")
    assert "did you mean 'fraud_rules'?" in found[("R002", "rules[0].allowed_tools[2]")].message
    workflow = found[("R004", "rules[1].workflow_id")]
    assert workflow.line == line_of(path, "wf_missing")
    assert "unknown workflow 'wf_missing'" in workflow.message
    assert "available: none" in workflow.message
    assert "did you mean 'gpt4'?" in found[("R001", "rules[1].default_profile")].message
    assert found[("R003", "agent_overrides[0].agent_id")].line == line_of(path, "ghost")


def test_a_policy_whose_names_all_exist_passes(case: Case, mesh: Path) -> None:
    grant_base_mesh(mesh)  # a policy makes the mesh governed: grant what it asks for
    workflow = manifest("Workflow", "claims", "name: C\ndescription: d\nsteps:\n- step_id: s\n"
                        "  agent_id: fraud_agent\n")
    text = POLICY
    for wrong, right in (("fraud_agnt", "fraud_agent"), ("frau_rules", "similarity"),
                         ("[nope]", "[similarity]"), ("x1", "fraud_agent"), ("x2", "fraud_agent"),
                         ("wf_missing", "claims"), ("gpt5", "gpt4"), ("gpt-4", "gpt4"),
                         ("ghost", "intake_agent"), ("zed", "fraud_agent"),
                         ("nobody", "intake_agent")):
        text = text.replace(wrong, right)
    _, desired = case(workflow + "---\n" + manifest("GovernancePolicy", "pol", text))
    assert desired.diagnostics == []


def test_wildcards_are_allowed_only_where_the_runtime_reads_them(case: Case) -> None:
    _, desired = case(agent("a1", "allowed_tools: ['*']"))
    diagnostic = only(desired.diagnostics, "R002")
    assert "unknown tool '*'" in diagnostic.message


def test_long_available_lists_are_cut(tmp_path: Path) -> None:
    text = "".join(manifest("Tool", f"tool_{n:02d}", "name: t\ndescription: d\nendpoint: /e\n"
                            "input_schema: {}") + "---\n" for n in range(20))
    path = tmp_path / "many.yaml"
    path.write_text(text + agent("a1", "allowed_tools: [tool_99]", model="p"))
    desired = engine.load_desired([str(path)], use_cache=False)
    diagnostic = only(desired.diagnostics, "R002")
    assert f"and {20 - references.MAX_LISTED} more" in diagnostic.message
    assert "tool_11" in diagnostic.message and "tool_12" not in diagnostic.message
