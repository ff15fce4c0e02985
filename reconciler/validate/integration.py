"""Rules across settings resources: every retry policy a connector or an integration step
names is one of the integration config's `retry_policies`, and no two context processors
share an `order` (the pipeline's order would then be the file's, by accident).

A retry policy reference points into the integration config (`graph.EdgeType.RETRY_POLICY`),
so removing the config is the deletion rule's refusal, and the planners check an update of
the config against the connectors and workflows that use its policies.
"""

from __future__ import annotations

from collections.abc import Collection

from reconciler import graph
from reconciler.errors import Diagnostic, did_you_mean
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource
from reconciler.validate.rules import diagnostic


def retry_policy_ids(config: Resource | None) -> list[str]:
    policies = config.entry.get("retry_policies") if config is not None else None
    if not isinstance(policies, list):
        return []
    return [policy["policy_id"] for policy in policies if isinstance(policy, dict)
            and isinstance(policy.get("policy_id"), str)]


def check_retry_policies(state: MeshState, mesh_graph: graph.Graph,
                         known: MeshState | None = None) -> list[Diagnostic]:
    """The retry policy references of the resources in `mesh_graph`, judged against the
    integration config as `state` holds it (or `known` does, when `state` lacks it)."""
    config = state.get(graph.RETRY_POLICIES)
    if config is None and known is not None and graph.RETRY_POLICIES not in state:
        config = known.get(graph.RETRY_POLICIES)
    names = retry_policy_ids(config)
    found: list[Diagnostic] = []
    for key in mesh_graph.nodes:
        if key.kind not in (Kind.CONNECTOR, Kind.INTEGRATION_WORKFLOW):
            continue
        resource = state.get(key)
        if resource is None:
            continue
        for edge in mesh_graph.outgoing(key):
            if edge.type is not graph.EdgeType.RETRY_POLICY:
                continue
            name = graph.retry_policy_name(resource, edge)
            if name is None or name in names:
                continue
            where = ("there is no integration config to define it" if config is None else
                     f"the integration config does not define it; {did_you_mean(name, names)}"
                     f"retry policies: {', '.join(names) or 'none'}")
            found.append(diagnostic(
                "R008", resource, edge.path, f"{resource.key.describe()} names retry policy "
                f"'{name}' in {edge.path}, but {where}",
                "add it to the IntegrationConfig's retry_policies, or name one it has"))
    return found


# The integration fabric opens each of these files when it starts, and fails without one
# (its workflows folder may be missing: it globs it).
FABRIC_FILES = (Kind.CONNECTOR, Kind.AUTH_PROFILE, Kind.SECURITY_POLICY,
                Kind.INTEGRATION_CONFIG)
FABRIC_KINDS = (*FABRIC_FILES, Kind.INTEGRATION_WORKFLOW)


def fabric_files_missing(created: list[Resource], remaining: MeshState,
                         kept: Collection[Kind]) -> list[Diagnostic]:
    """A plan that brings the integration fabric's first registry file (`created`: the
    integration resources it creates) while another of its files stays missing: the
    fabric will not start. `kept`: the kinds whose registry is there now."""
    if not any(resource.kind in FABRIC_KINDS for resource in created):
        return []
    missing = [kind for kind in FABRIC_FILES
               if kind not in kept and not remaining.of_kind(kind)]
    if not missing:
        return []
    first = next(resource for resource in created if resource.kind in FABRIC_KINDS)
    files = ", ".join(kinds.info(kind).registry_file for kind in missing)
    return [diagnostic(
        "C008", first, None, "the integration fabric opens each of its registry files "
        f"when it starts, and fails without one; this plan leaves {files} missing",
        f"declare at least one {' and one '.join(kinds.info(k).label for k in missing)}, "
        "or create the file by hand (an empty list under its key)")]


def check_processor_order(state: MeshState, mesh_graph: graph.Graph) -> list[Diagnostic]:
    """Processors sharing an `order`, when the pipeline is part of what is checked."""
    if not any(key.kind is Kind.CONTEXT_PROCESSOR for key in mesh_graph.nodes):
        return []
    by_order: dict[int, list[Resource]] = {}
    for resource in state.of_kind(Kind.CONTEXT_PROCESSOR).values():
        order = resource.entry.get("order")
        if isinstance(order, int) and not isinstance(order, bool):
            by_order.setdefault(order, []).append(resource)
    found: list[Diagnostic] = []
    for order, group in by_order.items():
        if len(group) < 2:
            continue
        for resource in group:  # each is told (a one-key write checks only its own)
            others = ", ".join(f"'{other.name}'" for other in group if other is not resource)
            found.append(diagnostic(
                "C002", resource, "order", f"{resource.key.describe()} has order {order}, "
                f"as does {others}: the pipeline would run them in file order",
                "give each processor its own order"))
    return found
