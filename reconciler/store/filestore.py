"""The file store: live registries in AgentMesh's layout, changed by atomic, locked,
journaled commits.

It implements the `Store` interface (`store/base.py`), as the PostgreSQL and memory stores
do, and is the default. Everything meshctl keeps for itself lives in `<registries>/.meshctl/`
(lock, journal, history, audit, metadata, layouts), out of the sight of the AgentMesh
runtime, which reads `*.json` and `workflows/*.json` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from reconciler.errors import StalePlan, StoreError
from reconciler.fsutil import write_atomically
from reconciler.gcpause import gc_paused
from reconciler.model import kinds
from reconciler.model.live import LiveState
from reconciler.model.resource import ResourceKey
from reconciler.store import follower, history, journal, jsonspans, lock, writer
from reconciler.store.base import CaughtUp, Revision, SoleLease
from reconciler.store.heldfile import HeldFile, HeldSpan
from reconciler.store.history import CommitInfo
from reconciler.store.lazylist import Deferred, held
from reconciler.store.registry_files import (
    META as META,
)
from reconciler.store.registry_files import (
    FileDetail,
    FileRead,
    SavedDocuments,
    SavedLayouts,
    files_of,
    fingerprint_of,
    read_live_state,
    read_with_stat,
    refresh_live_state,
    registry_file_names,
    stat_key,
    with_commit,
)

LAYOUTS = f"{META}/layout.json"  # where the writer's maps of the list registries are kept
PROOFS = f"{META}/proofs.json"  # the settled reads of the files the last commit wrote
LAYOUTS_FORMAT = 2  # byte offsets
DEFAULT_LOCK_TIMEOUT = 10.0
SAVER_LOCK_TIMEOUT = 2.0  # a layout saver waits this long for a commit, then gives up
METADATA = "meta"  # the metadata area: <registries>/.meshctl/meta/<name>.json
FEED_POLL = 0.05  # how often a waiting reader of the change feed looks for a new revision
ChangeSet = Mapping[ResourceKey, dict[str, Any] | None]  # None: delete


default_info, now_text = history.default_info, history.now_text  # where they were


class Saved(NamedTuple):
    """What the layouts file holds: each list registry's layout with the digest of the bytes
    it describes (and the settled read that proved it), and each per-file registry file's
    settled read with its entry's id (`documents`)."""

    layouts: dict[str, tuple[str, jsonspans.ListLayout, FileRead | None]]
    documents: dict[str, tuple[str, FileRead]]



