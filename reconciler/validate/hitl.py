"""HITL checkpoint rules: a workflow's checkpoint must name a role the governance policy
`hitl_access_control` defines (`roles[].role_id`), should allow the checkpoint's type, and
should stop after an agent the workflow actually runs.

The checkpoint's role is a reference into the policy (`graph.EdgeType.HITL_ROLE`), so
deleting the policy is the deletion rule's refusal, and the planners check a policy update
against the workflows that use its roles (`graph.Referrers.content_users`).
"""

from __future__ import annotations

from typing import Any

from reconciler import graph
from reconciler.errors import Diagnostic, did_you_mean
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.validate.rules import diagnostic

WILDCARD = "*"
POLICY_KEY = ResourceKey(Kind.GOVERNANCE_POLICY, graph.HITL_POLICY)


def roles_of(policy: Resource | None) -> dict[str, dict[str, Any]]:
    """The roles a HITL access policy defines, by role_id."""
    roles = policy.entry.get("roles") if policy is not None else None
    if not isinstance(roles, list):
        return {}
    return {role["role_id"]: role for role in roles
            if isinstance(role, dict) and isinstance(role.get("role_id"), str)}


def check_checkpoints(state: MeshState, mesh_graph: graph.Graph,
                      known: MeshState | None = None) -> list[Diagnostic]:
    """The checkpoints of the workflows in `mesh_graph` (all of them in a full plan; the
    changed ones, or a changed policy's users, in a partial one), judged against the
    policy as `state` holds it (or, when `state` does not declare it, as `known` does)."""
    policy = state.get(POLICY_KEY)
    if policy is None and known is not None and POLICY_KEY not in state:
        policy = known.get(POLICY_KEY)
    roles = roles_of(policy)
    found: list[Diagnostic] = []
    for key in mesh_graph.nodes:
        workflow = state.get(key) if key.kind is Kind.WORKFLOW else None
        if workflow is None:
            continue
        checkpoints = workflow.entry.get("hitl_checkpoints")
        if not isinstance(checkpoints, list):
            continue
        step_agents = _step_agents(workflow)
        for index, checkpoint in enumerate(checkpoints):
            if isinstance(checkpoint, dict):
                found += _check_one(workflow, index, checkpoint, policy, roles, step_agents)
    return found


def _check_one(workflow: Resource, index: int, checkpoint: dict[str, Any],
               policy: Resource | None, roles: dict[str, dict[str, Any]],
               step_agents: set[str]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    where = f"hitl_checkpoints[{index}]"
    name = checkpoint.get("checkpoint_id", index)
    what = f"{workflow.key.describe()}: checkpoint '{name}'"
    role_id = checkpoint.get("required_role")
    role = roles.get(role_id) if isinstance(role_id, str) else None
    if isinstance(role_id, str) and role is None:
        if policy is None:
            found.append(diagnostic(
                "H001", workflow, f"{where}.required_role",
                f"{what} requires role '{role_id}', but there is no governance policy "
                f"'{graph.HITL_POLICY}' to define it",
                f"declare the policy '{graph.HITL_POLICY}' with a role '{role_id}' in its "
                "roles"))
        else:
            found.append(diagnostic(
                "H001", workflow, f"{where}.required_role",
                f"{what} requires role '{role_id}', which governance policy "
                f"'{graph.HITL_POLICY}' does not define; {did_you_mean(role_id, roles)}"
                f"roles: {', '.join(roles) or 'none'}",
                f"add the role to '{graph.HITL_POLICY}', or name one it has"))
    agent_id = checkpoint.get("agent_id")
    if isinstance(agent_id, str) and agent_id not in step_agents:
        found.append(diagnostic(
            "H002", workflow, f"{where}.agent_id",
            f"{what} follows agent '{agent_id}', which no step of the workflow runs "
            "(the checkpoint never triggers)",
            f"name one of the steps' agents: {', '.join(sorted(step_agents)) or 'none'}"))
    kind_of = checkpoint.get("checkpoint_type")
    allowed = role.get("allowed_checkpoint_types") if role is not None else None
    if isinstance(kind_of, str) and isinstance(allowed, list) and WILDCARD not in allowed \
            and kind_of not in allowed:
        found.append(diagnostic(
            "H003", workflow, f"{where}.checkpoint_type",
            f"{what} is of type '{kind_of}', which role '{role_id}' may not handle "
            f"(allowed: {', '.join(str(a) for a in allowed) or 'none'})",
            "choose a role that allows the type, or allow it in the role"))
    return found


def _step_agents(workflow: Resource) -> set[str]:
    steps = workflow.entry.get("steps")
    return {step["agent_id"] for step in steps if isinstance(step, dict)
            and isinstance(step.get("agent_id"), str)} if isinstance(steps, list) else set()
