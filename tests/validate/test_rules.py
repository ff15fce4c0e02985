"""The rule table: every code in RULES has a failing case here that reports it with the table's
severity, and the example mesh (manifests and live registries) passes every rule.

The detailed cases (lines, hints, bounds) live beside each rule family's own tests; this file
makes sure no rule is ever left without one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.errors import Diagnostic
from reconciler.manifests.layers import Layers
from reconciler.plan.render import ci
from reconciler.validate import RULES
from tests.conftest import (
    BASE_MESH,
    FIXTURE_MANIFESTS,
    FIXTURE_REGISTRIES,
    agent,
    copy_tree,
    load,
    manifest,
    write,
)

HEAD = "apiVersion: agentmesh.io/v1\n"


def manifests_case(text: str | bytes, *, max_bytes: int = 1_000_000,
                   with_base: bool = True) -> Callable[[Path], list[Diagnostic]]:
    def run(tmp_path: Path) -> list[Diagnostic]:
        if with_base:
            write(tmp_path / "base.yaml", BASE_MESH)
        write(tmp_path / "case.yaml", text)
        return load(tmp_path, max_bytes=max_bytes).diagnostics
    return run


def overlay_case(text: str) -> Callable[[Path], list[Diagnostic]]:
    """`text` as an environment's overlay over the base mesh (issue 25)."""
    def run(tmp_path: Path) -> list[Diagnostic]:
        write(tmp_path / "base" / "base.yaml", BASE_MESH)
        write(tmp_path / "overlay" / "case.yaml", text)
        return engine.load_desired(Layers([str(tmp_path / "base"), str(tmp_path / "overlay")]),
                                   use_cache=False, jobs=1).diagnostics
    return run


def live_case(change: Callable[[Path], object]) -> Callable[[Path], list[Diagnostic]]:
    def run(tmp_path: Path) -> list[Diagnostic]:
        root = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
        change(root)
        return engine.validate_live(engine.load_live(root))
    return run


