"""A content-addressed cache of per-file results under `<manifests>/.meshctl-cache/`.

Used by the engine so a warm `meshctl validate` parses only the files that changed. Entries
are keyed by the file's path and checked against the SHA-256 of its bytes, so an edit, a
checkout or a copy can never serve stale data. Like git's index, an entry also records the
file's size, mtime and inode, so a file that has not been touched is not even read.

Results are JSON text, never pickle, and trusted only on the machine that wrote them: the
salt is keyed with a random secret kept outside the repository (`machine_key`). A cache
committed by a hostile pull request can therefore neither run code nor pass off invalid
manifests as checked in CI. One SQLite row per file, so a small change reads and writes a
few rows; safe to delete at any time. Beside it: the sync record (files proved in sync
with a store) and the validation index (what validating the whole set of files found).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from reconciler.fsutil import write_atomically
from reconciler.statchunks import FileStat, Listing, newest_mtime, stat_key

T = TypeVar("T")

CACHE_DIR = ".meshctl-cache"
FORMAT = 1
RACY_NS = 2_000_000_000  # files modified this recently are always re-read and hashed


class ParseCache:
    """Per-file results in one SQLite database (`parse.sqlite`), a row per manifest file.

    A change of a few files reads and writes those files' rows only: with 100,000 files,
    the 256 JSON shards this replaced cost a plan of 10 edits about 0.5 s of decoding
    shards that held the edited files' neighbours. Rows hold JSON text, never pickle. The
    database is a cache: any SQLite error (damaged, locked past the timeout, a read-only
    folder) reads as a miss and a write that fails is not kept."""

    def __init__(self, root: Path, *, salt: str) -> None:
        """`salt` names what produced the results (meshctl's version): another salt, no hits."""
        self.folder = root / CACHE_DIR / f"v{FORMAT}"
        # One file per salt: a new meshctl starts a file of its own (and removes the old
        # ones) rather than deleting a 100,000-row table row by row.
        self.path = self.folder / f"parse-{salt[:16]}.sqlite"
        self.salt = salt
        self._db: _Database | None = None
        self._rows: dict[str, _Row | None] = {}  # looked up so far (None: no entry)
        self._dirty: dict[str, _Row] = {}
        self._stale: set[str] = set()
        self._decoded: dict[str, tuple[str, Any]] = {}  # see `decoded`

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def knows(self, key: str) -> bool:
        """Is there an entry for this file at all (whatever its content was)?"""
        return self._row(key) is not None

    def get(self, key: str, digest: str) -> Any | None:
        row = self._row(key)
        return row.result() if row is not None and row.digest == digest else None

    def peek(self, key: str, digest: str) -> Any | None:
        """`get`, keeping nothing of the row: a whole-mesh comparison reads every file's
        result once, and 100,000 rows kept would be most of its memory."""
        row = self._row(key, keep=False)
        return row.result() if row is not None and row.digest == digest else None

    def decoded(self, key: str, digest: str, convert: Callable[[Any], T | None]) -> T | None:
        """`convert(get(key, digest))`, kept for the next caller: validation and the plan
        after it ask for the same few files, one of them maybe a 12 MB policy."""
        kept = self._decoded.get(key)
        if kept is not None and kept[0] == digest:
            return cast(T, kept[1])
        value = convert(self.get(key, digest))
        if value is not None:
            self._decoded[key] = (digest, value)
        return value

    def digest_of(self, key: str) -> str | None:
        """The content digest recorded for a file (of the content its result is for)."""
        row = self._row(key)
        return row.digest if row is not None else None

    def get_unchanged(self, key: str, stat: FileStat) -> Any | None:
        """The result for a file whose size, mtime and inode match what was recorded, without
        reading it (git's index does the same). Stats are recorded only for files last
        modified well before the cache was written (see `put`), so an edit within the same
        clock tick as a cache write cannot be mistaken for no edit."""
        row = self._row(key)
        return row.result() if row is not None and row.stat == stat_key(stat) else None

    def put(self, key: str, digest: str, encoded: bytes,
            stat: FileStat | None = None) -> None:
        """Record a file's result, JSON-encoded (as the worker that parsed it sent it)."""
        row = _Row(digest, stat_key(stat) if stat is not None and _settled(stat) else None,
                   encoded)
        self._rows[key] = self._dirty[key] = row
        self._stale.discard(key)

    def remember_stat(self, key: str, stat: FileStat) -> None:
        """Record the stat of a file whose content matched (after a checkout or a touch), so
        the next run can skip reading it."""
        row = self._row(key)
        if row is not None and row.stat != stat_key(stat) and _settled(stat):
            row.stat = stat_key(stat)
            self._dirty[key] = row

    def forget_missing(self, keep: set[str]) -> None:
        """Drop entries for files no longer present (call only after reading a whole root)."""
        database = self._database()
        known = database.keys() if database is not None else set()
        self._stale = (known | set(self._dirty)) - keep
        for key in self._stale:
            self._dirty.pop(key, None)
            self._rows[key] = None

    @property
    def changed(self) -> bool:
        """Whether `save` has rows to write or drop."""
        return bool(self._dirty or self._stale)

    def save(self) -> None:
        """Write the changed rows in one transaction; a cache that cannot be written is
        simply not kept. Closes the database (a later lookup opens it again)."""
        if self._dirty or self._stale:
            database = self._database(create=True)
            if database is not None and database.write(self._dirty, self._stale):
                self._dirty.clear()
                self._stale.clear()
        self.close()

    def close(self) -> None:
        """Let go of the database (a later lookup opens it again)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _row(self, key: str, *, keep: bool = True) -> _Row | None:
        """The row of `key` (None: none), as written or read this run, else from the
        database: then kept for the next look unless `keep` is False."""
        if key in self._rows:
            return self._rows[key]
        database = self._database()
        row = database.row(key) if database is not None else None
        if keep:
            if row is not None:
                row.fetch = functools.partial(self._result_again, key, row.digest)
            self._rows[key] = row
        return row

    def _result_again(self, key: str, digest: str) -> bytes | None:
        database = self._database()
        return database.result_of(key, digest) if database is not None else None

    def _database(self, *, create: bool = False) -> _Database | None:
        if self._db is None or (create and not self._db.writable):
            self._db = _Database.open(self.path, self.salt, create=create)
        return self._db if self._db.usable else None


@dataclass(slots=True)
class _Row:
    digest: str
    stat: list[int] | None
    encoded: bytes | None  # the result as JSON (None: given out, read again if asked)
    fetch: Callable[[], bytes | None] | None = None  # reads `encoded` again

    def result(self) -> Any | None:
        """The result decoded (None if the text is not JSON: a damaged row is a miss).
        The bytes are let go of once decoded: a full load of 100,000 files would
        otherwise hold every result twice."""
        encoded, self.encoded = self.encoded, None
        if encoded is None and self.fetch is not None:
            encoded = self.fetch()
        if encoded is None:
            return None
        try:
            return orjson.loads(encoded)
        except orjson.JSONDecodeError:
            return None


class _Database:
    """The SQLite file behind a `ParseCache`: opened on first use, cleared when its salt is
    another's, dropped and made again when SQLite finds it damaged."""

    TIMEOUT_S = 2.0  # another process writing: wait this long, then do without the cache

    def __init__(self, path: Path, connection: sqlite3.Connection | None, *,
                 writable: bool, logged: bool = True) -> None:
        self.path, self.connection, self.writable = path, connection, writable
        self.logged = logged  # the write-ahead log on (see `open_journal`)
        self.lock = threading.Lock()

    @property
    def usable(self) -> bool:
        return self.connection is not None

    def close(self) -> None:
        """Closed now: a connection left to the garbage collector stays open (and keeps its
        file locked) until a cycle collection, which a long process may not run for long."""
        connection, self.connection = self.connection, None
        close_connection(connection)

    def __del__(self) -> None:
        self.close()

    @classmethod
    def open(cls, path: Path, salt: str, *, create: bool) -> _Database:
        if not create and not path.exists():
            return cls(path, None, writable=False)
        for _attempt in range(2):
            try:
                if create:
                    _prepare_folder(path)
                connection = sqlite3.connect(path, timeout=cls.TIMEOUT_S,
                                             check_same_thread=False, isolation_level=None)
                logged = _prepare(connection, salt)
                return cls(path, connection, writable=True, logged=logged)
            except sqlite3.Error as error:
                if not sqlite_damaged(error, opening=True):
                    break
                _remove_database(path)  # not a database, or a damaged one: start again
                if not create:
                    break
            except OSError:
                break
        return cls(path, None, writable=False)

    def row(self, key: str) -> _Row | None:
        found = self._query("SELECT digest, size, mtime_ns, inode, result FROM entries "
                            "WHERE key = ?", (key,))
        if not found:
            return None
        digest, size, mtime, inode, result = found[0]
        if not isinstance(digest, str) or not isinstance(result, bytes):
            return None
        return _Row(digest, [size, mtime, inode] if size is not None else None, result)

    def result_of(self, key: str, digest: str) -> bytes | None:
        """A row's result again, if it is still the one for `digest`."""
        found = self._query("SELECT result FROM entries WHERE key = ? AND digest = ?",
                            (key, digest))
        return found[0][0] if found and isinstance(found[0][0], bytes) else None

    def keys(self) -> set[str]:
        return {key for (key,) in self._query("SELECT key FROM entries", ())}

    def write(self, rows: dict[str, _Row], stale: set[str]) -> bool:
        connection = self.connection
        if connection is None:
            return False
        try:
            with self.lock:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany("DELETE FROM entries WHERE key = ?",
                                           ((key,) for key in stale))
                    connection.executemany(  # in key order: its index is appended to
                        "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                        ((key, row.digest, *(row.stat or (None, None, None)), row.encoded)
                         for key in sorted(rows) if (row := rows[key]).encoded is not None))
                    connection.executemany(  # a stat learnt of a row given out already
                        "UPDATE entries SET size = ?, mtime_ns = ?, inode = ? "
                        "WHERE key = ? AND digest = ?",
                        ((*(row.stat or (None, None, None)), key, row.digest)
                         for key, row in rows.items() if row.encoded is None))
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                if not self.logged:
                    settle_journal(connection)
                    self.logged = True
        except sqlite3.Error as error:
            self._lost(error)
            return False
        return True

    def _query(self, sql: str, parameters: tuple[str, ...]) -> list[Any]:
        connection = self.connection
        if connection is None:
            return []
        try:
            with self.lock:
                return connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            self._lost(error)
            return []

    def _lost(self, error: sqlite3.Error) -> None:
        """A damaged database is removed (the next write makes a new one); a busy one is
        only done without, this time."""
        if sqlite_damaged(error):
            self.close()
            self.writable = False
            _remove_database(self.path)


