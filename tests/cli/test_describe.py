"""`meshctl describe KIND NAME`: one live resource, its fields, its references both ways and
the manifest that declares it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.plan.conftest import MANIFESTS, live_entry, make_workspace

Run = Callable[..., CliResult]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_workspace(tmp_path, monkeypatch)


def test_a_tool_with_its_fields_users_and_manifest(ws: Path, meshctl: Run) -> None:
    result = meshctl("describe", "tool", "fraud_rules")
    assert result.code == 0, result.output
    lines = result.out.splitlines()
    assert lines[:5] == [
        "Name:        fraud_rules",
        "Kind:        Tool",
        "Live:        registries/tool_registry.json",
        "Declared in: manifests/tools/fraud_rules.yaml:1",
        "Fields:",
    ]
    assert "  name: Fraud Rules Engine" in lines
    assert "  endpoint: /invoke/fraud_rules" in lines
    assert "Refers to: none" in lines
    users = lines[lines.index("Referred to by:") + 1:lines.index("Dependents (transitive): 9")]
    assert [line.split() for line in users] == [
        ["may-use-tool", "agent/fraud_agent", "(allowed_tools[0])"],
        ["policy-ref", "governance-policy/agent_tool_access", "(rules[0].denied_tools[0])"],
        ["policy-ref", "governance-policy/agent_tool_access", "(rules[1].denied_tools[0])"],
        ["policy-ref", "governance-policy/agent_tool_access", "(rules[2].allowed_tools[0])"],
        ["policy-ref", "governance-policy/agent_tool_access", "(rules[3].denied_tools[0])"],
        ["policy-ref", "governance-policy/agent_tool_access", "(rules[4].denied_tools[0])"],
    ]
    assert "\x1b[" not in result.out


def test_an_agent_as_json(ws: Path, meshctl: Run) -> None:
    result = meshctl("describe", "agent", "fraud_agent", "-o", "json")
    assert result.code == 0, result.output
    data = json.loads(result.out)
    assert (data["kind"], data["name"]) == ("Agent", "fraud_agent")
    assert data["live"] == "registries/agent_registry.json"
    assert data["declared_in"] == "manifests/agents/fraud_agent.yaml:1"
    assert data["entry"] == live_entry("agent_registry.json", "agents", "fraud_agent")
    assert data["refers_to"] == [
        {"type": "uses-model", "resource": "model-profile/default_gpt35",
         "path": "model_profile_id"},
        {"type": "may-use-tool", "resource": "tool/fraud_rules", "path": "allowed_tools[0]"},
        {"type": "may-use-tool", "resource": "tool/similarity", "path": "allowed_tools[1]"},
    ]
    assert {"type": "may-invoke", "resource": "agent/orchestrator_agent",
            "path": "allowed_agents[2]"} in data["referred_to_by"]
    assert {"type": "step-agent", "resource": "workflow/claims_triage",
            "path": "steps[2].agent_id"} in data["referred_to_by"]
    assert data["dependents"] == [
        "agent/orchestrator_agent", "workflow/claims_triage",
        "governance-policy/agent_invocation_access", "governance-policy/agent_tool_access",
        "governance-policy/hitl_access_control", "governance-policy/iteration_limits",
        "governance-policy/model_usage", "governance-policy/multi_agent_handoffs"]


@pytest.mark.parametrize("kind", ["mp", "model-profile", "ModelProfile", "profiles"])
def test_kind_aliases(ws: Path, meshctl: Run, kind: str) -> None:
    result = meshctl("describe", kind, "gpt4", "-o", "json")
    assert result.code == 0, result.output
    assert json.loads(result.out)["entry"]["profile_id"] == "gpt4"


def test_declared_in_points_at_the_document_in_a_multi_document_file(ws: Path,
                                                                      meshctl: Run) -> None:
    tool = MANIFESTS / "tools" / "similarity.yaml"
    combined = MANIFESTS / "combined.yaml"
    text = (MANIFESTS / "tools" / "fraud_rules.yaml").read_text()
    combined.write_text(text + "---\n" + tool.read_text())
    (MANIFESTS / "tools" / "fraud_rules.yaml").unlink()
    tool.unlink()
    result = meshctl("describe", "tool", "similarity", "-o", "json")
    line = len(text.splitlines()) + 2
    assert json.loads(result.out)["declared_in"] == f"{combined}:{line}"


def test_manifests_option_and_a_live_resource_without_a_manifest(ws: Path,
                                                                 meshctl: Run) -> None:
    Path("manifests").rename("team")
    missing = meshctl("describe", "tool", "similarity")
    assert missing.code == 0
    assert "Declared in: no manifest found" in missing.out
    found = meshctl("describe", "tool", "similarity", "--manifests", "team", "-o", "json")
    assert json.loads(found.out)["declared_in"] == "team/tools/similarity.yaml:1"
    (Path("team") / "tools" / "similarity.yaml").unlink()
    gone = meshctl("describe", "tool", "similarity", "--manifests", "team", "-o", "json")
    assert json.loads(gone.out)["declared_in"] is None


def test_an_unknown_name_exits_1_with_a_suggestion(ws: Path, meshctl: Run) -> None:
    result = meshctl("describe", "tool", "fraud_rule")
    assert result.code == 1
    assert result.out == ""
    assert ("tool 'fraud_rule' not found in registries; did you mean 'fraud_rules'? "
            "see `meshctl get tools`") in result.err


def test_an_unknown_kind_exits_1(ws: Path, meshctl: Run) -> None:
    result = meshctl("describe", "tolls", "fraud_rules")
    assert result.code == 1
    assert "unknown kind 'tolls'; did you mean 'tools'?" in result.err


def test_missing_registries_exit_1(ws: Path, meshctl: Run) -> None:
    result = meshctl("describe", "tool", "fraud_rules", "--registries", "nowhere")
    assert result.code == 1
    assert "registries directory 'nowhere' not found" in result.err


def test_usage_errors_exit_1(ws: Path, meshctl: Run) -> None:
    for args in (("describe", "tool"), ("describe", "tool", "x", "--nope"),
                 ("describe", "tool", "fraud_rules", "-o", "yaml")):
        result = meshctl(*args)
        assert result.code == 1, args
        assert "Error" in result.err
