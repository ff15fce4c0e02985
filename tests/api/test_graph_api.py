"""The Graph page's endpoints (issue 27): a type-ahead over every id, one resource's
neighbourhood (N hops, direct and transitive dependents apart, by kind, with the reference
field on each edge) and a workflow's steps. Against the full example mesh (every kind:
checkpoints, connectors, retry policies, context strategies), in process; the answers are
checked against the engine's own graph (`graph.build`), not against copies of its rules."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from reconciler import graph
from reconciler.api import create_app
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store.registry_files import read_live_state
from tests.conftest import FULL_REGISTRIES, copy_tree


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tree(FULL_REGISTRIES, tmp_path_factory.mktemp("graph") / "registries")


@pytest.fixture(scope="module")
def app(full: Path) -> FastAPI:
    return create_app(str(full), watch=False)


@pytest.fixture(scope="module")
def mesh(full: Path) -> graph.Graph:
    return graph.build(read_live_state(full).state)


def ask(app: FastAPI, path: str, **params: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
            return await api.get(path, params=params)

    return asyncio.run(run())


def around(app: FastAPI, kind: str, name: str, **params: Any) -> dict[str, Any]:
    answer = ask(app, "/registries/graph/neighbourhood", kind=kind, name=name, **params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def ids(answer: dict[str, Any], *roles: str, direct: bool | None = None) -> set[str]:
    return {node["id"] for node in answer["nodes"] if node["role"] in roles
            and (direct is None or node["direct"] is direct)}


def keys(found: list[ResourceKey]) -> set[str]:
    return {str(key) for key in found}


AGENT = ResourceKey(Kind.AGENT, "fraud_agent")
TOOL = ResourceKey(Kind.TOOL, "fraud_rules")


def test_one_hop_is_what_it_names_and_what_names_it(app: FastAPI, mesh: graph.Graph) -> None:
    answer = around(app, "agent", "fraud_agent")
    assert answer["focus"] == "agent/fraud_agent" and answer["hops"] == 1
    assert ids(answer, "focus") == {"agent/fraud_agent"}
    assert ids(answer, "dependency", "both") == keys(mesh.dependencies(AGENT))
    assert ids(answer, "dependent", "both") == keys(mesh.dependents(AGENT))
    assert all(node["direct"] and node["distance"] == 1
               for node in answer["nodes"] if node["role"] != "focus")
    assert answer["counts"]["dependents"] == len(mesh.dependents(AGENT))
    # Every edge touches the focus at one hop, and names the field that refers.
    assert {edge["reach"] for edge in answer["edges"]} == {"direct"}
    fields = {(edge["from"], edge["to"], edge["field"]) for edge in answer["edges"]}
    assert ("agent/fraud_agent", "tool/fraud_rules", "allowed_tools[0]") in fields
    assert ("agent/fraud_agent", "model-profile/default_gpt35", "model_profile_id") in fields
    assert ("workflow/claims_triage", "agent/fraud_agent", "steps[2].agent_id") in fields


def test_more_hops_reach_further_and_are_marked_indirect(app: FastAPI,
                                                         mesh: graph.Graph) -> None:
    one, two = around(app, "agent", "fraud_agent"), around(app, "agent", "fraud_agent", hops=2)
    further = {node["id"] for node in two["nodes"]} - {node["id"] for node in one["nodes"]}
    # The policy that names the workflow that runs fraud_agent: two hops away.
    assert "governance-policy/model_usage" in further
    model_usage = next(n for n in two["nodes"] if n["id"] == "governance-policy/model_usage")
    assert model_usage["distance"] == 2 and model_usage["direct"] is False
    assert {edge["reach"] for edge in two["edges"]} == {"direct", "transitive"}
    assert {"from": "governance-policy/model_usage", "to": "workflow/claims_triage",
            "type": "policy-ref", "field": "rules[0].workflow_id", "reach": "transitive"} in [
        {k: edge[k] for k in ("from", "to", "type", "field", "reach")} for edge in two["edges"]]
    # Two hops of dependencies: what the direct dependencies name in turn, no further.
    second = {str(key) for first in mesh.dependencies(AGENT)
              for key in mesh.dependencies(first)} - keys(mesh.dependencies(AGENT)) - {str(AGENT)}
    assert ids(two, "dependency", direct=False) == second
    assert ask(app, "/registries/graph/neighbourhood", kind="agent", name="fraud_agent",
               hops=6).status_code == 422


def test_transitive_dependents_are_the_engines_and_told_apart(app: FastAPI,
                                                              mesh: graph.Graph) -> None:
    direct = around(app, "tool", "fraud_rules")
    every = around(app, "tool", "fraud_rules", transitive="true", limit=2000)
    assert ids(direct, "dependent", "both") == keys(mesh.dependents(TOOL))
    assert ids(every, "dependent", "both") == keys(mesh.dependents(TOOL, transitive=True))
    assert ids(every, "dependent", direct=True) | ids(every, "both", direct=True) == keys(
        mesh.dependents(TOOL))
    transitive = ids(every, "dependent", direct=False)
    assert transitive == keys(mesh.dependents(TOOL, transitive=True)) - keys(
        mesh.dependents(TOOL))
    assert "workflow/claims_triage" in transitive  # runs fraud_agent, which uses the tool
    assert every["counts"]["transitive_dependents"] == len(transitive)
    assert direct["counts"]["transitive_dependents"] == 0
    # An edge is direct when it touches the tool, else transitive.
    for edge in every["edges"]:
        touches = "tool/fraud_rules" in (edge["from"], edge["to"])
        assert edge["reach"] == ("direct" if touches else "transitive"), edge


def test_the_kinds_filter_limits_the_walk(app: FastAPI) -> None:
    answer = around(app, "tool", "fraud_rules", transitive="true", kinds="agent,tool")
    assert {node["type"] for node in answer["nodes"]} <= {"agent", "tool"}
    assert "agent/fraud_agent" in ids(answer, "dependent")
    assert answer["kinds"] == ["agent", "tool"]
    # The workflow is reached only through an agent: without agents it is not reached.
    skipped = around(app, "tool", "fraud_rules", transitive="true", kinds="tool,workflow")
    assert ids(skipped, "dependent", "both") == set()
    # The focus is shown whatever its kind.
    alone = around(app, "tool", "fraud_rules", kinds="governance-policy")
    assert ids(alone, "focus") == {"tool/fraud_rules"}
    assert {node["type"] for node in alone["nodes"]} == {"tool", "governance-policy"}
    wrong = ask(app, "/registries/graph/neighbourhood", kind="tool", name="fraud_rules",
                kinds="agent,nonsense")
    assert wrong.status_code == 400 and "unknown kind 'nonsense'" in wrong.json()["detail"]


def test_checkpoints_integrations_and_context_references_are_drawn(app: FastAPI) -> None:
    def edges(answer: dict[str, Any]) -> list[tuple[str, str, str, str, str | None]]:
        return [(e["from"], e["to"], e["type"], e["field"], e.get("names"))
                for e in answer["edges"]]

    workflow = edges(around(app, "workflow", "claims_triage"))
    assert ("workflow/claims_triage", "governance-policy/hitl_access_control", "hitl-role",
            "hitl_checkpoints[0].required_role", "approver") in workflow
    assert ("workflow/claims_triage", "agent/intake_agent", "requires-agent",
            "hitl_checkpoints[1].agent_id", None) in workflow
    connector = edges(around(app, "connector", "guidewire_claims"))
    assert ("connector/guidewire_claims", "auth-profile/gw_oauth", "auth-profile",
            "auth_profile", None) in connector
    assert ("connector/guidewire_claims", "integration-config/default", "retry-policy",
            "retry_policy_id", "standard") in connector
    assert ("integration-workflow/claim_fnol_sync", "connector/guidewire_claims",
            "step-connector", "steps[0].connector", None) in connector
    secured = edges(around(app, "integration-workflow", "claim_fnol_sync"))
    assert ("integration-workflow/claim_fnol_sync", "security-policy/claims_pii_masking",
            "step-security-policy", "steps[1].policy", None) in secured
    # Context strategies name their summarization model (switched off here, and absent:
    # drawn as missing, not left out).
    strategies = around(app, "context-strategies", "default")
    assert ("context-strategies/default", "model-profile/summarization_gpt35",
            "summary-model", "compaction.llm_summarization.model_profile_id",
            None) in edges(strategies)
    (model,) = [n for n in strategies["nodes"] if n["id"] == "model-profile/summarization_gpt35"]
    assert model["missing"] is True and model["role"] == "dependency"


def test_the_nearest_are_sent_and_the_rest_counted(app: FastAPI) -> None:
    whole = around(app, "agent", "fraud_agent", hops=3, transitive="true")
    cut = around(app, "agent", "fraud_agent", hops=3, transitive="true", limit=4)
    assert len(cut["nodes"]) == 5 and cut["truncated"] is True  # the focus and 4
    assert cut["omitted"] == len(whole["nodes"]) - 5
    assert all(node["distance"] <= 1 for node in cut["nodes"])
    shown = {node["id"] for node in cut["nodes"]}
    assert all(edge["from"] in shown and edge["to"] in shown for edge in cut["edges"])
    assert whole["truncated"] is False and whole["omitted"] == 0


def test_unknown_resources_and_kinds(app: FastAPI) -> None:
    missing = ask(app, "/registries/graph/neighbourhood", kind="agent", name="nobody")
    assert missing.status_code == 404 and "agent 'nobody'" in missing.json()["detail"]
    odd = ask(app, "/registries/graph/neighbourhood", kind="gizmo", name="x")
    assert odd.status_code == 400 and "model-profile" in odd.json()["detail"]
    # Kinds as the API names them elsewhere are understood too.
    assert around(app, "Agent", "fraud_agent")["focus"] == "agent/fraud_agent"
    assert around(app, "agents", "fraud_agent")["focus"] == "agent/fraud_agent"


def test_search_is_served_over_every_kind(app: FastAPI, mesh: graph.Graph) -> None:
    found = ask(app, "/registries/graph/search", q="fraud").json()
    assert [m["id"] for m in found["matches"]] == ["tool/fraud_rules", "agent/fraud_agent"]
    assert found["total"] == 2
    exact = ask(app, "/registries/graph/search", q="FRAUD_AGENT").json()
    assert exact["matches"][0]["id"] == "agent/fraud_agent"
    # Names starting with the text come before names holding it.
    starts = ask(app, "/registries/graph/search", q="claim").json()["matches"]
    ranked = [m["name"].startswith("claim") for m in starts]
    assert ranked == sorted(ranked, reverse=True) and ranked[0] and not ranked[-1]
    assert {m["type"] for m in starts} >= {"workflow", "integration-workflow"}
    # The kind's name finds its resources too ("connector/" + name).
    assert {m["type"] for m in ask(app, "/registries/graph/search", q="connector/",
                                   limit=100).json()["matches"]} == {"connector"}
    few = ask(app, "/registries/graph/search", q="agent", limit=3).json()
    assert len(few["matches"]) == 3 and few["total"] > 3
    only = ask(app, "/registries/graph/search", q="fraud", kinds="agent").json()
    assert [m["id"] for m in only["matches"]] == ["agent/fraud_agent"]
    browse = ask(app, "/registries/graph/search", q="", limit=5).json()  # nothing typed
    assert browse["total"] == len(mesh.nodes) and len(browse["matches"]) == 5
    assert [m["id"] for m in browse["matches"]] == [str(key) for key in sorted(
        mesh.nodes, key=graph.node_order)][:5]
    kinds = ask(app, "/registries/graph/kinds").json()["kinds"]
    agents = sum(1 for key in mesh.nodes if key.kind is Kind.AGENT)
    assert {"type": "agent", "kind": "Agent", "label": "agent", "count": agents} in kinds
    assert [k["type"] for k in kinds][:3] == ["model-profile", "tool", "agent"]


def test_a_workflows_steps_and_transitions(app: FastAPI) -> None:
    flow = ask(app, "/registries/graph/workflow", name="claims_triage").json()
    assert [step["id"] for step in flow["steps"]] == [
        "intake", "coverage", "fraud", "severity", "recommendation", "explainability"]
    assert flow["steps"][2]["agent"] == "fraud_agent"
    moves = {(m["from"], m["to"], m["on"]) for m in flow["transitions"]}
    assert ("intake", "coverage", "success") in moves
    assert ("intake", "terminate_with_error", "failure") in moves
    assert ("explainability", "complete", "success") in moves
    assert set(flow["ends"]) == {"terminate_with_error", "complete", "complete_with_warning"}
    points = {point["id"]: point for point in flow["checkpoints"]}
    assert points["fraud_review"]["after"] == ["intake"]
    assert points["final_approval"]["before"] == ["complete"]
    assert points["final_approval"]["role"] == "approver"
    integration = ask(app, "/registries/graph/workflow", kind="integration-workflow",
                      name="claim_fnol_sync").json()
    assert [s["id"] for s in integration["steps"]] == ["fetch_claim", "mask_pii", "audit"]
    assert ("fetch_claim", "dead_letter", "failure") in {
        (m["from"], m["to"], m["on"]) for m in integration["transitions"]}
    assert ask(app, "/registries/graph/workflow", kind="agent",
               name="fraud_agent").status_code == 400
    assert ask(app, "/registries/graph/workflow", name="nope").status_code == 404


def test_the_whole_graph_keeps_its_shape(app: FastAPI) -> None:
    whole = ask(app, "/registries/graph").json()
    assert set(whole) == {"nodes", "edges", "cycles"}
    assert set(whole["edges"][0]) == {"from", "to", "type", "path"}
