"""The access rules and access changes of a plan of a few keys (the library's, the API's and
the watch loop's writes) equal those of the whole-mesh plan (the CLI's), for random edits of
agents' tools, the orchestrator, workflows and the access policies of the real registries.

A scoped plan looks only at what the changed keys can affect (`access_rules.focus_of`): an
agent its own tools; the orchestrator its agents and the workflows that run one it listed or
dropped; an access policy every agent whose rules it changed. The real registries pass every
access rule, so whatever the whole mesh finds the change brought, and the scoped plan must
find exactly that.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import engine, graph
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.store import read_live_state
from tests.conftest import FIXTURE_REGISTRIES

LIVE = read_live_state(FIXTURE_REGISTRIES)
REFERRERS = graph.Referrers.build(LIVE.state)
AGENTS = sorted(LIVE.state.of_kind(Kind.AGENT))
WORKERS = [name for name in AGENTS if name != ORCHESTRATOR_ID]
TOOLS = sorted(LIVE.state.of_kind(Kind.TOOL))
PROFILES = sorted(LIVE.state.of_kind(Kind.MODEL_PROFILE))
WORKFLOW = ResourceKey(Kind.WORKFLOW, "claims_triage")
ACCESS_CODES = {"A001", "A002", "A003", "A004", "A005", "A006"}


def policy(name: str) -> ResourceKey:
    return ResourceKey(Kind.GOVERNANCE_POLICY, name)


def entry(key: ResourceKey) -> dict[str, Any]:
    resource = LIVE.state.get(key)
    assert resource is not None
    return copy.deepcopy(resource.entry)


Edit = tuple[ResourceKey, dict[str, Any]]


@st.composite
def agent_tools(draw: st.DrawFn) -> Edit:
    key = ResourceKey(Kind.AGENT, draw(st.sampled_from(AGENTS)))
    return key, {**entry(key), "allowed_tools": draw(st.lists(st.sampled_from(TOOLS),
                                                              max_size=4, unique=True))}


@st.composite
def agent_profile(draw: st.DrawFn) -> Edit:
    key = ResourceKey(Kind.AGENT, draw(st.sampled_from(WORKERS)))
    return key, {**entry(key), "model_profile_id": draw(st.sampled_from(PROFILES))}


@st.composite
def orchestrator(draw: st.DrawFn) -> Edit:
    key = ResourceKey(Kind.AGENT, ORCHESTRATOR_ID)
    return key, {**entry(key), "allowed_agents": draw(st.lists(st.sampled_from(WORKERS),
                                                               max_size=6, unique=True))}


@st.composite
def workflow_steps(draw: st.DrawFn) -> Edit:
    body = entry(WORKFLOW)
    for step in body["steps"]:
        if draw(st.booleans()):
            step["agent_id"] = draw(st.sampled_from(WORKERS))
    return WORKFLOW, body


def _rules(draw: st.DrawFn, subjects: list[str], names: list[str], allowed: str,
           denied: str) -> list[dict[str, Any]]:
    found = []
    for _ in range(draw(st.integers(0, 5))):
        rule: dict[str, Any] = {"agent_id": draw(st.sampled_from(subjects))}
        for field in (allowed, denied):
            if draw(st.integers(0, 4)):
                rule[field] = draw(st.lists(st.sampled_from([*names, "*"]), max_size=4))
        found.append(rule)
    return found


@st.composite
def tool_policy(draw: st.DrawFn) -> Edit:
    key = policy("agent_tool_access")
    body = entry(key)
    if draw(st.booleans()):  # small edits of the real rules
        for rule in body["rules"]:
            if draw(st.integers(0, 3)) == 0:
                rule["allowed_tools"] = draw(st.lists(st.sampled_from(TOOLS), max_size=3))
    else:
        body["rules"] = _rules(draw, AGENTS, TOOLS, "allowed_tools", "denied_tools")
    return key, body


@st.composite
def invocation_policy(draw: st.DrawFn) -> Edit:
    key = policy("agent_invocation_access")
    body = entry(key)
    body["rules"] = _rules(draw, [ORCHESTRATOR_ID, *WORKERS[:2]], AGENTS, "allowed_agents",
                           "denied_agents")
    return key, body


@st.composite
def model_usage(draw: st.DrawFn) -> Edit:
    key = policy("model_usage")
    body = entry(key)
    body["rules"] = [{"workflow_id": "claims_triage",
                      "allowed_profiles": draw(st.lists(st.sampled_from(PROFILES), max_size=3)),
                      "default_profile": "default_gpt35"}]
    return key, body


EDITS = st.one_of(agent_tools(), agent_profile(), orchestrator(), workflow_steps(),
                  tool_policy(), invocation_policy(), model_usage())


def after(edits: dict[ResourceKey, dict[str, Any]]) -> MeshState:
    state = LIVE.state.copy()
    for key, body in edits.items():
        previous = LIVE.state.get(key)
        state.add(Resource(key, body, previous.source if previous else None))
    return state


def access_findings(planned: Any) -> list[tuple[str, str | None, str | None, str]]:
    return sorted((d.code, d.resource, d.path, d.message) for d in planned.diagnostics
                  if d.code in ACCESS_CODES)


def access_changes(planned: Any) -> list[Any]:
    if planned.plan is None:
        return []
    return sorted(planned.plan.access_changes, key=lambda c: (c.subject, c.verb, c.object))


def test_the_real_registries_pass_every_access_rule() -> None:
    whole = engine.plan_scope(LIVE.state, LIVE)
    assert access_findings(whole) == []
    assert whole.plan is not None and whole.plan.access_changes == ()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EDITS, min_size=1, max_size=3))
def test_a_scoped_plan_finds_what_the_whole_mesh_plan_finds(edits: list[Edit]) -> None:
    changed = dict(edits)  # a later edit of the same key wins
    state = after(changed)
    whole = engine.plan_scope(state, LIVE)
    scoped = engine.plan_scope(state, LIVE, keys=changed, referrers=REFERRERS)
    assert access_findings(scoped) == access_findings(whole)
    assert (scoped.plan is None) == (whole.plan is None)
    assert access_changes(scoped) == access_changes(whole)


def test_a_large_policy_is_indexed_once_and_a_new_one_again() -> None:
    """Validation and the plan compile one 100,000-rule list for two states: its subject
    index is kept by the list itself, and another list (a changed policy) gets its own."""
    from reconciler import access

    rules = [{"agent_id": f"agent_{n}", "allowed_tools": [f"tool_{n}"]} for n in range(2000)]
    policies = {"agent_tool_access": {"rules": rules}}
    first, second = access.Governance(policies), access.Governance(policies)
    assert first.allows("agent_7", access.Verb.USE, "tool_7")
    assert second.policy(access.Verb.USE)._by_subject is \
        first.policy(access.Verb.USE)._by_subject
    changed = [*rules[:7], {"agent_id": "agent_7", "denied_tools": ["tool_7"]}, *rules[7:]]
    other = access.Governance({"agent_tool_access": {"rules": changed}})
    assert not other.allows("agent_7", access.Verb.USE, "tool_7")
    assert other.policy(access.Verb.USE)._by_subject is not \
        first.policy(access.Verb.USE)._by_subject
    assert first.allows("agent_7", access.Verb.USE, "tool_7")  # the first unchanged
