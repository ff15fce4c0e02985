"""A plan is data: what applying the manifests would do to the live registries.

Computed by `plan.compute`, rendered by `plan.render`, saved and loaded by `plan.planfile`,
applied by the apply step (a later issue). Frozen records only; no behaviour beyond small
predicates. Fields that exist only to explain the plan to people (`impact`, `source`) never
change what applying it does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Diagnostic

# A change's fields are the one field diff's records (`model.entrydiff`), named here too.
from reconciler.model.entrydiff import FieldChange as FieldChange
from reconciler.model.entrydiff import FieldOp as FieldOp
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey

FORMAT_VERSION = 1


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "noop": " "}[self.value]

    @property
    def is_change(self) -> bool:
        return self is not Action.NOOP


@dataclass(frozen=True, slots=True)
class Location:
    """Where a resource (or one of its fields) is declared: a manifest or a registry file."""

    file: str | None
    line: int | None = None

    def __str__(self) -> str:
        if self.file is None:
            return "(unknown)"
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True, slots=True)
class User:
    """A resource that refers to another, with where that reference is written."""

    key: ResourceKey
    path: str
    location: Location


@dataclass(frozen=True, slots=True)
class Change:
    """The action for one resource. `before` is the live entry, `after` the desired one."""

    key: ResourceKey
    action: Action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: tuple[FieldChange, ...] = ()
    source: Location | None = None
    impact: tuple[ResourceKey, ...] = ()
    refused: str | None = None
    users: tuple[User, ...] = ()
    breaking: tuple[str, ...] = ()  # why the change breaks its callers (schemas, workflows)

    @property
    def is_refused(self) -> bool:
        return self.refused is not None


@dataclass(frozen=True, slots=True)
class AccessChange:
    """A change in what an agent may do at runtime: what governance grants it (`granted`,
    after the plan) or what it effectively gets (`asked` for and granted). `verb` is
    "invoke" or "use"; `widens` when it is granted or gets what it did not; `reason` the
    deciding rule, or the ask that changed; `rule` where that rule is written; `cause` the
    resource whose change brought it (the agent, or the access policy)."""

    subject: str
    verb: str
    object: str
    widens: bool
    asked: bool
    granted: bool
    reason: str
    rule: Location | None = None
    cause: ResourceKey | None = None

    @property
    def allowed(self) -> bool:
        """Effective after the plan: asked for and granted."""
        return self.asked and self.granted

    def sentence(self) -> str:
        """'orchestrator_agent may now invoke history_agent' (and, when the ask and the
        grant disagree, which)."""
        if self.widens:
            note = "" if self.asked else f" (granted; {self.subject} does not ask for it)"
            return f"{self.subject} may now {self.verb} {self.object}{note}"
        return f"{self.subject} may no longer {self.verb} {self.object}"


@dataclass(frozen=True, slots=True)
class Summary:
    create: int = 0
    update: int = 0
    delete: int = 0
    noop: int = 0
    refused: int = 0
    impacted: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.create or self.update or self.delete)


@dataclass(frozen=True, slots=True)
class Plan:
    """Every action, in a dependency-safe order: creates and updates with what others refer
    to first; then deletes, with what refers to others first."""

    live_fingerprint: str
    changes: tuple[Change, ...]
    prune: bool = True
    warnings: tuple[Diagnostic, ...] = ()
    format_version: int = FORMAT_VERSION
    meta: dict[str, Any] = field(default_factory=dict)
    access_changes: tuple[AccessChange, ...] = ()
    # Resources known to be noops without being looked at (a plan of what changed since
    # the manifests and the store were last in sync): counted as noops, not listed.
    unchanged: int = 0

    @property
    def widens_access(self) -> bool:
        return any(granted.widens for granted in self.access_changes)

    @property
    def summary(self) -> Summary:
        counts = {action: 0 for action in Action}
        impacted: set[ResourceKey] = set()
        refused = 0
        for change in self.changes:
            counts[change.action] += 1
            refused += change.is_refused
            impacted.update(change.impact)
        return Summary(counts[Action.CREATE], counts[Action.UPDATE], counts[Action.DELETE],
                       counts[Action.NOOP] + self.unchanged, refused, len(impacted))

    @property
    def refusals(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.is_refused)

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(change for change in self.changes if change.action.is_change)

    def impact_by_kind(self) -> dict[Kind, int]:
        impacted = {key for change in self.changes for key in change.impact}
        return {kind: sum(1 for key in impacted if key.kind is kind) for kind in Kind
                if any(key.kind is kind for key in impacted)}
