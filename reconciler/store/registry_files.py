"""Read the AgentMesh live registries (its JSON layout) into a `LiveState`.

Called by the engine and the CLI. Entries keep their keys and order exactly; a file's own keys
(`version`, `last_updated`, `_comment`) are kept in `headers` for the writer. Nothing is ever
skipped silently: an entry that cannot be keyed is reported and kept in `unkeyed` so a later
write can put it back, where the upstream runtime would drop it on its next save.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, cast

import orjson

from reconciler.errors import Diagnostic, Severity, StoreError
from reconciler.gcpause import gc_paused
from reconciler.model import kinds
from reconciler.model.kinds import Kind, Layout
from reconciler.model.live import LiveState
from reconciler.model.resource import Resource, ResourceKey, Source
from reconciler.store import jsonspans
from reconciler.store.heldfile import HeldFile, joined, span_of
from reconciler.store.layouts import Layouts, PendingLayout
from reconciler.store.lazylist import (
    DecodedEntries,
    Deferred,
    LazyDocuments,
    LazyEntries,
    held,
)

# A file's stat can stand for its content only once its mtime is older than the moment it
# was observed by more than the clock tick of the file system's timestamps: a later write
# then always shows as a new mtime. Whole-second timestamps (FAT, some network file systems)
# get git's 2 s; others (ext4, xfs, btrfs, tmpfs: nanoseconds, from the kernel's coarse
# clock, which ticks every 1 to 10 ms) 20 ms.
COARSE_NS = 2_000_000_000
FINE_NS = 20_000_000


META = ".meshctl"  # meshctl's own folder beside the registries (the runtime never reads it)

@dataclass(frozen=True, slots=True)
class FileRead:
    """One registry file as last read or written: its digest, and its stat at that moment,
    so that a later stat can tell, without reading 26 MB again, that it has not changed."""

    digest: str
    stat: tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
    seen_at: int  # time.time_ns() when that stat was taken

    def unchanged(self, current: os.stat_result | None) -> bool:
        """Is the file certainly what it was (same stat, and settled when seen)?"""
        return current is not None and stat_key(current) == self.stat and self.settled

    @property
    def settled(self) -> bool:
        """Was the file modified long enough before `seen_at` that a later write moves its
        mtime past the one seen (so an equal stat later means the same bytes)?"""
        mtime = self.stat[1]
        margin = COARSE_NS if mtime % 1_000_000_000 == 0 else FINE_NS
        return self.seen_at - mtime >= margin


def stat_key(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def read_with_stat(path: Path) -> tuple[bytes, tuple[int, int, int, int], int]:
    """A file's bytes, its stat as they were read, and when (for `FileRead`); OSError."""
    with open(path, "rb") as handle:
        seen_at = time.time_ns()
        stat = stat_key(os.fstat(handle.fileno()))
        return handle.read(), stat, seen_at


@dataclass(slots=True)
class FileDetail:
    """A file store's own part of a `LiveState` (its `private`): where the files are, and
    each file's digest and stat as read, so a later stat can tell what changed."""

    root: Path
    file_digests: dict[str, str] = field(default_factory=dict)
    reads: dict[str, FileRead] = field(default_factory=dict)
    # where everything is in a list registry's bytes (for the writer; valid while the
    # file's digest is the one in `reads`): found by the read, or when first asked for
    layouts: Layouts = field(default_factory=Layouts)
    # and those bytes themselves (or the pieces a commit wrote them from, joined when first
    # needed; or, for a plan's snapshot, the file held open): the next reload decodes only
    # what an edit changed, a write need not re-read
    data: dict[str, bytes | tuple[Any, ...] | HeldFile] = field(default_factory=dict)
    # the id in each per-file registry file read whole and clean (keyed; no problem but
    # L005): its read, once settled, can vouch for that entry in a later process
    documents: dict[str, str] = field(default_factory=dict)

    def bytes_of(self, relative: str) -> bytes | None:
        """The bytes of `relative` as read or written, when kept (a held file's read from
        it each time: None once it no longer holds them)."""
        kept = self.data.get(relative)
        if kept is None or isinstance(kept, bytes):
            return kept
        if isinstance(kept, HeldFile):
            return kept.whole()
        whole = self.data[relative] = joined(kept)
        return whole

    def source_of(self, relative: str) -> bytes | HeldFile | None:
        """What a commit rewriting `relative` splices: the file held open as it is (when the
        snapshot holds it and it still holds those bytes), else its bytes when kept."""
        kept = self.data.get(relative)
        if isinstance(kept, HeldFile) and kept.intact():
            return kept
        return self.bytes_of(relative)


