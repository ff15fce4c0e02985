"""Moving the live registries between a database store and AgentMesh's files.

- `import_files`: a registries directory (and its meshctl history) into an empty database
  store, as its first revisions; the files' bytes are kept beside the entries.
- `export_files`: a database store's state as AgentMesh JSON files in a new directory:
  the imported files, spliced by the file store's own writer where the state has changed
  since, so entry order, headers, unknown keys and formatting are the store's, and a store
  exported right after an import gives the very bytes that were imported. A registry
  rewritten is stamped with the time of its last change, never the export's: two exports
  of one revision are the same bytes, those the file store holds after the same commits.
- `mirror_once`: a directory kept equal to a store, each change committed by the file
  store (journal, rename, fsync), so a runtime reading the files never sees half a revision.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import ResourceKey
from reconciler.store import history, writer
from reconciler.store.base import ChangeSet, Revision, Store
from reconciler.store.filestore import FileStore, default_info
from reconciler.store.heldfile import joined
from reconciler.store.pgstore import PostgresStore
from reconciler.store.registry_files import read_live_state, registry_file_names


def import_files(store: Store, folder: str | os.PathLike[str], *,
                 source: str = "import") -> Revision:
    """The registries under `folder` as the first revisions of `store` (a database store,
    empty): the folder's meshctl history as it is, then its state as one revision."""
    target = _database(store)
    files = FileStore(folder)
    live = files.snapshot()
    if live.diagnostics:
        first = live.diagnostics[0]
        raise StoreError(f"the registries in {folder} could not be read completely "
                         f"({first.file}: {first.message}); fix them first, nothing was "
                         "imported")
    root = Path(folder)
    raw = {name: (root / name).read_bytes() for name in registry_file_names(root)}
    earlier = [files.revision(number) for number in files.revisions()]
    return target.import_state(live, raw, earlier, default_info(
        source, note=f"imported from {Path(folder).resolve()}",
        summary={"create": len(live.state), "update": 0, "delete": 0}))


def export_files(store: Store, folder: str | os.PathLike[str]) -> list[str]:
    """Write `store`'s state as AgentMesh registry files into `folder`, which must be empty
    or not exist yet; the files written (relative). Built in a temporary folder beside it,
    then moved in, so a failure leaves `folder` as it was."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StoreError(f"'{target}' exists and is not an empty directory: export writes a "
                         "new registries folder (`meshctl mirror` keeps an existing one in "
                         "sync)")
    target.parent.mkdir(parents=True, exist_ok=True)
    live = store.snapshot()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".meshctl-export-") as work:
        built = Path(work) / "registries"
        _build(store, live, built)
        written = registry_file_names(built)
        target.mkdir(exist_ok=True)
        for name in written:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(built / name, target / name)
    return written


def _build(store: Store, live: LiveState, folder: Path) -> None:
    """`live` as files in `folder`: the imported bytes, and what differs from them written
    by the file store's writer. Each registry rewritten is stamped (`last_updated`) with the
    time of the last revision that changed it, as the file store holds it after the same
    commits, never with the time of the export: two exports of one revision are the same
    bytes."""
    folder.mkdir(parents=True)
    templates = _database(store).imported_files() if isinstance(store, PostgresStore) else {}
    for name, data in templates.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    changes = _differences(live, read_live_state(folder))
    stamps = _stamps(store, live, {key.kind for key in changes})

    def current(relative: str) -> bytes | None:
        path = folder / relative
        return path.read_bytes() if path.is_file() else None

    for kind in kinds.KIND_ORDER:
        of_kind = {key.name: entry for key, entry in changes.items() if key.kind is kind}
        if not of_kind:
            continue
        try:
            contents = writer.render_files(kind, of_kind, current, stamps[kind])
        except writer.WriteError as error:
            raise StoreError(f"cannot export the {kinds.info(kind).label} registry: "
                             f"{error}; nothing was written") from error
        for content in contents:
            path = folder / content.relative
            if content.pieces is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(joined(content.pieces))


def _stamps(store: Store, live: LiveState, touched: set[Kind]) -> dict[Kind, str]:
    """The `last_updated` each registry in `touched` had after its last change: the
    store's header keeps it for a registry that has one; else (a registry first written
    after the import) it is the time of the newest revision that changed the kind."""
    stamps: dict[Kind, str] = {}
    for kind in touched:
        stamp = live.headers.get(kind, {}).get("last_updated")
        if isinstance(stamp, str):
            stamps[kind] = stamp
    missing = touched - set(stamps)
    for number in reversed(store.revisions() if missing else []):
        record = store.revision(number)
        for change in record.get("changes", ()):
            kind = Kind(change["kind"])
            if kind in missing and isinstance(record.get("time"), str):
                stamps[kind] = record["time"]
                missing.discard(kind)
        if not missing:
            break
    return stamps | dict.fromkeys(missing, history.now_text())  # no revision: none to keep


@dataclass(frozen=True, slots=True)
class Mirrored:
    """One pass of `mirror_once`: the store's revision now in the folder, how many
    resources changed, and how long after that revision's commit the folder got it."""

    revision: int
    changed: int
    lag_seconds: float | None


