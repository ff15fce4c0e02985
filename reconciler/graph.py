"""The dependency graph of a mesh: who refers to whom, through which field.

Used by validation (unknown references, cycles), by the plan (ordering, blast radius, in-use
deletion) and by `meshctl graph`. This module is the one place that knows which fields hold
references; everything else asks it. Pure: no I/O, same input, same output.
"""

from __future__ import annotations

import abc
import enum
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from reconciler.model import kinds
from reconciler.model.cowmap import CowMap
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey

WILDCARD = "*"


class EdgeType(enum.StrEnum):
    USES_MODEL = "uses-model"
    MAY_USE_TOOL = "may-use-tool"
    MAY_INVOKE = "may-invoke"
    REQUIRES_AGENT = "requires-agent"
    STEP_AGENT = "step-agent"
    POLICY_REF = "policy-ref"
    HITL_ROLE = "hitl-role"
    SUMMARY_MODEL = "summary-model"
    AUTH_PROFILE = "auth-profile"
    RETRY_POLICY = "retry-policy"
    STEP_CONNECTOR = "step-connector"
    STEP_SECURITY_POLICY = "step-security-policy"


# A HITL checkpoint's `required_role` names a role of this governance policy (`roles[]`).
HITL_POLICY = "hitl_access_control"
# A retry policy named by a connector or an integration step is one of the integration
# config's `retry_policies[]`.
RETRY_POLICIES = ResourceKey(Kind.INTEGRATION_CONFIG, kinds.SINGLETON_NAME)
# References that name something inside their target (a role of a policy, a retry policy of
# the integration config), so an update of the target, not only its deletion, can break
# them: the planners check their users then.
CONTENT_EDGES = frozenset({EdgeType.HITL_ROLE, EdgeType.RETRY_POLICY})
CONTENT_KINDS = frozenset({Kind.GOVERNANCE_POLICY, Kind.INTEGRATION_CONFIG})


class Reference(NamedTuple):
    """`source` names `target` in the field at `path` (relative to the source's entry).
    A reference of a switched-off feature (`enforced` False: context compaction's
    summarization model while summarization is disabled) may dangle with a warning."""

    source: ResourceKey
    target: ResourceKey
    type: EdgeType
    path: str
    enforced: bool = True


class FieldReference(NamedTuple):
    """A top-level field of an entry that holds the id (or, `many`, a list of ids) of a
    resource of kind `target`."""

    field: str
    target: Kind
    many: bool
    type: EdgeType


# The references an entry makes in its own top-level fields, per kind, in field order. The
# panel's forms make these fields pickers of the target's ids; `references` follows them
# first, then the references nested deeper (workflow steps, policy rules, ...).
FIELD_REFERENCES: dict[Kind, tuple[FieldReference, ...]] = {
    Kind.AGENT: (
        FieldReference("model_profile_id", Kind.MODEL_PROFILE, False, EdgeType.USES_MODEL),
        FieldReference("allowed_tools", Kind.TOOL, True, EdgeType.MAY_USE_TOOL),
        FieldReference("allowed_agents", Kind.AGENT, True, EdgeType.MAY_INVOKE),
    ),
    Kind.WORKFLOW: tuple(
        FieldReference(name, Kind.AGENT, True, EdgeType.REQUIRES_AGENT)
        for name in ("required_agents", "optional_agents", "suggested_sequence")),
    Kind.CONNECTOR: (
        FieldReference("auth_profile", Kind.AUTH_PROFILE, False, EdgeType.AUTH_PROFILE),
    ),
}

# Governance rules name other resources through these keys, at any depth of a policy body.
_POLICY_SCALAR_KEYS: dict[str, Kind] = {
    "agent_id": Kind.AGENT,
    "from_agent_id": Kind.AGENT,
    "to_agent_id": Kind.AGENT,
    "workflow_id": Kind.WORKFLOW,
    "default_profile": Kind.MODEL_PROFILE,
}
_POLICY_LIST_KEYS: dict[str, Kind] = {
    "allowed_agents": Kind.AGENT,
    "denied_agents": Kind.AGENT,
    "allowed_tools": Kind.TOOL,
    "denied_tools": Kind.TOOL,
    "allowed_workflows": Kind.WORKFLOW,
    "allowed_profiles": Kind.MODEL_PROFILE,
}


