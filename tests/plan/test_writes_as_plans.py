"""A library or REST write is planned by the one planner, scoped to its keys as the watch
loop's sync is, and decides as the whole-mesh plan would: for random change sets over the
real registries, the write is accepted exactly when the full plan of the state it leaves is
valid and refuses nothing, and then changes the same resources."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import engine, graph
from reconciler.errors import ChangeRejected
from reconciler.model import fields
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.store import read_live_state
from reconciler.writes import Intent, plan_changes
from tests.conftest import FIXTURE_REGISTRIES

LIVE = read_live_state(FIXTURE_REGISTRIES)
REFERRERS = graph.Referrers.build(LIVE.state)
KEYS = [resource.key for resource in LIVE.state]
TOOLS = [*LIVE.state.of_kind(Kind.TOOL), "no_such_tool"]
PROFILES = [*LIVE.state.of_kind(Kind.MODEL_PROFILE), "no_such_profile"]
ROLES = ["reviewer", "fraud_investigator", "claims_adjuster", "approver", "admin"]


def _entry(key: ResourceKey) -> dict[str, Any]:
    resource = LIVE.state.get(key)
    assert resource is not None
    return copy.deepcopy(resource.entry)


Change = tuple[ResourceKey, dict[str, Any] | None, Intent]

deletes = st.sampled_from(KEYS).map(lambda key: (key, None, Intent.DELETE))
tool_lists = st.builds(
    lambda name, tools: (ResourceKey(Kind.AGENT, name),
                         {**_entry(ResourceKey(Kind.AGENT, name)), "allowed_tools": tools},
                         Intent.PUT),
    st.sampled_from(list(LIVE.state.of_kind(Kind.AGENT))),
    st.lists(st.sampled_from(TOOLS), max_size=3, unique=True))
new_agents = st.builds(
    lambda number, profile, tools: (
        ResourceKey(Kind.AGENT, f"new_agent_{number}"),
        {"agent_id": f"new_agent_{number}", "name": "New", "description": "d",
         "capabilities": ["c"], "model_profile_id": profile, "allowed_tools": tools,
         "output_schema": {"type": "object"}}, Intent.CREATE),
    st.integers(0, 2), st.sampled_from(PROFILES),
    st.lists(st.sampled_from(TOOLS), max_size=2, unique=True))
role_cuts = st.builds(
    lambda kept: (ResourceKey(Kind.GOVERNANCE_POLICY, "hitl_access_control"),
                  {**_entry(ResourceKey(Kind.GOVERNANCE_POLICY, "hitl_access_control")),
                   "roles": [r for r in _entry(ResourceKey(
                       Kind.GOVERNANCE_POLICY, "hitl_access_control"))["roles"]
                             if r["role_id"] in kept]}, Intent.PUT),
    st.sets(st.sampled_from(ROLES)))


def full_plan(changes: dict[ResourceKey, tuple[dict[str, Any] | None, Intent]]) -> Any:
    desired = MeshState()
    for resource in LIVE.state:
        if resource.key not in changes:
            desired.add(resource)
    for key, (entry, _) in changes.items():
        if entry is not None:
            desired.add(Resource(key, fields.complete(key.kind, entry), Source("w")))
    return engine.plan_from(engine.DesiredState(desired, [], []), LIVE, location="r",
                            paths=[])


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(deletes, tool_lists, new_agents, role_cuts), min_size=1,
                max_size=3, unique_by=lambda change: change[0]))
def test_a_write_decides_as_the_full_plan(picked: list[Change]) -> None:
    changes = {key: (entry, intent) for key, entry, intent in picked}
    full = full_plan(changes)
    accepted = full.plan is not None and not full.plan.refusals
    try:
        plan = plan_changes(LIVE, REFERRERS, copy.deepcopy(changes))
    except ChangeRejected as error:
        assert not accepted, f"rejected, but the full plan accepts it: {error}"
        return
    assert accepted, f"accepted, but the full plan says {[str(d) for d in full.errors]} " \
                     f"{[c.refused for c in full.plan.refusals] if full.plan else ''}"
    assert {c.key for c in plan.actionable} == {c.key for c in full.plan.actionable}


@pytest.mark.parametrize("role", ["approver", "fraud_investigator"])
def test_dropping_a_role_in_use_is_rejected_by_both(role: str) -> None:
    key = ResourceKey(Kind.GOVERNANCE_POLICY, "hitl_access_control")
    entry = _entry(key)
    entry["roles"] = [r for r in entry["roles"] if r["role_id"] != role]
    assert full_plan({key: (entry, Intent.PUT)}).plan is None
    with pytest.raises(ChangeRejected) as caught:
        plan_changes(LIVE, REFERRERS, {key: (entry, Intent.PUT)})
    assert {d.code for d in caught.value.diagnostics} == {"H001"}
