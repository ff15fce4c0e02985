"""`validate --all-envs` checks a shared base once and each environment from it
(`validate.changes`): what it finds must be what checking each environment from scratch
finds, for any overlay. Hypothesis writes random overlays over the real fixture."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import engine, loading
from reconciler.manifests.layers import Layers
from tests.environments import make_project

AGENTS = ["fraud_agent", "intake_agent", "coverage_agent", "severity_agent",
          "recommendation_agent", "explainability_agent", "orchestrator_agent", "new_agent"]
TOOLS = ["fraud_rules", "similarity", "policy_snapshot", "coverage_rules", "no_such_tool"]
PROFILES = ["default_gpt35", "gpt4", "claude_haiku_3", "no_such_profile"]


def _doc(kind: str, name: str, **body: Any) -> dict[str, Any]:
    return {"apiVersion": "agentmesh.io/v1", "kind": kind, "metadata": {"name": name}, **body}


agent_patch = st.builds(
    lambda name, spec: _doc("Agent", name, spec=spec),
    st.sampled_from(AGENTS[:-1]),
    st.fixed_dictionaries({}, optional={
        "max_iterations": st.integers(min_value=0, max_value=6),
        "allowed_tools": st.lists(st.sampled_from(TOOLS), max_size=3, unique=True),
        "allowed_agents": st.lists(st.sampled_from(AGENTS), max_size=3, unique=True),
        "model_profile_id": st.sampled_from(PROFILES),
        "description": st.text(min_size=1, max_size=8)}))
deletion = st.builds(lambda kind, name: {**_doc(kind, name), "$patch": "delete"},
                     st.sampled_from(["Agent"]), st.sampled_from(AGENTS[:-1])) | st.builds(
    lambda name: {**_doc("Tool", name), "$patch": "delete"}, st.sampled_from(TOOLS[:-1]))
new_agent = st.builds(
    lambda tools, profile: _doc("Agent", "new_agent", spec={
        "name": "New", "description": "d", "capabilities": ["x"], "allowed_tools": tools,
        "model_profile_id": profile, "output_schema": {"type": "object"}}),
    st.lists(st.sampled_from(TOOLS), max_size=2, unique=True), st.sampled_from(PROFILES))
list_edit = st.builds(
    lambda name, tool: _doc("Agent", name, patches=[
        {"op": "add", "path": "/spec/allowed_tools/-", "value": tool}]),
    st.sampled_from(AGENTS[:-2]), st.sampled_from(TOOLS))
tool_rule = st.builds(
    lambda tools: _doc("GovernancePolicy", "agent_tool_access", patches=[
        {"op": "replace", "path": "/spec/rules/0/allowed_tools", "value": tools}]),
    st.lists(st.sampled_from(TOOLS), max_size=3, unique=True))
hitl_roles = st.builds(  # a content edge: the workflows' checkpoints read the roles
    lambda index, types: _doc("GovernancePolicy", "hitl_access_control", patches=[
        {"op": "replace", "path": f"/spec/roles/{index}/allowed_checkpoint_types",
         "value": types}]),
    st.integers(min_value=0, max_value=1),
    st.lists(st.sampled_from(["approval", "decision", "escalation", "review"]), max_size=3,
             unique=True))
policy_gone = st.builds(lambda name: {**_doc("GovernancePolicy", name), "$patch": "delete"},
                        st.sampled_from(["hitl_access_control", "agent_tool_access",
                                         "agent_invocation_access"]))
overlay = st.lists(agent_patch | deletion | new_agent | list_edit | tool_rule | hitl_roles
                   | policy_gone, max_size=4)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("changes"))


def _by_key(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One document per resource (a layer holds one), the last one kept."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for document in documents:
        found[(document["kind"], document["metadata"]["name"])] = document
    return list(found.values())


def _as_dicts(desired: engine.DesiredState) -> list[bytes]:
    return sorted(orjson.dumps(d.to_dict()) for d in desired.diagnostics)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=overlay, second=overlay)
def test_every_environment_checked_from_the_base_equals_a_check_from_scratch(
        project: Path, first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    stacks = []
    for name, documents in (("one", first), ("two", second)):
        folder = project / "manifests" / "overlays" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "overlay.yaml").write_text(
            yaml.safe_dump_all(_by_key(documents), sort_keys=False), encoding="utf-8")
        stacks.append(Layers([str(project / "manifests" / "base"), str(folder)]))
    together = loading.load_environments(stacks, use_cache=False, jobs=1)
    for stack, shared in zip(stacks, together, strict=True):
        alone = engine.load_desired(stack, use_cache=False, jobs=1)
        assert _as_dicts(shared) == _as_dicts(alone)
        assert [r.to_dict() for r in shared.state] == [r.to_dict() for r in alone.state]


def test_an_environment_without_overlays_is_its_base(project: Path) -> None:
    base = Layers([str(project / "manifests" / "base")])
    [shared] = loading.load_environments([base], use_cache=False, jobs=1)
    alone = engine.load_desired(base, use_cache=False, jobs=1)
    assert _as_dicts(shared) == _as_dicts(alone)
