"""What the controller says: one log line per sync (and when it is in sync again after
failing), drift as it appears and goes, and the status document (`watch.status`) that
`meshctl status`, the API and the panel read.
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from reconciler import store as store_
from reconciler.errors import Diagnostic, StoreError
from reconciler.model import kinds
from reconciler.model.resource import ResourceKey
from reconciler.plan.render import common
from reconciler.watch import status as status_file
from reconciler.watch.source import DesiredSource
from reconciler.watch.sync_state import ACTION, SyncState

log = logging.getLogger("reconciler.watch")

MAX_REPORTED = 50  # errors and drifted resources listed in the status
# Sync triggers worth a line at INFO even when nothing was applied.
_ANNOUNCED = ("start", "git", "webhook", "api")


class SyncResult(enum.StrEnum):
    SYNCED = "synced"  # changes applied
    IN_SYNC = "in_sync"  # nothing to apply
    FAILED = "failed"  # the manifests, the registries or git could not be used
    REFUSED = "refused"  # the plan holds refusals or breaks a guard

    @property
    def ok(self) -> bool:
        return self in (SyncResult.SYNCED, SyncResult.IN_SYNC)


@dataclass(slots=True)
class SyncReport:
    """What one sync did: the line logged, and what `status.json` shows."""

    trigger: str
    result: SyncResult
    message: str
    revision: int | None = None
    summary: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None
    desired: str = ""
    duration_ms: float = 0.0
    time: str = field(default_factory=store_.now_text)

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "trigger": self.trigger, "result": self.result,
                "message": self.message, "revision": self.revision, "summary": self.summary,
                "errors": self.errors[:MAX_REPORTED], "error_count": len(self.errors),
                "warnings": self.warnings[:MAX_REPORTED],
                "warning_count": len(self.warnings),
                "commit": self.commit, "desired_fingerprint": self.desired,
                "duration_ms": round(self.duration_ms, 1)}

    @classmethod
    def failed(cls, trigger: str, errors: list[Diagnostic]) -> SyncReport:
        first = errors[0]
        where = f"{first.location}: " if first.location else ""
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return cls(trigger, SyncResult.FAILED, f"sync failed: {where}{first.message}{more}",
                   errors=[d.to_dict() for d in errors])

    @classmethod
    def broken(cls, trigger: str, error: Exception) -> SyncReport:
        """The store, git or a bug stopped the sync (not the manifests)."""
        return cls(trigger, SyncResult.FAILED, f"sync failed: {error}",
                   errors=[{"message": str(error)}])


@dataclass(frozen=True, slots=True)
class Settings:
    """How the controller was asked to run (shown in the status)."""

    self_heal: bool
    interval: float
    debounce: float
    prune: bool


class Reporter:
    """Logs each sync and keeps the status of a controller of `store` current."""

    def __init__(self, store: store_.Store, source: DesiredSource, state: SyncState,
                 settings: Settings) -> None:
        self._store, self._source, self._state = store, source, state
        self._settings = settings
        self.started = store_.now_text()
        self.last: SyncReport | None = None
        self.last_good: dict[str, Any] | None = None
        self.revision = 0
        self.syncs = 0  # how many syncs were reported: tells a reader a new one happened
        self.stopped = False
        self._failing = 0  # syncs failed or refused in a row
        self._reported_drift: frozenset[ResourceKey] = frozenset()

    def sync(self, report: SyncReport) -> None:
        """Log `report` and write the status."""
        self.last = report
        self.syncs += 1
        if report.revision is not None:
            self.revision = report.revision
        if report.result.ok:
            self.last_good = {"time": report.time, "revision": report.revision,
                              "commit": report.commit,
                              "desired_fingerprint": report.desired}
        level = logging.WARNING if not report.result.ok else (
            logging.DEBUG if report.result is SyncResult.IN_SYNC
            and report.trigger not in _ANNOUNCED else logging.INFO)
        log.log(level, "%s", report.message, extra={"fields": {
            "event": "sync", **report.to_dict()}})
        if not report.result.ok:
            self._failing += 1
        elif self._failing:
            log.info("in sync again at revision %s after %s", report.revision,
                     common.count(self._failing, "failed sync"),
                     extra={"fields": {"event": "recovered", "revision": report.revision,
                                       "failed_syncs": self._failing}})
            self._failing = 0
        self.write()

    def drift(self) -> None:
        """Say when the set of drifted resources changed, and write the status."""
        self.write()
        drifted = self._state.drifted()
        if frozenset(drifted) == self._reported_drift:
            return
        self._reported_drift = frozenset(drifted)
        if drifted:
            log.info("drift: %s", _describe_out(drifted), extra={"fields": {
                "event": "drift", "drifted": _listed(drifted)}})
        else:
            log.info("drift gone: live matches the manifests again",
                     extra={"fields": {"event": "drift", "drifted": []}})

    def status(self) -> dict[str, Any]:
        """What `status.json` holds: the controller, the last sync, the last good one, and
        every resource out of sync."""
        drifted = self._state.drifted()
        pending = self._state.pending()
        settings = self._settings
        return {
            "controller": {
                "pid": os.getpid(), "host": os.uname().nodename, "started": self.started,
                "source": self._source.info(), "self_heal": settings.self_heal,
                "interval": settings.interval,
                "debounce_ms": round(settings.debounce * 1000),
                "prune": settings.prune, "stopped": self.stopped,
            },
            "revision": self.revision,
            "sync_count": self.syncs,
            "last_sync": self.last.to_dict() if self.last else None,
            "last_good_sync": self.last_good,
            "drifted": _listed(drifted),
            "drifted_count": len(drifted),
            "pending": _listed({key: ACTION[why] for key, why in pending.items()}),
            "pending_count": len(pending),
            "updated": store_.now_text(),
        }

    def write(self) -> None:
        try:
            status_file.write(self._store, self.status())
        except StoreError as error:
            log.warning("cannot write the watch status: %s", error)


def _listed(out: dict[ResourceKey, str]) -> list[dict[str, str]]:
    keys = sorted(out)[:MAX_REPORTED]
    return [{"kind": key.kind.value, "name": key.name, "status": out[key]} for key in keys]


def _describe_out(out: dict[ResourceKey, str]) -> str:
    shown = [f"{kinds.info(k.kind).label} {k.name} {why}" for k, why in sorted(out.items())]
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return ", ".join(shown[:10]) + more
