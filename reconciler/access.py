"""Effective access: what the AgentMesh runtime's governance lets an agent do.

The one access model of meshctl. The library's `is_agent_invocation_allowed` and
`is_tool_access_allowed`, the A rules, the plan's access changes, `meshctl access` and the
REST and panel views all ask `Governance.decide`, which walks the rules as upstream's
`RegistryManager` does:

- no governance document loaded: allowed;
- else the `rules` of the verb's policy, in order; a rule whose `agent_id` is the subject
  denies when its denied list names the object, allows when its allowed list does, and
  otherwise the walk goes on; no rule decided: denied. Names compare literally (`"*"` is a
  name, not a wildcard), and a list that is a string matches substrings, as Python's `in`
  does for the runtime.

What a rule the runtime cannot read does (a rule that is not a mapping, a list that is
`null` or a number) is a crash of the runtime's check: `Basis.BROKEN`, a denial here.

An agent *asks* for what its entry lists (`allowed_tools`; the orchestrator's
`allowed_agents`: the runtime offers it only those) and *gets* what governance decides.
Effective access is both.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from reconciler.errors import did_you_mean
from reconciler.model import kinds
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.store import LiveState


class Verb(enum.StrEnum):
    INVOKE = "invoke"
    USE = "use"

    @property
    def policy(self) -> str:
        return "agent_invocation_access" if self is Verb.INVOKE else "agent_tool_access"

    @property
    def allowed_list(self) -> str:
        return "allowed_agents" if self is Verb.INVOKE else "allowed_tools"

    @property
    def denied_list(self) -> str:
        return "denied_agents" if self is Verb.INVOKE else "denied_tools"

    @property
    def asks(self) -> str:
        """The agent's own field that lists what it asks for."""
        return self.allowed_list

    @property
    def object_kind(self) -> Kind:
        return Kind.AGENT if self is Verb.INVOKE else Kind.TOOL


POLICIES = frozenset(verb.policy for verb in Verb)
MODEL_USAGE = "model_usage"


class Basis(enum.StrEnum):
    """Why a decision came out as it did."""

    NO_GOVERNANCE = "no-governance"  # allowed: no governance document is loaded
    ALLOWED = "allowed"              # a rule's allowed list names the object
    DENIED = "denied"                # a rule's denied list names the object
    DEFAULT = "default"              # no rule decided: denied by default
    BROKEN = "broken"                # the walk reaches a rule the runtime cannot read


@dataclass(frozen=True, slots=True)
class RuleAt:
    """A rule of an access policy: its index in `rules`, and the list that decided."""

    policy: str
    index: int
    list_name: str | None = None  # allowed_tools, denied_agents, ... (None: the rule itself)
    position: int | None = None   # the object's index in that list, when it is a list

    @property
    def path(self) -> str:
        path = f"rules[{self.index}]"
        if self.list_name is not None:
            path += f".{self.list_name}"
            if self.position is not None:
                path += f"[{self.position}]"
        return path


@dataclass(frozen=True, slots=True)
class Decision:
    subject: str
    verb: Verb
    object: str
    allowed: bool
    basis: Basis
    rule: RuleAt | None = None

    def reason(self) -> str:
        """Why, in a sentence's second half: "agent_tool_access rules[2].denied_tools[0]
        denies it"."""
        if self.basis is Basis.NO_GOVERNANCE:
            return "no governance is loaded, so the runtime allows everything"
        if self.basis is Basis.DEFAULT:
            return (f"no rule of {self.verb.policy} for '{self.subject}' names "
                    f"'{self.object}', and the runtime denies by default")
        assert self.rule is not None
        if self.basis is Basis.BROKEN:
            return (f"{self.verb.policy} {self.rule.path} is not a rule the runtime can "
                    "read: its check fails")
        verb = "allows" if self.allowed else "denies"
        return f"{self.verb.policy} {self.rule.path} {verb} it"


@dataclass(frozen=True, slots=True)
class _Rule:
    """One readable rule, its lists ready for membership tests."""

    index: int
    agent_id: Any
    allowed: Container[Any] | None  # None: a value `in` cannot test (the runtime fails)
    denied: Container[Any] | None
    raw_allowed: Any
    raw_denied: Any


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """A rule that is not a mapping: the runtime's walk fails when it reaches one."""

    index: int