def close_connection(connection: sqlite3.Connection | None) -> None:
    """Close a cache's SQLite connection now, whatever state it is in. (Not contextlib:
    this also runs from `__del__` while the interpreter shuts down.)"""
    if connection is None:
        return
    try:
        connection.close()
    except sqlite3.Error:
        return


_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_IOERR")
_NOT_DAMAGE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_READONLY", "SQLITE_CANTOPEN",
               "SQLITE_PERM", "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_INTERRUPT")


def sqlite_damaged(error: sqlite3.Error, *, opening: bool = False) -> bool:
    """Whether the file itself is at fault (not a database, damaged, cut short), rather
    than the moment (busy, locked by a writer), the place (read-only, full) or this code
    (a constraint). `opening`: the error came from preparing the tables, which only a
    damaged file fails for any other reason (a file cut short: "no such table")."""
    name = getattr(error, "sqlite_errorname", "") or ""
    if name.startswith(_DAMAGE):
        return True
    return opening and bool(name) and not name.startswith(_NOT_DAMAGE)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, digest TEXT NOT NULL,
    size INTEGER, mtime_ns INTEGER, inode INTEGER,
    result BLOB NOT NULL
);
"""
# (`entries` keeps its rowid: a table without one holds each row in its key's b-tree,
# where a result over ~1 KB spills into overflow pages, and the file came out at twice
# the results' size.)

# A new database's pages: a result averages 2.8 KB, so 4 KB pages held one each, half empty.
PAGE_SIZE = 16384


def open_journal(connection: sqlite3.Connection) -> bool:
    """Turn on the write-ahead log (readers never wait for a writer), except in a new,
    empty database: that one gets `PAGE_SIZE` pages and keeps the rollback journal for
    its first write, which `settle_journal` then turns to WAL. Through WAL, the first
    write of a cold run (600 MB of results at 100,000 files) was written twice, into the
    log and again into the file; a rollback journal of an empty file holds nothing.
    Whether the log is on."""
    if connection.execute("PRAGMA page_count").fetchone()[0] == 0:
        connection.execute(f"PRAGMA page_size={PAGE_SIZE}")
        return False
    connection.execute("PRAGMA journal_mode=WAL")
    return True


def settle_journal(connection: sqlite3.Connection) -> None:
    """After a new database's first write: the write-ahead log on (when another process
    has it open meanwhile, the next one to open it turns it on)."""
    with contextlib.suppress(sqlite3.Error):
        connection.execute("PRAGMA journal_mode=WAL")


def _prepare(connection: sqlite3.Connection, salt: str) -> bool:
    """Tables made, the journal chosen (`open_journal`, whose answer this is), and the
    entries of another salt (another meshctl, another machine's cache copied here)
    dropped."""
    logged = open_journal(connection)
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_SCHEMA)
    found = connection.execute("SELECT value FROM meta WHERE name = 'salt'").fetchone()
    if found is None or found[0] != salt:  # new, or a copy of another salt's under this name
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("DELETE FROM entries")
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('salt', ?)", (salt,))
        connection.execute("COMMIT")
    return logged


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(f"{path}{suffix}")


def _prepare_folder(path: Path) -> None:
    """The cache folder, ignored by git. A new database's folder loses the results of
    other salts (another meshctl's) and the JSON shards of earlier versions."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    if path.exists():
        return
    for old in [*folder.glob("[0-9a-f][0-9a-f].json"), *folder.glob("parse-*.sqlite*")]:
        with contextlib.suppress(OSError):
            old.unlink()


class SyncRecord:
    """What the last plan (or apply) of these manifests against one registries directory
    proved: with the live registries at `fingerprint`, each listed file, while its stat is
    unchanged, declares exactly these resources, each a noop against its live entry, and
    yields these per-file diagnostics. Argo CD caches a comparison the same way.

    A plan whose live registries still have that fingerprint takes those files' resources
    from the live entries it has just read, without reading the files, their parse-cache
    entries, or comparing them (`engine`). Anything else (another fingerprint, another salt,
    a touched file) is simply not served from here. Stored beside the parse cache, with the
    same salt and so the same trust: one file per registries directory.
    """

    def __init__(self, root: Path, *, salt: str, store_id: str) -> None:
        self.store_id = store_id  # `store.identity`: one record per store, however named
        name = hashlib.blake2b(self.store_id.encode(), digest_size=8).hexdigest()
        self.path = root / CACHE_DIR / f"v{FORMAT}" / f"sync-{name}.json"
        self.salt = salt
        self.fingerprint: str | None = None
        self._files: dict[str, Any] = {}
        with contextlib.suppress(OSError, orjson.JSONDecodeError, AttributeError):
            body = orjson.loads(self.path.read_bytes())  # absent or damaged: no record
            if (body.get("format") == FORMAT and body.get("salt") == salt
                    and body.get("store") == self.store_id
                    and isinstance(body.get("files"), dict)
                    and isinstance(body.get("fingerprint"), str)):
                self.fingerprint, self._files = body["fingerprint"], body["files"]

    def in_sync(self, key: str, stat: FileStat, fingerprint: str | None) -> Any | None:
        """The recorded {"resources", "diagnostics"} of a file proved in sync at
        `fingerprint` whose stat has not changed since, else None."""
        if fingerprint is None or fingerprint != self.fingerprint:
            return None
        entry = self._files.get(key)
        if isinstance(entry, dict) and entry.get("stat") == stat_key(stat):
            return entry
        return None

    def save(self, fingerprint: str, files: dict[str, tuple[FileStat, Any, Any]],
             kept: set[str]) -> None:
        """Record `files` (key -> (stat, resources, diagnostics), all noops) and the `kept`
        files served from this record as in sync at `fingerprint`, replacing what was
        recorded. A file modified within the racy window is left out (its stat cannot stand
        for its content). Nothing is written when nothing would change. Best effort."""
        recorded = {key: {"stat": stat_key(stat), "resources": resources,
                          "diagnostics": diagnostics}
                    for key, (stat, resources, diagnostics) in files.items() if _settled(stat)}
        if (fingerprint == self.fingerprint and not recorded
                and kept == set(self._files)):
            return
        recorded.update((key, self._files[key]) for key in kept if key in self._files)
        self.fingerprint, self._files = fingerprint, recorded
        body = {"format": FORMAT, "salt": self.salt, "store": self.store_id,
                "fingerprint": fingerprint, "files": recorded}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.path.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n")
            write_atomically(self.path, orjson.dumps(body))


class ValidationIndex:
    """What the last validation of a set of manifest files found: their diagnostics and
    the resources they declare, valid while the same files have the same stats.

    `meshctl validate` with nothing changed then costs a listing and a stat of every file
    (the floor) instead of decoding every cached result and running every mesh-wide rule
    again. The files' names and stats are kept as one digest; any file added, removed or
    touched, another `key` (the manifest paths and options), another salt (meshctl's code,
    this machine), or a file modified within the racy window, and `lookup` does not answer.
    Bulky parts (the list of resources, the per-file record `revalidate` works from) are
    kept beside it, each named by its digest in the body. The body is authenticated with
    the machine key: a damaged or edited index is ignored and rewritten, never believed."""

    def __init__(self, root: Path, *, salt: str, key: str) -> None:
        name = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        self.path = root / CACHE_DIR / f"v{FORMAT}" / f"validated-{name}.json"
        self.salt, self.key = salt, key
        # (stats, their listing, all settled): see `listing`. Stats are taken once per
        # run and never changed after; the object is held, so its identity is its own.
        self._listing: tuple[Mapping[str, FileStat], Listing, bool] | None = None
        self._digest: tuple[Listing, str] | None = None

    def _extra_path(self, part: str) -> Path:
        return self.path.with_suffix(f".{part}")

    def forget(self) -> None:
        """Drop the index (found damaged): the next full validation writes it again."""
        for path in self.path.parent.glob(f"{self.path.stem}.*"):
            with contextlib.suppress(OSError):
                path.unlink()

    def extra(self, part: str, digest: str) -> bytes | None:
        """A bulky part saved with the result, if it is the one whose digest the result
        recorded; None when it is gone or not that one."""
        try:
            data = self._extra_path(part).read_bytes()
        except OSError:
            return None
        return data if _digest(data) == digest else None

    def signed(self, part: str) -> Any | None:
        """The JSON value kept as `part` beside the index (`sign`), if this machine's key
        signed it for this index and salt; else None."""
        secret = machine_key()
        try:
            raw = self._extra_path(part).read_bytes()
        except OSError:
            return None
        mac, _, body = raw.partition(b"\n")
        if secret is None or not hmac.compare_digest(mac, self._part_mac(part, body, secret)):
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return None

    def sign(self, part: str, value: Any) -> None:
        """Keep `value` (JSON) as `part` beside the index, signed for `signed` to trust: a
        cache of what this index's runs take (as the folders' listings), apart from
        their results. Nothing is kept when no machine key can be."""
        secret = machine_key()
        if secret is None:
            return
        body = orjson.dumps(value)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self._extra_path(part),
                             self._part_mac(part, body, secret) + b"\n" + body)

    def _part_mac(self, part: str, body: bytes, secret: bytes) -> bytes:
        return _mac(b"\0".join([self.salt.encode(), self.key.encode(), part.encode(), body]),
                    secret)

    def latest(self) -> tuple[str | None, Any] | None:
        """The files digest and the result last saved, whatever the files are now (for
        `revalidate`, which compares file by file); None when there is none, or it is not
        this key's, salt's and machine's, unaltered."""
        secret = machine_key()
        try:
            raw = self.path.read_bytes()
        except OSError:
            return None
        mac, _, body = raw.partition(b"\n")
        if secret is None or not hmac.compare_digest(mac, _mac(body, secret)):
            return None
        try:
            found = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not (isinstance(found, dict) and found.get("format") == FORMAT
                and found.get("salt") == self.salt and found.get("key") == self.key):
            return None
        files = found.get("files")
        return (files if isinstance(files, str) else None), found.get("result")

    def listing(self, stats: Mapping[str, FileStat]) -> Listing:
        """The stat keys of `stats`, serialized once a run (`statchunks`): the files digest
        and the record's comparison both read them (100,000 stats: 0.05 s)."""
        kept = self._listing
        if kept is None or kept[0] is not stats:
            listing = Listing.of_stats(stats)
            settled = newest_mtime(stats) < time.time_ns() - RACY_NS
            kept = self._listing = (stats, listing, settled)
        return kept[1]

    def files_digest(self, stats: Mapping[str, FileStat], *,
                     settled_only: bool = False) -> str | None:
        """One hash of every file's name and stat key, in order (`settled_only`: None
        unless every file is settled), kept for the same `stats` object: a run asks
        twice, or three times after an apply."""
        listing = self.listing(stats)
        assert self._listing is not None
        if settled_only and not self._listing[2]:
            return None
        if self._digest is None or self._digest[0] is not listing:
            self._digest = (listing, listing.digest())
        return self._digest[1]

    def lookup(self, stats: Mapping[str, FileStat]) -> Any | None:
        """The recorded result when `stats` (every file, as listed) match it, else None."""
        latest = self.latest()
        if latest is None or latest[0] is None or latest[0] != self.files_digest(stats):
            return None
        return latest[1]

    def save(self, stats: Mapping[str, FileStat], result: Any,
             extras: dict[str, bytes] | None = None) -> None:
        """Record `result` for files with these `stats` (taken before they were read), and
        the `extras` parts beside it (the result names each by `extra_digest`). When a file
        was modified within the racy window its stat cannot stand for it: then `lookup`
        will not answer (the result stays, for `revalidate`, which re-reads such files)."""
        secret = machine_key()
        if secret is None:
            return
        body = orjson.dumps({"format": FORMAT, "salt": self.salt, "key": self.key,
                             "files": self.files_digest(stats, settled_only=True),
                             "result": result})
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.path.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n")
            for part, data in (extras or {}).items():
                write_atomically(self._extra_path(part), data)
            write_atomically(self.path, _mac(body, secret) + b"\n" + body)


def settled(stat: FileStat) -> bool:
    """Whether a file's stat may stand for its content (see `_settled`)."""
    return _settled(stat)


def extra_digest(data: bytes) -> str:
    """What a result records to name a bulky part saved with it."""
    return _digest(data)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _mac(body: bytes, secret: bytes) -> bytes:
    return hashlib.blake2b(body, key=secret[:64], digest_size=16).hexdigest().encode()


def machine_key() -> bytes | None:
    """A random secret for this user on this machine (created on first use, mode 0600), or
    None when it cannot be kept; then nothing is cached. `MESHCTL_CACHE_KEY_FILE` moves it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(os.environ.get("MESHCTL_CACHE_KEY_FILE") or os.path.join(base, "meshctl", "key"))
    with contextlib.suppress(OSError):  # absent or unreadable: make a new one
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(os.urandom(32))
        return path.read_bytes()
    except OSError:
        return None


def keyed_salt(code_fingerprint: str) -> str | None:
    """The salt for results of this code on this machine; None when no key can be kept."""
    key = machine_key()
    if key is None:
        return None
    return hashlib.blake2b(code_fingerprint.encode(), key=key[:64], digest_size=16).hexdigest()


def _settled(stat: FileStat) -> bool:
    """Modified long enough ago that an edit in the same clock tick as this write is ruled
    out (git's "racy clean" rule): only then may the stat stand in for the content."""
    return stat.st_mtime_ns < time.time_ns() - RACY_NS