# A policy may name every agent (100,000 rules): a plan of a change to it asks for its
# references several times. The last few policies' are kept, by the very Resource object
# (held here, so its id is not reused; resources are never changed in place).
_POLICY_REFERENCES: dict[int, tuple[Resource, list[Reference]]] = {}
_POLICIES_KEPT = 8
_POLICY_LOCK = threading.Lock()


def references(resource: Resource) -> list[Reference]:
    """Every reference `resource` makes, in field order. (Lists are built directly, not
    yielded: a 12,000-resource graph is built on every plan.)"""
    entry, key = resource.entry, resource.key
    if key.kind is Kind.GOVERNANCE_POLICY:
        kept = _POLICY_REFERENCES.get(id(resource))
        if kept is not None and kept[0] is resource:
            return list(kept[1])
    found: list[Reference] = []
    for top in FIELD_REFERENCES.get(key.kind, ()):
        (_listed if top.many else _scalar)(found, key, entry, top.field, top.target, top.type,
                                           "")
    if key.kind is Kind.WORKFLOW:
        for index, step in _items(entry.get("steps")):
            _scalar(found, key, step, "agent_id", Kind.AGENT, EdgeType.STEP_AGENT,
                    f"steps[{index}].")
        criteria = entry.get("completion_criteria")
        if isinstance(criteria, dict):
            _listed(found, key, criteria, "required_agents_executed", Kind.AGENT,
                    EdgeType.REQUIRES_AGENT, "completion_criteria.")
        for index, checkpoint in _items(entry.get("hitl_checkpoints")):
            _scalar(found, key, checkpoint, "agent_id", Kind.AGENT, EdgeType.REQUIRES_AGENT,
                    f"hitl_checkpoints[{index}].")
            if isinstance(checkpoint.get("required_role"), str):
                found.append(Reference(key, ResourceKey(Kind.GOVERNANCE_POLICY, HITL_POLICY),
                                       EdgeType.HITL_ROLE,
                                       f"hitl_checkpoints[{index}].required_role"))
    elif key.kind is Kind.GOVERNANCE_POLICY:
        _policy_references(found, key, entry, "")
        if len(found) > 1000:  # worth keeping; small ones cost less than the lookup
            with _POLICY_LOCK:  # the library's readers run in many threads
                if len(_POLICY_REFERENCES) >= _POLICIES_KEPT:
                    del _POLICY_REFERENCES[next(iter(_POLICY_REFERENCES))]
                _POLICY_REFERENCES[id(resource)] = (resource, list(found))
    elif key.kind is Kind.CONNECTOR:
        if isinstance(entry.get("retry_policy_id"), str):
            found.append(Reference(key, RETRY_POLICIES, EdgeType.RETRY_POLICY,
                                   "retry_policy_id"))
    elif key.kind is Kind.INTEGRATION_WORKFLOW:
        for index, step in _items(entry.get("steps")):
            prefix = f"steps[{index}]."
            _scalar(found, key, step, "connector", Kind.CONNECTOR, EdgeType.STEP_CONNECTOR,
                    prefix)
            _scalar(found, key, step, "policy", Kind.SECURITY_POLICY,
                    EdgeType.STEP_SECURITY_POLICY, prefix)
            if isinstance(step.get("retry_policy"), str):
                found.append(Reference(key, RETRY_POLICIES, EdgeType.RETRY_POLICY,
                                       prefix + "retry_policy"))
    elif key.kind is Kind.CONTEXT_STRATEGIES:
        compaction = entry.get("compaction")
        summary = compaction.get("llm_summarization") if isinstance(compaction, dict) else None
        if isinstance(summary, dict) and isinstance(summary.get("model_profile_id"), str):
            found.append(Reference(
                key, ResourceKey(Kind.MODEL_PROFILE, summary["model_profile_id"]),
                EdgeType.SUMMARY_MODEL, "compaction.llm_summarization.model_profile_id",
                summary.get("enabled") is True))
    return found


def retry_policy_name(resource: Resource, edge: Reference) -> str | None:
    """The retry policy id a RETRY_POLICY reference names (its value at `edge.path`)."""
    value: Any = resource.entry
    for part in edge.path.replace("[", ".").replace("]", "").split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value if isinstance(value, str) else None