def _container(value: Any) -> Container[Any] | None:
    """What `x in value` means to the runtime, ready for many tests (a list: each name's
    first index, so a decision names its place without searching the list again)."""
    if isinstance(value, list):
        return _positions(value)
    if isinstance(value, dict):
        return frozenset(value)
    if isinstance(value, str):
        return value  # substring matching, as the runtime's `in` does
    return None


# A policy may hold 100,000 rules; validation and the plan after it compile the same rules
# list (one Resource, shared through the parse cache) for the old and the new state. The
# last few lists' indexes are kept, by the very list (held here, so its id is not reused;
# resources are never changed in place).
_SUBJECT_INDEXES: dict[int, tuple[list[Any], dict[str, list[int]] | None]] = {}
_INDEXES_KEPT = 8
_INDEX_LOCK = threading.Lock()


def _subject_index(rules: list[Any]) -> dict[str, list[int]] | None:
    """Each subject's rule positions; None when a rule is not a mapping (then the runtime
    walks them all). Read-only once made."""
    kept = _SUBJECT_INDEXES.get(id(rules))
    if kept is not None and kept[0] is rules:
        return kept[1]
    index: dict[str, list[int]] | None = None
    if all(isinstance(rule, dict) for rule in rules):
        index = {}
        for position, rule in enumerate(rules):
            subject = rule.get("agent_id")
            if isinstance(subject, str):
                index.setdefault(subject, []).append(position)
    if len(rules) > 1000:  # worth keeping; small ones cost less than the lookup
        with _INDEX_LOCK:  # the library's readers run in many threads
            if len(_SUBJECT_INDEXES) >= _INDEXES_KEPT:
                del _SUBJECT_INDEXES[next(iter(_SUBJECT_INDEXES))]
            _SUBJECT_INDEXES[id(rules)] = (rules, index)
    return index


# The orchestrator's rule may allow 10,000 agents; each plan compiles it anew (a Governance
# of its own), so the positions of the last few long lists are kept, by the very list, as
# the subject indexes are.
_POSITIONS: dict[int, tuple[list[Any], dict[str, int]]] = {}
_POSITIONS_FROM = 1000


def _positions(names: list[Any]) -> dict[str, int]:
    """Each name's first index in `names`. Read-only once made."""
    kept = _POSITIONS.get(id(names))
    if kept is not None and kept[0] is names:
        return kept[1]
    positions: dict[str, int] = {}
    for index, item in enumerate(names):
        if isinstance(item, str):
            positions.setdefault(item, index)
    if len(names) >= _POSITIONS_FROM:
        with _INDEX_LOCK:
            if len(_POSITIONS) >= _INDEXES_KEPT:
                del _POSITIONS[next(iter(_POSITIONS))]
            _POSITIONS[id(names)] = (names, positions)
    return positions


# A policy with this many rules is kept by subject in a validation record (`SubjectRows`):
# a revalidation that asks about ten agents reads their rules, not 100,000.
ROWS_FROM = 1000


@dataclass(frozen=True, slots=True)
class SubjectRows:
    """A large policy's rules grouped by subject: each subject's (index, rule) pairs in
    order (`count`: every rule). Only for rules that are all mappings (`_subject_index`)."""

    count: int
    by_subject: dict[str, list[tuple[int, Any]]]


def subject_rows(body: Any) -> SubjectRows | None:
    """`body`'s rules by subject when it is a policy of `ROWS_FROM` rules or more, every one
    a mapping; else None (it is read whole: small, or the runtime's walk may fail)."""
    raw = body.get("rules", []) if isinstance(body, Mapping) else None
    if not isinstance(raw, list) or len(raw) < ROWS_FROM:
        return None
    index = _subject_index(raw)
    if index is None:
        return None
    return SubjectRows(len(raw), {subject: [(position, raw[position]) for position in found]
                                  for subject, found in index.items()})


class RulesBySubject(Protocol):
    """Where a policy's rules are found by subject, without reading them all (a validation
    record's rows of `SubjectRows`)."""

    def rules_of(self, subject: str) -> list[tuple[int, Any]]:
        """The (index, rule) pairs of `subject`'s rules, in order."""
        ...


