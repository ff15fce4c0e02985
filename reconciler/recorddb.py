"""The validation record's file: `revalidate.Record` as SQLite rows beside the index.

At 100,000 files the record was one 46 MB JSON document, read and written whole by every
run that changed one file (0.7 s). Here a run reads what it needs: the few blobs every run
uses (each file's stat, the declaration order, the findings), and the rows of the files
and targets the change touches. It writes those rows back in one transaction.

Every value is JSON text with a MAC keyed by the machine's secret (`parsecache.machine_key`),
checked when read: a damaged or edited row, or another machine's file, raises `Damaged` and
the caller validates in full, never believing it. Each write names a new `generation`,
which the index's MAC'd body records: a record another process changed since is not
mistaken for this one's (`write` checks it is the generation it read).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from reconciler.parsecache import (
    close_connection,
    open_journal,
    settle_journal,
    sqlite_damaged,
)

TABLES = ("files", "refs", "stats", "rules")
# files: name -> its row; refs: target -> who refers to it; stats: a chunk of stat keys;
# rules: a large access policy's rules of one subject
_BATCH = 500  # keys per SELECT ... IN (...)


class Damaged(Exception):
    """A value whose MAC does not match, or a file SQLite cannot read."""


class RecordDB:
    """One record's SQLite file. Opened for one run; `close` lets go of it."""

    TIMEOUT_S = 5.0

    def __init__(self, path: Path, secret: bytes, salt: str) -> None:
        self.path, self.salt = path, salt
        # Keyed once, copied per value: keying hashes a whole block, and a cold run MACs
        # 340,000 rows.
        self._keyed = hashlib.blake2b(key=secret[:64], digest_size=16)
        self._connection: sqlite3.Connection | None = None
        self._logged = True  # the write-ahead log on (`parsecache.open_journal`)

    # -- reading ----------------------------------------------------------------------

    def generation(self) -> str | None:
        """The generation last written (None: no record, or not this salt's)."""
        if not self.path.exists():
            return None
        found = self.blobs(["salt", "generation"])
        if found.get("salt") != self.salt or not isinstance(found.get("generation"), str):
            return None
        return str(found["generation"])

    def blobs(self, names: Iterable[str]) -> dict[str, Any]:
        """The named blobs there are, checked."""
        return self._select("meta", list(names))

    def rows(self, table: str, keys: Iterable[str]) -> dict[str, Any]:
        """The rows of `keys` there are (a key without a row is left out), checked."""
        return self._select(table, list(dict.fromkeys(keys)))

    def macs(self, table: str) -> dict[str, bytes]:
        """Each row's MAC, without its value: a row whose MAC is the one `mac` gives for a
        value is that value (only this machine's key makes it), unread."""
        return {key: mac for key, mac in self._query(f"SELECT key, mac FROM {table}", ())
                if isinstance(key, str) and isinstance(mac, bytes)}

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads inside see one generation (one SQLite read transaction)."""
        try:
            connection = self._connect(create=False)
            connection.execute("BEGIN")
        except (sqlite3.Error, OSError) as error:
            raise Damaged(str(error)) from error
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("COMMIT")

    def all_rows(self, table: str) -> dict[str, Any]:
        """Every row of `table`, checked."""
        found: dict[str, Any] = {}
        for key, value, mac in self._query(f"SELECT key, value, mac FROM {table}", ()):
            found[key] = self._checked(table, key, value, mac)
        return found

    # -- writing ----------------------------------------------------------------------

    def write(self, *, expected: str | None, blobs: Mapping[str, Any],
              rows: Mapping[str, Mapping[str, Any | None]], replace: bool,
              cleared: Mapping[str, Iterable[str]] | None = None) -> str | None:
        """Write `blobs` and `rows` (a None value deletes the row) in one transaction, as
        a new generation, and answer it; `replace`: every row of every table replaced;
        `cleared`: by table, the key prefixes whose rows go first.
        None when the record is not at `expected` any more (another process wrote it
        since: this run's rows would mix with that one's), or cannot be written."""
        generation = os.urandom(12).hex()
        for _attempt in range(2):
            opening = True
            try:
                self._connect(create=True)
                opening = False
                written = self._write(generation, expected, blobs, rows, replace,
                                      cleared or {})
            except (sqlite3.Error, OSError) as error:
                if not (isinstance(error, sqlite3.Error)
                        and sqlite_damaged(error, opening=opening)):
                    return None
                self.remove()  # not a database, or a damaged one: made again
                replace = True
                continue
            return generation if written else None
        return None

    def _write(self, generation: str, expected: str | None, blobs: Mapping[str, Any],
               rows: Mapping[str, Mapping[str, Any | None]], replace: bool,
               cleared: Mapping[str, Iterable[str]]) -> bool:
        connection = self._connect(create=True)
        connection.execute("BEGIN IMMEDIATE")
        try:
            if not replace and self._current(connection) != expected:
                connection.execute("ROLLBACK")
                return False
            if replace:
                for table in ("meta", *TABLES):
                    connection.execute(f"DELETE FROM {table}")
            for table, prefixes in cleared.items():
                for prefix in prefixes:
                    connection.execute(f"DELETE FROM {table} WHERE substr(key, 1, ?) = ?",
                                       (len(prefix), prefix))
            self._put(connection, "meta", {**blobs, "salt": self.salt,
                                           "generation": generation})
            for table, changed in rows.items():
                self._put(connection, table, changed)
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        if not self._logged:
            settle_journal(connection)
            self._logged = True
        return True

    def close(self) -> None:
        connection, self._connection = self._connection, None
        close_connection(connection)

    def __del__(self) -> None:
        self.close()

    def remove(self) -> None:
        """Drop the file (found damaged): the next full validation writes a new one."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    # -- inside -----------------------------------------------------------------------

    def _select(self, table: str, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(keys), _BATCH):
            batch = keys[start:start + _BATCH]
            marks = ",".join("?" * len(batch))
            for key, value, mac in self._query(
                    f"SELECT key, value, mac FROM {table} WHERE key IN ({marks})", batch):
                found[key] = self._checked(table, key, value, mac)
        return found

    def _query(self, sql: str, parameters: Iterable[str]) -> list[Any]:
        try:
            return self._connect(create=False).execute(sql, tuple(parameters)).fetchall()
        except (sqlite3.Error, OSError) as error:
            raise Damaged(str(error)) from error

    def _checked(self, table: str, key: Any, value: Any, mac: Any) -> Any:
        if not (isinstance(key, str) and isinstance(value, bytes) and isinstance(mac, bytes)
                and mac == self.mac(table, key, value)):
            raise Damaged(f"{table} row {key!r}")
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as error:
            raise Damaged(f"{table} row {key!r}") from error

    def _put(self, connection: sqlite3.Connection, table: str,
             values: Mapping[str, Any | None]) -> None:
        gone = [(key,) for key, value in values.items() if value is None]
        if gone:
            connection.executemany(f"DELETE FROM {table} WHERE key = ?", gone)
        # In key order: a table without rowid is its key's b-tree, and 100,000 rows
        # inserted at random places cost four times as much as appended ones.
        encoded = ((key, value if isinstance(value, bytes) else orjson.dumps(value))
                   for key in sorted(values) if (value := values[key]) is not None)
        connection.executemany(
            f"INSERT OR REPLACE INTO {table} (key, value, mac) VALUES (?, ?, ?)",
            ((key, data, self.mac(table, key, data)) for key, data in encoded))

    def _current(self, connection: sqlite3.Connection) -> str | None:
        found = connection.execute(
            "SELECT key, value, mac FROM meta WHERE key = 'generation'").fetchone()
        if found is None:
            return None
        try:
            value = self._checked("meta", *found)
        except Damaged:
            return None
        return value if isinstance(value, str) else None

    def mac(self, table: str, key: str, value: bytes) -> bytes:
        """The MAC of `table`'s row `key` holding `value` (JSON text, as written)."""
        mac = self._keyed.copy()
        mac.update(f"{table}\0{key}\0".encode())
        mac.update(value)
        return mac.digest()

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if self._connection is None:
            if not create and not self.path.exists():
                raise Damaged("no record")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=self.TIMEOUT_S,
                                         isolation_level=None, check_same_thread=False)
            try:
                self._logged = open_journal(connection)
                connection.execute("PRAGMA synchronous=NORMAL")
                for table in ("meta", *TABLES):
                    connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY "
                                       "KEY, value BLOB NOT NULL, mac BLOB NOT NULL) "
                                       "WITHOUT ROWID")
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection
