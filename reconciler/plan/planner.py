"""The one planner: desired state + live state -> a `Plan` and what the rules found.

Every write is planned here, wherever it comes from: `meshctl plan`/`apply` and rollback
(the whole mesh), the watch loop's sync and the library's and API's single-object writes
(a few keys). One set of rules judges them all: the references and HITL roles what is left
makes, deletion of what is in use, the orchestrator's protection, breaking changes (refused
with `deny_breaking`), and the order changes are applied in.

The scope decides only how much is looked at. The whole mesh builds the full graph. A few
keys, when every other resource is known to be in sync, look at the references those keys
make and the references into them (`graph.Referrers`), so a one-object write costs what
that object costs, not what the mesh does. A property test holds the two equal.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler import access, graph, validate
from reconciler.errors import Diagnostic, sort_key
from reconciler.model import entrydiff
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.plan import breaking, compute
from reconciler.plan.model import AccessChange, Action, Change, Location, Plan
from reconciler.validate import access_rules, integration, mesh, usage


@dataclass(frozen=True, slots=True)
class Scope:
    """Which resources a plan covers: every one (`keys` None), or `keys` alone when every
    other resource is known to be in sync, with `referrers` indexing the live state."""

    keys: frozenset[ResourceKey] | None = None
    referrers: graph.UserIndex | None = None

    @classmethod
    def of(cls, keys: Iterable[ResourceKey], referrers: graph.UserIndex) -> Scope:
        return cls(frozenset(keys), referrers)


WHOLE_MESH = Scope()


@dataclass(slots=True)
class Planned:
    """A plan (None when a rule's error forbids one) with every finding, sorted."""

    plan: Plan | None
    diagnostics: list[Diagnostic]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def make(*, desired: MeshState, live: MeshState, live_fingerprint: str,
         scope: Scope = WHOLE_MESH, prune: bool = True, deny_breaking: bool = False,
         deny_access_widening: bool = False, meta: Mapping[str, Any] | None = None,
         kept: Collection[Kind] | None = None,
         rules_by_subject: Mapping[str, access.RulesBySubject] | None = None) -> Planned:
    """The plan that brings the scope's resources to `desired`, judged by every rule.
    `kept`: the kinds whose registry exists live (when the caller knows: a plan that creates
    the integration fabric's first file while another stays missing is warned of).

    What is left after it is `desired` plus, without `prune`, the live resources `desired`
    does not declare (a reference to one of those is valid). The rules run over that state;
    a finding about a live-only resource is not the manifests' to fix and is left out.

    Access: the plan lists what it changes of what agents may effectively do (asked for
    and granted); with `deny_access_widening` a change that grants more is refused.
    `rules_by_subject`: where `desired`'s large access policies' rules are found by
    subject (`engine.plan_scope`)."""
    started = time.perf_counter()
    governs = kept is not None and Kind.GOVERNANCE_POLICY in kept
    before = access.Governance.of(live, governs or None)
    if scope.keys is None:
        remaining = compute.remaining_state(desired, live, prune=prune)
        remaining_graph = graph.build(remaining)
        after = access.Governance.of(remaining, governs or None)
        declared = {str(resource.key) for resource in desired}
        problems = [d for d in validate.check_mesh(remaining, remaining_graph, live,
                                                   governance=after)
                    if d.resource is None or d.file is None or d.resource in declared]
    else:
        assert scope.referrers is not None, "a plan of some keys needs the live referrers"
        pending = sorted(scope.keys, key=graph.node_order)
        remaining = desired if prune else _with_live_only(desired, live, pending)
        # (a live-only policy is not one of `desired`'s, so not one `rules_by_subject` has)
        after = access.Governance.of(remaining, governs or None, rules_by_subject)
        problems = _rules_at(pending, remaining, live, scope.referrers) + access_rules.check(
            remaining, after, access_rules.focus_of(pending, remaining, live, before, after,
                                                    scope.referrers))
    timings = {"validate": time.perf_counter() - started}
    if any(d.is_error for d in problems):
        return Planned(None, sorted(problems, key=sort_key), timings)
    started = time.perf_counter()
    if scope.keys is None:
        changes = _whole_mesh_changes(desired, live, remaining, remaining_graph, prune)
    else:
        assert scope.referrers is not None
        changes = _changes_at(pending, remaining, live, scope.referrers)
    granted = _access_changes(changes, live, remaining, before, after)
    plan = Plan(live_fingerprint, tuple(changes), prune, meta=dict(meta or {}),
                access_changes=tuple(granted))
    plan, found = breaking.assess(plan, remaining, live, deny=deny_breaking)
    if deny_access_widening:
        plan = _refuse_widening(plan)
    in_sync = {change.key for change in plan.changes if change.action is Action.NOOP}
    # Live entries the runtime skips (L007): a noop's live entry means what its desired one
    # does, which the rules passed, so only the others are looked at.
    looked_at = live if scope.keys is None else (
        resource for change in plan.changes if (resource := live.get(change.key)) is not None)
    skipped = validate.check_live(r for r in looked_at if r.key not in in_sync)
    if kept is not None:  # which registries are there: known to callers holding the files
        created = [resource for change in plan.changes if change.action is Action.CREATE
                   and (resource := remaining.get(change.key)) is not None]
        skipped += integration.fabric_files_missing(created, remaining, kept)
    diagnostics = sorted(problems + found + skipped, key=sort_key)
    plan = dataclasses.replace(plan, warnings=tuple(d for d in diagnostics if not d.is_error))
    timings["diff"] = time.perf_counter() - started
    return Planned(plan, diagnostics, timings)


def _whole_mesh_changes(desired: MeshState, live: MeshState, remaining: MeshState,
                        remaining_graph: graph.Graph, prune: bool) -> list[Change]:
    """Every resource paired by key (gitops-engine's reconcile) and compared, in order."""
    by_key: dict[ResourceKey, Change] = {}
    for resource in desired:
        before = live.get(resource.key)
        source = Location(*resource.where(None))
        if before is None:
            by_key[resource.key] = Change(resource.key, Action.CREATE, None, resource.entry,
                                          source=source)
            continue
        fields = entrydiff.field_changes(resource.kind, before.entry, resource.entry)
        if not fields:
            by_key[resource.key] = Change(resource.key, Action.NOOP, source=source)
            continue
        impact = tuple(remaining_graph.dependents(resource.key, transitive=True))
        by_key[resource.key] = Change(resource.key, Action.UPDATE, before.entry, resource.entry,
                                      tuple(fields), source, impact)
    unmanaged = compute.unmanaged_kinds(desired)
    live_only = [resource for resource in live if resource.key not in desired
                 and resource.kind not in unmanaged] if prune else []
    live_graph = graph.build(live) if live_only else remaining_graph
    deletes: dict[ResourceKey, Change] = {}
    for resource in live_only:
        refusal = usage.deletion_refusal(resource.key, remaining, remaining_graph)
        deletes[resource.key] = _delete(resource.key, live, remaining, refusal,
                                        tuple(live_graph.dependents(resource.key,
                                                                    transitive=True)))
    # Creates and updates: what others refer to first; deletes: what refers to others first.
    ordered = [by_key[key] for key in remaining_graph.order() if key in by_key]
    if deletes:
        ordered += [deletes[key] for key in reversed(live_graph.order()) if key in deletes]
    return ordered


def _rules_at(pending: list[ResourceKey], remaining: MeshState, live: MeshState,
              referrers: graph.UserIndex) -> list[Diagnostic]:
    """The mesh-wide rules, over the references the pending resources make and the content
    references into them: the findings a whole-mesh check would make at those keys."""
    problems: list[Diagnostic] = []
    for key in pending:
        resource = remaining.get(key)
        if resource is None:
            continue  # a delete: judged by the usage rules in `_changes_at`
        edges_out = graph.references(resource)
        present = [key, *(edge.target for edge in edges_out if edge.target in remaining)]
        problems += [d for d in validate.check_graph(remaining,
                                                     graph.Graph(present, edges_out), live)
                     if d.resource == str(key)]
        # What the change makes of the resources whose content names it (a workflow's HITL
        # roles in a policy): warnings too, as the whole-mesh plan finds them.
        problems += [d for d in validate.check_graph(remaining,
                                                     referrers.content_users(key, remaining))
                     if d.resource != str(key)]
    return problems + mesh.check_orchestrator(remaining, live)


def _access_changes(changes: list[Change], live: MeshState, remaining: MeshState,
                    before: access.Governance, after: access.Governance
                    ) -> list[AccessChange]:
    """What the plan changes of effective access, each with the rule that decides now."""
    agents = [change.key.name for change in changes
              if change.key.kind is Kind.AGENT and change.action.is_change]
    if not any(change.key.kind is Kind.GOVERNANCE_POLICY and change.action.is_change
               for change in changes) and before.governed == after.governed:
        before = after  # no policy changes: only the changed agents' asks can
    found = []
    for granted in access.changes(live, remaining, before, after, agents):
        file, line = access.rule_location(granted.now, remaining)
        culprit = ResourceKey(Kind.AGENT, granted.subject)
        if granted.now.allowed != granted.allowed_before:
            culprit = ResourceKey(Kind.GOVERNANCE_POLICY, granted.verb.policy)
        found.append(AccessChange(
            granted.subject, granted.verb.value, granted.object, granted.widens,
            granted.asked_now, granted.now.allowed, granted.reason(),
            Location(file, line) if file is not None else None, culprit))
    return found


def _refuse_widening(plan: Plan) -> Plan:
    """`--deny-access-widening`: each change that grants more access is refused."""
    widened: dict[ResourceKey, list[AccessChange]] = {}
    changed = [change.key for change in plan.changes if change.action.is_change]
    for granted in plan.access_changes:
        if granted.widens:
            blamed = [key for key in (granted.cause, ResourceKey(Kind.AGENT, granted.subject),
                                      ResourceKey(Kind.GOVERNANCE_POLICY,
                                                  access.Verb(granted.verb).policy))
                      if key in changed] or changed[:1]
            if blamed:
                widened.setdefault(blamed[0], []).append(granted)
    if not widened:
        return plan
    updated = []
    for change in plan.changes:
        given = widened.get(change.key)
        if given and change.refused is None and change.action.is_change:
            more = f" (and {len(given) - 1} more)" if len(given) > 1 else ""
            change = dataclasses.replace(
                change, refused="widens access, refused by --deny-access-widening: "
                f"{given[0].sentence()}{more}")
        updated.append(change)
    return dataclasses.replace(plan, changes=tuple(updated))


def _changes_at(pending: list[ResourceKey], remaining: MeshState, live: MeshState,
                referrers: graph.UserIndex) -> list[Change]:
    changes: list[Change] = []
    deletes: list[Change] = []
    # An update's impact: what will refer to it (as a whole-mesh plan reads the remaining
    # graph); a delete's: what refers to it now.
    after = graph.Adjusted(referrers, pending, live, remaining)
    for key in pending:
        resource = remaining.get(key)
        before = live.get(key)
        if resource is None:
            if before is not None:
                edges = referrers.edges_to(key, remaining, pending)
                refusal = usage.deletion_refusal(key, remaining, edges)
                deletes.append(_delete(key, live, remaining, refusal,
                                       referrers.dependents(key)))
            continue
        source = Location(*resource.where(None))
        if before is None:
            changes.append(Change(key, Action.CREATE, None, resource.entry, source=source))
            continue
        fields = entrydiff.field_changes(key.kind, before.entry, resource.entry)
        if fields:
            changes.append(Change(key, Action.UPDATE, before.entry, resource.entry,
                                  tuple(fields), source, after.dependents(key)))
    return _dependency_order(changes, remaining) + list(
        reversed(_dependency_order(deletes, live)))


def _delete(key: ResourceKey, live: MeshState, remaining: MeshState,
            refusal: usage.Refusal | None, impact: tuple[ResourceKey, ...]) -> Change:
    before = live.get(key)
    assert before is not None
    users = tuple(compute.user_at(edge, remaining) for edge in refusal.users) if refusal else ()
    return Change(key, Action.DELETE, before.entry, None, source=Location(*before.where(None)),
                  impact=impact, refused=refusal.reason if refusal else None, users=users)


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
    """`changes` in the order a whole-mesh plan lists them: by wave (how deep what a
    resource refers to goes, `Graph.order`), then kind and name. A wave depends only on
    what a resource refers to, all the way down, so the graph of that part of `state`
    gives the whole mesh's waves (through resources that do not change, too)."""
    if len(changes) < 2:
        return changes
    nodes: dict[ResourceKey, None] = {}
    edges: list[graph.Reference] = []
    pending = [change.key for change in changes]
    while pending:
        key = pending.pop()
        if key in nodes or key not in state:
            continue
        nodes[key] = None
        resource = state.get(key)
        assert resource is not None
        for edge in graph.references(resource):
            edges.append(edge)
            pending.append(edge.target)
    by_key = {change.key: change for change in changes}
    ordered = [by_key[key] for key in graph.Graph(list(nodes), edges).order() if key in by_key]
    return ordered + [change for change in changes if change.key not in nodes]