class _Policy:
    """A verb's rules, indexed by subject (when every rule is a mapping)."""

    def __init__(self, verb: Verb, body: Any, present: bool = True,
                 rows: RulesBySubject | None = None) -> None:
        """`body`: the policy (`present` False: there is none, and so no rules), or a
        function giving it, read only when every rule is needed, when `rows` finds a
        subject's rules."""
        self.verb = verb
        self._rows = rows
        self._compiled: dict[int, _Rule | _Unreadable] = {}
        self._body = body
        self._raw: list[Any] | None = None
        self._by_subject: dict[str, list[int]] | None = None
        if rows is not None:  # a list of mappings (see `subject_rows`)
            self.fails_outright = False
            return
        if not present:
            raw: Any = []
        elif isinstance(body, Mapping):
            raw = body.get("rules", [])
        else:
            raw = None  # the runtime's `policy.get("rules")` fails at once
        self.fails_outright = not isinstance(raw, (list, dict, str)) or (
            not isinstance(raw, list) and bool(raw))  # `for rule in rules` fails at once
        # Rules are compiled when a subject's are first looked at: a 100,000-rule policy
        # asked about ten agents costs those agents' rules, plus one pass for the index.
        self._raw = raw if isinstance(raw, list) else []
        self._by_subject = _subject_index(self._raw)

    def _rules(self) -> list[Any]:
        if self._raw is None:  # found by subject so far: now read whole
            body = self._body() if callable(self._body) else self._body
            raw = body.get("rules", []) if isinstance(body, Mapping) else []
            self._raw = raw if isinstance(raw, list) else []
        return self._raw

    def _rule(self, index: int, rule: Any = None) -> _Rule | _Unreadable:
        found = self._compiled.get(index)
        if found is None:
            if rule is None:
                rule = self._rules()[index]
            if not isinstance(rule, dict):
                found = _Unreadable(index)
            else:
                allowed = rule.get(self.verb.allowed_list, [])
                denied = rule.get(self.verb.denied_list, [])
                found = _Rule(index, rule.get("agent_id"), _container(allowed),
                              _container(denied), allowed, denied)
            self._compiled[index] = found
        return found

    @property
    def indexed(self) -> bool:
        """Whether every rule is a mapping (then a subject's rules are found by index)."""
        return self._rows is not None or self._by_subject is not None

    def _of_subject(self, subject: str) -> list[_Rule]:
        if self._rows is not None:
            return [cast(_Rule, self._rule(index, rule))
                    for index, rule in self._rows.rules_of(subject)]
        assert self._by_subject is not None
        return [cast(_Rule, self._rule(index)) for index in self._by_subject.get(subject, ())]

    @property
    def walk(self) -> list[_Rule | _Unreadable]:
        """Every rule, in the order the runtime walks them."""
        return [self._rule(index) for index in range(len(self._rules()))]

    def rules_of(self, subject: str) -> list[_Rule | _Unreadable]:
        """The rules the runtime's walk for `subject` looks at, in order."""
        if self.indexed:
            return list(self._of_subject(subject))
        return [rule for rule in self.walk
                if not isinstance(rule, _Rule) or rule.agent_id == subject]

    def decide(self, subject: str, target: str) -> Decision:
        verb = self.verb
        if self.fails_outright:
            return Decision(subject, verb, target, False, Basis.BROKEN,
                            RuleAt(verb.policy, 0))
        rules: Iterable[_Rule | _Unreadable] = (
            self._of_subject(subject) if self.indexed else self.walk)
        for rule in rules:
            if isinstance(rule, _Unreadable):
                return Decision(subject, verb, target, False, Basis.BROKEN,
                                RuleAt(verb.policy, rule.index))
            if rule.agent_id != subject:
                continue
            for allows, found, name in ((False, rule.denied, verb.denied_list),
                                        (True, rule.allowed, verb.allowed_list)):
                if found is None:
                    return Decision(subject, verb, target, False, Basis.BROKEN,
                                    RuleAt(verb.policy, rule.index, name))
                if target in found:
                    position = found.get(target) if isinstance(found, dict) else None
                    return Decision(subject, verb, target, allows,
                                    Basis.ALLOWED if allows else Basis.DENIED,
                                    RuleAt(verb.policy, rule.index, name, position))
        return Decision(subject, verb, target, False, Basis.DEFAULT)

    def allows(self, subject: str, target: str) -> bool:
        """`decide(...).allowed`, without building the decision: the rules ask this of
        every name a mesh asks for, and explain only the denials."""
        if not self.indexed or self.fails_outright:
            return self.decide(subject, target).allowed
        for rule in self._of_subject(subject):
            denied, allowed = rule.denied, rule.allowed
            if denied is None or target in denied:
                return False
            if allowed is None:
                return False
            if target in allowed:
                return True
        return False

    def signature(self, subject: str) -> tuple[Any, ...]:
        """What decides `subject`'s access: equal signatures, equal decisions."""
        if self.fails_outright:
            return ("fails",)
        return tuple((rule.raw_denied, rule.raw_allowed) if isinstance(rule, _Rule)
                     else ("unreadable", rule.index) for rule in self.rules_of(subject))

    def placed_signature(self, subject: str) -> tuple[Any, ...]:
        """`signature` with each rule's position: equal ones, equal decisions, down to the
        rule and the place in it each names."""
        if self.fails_outright:
            return ("fails",)
        return tuple((rule.index, rule.raw_denied, rule.raw_allowed) if isinstance(rule, _Rule)
                     else ("unreadable", rule.index) for rule in self.rules_of(subject))

    def granted(self, subject: str) -> list[str]:
        """The names the allowed lists of `subject`'s rules hold, in order."""
        found: dict[str, None] = {}
        for rule in self.rules_of(subject):
            if isinstance(rule, _Rule) and isinstance(rule.raw_allowed, list):
                found.update((name, None) for name in rule.raw_allowed if isinstance(name, str))
        return list(found)

    def subjects(self) -> set[str]:
        return {rule.agent_id for rule in self.walk
                if isinstance(rule, _Rule) and isinstance(rule.agent_id, str)}


