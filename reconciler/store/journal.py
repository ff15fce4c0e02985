"""The commit protocol: several files change all-or-nothing, whatever kills the process.

Called by the file store under its write lock; `recover` runs before every read and write.

1. Every new file content is written to `.meshctl/txn/<n>.tmp`, fsynced, given its final
   permission bits; the folder is fsynced.
2. The journal (`.meshctl/journal.json`: each target with its temp file, or a removal) is
   written to a temp name, fsynced, renamed into place, and `.meshctl/` fsynced. This rename
   is the commit point: before it, recovery deletes the temp files and the old state stands;
   after it, recovery finishes the commit.
3. Each temp file is renamed over its target (removals unlink); the folders are fsynced.
4. The audit line is appended, the journal removed and `.meshctl/` fsynced.

Rolling forward is idempotent (a temp already renamed is gone; unlinking twice is fine), so a
crash during recovery is recovered the same way. `MESHCTL_TEST_CRASH_AT=N` makes the process
kill itself (SIGKILL) at the N-th step, for the crash tests; nothing else reads it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reconciler.errors import JournalError, StoreError
from reconciler.store.heldfile import HeldSpan

AUDIT = "audit.jsonl"  # one JSON line per attempted change

JOURNAL = "journal.json"
TXN = "txn"
FORMAT = 1
CRASH_ENV = "MESHCTL_TEST_CRASH_AT"
ENOSPC_ENV = "MESHCTL_TEST_ENOSPC_AT"  # the N-th write, fsync or rename fails as on a full disk

_steps_taken = 0
_io_done = 0


Data = bytes | tuple[bytes | memoryview | HeldSpan, ...] | Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class Op:
    """Put `data` at `target` (relative to the registries root), or remove it (data None).
    `data` is bytes, pieces written one after the other, or a function making the bytes
    when their turn comes (what depends on the files before it, such as their digests)."""

    target: str
    data: Data | None
    mode: int = 0o644


def step(name: str) -> None:
    """A point where a crash test may kill the process (never otherwise)."""
    global _steps_taken
    _steps_taken += 1
    wanted = os.environ.get(CRASH_ENV)
    if wanted and (wanted == name or wanted == str(_steps_taken)):
        os.kill(os.getpid(), signal.SIGKILL)


def _io(what: str) -> None:
    """A point where the disk-full tests may make an I/O call fail (never otherwise)."""
    global _io_done
    wanted = os.environ.get(ENOSPC_ENV)
    if not wanted:
        return
    _io_done += 1
    if wanted == str(_io_done):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), what)


def commit(root: Path, meta: Path, ops: list[Op], audit: dict[str, Any] | None = None) -> None:
    """Write `ops` as one all-or-nothing commit. A failure before the commit point (a full
    disk, a read-only folder) leaves nothing behind and raises StoreError: nothing
    changed. A failure after it leaves the journal, which the next opening of the store
    finishes: the commit is done, only its last steps wait."""
    try:
        entries = _prepare(meta, ops, audit)
    except StoreError:  # a held file the new bytes copy from changed under the commit
        _clear_debris(meta)
        raise
    except OSError as error:
        _clear_debris(meta)
        raise StoreError(f"the commit could not be written ({_reason(error)}); nothing "
                         "changed: free some space (or fix the permissions) and try again") \
            from error
    try:
        _roll_forward(root, meta, entries, audit)
    except OSError as error:
        raise StoreError(f"the change is committed, but finishing it failed ({_reason(error)}"
                         "); the next meshctl command on these registries finishes it") \
            from error


def _reason(error: OSError) -> str:
    where = f": {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}"


def _prepare(meta: Path, ops: list[Op], audit: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every new file written and synced beside its target, then the journal: the commit
    point. Returns the journal's entries."""
    txn = meta / TXN
    txn.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    for number, op in enumerate(ops):
        _check_target(op.target)
        if op.data is None:
            entries.append({"target": op.target, "temp": None})
            continue
        temp = f"{TXN}/{number}.tmp"
        _write_synced(meta / temp, op.data, op.mode)
        entries.append({"target": op.target, "temp": temp})
        step(f"temp-written-{number}")
    _fsync_dir(txn)
    step("temps-synced")
    body = json.dumps({"format": FORMAT, "ops": entries, "audit": audit}).encode()
    _write_synced(meta / (JOURNAL + ".tmp"), body, 0o644)
    step("journal-temp-written")
    _io("rename")
    os.replace(meta / (JOURNAL + ".tmp"), meta / JOURNAL)
    try:
        _fsync_dir(meta)
    except OSError:
        pass  # the journal is in place: the commit is made, durable or not (fsync of a dir)
    step("journal-committed")
    return entries


