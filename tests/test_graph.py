"""The dependency graph: typed edges, dependents and dependencies, order, cycles."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import graph
from reconciler.graph import EdgeType, Reference
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_REGISTRIES, FULL_REGISTRIES

ID_FIELD = {Kind.AGENT: "agent_id", Kind.TOOL: "tool_id", Kind.MODEL_PROFILE: "profile_id",
            Kind.WORKFLOW: "workflow_id"}


def key(kind: Kind, name: str) -> ResourceKey:
    return ResourceKey(kind, name)


def res(kind: Kind, name: str, **entry: Any) -> Resource:
    id_field = ID_FIELD.get(kind)
    body = {id_field: name, **entry} if id_field else entry
    return Resource(key(kind, name), body)


def state_of(*resources: Resource) -> MeshState:
    state = MeshState()
    for resource in resources:
        state.add(resource)
    return state


AG, TL, MP, WF, POL = (Kind.AGENT, Kind.TOOL, Kind.MODEL_PROFILE, Kind.WORKFLOW,
                       Kind.GOVERNANCE_POLICY)


def test_agent_edges_are_typed_and_carry_the_field_path() -> None:
    agent = res(AG, "a", model_profile_id="p", allowed_tools=["t1", "t2"], allowed_agents=["b"])
    assert list(graph.references(agent)) == [
        Reference(key(AG, "a"), key(MP, "p"), EdgeType.USES_MODEL, "model_profile_id"),
        Reference(key(AG, "a"), key(TL, "t1"), EdgeType.MAY_USE_TOOL, "allowed_tools[0]"),
        Reference(key(AG, "a"), key(TL, "t2"), EdgeType.MAY_USE_TOOL, "allowed_tools[1]"),
        Reference(key(AG, "a"), key(AG, "b"), EdgeType.MAY_INVOKE, "allowed_agents[0]"),
    ]


def test_workflow_edges() -> None:
    workflow = res(WF, "w", required_agents=["a"], optional_agents=["b"],
                   suggested_sequence=["a", "b"],
                   steps=[{"step_id": "s", "agent_id": "a"}, "junk", {"step_id": "t"}],
                   completion_criteria={"required_agents_executed": ["c"]},
                   hitl_checkpoints=[{"agent_id": "d"}])
    edges = [(e.target.name, e.type, e.path) for e in graph.references(workflow)]
    assert edges == [
        ("a", EdgeType.REQUIRES_AGENT, "required_agents[0]"),
        ("b", EdgeType.REQUIRES_AGENT, "optional_agents[0]"),
        ("a", EdgeType.REQUIRES_AGENT, "suggested_sequence[0]"),
        ("b", EdgeType.REQUIRES_AGENT, "suggested_sequence[1]"),
        ("a", EdgeType.STEP_AGENT, "steps[0].agent_id"),
        ("c", EdgeType.REQUIRES_AGENT, "completion_criteria.required_agents_executed[0]"),
        ("d", EdgeType.REQUIRES_AGENT, "hitl_checkpoints[0].agent_id"),
    ]
    assert all(e.target.kind is AG for e in graph.references(workflow))


def test_policy_edges_at_any_depth_with_wildcards_skipped() -> None:
    policy = res(POL, "p", rules=[
        {"agent_id": "a", "allowed_tools": ["*", "t"], "denied_tools": ["u"],
         "allowed_agents": ["b"], "denied_agents": ["*"]},
        {"workflow_id": "w", "allowed_profiles": ["m"], "default_profile": "m2"},
    ], agent_overrides=[{"agent_id": "c"}],
        handoffs=[{"from_agent_id": "*", "to_agent_id": "d"}],
        roles=[{"allowed_workflows": ["*", "w2"]}])
    edges = [(e.target.kind, e.target.name, e.path) for e in graph.references(policy)]
    assert edges == [
        (AG, "a", "rules[0].agent_id"),
        (TL, "t", "rules[0].allowed_tools[1]"),
        (TL, "u", "rules[0].denied_tools[0]"),
        (AG, "b", "rules[0].allowed_agents[0]"),
        (WF, "w", "rules[1].workflow_id"),
        (MP, "m", "rules[1].allowed_profiles[0]"),
        (MP, "m2", "rules[1].default_profile"),
        (AG, "c", "agent_overrides[0].agent_id"),
        (AG, "d", "handoffs[0].to_agent_id"),
        (WF, "w2", "roles[0].allowed_workflows[1]"),
    ]
    assert {e.type for e in graph.references(policy)} == {EdgeType.POLICY_REF}


def test_a_wildcard_is_only_special_in_policies() -> None:
    agent = res(AG, "a", model_profile_id="p", allowed_tools=["*"])
    assert [e.target for e in graph.references(agent)] == [key(MP, "p"), key(TL, "*")]


SETTINGS_EDGES = {EdgeType.SUMMARY_MODEL, EdgeType.AUTH_PROFILE, EdgeType.RETRY_POLICY,
                  EdgeType.STEP_CONNECTOR, EdgeType.STEP_SECURITY_POLICY}


def test_the_full_tree_has_every_settings_edge_and_one_switched_off_dangling_one() -> None:
    mesh = graph.build(read_live_state(FULL_REGISTRIES).state)
    assert {e.type for e in mesh.edges} == set(EdgeType)
    # The real data names a summarization model that does not exist, with summarization off.
    assert [(str(e.source), str(e.target), e.enforced) for e in mesh.dangling()] == [
        ("context-strategies/default", "model-profile/summarization_gpt35", False)]
    used = {str(e.source) for e in mesh.incoming(graph.RETRY_POLICIES)}
    assert used == {"connector/guidewire_claims", "connector/duckcreek_policy",
                    "connector/socotra_billing", "connector/mainframe_legacy",
                    "integration-workflow/billing_sync", "integration-workflow/claim_fnol_sync",
                    "integration-workflow/claim_status_update",
                    "integration-workflow/integration_failure_drill"}
    auth = [str(e.source) for e in mesh.incoming(ResourceKey(Kind.AUTH_PROFILE, "gw_oauth"))]
    assert auth == ["connector/guidewire_claims"]


def test_values_of_the_wrong_type_make_no_edges() -> None:
    agent = res(AG, "a", model_profile_id=3, allowed_tools="t", allowed_agents=[None, "b"])
    assert [e.path for e in graph.references(agent)] == ["allowed_agents[1]"]
    assert list(graph.references(res(TL, "t", input_schema={"agent_id": "x"}))) == []


def test_fixture_graph_has_every_edge_type_and_no_dangling_edge() -> None:
    mesh = graph.build(read_live_state(FIXTURE_REGISTRIES).state)
    assert {e.type for e in mesh.edges} == set(EdgeType) - SETTINGS_EDGES
    assert mesh.dangling() == []
    # The one loop: a checkpoint's role names the policy, whose rules name the workflow.
    assert mesh.cycles() == [[ResourceKey(Kind.WORKFLOW, "claims_triage"),
                              ResourceKey(Kind.GOVERNANCE_POLICY, "hitl_access_control")]]
    assert len(mesh.nodes) == 29


@pytest.fixture
def chain() -> graph.Graph:
    # workflow w -> agent orchestrator -> agent a -> tool t, agent a -> profile p;
    # policy pol -> tool t; agent b -> profile p.
    return graph.build(state_of(
        res(MP, "p"),
        res(TL, "t"),
        res(AG, "orchestrator", model_profile_id="p", allowed_agents=["a"]),
        res(AG, "a", model_profile_id="p", allowed_tools=["t"]),
        res(AG, "b", model_profile_id="p"),
        res(WF, "w", steps=[{"step_id": "s", "agent_id": "orchestrator"}]),
        res(POL, "pol", rules=[{"allowed_tools": ["t"]}]),
    ))


def test_direct_and_transitive_dependents(chain: graph.Graph) -> None:
    assert chain.dependents(key(TL, "t")) == [key(AG, "a"), key(POL, "pol")]
    assert chain.dependents(key(TL, "t"), transitive=True) == [
        key(AG, "a"), key(AG, "orchestrator"), key(WF, "w"), key(POL, "pol")]
    assert chain.dependents(key(WF, "w")) == []


def test_direct_and_transitive_dependencies(chain: graph.Graph) -> None:
    assert chain.dependencies(key(WF, "w")) == [key(AG, "orchestrator")]
    assert chain.dependencies(key(WF, "w"), transitive=True) == [
        key(MP, "p"), key(TL, "t"), key(AG, "a"), key(AG, "orchestrator")]
    assert chain.dependencies(key(MP, "p")) == []


def test_incoming_and_outgoing_edges(chain: graph.Graph) -> None:
    assert [e.source for e in chain.incoming(key(MP, "p"))] == [
        key(AG, "orchestrator"), key(AG, "a"), key(AG, "b")]
    assert [(e.target, e.type) for e in chain.outgoing(key(AG, "a"))] == [
        (key(MP, "p"), EdgeType.USES_MODEL), (key(TL, "t"), EdgeType.MAY_USE_TOOL)]


def test_order_puts_dependencies_before_dependents(chain: graph.Graph) -> None:
    order = chain.order()
    assert sorted(order) == sorted(chain.nodes)
    position = {k: i for i, k in enumerate(order)}
    for edge in chain.edges:
        assert position[edge.target] < position[edge.source], edge
    # Waves: p, t refer to nothing (0); a, b and pol refer only to them (1); the
    # orchestrator invokes a (2); w runs the orchestrator (3). Within a wave, kind order.
    assert order == [key(MP, "p"), key(TL, "t"), key(AG, "a"), key(AG, "b"),
                     key(POL, "pol"), key(AG, "orchestrator"), key(WF, "w")]


def test_order_of_the_fixture_respects_every_edge() -> None:
    mesh = graph.build(read_live_state(FIXTURE_REGISTRIES).state)
    position = {k: i for i, k in enumerate(mesh.order())}
    assert len(position) == 29
    looped = {key for group in mesh.cycles() for key in group}
    for edge in mesh.edges:
        assert position[edge.target] < position[edge.source] or \
            {edge.source, edge.target} <= looped


def test_cycles_and_self_references() -> None:
    mesh = graph.build(state_of(
        res(AG, "x", allowed_agents=["y"]),
        res(AG, "y", allowed_agents=["z"]),
        res(AG, "z", allowed_agents=["x"]),
        res(AG, "solo", allowed_agents=["solo"]),
        res(AG, "free", allowed_agents=["x"]),
    ))
    assert sorted(mesh.cycles()) == sorted([
        [key(AG, "x"), key(AG, "y"), key(AG, "z")], [key(AG, "solo")]])
    order = mesh.order()
    assert len(order) == 5
    assert order.index(key(AG, "free")) > order.index(key(AG, "x"))
    assert mesh.dependents(key(AG, "x"), transitive=True) == [
        key(AG, "free"), key(AG, "y"), key(AG, "z")]


def test_dangling_edges_point_at_missing_resources() -> None:
    mesh = graph.build(state_of(res(AG, "a", model_profile_id="nope", allowed_tools=["t"]),
                                res(TL, "t")))
    assert [(e.target, e.path) for e in mesh.dangling()] == [
        (key(MP, "nope"), "model_profile_id")]
    assert mesh.order() == [key(TL, "t"), key(AG, "a")]


def test_build_is_deterministic() -> None:
    live = read_live_state(FIXTURE_REGISTRIES).state
    first, second = graph.build(live), graph.build(live)
    assert first.edges == second.edges
    assert first.order() == second.order()


def test_a_large_policys_references_are_kept_per_resource_object() -> None:
    """A policy naming thousands of agents is asked for its references several times per
    plan: kept by the very Resource object, handed out as a copy, never another's."""
    def policy(agents: int, tool: str) -> Resource:
        rules = [{"agent_id": f"a{n}", "allowed_tools": [tool]} for n in range(agents)]
        return Resource(ResourceKey(Kind.GOVERNANCE_POLICY, "agent_tool_access"),
                        {"rules": rules})

    first, second = policy(1500, "t1"), policy(1500, "t2")
    refs = graph.references(first)
    assert len(refs) == 3000
    refs.clear()  # a caller's list is its own
    assert graph.references(first) == graph.references(first) != []
    assert {e.target.name for e in graph.references(second)} >= {"t2"}
    assert "t2" not in {e.target.name for e in graph.references(first)}