class Governance:
    """The access policies of a mesh, as the runtime reads them.

    `policies`: the governance document's policies by name (None: no governance document
    is loaded, and the runtime allows everything). Each verb's rules are indexed on first
    use, so asking about one agent costs what that agent's rules cost."""

    def __init__(self, policies: Mapping[str, Mapping[str, Any]] | None,
                 by_subject: Mapping[str, RulesBySubject] | None = None) -> None:
        """`by_subject`: where some policies' rules are found by subject (the policy is
        then read from `policies` only if every rule is needed)."""
        self.policies = policies
        self.by_subject = by_subject or {}
        self._compiled: dict[Verb, _Policy] = {}

    @classmethod
    def of(cls, state: MeshState, governed: bool | None = None,
           by_subject: Mapping[str, RulesBySubject] | None = None) -> Governance:
        """The governance of `state`; `governed` says whether a governance document exists
        (None: when `state` holds any policy; the store's header knows better);
        `by_subject`: where some of its policies' rules are found by subject."""
        resources = state.of_kind(Kind.GOVERNANCE_POLICY)
        if governed is None:
            governed = bool(resources)
        if not governed:
            return cls(None)
        return cls(_Entries(resources), by_subject)

    @classmethod
    def of_live(cls, live: LiveState) -> Governance:
        """The governance the runtime loads from live registries: governed when the
        document reads as its model (a string `version`; the policies are free-form)."""
        header = live.headers.get(Kind.GOVERNANCE_POLICY)
        return cls.of(live.state, header is not None and isinstance(header.get("version"), str))

    @property
    def governed(self) -> bool:
        return self.policies is not None

    def policy(self, verb: Verb) -> _Policy:
        found = self._compiled.get(verb)
        if found is None:
            policies = self.policies
            present = policies is not None and verb.policy in policies
            rows = self.by_subject.get(verb.policy) if present else None
            if rows is not None:
                assert policies is not None
                found = _Policy(verb, lambda: policies[verb.policy], True, rows)
            else:
                body = policies[verb.policy] if present and policies is not None else None
                found = _Policy(verb, body, present)
            self._compiled[verb] = found
        return found

    def decide(self, subject: str, verb: Verb, target: str) -> Decision:
        if self.policies is None:
            return Decision(subject, verb, target, True, Basis.NO_GOVERNANCE)
        return self.policy(verb).decide(subject, target)

    def allows(self, subject: str, verb: Verb, target: str) -> bool:
        return self.policies is None or self.policy(verb).allows(subject, target)

    def signature(self, subject: str, verb: Verb) -> tuple[Any, ...]:
        if self.policies is None:
            return ("ungoverned",)
        return self.policy(verb).signature(subject)

    def placed_signature(self, subject: str, verb: Verb) -> tuple[Any, ...]:
        if self.policies is None:
            return ("ungoverned",)
        return self.policy(verb).placed_signature(subject)

    def granted(self, subject: str, verb: Verb) -> list[str]:
        """What `subject`'s rules name in their allowed lists (with no governance,
        everything is allowed and nothing is named)."""
        return [] if self.policies is None else self.policy(verb).granted(subject)

    def subjects(self, verb: Verb) -> set[str]:
        """Every subject some rule of the verb's policy names."""
        return set() if self.policies is None else self.policy(verb).subjects()


