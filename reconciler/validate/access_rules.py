"""Access rules (A): "valid" means the runtime will let it run, not only that it loads it.

AgentMesh's governance denies by default, so an agent that lists a tool no rule grants it,
or an orchestrator that lists an agent it may not invoke, loads fine and then fails every
such call at runtime. These rules ask the one access model (`reconciler.access`) about
everything a mesh asks for. Severity follows what the runtime does (docs/validation.md):

- A001 error: the orchestrator lists an agent governance will not let it invoke;
- A002 error: a workflow runs (or requires) an agent the orchestrator may not invoke;
- A003 error: an agent lists a tool governance denies it;
- A004 warning: `"*"` in an access rule, which the runtime reads as a name, not "all";
- A005 warning: a workflow's `model_usage` rule does not allow the profile of an agent it
  runs (upstream does not enforce `model_usage` yet);
- A006 error: an access rule the runtime cannot read (its check fails).

A `Focus` says which askers to look at: everything, or (for a plan of a few keys) what
those keys can change, which `focus_of` works out from the reverse-reference index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from reconciler import access, graph
from reconciler.access import Basis, Decision, Governance, Verb
from reconciler.errors import Diagnostic
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.validate.rules import diagnostic

ORCHESTRATOR = ResourceKey(Kind.AGENT, ORCHESTRATOR_ID)
WILDCARD = "*"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Focus:
    """Which askers to check (None: all of that kind)."""

    agents: frozenset[str] | None = None      # A003: their allowed_tools
    orchestrator: bool = True                 # A001: its allowed_agents
    workflows: frozenset[str] | None = None   # A002, A005
    policies: frozenset[str] | None = None    # A004, A006


EVERYTHING = Focus()


def check(state: MeshState, governance: Governance, focus: Focus = EVERYTHING
          ) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    agents = state.of_kind(Kind.AGENT)
    policy_names = access.POLICIES | {access.MODEL_USAGE}
    for name in policy_names if focus.policies is None else focus.policies & policy_names:
        policy = state.get(ResourceKey(Kind.GOVERNANCE_POLICY, name))
        if policy is not None and name in access.POLICIES:
            found += _unreadable(policy) + _wildcards(policy, governance)
    orchestrator = agents.get(ORCHESTRATOR_ID)
    if focus.orchestrator and orchestrator is not None:
        found += _denied_asks(orchestrator, Verb.INVOKE, governance, state)
    names = agents if focus.agents is None else focus.agents
    for name in sorted(names):
        agent = agents.get(name)
        if agent is not None and agent.entry.get(Verb.USE.asks):  # most ask for none
            found += _denied_asks(agent, Verb.USE, governance, state)
    workflows = state.of_kind(Kind.WORKFLOW)
    chosen = workflows if focus.workflows is None else focus.workflows
    usage = _model_usage(state)
    for name in sorted(chosen):
        workflow = workflows.get(name)
        if workflow is None:
            continue
        if orchestrator is not None:
            found += _uninvocable_steps(workflow, orchestrator_lists(orchestrator),
                                        governance, state)
        if name in usage:
            found += _profiles_not_allowed(workflow, usage[name], state)
    return found


class _Remembered(Generic[T]):
    """One value, kept for the objects it was made from (compared by identity: held here,
    so no other object takes their id; resources are never changed in place) and for a
    key (compared by equality)."""

    def __init__(self) -> None:
        self._kept: tuple[tuple[object, ...], Any, T] | None = None

    def get(self, objects: tuple[object, ...], key: Any, make: Callable[[], T]) -> T:
        kept = self._kept  # (one read: another thread may replace it meanwhile)
        if kept is not None and len(kept[0]) == len(objects) and all(
                a is b for a, b in zip(kept[0], objects, strict=True)) and kept[1] == key:
            return kept[2]
        value = make()
        self._kept = (objects, key, value)
        return value


# The orchestrator's allowed_agents grows with the mesh (10,000 names at 100,000 agents),
# while its `Resource` is the same object in every snapshot until it changes: what is
# made of the whole list is kept for it, so a write of one agent does not pass over it.
_listed_by = _Remembered[frozenset[str]]()
_denied_to = _Remembered[list[access.Grant]]()


def orchestrator_lists(orchestrator: Resource) -> frozenset[str]:
    """The agents the orchestrator lists in allowed_agents, as a set."""
    return _listed_by.get((orchestrator,), None, lambda: frozenset(
        access.asked(orchestrator, Verb.INVOKE)))


def _denials(agent: Resource, verb: Verb, governance: Governance) -> list[access.Grant]:
    """What `agent` asks for under `verb` that governance denies (for the orchestrator,
    kept while neither its entry nor the rules that decide for it change)."""
    if agent.key != ORCHESTRATOR or verb is not Verb.INVOKE:
        return access.grants(agent, verb, governance, denied_only=True)
    return _denied_to.get((agent,), governance.placed_signature(ORCHESTRATOR_ID, verb),
                          lambda: access.grants(agent, verb, governance, denied_only=True))


def _denied_asks(agent: Resource, verb: Verb, governance: Governance,
                 state: MeshState) -> list[Diagnostic]:
    """A001 (the orchestrator's agents) and A003 (an agent's tools)."""
    found = []
    objects = state.of_kind(verb.object_kind)
    for grant in _denials(agent, verb, governance):
        if grant.asked not in objects:
            continue  # an unknown name is the reference rules' (R002, R003)
        path = f"{verb.asks}[{grant.position}]"
        if verb is Verb.INVOKE:
            message = (f"the orchestrator lists agent '{grant.asked}' in allowed_agents, but "
                       f"governance will not let it invoke it: {_why(grant.decision, state)}")
            code = "A001"
        else:
            message = (f"{agent.key.describe()} lists tool '{grant.asked}' in allowed_tools, "
                       f"but governance will not let it use it: {_why(grant.decision, state)}")
            code = "A003"
        found.append(diagnostic(code, agent, path, message, _fix(grant.decision)))
    return found


def _uninvocable_steps(workflow: Resource, listed: frozenset[str], governance: Governance,
                       state: MeshState) -> list[Diagnostic]:
    """A002: each step (and required executed agent) the orchestrator cannot run; `listed`:
    the agents the orchestrator lists."""
    agents = state.of_kind(Kind.AGENT)
    found = []
    for path, name in _agents_run(workflow.entry):
        if name not in agents or name == ORCHESTRATOR_ID:
            continue  # unknown: R003's; the orchestrator runs itself
        if name not in listed:
            why = ("the orchestrator does not list it in allowed_agents, so the runtime never "
                   "offers it")
            hint = f"add '{name}' to the allowed_agents of agent '{ORCHESTRATOR_ID}'" + (
                "" if governance.allows(ORCHESTRATOR_ID, Verb.INVOKE, name) else
                f" and to the allowed_agents of its {Verb.INVOKE.policy} rule")
        else:
            decision = governance.decide(ORCHESTRATOR_ID, Verb.INVOKE, name)
            if decision.allowed:
                continue
            why = _why(decision, state)
            hint = _fix(decision, f"stop running '{name}' in the workflow")
        found.append(diagnostic(
            "A002", workflow, path,
            f"{workflow.key.describe()} runs agent '{name}' ({path}), which the orchestrator "
            f"may not invoke: {why}; the workflow cannot run", hint))
    return found


def _agents_run(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, agent) of each step and each agent the completion criteria require."""
    found = []
    steps = entry.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and isinstance(step.get("agent_id"), str):
            found.append((f"steps[{index}].agent_id", step["agent_id"]))
    criteria = entry.get("completion_criteria")
    required = criteria.get("required_agents_executed") if isinstance(criteria, dict) else None
    for index, name in enumerate(required if isinstance(required, list) else []):
        if isinstance(name, str):
            found.append((f"completion_criteria.required_agents_executed[{index}]", name))
    return found


