"""Deletion rules: never delete the orchestrator, never delete what something still uses.

The one place these rules live; the plan (and through it every write: CLI, API, library,
watch loop) asks `deletion_refusal` before deleting anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler import graph
from reconciler.model import kinds
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import MeshState, ResourceKey

MAX_NAMED_USERS = 20


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    users: tuple[graph.Reference, ...] = ()


def deletion_refusal(key: ResourceKey, remaining: MeshState,
                     remaining_graph: graph.Graph) -> Refusal | None:
    """Why `key` may not be deleted, given the state that would remain after the plan.

    A resource deleted together with all its users is fine: they are not in `remaining`.
    """
    if key == ResourceKey(Kind.AGENT, ORCHESTRATOR_ID):
        return Refusal(f"Cannot delete {key.describe()}: the orchestrator can be updated, "
                       "never deleted")
    # Named in one order whoever asks (a graph's edges into a key come from a set when the
    # plan is of a few keys): by kind, then name, then field.
    users = sorted((edge for edge in remaining_graph.incoming(key)
                    if edge.source != key and edge.source in remaining),
                   key=lambda edge: (graph.node_order(edge.source), edge.path))
    if not users:
        return None
    return Refusal(f"Cannot delete {key.describe()}: used by {describe_users(users, remaining)}",
                   tuple(users))


def describe_users(users: list[graph.Reference], state: MeshState) -> str:
    """`agents fraud_agent (manifests/agents/fraud_agent.yaml:9), coverage_agent (...);
    workflows claims_triage (...)`, at most MAX_NAMED_USERS named."""
    by_kind: dict[Kind, list[str]] = {}
    seen: set[ResourceKey] = set()
    for edge in users:
        if edge.source in seen:
            continue
        seen.add(edge.source)
        resource = state.get(edge.source)
        file, line = resource.where(edge.path) if resource else (None, None)
        where = f"{file}:{line}" if file and line else (file or "unknown location")
        by_kind.setdefault(edge.source.kind, []).append(f"{edge.source.name} ({where})")
    parts: list[str] = []
    named = 0
    for kind in kinds.KIND_ORDER:
        names = by_kind.get(kind, [])
        if not names:
            continue
        room = max(MAX_NAMED_USERS - named, 0)
        shown = names[:room]
        named += len(shown)
        label = kinds.info(kind).plural.replace("-", " ")
        text = f"{label} {', '.join(shown)}" if shown else label
        if len(names) > len(shown):
            text += f"{',' if shown else ''} and {len(names) - len(shown)} more"
        parts.append(text)
    return "; ".join(parts)