class _Entries(Mapping[str, Mapping[str, Any]]):
    """A state's governance policies as the name -> body mapping `Governance` reads."""

    def __init__(self, resources: Mapping[str, Resource]) -> None:
        self.resources = resources

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        return self.resources[name].entry

    def __contains__(self, name: object) -> bool:
        return name in self.resources  # (without reading the policy)

    def __iter__(self) -> Any:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)


def _listed(agent: Resource | None, verb: Verb) -> list[tuple[int, str]]:
    """(index, name) of each name an agent's entry lists under `verb` (the orchestrator
    alone invokes agents, so only its `allowed_agents` ask)."""
    if agent is None or (verb is Verb.INVOKE and agent.name != ORCHESTRATOR_ID):
        return []
    values = agent.entry.get(verb.asks)
    if not isinstance(values, list):
        return []
    return [(index, value) for index, value in enumerate(values) if isinstance(value, str)]


def asked(agent: Resource | None, verb: Verb) -> list[str]:
    """What an agent asks for: the names its entry lists."""
    return [name for _, name in _listed(agent, verb)]


@dataclass(frozen=True, slots=True)
class Grant:
    """One thing an agent asks for, and what governance decides about it."""

    asked: str
    position: int  # its index in the agent's list
    decision: Decision


def grants(agent: Resource, verb: Verb, governance: Governance, *,
           denied_only: bool = False) -> list[Grant]:
    """Each name `agent` asks for under `verb`, decided (`denied_only`: those denied)."""
    name = agent.name
    return [Grant(value, index, governance.decide(name, verb, value))
            for index, value in _listed(agent, verb)
            if not (denied_only and governance.allows(name, verb, value))]


@dataclass(frozen=True, slots=True)
class Change:
    """A (subject, verb, object) whose access differs between two states: what governance
    decides about it, or what the subject effectively gets (asks for, and is granted)."""

    subject: str
    verb: Verb
    object: str
    now: Decision       # governance's decision after
    asked_now: bool
    asked_before: bool
    allowed_before: bool

    @property
    def effective(self) -> bool:
        return self.asked_now and self.now.allowed

    @property
    def widens(self) -> bool:
        """Granted what it was not, or effectively gets what it did not."""
        return (self.now.allowed and not self.allowed_before) or (
            self.effective and not (self.asked_before and self.allowed_before))

    def reason(self) -> str:
        """The deciding rule now, and what changed of the ask when the rule did not."""
        if self.now.allowed != self.allowed_before:
            return self.now.reason()
        if self.asked_now:
            return f"'{self.subject}' now lists it in {self.verb.asks}; {self.now.reason()}"
        still = "; governance still allows it" if self.now.allowed else ""
        return f"'{self.subject}' no longer lists it in {self.verb.asks}{still}"


