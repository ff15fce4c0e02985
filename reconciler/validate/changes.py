"""The mesh-wide findings of a state that differs from an already checked one at a few
keys, found by re-checking only what those keys can affect.

Environments share their base (issue 25): `validate --all-envs` checks the base mesh once,
then each environment, whose overlays change a handful of resources, from the base's
findings. The result equals `check_mesh(state)` from scratch (a property test holds the two
together); what each family of rules needs re-checked:

- references, HITL checkpoints, retry policies: the changed resources, and the resources
  that refer to one created or deleted (their findings read whether it is there) or to a
  changed policy or integration config through a content edge (HITL roles, retry
  policies); when a kind gains or loses a resource, also the resources with a dangling
  reference to that kind, whose message lists the names available;
- access rules: the askers `access_rules.focus_of` names for the change;
- the orchestrator's presence and processor order: again, whole (they cost little);
- agent cycles: again over the whole graph, when an agent's references to agents changed.
"""

from __future__ import annotations

from collections.abc import Collection

from reconciler import access, graph
from reconciler.errors import Diagnostic
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.validate import access_rules, hitl, integration, mesh, references

ACCESS_CODES = frozenset({"A001", "A002", "A003", "A004", "A005", "A006"})
REDONE_CODES = frozenset({"O001", "C002"})  # whole-mesh rules that are cheap to redo
CYCLE_CODE = "G001"
DANGLING_CODES = frozenset({*references.CODE_BY_KIND.values(), "R009"})


def check_mesh_changed(state: MeshState, base: MeshState, base_graph: graph.Graph | None,
                       base_found: list[Diagnostic], changed: Collection[ResourceKey],
                       referrers: graph.Users,
                       governance: access.Governance | None = None) -> list[Diagnostic]:
    """`check_mesh(state)`, given `base_found` = `check_mesh(base)` with `base_graph` =
    `graph.build(base)`, `referrers` its index and `governance` its governance (built when
    not given), when `state` differs from `base` only at `changed` (resources updated,
    created or deleted). Without `base_graph`, the caller has made sure no agent's
    references to agents changed (`agent_edges_change`): cycles are then the base's."""
    if not changed:
        return list(base_found)
    recheck = set(changed)
    for key in changed:
        # A referrer's findings read whether the target is there, and for content edges
        # (HITL roles, retry policies) what it holds: an update of any other kind cannot
        # change them (and the largest policies refer to every agent).
        if (key in state) != (key in base) or key.kind in graph.CONTENT_KINDS:
            recheck.update(referrers.users(key))
    added_or_gone = {key.kind for key in changed if (key in state) != (key in base)}
    if added_or_gone:
        codes = {references.CODE_BY_KIND[kind] for kind in added_or_gone
                 if kind in references.CODE_BY_KIND} | {"R009"}
        recheck.update(named for d in base_found if d.code in codes
                       and (named := ResourceKey.parse(d.resource)) is not None)
    names = {str(key) for key in recheck}

    before = governance or access.Governance.of(base)
    policies_changed = any(key.kind is Kind.GOVERNANCE_POLICY for key in changed)
    after = access.Governance.of(state) if policies_changed else before
    focus = access_rules.focus_of(sorted(changed, key=graph.node_order), state, base,
                                  before, after, referrers)
    cycles_change = agent_edges_change(changed, state, base)
    kept = [d for d in base_found if not _redone(d, names, focus, cycles_change)]

    present = [resource for key in recheck if (resource := state.get(key)) is not None]
    edges = [edge for resource in present for edge in graph.references(resource)]
    nodes = list(dict.fromkeys([*(r.key for r in present),
                                *(e.target for e in edges if e.target in state)]))
    partial = graph.Graph(nodes, edges)
    found = [d for d in (references.check_references(state, partial)
                         + hitl.check_checkpoints(state, partial)
                         + integration.check_retry_policies(state, partial))
             if d.resource in names]
    processors = [r.key for r in state.of_kind(Kind.CONTEXT_PROCESSOR).values()]
    found += mesh.check_orchestrator(state) + integration.check_processor_order(
        state, graph.Graph(processors, []))
    if cycles_change:
        if base_graph is None:
            raise ValueError("agent cycles changed: check_mesh_changed needs the base graph")
        found += mesh.check_cycles(state, _graph_after(state, base_graph, set(changed)))
    found += access_rules.check(state, after, focus)
    return kept + found


def _redone(found: Diagnostic, names: set[str], focus: access_rules.Focus,
            cycles_change: bool) -> bool:
    """Whether a base finding is re-made (or gone) in the changed state."""
    if found.code in REDONE_CODES:
        return True
    if found.code == CYCLE_CODE:
        return cycles_change
    if found.code in ACCESS_CODES:
        return _in_focus(found, focus)
    return found.resource in names


def _in_focus(found: Diagnostic, focus: access_rules.Focus) -> bool:
    name = (found.resource or "").partition("/")[2]
    chosen: frozenset[str] | None
    if found.code == "A001":
        return focus.orchestrator
    if found.code == "A003":
        chosen = focus.agents
    elif found.code in ("A002", "A005"):
        chosen = focus.workflows
    else:
        chosen = focus.policies
    return chosen is None or name in chosen


def agent_edges_change(changed: Collection[ResourceKey], state: MeshState,
                        base: MeshState) -> bool:
    """Whether an agent's references to agents differ (only they make G001 cycles)."""
    for key in changed:
        if key.kind is not Kind.AGENT:
            continue
        old, new = base.get(key), state.get(key)
        if _agent_targets(old) != _agent_targets(new):
            return True
    return False


def _agent_targets(resource: Resource | None) -> set[ResourceKey]:
    if resource is None:
        return set()
    return {edge.target for edge in graph.references(resource)
            if edge.target.kind is Kind.AGENT}


def _graph_after(state: MeshState, base_graph: graph.Graph,
                 changed: set[ResourceKey]) -> graph.Graph:
    """`graph.build(state)`, edges in the same order, reusing the base's unchanged ones."""
    nodes = [resource.key for resource in state]
    edges = [edge for resource in state for edge in (
        graph.references(resource) if resource.key in changed
        else base_graph.outgoing(resource.key))]
    return graph.Graph(nodes, edges)