def _items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _scalar(found: list[Reference], source: ResourceKey, container: dict[str, Any], name: str,
            kind: Kind, edge: EdgeType, prefix: str, wildcard: bool = False) -> None:
    value = container.get(name)
    if isinstance(value, str) and not (wildcard and value == WILDCARD):
        found.append(Reference(source, ResourceKey(kind, value), edge, prefix + name))


def _listed(found: list[Reference], source: ResourceKey, container: dict[str, Any], name: str,
            kind: Kind, edge: EdgeType, prefix: str, wildcard: bool = False) -> None:
    values = container.get(name)
    if isinstance(values, list):
        for index, value in enumerate(values):
            if isinstance(value, str) and not (wildcard and value == WILDCARD):
                found.append(Reference(source, ResourceKey(kind, value), edge,
                                       f"{prefix}{name}[{index}]"))


def _policy_references(found: list[Reference], source: ResourceKey, value: Any,
                       prefix: str) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            if name in _POLICY_SCALAR_KEYS:
                _scalar(found, source, value, name, _POLICY_SCALAR_KEYS[name],
                        EdgeType.POLICY_REF, prefix, wildcard=True)
            elif name in _POLICY_LIST_KEYS:
                _listed(found, source, value, name, _POLICY_LIST_KEYS[name],
                        EdgeType.POLICY_REF, prefix, wildcard=True)
            else:
                _policy_references(found, source, item, f"{prefix}{name}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _policy_references(found, source, item, f"{prefix.rstrip('.')}[{index}].")


_KIND_RANK = {kind: rank for rank, kind in enumerate(kinds.KIND_ORDER)}


def node_order(key: ResourceKey) -> tuple[int, str]:
    """How resources are listed: by kind (profiles, tools, agents, ...), then name."""
    return (_KIND_RANK[key.kind], key.name)


_sort_key = node_order


@dataclass(slots=True)
class Graph:
    """Nodes are the resources of a state; edges point from a resource to what it names."""

    nodes: list[ResourceKey]
    edges: list[Reference]
    _out: dict[ResourceKey, list[Reference]] = field(default_factory=dict)
    _in: dict[ResourceKey, list[Reference]] | None = None  # see `_incoming`
    _component_cache: list[list[ResourceKey]] | None = None

    def __post_init__(self) -> None:
        for edge in self.edges:
            self._out.setdefault(edge.source, []).append(edge)

    def _incoming(self) -> dict[ResourceKey, list[Reference]]:
        """The edges into each node, indexed on first use: validation never asks (a
        100,000-agent mesh has 800,000 edges), plans and `describe` do."""
        if self._in is None:
            found: dict[ResourceKey, list[Reference]] = {}
            for edge in self.edges:
                found.setdefault(edge.target, []).append(edge)
            self._in = found
        return self._in

    def outgoing(self, key: ResourceKey) -> list[Reference]:
        return self._out.get(key, [])

    def incoming(self, key: ResourceKey) -> list[Reference]:
        return self._incoming().get(key, [])

    def dependencies(self, key: ResourceKey, *, transitive: bool = False) -> list[ResourceKey]:
        """What `key` refers to (directly, or through any chain when `transitive`)."""
        return self._walk(key, self._out, lambda edge: edge.target, transitive)

    def dependents(self, key: ResourceKey, *, transitive: bool = False) -> list[ResourceKey]:
        """What refers to `key` (directly, or through any chain when `transitive`)."""
        return self._walk(key, self._incoming(), lambda edge: edge.source, transitive)

    def _walk(self, start: ResourceKey, index: dict[ResourceKey, list[Reference]],
              step: Any, transitive: bool) -> list[ResourceKey]:
        seen: dict[ResourceKey, None] = {}
        pending = [start]
        while pending:
            for edge in index.get(pending.pop(), []):
                found = step(edge)
                if found != start and found not in seen:
                    seen[found] = None
                    if transitive:
                        pending.append(found)
        return sorted(seen, key=_sort_key)

    def dangling(self) -> list[Reference]:
        """References to resources that are not in the state."""
        present = set(self.nodes)
        return [edge for edge in self.edges if edge.target not in present]

    def cycles(self) -> list[list[ResourceKey]]:
        """Groups of resources that refer to each other in a loop (self-references included)."""
        return [group for group in self._components() if len(group) > 1 or any(
            edge.target == group[0] for edge in self.outgoing(group[0]))]

    def order(self) -> list[ResourceKey]:
        """Every node, what is referred to before what refers to it.

        Each node gets a wave: 0 for what refers to nothing, else one more than the highest
        wave it refers to (the members of a cycle share one). Sorting by (wave, kind order,
        name) is then dependency-safe and reads well: profiles and tools, then agents, then
        whatever builds on them."""
        wave: dict[ResourceKey, int] = {}
        for group in self._components():  # Tarjan yields what a group refers to before it
            members = set(group)
            level = 0
            for key in group:
                for edge in self.outgoing(key):
                    if edge.target in wave and edge.target not in members:
                        level = max(level, wave[edge.target] + 1)
            for key in group:
                wave[key] = level
        return sorted(self.nodes, key=lambda key: (wave[key], _KIND_RANK[key.kind], key.name))

    def _components(self) -> list[list[ResourceKey]]:
        """Strongly connected components (Tarjan, iterative), members sorted; computed once."""
        if self._component_cache is None:
            self._component_cache = self._tarjan()
        return self._component_cache

    def _tarjan(self) -> list[list[ResourceKey]]:
        present = set(self.nodes)
        index: dict[ResourceKey, int] = {}
        low: dict[ResourceKey, int] = {}
        on_stack: set[ResourceKey] = set()
        stack: list[ResourceKey] = []
        result: list[list[ResourceKey]] = []
        for root in self.nodes:
            if root in index:
                continue
            work: list[tuple[ResourceKey, Iterator[Reference]]] = [
                (root, iter(self.outgoing(root)))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on_stack.add(root)
            while work:
                node, edges = work[-1]
                advanced = False
                for edge in edges:
                    target = edge.target
                    if target not in present:
                        continue
                    if target not in index:
                        index[target] = low[target] = len(index)
                        stack.append(target)
                        on_stack.add(target)
                        work.append((target, iter(self.outgoing(target))))
                        advanced = True
                        break
                    if target in on_stack:
                        low[node] = min(low[node], index[target])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group: list[ResourceKey] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    result.append(sorted(group, key=_sort_key))
        return result


def subgraph(full: Graph, focus: Iterable[ResourceKey]) -> Graph:
    """The focus resources with everything they depend on and everything that depends on
    them, transitively: the blast radius and the prerequisites in one picture."""
    keep: set[ResourceKey] = set()
    for key in focus:
        keep.add(key)
        keep.update(full.dependencies(key, transitive=True))
        keep.update(full.dependents(key, transitive=True))
    return Graph([key for key in full.nodes if key in keep],
                 [edge for edge in full.edges if edge.source in keep and edge.target in keep])


def to_dict(mesh_graph: Graph) -> dict[str, Any]:
    """Nodes and typed edges as plain data (the JSON form of `meshctl graph`)."""
    return {
        "nodes": [{"id": str(key), "kind": key.kind.value, "name": key.name}
                  for key in mesh_graph.nodes],
        "edges": [{"from": str(edge.source), "to": str(edge.target), "type": edge.type.value,
                   "path": edge.path} for edge in mesh_graph.edges],
        "cycles": [[str(key) for key in group] for group in mesh_graph.cycles()],
    }


def build(state: MeshState | Iterable[Resource]) -> Graph:
    resources = list(state)
    edges = [edge for resource in resources for edge in references(resource)]
    return Graph([resource.key for resource in resources], edges)


class Users(Protocol):
    """Who refers to a resource: `Referrers`, or another index giving the same answers."""

    def users(self, key: ResourceKey) -> frozenset[ResourceKey]: ...


class UserIndex(abc.ABC):
    """What the planners ask of an index of who refers to whom (`users`), answered from
    `users` alone, so any index that gives the same users gives the same answers:
    `Referrers`, or `replan`'s live view of a validation's record."""

    __slots__ = ()

    @abc.abstractmethod
    def users(self, key: ResourceKey) -> frozenset[ResourceKey]: ...

    def dependents(self, key: ResourceKey) -> tuple[ResourceKey, ...]:
        """Everything that refers to `key` through any chain, in `node_order`."""
        seen: dict[ResourceKey, None] = {}
        pending = [key]
        while pending:
            for user in self.users(pending.pop()):
                if user != key and user not in seen:
                    seen[user] = None
                    pending.append(user)
        return tuple(sorted(seen, key=node_order))

    def content_users(self, key: ResourceKey, state: MeshState) -> Graph:
        """The references into `key` that depend on what it holds (`CONTENT_EDGES`): the
        ones an update of `key` can break, which the planners check when `key` changes."""
        if key.kind not in CONTENT_KINDS:  # what content edges point to
            return Graph([key], [])
        edges = [edge for edge in self.edges_to(key, state).edges
                 if edge.type in CONTENT_EDGES]
        return Graph(list(dict.fromkeys([key, *(edge.source for edge in edges)])), edges)

    def edges_to(self, key: ResourceKey, state: MeshState,
                 also: Iterable[ResourceKey] = ()) -> Graph:
        """The references into `key` from resources of `state` (its known users, and `also`
        those that may have just started to refer to it), as a graph of just those edges:
        what the deletion rule needs, found without scanning the mesh."""
        edges = [edge for user in {*self.users(key), *also}
                 if (resource := state.get(user)) is not None
                 for edge in references(resource) if edge.target == key]
        return Graph([key, *(edge.source for edge in edges)], edges)


class Adjusted(UserIndex):
    """`base`, an index of who refers to whom in state `then`, as it is in state `now`,
    which differs from `then` only at `keys`: each key's references as `now` holds them.
    Costs the keys' references, however large the index."""

    __slots__ = ("_base", "_gone", "_more")

    def __init__(self, base: Users, keys: Iterable[ResourceKey], then: MeshState,
                 now: MeshState) -> None:
        self._base = base
        self._gone: dict[ResourceKey, set[ResourceKey]] = {}
        self._more: dict[ResourceKey, set[ResourceKey]] = {}
        for key in keys:
            before, after = then.get(key), now.get(key)
            held = {edge.target for edge in references(before)} if before else set()
            made = {edge.target for edge in references(after)} if after else set()
            for target in held - made:
                self._gone.setdefault(target, set()).add(key)
            for target in made - held:
                self._more.setdefault(target, set()).add(key)

    def users(self, key: ResourceKey) -> frozenset[ResourceKey]:
        found = self._base.users(key)
        gone, more = self._gone.get(key), self._more.get(key)
        if gone is None and more is None:
            return found
        return frozenset((found - (gone or set())) | (more or set()))


@dataclass(frozen=True, slots=True)
class Referrers(UserIndex):
    """Who refers to each resource, kept up to date one change at a time.

    A long-lived reader (`RegistryManager`) judges a single delete with it instead of
    building the whole graph of a 12,000-resource mesh for every write. Copy-on-write: a
    change makes a new index that shares the untouched sets, so snapshots stay immutable.
    Built ones are `CowMap`s: a change copies what changed since the map's base was laid,
    not an entry per resource of a 100,000-agent mesh."""

    by_target: CowMap[ResourceKey, frozenset[ResourceKey]] | dict[ResourceKey,
                                                                  frozenset[ResourceKey]]

    @classmethod
    def build(cls, state: MeshState) -> Referrers:
        found: dict[ResourceKey, set[ResourceKey]] = {}
        for resource in state:
            for edge in references(resource):
                found.setdefault(edge.target, set()).add(edge.source)
        return cls(CowMap({target: frozenset(sources) for target, sources in found.items()}))

    @classmethod
    def of(cls, mesh_graph: Graph) -> Referrers:
        """The index of a graph already built (its edges are the references)."""
        found: dict[ResourceKey, set[ResourceKey]] = {}
        for edge in mesh_graph.edges:
            found.setdefault(edge.target, set()).add(edge.source)
        return cls(CowMap({target: frozenset(sources) for target, sources in found.items()}))

    def users(self, key: ResourceKey) -> frozenset[ResourceKey]:
        return self.by_target.get(key, frozenset())

    def changed(self, before: Resource | None, after: Resource | None) -> Referrers:
        """The index once `before` (None: absent) has become `after` (None: deleted)."""
        either = after or before
        if either is None:
            return self
        source = either.key
        old = {edge.target for edge in references(before)} if before else set()
        new = {edge.target for edge in references(after)} if after else set()
        if old == new:
            return self
        by_target = self.by_target.copy()
        for target in old - new:
            remaining = by_target.get(target, frozenset()) - {source}
            if remaining:
                by_target[target] = remaining
            else:
                by_target.pop(target, None)
        for target in new - old:
            by_target[target] = by_target.get(target, frozenset()) | {source}
        return Referrers(by_target)