@dataclass(slots=True)
class _UsageRule:
    index: int
    allowed: list[str] = field(default_factory=list)


def _model_usage(state: MeshState) -> dict[str, _UsageRule]:
    """The model_usage rules by workflow (the first one for each, as a reader would)."""
    policy = state.get(ResourceKey(Kind.GOVERNANCE_POLICY, access.MODEL_USAGE))
    rules = policy.entry.get("rules") if policy is not None else None
    found: dict[str, _UsageRule] = {}
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and isinstance(rule.get("workflow_id"), str) and \
                isinstance(rule.get("allowed_profiles"), list):
            found.setdefault(rule["workflow_id"], _UsageRule(index, [
                p for p in rule["allowed_profiles"] if isinstance(p, str)]))
    return found


def _profiles_not_allowed(workflow: Resource, rule: _UsageRule,
                          state: MeshState) -> list[Diagnostic]:
    """A005: a step's agent uses a profile the workflow's model_usage rule does not allow."""
    agents = state.of_kind(Kind.AGENT)
    where = access.written_at(state, access.MODEL_USAGE, f"rules[{rule.index}]")
    found = []
    for path, name in _agents_run(workflow.entry):
        agent = agents.get(name)
        profile = agent.entry.get("model_profile_id") if agent is not None else None
        if not path.startswith("steps") or not isinstance(profile, str) or \
                profile in rule.allowed:
            continue
        found.append(diagnostic(
            "A005", workflow, path,
            f"{workflow.key.describe()} runs agent '{name}', whose model profile "
            f"'{profile}' its model_usage rule does not allow (model_usage "
            f"rules[{rule.index}]{where} allows {', '.join(rule.allowed) or 'none'}); "
            "upstream does not enforce model_usage at runtime yet, so the agent runs anyway",
            f"add '{profile}' to the rule's allowed_profiles, or give '{name}' an allowed "
            "profile"))
    return found


