"""The plan for a few resources when every other one is known to be in sync.

A watch loop that sees one manifest change does not need the plan of 12,000 resources: every
resource outside the files that changed (and the ones already known out of sync) was proved
in sync by an earlier plan, so the plan is theirs alone. It is judged by the same rule
functions as a full plan (`compute.compute_plan` with `validate.check_mesh`), over a partial
graph: the references the pending resources make, and, for a delete, the references into it
(`graph.Referrers`), so it costs what the changed resources cost, not what the mesh does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler import graph, validate
from reconciler.errors import Diagnostic, sort_key
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.plan import breaking, compute
from reconciler.plan.model import Action, Change, Location, Plan
from reconciler.validate import mesh, usage


def plan_keys(*, desired: MeshState, live: MeshState, live_fingerprint: str,
              referrers: graph.Referrers, keys: Iterable[ResourceKey], prune: bool = True,
              meta: Mapping[str, Any] | None = None, deny_breaking: bool = False
              ) -> tuple[Plan, list[Diagnostic]]:
    """The plan that brings `keys` to their desired state, with the mesh-wide problems the
    state it leaves would have at those keys (errors mean: do not apply). Every resource
    not in `keys` must be in sync already; `referrers` indexes the live state.

    The state left is `desired` (plus, without `prune`, the live resources it does not
    declare): the manifests' resources carry their file and line, so messages name them."""
    pending = sorted(set(keys), key=graph.node_order)
    remaining = desired if prune else _with_live_only(desired, live, pending)
    problems: list[Diagnostic] = []
    changes: list[Change] = []
    deletes: list[Change] = []
    for key in pending:
        resource = remaining.get(key)
        before = live.get(key)
        if resource is None:
            if before is None:
                continue  # neither desired nor live: nothing to do
            edges = referrers.edges_to(key, remaining, pending)
            refusal = usage.deletion_refusal(key, remaining, edges)
            users = tuple(compute.user_at(edge, remaining)
                          for edge in refusal.users) if refusal else ()
            deletes.append(Change(key, Action.DELETE, before.entry, None,
                                  source=Location(*before.where(None)),
                                  impact=referrers.dependents(key),
                                  refused=refusal.reason if refusal else None, users=users))
            continue
        edges_out = graph.references(resource)
        present = [key, *(edge.target for edge in edges_out if edge.target in remaining)]
        problems += [d for d in validate.check_mesh(remaining, graph.Graph(present, edges_out),
                                                    live)
                     if d.resource == str(key)]
        problems += [d for d in validate.check_mesh(remaining,
                                                    referrers.content_users(key, remaining))
                     if d.is_error and d.resource != str(key)]
        source = Location(*resource.where(None))
        if before is None:
            changes.append(Change(key, Action.CREATE, None, resource.entry, source=source))
            continue
        fields = compute.field_changes(key.kind, before.entry, resource.entry)
        if fields:
            changes.append(Change(key, Action.UPDATE, before.entry, resource.entry,
                                  tuple(fields), source, referrers.dependents(key)))
    problems += mesh.check_orchestrator(remaining, live)
    problems.sort(key=sort_key)
    # Creates and updates: what others refer to first; deletes: what refers to others first.
    ordered = _dependency_order(changes, remaining) + list(
        reversed(_dependency_order(deletes, live)))
    plan = Plan(live_fingerprint, tuple(ordered), prune, meta=dict(meta or {}))
    plan, found = breaking.assess(plan, remaining, live, deny=deny_breaking)
    problems = sorted(problems + found, key=sort_key)
    warnings = tuple(d for d in problems if not d.is_error)
    return dataclasses.replace(plan, warnings=warnings), problems


def _with_live_only(desired: MeshState, live: MeshState,
                    pending: list[ResourceKey]) -> MeshState:
    """Without pruning, a pending key only the live registries hold stays as it is."""
    remaining = desired
    for key in pending:
        resource = live.get(key)
        if key not in desired and resource is not None:
            if remaining is desired:
                remaining = desired.copy()
            remaining.add(resource)
    return remaining


def _dependency_order(changes: list[Change], state: MeshState) -> list[Change]:
    """`changes` so that a resource comes after the changed ones it refers to."""
    if len(changes) < 2:
        return changes
    keys = [change.key for change in changes]
    chosen = set(keys)
    edges = [edge for key in keys if (resource := state.get(key)) is not None
             for edge in graph.references(resource) if edge.target in chosen]
    by_key = {change.key: change for change in changes}
    return [by_key[key] for key in graph.Graph(keys, edges).order()]