def files_of(live: LiveState) -> FileDetail:
    """The file detail of a snapshot a file store made."""
    detail = live.private
    if not isinstance(detail, FileDetail):
        raise TypeError("this snapshot was not read from registry files")
    return detail


def new_live(root: Path) -> LiveState:
    """An empty snapshot of the registries under `root`, to be filled by the reader."""
    return LiveState(place=lambda key: str(root / file_of(key)), private=FileDetail(root))


def file_of(key: ResourceKey) -> str:
    """The registry file (relative) that holds `key`."""
    return kinds.file_of(key.kind, key.name)


def seal(live: LiveState) -> LiveState:
    """Set the revision token from the file digests once the reader has finished."""
    live.fingerprint = fingerprint_of(files_of(live).file_digests)
    return live


def fingerprint_of(file_digests: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(file_digests):
        digest.update(f"{name}\0{file_digests[name]}\n".encode())
    return digest.hexdigest()


def registry_file_names(root: Path) -> list[str]:
    """Every file the reader reads (relative), existing ones only: the fingerprint's scope."""
    found: list[str] = []
    for kind in kinds.KIND_ORDER:
        relative = kinds.info(kind).registry_file
        if kinds.info(kind).layout is Layout.PER_FILE:
            found += [f"{relative}/{name}" for name in document_names(root / relative) or ()]
        elif (root / relative).is_file():
            found.append(relative)
    return found


def document_names(folder: Path) -> list[str] | None:
    """The files of a per-file registry, sorted: what `folder.glob("*.json")` finds, in a
    fifth of its time; None when there is no such folder."""
    try:
        with os.scandir(folder) as found:
            return sorted(entry.name for entry in found if entry.name.endswith(".json"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:  # as glob: an unreadable folder lists nothing
        return []


SavedLayouts = Mapping[str, tuple[str, jsonspans.ListLayout, FileRead | None]]
# per-file registry files (relative) a settled read found clean: the id of their entry
SavedDocuments = Mapping[str, tuple[str, FileRead]]


def read_live_state(root: str | os.PathLike[str], layouts: SavedLayouts | None = None,
                    documents: SavedDocuments | None = None, *, hold: bool = False
                    ) -> LiveState:
    """Every registry under `root`; a missing file reads as empty.

    Each file's SHA-256 (for the fingerprint) is computed on a second thread while this one
    decodes: hashlib lets go of the GIL, so on two cores the hashing is free. `layouts`:
    saved layouts of list registries, each with the digest of the bytes it describes (and
    the read that proved it, if kept); a file with those very bytes is not decoded, its
    entries are when first asked for (`lazylist.LazyEntries`). `documents`: saved reads of
    per-file registry files; a file whose stat they vouch for is not even read, its entry
    is when first asked for (`lazylist.LazyDocuments`). `hold` (a short-lived reader's):
    a file a layout describes is held open rather than read (`heldfile.HeldFile`), and the
    governance file is laid out too, its policies decoded when first asked for."""
    return _read(new_live(Path(root)), None, layouts, documents, hold)


def refresh_live_state(previous: LiveState) -> LiveState:
    """`previous` brought up to date with the files as they are now: a file whose stat shows
    it unchanged (`FileRead.unchanged`) keeps what was read from it; the others are read
    again. The result equals a fresh `read_live_state`."""
    return _read(new_live(files_of(previous).root), previous)


def _read(live: LiveState, previous: LiveState | None, layouts: SavedLayouts | None = None,
          documents: SavedDocuments | None = None, hold: bool = False) -> LiveState:
    with gc_paused(), ThreadPoolExecutor(max_workers=1) as hasher:
        reader = _Reader(live, previous, hasher, documents or {}, layouts is not None, hold)
        lazily = {Layout.LIST, Layout.POLICY_MAP} if hold else {Layout.LIST}
        for kind in kinds.KIND_ORDER:
            layout = kinds.info(kind).layout
            if layout is Layout.PER_FILE:
                _read_per_file(reader, kind)
            elif layouts and layout in lazily and _read_lazily(reader, kind, layouts, hold):
                continue
            elif hold and layout in lazily and _hold_laid_out(reader, kind):
                continue
            elif not reader.reuse_kind(kind):
                _READERS[layout](reader, kind)
        reader.finish()
    return seal(live)


def _read_lazily(reader: _Reader, kind: Kind, layouts: SavedLayouts, hold: bool) -> bool:
    """A registry whose bytes a saved layout describes (the same SHA-256: hashed here,
    unless a settled read of the same stat proved it): its header decoded, its entries left
    to `LazyEntries`, the bytes in memory or (`hold`) the file held open. False when it
    cannot be (then it is read as usual)."""
    info = kinds.info(kind)
    relative = info.registry_file
    saved = layouts.get(relative)
    if saved is None or saved[1].list_key != info.collection_key:
        return False
    digest, layout, proved = saved
    path = reader.root / relative
    found = _laid_out_bytes(str(path), digest, proved, hold)
    if found is None:
        return False
    data, read = found
    try:
        header = _header_of(data, layout)
    except (orjson.JSONDecodeError, StoreError):
        return False
    return _serve_lazily(reader, kind, data, read, layout, header)


def _header_of(data: bytes | HeldFile, layout: jsonspans.ListLayout) -> dict[str, Any]:
    """A list registry's members but its entry list, decoded from their spans, in the
    file's order (raises orjson.JSONDecodeError, or StoreError for a held file moved)."""
    document: dict[str, Any] = {}
    for member in layout.members:
        document[member.key] = None if member is layout.entry_list else orjson.loads(
            span_of(data, member.value.start, member.value.end))
    return {k: v for k, v in document.items() if k != layout.list_key}


def _serve_lazily(reader: _Reader, kind: Kind, data: bytes | HeldFile, read: FileRead,
                  layout: jsonspans.ListLayout, header: dict[str, Any]) -> bool:
    """Put a laid-out list registry in the snapshot, its entries decoded when asked for
    (`LazyEntries`); False when its layout keys no entry list (an id missing or twice)."""
    relative = kinds.info(kind).registry_file
    entries = LazyEntries.of(kind, data, layout, Source(str(reader.root / relative)))
    if entries is None:
        return False
    files = reader.files
    files.reads[relative], files.file_digests[relative] = read, read.digest
    files.layouts[relative], files.data[relative] = layout, data
    reader.live.headers[kind] = header
    reader.live.state.resources[kind] = cast(dict[str, Resource], entries)
    return True


def _hold_laid_out(reader: _Reader, kind: Kind) -> bool:
    """A list registry (or the governance file) no saved layout describes (never read by
    meshctl, or edited by another program), for a short-lived reader: laid out now, each
    entry proved by decoding it (and writing it, for the depth no JSON writer of meshctl's
    exceeds) but not kept, and the file held open as when a layout is saved. A plan of
    100,000 agents then holds ids and offsets, not 830 MB of decoded entries (nor 47 MB
    of decoded policies). False (read as usual) when the read is not settled, or the file
    is not laid out one entry per block with a string id each, once."""
    info = kinds.info(kind)
    path = reader.root / info.registry_file
    try:
        seen_at = time.time_ns()
        held_open, now = HeldFile.open(str(path))
        if not S_ISREG(now.st_mode):  # (a folder in its place: the usual read says so)
            return False
        data = held_open.whole()
    except OSError:
        return False
    if data is None:
        return False
    hashing = reader.hasher.submit(_sha256, data)
    try:
        layout = _laid_out_writable(data, kind)
        if layout is None:
            return False
        header = _header_of(data, layout)
        orjson.dumps(header)
    except (TypeError, orjson.JSONDecodeError):  # too deep to write: the usual read says so
        return False
    read = FileRead(hashing.result(), held_open.stat, seen_at)
    if not read.unchanged(now) or not held_open.intact():
        return False
    return _serve_lazily(reader, kind, held_open, read, layout, header)


def _laid_out_writable(data: bytes, kind: Kind) -> jsonspans.ListLayout | None:
    """The layout of a list registry's bytes (or the governance file's: its policies'),
    each entry proved by decoding it and written at its depth in the file (TypeError when
    orjson cannot: the full read's `_writable` verdict)."""
    info = kinds.info(kind)
    key = info.collection_key
    assert key is not None
    if info.layout is Layout.POLICY_MAP:
        return jsonspans.lay_out_policy_map(data, key,
                                            lambda body: orjson.dumps({key: {"": body}}))
    assert info.id_field is not None
    return jsonspans.lay_out_list_registry(data, key, info.id_field,
                                           lambda item: orjson.dumps({key: [item]}))


def _laid_out_bytes(path: str, digest: str, proved: FileRead | None, hold: bool
                    ) -> tuple[bytes | HeldFile, FileRead] | None:
    """The file's bytes, read or (`hold`) held open, and their read, when they are those
    of `digest`: a settled saved read of the same stat proves it, else they are hashed.
    None when they are other bytes, or cannot be read. A file held open must be settled
    (a later write then moves its mtime, which the held file checks): else it is read."""
    try:
        seen_at = time.time_ns()
        if hold:
            held_open, now = HeldFile.open(path)
            stat = held_open.stat
        else:
            data, stat, seen_at = read_with_stat(Path(path))
            now = os.stat(path)
    except OSError:
        return None
    if proved is not None and proved.digest == digest and proved.stat == stat and \
            FileRead(digest, stat, proved.seen_at).unchanged(now):
        return (held_open if hold else data), FileRead(digest, stat, proved.seen_at)
    if (held_open.digest() if hold else _sha256(data)) != digest:
        return None
    read = FileRead(digest, stat, seen_at)
    if hold and not read.unchanged(_fstat_or_none(held_open)):
        return _laid_out_bytes(path, digest, None, False)  # not settled yet: in memory
    return (held_open if hold else data), read


def _fstat_or_none(held_open: HeldFile) -> os.stat_result | None:
    try:
        return held_open.fstat()
    except OSError:
        return None


class _Reader:
    """Reads registry files into `live`, taking from `previous` what has not changed; each
    file's SHA-256 is computed on the `hasher` thread while this one decodes."""

    def __init__(self, live: LiveState, previous: LiveState | None,
                 hasher: ThreadPoolExecutor, documents: SavedDocuments,
                 lay_out: bool = False, hold: bool = False) -> None:
        self.live, self.previous, self.hasher = live, previous, hasher
        self.documents = documents
        self.lay_out = lay_out  # a lazy read: the governance file's layout found, to be kept
        self.hold = hold  # a short-lived reader's: a clean per-file entry read, not kept
        self.files = files_of(live)
        self.root = self.files.root
        self.pending: dict[str, tuple[Future[str] | str, tuple[int, int, int, int], int]] = {}

    def unchanged(self, relative: str) -> FileRead | None:
        """The previous read of `relative`, if the file has certainly not changed since."""
        if self.previous is None:
            return None
        read = files_of(self.previous).reads.get(relative)
        if read is None:
            return None
        try:
            current = os.stat(self.root / relative)
        except OSError:
            return None
        return read if read.unchanged(current) else None

    def keep(self, relative: str, read: FileRead) -> None:
        assert self.previous is not None
        self.files.reads[relative] = read
        self.files.file_digests[relative] = read.digest
        before = files_of(self.previous)
        self.files.layouts.carry(before.layouts, relative)
        if relative in before.data:
            self.files.data[relative] = before.data[relative]
        if relative in before.documents:
            self.files.documents[relative] = before.documents[relative]
        if relative in self.previous.unkeyed:
            self.live.unkeyed[relative] = self.previous.unkeyed[relative]
        path = str(self.root / relative)
        self.live.diagnostics += [d for d in self.previous.diagnostics if d.file == path]

    def reuse_kind(self, kind: Kind) -> bool:
        """Take a registry file's whole kind from `previous` when the file is unchanged."""
        relative = kinds.info(kind).registry_file
        read = self.unchanged(relative)
        if read is None:
            return False
        assert self.previous is not None
        self.keep(relative, read)
        self.live.state.resources[kind] = self.previous.state.resources[kind]
        if kind in self.previous.headers:
            self.live.headers[kind] = self.previous.headers[kind]
        return True

    def load_json(self, relative: str, entry_list: tuple[Kind, str, str] | None = None,
                  policy_map: str | None = None) -> tuple[Any, bool]:
        """The parsed file (None, False when absent); a damaged file is a diagnostic. For a
        list registry (`entry_list`: its list key and id field) the bytes are kept and its
        layout found when first needed (`layouts.PendingLayout`), so the first write after
        a foreign edit need not read it again; for the governance file (`policy_map`: its
        map's key) too, for a plan's next snapshot."""
        path = self.root / relative
        data = self._bytes(relative, path)
        if data is None:
            return None, False
        if entry_list is not None:
            kind, list_key, id_field = entry_list
            redecoded = self._redecoded(relative, kind, list_key, id_field, data)
            if redecoded is not None:  # the kept entries passed every check when first read
                document, self.files.layouts[relative] = redecoded
                self.files.data[relative] = data
                return document, True
        try:  # the fast path; else the stdlib's
            document = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            if "depth limit" in str(error):
                return self._too_deep(path)
        else:
            if not _shallow(data) and not _writable(
                    document, entry_list[1] if entry_list is not None else policy_map):
                return self._too_deep(path)
            self._lay_out_later(relative, data, entry_list, policy_map)
            return document, True
        return self._lenient(data, path)

    def _bytes(self, relative: str, path: Path) -> bytes | None:
        """The file's bytes, their SHA-256 sent to the hasher; None when absent or
        unreadable (a diagnostic)."""
        try:
            data, stat, seen_at = read_with_stat(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            self.live.diagnostics.append(_error("L006", "cannot read registry file: "
                                                f"{error.strerror}", str(path), None,
                                                "check its permissions"))
            return None
        # a small file is hashed here: handing it to the hasher costs more than hashing
        digest = _sha256(data) if len(data) < HASHED_HERE else self.hasher.submit(_sha256, data)
        self.pending[relative] = (digest, stat, seen_at)
        return data

    def _lay_out_later(self, relative: str, data: bytes,
                       entry_list: tuple[Kind, str, str] | None, policy_map: str | None
                       ) -> None:
        """Keep what finding the layout of these decoded bytes needs, for when it is."""
        if entry_list is not None:
            _, list_key, id_field = entry_list
            self.files.layouts.defer(relative, PendingLayout.of_list(data, list_key, id_field))
            self.files.data[relative] = data
        elif policy_map is not None:
            self.files.layouts.defer(relative, PendingLayout.of_map(data, policy_map))

    def _lenient(self, data: bytes, path: Path) -> tuple[Any, bool]:
        """What orjson refused: Python's json output (NaN) read with a warning, else the
        error where the stdlib locates it."""
        live = self.live
        try:  # the stdlib accepts what Python's json.dump writes (NaN), locates errors by line
            lenient = json.loads(data)
            live.diagnostics.append(_error(
                "L001", "not standard JSON (NaN or Infinity, which Python's json module "
                "writes): other readers and meshctl's manifests cannot hold it", str(path),
                None, "replace NaN/Infinity with a number or null"))
            return lenient, True
        except UnicodeDecodeError as error:
            live.diagnostics.append(_error("L001", f"registry file is not UTF-8: {error.reason}",
                                           str(path), None, "save it as UTF-8"))
        except RecursionError:
            return self._too_deep(path)
        except json.JSONDecodeError as error:
            live.diagnostics.append(_error(
                "L001", f"invalid JSON: {error.msg} (column {error.colno})", str(path),
                error.lineno, "fix the file or restore it from history; nothing was read from "
                "it"))
        return None, False

    def _redecoded(self, relative: str, kind: Kind, list_key: str, id_field: str,
                   data: bytes) -> tuple[dict[str, Any], jsonspans.ListLayout] | None:
        """The file decoded from what differs since the previous read (an edit of one entry
        decodes that entry), when the previous read kept its bytes and layout and keyed
        every entry; else None."""
        if self.previous is None or relative in self.previous.unkeyed:
            return None
        before = files_of(self.previous)
        old, layout = before.bytes_of(relative), before.layouts.get(relative)
        header = self.previous.headers.get(kind)
        by_name = self.previous.state.of_kind(kind)
        if old is None or layout is None or header is None or len(by_name) != len(layout.ids):
            return None
        path = str(self.root / relative)
        if any(d.file == path for d in self.previous.diagnostics):
            return None
        try:
            values = [by_name[name].entry for name in layout.ids]  # type: ignore[index]
        except (KeyError, StoreError):  # (a held file edited in place meanwhile)
            return None
        found = jsonspans.redecode_list_registry(old, layout, values, data, id_field)
        if found is None:
            return None
        entries, new_layout = found
        return {**header, list_key: entries}, new_layout

    def _too_deep(self, path: Path) -> tuple[None, bool]:
        self.live.diagnostics.append(_error(
            "L001", f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels", str(path), None,
            "no registry entry needs such depth (manifests stop at 128): restore the file "
            "from history; nothing was read from it"))
        return None, False

    def finish(self) -> None:
        for relative, (digest, stat, seen_at) in self.pending.items():
            read = FileRead(digest if isinstance(digest, str) else digest.result(), stat,
                            seen_at)
            self.files.reads[relative] = read
            self.files.file_digests[relative] = read.digest


HASHED_HERE = 1 << 16  # bytes: a smaller file is hashed on the reading thread
SHALLOW_SLICE = 1 << 16  # the first slice whose brackets `_shallow` counts
MAX_JSON_DEPTH = 255  # orjson writes no deeper; manifests stop at 128 (M006)
WRITTEN_AT_ONCE = 32  # entries per chunk when checking that orjson can write a registry


def _shallow(data: bytes) -> bool:
    """Too few brackets to nest as deep as orjson cannot write (255 levels need as many
    opening brackets): a workflow file need not be written to be sure. Counted in growing
    slices, so a registry of many entries stops within its first few hundred KB: counting
    all 28 MB of the agent registry (10,000 agents) was a tenth of a cold `load_all()`."""
    seen, start, size = 0, 0, SHALLOW_SLICE
    while start < len(data):
        seen += data.count(b"{", start, start + size) + data.count(b"[", start, start + size)
        if seen >= MAX_JSON_DEPTH:
            return False
        start, size = start + size, size * 4
    return True


def _writable(document: Any, key: str | None) -> bool:
    """Can orjson write `document`? Data deeper than its 255 levels breaks every JSON
    writer meshctl uses. The entry list (or policy map) at `key` is written in chunks of
    entries, each at the depth it has in the file (the same verdict): a 20 MB buffer made
    and dropped at once cost twice as much (a sixth of a cold read)."""
    inner = document.get(key) if key is not None and isinstance(document, dict) else None
    try:
        if not isinstance(inner, (list, dict)):
            orjson.dumps(document)
            return True
        orjson.dumps({**document, key: type(inner)()})
        items = inner if isinstance(inner, list) else list(inner.items())
        for at in range(0, len(items), WRITTEN_AT_ONCE):
            chunk = items[at:at + WRITTEN_AT_ONCE]
            orjson.dumps({key: chunk if isinstance(inner, list) else dict(chunk)})
    except TypeError:
        return False
    return True


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_entry_list(reader: _Reader, kind: Kind) -> None:
    live = reader.live
    info = kinds.info(kind)
    assert info.collection_key is not None and info.id_field is not None
    relative = info.registry_file
    document, found = reader.load_json(relative, (kind, info.collection_key, info.id_field))
    if not found:
        return
    file = str(reader.root / relative)
    if not isinstance(document, dict) or not isinstance(
        document.get(info.collection_key, []), list
    ):
        live.diagnostics.append(_error(
            "L002", f"expected an object whose '{info.collection_key}' is a list", file, None,
            f"the file must look like {{\"version\": ..., \"{info.collection_key}\": [...]}}"))
        return
    live.headers[kind] = {k: v for k, v in document.items() if k != info.collection_key}
    source = Source(file)  # one for all: a 10,000-entry registry need not build 10,000
    values = document.get(info.collection_key, [])
    entries = DecodedEntries.of(kind, values, info.id_field, source)
    if entries is not None and not live.state.of_kind(kind):  # every entry keyed, once
        live.state.resources[kind] = cast(dict[str, Resource], entries)
        return
    for index, entry in enumerate(values):
        where = f"{info.collection_key}[{index}]"
        entry_id = entry.get(info.id_field) if isinstance(entry, dict) else None
        if not isinstance(entry_id, str):
            problem = "is not an object" if not isinstance(entry, dict) else (
                f"has no string '{info.id_field}'")
            _keep_unkeyed(live, relative, entry, _error(
                "L003", f"entry {where} {problem}", file, None,
                f"give it an '{info.id_field}' or remove it; meshctl keeps it meanwhile"))
            continue
        _add(live, kind, entry_id, entry, source, where)


def _read_per_file(reader: _Reader, kind: Kind) -> None:
    """A folder of one-document files (workflows), each file named after its entry's id. A
    file whose stat a kept read vouches for (the previous snapshot's, or one saved) is not
    read again; a saved one's entry is read when first asked for (`LazyDocuments`)."""
    info = kinds.info(kind)
    folder = reader.root / info.registry_file
    names = document_names(folder)
    if names is None:
        return
    before = _by_file(reader.previous, kind) if reader.previous is not None else {}
    entries = LazyDocuments()
    reader.live.state.resources[kind] = cast(dict[str, Resource], entries)
    where = str(folder)
    for name in names:  # paths as strings: pathlib's would be half of the time here
        relative, file = f"{info.registry_file}/{name}", os.path.join(where, name)
        if not _keep_document(reader, kind, relative, before.get(file)) and \
                not _defer_document(reader, kind, relative, file):
            _read_document(reader, kind, relative, Path(file))
    if not entries.has_deferred():  # nothing left unread: the plain dict a full read builds
        reader.live.state.resources[kind] = cast(dict[str, Resource], dict(entries.held()))


def _keep_document(reader: _Reader, kind: Kind, relative: str,
                   kept: Resource | Deferred | None) -> bool:
    """The previous snapshot's entry of a file whose stat shows it unchanged (still unread
    if it was), checked again."""
    read = reader.unchanged(relative) if kept is not None else None
    if kept is None or read is None:
        return False
    reader.keep(relative, read)
    entries = reader.live.state.of_kind(kind)
    if isinstance(kept, Deferred) and isinstance(entries, LazyDocuments) and \
            kept.key.name not in entries:
        entries.defer(kept)
        return True
    resource = kept.resource() if isinstance(kept, Deferred) else kept
    _add(reader.live, kind, resource.name, resource.entry,
         resource.source or Source(str(reader.root / relative)), "")
    return True


def _defer_document(reader: _Reader, kind: Kind, relative: str, file: str) -> bool:
    """Hold unread a file whose saved read vouches for it by its stat: same size, times
    and inode as when it was read whole and clean, and settled then."""
    saved = reader.documents.get(relative)
    if saved is None:
        return False
    name, read = saved
    entries = reader.live.state.of_kind(kind)
    if not isinstance(entries, LazyDocuments) or not read.unchanged(_stat_or_none(file)):
        return False
    if name in entries:
        return False  # an earlier file holds that id: read this one, for its L004
    files = reader.files
    files.reads[relative], files.file_digests[relative] = read, read.digest
    files.documents[relative] = name
    _check_file_name(reader.live, kind, name, file)
    entries.defer(Deferred(ResourceKey(kind, name), Source(file), read.digest))
    return True


def _read_document(reader: _Reader, kind: Kind, relative: str, path: Path) -> None:
    """Read, hash and decode one file; a clean one is noted in `documents`, to be saved."""
    live = reader.live
    info = kinds.info(kind)
    assert info.id_field is not None
    problems = len(live.diagnostics)
    document, found = reader.load_json(relative)
    if not found:
        return
    entry_id = document.get(info.id_field) if isinstance(document, dict) else None
    if not isinstance(entry_id, str):
        _keep_unkeyed(live, relative, document, _error(
            "L003", f"{info.label} file has no string '{info.id_field}'", str(path), None,
            f"add \"{info.id_field}\": \"{path.stem}\""))
        return
    clean = len(live.diagnostics) == problems
    _check_file_name(live, kind, entry_id, str(path))
    if clean and reader.hold and _defer_read(reader, kind, relative, entry_id, str(path)):
        return
    if _add(live, kind, entry_id, document, Source(str(path)), "") and clean:
        reader.files.documents[relative] = entry_id


def _defer_read(reader: _Reader, kind: Kind, relative: str, name: str, file: str) -> bool:
    """A clean file a short-lived reader has read: its entry not kept decoded but read
    again when first asked for (`Deferred`, which checks that the file still holds the
    bytes of this read's digest), as a later read holds it unread. 2,000 workflows kept
    decoded were 30 MB of a first plan's peak at 100,000 agents. False (keep it) when its
    id is taken (the usual add reports it) or its digest is still being hashed."""
    digest = reader.pending[relative][0]
    entries = reader.live.state.of_kind(kind)
    if not isinstance(digest, str) or not isinstance(entries, LazyDocuments) or \
            name in entries:
        return False
    entries.defer(Deferred(ResourceKey(kind, name), Source(file), digest))
    reader.files.documents[relative] = name
    return True


def _check_file_name(live: LiveState, kind: Kind, entry_id: str, file: str) -> None:
    """L005: a per-file registry's file is named after its entry's id."""
    if entry_id and os.path.basename(file) == f"{entry_id}.json":
        return  # the stem is the id (the usual case, told without pathlib)
    info, path = kinds.info(kind), Path(file)
    if entry_id != path.stem:
        live.diagnostics.append(_error(
            "L005", f"file name '{path.name}' differs from its {info.id_field} "
            f"'{entry_id}'", str(path), None, f"rename the file to {entry_id}.json",
            str(ResourceKey(kind, entry_id))))


def _stat_or_none(path: str | Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _read_singleton(reader: _Reader, kind: Kind) -> None:
    """A one-document kind (system config): the document is the entry, except the
    `last_updated` stamp, kept as the file's header and refreshed by each write."""
    live = reader.live
    info = kinds.info(kind)
    document, found = reader.load_json(info.registry_file)
    if not found:
        return
    file = str(reader.root / info.registry_file)
    if not isinstance(document, dict):
        _keep_unkeyed(live, info.registry_file, document, _error(
            "L002", "expected a JSON object", file, None,
            f"the {info.label} file must hold one object"))
        return
    live.headers[kind] = {k: v for k, v in document.items() if k in SINGLETON_HEADER}
    entry = {k: v for k, v in document.items() if k not in SINGLETON_HEADER}
    _add(live, kind, kinds.SINGLETON_NAME, entry, Source(file), "")


SINGLETON_HEADER = ("last_updated",)


def with_commit(previous: LiveState, changes: Mapping[ResourceKey, dict[str, Any] | None],
                written: Mapping[str, FileRead | None], now: str) -> LiveState | None:
    """The live state after a commit of `changes` (None: delete) that wrote the files in
    `written` (their new reads; None: removed) at time `now`, built from `previous` without
    reading a byte. Exactly what reading the files would give; None where that could not be
    promised (a touched file holds entries meshctl cannot key, or has problems, or did not
    exist): then read the files instead."""
    touched = {file_of(key) for key in changes}
    before = files_of(previous)
    paths = {str(before.root / relative) for relative in touched}
    folders = {str(before.root / kinds.info(key.kind).registry_file) for key in changes
               if kinds.info(key.kind).layout is Layout.PER_FILE}
    if any(relative in previous.unkeyed for relative in touched) or any(
            d.file in paths for d in previous.diagnostics) or any(
            d.file and str(Path(d.file).parent) in folders for d in previous.diagnostics):
        return None
    files = FileDetail(before.root, dict(before.file_digests), dict(before.reads),
                       before.layouts.without(written),
                       {relative: data for relative, data in before.data.items()
                        if relative not in written},
                       {relative: name for relative, name in before.documents.items()
                        if relative not in written})
    live = LiveState(previous.state.copy(), dict(previous.headers), previous.unkeyed,
                     previous.diagnostics, place=previous.place, private=files)
    for relative, read in written.items():
        if read is None:
            files.file_digests.pop(relative, None)
            files.reads.pop(relative, None)
        else:
            files.file_digests[relative], files.reads[relative] = read.digest, read
    for kind in {key.kind for key in changes}:
        relative = kinds.info(kind).registry_file
        if kinds.info(kind).layout is not Layout.PER_FILE and relative in written:
            header = previous.headers.get(kind)
            if header is None:  # the file was created: its header is the writer's own
                return None
            if "last_updated" in header:
                live.headers[kind] = {**header, "last_updated": now}
    seal(live)
    by_name = {kind: live.state.of_kind(kind) for kind in Kind}
    for key, entry in changes.items():  # a file not read yet stays so (it may be gone)
        existing = held(by_name[key.kind]).get(key.name)
        if entry is None:
            if existing is not None:
                del by_name[key.kind][key.name]
            continue
        source = existing.source if existing else Source(str(before.root / file_of(key)))
        by_name[key.kind][key.name] = Resource(key, entry, source)
    for kind in {key.kind for key in changes}:
        if kinds.info(kind).layout is Layout.PER_FILE:  # read in file-name order
            live.state.resources[kind] = _in_file_order(by_name[kind])
    return live


def _in_file_order(flows: dict[str, Resource]) -> dict[str, Resource]:
    names = sorted(flows, key=lambda name: f"{name}.json")
    if isinstance(flows, LazyDocuments):
        return cast(dict[str, Resource], flows.ordered(names))
    return {name: flows[name] for name in names}


def _by_file(live: LiveState, kind: Kind) -> dict[str, Resource | Deferred]:
    """A per-file kind's entries by file, the deferred ones unread."""
    return {item.source.file: item for item in held(live.state.of_kind(kind)).values()
            if item.source is not None}


def _read_governance(reader: _Reader, kind: Kind = Kind.GOVERNANCE_POLICY) -> None:
    live = reader.live
    info = kinds.info(Kind.GOVERNANCE_POLICY)
    assert info.collection_key is not None
    document, found = reader.load_json(  # (its layout: twice a plain decode's time)
        info.registry_file, policy_map=info.collection_key if reader.lay_out else None)
    if not found:
        return
    file = str(reader.root / info.registry_file)
    if not isinstance(document, dict) or not isinstance(document.get("policies", {}), dict):
        live.diagnostics.append(_error(
            "L002", "expected an object with a 'policies' object", file, None,
            'the file must look like {"version": ..., "policies": {"<name>": {...}}}'))
        return
    live.headers[Kind.GOVERNANCE_POLICY] = {k: v for k, v in document.items() if k != "policies"}
    source = Source(file)
    for name, body in document.get("policies", {}).items():
        if not isinstance(body, dict):
            _keep_unkeyed(live, info.registry_file, {name: body}, _error(
                "L003", f"policy '{name}' is not an object", file, None,
                "make it an object with description, enforcement_level and its rules"))
            continue
        _add(live, Kind.GOVERNANCE_POLICY, name, body, source, f"policies.{name}")


_READERS = {Layout.LIST: _read_entry_list, Layout.POLICY_MAP: _read_governance,
            Layout.SINGLETON: _read_singleton}


def _add(live: LiveState, kind: Kind, name: str, entry: dict[str, Any], source: Source,
         where: str) -> bool:
    """Add the entry (True), unless its key is taken: then it is kept unkeyed (L004)."""
    key = ResourceKey(kind, name)
    if key in live.state:
        _keep_unkeyed(live, kinds.info(kind).registry_file, entry, _error(
            "L004", f"{key.describe()} appears twice ({where or source.file}); the first is "
            "used", source.file, None, "remove or rename the duplicate", str(key)))
        return False
    live.state.add(Resource(key, entry, source))
    return True


def _keep_unkeyed(live: LiveState, relative: str, entry: Any, diagnostic: Diagnostic) -> None:
    live.unkeyed.setdefault(relative, []).append(entry)
    live.diagnostics.append(diagnostic)


def _error(code: str, message: str, file: str, line: int | None, hint: str,
           resource: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, line, resource, None, hint)
