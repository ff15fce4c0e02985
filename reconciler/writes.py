"""A write of the library or the API (one object, or the policies of a governance document),
judged as a plan by the same rules as any plan, then committed by `engine.apply_plan`.

Called by `RegistryManager`; builds no graph of the whole mesh (the rules run over a partial
graph of the changed objects' references, and a reverse index for deletes), so a write at
10,000 agents costs what the file I/O costs.
"""

from __future__ import annotations

import contextlib
import enum
import math
from collections.abc import Callable
from typing import Any

import orjson

from reconciler import engine, graph, validate
from reconciler.errors import (
    AccessWidening,
    BreakingChange,
    ChangeRejected,
    Diagnostic,
    MeshctlError,
    ResourceInUse,
    ResourceNotFound,
    did_you_mean,
    sort_key,
)
from reconciler.manifests import loader
from reconciler.manifests.yamlparse import MAX_DEPTH
from reconciler.model import fields, kinds
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.plan.model import Action, Plan
from reconciler.store import LiveState, Revision, Store, default_info

# A live name of the key's kind that differs from the key's only by case, if any.
CaseTwin = Callable[[ResourceKey], "str | None"]


class Intent(enum.StrEnum):
    """What a single-object write means to do; each has its own precondition."""

    CREATE = "create"  # must not exist
    UPDATE = "update"  # must exist
    DELETE = "delete"  # must exist
    PUT = "put"  # either (a governance document replaces the policies it names)


def plan_changes(live: LiveState, referrers: graph.Referrers,
                 changes: dict[ResourceKey, tuple[dict[str, Any] | None, Intent]], *,
                 deny_breaking: bool = False, deny_access_widening: bool = False,
                 case_twin: CaseTwin | None = None) -> Plan:
    """A plan of a few objects, made by the one planner (`engine.plan_scope`, scoped to their
    keys: every rule of a full plan, over the references the changed objects make and the
    references into them), after the write's own precondition (exists, does
    not exist, ids agree) and the per-resource rules on each new entry. Breaking changes
    are refused with `deny_breaking`, as by `plan --deny-breaking`. Raises ChangeRejected,
    naming what to do, when a rule breaks. `case_twin` finds a live name that differs from
    a new one only by case (an index of folded names spares a look at every name)."""
    # Fields left out that have a default are written out, as for a manifest.
    changes = {key: (None if entry is None else fields.complete(key.kind, entry), intent)
               for key, (entry, intent) in changes.items()}
    after = live.state.copy()
    problems: list[Diagnostic] = []
    for key, (entry, intent) in changes.items():
        _precondition(live.state, key, entry, intent, case_twin)
        if entry is None:
            after.discard(key)
            continue
        resource = Resource(key, entry, Source(live.source_of(key)))
        after.add(resource)
        problems += [d for d in validate.check_resource(resource) if d.is_error]
    if problems:
        problems.sort(key=sort_key)
        raise ChangeRejected("; ".join(_sentence(d) for d in problems), problems)
    planned = engine.plan_scope(after, live, keys=changes, referrers=referrers,
                                deny_breaking=deny_breaking,
                                deny_access_widening=deny_access_widening)
    plan = planned.plan
    if plan is None:
        raise ChangeRejected("; ".join(_sentence(d) for d in planned.errors), planned.errors)
    refused = [change for change in plan.refusals if change.action is Action.DELETE]
    if refused:
        first = refused[0]
        if first.users:
            raise ResourceInUse(first.refused or "refused", resource=first.key.describe(),
                                used_by=[{"kind": user.key.kind.value, "name": user.key.name,
                                          "field": user.path} for user in first.users])
        raise ChangeRejected(first.refused or "refused")
    if plan.refusals:  # breaking changes or wider access, with deny_breaking/_access_widening
        breaking = [d for d in planned.diagnostics if d.code.startswith("B")]
        if breaking:
            raise BreakingChange("; ".join(_sentence(d) for d in breaking), breaking)
        raise AccessWidening("; ".join(change.refused or "" for change in plan.refusals))
    return plan


def _scan_for_case_twin(state: MeshState) -> CaseTwin:
    """A `CaseTwin` that looks at every name of the kind (what a caller without an index
    of folded names has: a plan of a few objects outside the library)."""
    def twin(key: ResourceKey) -> str | None:
        folded = loader.case_key(key)
        return next((name for name in state.of_kind(key.kind)
                     if loader.case_key(ResourceKey(key.kind, name)) == folded), None)
    return twin


