"""The engine: the one place that chains load -> validate -> plan -> apply (and rollback).

Every shell (CLI, API, panel, watch loop, library) calls these functions and nothing below
them, so a rule can never be skipped by one entry point; the library's and the API's writes
are planned by `writes` and committed here, by `apply_plan`.

Loading the manifests (parse cache, workers, sync record) is `loading`'s; the engine chains
it with the live read, the plan and the commit.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import graph, loading, validate
from reconciler import store as store_
from reconciler.errors import (
    Diagnostic,
    MeshctlError,
    PlanRefused,
    sort_key,
)
from reconciler.gcpause import gc_paused
from reconciler.loading import DesiredState, load_desired, read_manifest_file, record_in_sync
from reconciler.manifests import loader
from reconciler.model import fields, kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.plan import breaking, compute
from reconciler.plan.model import Action, Plan
from reconciler.store import LiveState, StoreLike

__all__ = ["DEFAULT_MAX_DELETES", "DesiredState", "PlanResult", "apply_plan", "git_commit_of",
           "load_desired", "load_live", "make_plan", "plan_from", "read_manifest_file",
           "record_in_sync", "rollback_plan", "validate_live"]

DEFAULT_MAX_DELETES = 50


@dataclass(slots=True)
class PlanResult:
    """A plan with what it was computed from. `errors` non-empty means there is no plan."""

    desired: DesiredState
    live: LiveState
    plan: Plan | None
    diagnostics: list[Diagnostic]
    timings: dict[str, float] = field(default_factory=dict)
    paths: tuple[str, ...] = ()  # the manifests it was planned from (none for a rollback)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def make_plan(paths: Sequence[str | os.PathLike[str]], registries: StoreLike, *,
              prune: bool = True, max_bytes: int = loader.DEFAULT_MAX_BYTES,
              use_cache: bool = True, jobs: int | None = None,
              lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT,
              deny_breaking: bool = False) -> PlanResult:
    """Manifests + live registries -> a plan, after validating what would remain live.

    The mesh-wide rules run over the state the plan leaves behind: the manifests, plus (with
    `prune=False`) the live resources no manifest declares, so a reference to a resource that
    stays live only because it is not pruned is valid. Unreadable registries or invalid
    manifests give no plan.
    """
    store = store_.open_store(registries, lock_timeout=lock_timeout)
    with gc_paused():
        desired, read = loading.load(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                              mesh_checks=False, registries=store.location,
                              read_live=store.snapshot)
    assert read is not None
    return plan_from(desired, read, registries=store.location, paths=paths, prune=prune,
                     deny_breaking=deny_breaking)


def plan_from(desired: DesiredState, live: LiveState, *, registries: str,
              paths: Sequence[str | os.PathLike[str]], prune: bool = True,
              deny_breaking: bool = False) -> PlanResult:
    """`make_plan` for manifests already read (`load_desired(..., mesh_checks=False)`, or a
    watch loop's state kept in memory) and live registries already read. Breaking schema
    changes are warnings, or refusals with `deny_breaking`."""
    timings = dict(desired.timings)
    timings.setdefault("validate", 0.0)
    started = time.perf_counter()
    remaining = compute.remaining_state(desired.state, live.state, prune=prune)
    remaining_graph = graph.build(remaining)
    # Findings about live-only resources (kept by --no-prune) are not the manifests' to fix.
    declared = {str(resource.key) for resource in desired.state}
    mesh = [d for d in validate.check_mesh(remaining, remaining_graph, live.state)
            if d.resource is None or d.file is None or d.resource in declared]
    diagnostics = sorted(live.diagnostics + desired.diagnostics + mesh, key=sort_key)
    timings["validate"] += time.perf_counter() - started
    if any(d.is_error for d in diagnostics):
        return PlanResult(desired, live, None, diagnostics, timings)
    given = tuple(str(p) for p in paths)
    started = time.perf_counter()
    plan = compute.compute_plan(desired=desired.state, live=live.state,
                                live_fingerprint=live.fingerprint, prune=prune,
                                remaining=remaining, remaining_graph=remaining_graph)
    plan, found = breaking.assess(plan, remaining, live.state, deny=deny_breaking)
    diagnostics = sorted(diagnostics + found + _unloadable_live(plan, live), key=sort_key)
    warnings = tuple(d for d in diagnostics if not d.is_error)
    meta = {"registries": str(registries), "manifests": [str(p) for p in paths],
            "git_commit": git_commit_of(paths)}
    plan = Plan(plan.live_fingerprint, plan.changes, plan.prune, warnings, meta=meta)
    timings["diff"] = time.perf_counter() - started
    if desired.records and not live.diagnostics:
        noops = {change.key for change in plan.changes if change.action is Action.NOOP}
        record_in_sync(desired, live.fingerprint, lambda key: key in noops)
    return PlanResult(desired, live, plan, diagnostics, timings, given)


def _unloadable_live(plan: Plan, live: LiveState) -> list[Diagnostic]:
    """The live entries the runtime skips (L007). A noop's live entry means what its
    manifest does, which the rules passed complete, so only the others are looked at: the
    check costs what the changes do, not what the mesh does."""
    in_sync = {change.key for change in plan.changes if change.action is Action.NOOP}
    return validate.check_live(r for r in live.state if r.key not in in_sync)


def apply_plan(plan: Plan, registries: StoreLike, *, source: str = "cli",
               max_deletes: int = DEFAULT_MAX_DELETES,
               lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT,
               note: str | None = None, planned: PlanResult | None = None,
               known: LiveState | None = None) -> store_.Revision | None:
    """Commit `plan` as one revision, or refuse before writing a byte: when it holds refusals,
    deletes more than `max_deletes` (-1: no limit), or the registries moved on since it was
    computed (stale: the error says what changed, and in which revision). None when the plan
    changes nothing. Every attempt is recorded in the audit log. `planned`, the result the
    plan came from, lets a successful commit record its manifests as in sync; its live state
    (or `known`, the state a plan was made from) spares the commit re-hashing files whose
    stat shows them unchanged since."""
    store = store_.open_store(registries, lock_timeout=lock_timeout)
    summary = plan.summary
    counts = {"create": summary.create, "update": summary.update, "delete": summary.delete}
    info = store_.default_info(source, git_commit=plan.meta.get("git_commit"),
                               summary=counts, note=note)
    base = {"source": source, "user": info.user, "host": info.host, "action": "apply",
            "summary": counts}
    if plan.refusals:
        reasons = "; ".join(change.refused or "" for change in plan.refusals)
        store.audit({**base, "result": "refused", "reason": reasons})
        raise PlanRefused(f"the plan holds {len(plan.refusals)} refusal(s); nothing was "
                          f"written: {reasons}")
    if 0 <= max_deletes < summary.delete:
        store.audit({**base, "result": "refused", "reason": "max-deletes"})
        raise PlanRefused(
            f"the plan deletes {summary.delete} resources, more than --max-deletes "
            f"{max_deletes} allows; nothing was written. If that is intended, pass "
            f"--max-deletes {summary.delete} (or -1); if not, check that PATH holds all "
            "the manifests")
    changes = {change.key: change.after for change in plan.actionable}
    if not changes:
        return None
    try:
        befores = {change.key: change.before for change in plan.actionable}
        revision = store.commit(
            changes, expected=plan.live_fingerprint, info=info, befores=befores,
            stale_detail=lambda live, since: _staleness(plan, live, since),
            known=known or (planned.live if planned is not None else None))
    except MeshctlError as error:
        store.audit({**base, "result": "failed", "reason": str(error)})
        raise
    if planned is not None and planned.plan is plan and planned.desired.records:
        # The registries now hold every declared resource as the manifests say.
        record_in_sync(planned.desired, revision.fingerprint_after, lambda key: True)
    return revision


def _staleness(plan: Plan, live: LiveState, since: list[dict[str, Any]]) -> str:
    """Which of the plan's resources changed since it was made, and by which revision."""
    touched = {(change.key.kind.value, change.key.name) for change in plan.actionable}
    if since:
        parts = []
        for record in since:
            names = [f"{kinds.info(Kind(c['kind'])).label} {c['name']}"
                     for c in record["changes"] if (c["kind"], c["name"]) in touched]
            names = names or [f"{len(record['changes'])} other resource(s)"]
            parts.append(f"{', '.join(names[:10])} changed in revision {record['revision']} "
                         f"by {record['source']}")
        return "; ".join(parts)
    moved = [change.key for change in plan.actionable
             if _entry_of(live.state, change.key) != change.before]
    if moved:
        return ", ".join(f"{kinds.info(k.kind).label} {k.name}" for k in moved[:10]) + \
            " changed outside meshctl"
    return "the registry files changed outside meshctl"


def _entry_of(state: MeshState, key: ResourceKey) -> dict[str, Any] | None:
    resource = state.get(key)
    return resource.entry if resource else None


def rollback_plan(registries: StoreLike, number: int, *,
                  lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT) -> PlanResult:
    """The plan that returns the registries to their state right after revision `number`:
    every later revision's changes undone, checked by the same rules as any plan."""
    store = store_.open_store(registries, lock_timeout=lock_timeout)
    known = store.revisions()
    if number not in known:
        store.revision(number)  # raises, naming the revisions there are
    live = store.snapshot()
    target = live.state.copy()
    for later in reversed([n for n in known if n > number]):
        for change in store.revision(later)["changes"]:
            key = ResourceKey(Kind(change["kind"]), change["name"])
            before = change["before"]
            if before is None:
                target.discard(key)
            else:
                previous = live.state.get(key)
                target.add(Resource(key, fields.complete(key.kind, before),
                                    previous.source if previous else None))
    diagnostics = [d for d in validate.validate_state(target) if d.is_error]
    empty = DesiredState(target, diagnostics, [])
    if diagnostics:
        return PlanResult(empty, live, None, diagnostics)
    plan = compute.compute_plan(desired=target, live=live.state,
                                live_fingerprint=live.fingerprint, prune=True)
    plan = Plan(plan.live_fingerprint, plan.changes, plan.prune,
                meta={"registries": store.location, "rollback_to": number})
    return PlanResult(empty, live, plan, [])


def git_commit_of(paths: Sequence[str | os.PathLike[str]]) -> str | None:
    """The commit checked out where the manifests live, when they are in a git work tree."""
    for raw in paths:
        folder = Path(raw) if Path(raw).is_dir() else Path(raw).parent
        try:
            done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                                  capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode == 0:
            return done.stdout.strip() or None
    return None


def load_live(registries: StoreLike, *,
              lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT) -> LiveState:
    """The live registries, with the problems found while reading them.

    Read through the store: an interrupted commit is finished first, and the read waits for
    a commit in progress, so no reader ever sees half of one. A directory that does not
    exist reads as empty (the CLI refuses that before asking)."""
    if isinstance(registries, str | os.PathLike) and not Path(registries).is_dir():
        return LiveState()
    return store_.open_store(registries, lock_timeout=lock_timeout).snapshot()


def validate_live(live: LiveState) -> list[Diagnostic]:
    """Read problems plus every rule over the live state."""
    found = live.diagnostics + validate.check_live(live.state) + validate.validate_state(
        live.state)
    found.sort(key=sort_key)
    return found