def edit_json(relative: str, edit: Callable[[Any], object]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root / relative
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    return change


def two_files(tmp_path: Path) -> list[Diagnostic]:
    write(tmp_path / "base.yaml", BASE_MESH)
    write(tmp_path / "again.yaml", manifest("Tool", "similarity", "name: again"))
    return load(tmp_path).diagnostics


def plan_case(before: str, after: str, base: str = BASE_MESH,
              deny_access_widening: bool = False) -> Callable[[Path], list[Diagnostic]]:
    """A rule of the plan: `before` (beside the base mesh) applied, then the plan to
    `after`; its warnings and each refusal (as the CI formats report it)."""
    def run(tmp_path: Path) -> list[Diagnostic]:
        write(tmp_path / "m" / "base.yaml", base)
        write(tmp_path / "m" / "case.yaml", before)
        (tmp_path / "r").mkdir()
        first = engine.make_plan([str(tmp_path / "m")], tmp_path / "r", use_cache=False)
        assert first.plan is not None, first.errors
        engine.apply_plan(first.plan, tmp_path / "r")
        write(tmp_path / "m" / "case.yaml", after)
        result = engine.make_plan([str(tmp_path / "m")], tmp_path / "r", use_cache=False,
                                  deny_access_widening=deny_access_widening)
        assert result.plan is not None, result.errors
        return [*result.plan.warnings, *ci.refusal_findings(result.plan)]
    return run


def _agents_in_a_workflow(first_output: str) -> str:
    return (agent("p1", f"output_schema: {{type: object, properties: {first_output}}}") + "---\n"
            + agent("p2", "input_schema: {type: object, required: [x]}") + "---\n"
            + manifest("Workflow", "w1", "name: W\ndescription: d\nsteps:\n"
                       "- {step_id: one, agent_id: p1}\n- {step_id: two, agent_id: p2}\n"))


def hitl_case(role: str, checkpoint: str) -> str:
    """The policy `hitl_access_control` with one role, and a workflow with one checkpoint."""
    return (manifest("GovernancePolicy", "hitl_access_control", f"roles:\n- {role}\n")
            + "---\n" + step_workflow("- {step_id: a, agent_id: fraud_agent}\n")
            + f"  hitl_checkpoints:\n  - checkpoint_id: c1\n    {checkpoint}\n")


def step_workflow(steps: str) -> str:
    return manifest("Workflow", "w1", "name: W\ndescription: d\nsteps:\n" + steps)


SYSTEM_SECTIONS = ("version: '1.0.0'\norchestrator: {max_iterations: 10}\nworkflow: {}\n"
                   "agent: {}\nllm: {}\ngovernance: {}\nsafety: {}\n")
RETRY = manifest("IntegrationConfig", "default", "version: '1.1'\nretry_policies:\n"
                 "- {policy_id: standard, max_attempts: 3, backoff_seconds: 0.5}")
STRATEGIES = "compaction:\n  llm_summarization: {enabled: false, model_profile_id: nope}\n"


def processor(name: str, order: int) -> str:
    return manifest("ContextProcessor", name, f"order: {order}")


def connector(name: str, extra: str = "") -> str:
    return manifest("Connector", name, "name: C\ndescription: d\ntype: REST\n"
                    "base_url: https://c\n" + extra)


def integration_workflow(steps: str) -> str:
    return manifest("IntegrationWorkflow", "iw", "name: I\ndescription: d\nversion: '1.0'\n"
                    "trigger: Event\nsteps:\n" + steps)


# The base mesh governed: the orchestrator may invoke its agents, fraud_agent use its tools.
GOVERNED = (manifest("GovernancePolicy", "agent_invocation_access",
                     "rules:\n- {agent_id: orchestrator_agent, allowed_agents: "
                     "[fraud_agent, intake_agent]}") + "---\n"
            + manifest("GovernancePolicy", "agent_tool_access",
                       "rules:\n- {agent_id: fraud_agent, allowed_tools: "
                       "[fraud_rules, similarity]}\n"))

CASES: dict[str, Callable[[Path], list[Diagnostic]]] = {
    "M015": manifests_case(manifest("SystemConfig", "main", SYSTEM_SECTIONS)),
    "M016": manifests_case("apiVersion: agentmesh.io/v1\nkind: ModelProfile\n"
                           "metadata: {name: default_gpt35}\n$patch: delete\n"),
    "M017": overlay_case("apiVersion: agentmesh.io/v1\nkind: ModelProfile\n"
                         "metadata: {name: default_gpt53}\n$patch: delete\n"),
    "M018": overlay_case("apiVersion: agentmesh.io/v1\nkind: ModelProfile\n"
                         "metadata: {name: default_gpt35}\n"
                         "patches: [{op: remove, path: /spec/nothing}]\n"),
    "M019": overlay_case("apiVersion: agentmesh.io/v1\nkind: ModelProfile\n"
                         "metadata: {name: default_gpt35}\n$patch: replace\n"),
    "C001": manifests_case(processor("reranker", 1)),
    "C002": manifests_case(processor("content_selector", 1) + "---\n" + processor("injector", 1)),
    "C003": manifests_case(manifest("ContextStrategies", "default", (
        "context_compilation:\n  default_budget_allocation:\n"
        "    original_input_percentage: 30\n    prior_outputs_percentage: 50\n"
        "    observations_percentage: 30\n"))),
    "C004": manifests_case(manifest("SystemConfig", "default", SYSTEM_SECTIONS.replace(
        "workflow: {}", "workflow: {max_agent_invocations: 0}"))),
    "C005": manifests_case(integration_workflow("- {id: a, type: teleport}")),
    "C006": manifests_case(integration_workflow("- {id: a, type: rest_call}")),
    "C007": manifests_case(manifest("IntegrationConfig", "default", (
        "version: '1.1'\nretry_policies:\n"
        "- {policy_id: standard, max_attempts: 3, backoff_seconds: 0.5}\n"
        "- {policy_id: standard, max_attempts: 5, backoff_seconds: 1}\n"))),
    "C008": plan_case(processor("content_selector", 1),
                      processor("content_selector", 1) + "---\n" + connector("c1")),
    "R005": manifests_case(connector("c1", "auth_profile: nope")),
    "R006": manifests_case(integration_workflow("- {id: a, type: rest_call, connector: nope}")),
    "R007": manifests_case(integration_workflow(
        "- {id: a, type: security_transform, policy: nope}")),
    "R008": manifests_case(RETRY + "---\n" + connector("c1", "retry_policy_id: fast")),
    "R009": manifests_case(manifest("ContextStrategies", "default", STRATEGIES)),
    "M001": manifests_case("a: [1\n"),
    "M002": manifests_case(manifest("Tool", "big", "description: " + "x" * 400), max_bytes=300,
                           with_base=False),
    "M003": manifests_case("a: 1\na: 2\n"),
    "M004": manifests_case("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True))),
    "M005": manifests_case("- not a mapping\n"),
    "M006": manifests_case("a: !!python/name:os.system\n"),
    "M007": manifests_case("apiVersion: v2\nkind: Tool\n"),
    "M008": manifests_case(HEAD + "kind: Gadget\n"),
    "M009": manifests_case(HEAD + "kind: Tool\nmetadata: {}\n"),
    "M010": two_files,
    "M011": manifests_case(manifest("Tool", "t2") + "status: live\n"),
    "M012": manifests_case(manifest("Tool", "t2", "tool_id: t3")),
    "M013": manifests_case(b"a: \xff\n"),
    "L001": live_case(lambda root: (root / "tool_registry.json").write_text("{")),
    "L002": live_case(lambda root: (root / "tool_registry.json").write_text("[]")),
    "L003": live_case(edit_json("tool_registry.json", lambda d: d["tools"].append({}))),
    "L004": live_case(edit_json("tool_registry.json",
                                lambda d: d["tools"].append(d["tools"][0]))),
    "L005": live_case(lambda root: shutil.move(root / "workflows" / "claims_triage.json",
                                               root / "workflows" / "other.json")),
    "L006": live_case(lambda root: ((root / "tool_registry.json").unlink(),
                                    (root / "tool_registry.json").mkdir())),
    "S001": manifests_case(manifest("Tool", "t2", "name: T")),
    "S002": manifests_case(agent("a2", "max_iterations: '5'")),
    "S003": manifests_case(agent("a2", "max_iterations: 51")),
    "S004": live_case(edit_json("tool_registry.json",
                                lambda d: d["tools"][0].update(tool_id=".hidden"))),
    "S005": manifests_case(agent("a2", "input_schema: {type: 5}")),
    "S006": manifests_case(agent("a2", "allowed_tool: []")),
    "S007": manifests_case(step_workflow("- {step_id: a, agent_id: fraud_agent}\n")
                           + "  mode: fast\n"),
    "R001": manifests_case(agent("a2", model="nope")),
    "R002": manifests_case(agent("a2", "allowed_tools: [nope]")),
    "R003": manifests_case(agent("a2", "allowed_agents: [nope]")),
    "R004": manifests_case(manifest("GovernancePolicy", "p", "rules:\n- workflow_id: nope")),
    "W001": manifests_case(step_workflow("- {step_id: a, agent_id: fraud_agent, "
                                         "on_success: nope}\n")),
    "W002": manifests_case(step_workflow("- step_id: a\n  agent_id: fraud_agent\n"
                                         "  context_compilation: {include_prior_outputs: [a]}\n")),
    "W003": manifests_case(step_workflow("- {step_id: a, agent_id: fraud_agent, "
                                         "on_success: a, on_failure: a}\n")),
    "W004": manifests_case(step_workflow("- {step_id: a, agent_id: fraud_agent, "
                                         "on_success: complete}\n"
                                         "- {step_id: b, agent_id: fraud_agent}\n")),
    "W005": manifests_case(step_workflow("- {step_id: a, agent_id: fraud_agent}\n"
                                         "- {step_id: a, agent_id: fraud_agent}\n")),
    "G001": manifests_case(agent("a2", "allowed_agents: [a2]")),
    "O001": manifests_case(manifest("Tool", "t2"), with_base=False),
    "M014": manifests_case(agent("Fraud_Agent")),
    "L007": live_case(edit_json("tool_registry.json",
                                lambda d: d["tools"][0].pop("output_schema"))),
    "H001": manifests_case(hitl_case("role_id: reviewer", "required_role: auditor")),
    "H002": manifests_case(hitl_case("role_id: reviewer", "required_role: reviewer\n"
                                     "    agent_id: intake_agent")),
    "H003": manifests_case(hitl_case("role_id: reviewer\n  allowed_checkpoint_types: [input]",
                                     "required_role: reviewer\n    checkpoint_type: approval")),
    "B001": plan_case(manifest("Tool", "t9", "name: T\ndescription: d\nendpoint: /t9\n"
                               "input_schema: {type: object}\noutput_schema: {type: object}"),
                      manifest("Tool", "t9", "name: T\ndescription: d\nendpoint: /t9\n"
                               "input_schema: {type: object, required: [claim_id]}\n"
                               "output_schema: {type: object}")),
    "B002": plan_case(_agents_in_a_workflow("{x: {type: string}}"),
                      _agents_in_a_workflow("{y: {type: string}}"),
                      BASE_MESH.replace("allowed_agents: [fraud_agent, intake_agent]",
                                        "allowed_agents: [fraud_agent, intake_agent, p1, p2]")),
    "A001": manifests_case(manifest("GovernancePolicy", "agent_invocation_access",
                                    "rules:\n- {agent_id: orchestrator_agent, "
                                    "allowed_agents: [intake_agent]}")),
    "A002": manifests_case(agent("p9") + "---\n"
                           + step_workflow("- {step_id: a, agent_id: p9}\n")),
    "A003": manifests_case(manifest("GovernancePolicy", "agent_tool_access",
                                    "rules:\n- {agent_id: fraud_agent, allowed_tools: "
                                    "[fraud_rules], denied_tools: [similarity]}")),
    "A004": manifests_case(manifest("GovernancePolicy", "agent_tool_access",
                                    "rules:\n- {agent_id: fraud_agent, allowed_tools: "
                                    "['*']}")),
    "A005": manifests_case(manifest("GovernancePolicy", "model_usage",
                                    "rules:\n- {workflow_id: w1, allowed_profiles: [gpt4]}")
                           + "---\n" + step_workflow("- {step_id: a, agent_id: fraud_agent}\n")),
    "A007": plan_case(GOVERNED, GOVERNED + "  - {agent_id: intake_agent, allowed_tools: "
                      "[fraud_rules]}\n", deny_access_widening=True),
    "A006": manifests_case(manifest("GovernancePolicy", "agent_tool_access",
                                    "rules:\n- {agent_id: fraud_agent, allowed_tools: "
                                    "fraud_rules}")),
    "U001": plan_case(manifest("Tool", "t9", "name: T\ndescription: d\nendpoint: /t9\n"
                               "input_schema: {type: object}\noutput_schema: {type: object}")
                      + "---\n"
                      + agent("a9", "allowed_tools: [t9]"),
                      agent("a9", "allowed_tools: [t9]")),
}


# Rules about a whole file or a live registry entry (which has no line to point at).
NO_LINE = {"M002", "L002", "L003", "L004", "L005", "L006", "L007", "S004", "O001"}


def test_every_rule_has_a_failing_case() -> None:
    assert sorted(CASES) == sorted(RULES)


@pytest.mark.parametrize("code", sorted(RULES))
def test_the_rule_fires_with_its_severity(code: str, tmp_path: Path) -> None:
    found = [d for d in CASES[code](tmp_path) if d.code == code]
    assert found, f"{code} was not reported"
    assert all(d.severity is RULES[code].severity for d in found)
    assert all(d.message and d.hint for d in found)
    if code != "O001":  # the one rule about something absent
        assert all(d.file and Path(d.file).is_relative_to(tmp_path) for d in found)
    if code not in NO_LINE:
        assert all(d.line is not None for d in found)


# The real AgentMesh registries hold two checkpoints of a type their role does not allow.
REAL_WARNINGS = [("H003", "hitl_checkpoints[1].checkpoint_type"),
                 ("H003", "hitl_checkpoints[2].checkpoint_type")]


def test_the_example_manifests_pass_every_rule() -> None:
    desired = load(FIXTURE_MANIFESTS)
    assert [(d.code, d.path) for d in desired.diagnostics] == REAL_WARNINGS
    assert len(desired.state) == 29


def test_the_example_registries_pass_every_rule() -> None:
    found = engine.validate_live(engine.load_live(FIXTURE_REGISTRIES))
    assert sorted((d.code, d.path) for d in found) == REAL_WARNINGS


def test_codes_are_unique_and_well_formed() -> None:
    for code, rule in RULES.items():
        assert code == rule.code
        assert len(code) == 4 and code[0] in "MLSRWHCGOBUA" and code[1:].isdigit()
        assert rule.title
