"""Breaking changes in a plan: updates whose schemas break their callers (B001), and workflow
steps whose inputs no earlier step provides any more (B002).

Warnings by default, naming the agents and workflows that use the resource; with `deny`
(`--deny-breaking`) each such change is refused, so `apply` writes nothing. The judging of
one schema against another is `validate.compat`'s; this module applies it to a plan.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler import graph
from reconciler.errors import Diagnostic, Severity
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.plan.model import Action, Plan
from reconciler.validate import compat

MAX_NAMED = 10
HINT = ("keep the old contract working (new inputs optional, outputs kept), or publish the "
        "new contract as a new resource; --deny-breaking refuses such plans")


def assess(plan: Plan, remaining: MeshState, live: MeshState, *, deny: bool = False
           ) -> tuple[Plan, list[Diagnostic]]:
    """`plan` with each change's breaking reasons recorded (and, with `deny`, refused), and
    one warning per reason."""
    found: list[Diagnostic] = []
    reasons: dict[ResourceKey, list[str]] = {}
    workflows: set[ResourceKey] = set()
    for change in plan.changes:
        if change.action is Action.UPDATE and change.key.kind in (Kind.AGENT, Kind.TOOL):
            assert change.before is not None and change.after is not None
            breaks = compat.breaking_changes(change.key.kind, change.before, change.after)
            # (who calls it is looked for only when it breaks: the orchestrator, which may
            # name 10,000 agents, calls most of them)
            users = _callers(change.key, change.impact, remaining) if breaks else []
            for field, reason in breaks:
                reasons.setdefault(change.key, []).append(f"{field}: {reason}")
                found.append(_warning("B001", remaining, change.key, field,
                                      f"{change.key.describe()} {field}: {reason} "
                                      f"(breaking for its callers: {_named(users)})"))
        if change.action is Action.UPDATE and change.key.kind is Kind.AGENT:
            workflows.update(k for k in change.impact if k.kind is Kind.WORKFLOW)
        elif change.action is Action.UPDATE and change.key.kind is Kind.WORKFLOW:
            workflows.add(change.key)
    changed = {change.key for change in plan.changes if change.action.is_change}
    live.prefetch(workflows)  # a lazy store's entries, in one read
    for key in sorted(workflows):
        for step_id, prop, culprits in _new_gaps(key, remaining, live, changed):
            reason = (f"step '{step_id}' of {key.describe()} needs '{prop}', which no earlier "
                      "step's agent outputs any more")
            found.append(_warning("B002", remaining, key, "steps", reason))
            for culprit in culprits:
                reasons.setdefault(culprit, []).append(reason)
    if not reasons:
        return plan, found
    updated = []
    for change in plan.changes:
        given = tuple(reasons.get(change.key, ()))
        if given:
            refused = change.refused
            if deny and refused is None:
                refused = f"breaking change, refused by --deny-breaking: {given[0]}" + (
                    f" (and {len(given) - 1} more)" if len(given) > 1 else "")
            change = dataclasses.replace(change, breaking=given, refused=refused)
        updated.append(change)
    return dataclasses.replace(plan, changes=tuple(updated)), found


def _new_gaps(workflow: ResourceKey, remaining: MeshState, live: MeshState,
              changed: set[ResourceKey]) -> list[tuple[str, str, list[ResourceKey]]]:
    """The (step, input, changes to blame) a workflow lacks now and did not before."""
    now = remaining.get(workflow)
    before = live.get(workflow)
    if now is None or before is None:
        return []
    gaps_now = compat.step_inputs_unmet(now.entry, _agents(remaining))
    live.prefetch(_step_agents(before.entry))  # a lazy store's entries, in one read
    gaps_before = compat.step_inputs_unmet(before.entry, _agents(live))
    culprits = sorted(k for k in _step_agents(now.entry) | {workflow} if k in changed)
    return [(step, prop, culprits) for step, prop in sorted(gaps_now - gaps_before)]


def _step_agents(workflow: dict[str, Any]) -> set[ResourceKey]:
    return {ResourceKey(Kind.AGENT, str(step.get("agent_id")))
            for step in workflow.get("steps") or [] if isinstance(step, dict)}


def _callers(key: ResourceKey, impact: tuple[ResourceKey, ...],
             state: MeshState) -> list[ResourceKey]:
    """Who calls `key`: the agents that name it themselves (not those further up the
    chain, such as the orchestrator that may invoke one of them), and the workflows that
    run it, directly or through one of those agents."""
    direct = [k for k in impact if k.kind is Kind.AGENT and (resource := state.get(k))
              and any(edge.target == key for edge in graph.references(resource))]
    return direct + [k for k in impact if k.kind is Kind.WORKFLOW]


def _agents(state: MeshState) -> Any:
    agents = state.of_kind(Kind.AGENT)

    def entry(name: str) -> dict[str, Any] | None:
        found = agents.get(name)
        return found.entry if found is not None else None
    return entry


def _warning(code: str, state: MeshState, key: ResourceKey, field: str,
             message: str) -> Diagnostic:
    resource = state.get(key)
    file, line = resource.where(field) if resource is not None else (None, None)
    return Diagnostic(code, Severity.WARNING, message, file, line, str(key), field, HINT)


def _named(users: list[ResourceKey]) -> str:
    if not users:
        return "nothing uses it now"
    parts = []
    for kind in (Kind.AGENT, Kind.WORKFLOW):
        names = [k.name for k in users if k.kind is kind]
        if names:
            shown = ", ".join(names[:MAX_NAMED])
            more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
            parts.append(f"{kinds.info(kind).plural.replace('-', ' ')} {shown}{more}")
    return "; ".join(parts) or "nothing uses it now"
