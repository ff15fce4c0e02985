"""Where the live registries are kept. Everything outside this package holds a `Store`
(`base.Store`), opened once per process by `open_store`, and never learns how it keeps them
(files, journal, lock, history folder)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import StoreError
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import ResourceKey
from reconciler.store import history, pgstore
from reconciler.store.base import CaughtUp, ChangeSet, Following, Lease, Revision, Store
from reconciler.store.filestore import DEFAULT_LOCK_TIMEOUT, FileStore, default_info, now_text
from reconciler.store.history import CommitInfo
from reconciler.store.memorystore import MemoryStore
from reconciler.store.registry_files import read_live_state
from reconciler.store.transfer import Mirror, Mirrored, export_files, import_files, mirror_once

__all__ = ["DEFAULT_LOCK_TIMEOUT", "CaughtUp", "ChangeSet", "CommitInfo", "FileStore",
           "Following", "Lease", "LiveState", "Location", "Mirror", "Mirrored", "MemoryStore",
           "Revision", "Store", "changed_between",
           "default_info", "export_files", "identity", "import_files", "init_database",
           "is_database", "mirror_once", "now_text", "open_store", "read_live",
           "read_live_state", "summaries",
           "work_folder"]

Location = str | os.PathLike[str]  # where a store is: a registries folder or a database URL


def identity(store: Store | Location) -> str:
    """The same text for every handle of one store, across processes: a database's URL, a
    registries folder resolved (a path given two ways is one store), a memory store's id.
    A key for caches and shared reads; never printed (a URL may hold a password)."""
    if isinstance(store, FileStore):
        return str(store.root.resolve())
    if isinstance(store, MemoryStore):
        return f"memory:{id(store)}"
    if isinstance(store, str | os.PathLike):
        text = os.fspath(store)
        return text if pgstore.is_url(text) else str(Path(text).resolve())
    return store.location


def read_live(store: Store | Location, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> LiveState:
    """The live state of `store`; a registries folder that does not exist reads as empty
    (a new mesh, before its first apply)."""
    if isinstance(store, str | os.PathLike) and not pgstore.is_url(os.fspath(store)) \
            and not Path(store).is_dir():
        return LiveState()
    return open_store(store, lock_timeout=lock_timeout).snapshot()


def work_folder(store: Store) -> Path:
    """A local folder where a controller of `store` keeps working files (its git clone):
    meshctl's folder beside the registries for a file store, else the user's cache."""
    if isinstance(store, FileStore):
        return store.meta
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meshctl"
    return base / hashlib.sha256(store.location.encode()).hexdigest()[:16]


def summaries(store: Store) -> list[dict[str, Any]]:
    """Every revision of `store` without its entries, oldest first (for listings)."""
    return [history.summary(store.revision(number)) for number in store.revisions()]


def changed_between(store: Store, before: str, after: str, *, limit: int = 64
                    ) -> frozenset[ResourceKey] | None:
    """The resources `store`'s revisions changed from the state with fingerprint `before`
    to the one with `after` (its head, as a snapshot just read it): walked back from the
    head, each revision's `fingerprint_before` the previous one's `fingerprint_after`.
    None when that chain does not join them within `limit` revisions: a foreign edit of the
    registries (no revision), a history cut short, another store's fingerprint."""
    if before == after:
        return frozenset()
    changed: set[ResourceKey] = set()
    number = store.head()
    expected: Any = after
    for _ in range(limit):
        if number <= 0:
            return None
        try:
            record = store.revision(number)
            if record.get("fingerprint_after") != expected:
                return None
            changed.update(ResourceKey(Kind(change["kind"]), change["name"])
                           for change in record["changes"])
        except (StoreError, OSError, KeyError, TypeError, ValueError):
            return None
        expected = record.get("fingerprint_before")
        if expected == before:
            return frozenset(changed)
        number -= 1
    return None


_DATABASES: dict[str, pgstore.PostgresStore] = {}
_DATABASES_LOCK = threading.Lock()


def _opened_database(url: str) -> Store:
    """One `PostgresStore` (one pool, one listener) per URL per process; opened again
    when its owner closed it."""
    with _DATABASES_LOCK:
        found = _DATABASES.get(url)
        if found is None or found.closed:
            found = _DATABASES[url] = pgstore.PostgresStore(url)
        return found


def init_database(url: str) -> str:
    """Create or migrate meshctl's schema in the database at `url`; what was done."""
    return pgstore.init_schema(url)


def is_database(location: str) -> bool:
    """Is `location` a database URL (rather than a registries directory)?"""
    return pgstore.is_url(location)


def open_store(store: Store | Location, *,
               lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Store:
    """The store at a location: a `postgresql://` URL (the PostgreSQL store, one per URL per
    process), a directory of AgentMesh registry files (the file store), or a store already
    opened (returned as it is)."""
    if not isinstance(store, str | os.PathLike):
        return store
    text = os.fspath(store)
    if pgstore.is_url(text):
        return _opened_database(text)
    root = Path(text)
    if not root.is_dir():
        raise StoreError(f"registries directory '{root}' not found (set --store, "
                         "--registries or MESHCTL_STORE)")
    return FileStore(root, lock_timeout=lock_timeout)


if TYPE_CHECKING:  # mypy holds every store to the interface
    _STORES: tuple[Store, ...] = (FileStore("."), MemoryStore(),
                                  pgstore.PostgresStore("postgresql://"))