class FileStore:
    def __init__(self, root: str | os.PathLike[str], *,
                 lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.root = Path(root)
        self.meta = self.root / META
        self.lock_timeout = lock_timeout
        self._saver: threading.Thread | None = None
        self._saved_at: tuple[tuple[_FileKey, _FileKey], Saved] | None = None
        if not self.root.is_dir():
            raise StoreError(f"registries directory '{self.root}' not found")
        self._recover()

    def _recover(self) -> None:
        """Finish a commit a crash interrupted (under the write lock), if one is pending."""
        if journal.pending(self.meta):
            if not os.access(self.meta, os.W_OK):
                raise StoreError(f"an interrupted commit in {self.root} must be finished, "
                                 "but the registries are not writable: run meshctl once "
                                 "with write access")
            with lock.exclusive(self.meta, timeout=self.lock_timeout, purpose="recovery"):
                journal.recover(self.root, self.meta)

    def snapshot(self, *, lazy: bool = False, unread: bool = False) -> LiveState:
        """The live state. `lazy`: a list registry whose bytes a saved layout describes
        (same digest) is not decoded: its entries are, one by one, when asked for (a plan
        of a few keys in a 100,000-agent mesh, a library's cold load). `unread` (with
        `lazy`): a per-file registry file a saved settled read vouches for by its stat is
        not even read until its entry is asked for; then, if the file changed meanwhile,
        that entry raises StoreError. So for a short-lived reader (a plan), never for one
        that keeps the snapshot (the library); such a snapshot also holds the list
        registries open rather than in memory, and decodes the governance file's policies
        when asked for. One read in full saves its layouts and reads for the next: the
        layouts of files it decoded whole are found and saved on a thread of their own,
        after this returns (`wait_for_layouts`)."""
        if not lazy:
            return self._read(lambda: read_live_state(self.root))
        later: list[tuple[FileDetail, Saved]] = []

        def read() -> LiveState:
            saved = self._saved()
            live = read_live_state(self.root, saved.layouts,
                                   saved.documents if unread else None, hold=unread)
            self._keep_layouts(files_of(live), saved)  # under the shared lock
            if files_of(live).layouts.pending():
                later[:] = [(files_of(live), saved)]
            return live

        live = self._read(read)
        for files, saved in later:
            self._save_layouts_later(files, saved)
        return live

    def _save_layouts_later(self, files: FileDetail, saved: Saved) -> None:
        """Find and save the layouts a read left to be found, on another thread: the
        reader need not wait for them, the next process finds them saved."""
        saver = threading.Thread(target=self._lay_out_and_keep, args=(files, saved),
                                 name="meshctl-layouts", daemon=False)
        try:
            saver.start()
        except RuntimeError:  # (interpreter shutting down: they are found when needed)
            return
        self._saver = saver

    def wait_for_layouts(self, timeout: float | None = None) -> None:
        """Wait until the layouts the last lazy read left to be found are saved."""
        saver = self._saver
        if saver is not None:
            saver.join(timeout)

    def _lay_out_and_keep(self, files: FileDetail, saved: Saved) -> None:
        """Find the layouts `files` left pending, then save them under the shared lock
        (no commit half done). Best effort: a layout not saved is found again next time."""
        for relative in files.layouts.pending():
            known, read = saved.layouts.get(relative), files.reads.get(relative)
            if known is not None and read is not None and known[0] == read.digest:
                files.layouts[relative] = known[1]  # saved for these very bytes: not found again
            else:
                files.layouts.get(relative)
        if not self.root.is_dir():
            return  # (the registries were removed meanwhile: create nothing)
        with contextlib.suppress(StoreError, OSError), \
                lock.shared(self.meta, timeout=SAVER_LOCK_TIMEOUT):
            if not journal.pending(self.meta):
                self._keep_layouts(files, saved)

    def _keep_layouts(self, files: FileDetail, saved: Saved) -> None:
        """Save beside the registries the layouts this read found (a foreign edit's
        bytes), the settled reads that proved a saved layout's digest, and those of the
        per-file registry files read whole, so the next lazy read neither decodes nor
        hashes (nor, for those files, reads) them again. Best effort: a read-only store
        reads in full, or hashes, each time."""
        kept = self._layouts_to_keep(files, saved.layouts)
        documents = self._documents_to_keep(files, saved.documents)
        if not kept and documents is None:
            return
        with contextlib.suppress(OSError):
            try:
                body = orjson.loads((self.root / LAYOUTS).read_bytes())
                if body.get("format") != LAYOUTS_FORMAT or not isinstance(body["files"], dict):
                    raise ValueError
            except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError,
                    ValueError):
                body = {"format": LAYOUTS_FORMAT, "files": {}}
            body["files"].update(kept)
            if documents is not None:
                body["documents"] = _documents_json(documents)
            self.meta.mkdir(exist_ok=True)
            write_atomically(self.root / LAYOUTS, orjson.dumps(body))

    def _layouts_to_keep(self, files: FileDetail, saved: SavedLayouts
                         ) -> dict[str, dict[str, Any]]:
        """The list registries' layouts and settled reads this read has news of (of files
        still as it read them)."""
        kept: dict[str, dict[str, Any]] = {}
        for kind in kinds.KIND_ORDER:
            relative = kinds.info(kind).registry_file
            layout, read = files.layouts.peek(relative), files.reads.get(relative)
            current = _stat_or_none(self.root / relative)
            if layout is None or read is None or current is None or \
                    stat_key(current) != read.stat:
                continue
            settled = read.unchanged(current)
            known = saved.get(relative)
            if known is not None and known[0] == read.digest and (
                    not settled or known[2] == read):
                continue  # nothing new to say about it
            kept[relative] = {"digest": read.digest, "layout": layout.to_json(),
                              **({"read": _read_json(read)} if settled else {})}
        return kept

    def _documents_to_keep(self, files: FileDetail, saved: SavedDocuments
                           ) -> dict[str, tuple[str, FileRead]] | None:
        """The per-file registry files whose read can vouch for their entry next time
        (read whole and clean, settled), when that is not what is saved (None)."""
        found: dict[str, tuple[str, FileRead]] = {}
        for relative, name in files.documents.items():
            read = files.reads.get(relative)
            if read is not None and (saved.get(relative) == (name, read) or read.unchanged(
                    _stat_or_none(self.root / relative))):
                found[relative] = (name, read)
        return None if found == saved else found

    def refresh(self, previous: LiveState) -> LiveState:
        """`snapshot()`, reading again only the files that changed since `previous`."""
        return self._read(lambda: refresh_live_state(previous))

    def _read(self, reader: Any) -> LiveState:
        while True:
            self._recover()
            with lock.shared(self.meta, timeout=self.lock_timeout):
                # A journal seen under the shared lock was left by a writer that died while
                # this waited for it: finish that commit first, never read half of it.
                if not journal.pending(self.meta):
                    live: LiveState = reader()
                    return live

    def fingerprint(self) -> str:
        return self.snapshot().fingerprint

    def commit(self, changes: ChangeSet, *, expected: str, info: CommitInfo,
               befores: ChangeSet | None = None, stale_detail: Any = None,
               known: LiveState | None = None, epoch: int | None = None) -> Revision:
        """Apply `changes` if the live state still has fingerprint `expected`, as one revision.

        `befores` (each changed resource's live entry when the plan was made, None for a
        create) lets a commit whose fingerprint matches skip parsing the registries: same
        bytes, same entries. `stale_detail(live, since)` may phrase what changed when the
        state moved on. `known`, the state the change was planned from, lets a file whose
        stat shows it unchanged since (`FileRead.unchanged`) go unhashed, and unread unless
        the change rewrites it."""
        purpose = f"commit ({info.source})"
        with gc_paused(), lock.exclusive(self.meta, timeout=self.lock_timeout, purpose=purpose):
            journal.recover(self.root, self.meta)
            texts, digests = self._current(_touched(changes), known)
            if fingerprint_of(digests) != expected:
                live = read_live_state(self.root)
                since = history.revisions_since(self.meta, expected)
                detail = stale_detail(live, since) if stale_detail else ""
                reason = detail or "the live registries changed since it was made"
                raise StalePlan(f"stale plan: {reason}; re-run plan")
            if befores is None:
                live = read_live_state(self.root)
                if live.diagnostics:
                    first = live.diagnostics[0]
                    raise StoreError("the live registries could not be read completely ("
                                     f"{first.file}: {first.message}); fix them first")
                befores = {key: _before(live, key) for key in changes}
            return self._write(texts, digests, expected, changes, befores, info, known)

    def _current(self, touched: set[str], known: LiveState | None
                 ) -> tuple[dict[str, bytes | HeldFile], dict[str, str]]:
        """The bytes of the files the change rewrites (a file the snapshot holds open, as
        it is: the writer copies its untouched spans), and every registry file's digest:
        known when its stat vouches for it, else hashed."""
        texts: dict[str, bytes | HeldFile] = {}
        digests: dict[str, str] = {}
        for name in registry_file_names(self.root):
            path = self.root / name
            read = files_of(known).reads.get(name) if known is not None else None
            if read is not None:
                try:
                    vouched = read.unchanged(os.stat(path))
                except OSError:
                    vouched = False
                if vouched:
                    digests[name] = read.digest
                    if name in touched:  # kept from the read, when it was: else read
                        assert known is not None
                        texts[name] = files_of(known).source_of(name) or path.read_bytes()
                    continue
            data = path.read_bytes()
            kept = files_of(known).bytes_of(name) if read is not None and known else None
            # The bytes the read kept are the ones its digest is of: equal bytes (a memcmp)
            # need no hashing, which a write right after a foreign edit would otherwise pay.
            digests[name] = read.digest if read is not None and kept == data else \
                hashlib.sha256(data).hexdigest()
            if name in touched:
                texts[name] = data
        return texts, digests

    def _write(self, texts: dict[str, bytes | HeldFile], digests: dict[str, str], before_print: str,
               changes: ChangeSet, befores: ChangeSet, info: CommitInfo,
               known: LiveState | None) -> Revision:
        now = now_text()
        saved = self._saved()
        layouts = {**_layouts_read(known, digests), **{
            relative: layout for relative, (digest, layout, _) in saved.layouts.items()
            if digests.get(relative) == digest}}
        contents: list[writer.FileContent] = []
        for kind in kinds.KIND_ORDER:
            of_kind = {key.name: entry for key, entry in changes.items() if key.kind is kind}
            if of_kind:
                contents += writer.render_files(kind, of_kind, texts.get, now, layouts)
        number = history.next_number(self.meta)
        proofs = self._proofs(set(layouts) - {content.relative for content in contents},
                              digests, known, saved)
        with ThreadPoolExecutor(max_workers=1) as hasher:
            # The new files are hashed on a second thread while this one writes and fsyncs
            # them (both let go of the GIL); the revision record and the layouts, which need
            # the digests, are the journal's last files, made when their turn comes.
            hashing = {content.relative: hasher.submit(_digest, content.pieces)
                       for content in contents if content.pieces is not None}
            settled: dict[str, Any] = {}

            def after() -> dict[str, Any]:
                if not settled:
                    new = {**digests, **{name: job.result() for name, job in hashing.items()}}
                    for content in contents:
                        if content.pieces is None:
                            new.pop(content.relative, None)
                    written = {content.relative: new.get(content.relative)
                               for content in contents}
                    settled.update(digests=new, written=written, record=history.record(
                        number, now, info, before_print, fingerprint_of(new), changes,
                        befores, files=[content.relative for content in contents],
                        digests=written))
                return settled

            ops = [journal.Op(content.relative, content.pieces, self._mode_of(content.relative))
                   if content.pieces is not None else journal.Op(content.relative, None)
                   for content in contents]
            ops.append(journal.Op(history.relative_path(number),
                                  lambda: orjson.dumps(after()["record"])))
            ops.append(journal.Op(LAYOUTS, lambda: _layouts_file(
                layouts, contents, after()["digests"], saved.documents, proofs)))
            journal.commit(self.root, self.meta, ops,
                           history.commit_audit(number, now, info, len(changes)))
        record = after()["record"]
        reads = self._reads(after()["written"])
        self._keep_proofs(reads)
        return Revision(number, before_print, record["fingerprint_after"],
                        tuple(content.relative for content in contents), record,
                        reads,
                        {content.relative: content for content in contents
                         if content.layout is not None and content.pieces is not None})

    def _proofs(self, kept: set[str], digests: Mapping[str, str], known: LiveState | None,
                saved: Saved) -> dict[str, FileRead]:
        """The settled reads (the snapshot's, or saved) that vouch for the files of `kept`
        layouts a commit leaves as they were: kept beside them, so that the next lazy read
        need not hash them (after a tools-only commit, the 280 MB agent registry)."""
        reads = files_of(known).reads if known is not None and \
            isinstance(known.private, FileDetail) else {}
        found: dict[str, FileRead] = {}
        for relative in kept:
            now = _stat_or_none(self.root / relative)
            for read in (reads.get(relative), saved.layouts.get(relative, ("", None, None))[2]):
                if read is not None and read.digest == digests.get(relative) and \
                        read.unchanged(now):
                    found[relative] = read
                    break
        return found

    def _reads(self, written: dict[str, str | None]) -> dict[str, FileRead | None]:
        """What the commit left in each file it wrote, as a reader would record it."""
        reads: dict[str, FileRead | None] = {}
        for relative, digest in written.items():
            try:
                reads[relative] = None if digest is None else FileRead(
                    digest, stat_key(os.stat(self.root / relative)), time.time_ns())
            except OSError:
                reads[relative] = None
        return reads

    def _keep_proofs(self, reads: Mapping[str, FileRead | None]) -> None:
        """Keep the settled reads of the files a commit wrote, taken once it was done.

        The layouts file names each written file's digest, but is itself written before
        the files are renamed into place (which changes their ctime), so it cannot say
        they are still those bytes: without this, the next lazy read hashes the files a
        commit wrote (the 280 MB agent registry, 0.16 s). A file is renamed in only after
        it was synced, so its mtime is well before the stat taken here, which therefore
        vouches for it (`FileRead.settled`). Not part of the commit: lost or stale, a
        proof vouches for nothing (its digest and stat must match) and the file is hashed."""
        settled = {relative: {"digest": read.digest, "read": _read_json(read)}
                   for relative, read in reads.items() if read is not None and read.settled}
        with contextlib.suppress(OSError):  # (written even empty: the last commit's own)
            write_atomically(self.root / PROOFS, orjson.dumps(
                    {"format": LAYOUTS_FORMAT, "reads": settled}), mode=0o600)

    def _saved(self) -> Saved:
        """What the layouts file holds; a missing or damaged part is nothing (the writer
        scans, the reader reads in full). Kept while neither it nor the proofs file moves:
        an apply asks twice (its plan's snapshot, then the commit), and at 100,000 agents
        decoding it costs 0.06 s. Stat-ed before they are read, so a file replaced
        meanwhile is read again next time; and a layout is only ever used for the bytes
        whose digest it names."""
        at = (_file_key(self.root / LAYOUTS), _file_key(self.root / PROOFS))
        kept = self._saved_at
        if kept is not None and kept[0] == at and at[0] is not None:
            return kept[1]
        found = self._saved_now()
        self._saved_at = (at, found)
        return found

    def _saved_now(self) -> Saved:
        try:
            body = orjson.loads((self.root / LAYOUTS).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return Saved({}, {})
        if not isinstance(body, dict) or body.get("format") != LAYOUTS_FORMAT:
            return Saved({}, {})
        return Saved(_with_proofs(_saved_layouts(body), self._proofs_kept()),
                     _saved_documents(body))

    def _proofs_kept(self) -> dict[str, FileRead]:
        """The reads `_keep_proofs` kept (none when absent or damaged)."""
        try:
            body = orjson.loads((self.root / PROOFS).read_bytes())
            if not isinstance(body, dict) or body.get("format") != LAYOUTS_FORMAT:
                return {}
            return {relative: _file_read(str(item["digest"]), item["read"])
                    for relative, item in body["reads"].items()}
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError,
                ValueError, IndexError):
            return {}

    def lead(self, name: str, on_lost: Callable[[], Any] | None = None) -> SoleLease:
        """A file store runs one controller (on its host) and elects none."""
        return SoleLease()

    @contextlib.contextmanager
    def write_turn(self) -> Iterator[None]:
        """Writers take turns at the commit itself here (its lock): nothing to wait for."""
        yield None

    # -- history, the change feed, the audit log and the metadata area (store.base.Store) --

    @property
    def location(self) -> str:
        return str(self.root)

    def revisions(self) -> list[int]:
        return history.numbers(self.meta)

    def revision(self, number: int) -> dict[str, Any]:
        return history.load(self.meta, number)

    def revisions_after(self, number: int, *, wait: float = 0.0) -> list[dict[str, Any]]:
        """Every revision after `number`, oldest first; when there is none yet, wait up to
        `wait` seconds for one. A revision's record is written inside its commit's journal,
        so one that is listed is complete (the recovery of a crashed commit included)."""
        deadline = time.monotonic() + wait
        while True:
            self._recover()
            newer = [n for n in history.numbers(self.meta) if n > number]
            if newer or time.monotonic() >= deadline:
                return [history.load(self.meta, n) for n in newer]
            time.sleep(min(FEED_POLL, max(deadline - time.monotonic(), 0.0)))

    def audit_log(self) -> list[dict[str, Any]]:
        try:
            lines = (self.meta / journal.AUDIT).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [orjson.loads(line) for line in lines if line.strip()]

    def get_meta(self, name: str) -> Any:
        try:
            return orjson.loads((self.meta / METADATA / f"{_meta_name(name)}.json").read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as error:
            raise StoreError(f"the store's metadata '{name}' is damaged: {error}") from error

    def put_meta(self, name: str, value: Any) -> None:
        folder = self.meta / METADATA
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(folder / f"{_meta_name(name)}.json", orjson.dumps(value))
        except OSError as error:
            raise StoreError(f"cannot write the store's metadata '{name}': "
                             f"{error.strerror or error}") from error

    # -- following the files (for long-lived readers) ------------------------------------

    def head(self) -> int:
        numbers = history.numbers(self.meta)
        return numbers[-1] if numbers else 0

    def is_current(self, live: LiveState, verified: frozenset[str] = frozenset()) -> bool:
        """Do the files still hold what `live` was read from? Their stat says so once
        settled; a file seen too soon after it was written (its stat cannot vouch yet) is
        hashed again instead, and its read renewed. `verified` files were just checked."""
        files = files_of(live)
        reads = files.reads
        names = registry_file_names(self.root)
        if len(names) != len(reads):
            return False
        renewed: dict[str, FileRead] = {}
        for name in names:
            read = reads.get(name)
            path = self.root / name
            try:
                current = os.stat(path)
            except OSError:
                return False
            if read is None or stat_key(current) != read.stat:
                return False
            if name in verified or read.unchanged(current):
                continue
            again = _read_checked(path, read.digest, files.bytes_of(name))  # same bytes?
            if again is None:
                return False
            renewed[name] = again
        if renewed:  # the same content, now seen later: the stat may vouch for it next time
            files.reads = {**reads, **renewed}
        return True

    def catch_up(self, live: LiveState, revision: int) -> CaughtUp:
        """`live` (at `revision`) brought up to date: the revisions other meshctl writers
        committed since are applied from their history records, once the files are checked
        to hold what those records say; otherwise the files that changed are read again."""
        applied = self._applied_revisions(live, revision)
        if applied is not None:
            return applied
        after = self.refresh(live)
        return CaughtUp(after, _changed_keys(live, after), self.head())

    def _applied_revisions(self, live: LiveState, revision: int) -> CaughtUp | None:
        newer = [n for n in history.numbers(self.meta) if n > revision]
        if not newer:
            return None
        final: dict[str, str | None] = {}
        changed: list[ResourceKey] = []
        try:
            for number in newer:
                record = history.load(self.meta, number)
                if record["fingerprint_before"] != live.fingerprint or "digests" not in record:
                    return None
                changes = {ResourceKey(kinds.Kind(c["kind"]), c["name"]): c["after"]
                           for c in record["changes"]}
                digests: dict[str, str | None] = record["digests"]
                placeholder = {name: None if digest is None else FileRead(digest, (0, 0, 0, 0), 0)
                               for name, digest in digests.items()}
                applied = with_commit(live, changes, placeholder, record["time"])
                if applied is None:
                    return None
                live = applied
                final.update(digests)
                changed += changes
        except (StoreError, KeyError, TypeError, ValueError):
            return None
        reads = dict(files_of(live).reads)
        for name, digest in final.items():  # the files must hold what the records say
            path = self.root / name
            if digest is None:
                if path.exists():
                    return None
                continue
            read = _read_checked(path, digest)
            if read is None:
                return None
            reads[name] = read
        files_of(live).reads = reads
        if not self.is_current(live, frozenset(final)):
            return None  # something else changed too
        return CaughtUp(live, changed, newer[-1])

    def after_commit(self, live: LiveState, entries: ChangeSet,
                     revision: Revision) -> CaughtUp:
        """The snapshot after `revision`, this process's commit of `entries` onto `live`:
        derived without reading when that is exact, else read (what changed: not known)."""
        after = with_commit(live, entries, revision.reads, revision.record["time"])
        if after is None:
            return CaughtUp(self.refresh(live), None, revision.number)
        files = files_of(after)
        for relative, content in revision.written.items():  # what the next write splices
            files.layouts[relative], files.data[relative] = content.layout, content.pieces
        return CaughtUp(after, list(entries), revision.number)

    def follow(self, method: Callable[[int | None], Any], owner: object,
               poll_interval: float) -> follower.Subscription:
        """A watch of the folder (shared in this process) calling `method` after each file
        event and every `poll_interval` seconds, for as long as `owner` lives."""
        return follower.Follower.subscribe(self.root, method, owner, poll_interval)

    def audit(self, record: dict[str, Any]) -> None:
        """Record an attempt that changed nothing (refused, failed), best effort."""
        with contextlib.suppress(OSError):  # a read-only store still refuses, just unrecorded
            self.meta.mkdir(parents=True, exist_ok=True)
            journal.append_audit(self.meta, {"time": now_text(), **record})

    def _mode_of(self, relative: str) -> int:
        """Keep a file's permission bits (upstream's writer turns 0644 into 0600)."""
        try:
            return stat.S_IMODE((self.root / relative).stat().st_mode)
        except FileNotFoundError:
            return 0o644


def _changed_keys(before: LiveState, after: LiveState) -> list[ResourceKey] | None:
    """The keys whose entries a re-read replaced: the reader keeps the very entry objects
    of what it did not decode again (unchanged files, entries outside an edit's bytes), and
    the very files it did not read yet, so identity tells. None (compare all) when most of
    a registry was decoded again, or when `before` can no longer give an entry it had not
    decoded (a plan's snapshot whose held file was edited in place)."""
    changed: list[ResourceKey] = []
    for kind in kinds.Kind:
        old, new = held(before.state.of_kind(kind)), held(after.state.of_kind(kind))
        if old is new:
            continue
        for name in old.keys() | new.keys():
            try:
                was, now = old.get(name), new.get(name)
            except StoreError:
                return None
            if was is None or now is None or _identity(was) is not _identity(now):
                changed.append(ResourceKey(kind, name))
        if len(changed) > 100 + len(new) // 10:
            return None
    return changed


def _identity(item: Any) -> object:
    """What stays the same object while an entry is not read again."""
    return item if isinstance(item, Deferred) else item.entry


def _saved_layouts(body: dict[str, Any]) -> dict[str, tuple[str, jsonspans.ListLayout,
                                                             FileRead | None]]:
    """Every saved layout with the digest of the bytes it describes and, when a reader
    kept it, the read that proved that digest (none when damaged)."""
    try:
        found = {}
        for relative, item in body["files"].items():
            digest = str(item["digest"])
            read = item.get("read")
            found[relative] = (digest, jsonspans.ListLayout.from_json(item["layout"]),
                               _file_read(digest, read) if read is not None else None)
        return found
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        return {}


def _with_proofs(layouts: dict[str, tuple[str, jsonspans.ListLayout, FileRead | None]],
                 proofs: Mapping[str, FileRead]
                 ) -> dict[str, tuple[str, jsonspans.ListLayout, FileRead | None]]:
    """The saved layouts, each without a read given the kept proof of its very bytes."""
    for relative, (digest, layout, read) in layouts.items():
        proof = proofs.get(relative)
        if read is None and proof is not None and proof.digest == digest:
            layouts[relative] = (digest, layout, proof)
    return layouts


def _saved_documents(body: dict[str, Any]) -> dict[str, tuple[str, FileRead]]:
    """Every saved read of a per-file registry file, with its entry's id (none when
    damaged)."""
    try:
        found = {}
        for relative, item in body.get("documents", {}).items():
            name = item["id"]
            if not isinstance(name, str):
                raise TypeError
            found[relative] = (name, _file_read(str(item["digest"]), item["read"]))
        return found
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):
        return {}