def mirror_once(store: Store, folder: str | os.PathLike[str]) -> Mirrored:
    """Make the registries in `folder` equal to `store` now (files created when missing),
    as one atomic file-store commit; what it did."""
    return Mirror(store, folder).sync()


class Mirror:
    """A folder kept equal to a store, pass after pass. Between passes it keeps the store's
    state and the folder's, so a pass reads only the revisions since the last one and
    compares only the resources they changed; a folder changed by hand (its files no longer
    what the mirror wrote) is read and compared whole, and put right."""

    def __init__(self, store: Store, folder: str | os.PathLike[str]) -> None:
        self.store, self.root = store, Path(folder)
        self._live: LiveState | None = None  # the store's state last mirrored
        self._revision = 0
        self._files: FileStore | None = None
        self._have: LiveState | None = None  # the folder's state as last written

    def sync(self) -> Mirrored:
        """One pass: the store's newest state into the folder, as one commit at most."""
        if self._files is None:
            if not any((self.root / name).exists() for name in registry_file_names(self.root)):
                self.root.mkdir(parents=True, exist_ok=True)
                if not any(self.root.iterdir()):  # a new folder: the store's files, whole
                    revision, live = self.store.head(), self.store.snapshot()
                    export_files(self.store, self.root)
                    self._live, self._revision = live, revision
                    return Mirrored(revision, len(live.state), _lag(self.store, revision))
            self._files = FileStore(self.root)
        files = self._files
        if self._live is None:
            revision, live, changed = self.store.head(), self.store.snapshot(), None
        else:
            caught = self.store.catch_up(self._live, self._revision)
            live, changed, revision = caught.live, caught.changed, caught.revision
        have = self._have
        if have is None or not files.is_current(have):
            have, changed = files.snapshot(), None  # changed by hand, or first pass: all
        changes = _differences(live, have, changed)
        if changes:
            done = _commit(files, have, changes, f"mirror of revision {revision}")
            have = files.after_commit(have, changes, done).live
            files.put_meta("mirror-status", {"revision": revision, "store": self.store.location,
                                             "time": time.time()})
        self._live, self._revision, self._have = live, revision, have
        return Mirrored(revision, len(changes), _lag(self.store, revision))


def _differences(live: LiveState, have: LiveState, keys: list[ResourceKey] | None = None
                 ) -> dict[ResourceKey, dict[str, Any] | None]:
    """What `have` must change at `keys` (None: every key of either) to hold `live`
    (creates in the store's order)."""
    if keys is None:
        keys = [r.key for r in live.state] + [r.key for r in have.state
                                              if r.key not in live.state]
    changes: dict[ResourceKey, dict[str, Any] | None] = {}
    for key in dict.fromkeys(keys):
        want, held = live.state.get(key), have.state.get(key)
        if want is None:
            if held is not None:
                changes[key] = None
        elif held is None or held.entry != want.entry:
            changes[key] = want.entry
    return changes


def _commit(files: FileStore, have: LiveState, changes: ChangeSet, note: str) -> Revision:
    return files.commit(changes, expected=have.fingerprint, known=have,
                        befores={key: (r.entry if (r := have.state.get(key)) else None)
                                 for key in changes},
                        info=default_info("mirror", note=note))


def _lag(store: Store, revision: int) -> float | None:
    """Seconds between the revision's commit and now (None: no revision yet)."""
    if revision <= 0:
        return None
    stamp = store.revision(revision).get("time")
    if not isinstance(stamp, str):
        return None
    try:
        committed = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except ValueError:
        return None
    return max(0.0, time.time() - committed)


def _database(store: Store) -> PostgresStore:
    if not isinstance(store, PostgresStore):
        raise StoreError(f"{store.location} is not a database store: give --store "
                         "postgresql://...")
    return store
