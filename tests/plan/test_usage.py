"""`validate.usage`: the deletion rules, on small hand-built states."""

from __future__ import annotations

from typing import Any

from reconciler import graph
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.validate import usage

TOOL = ResourceKey(Kind.TOOL, "scorer")


def state(*resources: Resource) -> MeshState:
    found = MeshState()
    for resource in resources:
        found.add(resource)
    return found


def agent(name: str, source: Source | None = None, **fields: Any) -> Resource:
    return Resource(ResourceKey(Kind.AGENT, name), {"agent_id": name, **fields}, source)


def refusal(key: ResourceKey, remaining: MeshState) -> usage.Refusal | None:
    return usage.deletion_refusal(key, remaining, graph.build(remaining))


def test_the_orchestrator_is_never_deleted() -> None:
    found = refusal(ResourceKey(Kind.AGENT, "orchestrator_agent"), state())
    assert found is not None
    assert found.reason == ("Cannot delete agent 'orchestrator_agent': the orchestrator can be "
                            "updated, never deleted")
    assert found.users == ()


def test_a_resource_nothing_uses_may_be_deleted() -> None:
    assert refusal(TOOL, state(agent("a", allowed_tools=["other"]))) is None


def test_a_resource_still_used_is_refused_naming_users_by_kind_with_locations() -> None:
    remaining = state(
        agent("fraud", Source("agents.yaml", 1, {"allowed_tools[1]": 7}),
              allowed_tools=["x", "scorer"]),
        agent("cover", Source("agents.yaml", 20), allowed_tools=["scorer"]),
        Resource(ResourceKey(Kind.GOVERNANCE_POLICY, "access"),
                 {"rules": [{"allowed_tools": ["scorer"]}, {"denied_tools": ["scorer"]}]},
                 Source("policies.yaml", 1, {"rules[0].allowed_tools[0]": 12})),
        Resource(ResourceKey(Kind.WORKFLOW, "flow"), {"workflow_id": "flow"}, Source("w.yaml")),
    )
    found = refusal(TOOL, remaining)
    assert found is not None
    assert found.reason == ("Cannot delete tool 'scorer': used by agents cover (agents.yaml:20), "
                            "fraud (agents.yaml:7); policies access (policies.yaml:12)")
    assert [(str(e.source), e.path) for e in found.users] == [
        ("agent/cover", "allowed_tools[0]"), ("agent/fraud", "allowed_tools[1]"),
        ("governance-policy/access", "rules[0].allowed_tools[0]"),
        ("governance-policy/access", "rules[1].denied_tools[0]")]


def test_users_that_are_not_in_the_remaining_state_do_not_count() -> None:
    # the graph knows an edge from an agent the plan deletes too: it is not a user any more
    everything = state(agent("leaving", allowed_tools=["scorer"]))
    remaining = state()
    assert usage.deletion_refusal(TOOL, remaining, graph.build(everything)) is None


def test_a_self_reference_is_not_a_use() -> None:
    selfish = ResourceKey(Kind.AGENT, "selfish")
    assert refusal(selfish, state(agent("selfish", allowed_agents=["selfish"]))) is None


def test_users_without_a_line_or_a_file() -> None:
    remaining = state(agent("a", Source("registries/agent_registry.json"),
                            allowed_tools=["scorer"]),
                      agent("b", None, allowed_tools=["scorer"]))
    found = refusal(TOOL, remaining)
    assert found is not None
    assert found.reason == ("Cannot delete tool 'scorer': used by agents "
                            "a (registries/agent_registry.json), b (unknown location)")


def test_workflow_users_are_named_between_agents_and_policies() -> None:
    target = ResourceKey(Kind.AGENT, "worker")
    remaining = state(
        Resource(ResourceKey(Kind.GOVERNANCE_POLICY, "p"), {"agent_id": "worker"},
                 Source("p.yaml", 1)),
        Resource(ResourceKey(Kind.WORKFLOW, "w"), {"workflow_id": "w",
                                                    "steps": [{"agent_id": "worker"}]},
                 Source("w.yaml", 1, {"steps[0].agent_id": 8})),
        agent("boss", Source("a.yaml", 2), allowed_agents=["worker"]),
    )
    found = refusal(target, remaining)
    assert found is not None
    assert found.reason == ("Cannot delete agent 'worker': used by agents boss (a.yaml:2); "
                            "workflows w (w.yaml:8); policies p (p.yaml:1)")


def test_at_most_twenty_users_are_named_then_counted() -> None:
    agents = [agent(f"a{n:02d}", Source("a.yaml", n + 1), allowed_tools=["scorer"])
              for n in range(18)]
    policies = [Resource(ResourceKey(Kind.GOVERNANCE_POLICY, f"p{n}"),
                         {"allowed_tools": ["scorer"]}, Source("p.yaml", n + 1))
                for n in range(5)]
    found = refusal(TOOL, state(*agents, *policies))
    assert found is not None
    named = ", ".join(f"a{n:02d} (a.yaml:{n + 1})" for n in range(18))
    assert found.reason == (f"Cannot delete tool 'scorer': used by agents {named}; "
                            "policies p0 (p.yaml:1), p1 (p.yaml:2), and 3 more")
    assert usage.MAX_NAMED_USERS == 20


def test_a_kind_with_no_room_left_is_only_counted() -> None:
    agents = [agent(f"a{n:02d}", Source("a.yaml", 1), allowed_tools=["scorer"])
              for n in range(21)]
    policies = [Resource(ResourceKey(Kind.GOVERNANCE_POLICY, f"p{n}"),
                         {"allowed_tools": ["scorer"]}, Source("p.yaml", 1)) for n in range(3)]
    found = refusal(TOOL, state(*agents, *policies))
    assert found is not None
    assert found.reason.endswith("a19 (a.yaml:1), and 1 more; policies and 3 more")