def _unreadable(policy: Resource) -> list[Diagnostic]:
    """A006: rules the runtime's access check fails on (or reads as substrings)."""
    verb = Verb.INVOKE if policy.name == Verb.INVOKE.policy else Verb.USE
    rules = policy.entry.get("rules", [])
    if not isinstance(rules, list):
        return [_a006(policy, "rules", f"its rules are {_kind_of(rules)}, not a list")]
    found = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            found.append(_a006(policy, f"rules[{index}]",
                               f"rules[{index}] is {_kind_of(rule)}, not a mapping"))
            continue
        for name in (verb.allowed_list, verb.denied_list):
            if name in rule and not isinstance(rule[name], list):
                effect = ("the runtime matches it as a substring"
                          if isinstance(rule[name], str) else "the runtime's check fails")
                found.append(_a006(policy, f"rules[{index}].{name}",
                                   f"rules[{index}].{name} is {_kind_of(rule[name])}, not a "
                                   f"list of names: {effect}"))
    return found


def _a006(policy: Resource, path: str, problem: str) -> Diagnostic:
    return diagnostic("A006", policy, path,
                      f"{policy.key.describe()}: {problem}; every access check that reaches "
                      "it goes wrong at runtime",
                      "write rules as a list of mappings with lists of names")


def _kind_of(value: Any) -> str:
    """How a JSON value's type reads in a sentence."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", dict: "a mapping", list: "a list", int: "a number",
            float: "a number"}.get(type(value), f"a {type(value).__name__}")


def _wildcards(policy: Resource, governance: Governance) -> list[Diagnostic]:
    """A004: "*" is a name to the runtime. In an allowed list it grants nothing; in a denied
    list it denies nothing more than the default, which misleads only where another rule
    of the same agent allows something."""
    verb = Verb.INVOKE if policy.name == Verb.INVOKE.policy else Verb.USE
    rules = policy.entry.get("rules")
    found = []
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        subject = rule.get("agent_id")
        for name, allows in ((verb.allowed_list, True), (verb.denied_list, False)):
            values = rule.get(name)
            if not isinstance(values, list) or WILDCARD not in values:
                continue
            if not allows and not _allows_anything(policy, verb, subject):
                continue
            thing = verb.object_kind.value.lower()
            effect = (f"grants nothing but a {thing} named '*'" if allows else
                      f"denies only a {thing} named '*', not what {subject}'s rules allow")
            found.append(diagnostic(
                "A004", policy, f"rules[{index}].{name}[{values.index(WILDCARD)}]",
                f"{policy.key.describe()} rules[{index}] ('{subject}') {name} holds '*': "
                f"the runtime compares names literally, so it {effect}",
                f"list the {thing}s by name" if allows else
                "name what to deny (what no rule allows is denied already)"))
    return found


def _allows_anything(policy: Resource, verb: Verb, subject: Any) -> bool:
    rules = policy.entry.get("rules")
    return any(isinstance(rule, dict) and rule.get("agent_id") == subject
               and isinstance(rule.get(verb.allowed_list), list)
               and bool(rule[verb.allowed_list])
               for rule in (rules if isinstance(rules, list) else []))


def _why(decision: Decision, state: MeshState) -> str:
    """The decision's reason, with the deciding rule's file:line when it has one."""
    where = "" if decision.rule is None else access.written_at(
        state, decision.verb.policy, decision.rule.path)
    return decision.reason() + where


def _fix(decision: Decision, instead: str | None = None) -> str:
    """What to do about a denial; `instead`: the other way out (default: stop asking)."""
    verb, subject, target = decision.verb, decision.subject, decision.object
    instead = instead or f"remove '{target}' from the agent's {verb.asks}"
    if decision.basis is Basis.DENIED and decision.rule is not None:
        return (f"move '{target}' from {decision.rule.list_name} to {verb.allowed_list} in "
                f"{verb.policy} rules[{decision.rule.index}] if '{subject}' should "
                f"{verb.value} it, or {instead}")
    if decision.basis is Basis.BROKEN:
        return f"fix the rules of {verb.policy} (see A006)"
    return (f"add '{target}' to {verb.allowed_list} in the {verb.policy} rule for "
            f"'{subject}' (add the rule if there is none), or {instead}")


def focus_of(pending: list[ResourceKey], remaining: MeshState, live: MeshState,
             before: Governance, after: Governance, referrers: graph.Users) -> Focus:
    """What a change of `pending` can make of the access rules: the askers to re-check.

    An agent re-checks its tools (a deleted one: its findings go); the orchestrator its
    agents and the workflows that run an agent it listed or stopped listing; an agent
    created or deleted, the orchestrator and the workflows that run it; a tool created or
    deleted, the agents that list it; a workflow itself; an access policy every agent
    whose rules it changed (and, for the orchestrator's, the workflows that run an agent
    whose decision changed); model_usage the workflows its rules name."""
    if before.governed != after.governed:
        return EVERYTHING
    agents: set[str] = set()
    workflows: set[str] = set()
    policies: set[str] = set()
    orchestrator = False

    def runs(names: set[str]) -> None:
        for name in names:
            workflows.update(user.name for user in referrers.users(
                ResourceKey(Kind.AGENT, name)) if user.kind is Kind.WORKFLOW)

    for key in pending:
        # A001, A002 and A003 name only agents and tools that exist (an unknown name is
        # R002's or R003's): one created or deleted changes them for whoever names it.
        appears_or_goes = (key in remaining) != (key in live)
        if key.kind is Kind.AGENT and appears_or_goes:
            orchestrator = True
            runs({key.name})
        if key.kind is Kind.TOOL and appears_or_goes:
            agents.update(user.name for user in referrers.users(key)
                          if user.kind is Kind.AGENT)
        if key.kind is Kind.AGENT and key not in remaining:
            agents.add(key.name)  # deleted: its own findings (A003) go with it
        elif key.kind is Kind.AGENT:
            agents.add(key.name)
            runs({key.name})  # its profile may meet a model_usage rule now
            if key == ORCHESTRATOR:
                orchestrator = True
                runs(set(access.asked(live.get(key), Verb.INVOKE)) ^ set(
                    access.asked(remaining.get(key), Verb.INVOKE)))
        elif key.kind is Kind.WORKFLOW:
            workflows.add(key.name)
        elif key.kind is Kind.GOVERNANCE_POLICY:
            policies.add(key.name)
            if key.name == Verb.USE.policy:
                agents.update(name for name in before.subjects(Verb.USE) | after.subjects(
                    Verb.USE) if before.signature(name, Verb.USE) != after.signature(
                        name, Verb.USE))
            elif key.name == Verb.INVOKE.policy and before.signature(
                    ORCHESTRATOR_ID, Verb.INVOKE) != after.signature(ORCHESTRATOR_ID,
                                                                     Verb.INVOKE):
                orchestrator = True
                runs({name for name in _named(Kind.AGENT, key, live, remaining)
                      if before.allows(ORCHESTRATOR_ID, Verb.INVOKE, name)
                      != after.allows(ORCHESTRATOR_ID, Verb.INVOKE, name)})
            elif key.name == access.MODEL_USAGE:
                workflows.update(_named(Kind.WORKFLOW, key, live, remaining))
    return Focus(frozenset(agents), orchestrator, frozenset(workflows), frozenset(policies))


def _named(kind: Kind, policy: ResourceKey, *states: MeshState) -> set[str]:
    """Every resource of `kind` the policy names in any of `states` (before and after)."""
    found: set[str] = set()
    for state in states:
        resource = state.get(policy)
        if resource is not None:
            found.update(edge.target.name for edge in graph.references(resource)
                         if edge.target.kind is kind)
    return found