def _file_read(digest: str, saved: Any) -> FileRead:
    """A `FileRead` from its saved `[[size, mtime_ns, ctime_ns, inode], seen_at]`."""
    size, mtime, ctime, inode = map(int, saved[0])
    return FileRead(digest, (size, mtime, ctime, inode), int(saved[1]))


def _read_json(read: FileRead) -> list[Any]:
    """A `FileRead`'s stat and time, as `_file_read` reads them back."""
    return [list(read.stat), read.seen_at]


def _documents_json(documents: SavedDocuments) -> dict[str, Any]:
    return {relative: {"digest": read.digest, "id": name,
                       "read": _read_json(read)}
            for relative, (name, read) in documents.items()}


_FileKey = tuple[int, int, int, int] | None  # inode, size, mtime_ns, ctime_ns; None: no file


def _file_key(path: Path) -> _FileKey:
    found = _stat_or_none(path)
    return None if found is None else (found.st_ino, found.st_size, found.st_mtime_ns,
                                       found.st_ctime_ns)


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _layouts_read(known: LiveState | None, digests: Mapping[str, str]
                  ) -> dict[str, jsonspans.ListLayout]:
    """The layouts the reader found when it read `known`, of the files still as it read them
    (after a foreign edit the saved layouts are of the old bytes; these are of the new)."""
    if known is None or not isinstance(known.private, FileDetail):
        return {}
    files = known.private
    return {relative: layout for relative, layout in files.layouts.items()
            if (read := files.reads.get(relative)) is not None
            and digests.get(relative) == read.digest}