def _clear_debris(meta: Path) -> None:
    """What a commit that failed before its commit point left: its temporary files."""
    with contextlib.suppress(OSError):
        (meta / (JOURNAL + ".tmp")).unlink(missing_ok=True)
        txn = meta / TXN
        if txn.is_dir():
            for leftover in txn.iterdir():
                leftover.unlink(missing_ok=True)


def recover(root: Path, meta: Path) -> bool:
    """Finish a commit a crash interrupted, or clear the debris of one that never reached
    its commit point. True when a commit was finished."""
    journal = meta / JOURNAL
    finished = False
    if journal.exists():
        try:
            body = json.loads(journal.read_text())
            if not isinstance(body, dict) or body.get("format") != FORMAT:
                raise ValueError(f"not a format {FORMAT} journal")
            entries = body["ops"]
            audit = body.get("audit")
            if not isinstance(entries, list) or not isinstance(audit, dict | None):
                raise TypeError("'ops' must be a list and 'audit' an object or null")
            for entry in entries:
                _check_target(entry["target"])
                if entry["temp"] is not None:
                    _check_target(entry["temp"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise JournalError(
                f"the commit journal {journal} is damaged ({error}); the registries may hold "
                "part of a commit: compare them with .meshctl/history, then remove the "
                "journal") from error
        _roll_forward(root, meta, entries, audit, recovered=True)
        finished = True
    (meta / (JOURNAL + ".tmp")).unlink(missing_ok=True)
    txn = meta / TXN
    if txn.is_dir():
        for leftover in txn.iterdir():
            leftover.unlink(missing_ok=True)
    return finished


def pending(meta: Path) -> bool:
    return (meta / JOURNAL).exists()


def _roll_forward(root: Path, meta: Path, entries: list[dict[str, Any]],
                  audit: dict[str, Any] | None, recovered: bool = False) -> None:
    folders: set[Path] = set()
    for number, entry in enumerate(entries):
        target = root / entry["target"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry["temp"] is None:
            target.unlink(missing_ok=True)
        else:
            temp = meta / entry["temp"]
            if temp.exists():
                _io("rename")
                os.replace(temp, target)
        folders.add(target.parent)
        step(f"renamed-{number}")
    for folder in sorted(folders):
        _fsync_dir(folder)
    step("targets-synced")
    if audit is not None:
        append_audit(meta, {**audit, "recovered": True} if recovered else audit)
        step("audit-appended")
    (meta / JOURNAL).unlink(missing_ok=True)
    _fsync_dir(meta)
    step("journal-removed")


def append_audit(meta: Path, record: dict[str, Any]) -> None:
    """One JSON line per attempted change. A recovered commit may already have its line
    (the crash came after the append): a revision is never written twice."""
    path = meta / AUDIT
    line = json.dumps(record, sort_keys=True)
    revision = record.get("revision")
    if revision is not None and path.exists() and _last_revision(path) == revision:
        return
    with open(path, "a", encoding="utf-8") as stream:
        _io("write")
        stream.write(line + "\n")
        stream.flush()
        _io("fsync")
        os.fsync(stream.fileno())


def _last_revision(path: Path) -> Any:
    with open(path, "rb") as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - 65536))
        lines = stream.read().splitlines()
    for raw in reversed(lines):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("revision") is not None:
            return record.get("revision")
    return None


def _check_target(target: str) -> None:
    """A journal names only files under the registries directory (it is a file anyone could
    edit: it must never be a way to write elsewhere)."""
    path = PurePosixPath(target)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\0" in target:
        raise JournalError(f"refusing journal target {target!r}: not a path under the "
                           "registries directory")


def _write_synced(path: Path, data: Data, mode: int) -> None:
    if callable(data):
        data = data()
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for piece in (data,) if isinstance(data, bytes) else data:
            if isinstance(piece, HeldSpan):
                _io("write")
                piece.copy_to(handle)
                continue
            view = memoryview(piece)
            while view:
                _io("write")
                written = os.write(handle, view)
                view = view[written:]
        os.fchmod(handle, mode)
        _io("fsync")
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _io("fsync")
        os.fsync(handle)
    finally:
        os.close(handle)
