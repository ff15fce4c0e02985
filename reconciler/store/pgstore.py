"""The PostgreSQL store: the live registries in a database many hosts share.

Tables (schema `meshctl`, format `FORMAT`, created and migrated by `meshctl store init`):

    head       one row: the revision the store is at, the store's id, the leader epoch
    entries    (kind, name) -> the entry's exact JSON text and its place (ordinal) in its
               registry: `jsonb` would reorder keys and drop duplicates, text keeps them
    headers    kind -> the registry file's own keys (`version`, `_comment`, ...), as JSON text
    unkeyed    entries the file reader could not key, kept so an export puts them back
    files      the registry files as imported, so an export splices into the same bytes
    revisions  revision -> its record (who, when, each resource before and after)
    audit      every attempted change, refused ones included
    meta       the watch controller's status and synced state

A commit is one transaction. It takes the head row's lock first (`SELECT ... FOR UPDATE`),
which orders writers, checks the expected revision under it, writes the entries, the record
and the audit line, moves the head to the next revision and sends `NOTIFY` with its number.
Revision numbers therefore follow commit order, which a sequence would not. The change feed
is the `revisions` table; `NOTIFY` only wakes its readers (`pglisten`), who then read every
revision after the last one they saw, and a slow poll stands in for a lost notification.

The revision token (`LiveState.fingerprint`) is `<store id>:<revision>:<commit id>`.

Opening takes one connection first (`pgconnect`): a store that cannot be reached for good
(no such database or role, a wrong password, a bad URL) says why at once, and only a server
that is down or starting is waited for. Closing (`close()`, or at exit) stops the followers
before the pool, so no follower wakes to a closed store.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson

from reconciler.errors import StalePlan, StoreError
from reconciler.gcpause import gc_paused
from reconciler.model import kinds
from reconciler.model.kinds import Kind, Layout
from reconciler.model.live import LiveState
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.store import history, pgconnect, pglisten, pgrows
from reconciler.store.base import CaughtUp, ChangeSet, FeedFollowing, Revision, StaleDetail
from reconciler.store.history import CommitInfo
from reconciler.store.pglisten import CHANNEL
from reconciler.store.pgrows import Rows

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool


log = logging.getLogger(__name__)

FORMAT = 1  # the schema's format; an older meshctl refuses a newer one
SCHEMES = ("postgresql://", "postgres://")
WRITE_TURN = 0x6D657368  # the advisory lock writers take turns by ("mesh")
LEADER_LOCKS = 0x6C656164  # the advisory locks' first key for leaderships ("lead")
CONNECTION_WAIT = 10.0  # seconds to wait for a pooled connection before giving up
CONNECT_WAIT = 10.0  # seconds to wait out a server that is down or starting, at open
FOLLOWERS_WAIT = 5.0  # seconds a close waits for the followers' wakes in progress
FULL, HELD, UNREAD = 0, 1, 2  # how much of each entry a snapshot reads (see `snapshot`)
_KNOWN = frozenset(kind.value for kind in Kind)

SCHEMA = [
    "CREATE SCHEMA IF NOT EXISTS meshctl",
    "CREATE TABLE IF NOT EXISTS meshctl.schema_format (format integer NOT NULL)",
    """CREATE TABLE IF NOT EXISTS meshctl.head (
         one boolean PRIMARY KEY DEFAULT true CHECK (one),
         revision bigint NOT NULL, store_id text NOT NULL, epoch bigint NOT NULL DEFAULT 0,
         commit_id text NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS meshctl.entries (
         kind text NOT NULL, name text NOT NULL, ordinal bigint NOT NULL, body text NOT NULL,
         PRIMARY KEY (kind, name))""",
    "CREATE INDEX IF NOT EXISTS entries_order ON meshctl.entries (kind, ordinal)",
    "CREATE TABLE IF NOT EXISTS meshctl.headers (kind text PRIMARY KEY, body text NOT NULL)",
    """CREATE TABLE IF NOT EXISTS meshctl.unkeyed (
         place text NOT NULL, ordinal integer NOT NULL, body text NOT NULL,
         PRIMARY KEY (place, ordinal))""",
    "CREATE TABLE IF NOT EXISTS meshctl.files (relative text PRIMARY KEY, body bytea NOT NULL)",
    """CREATE TABLE IF NOT EXISTS meshctl.revisions (
         revision bigint PRIMARY KEY, record text NOT NULL,
         committed_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS meshctl.audit (
         id bigserial PRIMARY KEY, record text NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS meshctl.meta (name text PRIMARY KEY, value text NOT NULL)",
]


def is_url(location: str) -> bool:
    return location.startswith(SCHEMES)


def _token(store_id: str, revision: int, commit_id: str) -> str:
    """The revision token: the store, the revision, and the commit's own id, so that a
    revision number reused after a crash that lost commits never passes for the old one."""
    return f"{store_id}:{revision}:{commit_id}"


def _revision_of(token: str, store_id: str) -> int | None:
    parts = token.split(":")
    return int(parts[1]) if len(parts) == 3 and parts[0] == store_id and parts[1].isdigit() \
        else None


def _commit_id() -> str:
    return uuid.uuid4().hex[:16]


def init_schema(url: str, *, connect_timeout: float = CONNECT_WAIT) -> str:
    """Create the schema, or migrate it to `FORMAT`; what was done, for the user. Refuses a
    schema of a newer format (written by a newer meshctl)."""
    import psycopg

    location = pgconnect.masked(url)
    try:
        with pgconnect.connect(url, wait=connect_timeout, autocommit=False) as conn, \
                conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('meshctl schema'))")
            found = _format_of(conn)
            if found is not None and found > FORMAT:
                raise StoreError(_newer(found, location))
            for statement in SCHEMA:
                conn.execute(statement)
            if found is None:
                conn.execute("INSERT INTO meshctl.schema_format VALUES (%s)", (FORMAT,))
                conn.execute("INSERT INTO meshctl.head (revision, store_id) VALUES (0, %s)",
                             (uuid.uuid4().hex,))
                return f"created the meshctl schema (format {FORMAT}) in {location}"
            if found < FORMAT:
                conn.execute("UPDATE meshctl.schema_format SET format = %s", (FORMAT,))
                return f"migrated the meshctl schema from format {found} to {FORMAT}"
            return f"the meshctl schema in {location} is up to date (format {FORMAT})"
    except psycopg.Error as error:
        raise StoreError(f"cannot initialise the store {location}: "
                         f"{pgconnect.reason(error, url)}") from error


def _format_of(conn: psycopg.Connection[Any]) -> int | None:
    exists = conn.execute("SELECT to_regclass('meshctl.schema_format')").fetchone()
    if exists is None or exists[0] is None:
        return None
    row = conn.execute("SELECT format FROM meshctl.schema_format").fetchone()
    return int(row[0]) if row else None


def _newer(found: int, location: str) -> str:
    return (f"the store {location} has schema format {found}, newer than this meshctl's "
            f"({FORMAT}): upgrade meshctl; nothing was changed")


class PostgresStore:
    """The `Store` in a PostgreSQL database (see the module's docstring). `close()` (also
    run when the store is freed, and at the process's exit) stops what follows it first,
    then its connections."""

    def __init__(self, url: str, *, pool_size: int = 4,
                 connect_timeout: float = CONNECT_WAIT) -> None:
        from psycopg_pool import ConnectionPool

        self._url = url
        self.location = pgconnect.masked(url)
        # One connection first, to say at once why the store cannot be opened (a pool only
        # logs each failure and times out). The pool opens (its threads start) at the first
        # read or write: a process that forks meanwhile (a plan stat-ing 100,000 manifests
        # in a forked copy, `forked.may_fork`) forks with no thread of the pool running.
        with pgconnect.connect(url, wait=connect_timeout) as first:
            self._pool: ConnectionPool[Any] = ConnectionPool(
                url, min_size=1, max_size=pool_size, open=False, name="meshctl",
                kwargs={"autocommit": True, "connect_timeout": max(2, int(connect_timeout))})
            self._store_id = self._checked(first)
        self._pool_opened = False
        self._lock = threading.Lock()
        self._cached: LiveState | None = None
        self._cached_revision, self._cached_mode = -1, UNREAD
        self._notifier = pglisten.Notifier(url, self.location)
        self._shutdown = _Shutdown(self._pool, self._notifier)
        self._closing = weakref.finalize(self, self._shutdown)

    def _checked(self, conn: psycopg.Connection[Any]) -> str:
        """The store's id, once its schema is known to be this meshctl's format."""
        import psycopg

        try:
            found = _format_of(conn)
            if found is None:
                raise StoreError(f"the store {self.location} has no meshctl schema: run "
                                 "`meshctl store init --store URL` first")
            if found > FORMAT:
                raise StoreError(_newer(found, self.location))
            if found < FORMAT:
                raise StoreError(f"the store {self.location} has schema format {found}: run "
                                 "`meshctl store init` to migrate it")
            row = conn.execute("SELECT store_id FROM meshctl.head").fetchone()
        except psycopg.Error as error:
            raise StoreError(f"the store {self.location} refused the read: "
                             f"{pgconnect.reason(error, self._url)}") from error
        assert row is not None
        return str(row[0])

    def close(self) -> None:
        """Stop following the store, then close its connections. Idempotent; reads and
        writes afterwards raise StoreError, and no follower logs an error for it."""
        self._closing()

    @property
    def closed(self) -> bool:
        return self._shutdown.closed.is_set()

    @contextlib.contextmanager
    def _connection(self, doing: str = "read") -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection. Every database error becomes a StoreError naming the store
        (never its password) and what was being done: the server gone (or no connection
        free within `CONNECTION_WAIT` s), or the database refusing (a role without the
        grant: then nothing was written)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        if self.closed:
            raise StoreError(f"the store {self.location} is closed")
        if not self._pool_opened:
            with self._lock:
                if not self._pool_opened and not self.closed:
                    self._pool.open(wait=False)
                    self._pool_opened = True
                    if self.closed:  # (closed meanwhile: the pool never outlives it)
                        self._pool.close()
        try:
            with self._pool.connection(timeout=CONNECTION_WAIT) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as error:
            if self.closed:  # closed while this waited for, or used, a connection
                raise StoreError(f"the store {self.location} is closed") from error
            raise StoreError(f"the store {self.location} cannot be reached: "
                             f"{pgconnect.reason(error, self._url)}") from error
        except psycopg.Error as error:
            written = "" if doing == "read" else "; nothing was written"
            raise StoreError(f"the store {self.location} refused the {doing}: "
                             f"{pgconnect.reason(error, self._url)}{written}"
                             ) from error

    # -- the live state --------------------------------------------------------------------

    def head(self) -> int:
        return _revision_of(self._head_token(), self._store_id) or 0

    def _head_token(self) -> str:
        with self._connection() as conn:
            row = conn.execute("SELECT revision, commit_id FROM meshctl.head").fetchone()
        assert row is not None
        return _token(self._store_id, int(row[0]), row[1])

    def snapshot(self, *, lazy: bool = False, unread: bool = False) -> LiveState:
        """The live state; read again only when the store moved on since the last read.
        Every entry decoded (`lazy` False); each held as its JSON text and decoded when
        first asked for (`lazy`); or only the names read, each entry fetched as of this
        revision when first asked for (`unread`: for a short-lived reader, a plan)."""
        mode = UNREAD if unread else HELD if lazy else FULL
        token = self._head_token()
        with self._lock:
            if self._cached is not None and self._cached.fingerprint == token \
                    and self._cached_mode <= mode:
                return self._cached
        live, revision = self._read(mode)
        with self._lock:
            if (revision, -mode) >= (self._cached_revision, -self._cached_mode):
                self._cached, self._cached_revision, self._cached_mode = live, revision, mode
        return live

    def _read(self, mode: int) -> tuple[LiveState, int]:
        """One consistent read (one transaction) of the head, the entries as `mode` says,
        the headers and the unkeyed entries (the collector paused: millions of objects
        and no cycle, frozen once read)."""
        with gc_paused(), self._connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = conn.execute("SELECT revision, commit_id FROM meshctl.head").fetchone()
            assert row is not None
            revision, token = int(row[0]), _token(self._store_id, int(row[0]), row[1])
            fetcher = _Fetcher(self, revision, token) if mode == UNREAD else None
            rows = {kind: Rows(kind, self.location, fetcher, base)
                    for kind, base in self._bases(conn, mode).items()}
            headers = {Kind(kind): orjson.loads(body) for kind, body in conn.execute(
                "SELECT kind, body FROM meshctl.headers") if kind in _KNOWN}
            unkeyed: dict[str, list[Any]] = {}
            for place, body in conn.execute(
                    "SELECT place, body FROM meshctl.unkeyed ORDER BY place, ordinal"):
                unkeyed.setdefault(place, []).append(orjson.loads(body))
        state = MeshState({kind: cast(dict[str, Resource], by_name)
                           for kind, by_name in rows.items()})
        return self._live(_in_order(state), headers, unkeyed, token), revision

    def _bases(self, conn: psycopg.Connection[Any], mode: int) -> dict[Kind, dict[str, Any]]:
        """The base of each kind's `Rows`, in registry order: each name's Resource (FULL),
        its JSON text (HELD), or UNREAD."""
        bases: dict[Kind, dict[str, Any]] = {kind: {} for kind in kinds.KIND_ORDER}
        if mode == UNREAD:
            for kind, names in conn.execute("SELECT kind, array_agg(name ORDER BY ordinal) "
                                            "FROM meshctl.entries GROUP BY kind", binary=True):
                if kind in _KNOWN:
                    bases[Kind(kind)] = dict.fromkeys(names, pgrows.UNREAD)
        elif mode == HELD:  # bytes to hold, and no Python object of any entry
            for kind, name, body in conn.execute(
                    "SELECT kind, name, convert_to(body, 'UTF8') FROM meshctl.entries "
                    "ORDER BY kind, ordinal", binary=True):
                if kind in _KNOWN:
                    bases[Kind(kind)][name] = body
        else:  # one JSON array per kind, decoded in one call: twice as quick as row by row
            for kind, names, bodies in conn.execute(
                    "SELECT kind, array_agg(name ORDER BY ordinal), "
                    "'[' || string_agg(body, ',' ORDER BY ordinal) || ']' "
                    "FROM meshctl.entries GROUP BY kind"):
                if kind in _KNOWN:
                    bases[Kind(kind)] = {
                        name: Resource(ResourceKey(Kind(kind), name), entry,
                                       self._source(Kind(kind), name))
                        for name, entry in zip(names, orjson.loads(bodies), strict=True)}
        return bases

    def _entries_at(self, kind: Kind, names: list[str], revision: int, token: str
                    ) -> dict[str, bytes]:
        """The JSON text of the entries `names` of `kind` as they were at `revision` (whose
        token is `token`): as they are, while the head is still there (one query); else
        each one's `before` in the first revision since that changed it, if any."""
        with self._connection() as conn:
            found = conn.execute(
                "SELECT h.revision, h.commit_id, e.name, convert_to(e.body, 'UTF8') "
                "FROM meshctl.head h LEFT JOIN meshctl.entries e "
                "ON e.kind = %s AND e.name = ANY(%s)", (kind.value, names), binary=True
            ).fetchall()
            if found and _token(self._store_id, int(found[0][0]), found[0][1]) == token:
                return {name: body for _, _, name, body in found if name is not None}
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                return self._entries_since(conn, kind, names, revision, token)

    def _entries_since(self, conn: psycopg.Connection[Any], kind: Kind, names: list[str],
                       revision: int, token: str) -> dict[str, bytes]:
        """`_entries_at` once the store has moved on, in one transaction: the entries now,
        with those the revisions since changed taken from the first one's record (as `json`,
        which keeps the text, and with it the order of keys)."""
        row = conn.execute("SELECT record::json ->> 'fingerprint_before' FROM "
                           "meshctl.revisions WHERE revision = %s", (revision + 1,)).fetchone()
        if row is None or row[0] != token:
            raise StoreError(f"the store {self.location} no longer has the revision this "
                             f"snapshot was taken at ({revision}); read it again")
        found: dict[str, bytes | None] = dict(conn.execute(
            "SELECT name, convert_to(body, 'UTF8') FROM meshctl.entries "
            "WHERE kind = %s AND name = ANY(%s)", (kind.value, names), binary=True).fetchall())
        found.update(conn.execute(
            "SELECT DISTINCT ON (c ->> 'name') c ->> 'name', "
            "convert_to(nullif((c -> 'before')::text, 'null'), 'UTF8') "
            "FROM meshctl.revisions r, json_array_elements(r.record::json -> 'changes') c "
            "WHERE r.revision > %s AND c ->> 'kind' = %s AND c ->> 'name' = ANY(%s) "
            "ORDER BY c ->> 'name', r.revision", (revision, kind.value, names),
            binary=True).fetchall())
        return {name: body for name, body in found.items() if body is not None}

    def _source(self, kind: Kind, name: str) -> Source:
        return Source(f"{self.location}#{kind.value}/{name}")

    def _live(self, state: MeshState, headers: dict[Kind, dict[str, Any]],
              unkeyed: dict[str, list[Any]], token: str) -> LiveState:
        location = self.location
        return LiveState(state, headers, unkeyed, [], token,
                         place=lambda key: f"{location}#{key.kind.value}/{key.name}")

    # -- commit ----------------------------------------------------------------------------

    def commit(self, changes: ChangeSet, *, expected: str, info: CommitInfo,
               befores: ChangeSet | None = None, stale_detail: StaleDetail | None = None,
               known: LiveState | None = None, epoch: int | None = None) -> Revision:
        """One transaction: the head row locked, the expected revision checked under the
        lock (and, for a leader, its `epoch`), the entries, the record and the audit line
        written, the head moved on and a notification sent."""
        try:
            bodies = {key: None if entry is None else orjson.dumps(entry).decode()
                      for key, entry in changes.items()}
        except TypeError as error:
            raise StoreError(f"cannot store the change as JSON: {error}") from error
        now = history.now_text()
        # Pipelined: BEGIN goes with the head's lock, the writes with COMMIT (three waits).
        with self._connection("commit") as conn, _pipelined(conn), conn.transaction():
            row = conn.execute(
                "SELECT revision, epoch, commit_id FROM meshctl.head FOR UPDATE").fetchone()
            assert row is not None
            revision, current_epoch = int(row[0]), int(row[1])
            before_token = _token(self._store_id, revision, row[2])
            if epoch is not None and epoch != current_epoch:
                raise StalePlan(f"this controller is no longer the leader (epoch {epoch}, "
                                f"the store is at {current_epoch}); nothing was written")
            if before_token != expected:
                since = self._records_after(conn, _revision_of(expected, self._store_id))
                # the records name what changed; the state is read only when they do not
                cached = self._cached
                detail = stale_detail(cached if since and cached is not None
                                      else self.snapshot(), since) if stale_detail else ""
                raise StalePlan("stale plan: "
                                f"{detail or 'the live registries changed since it was made'}"
                                "; re-run plan")
            old, headers = self._before(conn, list(bodies))
            for key, body in bodies.items():
                self._write_entry(conn, key, body)
            self._touch_headers(conn, headers, now)
            return self._close_revision(conn, revision + 1, before_token, changes,
                                        {key: old.get(key) for key in bodies}, info, now)

    def _close_revision(self, conn: psycopg.Connection[Any], number: int, before_token: str,
                        changes: ChangeSet, befores: ChangeSet, info: CommitInfo,
                        now: str) -> Revision:
        """The end of every commit, in its transaction: the head moved to `number` with a
        new commit id, the revision's record and audit line written, readers notified."""
        commit_id = _commit_id()
        after_token = _token(self._store_id, number, commit_id)
        record = history.record(number, now, info, before_token, after_token, changes,
                                befores)
        conn.execute("UPDATE meshctl.head SET revision = %s, commit_id = %s",
                     (number, commit_id))
        conn.execute("INSERT INTO meshctl.revisions (revision, record) VALUES (%s, %s)",
                     (number, orjson.dumps(record).decode()))
        conn.execute("INSERT INTO meshctl.audit (record) VALUES (%s)", (orjson.dumps(
            history.commit_audit(number, now, info, len(changes))).decode(),))
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(number)))
        return Revision(number, before_token, after_token, (), record)

    @staticmethod
    def _before(conn: psycopg.Connection[Any], keys: list[ResourceKey]
                ) -> tuple[dict[ResourceKey, dict[str, Any]], list[tuple[str, str]]]:
        """The entries of `keys` and the headers of their kinds, as the commit finds them
        (both queries sent before either answer is waited for)."""
        entries = conn.execute(
            "SELECT e.kind, e.name, e.body FROM meshctl.entries e "
            "JOIN unnest(%s::text[], %s::text[]) AS k (kind, name) USING (kind, name)",
            ([key.kind.value for key in keys], [key.name for key in keys]))
        headers = conn.execute("SELECT kind, body FROM meshctl.headers WHERE kind = ANY(%s)",
                               (sorted({key.kind.value for key in keys}),))
        found = {ResourceKey(Kind(kind), name): orjson.loads(body)
                 for kind, name, body in entries.fetchall()}
        return found, headers.fetchall()

    @staticmethod
    def _write_entry(conn: psycopg.Connection[Any], key: ResourceKey, body: str | None) -> None:
        if body is None:
            conn.execute("DELETE FROM meshctl.entries WHERE kind = %s AND name = %s",
                         (key.kind.value, key.name))
            return
        conn.execute(  # an update keeps its place; a create goes last, as in the file
            """INSERT INTO meshctl.entries (kind, name, ordinal, body)
               VALUES (%(kind)s, %(name)s, (SELECT coalesce(max(ordinal), 0) + 1
                                            FROM meshctl.entries WHERE kind = %(kind)s),
                       %(body)s)
               ON CONFLICT (kind, name) DO UPDATE SET body = EXCLUDED.body""",
            {"kind": key.kind.value, "name": key.name, "body": body})

    @staticmethod
    def _touch_headers(conn: psycopg.Connection[Any], rows: list[tuple[str, str]],
                       now: str) -> None:
        """`last_updated` moves on in each registry a commit touches (`rows`: their
        headers), as a save does."""
        for kind, body in rows:
            header = orjson.loads(body)
            if isinstance(header, dict) and "last_updated" in header:
                header["last_updated"] = now
                conn.execute("UPDATE meshctl.headers SET body = %s WHERE kind = %s",
                             (orjson.dumps(header).decode(), kind))

    @contextlib.contextmanager
    def write_turn(self) -> Iterator[str]:
        """Writers of this store, in every process, one at a time (a session advisory lock,
        granted in the order asked): a library or API write catches up, plans and commits
        in its turn, so writers on many hosts take turns instead of colliding. A writer
        that dies loses its connection, and with it the lock. Gives the head as the turn
        began: read right after the lock is granted, sent with it (one round trip)."""
        with self._connection() as conn:
            with _pipelined(conn):
                conn.execute("SELECT pg_advisory_lock(%s)", (WRITE_TURN,))
                row = conn.execute("SELECT revision, commit_id FROM meshctl.head").fetchone()
            assert row is not None
            try:
                yield _token(self._store_id, int(row[0]), row[1])
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (WRITE_TURN,))

    def lead(self, name: str, on_lost: Callable[[], Any] | None = None) -> pglisten.PgLease | None:
        """Leadership of `name` among every replica on this database: a session advisory
        lock on a connection of the lease's own, whose loss (the leader's process or host
        gone, the network cut) releases it. Taking it moves the store's epoch on, so a
        deposed leader's commits (which carry its epoch) are refused."""
        import psycopg

        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5,
                                   application_name=f"meshctl-leader:{name}")
        except psycopg.Error as error:
            raise StoreError(f"the store {self.location} cannot be reached: "
                             f"{pgconnect.reason(error, self._url)}") from error
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                               (LEADER_LOCKS, name)).fetchone()
            if row is None or not row[0]:
                conn.close()
                return None
            row = conn.execute("UPDATE meshctl.head SET epoch = epoch + 1 RETURNING epoch"
                               ).fetchone()
            assert row is not None
        except psycopg.Error as error:
            conn.close()
            raise StoreError(f"the store {self.location}: cannot take the lead: "
                             f"{pgconnect.reason(error, self._url)}") from error
        return pglisten.PgLease(conn, int(row[0]), on_lost)

    # -- history, audit, the change feed and the metadata area -----------------------------

    def _records_after(self, conn: psycopg.Connection[Any], number: int | None
                       ) -> list[dict[str, Any]]:
        if number is None:
            return []
        return [orjson.loads(body) for (body,) in conn.execute(
            "SELECT record FROM meshctl.revisions WHERE revision > %s ORDER BY revision",
            (number,))]

    def audit(self, record: dict[str, Any]) -> None:
        with self._connection("audit line") as conn:
            conn.execute("INSERT INTO meshctl.audit (record) VALUES (%s)",
                         (orjson.dumps({"time": history.now_text(), **record}).decode(),))

    def audit_log(self) -> list[dict[str, Any]]:
        with self._connection() as conn:
            return [orjson.loads(body) for (body,) in conn.execute(
                "SELECT record FROM meshctl.audit ORDER BY id")]

    def revisions(self) -> list[int]:
        with self._connection() as conn:
            return [int(n) for (n,) in conn.execute(
                "SELECT revision FROM meshctl.revisions ORDER BY revision")]

    def revision(self, number: int) -> dict[str, Any]:
        with self._connection() as conn:
            row = conn.execute("SELECT record FROM meshctl.revisions WHERE revision = %s",
                               (number,)).fetchone()
            if row is None:
                bounds = conn.execute(
                    "SELECT min(revision), max(revision) FROM meshctl.revisions").fetchone()
        if row is None:
            known = f"{bounds[0]}..{bounds[1]}" if bounds and bounds[0] is not None \
                else "none yet"
            raise StoreError(f"no revision {number}; revisions: {known}")
        result: dict[str, Any] = orjson.loads(row[0])
        return result

    def revisions_after(self, number: int, *, wait: float = 0.0) -> list[dict[str, Any]]:
        """Every revision after `number`, oldest first; waits up to `wait` s for one."""
        deadline = time.monotonic() + wait
        while True:
            seen = self._notifier.latest
            with self._connection() as conn:
                found = self._records_after(conn, number)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            self._notifier.wait_beyond(max(seen, number), left)

    def get_meta(self, name: str) -> Any:
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM meshctl.meta WHERE name = %s",
                               (name,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def put_meta(self, name: str, value: Any) -> None:
        with self._connection("metadata write") as conn:
            conn.execute("""INSERT INTO meshctl.meta (name, value) VALUES (%s, %s)
                            ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value""",
                         (name, orjson.dumps(value).decode()))

    # -- following (for long-lived readers) ------------------------------------------------

    def is_current(self, live: LiveState) -> bool:
        return live.fingerprint == self._head_token()

    def catch_up(self, live: LiveState, revision: int) -> CaughtUp:
        """`live` brought up to date from the records of the revisions since: only the
        resources they changed are touched (the state is read again, lazily, when `live`
        is not the state the first of them started from)."""
        with self._connection() as conn:
            newer = self._records_after(conn, revision)
        if newer and newer[0]["fingerprint_before"] == live.fingerprint:
            return self._applied(live, newer)
        if not newer and self.is_current(live):
            return CaughtUp(live, [], revision)
        fresh = self.snapshot(lazy=True)
        return CaughtUp(fresh, None, _revision_of(fresh.fingerprint, self._store_id) or 0)

    def after_commit(self, live: LiveState, entries: ChangeSet,
                     revision: Revision) -> CaughtUp:
        """The state this process's own commit left, from its record (no read: the record
        is a copy, through JSON, of exactly what was written)."""
        if revision.fingerprint_before != live.fingerprint or not revision.record:
            return self.catch_up(live, revision.number - 1)
        return self._applied(live, [orjson.loads(orjson.dumps(revision.record))])

    def _applied(self, live: LiveState, records: list[dict[str, Any]]) -> CaughtUp:
        """`live` with the changes of `records` (the revisions right after it) made to a
        copy that shares every other entry: the cost of the change, not of the mesh."""
        state = live.state.copy()
        headers = dict(live.headers)
        changed: list[ResourceKey] = []
        added: set[Kind] = set()
        for record in records:
            for change in record["changes"]:
                key = ResourceKey(Kind(change["kind"]), change["name"])
                changed.append(key)
                if change["after"] is None:
                    state.discard(key)
                else:
                    if key not in state:
                        added.add(key.kind)
                    state.add(Resource(key, change["after"], self._source(*key)))
                header = headers.get(key.kind)
                if header is not None and "last_updated" in header:
                    headers[key.kind] = {**header, "last_updated": record["time"]}
        last = records[-1]
        return CaughtUp(self._live(_in_order(state, added), headers, live.unkeyed,
                                   last["fingerprint_after"]), changed, last["revision"])

    def follow(self, method: Callable[[int | None], Any], owner: object,
               poll_interval: float) -> FeedFollowing:
        """Call `method` after each commit, by any process (and every `poll_interval` s),
        while `owner` lives."""
        notifier = self._notifier

        def wait(seen: int, timeout: float) -> int:
            notifier.wait_beyond(seen, timeout)
            return max(seen, notifier.latest)

        following = FeedFollowing(wait, notifier.latest, weakref.WeakMethod(method), owner,
                                  poll_interval, f"following {self.location}",
                                  closed=self._shutdown.closed)
        self._shutdown.followings.add(following)
        return following

    # -- import and export -------------------------------------------------------------------

    def import_state(self, live: LiveState, files: Mapping[str, bytes],
                     earlier: list[dict[str, Any]], info: CommitInfo) -> Revision:
        """Load a file store's state into an empty store: its earlier revisions as they are,
        then everything it holds as one revision; the files' bytes are kept so an export
        splices into them. Refused (nothing written) unless the store is empty."""
        now = history.now_text()
        with self._connection("import") as conn, conn.transaction():
            row = conn.execute(
                "SELECT revision, commit_id FROM meshctl.head FOR UPDATE").fetchone()
            assert row is not None
            count = conn.execute("SELECT count(*) FROM meshctl.entries").fetchone()
            if int(row[0]) != 0 or (count and count[0]):
                raise StoreError(f"the store {self.location} is not empty (revision "
                                 f"{row[0]}): import only into a new store; nothing was "
                                 "written")
            number = 0
            for record in earlier:
                number += 1
                conn.execute("INSERT INTO meshctl.revisions (revision, record) "
                             "VALUES (%s, %s)", (number, orjson.dumps(
                                 {**record, "revision": number}).decode()))
            ordinal = 0
            changes: dict[ResourceKey, dict[str, Any] | None] = {}
            for resource in live.state:
                ordinal += 1
                changes[resource.key] = resource.entry
                conn.execute("INSERT INTO meshctl.entries (kind, name, ordinal, body) "
                             "VALUES (%s, %s, %s, %s)",
                             (resource.kind.value, resource.name, ordinal,
                              orjson.dumps(resource.entry).decode()))
            for kind, header in live.headers.items():
                conn.execute("INSERT INTO meshctl.headers (kind, body) VALUES (%s, %s)",
                             (kind.value, orjson.dumps(header).decode()))
            for place, items in live.unkeyed.items():
                for index, item in enumerate(items):
                    conn.execute("INSERT INTO meshctl.unkeyed (place, ordinal, body) "
                                 "VALUES (%s, %s, %s)",
                                 (place, index, orjson.dumps(item).decode()))
            for relative, data in files.items():
                conn.execute("INSERT INTO meshctl.files (relative, body) VALUES (%s, %s)",
                             (relative, data))
            return self._close_revision(conn, number + 1, _token(self._store_id, 0, row[1]),
                                        changes, dict.fromkeys(changes), info, now)

    def imported_files(self) -> dict[str, bytes]:
        """The registry files as imported (an export splices the store's state into them)."""
        with self._connection() as conn:
            return {relative: bytes(body) for relative, body in conn.execute(
                "SELECT relative, body FROM meshctl.files")}


class _Shutdown:
    """A store's close, in order: its followers stopped (each wake in progress waited for,
    so none is left reading), the listener stopped, and only then the pool closed. Kept
    apart from the store so that its finalizer, which also runs at the process's exit,
    holds no reference to it; runs once."""

    def __init__(self, pool: ConnectionPool[Any], notifier: pglisten.Notifier) -> None:
        self.closed = threading.Event()
        self.followings: weakref.WeakSet[FeedFollowing] = weakref.WeakSet()
        self._pool, self._notifier = pool, notifier

    def __call__(self) -> None:
        self.closed.set()
        followings = list(self.followings)
        for following in followings:
            following.cancel()
        self._notifier.close()  # wakes the followers that wait for a notification
        deadline = time.monotonic() + FOLLOWERS_WAIT
        for following in followings:
            following.join(max(0.0, deadline - time.monotonic()))
        self._pool.close()


@contextlib.contextmanager
def _pipelined(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """The statements of the block sent without waiting for each answer (libpq's pipeline
    mode, where libpq has it); a query's rows wait for everything sent before them."""
    import psycopg

    if not psycopg.Pipeline.is_supported():
        yield
        return
    with conn.pipeline():
        yield


def _in_order(state: MeshState, touched: Iterable[Kind] = tuple(Kind)) -> MeshState:
    """The one-file-per-entry kinds (workflows) of `touched` in file-name order, as files
    are read."""
    for kind in touched:
        if kinds.info(kind).layout is Layout.PER_FILE:
            flows = state.of_kind(kind)
            names = sorted(flows, key=lambda name: f"{name}.json")
            if names != list(flows):
                state.resources[kind] = cast(dict[str, Resource], flows.reordered(names)) \
                    if isinstance(flows, Rows) else {name: flows[name] for name in names}
    return state


class _Fetcher:
    """Where an unread snapshot's entries come from: the store, as of its revision (held
    weakly: a snapshot kept in the store's cache must not keep the store alive)."""

    __slots__ = ("_store", "_location", "_revision", "_token")

    def __init__(self, store: PostgresStore, revision: int, token: str) -> None:
        self._store, self._location = weakref.ref(store), store.location
        self._revision, self._token = revision, token

    def fetch(self, kind: Kind, names: list[str]) -> dict[str, bytes]:
        store = self._store()
        if store is None:
            raise StoreError(f"the store {self._location} is closed")
        return store._entries_at(kind, names, self._revision, self._token)