def _layouts_file(known: Mapping[str, jsonspans.ListLayout],
                  contents: list[writer.FileContent], digests: Mapping[str, str],
                  documents: SavedDocuments, proofs: Mapping[str, FileRead]) -> bytes:
    """The layouts of the list registries as this commit leaves them: the new layout of each
    file it writes, the known one of each it does not (`digests` are the new digests) with
    the settled read that vouches for it (`proofs`); and the saved reads of the per-file
    registry files it leaves as they were."""
    layouts = dict(known)
    for content in contents:
        layouts.pop(content.relative, None)
        if content.layout is not None:
            layouts[content.relative] = content.layout
    written = {content.relative for content in contents}
    kept = {relative: (name, read) for relative, (name, read) in documents.items()
            if relative not in written and digests.get(relative) == read.digest}
    return orjson.dumps({"format": LAYOUTS_FORMAT, "files": {
        relative: {"digest": digests[relative], "layout": layout.to_json(), **(
            {"read": _read_json(proofs[relative])} if relative in proofs else {})}
        for relative, layout in layouts.items() if relative in digests},
        **({"documents": _documents_json(kept)} if kept else {})})


def _digest(pieces: tuple[writer.Piece, ...]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        if isinstance(piece, HeldSpan):
            piece.hash_into(digest)
        else:
            digest.update(piece)
    return digest.hexdigest()


def _read_checked(path: Path, digest: str, kept: bytes | None = None) -> FileRead | None:
    """The file's read when its bytes have `digest` (or are `kept`, bytes known to have
    it: compared, not hashed), else None."""
    try:
        data, stat_of, seen_at = read_with_stat(path)
    except OSError:
        return None
    if data != kept and hashlib.sha256(data).hexdigest() != digest:
        return None
    return FileRead(digest, stat_of, seen_at)


def _meta_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise StoreError(f"bad metadata name {name!r}: letters, digits, '-' and '_' only")
    return name


def _touched(changes: ChangeSet) -> set[str]:
    """The registry files a change set rewrites (relative)."""
    return {kinds.file_of(key.kind, key.name) for key in changes}


def _before(live: LiveState, key: ResourceKey) -> dict[str, Any] | None:
    resource = live.state.get(key)
    return resource.entry if resource else None
