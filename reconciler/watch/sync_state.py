"""What the controller knows of each resource: out of sync (and why), and what the desired
state was when it was last seen in sync.

That memory tells drift from a pending change: a resource out of sync whose desired state
is what it was when last in sync was changed elsewhere (drift), not by the manifests.
Before the first good sync nothing is drift: everything out of sync is to apply. The memory
survives a restart in the store's metadata area (`watch-synced`), for the same source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from reconciler import store as store_
from reconciler.errors import StoreError
from reconciler.model import entrydiff, kinds
from reconciler.model.resource import MeshState, ResourceKey
from reconciler.watch import drift
from reconciler.watch.desired import DesiredWorkspace

log = logging.getLogger("reconciler.watch")

SYNCED_NAME = "watch-synced"  # in the store's metadata area
DRIFTED, NOT_IN_GIT, MISSING_LIVE = drift.DRIFTED, drift.NOT_IN_GIT, drift.MISSING_LIVE
ACTION = {DRIFTED: "update", NOT_IN_GIT: "delete", MISSING_LIVE: "create"}  # a sync's


class SyncState:
    """Out-of-sync resources of `workspace`'s desired state against the live one."""

    def __init__(self, workspace: DesiredWorkspace, *, prune: bool) -> None:
        self._workspace = workspace
        self._prune = prune
        self.out: dict[ResourceKey, str] = {}  # out of sync: why
        self._synced: dict[ResourceKey, bytes] | None = None  # desired digest when in sync
        self.dirty = False  # in-sync memory changed since it was last saved

    # -- judging ------------------------------------------------------------------------

    def judge(self, keys: Iterable[ResourceKey], live: MeshState) -> None:
        desired = self._workspace.state
        for key in keys:
            self._judge_key(key, desired, live)

    def judge_all(self, live: MeshState) -> None:
        desired = self._workspace.state
        self.out = {}
        for key in {r.key for r in desired} | {r.key for r in live}:
            self._judge_key(key, desired, live)

    def _judge_key(self, key: ResourceKey, desired: MeshState, live: MeshState) -> None:
        why = drift.out_of_sync(key, desired, live)
        if why is not None:
            self.out[key] = why
            return
        self.out.pop(key, None)
        want, have = desired.get(key), live.get(key)
        if want is not None and have is not None:  # in sync: hold their equal values once
            entrydiff.share_equal_values(want.entry, have.entry)
        if self._synced is not None:  # seen in sync: remember what was wanted then
            digest = self._workspace.digest(key)
            if digest is None:
                self._synced.pop(key, None)
            else:
                self._synced[key] = digest

    def synced_once(self, live: MeshState) -> None:
        """A sync succeeded: from now on drift can be told (the first time, everything in
        sync now is remembered as such)."""
        if self._synced is None:
            self._synced = {}
            self.judge_all(live)
        self.dirty = True

    # -- what is out of sync ------------------------------------------------------------

    def is_drift(self, key: ResourceKey) -> bool:
        """Out of sync although the desired state is what it was when last in sync."""
        if self._synced is None:
            return False
        return self._synced.get(key) == self._workspace.digest(key)

    def drifted(self) -> dict[ResourceKey, str]:
        return {key: why for key, why in self.out.items() if self.is_drift(key)}

    def pending(self) -> dict[ResourceKey, str]:
        """Out of sync because the manifests changed: what the next sync applies."""
        return {key: why for key, why in self.out.items() if not self.is_drift(key)
                and (self._prune or why != NOT_IN_GIT)}

    def after_state(self, keys: set[ResourceKey], live: MeshState) -> MeshState:
        """What the registries hold after syncing `keys`: the desired state, except that a
        resource out of sync and not synced now keeps its live entry (or absence)."""
        kept = [key for key in self.out if key not in keys]
        if not kept:
            return self._workspace.state
        state = self._workspace.state.copy()
        for key in kept:
            resource = live.get(key)
            if resource is None:
                state.discard(key)
            elif self._prune or self.out[key] != NOT_IN_GIT:
                state.add(resource)
        return state

    # -- kept across restarts -----------------------------------------------------------

    def load(self, store: store_.Store, source_id: str) -> None:
        """What was last seen in sync, when recorded for this very source."""
        try:
            data = store.get_meta(SYNCED_NAME)
            if data is None or data.get("source") != source_id:
                return
            self._synced = {ResourceKey(kinds.Kind(kind), name): bytes.fromhex(digest)
                            for kind, name, digest in data["resources"]}
        except (StoreError, ValueError, KeyError, TypeError, AttributeError):
            return

    def save(self, store: store_.Store, source_id: str) -> None:
        self.dirty = False
        if self._synced is None:
            return
        body = {"source": source_id, "resources": [
            [key.kind.value, key.name, digest.hex()] for key, digest in self._synced.items()]}
        try:
            store.put_meta(SYNCED_NAME, body)
        except StoreError as error:
            log.warning("cannot record what is in sync: %s", error)