def _precondition(state: MeshState, key: ResourceKey, entry: dict[str, Any] | None,
                  intent: Intent, case_twin: CaseTwin | None) -> None:
    info = kinds.info(key.kind)
    what = key.describe()
    exists = key in state
    if intent is Intent.CREATE and exists:
        raise ChangeRejected(f"{what[0].upper()}{what[1:]} already exists; update it instead")
    if not exists and entry is not None:
        other = (case_twin or _scan_for_case_twin(state))(key)
        if other is not None:
            raise ChangeRejected(f"{what[0].upper()}{what[1:]} differs only by case from "
                                 f"'{other}': on case-insensitive file systems their files "
                                 "would be the same; choose another id")
    if intent in (Intent.UPDATE, Intent.DELETE) and not exists:
        names = list(state.of_kind(key.kind))
        raise ResourceNotFound(f"{what[0].upper()}{what[1:]} not found; "
                               f"{did_you_mean(key.name, names)}{len(names)} {info.plural} "
                               "exist")
    if entry is not None:
        _storable(key, entry)
    declared = entry.get(info.id_field) if entry is not None and info.id_field else key.name
    if declared != key.name:
        raise ChangeRejected(f"{info.label.capitalize()} ID mismatch: '{key.name}' != "
                             f"'{declared}': the id named and the entry's {info.id_field} "
                             "must be the same (an id cannot be renamed: create the new one, "
                             "then delete the old)")


def _storable(key: ResourceKey, entry: dict[str, Any]) -> None:
    """The entry must be JSON the registries can hold (what the manifest reader refuses to
    read, a write through the library or the API must not bring in either)."""
    try:
        orjson.dumps(entry)
    except TypeError as error:  # orjson: lone surrogates, integers over 64 bits, ...
        raise ChangeRejected(f"{key.describe()} cannot be stored as JSON: {error}; use "
                             "valid UTF-8 text and integers within 64 bits") from error
    depth, finite = _shape(entry)
    if depth > MAX_DEPTH:
        raise ChangeRejected(f"{key.describe()} is nested deeper than {MAX_DEPTH} levels, "
                             "as no manifest may be; flatten it")
    if not finite:  # orjson would write NaN and Infinity as null
        raise ChangeRejected(f"{key.describe()} holds NaN or Infinity, which JSON cannot; "
                             "use a number or null")


def _shape(value: Any) -> tuple[int, bool]:
    """How deep the containers go, and whether every number is finite: one walk, a layer
    at a time (no recursion: the data is the caller's, of any depth)."""
    depth, finite, layer = 0, True, [value]
    while layer:
        below: list[Any] = []
        containers = False
        for node in layer:
            if isinstance(node, dict):
                below.extend(node.values())
                containers = True
            elif isinstance(node, list):
                below.extend(node)
                containers = True
            elif isinstance(node, float) and not math.isfinite(node):
                finite = False
        depth += containers
        layer = below
    return depth, finite


def _sentence(diagnostic: Diagnostic) -> str:
    return diagnostic.message + (f" ({diagnostic.hint})" if diagnostic.hint else "")


def commit_changes(store: Store, live: LiveState, referrers: graph.Referrers,
                   changes: dict[ResourceKey, tuple[dict[str, Any] | None, Intent]], *,
                   source: str, deny_breaking: bool = False,
                   deny_access_widening: bool = False,
                   case_twin: CaseTwin | None = None) -> tuple[Plan, Revision | None]:
    """`plan_changes`, then `apply_plan` against `live`'s fingerprint (StalePlan when the
    registries moved on: re-read and try again). A rejection is audited like a refusal."""
    try:
        plan = plan_changes(live, referrers, changes, deny_breaking=deny_breaking,
                            deny_access_widening=deny_access_widening, case_twin=case_twin)
    except ChangeRejected as error:
        who = default_info(source)
        with contextlib.suppress(MeshctlError):  # a read-only role: the rejection still says why
            store.audit({
                "source": source, "user": who.user, "host": who.host, "action": "change",
                "resources": [str(key) for key in changes], "result": "refused",
                "reason": str(error)})
        raise
    return plan, engine.apply_plan(plan, store, source=source, max_deletes=-1, known=live)
