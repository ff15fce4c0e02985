"""Apply: commit a plan to a store as one revision, or refuse it before a byte is written.

The checks a plan must pass at commit time live here, whoever made the plan: no refusals,
no more deletes than allowed, and not stale (the store still at the revision the plan was
made from; otherwise the error names what changed and in which revision). Every attempt,
refused and failed ones too, goes to the store's audit log.
"""

from __future__ import annotations

import contextlib
from typing import Any

from reconciler.errors import MeshctlError, PlanRefused
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.plan.model import Plan
from reconciler.plan.render import common
from reconciler.store import Revision, Store, default_info

DEFAULT_MAX_DELETES = 50


def commit_plan(plan: Plan, store: Store, *, source: str = "cli",
                max_deletes: int = DEFAULT_MAX_DELETES, note: str | None = None,
                known: LiveState | None = None, epoch: int | None = None) -> Revision | None:
    """Commit `plan` as one revision, or refuse before writing a byte: when it holds refusals,
    deletes more than `max_deletes` (-1: no limit), or the registries moved on since it was
    computed (stale: the error says what changed, and in which revision). None when the plan
    changes nothing. Every attempt is recorded in the audit log. `known`, the live
    state the plan was made from, spares the store work it already did (a file store does
    not re-hash files whose stat shows them unchanged since); a leader's `epoch` fences the
    commit."""
    summary = plan.summary
    counts = {"create": summary.create, "update": summary.update, "delete": summary.delete}
    undo = plan.meta.get("undo")  # a restore's or a revert's target, kept in its record
    info = default_info(source, git_commit=plan.meta.get("git_commit"),
                        summary=counts, note=note,
                        undo=dict(undo) if isinstance(undo, dict) else None)
    base = {"source": source, "user": info.user, "host": info.host, "action": "apply",
            "summary": counts}
    if plan.refusals:
        reasons = "; ".join(change.refused or "" for change in plan.refusals)
        store.audit({**base, "result": "refused", "reason": reasons})
        raise PlanRefused(f"the plan holds {common.count(len(plan.refusals), 'refusal')}; "
                          f"nothing was written: {reasons}")
    if 0 <= max_deletes < summary.delete:
        store.audit({**base, "result": "refused", "reason": "max-deletes"})
        raise PlanRefused(
            f"the plan deletes {common.count(summary.delete, 'resource')}, more than "
            "--max-deletes "
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
            known=known, epoch=epoch)
    except MeshctlError as error:
        with contextlib.suppress(MeshctlError):  # an audit refused too must not hide why
            store.audit({**base, "result": "failed", "reason": str(error)})
        raise
    return revision


def _staleness(plan: Plan, live: LiveState, since: list[dict[str, Any]]) -> str:
    """Which of the plan's resources changed since it was made, and by which revision."""
    touched = {(change.key.kind.value, change.key.name) for change in plan.actionable}
    if since:
        parts = []
        for record in since:
            names = [f"{kinds.info(Kind(c['kind'])).label} {c['name']}"
                     for c in record["changes"] if (c["kind"], c["name"]) in touched]
            names = names or [common.count(len(record["changes"]), "other resource")]
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
