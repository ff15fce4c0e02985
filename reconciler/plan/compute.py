"""What the planner (`planner.make`) compares with: the state a plan leaves, the kinds the
manifests leave unmanaged, and who uses a resource. (The fields that differ between two
entries are `model.entrydiff`'s, shared with `meshctl compare`.) Pure: no files, clocks or
environment.
"""

from __future__ import annotations

from reconciler import graph
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState
from reconciler.plan.model import Location, User


def remaining_state(desired: MeshState, live: MeshState, *, prune: bool) -> MeshState:
    """What would be live after applying: the manifests, plus the live resources no
    manifest declares that stay (all of them without pruning; else those of the kinds the
    manifests leave unmanaged)."""
    remaining = MeshState()
    for resource in desired:
        remaining.add(resource)
    kept = unmanaged_kinds(desired) if prune else set(Kind)
    for kind in kept:
        for resource in live.of_kind(kind).values():
            if resource.key not in remaining:
                remaining.add(resource)
    return remaining


def unmanaged_kinds(desired: MeshState) -> set[Kind]:
    """The opt-in kinds (system settings, context engineering, integrations) of which the
    manifests declare nothing: their live files are not the manifests' to prune, so a
    deployment whose manifests predate them plans as before."""
    return {kind for kind in Kind if kinds.info(kind).opt_in and not desired.of_kind(kind)}


def user_at(edge: graph.Reference, state: MeshState) -> User:
    resource = state.get(edge.source)
    location = Location(*resource.where(edge.path)) if resource else Location(None)
    return User(edge.source, edge.path, location)