def changes(before: MeshState, after: MeshState, gov_before: Governance,
            gov_after: Governance, agents: Iterable[str]) -> list[Change]:
    """The access changes between two states, looking at `agents` (those whose entries
    changed) and at every agent whose rules differ between the two governances, over what
    each asks for and what its rules grant. A decision changes only where an agent's asks
    or its rules did, so nothing else needs a look."""
    subjects = set(agents)
    if gov_before.governed != gov_after.governed:  # every decision may change
        subjects |= {*before.of_kind(Kind.AGENT), *after.of_kind(Kind.AGENT)}
    elif gov_before is not gov_after and gov_before.policies is not None and \
            gov_after.policies is not None:  # (one governance: no policy is read whole)
        for verb in Verb:
            if gov_before.policies.get(verb.policy) == gov_after.policies.get(verb.policy):
                continue
            for subject in gov_before.subjects(verb) | gov_after.subjects(verb):
                if gov_before.signature(subject, verb) != gov_after.signature(subject, verb):
                    subjects.add(subject)
    found: list[Change] = []
    for subject in sorted(subjects):
        key = ResourceKey(Kind.AGENT, subject)
        was, now = before.get(key), after.get(key)
        for verb in Verb:
            asked_before, asked_now = set(asked(was, verb)), set(asked(now, verb))
            named = dict.fromkeys([*sorted(asked_before | asked_now),
                                   *gov_before.granted(subject, verb),
                                   *gov_after.granted(subject, verb)])
            for target in named:
                allowed_before = gov_before.allows(subject, verb, target)
                decision = gov_after.decide(subject, verb, target)
                then = target in asked_before and allowed_before
                if decision.allowed != allowed_before or then != (
                        target in asked_now and decision.allowed):
                    found.append(Change(subject, verb, target, decision, target in asked_now,
                                        target in asked_before, allowed_before))
    return found


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the access matrix: what an agent asks for, what it gets."""

    subject: str
    verb: Verb
    object: str
    asked: bool
    decision: Decision

    @property
    def effective(self) -> bool:
        return self.asked and self.decision.allowed

    @property
    def differs(self) -> bool:
        """Asked for but denied (a call that fails at runtime), or granted but not asked."""
        return self.asked != self.decision.allowed


def matrix(state: MeshState, governance: Governance, subject: str | None = None
           ) -> list[Row]:
    """For each agent (or `subject` alone), each name it asks for and each name its rules
    grant, decided."""
    agents = state.of_kind(Kind.AGENT)
    rows: list[Row] = []
    for name in [subject] if subject is not None else list(agents):
        agent = agents.get(name)
        for verb in Verb:
            wanted = asked(agent, verb)
            listed = set(wanted)
            for target in dict.fromkeys(wanted + governance.granted(name, verb)):
                rows.append(Row(name, verb, target, target in listed,
                                governance.decide(name, verb, target)))
    return rows


def policy_location(state: MeshState, policy: str, path: str
                    ) -> tuple[str | None, int | None]:
    """Where a field of a governance policy is written (its manifest or registry file)."""
    resource = state.get(ResourceKey(Kind.GOVERNANCE_POLICY, policy))
    return resource.where(path) if resource is not None else (None, None)


def rule_location(decision: Decision, state: MeshState) -> tuple[str | None, int | None]:
    """Where the deciding rule is written."""
    if decision.rule is None:
        return None, None
    return policy_location(state, decision.rule.policy, decision.rule.path)


def written_at(state: MeshState, policy: str, path: str) -> str:
    """` (file:line)` of a policy's field, for a message; empty when not known."""
    file, line = policy_location(state, policy, path)
    if file is None:
        return ""
    return f" ({file}:{line})" if line is not None else f" ({file})"


def to_dict(decision: Decision, state: MeshState, asked: bool | None = None) -> dict[str, Any]:
    """A decision as JSON (the CLI's `-o json` and the REST API's answers), with where its
    rule is written and, given `asked`, whether the subject asks for it."""
    rule = None
    if decision.rule is not None:
        file, line = rule_location(decision, state)
        rule = {"policy": decision.rule.policy, "index": decision.rule.index,
                "path": decision.rule.path, "file": file, "line": line}
    found: dict[str, Any] = {
        "subject": decision.subject, "verb": decision.verb.value, "object": decision.object,
        "allowed": decision.allowed, "basis": decision.basis.value,
        "reason": decision.reason(), "rule": rule}
    if asked is not None:
        found["asked"] = asked
        found["effective"] = asked and decision.allowed
    return found


def unknown(state: MeshState, kind: Kind, name: str) -> str | None:
    """Why `name` cannot be asked about (no agent or tool of that name), or None."""
    names = state.of_kind(kind)
    if name in names:
        return None
    return f"no {kinds.info(kind).label} '{name}'; {did_you_mean(name, names)}".rstrip("; ")
