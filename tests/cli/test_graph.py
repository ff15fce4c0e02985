"""`meshctl graph`: the dependency graph as dot, Mermaid or JSON; --focus and --live."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler import graph
from reconciler.engine import load_live
from tests.conftest import CliResult, agent, write
from tests.plan.conftest import MANIFESTS, make_workspace

Run = Callable[..., CliResult]
FRAUD_RULES_FOCUS = {
    "tool/fraud_rules", "agent/fraud_agent", "agent/orchestrator_agent",
    "workflow/claims_triage", "governance-policy/agent_invocation_access",
    "governance-policy/agent_tool_access", "governance-policy/hitl_access_control",
    "governance-policy/iteration_limits", "governance-policy/model_usage",
    "governance-policy/multi_agent_handoffs",
    # what those depend on in turn is not pulled in: only fraud_rules' own dependencies are
}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def graph_json(meshctl: Run, *args: str) -> dict[str, Any]:
    result = meshctl("graph", "-o", "json", *args)
    assert result.code == 0, result.output
    data: dict[str, Any] = json.loads(result.out)
    return data


def node_ids(data: dict[str, Any]) -> set[str]:
    return {node["id"] for node in data["nodes"]}


def test_json_has_every_resource_and_typed_edge(ws: Path, meshctl: Run) -> None:
    data = graph_json(meshctl)
    assert len(data["nodes"]) == 29
    assert {"id": "tool/fraud_rules", "kind": "Tool", "name": "fraud_rules"} in data["nodes"]
    assert {"from": "agent/fraud_agent", "to": "tool/fraud_rules", "type": "may-use-tool",
            "path": "allowed_tools[0]"} in data["edges"]
    expected = graph.build(load_live(Path("registries")).state)
    assert len(data["edges"]) == len(expected.edges)
    # A checkpoint's role names the policy, which names the workflow back: no agent loop.
    assert data["cycles"] == [["workflow/claims_triage", "governance-policy/hitl_access_control"]]


def test_dot(ws: Path, meshctl: Run) -> None:
    result = meshctl("graph")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[:3] == ["digraph mesh {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    assert lines[-1] == "}"
    assert '  "tool/fraud_rules" [label="fraud_rules", shape=component];' in lines
    assert '  "model-profile/gpt4" [label="gpt4", shape=cylinder];' in lines
    assert ('  "agent/fraud_agent" -> "tool/fraud_rules" [label="may-use-tool"];' in lines)
    # One arrow per (source, target, type): repeated references collapse into one.
    distinct = {(e["from"], e["to"], e["type"]) for e in graph_json(meshctl)["edges"]}
    assert sum(" -> " in line for line in lines) == len(distinct)


def test_mermaid(ws: Path, meshctl: Run) -> None:
    result = meshctl("graph", "-o", "mermaid")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "graph LR"
    ids = dict(re.findall(r'^  (n\d+)\["(.+)"\]$', result.out, re.MULTILINE))
    assert len(ids) == 29
    by_label = {label: node for node, label in ids.items()}
    edge = f"  {by_label['agent: fraud_agent']} -->|may-use-tool| {by_label['tool: fraud_rules']}"
    assert edge in lines


def test_a_dangling_reference_is_drawn_as_missing(ws: Path, meshctl: Run) -> None:
    write(MANIFESTS / "new.yaml", agent("new_agent", "allowed_tools: [ghost]"))
    result = meshctl("graph", "-o", "mermaid")
    assert result.code == 0  # invalid manifests still draw: the graph helps to find why
    assert re.search(r'^  n\d+\["missing tool/ghost"\]$', result.out, re.MULTILINE)


@pytest.mark.parametrize("name", ["fraud_rules", "tool/fraud_rules", "tools/fraud_rules"])
def test_focus_keeps_the_resource_its_dependencies_and_dependents(ws: Path, meshctl: Run,
                                                                  name: str) -> None:
    data = graph_json(meshctl, "--focus", name)
    assert node_ids(data) == FRAUD_RULES_FOCUS
    kept = node_ids(data)
    assert all(edge["from"] in kept and edge["to"] in kept for edge in data["edges"])


def test_focus_on_an_agent_includes_what_it_uses(ws: Path, meshctl: Run) -> None:
    kept = node_ids(graph_json(meshctl, "--focus", "agent/intake_agent"))
    assert {"agent/intake_agent", "tool/schema_validator", "model-profile/default_gpt35",
            "agent/orchestrator_agent", "workflow/claims_triage"} <= kept
    assert "tool/fraud_rules" not in kept and "model-profile/gpt4" not in kept


@pytest.mark.parametrize("name", ["governance-policy/model_usage", "policy/model_usage",
                                  "model_usage"])
def test_focus_takes_names_as_the_graph_prints_them(ws: Path, meshctl: Run, name: str) -> None:
    kept = node_ids(graph_json(meshctl, "--focus", name))
    assert {"governance-policy/model_usage", "workflow/claims_triage",
            "model-profile/default_gpt35"} <= kept


def test_several_focuses_are_a_union(ws: Path, meshctl: Run) -> None:
    one = node_ids(graph_json(meshctl, "--focus", "gpt4"))
    assert one == {"model-profile/gpt4"}  # nothing uses it
    both = node_ids(graph_json(meshctl, "--focus", "gpt4", "--focus", "fraud_rules"))
    assert both == FRAUD_RULES_FOCUS | {"model-profile/gpt4"}


def test_focus_on_an_unknown_name_exits_1_with_a_suggestion(ws: Path, meshctl: Run) -> None:
    result = meshctl("graph", "--focus", "fraud_rulez")
    assert result.code == 1
    assert result.out == ""
    assert "--focus 'fraud_rulez': no such resource; did you mean 'fraud_rules'?" in result.err
    wrong_kind = meshctl("graph", "--focus", "agent/fraud_rules")
    assert wrong_kind.code == 1


def test_live_draws_the_registries(ws: Path, meshctl: Run) -> None:
    (MANIFESTS / "model-profiles" / "gpt4.yaml").unlink()
    assert "model-profile/gpt4" not in node_ids(graph_json(meshctl))
    assert "model-profile/gpt4" in node_ids(graph_json(meshctl, "--live"))
    focused = graph_json(meshctl, "--live", "--focus", "fraud_rules")
    assert node_ids(focused) == FRAUD_RULES_FOCUS


def test_live_with_unreadable_registries_exits_1(ws: Path, meshctl: Run) -> None:
    Path("registries/agent_registry.json").write_text("{", encoding="utf-8")
    result = meshctl("graph", "--live")
    assert result.code == 1
    assert result.out == ""
    assert "L001" in result.err and "could not be read completely" in result.err


def test_live_with_a_missing_registries_directory_exits_1(ws: Path, meshctl: Run) -> None:
    result = meshctl("graph", "--live", "--registries", "nowhere")
    assert result.code == 1
    assert "registries directory 'nowhere' not found" in result.err


def test_unreadable_manifests_exit_1(ws: Path, meshctl: Run) -> None:
    path = write(MANIFESTS / "broken.yaml", "kind: [\n")
    result = meshctl("graph")
    assert result.code == 1
    assert result.out == ""
    assert f"{path}:" in result.err and "M001" in result.err


def test_missing_manifests_exit_1(ws: Path, meshctl: Run) -> None:
    result = meshctl("graph", "nowhere")
    assert result.code == 1
    assert "nowhere" in result.err


def test_usage_errors_exit_1(ws: Path, meshctl: Run) -> None:
    for args in (("graph", "-o", "svg"), ("graph", "--nope"), ("graph", "--focus")):
        result = meshctl(*args)
        assert result.code == 1, args
        assert "Error" in result.err
