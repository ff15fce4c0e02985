"""Mesh-wide rules: exactly one orchestrator, and no agents that invoke each other in a loop."""

from __future__ import annotations

from reconciler import graph
from reconciler.errors import Diagnostic
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.validate.rules import RULES, diagnostic


def check_orchestrator(state: MeshState, known: MeshState | None = None) -> list[Diagnostic]:
    """The orchestrator must exist; a second one is caught as a duplicate name (M010). When
    it exists in `known` (live), removing it is the deletion rule's refusal instead."""
    key = ResourceKey(Kind.AGENT, ORCHESTRATOR_ID)
    if key in state or (known is not None and key in known):
        return []
    return [Diagnostic(
        "O001", RULES["O001"].severity,
        f"no agent '{ORCHESTRATOR_ID}': the runtime needs exactly one orchestrator", None, None,
        f"agent/{ORCHESTRATOR_ID}", None,
        f"declare an Agent named '{ORCHESTRATOR_ID}' (meshctl export shows the live one)")]


def check_cycles(state: MeshState, mesh_graph: graph.Graph) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for group in mesh_graph.cycles():
        resource = state.get(group[0])
        if resource is None or any(key.kind is not Kind.AGENT for key in group):
            continue  # a policy naming the workflow whose checkpoints use its roles is no loop
        names = " -> ".join([key.name for key in group] + [group[0].name])
        found.append(diagnostic(
            "G001", resource, "allowed_agents",
            f"agents invoke each other in a cycle: {names}",
            "make sure the runtime's iteration limits stop such a loop, or break it"))
    return found
