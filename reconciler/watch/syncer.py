"""One sync: plan what is pending (and, with self-heal, what drifted) and commit it.

The resources to sync are planned by `engine.plan_scope` scoped to them (the same rules as
any plan, over what the change touches) and committed through the library's
`RegistryManager.apply`, as one revision by source `watch`. A full sync also judges the
whole desired state with the plan `meshctl apply` makes, so an error anywhere stops it.
"""

from __future__ import annotations

import logging
import time

from reconciler import engine
from reconciler.errors import Diagnostic, MeshctlError, PlanRefused, StalePlan
from reconciler.library import RegistryManager
from reconciler.plan.render import common
from reconciler.watch.desired import DesiredWorkspace
from reconciler.watch.reporting import SyncReport, SyncResult
from reconciler.watch.source import DesiredSource
from reconciler.watch.sync_state import SyncState

log = logging.getLogger("reconciler.watch")

SOURCE = "watch"
SYNC_ATTEMPTS = 3


class Syncer:
    """Syncs `workspace` into `manager`'s store, judging by `state`."""

    def __init__(self, manager: RegistryManager, workspace: DesiredWorkspace,
                 state: SyncState, source: DesiredSource, *, self_heal: bool, prune: bool,
                 max_deletes: int, deny_breaking: bool,
                 deny_access_widening: bool = False) -> None:
        self._manager, self._workspace, self._state = manager, workspace, state
        self._source = source
        self.self_heal, self.prune = self_heal, prune
        self.max_deletes, self.deny_breaking = max_deletes, deny_breaking
        self.deny_access_widening = deny_access_widening
        self.retry_soon = False  # the last sync failed for a reason outside the manifests

    def sync(self, trigger: str, *, full: bool, epoch: int | None) -> SyncReport:
        """Sync what is out of sync (retried when another writer commits first)."""
        started = time.perf_counter()
        self.retry_soon = False
        for _ in range(SYNC_ATTEMPTS):
            try:
                report = self._attempt(trigger, full=full, epoch=epoch)
            except StalePlan:  # another writer got there first: read it, judge again
                self._manager.load_all()
                self._state.judge_all(self._manager.live().state)
                continue
            except MeshctlError as error:  # the store, not the manifests: try again soon
                report = SyncReport.broken(trigger, error)
                self.retry_soon = True
            break
        else:  # other writers kept moving the registries: they may be done now
            report = SyncReport(trigger, SyncResult.FAILED, "sync failed: the registries "
                                "changed under every attempt; trying again shortly")
            self.retry_soon = True
        report.duration_ms = (time.perf_counter() - started) * 1000
        report.commit, report.desired = self._source.commit, self._workspace.fingerprint
        return report

    def _attempt(self, trigger: str, *, full: bool, epoch: int | None) -> SyncReport:
        live, referrers, revision = self._manager.view()
        errors = self._workspace.errors
        warnings: list[Diagnostic] = []
        if full and not errors:
            checked = engine.plan_from(self._workspace.as_desired(), live,
                                       location=self._manager.store.location,
                                       paths=self._source.paths, prune=self.prune)
            errors = checked.errors
            warnings = [d for d in checked.diagnostics if not d.is_error]
        if errors:
            return SyncReport.failed(trigger, errors)
        pending = self._state.pending()
        keys = set(pending) | (set(self._state.drifted()) if self.self_heal else set())
        if not keys:
            return self._in_sync(trigger, revision, warnings)
        meta = {"registries": self._manager.store.location, "manifests": self._source.paths,
                "git_commit": self._source.commit}
        planned = engine.plan_scope(self._state.after_state(keys, live.state), live,
                                    keys=keys, referrers=referrers, prune=self.prune,
                                    meta=meta, deny_breaking=self.deny_breaking,
                                    deny_access_widening=self.deny_access_widening)
        found = [d for d in planned.diagnostics if not d.is_error]
        for warning in found:  # what this change brings: said once, as `plan` says it
            log.warning("%s: %s", warning.location or warning.resource, warning.message,
                        extra={"fields": {"event": "warning", **warning.to_dict()}})
        warnings = _unique(found + warnings)
        plan = planned.plan
        if plan is None or planned.errors:
            return SyncReport.failed(trigger, planned.errors)
        if plan.refusals:
            reasons = [change.refused or "" for change in plan.refusals]
            return SyncReport(trigger, SyncResult.REFUSED, "sync refused: " + "; ".join(reasons),
                              errors=[{"message": reason} for reason in reasons])
        commit = self._source.commit
        note = f"{trigger}: {commit[:12]}" if commit else trigger
        try:
            done = self._manager.apply(plan, source=SOURCE, note=note,
                                       max_deletes=self.max_deletes, epoch=epoch)
        except PlanRefused as error:
            return SyncReport(trigger, SyncResult.REFUSED, f"sync refused: {error}",
                              errors=[{"message": str(error)}])
        self._state.judge(keys, self._manager.live().state)
        if done is None:
            return self._in_sync(trigger, revision, warnings)
        summary = plan.summary
        healed = sorted(str(k) for k in keys if k not in pending)
        words = [f"{n} {verb}" for verb, n in (("created", summary.create),
                                                ("updated", summary.update),
                                                ("deleted", summary.delete)) if n]
        message = f"synced rev {done.number}: {', '.join(words) or 'no changes'}"
        if healed:
            message += f" (drift reverted: {', '.join(healed[:10])})"
        return SyncReport(trigger, SyncResult.SYNCED, message, revision=done.number,
                          summary={"create": summary.create, "update": summary.update,
                                   "delete": summary.delete},
                          warnings=[d.to_dict() for d in warnings])

    def _in_sync(self, trigger: str, revision: int, warnings: list[Diagnostic]) -> SyncReport:
        """`in sync at rev 12`, or what is left alone: drift, without self-heal."""
        drifted = len(self._state.drifted())
        message = f"in sync at rev {revision}" if not drifted else (
            f"nothing to apply at rev {revision}; {common.count(drifted, 'resource')} "
            "drifted, left as "
            f"{'it is' if drifted == 1 else 'they are'} (meshctl status lists them; "
            "--self-heal reverts drift)")
        return SyncReport(trigger, SyncResult.IN_SYNC, message, revision=revision,
                          warnings=[d.to_dict() for d in warnings])


def _unique(found: list[Diagnostic]) -> list[Diagnostic]:
    return list(dict.fromkeys(found))

