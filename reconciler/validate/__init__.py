"""Validation: every rule, as functions that return diagnostics and never raise.

`check_resource` holds the rules that look at one resource alone (the engine runs them where
it parses, and caches them); `check_mesh` those that need the whole state and its graph.
The schema rules import pydantic and jsonschema, so they load only when first needed: a warm
run served from the parse cache never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler import access, graph
from reconciler.errors import Diagnostic
from reconciler.model.resource import MeshState, Resource
from reconciler.validate import (
    access_rules,
    hitl,
    integration,
    mesh,
    references,
    runtime,
    settings,
    workflows,
)
from reconciler.validate.rules import RULES, Rule

__all__ = ["RULES", "Rule", "check_graph", "check_live", "check_mesh", "check_resource",
           "load_resource_rules", "validate_state"]


def check_resource(resource: Resource) -> list[Diagnostic]:
    from reconciler.validate import schema

    return (schema.check_resource(resource) + workflows.check_workflow(resource)
            + settings.check_settings(resource))


def load_resource_rules() -> None:
    """Import what `check_resource` needs (pydantic and the spec models: 0.15-0.2 s), for
    a caller with a moment to spare now, before it knows whether a resource changed."""
    from reconciler.validate import schema  # noqa: F401


def check_mesh(state: MeshState, mesh_graph: graph.Graph | None = None,
               known: MeshState | None = None, *,
               governance: access.Governance | None = None) -> list[Diagnostic]:
    """Mesh-wide rules over `state`; `known` (the live state, when planning) holds resources
    that exist even if `state` drops them, whose removal the deletion rules judge.
    `governance`: the state's (built from it when not given; a caller that knows whether
    the governance document exists says so through it)."""
    mesh_graph = mesh_graph or graph.build(state)
    return (check_graph(state, mesh_graph, known)
            + access_rules.check(state, governance or access.Governance.of(state)))


def check_graph(state: MeshState, mesh_graph: graph.Graph,
                known: MeshState | None = None) -> list[Diagnostic]:
    """The mesh-wide rules that follow the graph's references (all but the access rules,
    which a plan of a few keys scopes by `access_rules.focus_of`)."""
    return (references.check_references(state, mesh_graph, known)
            + hitl.check_checkpoints(state, mesh_graph, known)
            + integration.check_retry_policies(state, mesh_graph, known)
            + integration.check_processor_order(state, mesh_graph)
            + mesh.check_orchestrator(state, known)
            + mesh.check_cycles(state, mesh_graph))


def check_live(resources: Iterable[Resource]) -> list[Diagnostic]:
    """What reading the live registries should warn of: those of `resources` the runtime
    would skip."""
    return runtime.unloadable_entries(resources)


def validate_state(state: MeshState) -> list[Diagnostic]:
    """Every rule over a whole state (per-resource rules included)."""
    found = [d for resource in state for d in check_resource(resource)]
    return found + check_mesh(state)
