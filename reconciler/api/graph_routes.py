"""The Graph page's endpoints: a type-ahead over every resource's id, one resource's
neighbourhood (N hops each way, direct and transitive dependents told apart, by kind), and
a workflow's steps and transitions. Each answers from the served snapshot, so a browser
never holds the whole mesh (10,000 agents).

The references are the engine's (`graph.references`, what a resource names; the snapshot's
`graph.Referrers`, who names it): no rule of which field refers to what is spelled here.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Query

from reconciler import graph
from reconciler.api.errors import ApiError
from reconciler.library import RegistryManager
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey

MAX_HOPS = 5
LIMIT = 200  # nodes shown at most (nearest first); the rest are counted, not sent
MAX_LIMIT = 2000
FLOW_KINDS = (Kind.WORKFLOW, Kind.INTEGRATION_WORKFLOW)


def kind_name(kind: Kind) -> str:
    """How the graph names a kind: the prefix of its ids (`model-profile`, `agent`)."""
    return kinds.info(kind).label.replace(" ", "-")


def kind_of(text: str) -> Kind:
    """The kind `text` names (`agent`, `Agent`, `agents`, `governance-policy`); 400 if none."""
    wanted = text.strip().lower()
    for kind in Kind:
        if wanted == kind_name(kind):
            return kind
    found = kinds.kind_by_name(wanted)
    if found is None:
        raise ApiError(400, f"unknown kind '{text}'; kinds: "
                            + ", ".join(kind_name(kind) for kind in Kind))
    return found


def kinds_of(text: str | None) -> frozenset[Kind] | None:
    """The kinds of a comma-separated `kinds` parameter; None (every kind) when not given."""
    if text is None or not text.strip():
        return None
    return frozenset(kind_of(part) for part in text.split(",") if part.strip())


def node(key: ResourceKey, state: MeshState, **more: Any) -> dict[str, Any]:
    return {"id": str(key), "kind": key.kind.value, "type": kind_name(key.kind),
            "label": kinds.info(key.kind).label, "name": key.name,
            "missing": key not in state, **more}


def search(state: MeshState, query: str, limit: int,
           only: frozenset[Kind] | None) -> dict[str, Any]:
    """The resources whose id (`agent/fraud_agent`) or name holds `query` (any case): exact
    names first, then names starting with it, then the rest, each in `graph.node_order`."""
    wanted = query.strip().lower()
    ranked: list[tuple[int, tuple[int, str], ResourceKey]] = []
    for kind in kinds.KIND_ORDER:
        if only is not None and kind not in only:
            continue
        prefix = kind_name(kind) + "/"
        for name in state.of_kind(kind):  # the names alone: no entry is decoded
            lowered = name.lower()
            if wanted in lowered:
                rank = 0 if lowered == wanted else 1 if lowered.startswith(wanted) else 2
            elif wanted and wanted in prefix + lowered:
                rank = 3
            else:
                continue
            key = ResourceKey(kind, name)
            ranked.append((rank, graph.node_order(key), key))
    ranked.sort()
    return {"query": query, "total": len(ranked),
            "matches": [node(key, state) for _, _, key in ranked[:limit]]}


def neighbourhood(state: MeshState, users: graph.Users, focus: ResourceKey, *, hops: int,
                  transitive: bool, only: frozenset[Kind] | None,
                  limit: int) -> dict[str, Any]:
    """`focus`, what it refers to up to `hops` references away, and what refers to it up to
    `hops` away (through any chain when `transitive`: the blast radius of a change). The
    walk steps only onto resources of the kinds `only` (every kind when None), so each
    shown resource is connected to the focus through shown ones. The edges are the walk's:
    each from one hop to the next (a dependency at hop n names one at n + 1; a dependent
    at hop n + 1 names one at n); an edge is `direct` when it touches the focus, else
    `transitive`."""
    def allowed(key: ResourceKey) -> bool:
        return only is None or key.kind in only

    def outgoing(key: ResourceKey) -> Iterable[ResourceKey]:
        resource = state.get(key)
        return () if resource is None else (edge.target for edge in graph.references(resource))

    dependencies = _walk(focus, outgoing, hops, allowed)
    dependents = _walk(focus, users.users, None if transitive else hops, allowed)
    reached = dict(dependencies)
    for key, distance in dependents.items():
        reached[key] = min(distance, reached.get(key, distance))
    ordered = sorted(reached, key=lambda key: (reached[key], graph.node_order(key)))
    shown = set(ordered[:limit]) | {focus}
    nodes = [node(focus, state, role="focus", distance=0, direct=True)]
    for key in sorted(shown - {focus}, key=lambda key: (reached[key], graph.node_order(key))):
        role = ("both" if key in dependencies and key in dependents
                else "dependency" if key in dependencies else "dependent")
        nodes.append(node(key, state, role=role, distance=reached[key],
                          direct=reached[key] == 1))
    down = {key: dependencies[key] for key in shown if key in dependencies} | {focus: 0}
    up = {key: dependents[key] for key in shown if key in dependents} | {focus: 0}
    edges: list[dict[str, Any]] = []
    for key in sorted(shown, key=graph.node_order):
        resource = state.get(key)
        if resource is None:
            continue
        for edge in graph.references(resource):
            target = edge.target
            # Each edge steps one hop along the walk: outwards among the dependencies,
            # inwards among the dependents (none within a hop: they would cross the others).
            if not ((key in down and down.get(target) == down[key] + 1)
                    or (key in up and up.get(target) == up[key] - 1)):
                continue
            shown_edge: dict[str, Any] = {
                "from": str(key), "to": str(target), "type": edge.type.value,
                "field": edge.path,
                "reach": "direct" if focus in (key, target) else "transitive"}
            if edge.type in graph.CONTENT_EDGES:  # the role or retry policy it names inside
                shown_edge["names"] = graph.retry_policy_name(resource, edge)
            edges.append(shown_edge)
    direct_dependents = sum(1 for distance in dependents.values() if distance == 1)
    direct_dependencies = sum(1 for distance in dependencies.values() if distance == 1)
    return {
        "focus": str(focus), "hops": hops, "transitive": transitive,
        "kinds": None if only is None else sorted(kind_name(kind) for kind in only),
        "nodes": nodes, "edges": edges,
        "counts": {"dependencies": direct_dependencies,
                   "indirect_dependencies": len(dependencies) - direct_dependencies,
                   "dependents": direct_dependents,
                   "transitive_dependents": len(dependents) - direct_dependents},
        "truncated": len(ordered) > limit, "omitted": max(0, len(ordered) - limit),
    }


def _walk(start: ResourceKey, step: Callable[[ResourceKey], Iterable[ResourceKey]],
          hops: int | None, allowed: Callable[[ResourceKey], bool]) -> dict[ResourceKey, int]:
    """Every key reached from `start` through `step` (a key's neighbours), within `hops`
    steps (None: any number), onto `allowed` keys only: each with its distance."""
    found: dict[ResourceKey, int] = {}
    frontier = [start]
    distance = 0
    while frontier and (hops is None or distance < hops):
        distance += 1
        following: list[ResourceKey] = []
        for key in frontier:
            for other in step(key):
                if other != start and other not in found and allowed(other):
                    found[other] = distance
                    following.append(other)
        frontier = following
    return found


def workflow_diagram(state: MeshState, key: ResourceKey) -> dict[str, Any]:
    """A workflow's steps and the transitions between them, as upstream's panel draws them:
    each step's `on_success` and `on_failure` (a step without `on_success` goes on to the
    next one), the ends they lead to, and the HITL checkpoints (after an agent's step, or
    before completion). An integration workflow's steps run in order; a step's
    `failure_policy` is where its failure goes."""
    resource = state.get(key)
    if resource is None:
        raise ApiError(404, f"no {key.describe()}")
    entry = resource.entry
    raw = entry.get("steps")
    steps = [step for step in raw if isinstance(step, dict)] if isinstance(raw, list) else []
    shown: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    ends: dict[str, None] = {}
    checkpoints: list[dict[str, Any]] = []
    if key.kind is Kind.WORKFLOW:
        steps.sort(key=lambda step: (not isinstance(step.get("sequence"), int),
                                     step.get("sequence") or 0))
        ids = [str(step.get("step_id")) for step in steps]
        for index, step in enumerate(steps):
            step_id = ids[index]
            shown.append({"id": step_id, "name": step.get("step_name") or step_id,
                          "agent": step.get("agent_id"), "sequence": step.get("sequence"),
                          "partial": step.get("allow_partial_failure") is True})
            success = step.get("on_success")
            if not isinstance(success, str) and index + 1 < len(ids):
                transitions.append({"from": step_id, "to": ids[index + 1], "on": "next"})
            for on in ("on_success", "on_failure"):
                target = step.get(on)
                if isinstance(target, str):
                    transitions.append({"from": step_id, "to": target,
                                        "on": on.removeprefix("on_")})
                    if target not in ids:
                        ends[target] = None
        raw_checkpoints = entry.get("hitl_checkpoints")
        for index, checkpoint in enumerate(raw_checkpoints
                                           if isinstance(raw_checkpoints, list) else []):
            if not isinstance(checkpoint, dict):
                continue
            agent = checkpoint.get("agent_id")
            checkpoints.append({
                "id": str(checkpoint.get("checkpoint_id", index)),
                "name": checkpoint.get("checkpoint_name") or checkpoint.get("checkpoint_id"),
                "type": checkpoint.get("checkpoint_type"),
                "trigger": checkpoint.get("trigger_point"),
                "role": checkpoint.get("required_role"),
                "after": [shown[i]["id"] for i, step in enumerate(steps)
                          if isinstance(agent, str) and step.get("agent_id") == agent],
                # before completion: ahead of the ends a success leads to
                "before": [] if isinstance(agent, str) else list(dict.fromkeys(
                    t["to"] for t in transitions
                    if t["on"] != "failure" and t["to"] not in ids))})
    else:
        ids = [str(step.get("id")) for step in steps]
        for index, step in enumerate(steps):
            step_id = ids[index]
            shown.append({"id": step_id, "name": step_id, "type": step.get("type"),
                          "connector": step.get("connector"), "policy": step.get("policy"),
                          "retry_policy": step.get("retry_policy")})
            if index + 1 < len(ids):
                transitions.append({"from": step_id, "to": ids[index + 1], "on": "next"})
            failure = step.get("failure_policy")
            if isinstance(failure, str):
                transitions.append({"from": step_id, "to": failure, "on": "failure"})
                if failure not in ids:
                    ends[failure] = None
    return {"id": str(key), "kind": key.kind.value, "name": key.name,
            "title": entry.get("name") or key.name, "mode": entry.get("mode"),
            "steps": shown, "transitions": transitions, "ends": list(ends),
            "checkpoints": checkpoints}


def add_routes(app: FastAPI, registry: RegistryManager, *, viewer: Any) -> None:
    def focus_of(kind: str, name: str, state: MeshState) -> ResourceKey:
        key = ResourceKey(kind_of(kind), name)
        if key not in state:
            raise ApiError(404, f"no {key.describe()}")
        return key

    @app.get("/registries/graph/kinds", tags=["mesh"], dependencies=[viewer])
    def graph_kinds() -> dict[str, Any]:
        """Every kind as the graph names it (`type`: the prefix of its ids, what `kinds`
        takes), its label and how many resources of it there are."""
        state = registry.live().state
        return {"kinds": [{"type": kind_name(kind), "kind": kind.value,
                           "label": kinds.info(kind).label,
                           "count": len(state.of_kind(kind))} for kind in kinds.KIND_ORDER]}

    @app.get("/registries/graph/search", tags=["mesh"], dependencies=[viewer])
    def graph_search(q: str = Query(default="", max_length=200),
                     limit: int = Query(default=20, ge=1, le=100),
                     kinds: str | None = Query(default=None)) -> dict[str, Any]:
        """The resources of every kind whose id or name holds `q` (any case), best first
        (exact name, then names starting with it): `matches` (at most `limit`) and
        `total`. What the Graph page's search box offers as one types."""
        return search(registry.live().state, q, limit, kinds_of(kinds))

    @app.get("/registries/graph/neighbourhood", tags=["mesh"], dependencies=[viewer])
    def graph_neighbourhood(kind: str, name: str,
                            hops: int = Query(default=1, ge=1, le=MAX_HOPS),
                            transitive: bool = False,
                            kinds: str | None = Query(default=None),
                            limit: int = Query(default=LIMIT, ge=1, le=MAX_LIMIT)
                            ) -> dict[str, Any]:
        """One resource (`kind`, `name`) and its neighbourhood: what it refers to and what
        refers to it, up to `hops` references away; with `transitive`, what refers to it
        through any chain (everything a change of it may touch). `kinds` (comma-separated:
        `agent,tool`) limits the walk to those kinds. Each node has its `role` (focus,
        dependency, dependent, both), `distance` and `direct`; each edge its `field` (the
        referring field's path), `type` and `reach` (`direct`: it touches the resource,
        else `transitive`). The nearest `limit` nodes are sent; `omitted` counts the rest."""
        live, users, _ = registry.view()
        focus = focus_of(kind, name, live.state)
        return neighbourhood(live.state, users, focus, hops=hops, transitive=transitive,
                             only=kinds_of(kinds), limit=limit)

    @app.get("/registries/graph/workflow", tags=["mesh"], dependencies=[viewer])
    def graph_workflow(name: str, kind: str = "workflow") -> dict[str, Any]:
        """A workflow's (or, `kind=integration-workflow`, an integration workflow's) steps
        and transitions: `steps`, `transitions` (`from`, `to`, `on`: success, failure or
        next), the `ends` they lead to that are not steps, and its HITL `checkpoints` (each
        `after` the steps of its agent, or `before` the ends a success leads to)."""
        key = ResourceKey(kind_of(kind), name)
        if key.kind not in FLOW_KINDS:
            raise ApiError(400, f"only a workflow or an integration workflow has steps, not "
                                f"a {kinds.info(key.kind).label}")
        return workflow_diagram(registry.live().state, key)
