"""Loading manifests: files -> parse cache -> worker processes -> one `DesiredState`, and the
sync record that lets a plan take files it proved in sync from the live registries.

Reading manifests is the expensive step at scale (libyaml composes ~6 MB/s). Each file is
parsed and checked on its own (`_process_file`: parse + per-resource rules), so unchanged
files come from the parse cache and the rest are spread over worker processes. The engine
chains this with the plan; the watch loop keeps its own desired state with the same reader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from reconciler import access, forked, graph, revalidate, scanning, validate
from reconciler.errors import (
    Diagnostic,
    sort_key,
)
from reconciler.gcpause import gc_paused
from reconciler.manifests import layers, loader
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.parsecache import (
    ParseCache,
    SyncRecord,
    ValidationIndex,
    extra_digest,
    keyed_salt,
    machine_key,
    settled,
)
from reconciler.recorddb import Damaged, RecordDB
from reconciler.statchunks import FileStat, Listing, stat_key
from reconciler.store import LiveState
from reconciler.validate import changes

# Below these, worker start-up costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024
PARALLEL_MIN_FILES = 500
@dataclass(slots=True)
class DesiredState:
    """The manifests as read and checked: the state, every diagnostic, and what it cost."""

    state: MeshState
    diagnostics: list[Diagnostic]
    files: list[str]  # every manifest file read, as the CLI names them
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0
    in_sync: set[str] = field(default_factory=set)  # files served from the sync record
    file_results: dict[str, loader.FileResult] = field(default_factory=dict)
    stats: dict[str, FileStat] = field(default_factory=dict)
    records: dict[Path, SyncRecord] = field(default_factory=dict)  # per manifests root
    digests: dict[str, str] = field(default_factory=dict)  # of the content each result is for

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def load_desired(paths: Sequence[str | os.PathLike[str]], *,
                 max_bytes: int = loader.DEFAULT_MAX_BYTES, use_cache: bool = True,
                 jobs: int | None = None, mesh_checks: bool = True) -> DesiredState:
    """Read, parse and validate the manifests under `paths`. With `mesh_checks=False` the
    mesh-wide rules (references, orchestrator, cycles) are left to the caller, which may
    check them over another state (the plan checks what would remain after applying)."""
    with gc_paused():
        desired, _ = load(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                          mesh_checks=mesh_checks)
    return desired


def load(paths: Sequence[str | os.PathLike[str]], *, max_bytes: int, use_cache: bool,
          jobs: int | None, mesh_checks: bool, store_id: str | None = None,
          read_live: Callable[[], LiveState] | None = None,
          listed: Mapping[str, FileStat] | None = None,
          meanwhile: Callable[[MeshState], Callable[[DesiredState], None]] | None = None
          ) -> tuple[DesiredState, LiveState | None]:
    """`load_desired`; with `read_live` (the plan's), also the live registries of
    the store `store_id` names, read while the files the parse cache cannot answer are
    parsed in a worker.
    Files the sync record proves in sync with what was read are not read at all: their
    resources are its entries. `listed`: the files and stats a caller has just taken
    (of unlayered `paths`), so they are not listed twice. `meanwhile`: the caller's work
    on the state, called before the parse cache is written on a thread (so that it may
    fork a process of its own, with no thread running); the function it returns is
    given the desired state while the cache is written (SQLite lets go of the
    interpreter while it writes: a cold run of 100,000 files writes 400 MB)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    stack = layers.layered(paths)
    overlays = layers.read_overlays(stack.overlays, max_bytes) if stack else None
    if stack is not None and overlays is not None:
        paths = stack[:1]  # the base goes through the cache; the small later layers not
        if store_id is not None:  # files in sync with the store are so under these overlays
            store_id = f"{store_id}#layers:{overlays.digest}"
    scanned: Mapping[str, FileStat | None] = (
        dict(listed) if listed is not None and stack is None
        else loader.scan_manifest_files(paths))  # with each file's stat, taken in passing
    files = list(scanned)
    caches = _caches_for(paths) if use_cache else {}
    roots = _Roots(caches)
    records = _records_for(caches, store_id) if read_live and store_id is not None else {}
    found = _Found()
    candidates: list[tuple[str, SyncRecord]] = []
    for path in files:
        root = roots.of(path)
        stat = scanned[path] if root is not None else None
        if root is None or stat is None:  # nothing to compare: a worker reads it
            found.misses.append(_Miss(path, None, stat))
            continue
        found.stats[path] = stat
        record = records.get(root)
        if (record is not None and stat.st_size <= max_bytes
                and record.in_sync(path, stat, record.fingerprint) is not None):
            candidates.append((path, record))  # in sync if the live registries are as then
            continue
        found.from_cache(path, stat, caches[root], max_bytes)
    timings["read"] = time.perf_counter() - started

    live: LiveState | None = None
    in_sync: set[str] = set()
    with _parsing(found.misses, max_bytes, jobs, background=read_live is not None) as parsed:
        first = len(found.misses)  # what the workers were given
        if read_live is not None:
            started = time.perf_counter()
            live = read_live()
            timings["live"] = time.perf_counter() - started
            started = time.perf_counter()
            fingerprint = "" if live.diagnostics else live.fingerprint
            late: list[str] = []
            for path, record in candidates:
                synced = _synced_result(path, record.in_sync(
                    path, found.stats[path], fingerprint), live.state)
                if synced is None:  # the registries moved on since: read it after all
                    late.append(path)
                    continue
                found.results[path] = synced
                in_sync.add(path)
            for path in late:
                root = roots.of(path)
                assert root is not None
                found.from_cache(path, found.stats[path], caches[root], max_bytes)
            timings["read"] += time.perf_counter() - started
        started = time.perf_counter()
        found.take(found.misses[:first], parsed(), roots, caches)  # as the workers answer
    if len(found.misses) > first:  # read late: the registries moved on since the record
        with _parsing(found.misses[first:], max_bytes, jobs, background=False) as more:
            found.take(found.misses[first:], more(), roots, caches)
    timings["parse"] = time.perf_counter() - started
    started = time.perf_counter()
    state, diagnostics = _merged(found, files, overlays)
    timings["build"] = time.perf_counter() - started
    started = time.perf_counter()
    later = meanwhile(state) if meanwhile is not None else None  # (it may fork: no thread yet)
    saved = _saving(caches, files, roots, forget=not in_sync)

    try:
        desired = _built(found, files, overlays, state, diagnostics, in_sync, records,
                         timings, mesh_checks)
        if later is not None:
            later(desired)
    finally:
        timings["validate"] = time.perf_counter() - started
        started = time.perf_counter()
        saved()
        timings["cache"] = time.perf_counter() - started
    return desired, live


def _merged(found: _Found, files: list[str], overlays: layers.Overlays | None
            ) -> tuple[MeshState, list[Diagnostic]]:
    """The desired state from the files' results (an environment's later layers over
    it), with what merging found."""
    file_results = [found.results[path] for path in files if path in found.results]
    state, diagnostics = loader.merge_results(file_results)
    if overlays is not None:
        applied = apply_layers(state, diagnostics, overlays)
        state, diagnostics = applied.state, applied.diagnostics
    return state, diagnostics


def _built(found: _Found, files: list[str], overlays: layers.Overlays | None,
           state: MeshState, diagnostics: list[Diagnostic], in_sync: set[str],
           records: dict[Path, SyncRecord], timings: dict[str, float],
           mesh_checks: bool) -> DesiredState:
    """The desired state, its findings checked (`mesh_checks`) and sorted."""
    diagnostics = found.read_problems + diagnostics
    if mesh_checks:
        diagnostics += validate.check_mesh(state, graph.build(state))
    if overlays is not None:
        diagnostics = layers.note_base(diagnostics, state)
    diagnostics.sort(key=sort_key)
    if overlays is not None:
        files = [*files, *overlays.files]
        found.stats.update(overlays.stats)
    return DesiredState(state, diagnostics, files, timings, found.hits, in_sync,
                        found.results, found.stats, records, found.digests)


def _saving(caches: dict[Path, ParseCache], files: list[str], roots: _Roots, *,
            forget: bool) -> Callable[[], None]:
    """Write the parse caches on a thread; the function returned waits for it (and raises
    what it raised). `forget`: drop the rows of files gone (not when most rows were
    served from the sync record, never looked at: the next full run prunes)."""
    if not any(cache.changed for cache in caches.values()) and not forget:
        return lambda: None
    failed: list[BaseException] = []

    def write() -> None:
        try:
            for root, cache in caches.items():
                if forget:
                    cache.forget_missing({p for p in files if roots.of(p) == root})
                cache.save()
        except BaseException as error:  # raised again in the thread that waits
            failed.append(error)

    thread = threading.Thread(target=write, name="meshctl-parse-cache")
    thread.start()

    def wait() -> None:
        thread.join()
        if failed:
            raise failed[0]
    return wait


@dataclass(slots=True)
class Validated:
    """What validating manifests found: every diagnostic, how many files and resources, and
    each resource with the file that declares it (as `validate -o junit` lists them),
    decoded only when asked for: a warm `validate` of 100,000 files does not need them."""

    diagnostics: list[Diagnostic]
    file_count: int
    resource_count: int
    _declared: Callable[[], list[tuple[str, str | None]]]
    from_index: bool = False

    @property
    def declared(self) -> list[tuple[str, str | None]]:
        """(resource, the file that declares it), in the state's order."""
        return self._declared()

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def validate_files(paths: Sequence[str | os.PathLike[str]], *,
                   max_bytes: int = loader.DEFAULT_MAX_BYTES, use_cache: bool = True,
                   jobs: int | None = None, scan: scanning.Scan | None = None) -> Validated:
    """`load_desired`'s findings, at the cost of what changed since the last validation:
    the validation index answers when no file changed (then the cost is the listing and a
    stat of every file); when a few did, `revalidate` reads those and re-checks what they
    reach; else (or when either cannot vouch for the result) a full load. Each records
    the index again. `scan`: the files' scan, when the caller began it (`scanning.begin`)."""
    scan = _serving(scan, paths, max_bytes)
    index = (scan.index if scan else scanning.index_for(paths, max_bytes)) if use_cache else None
    if index is None:
        return _validated_in_full(paths, max_bytes, use_cache, jobs, None, None).validated
    return _validate(paths, index, max_bytes, jobs, with_record=False, scan=scan).validated


def validate_indexed(paths: Sequence[str | os.PathLike[str]], *,
                     max_bytes: int = loader.DEFAULT_MAX_BYTES, jobs: int | None = None,
                     alongside: Callable[[], object] | None = None,
                     scan: scanning.Scan | None = None) -> Indexed | None:
    """`validate_files` with the record it keeps (`revalidate.Record`), for `replan`;
    None when there is none to keep (layered manifests, no cache, a file gone meanwhile).
    `alongside`: the caller's work that needs nothing of the manifests (a plan's live
    read), run on the second thread once a record was opened, while the stats finish;
    it must not raise (what it finds is the caller's to keep)."""
    scan = _serving(scan, paths, max_bytes)
    index = scan.index if scan else scanning.index_for(paths, max_bytes)
    if index is None or layers.layered(paths) is not None:
        return None
    found = _validate(paths, index, max_bytes, jobs, with_record=True, alongside=alongside,
                      scan=scan)
    if found.record is None or found.result is None or found.stats is None:
        return None
    return Indexed(found.validated, found.record, found.stats, index, found.result,
                   found.caches or _caches_for(paths), max_bytes, found.order)


@dataclass(slots=True)
class _Outcome:
    validated: Validated
    record: revalidate.Record | None = None
    result: dict[str, Any] | None = None  # as the index recorded it
    stats: Mapping[str, FileStat] | None = None
    order: revalidate.Declared | None = None  # declaration order, when found on the way
    caches: dict[Path, ParseCache] | None = None  # the parse caches it opened (rows decoded)


def _validate(paths: Sequence[str | os.PathLike[str]], index: ValidationIndex,
              max_bytes: int, jobs: int | None, *, with_record: bool,
              alongside: Callable[[], object] | None = None,
              scan: scanning.Scan | None = None) -> _Outcome:
    if with_record:
        stats, (latest, opened) = _stats_with_record(
            scan or scanning.begin(paths, max_bytes, index=index, here=scanning.HERE_WITH_RECORD),
            index, alongside)
    else:
        scan = scan or scanning.begin(paths, max_bytes, index=index)
        stats, latest, opened = scan.stats(), index.latest(), None
    if stats is not None and latest is not None:
        files, recorded = latest
        again = functools.partial(_declared_again, paths, max_bytes, jobs)
        if files is not None and files == index.files_digest(stats):
            found = _validated(recorded, index, again)
            if found is not None and not with_record:
                return _Outcome(found)
            record = (opened or _record_in(recorded, index)) if found is not None else None
            opened = None  # (compared below: never used again)
            if record is not None and not _unchanged(record, index.listing(stats)):
                record = None
            if found is not None and record is not None:
                return _Outcome(found, record, recorded, stats)
        if layers.layered(paths) is None:
            outcome = _revalidated(recorded, index, stats, paths, max_bytes, opened)
            if outcome is not None:
                return outcome
    return _validated_in_full(paths, max_bytes, True, jobs, index, stats)


def _stats_with_record(scan: scanning.Scan, index: ValidationIndex,
                       alongside: Callable[[], object] | None = None
                       ) -> tuple[Mapping[str, FileStat] | None,
                                  tuple[tuple[str | None, Any] | None,
                                        revalidate.Record | None]]:
    """The files' stats, and the index's last result with its record opened meanwhile on
    a second thread: neither depends on the other. A large listing's stats are mostly
    taken by a forked copy (`scanning.begin`), forked before the thread starts; this
    process opens the record and imports the per-resource rules meanwhile, then runs
    `alongside` on the thread. Not without a record: a run with none validates in full,
    which may fork again, and the work alongside may start threads that forbid it."""
    def opened() -> tuple[tuple[str | None, Any] | None, revalidate.Record | None]:
        latest = index.latest()
        record = _record_in(latest[1], index) if latest is not None else None
        if record is not None and alongside is not None:
            alongside()
        return latest, record

    with ThreadPoolExecutor(max_workers=1) as early:
        found = early.submit(opened)
        if scan.in_copy:  # (while the copy stat-s most files: wanted if any changed)
            validate.load_resource_rules()
        return scan.stats(), found.result()


def _serving(scan: scanning.Scan | None, paths: Sequence[str | os.PathLike[str]],
             max_bytes: int) -> scanning.Scan | None:
    """`scan` if it is the one of `paths` and `max_bytes`, else None (one is begun here)."""
    return scan if scan is not None and scan.serves(paths, max_bytes) else None


def _record_in(recorded: Any, index: ValidationIndex) -> revalidate.Record | None:
    """The record a result names (by its generation), if it is still that one, unaltered."""
    generation = recorded.get("record") if isinstance(recorded, dict) else None
    db = _record_db(index) if isinstance(generation, str) else None
    if db is None or not isinstance(generation, str):
        return None
    return revalidate.Record.open(db, generation)


def _unchanged(record: revalidate.Record, listing: Listing) -> bool:
    """Whether the record lists these very files and stats (then it is brought to them)."""
    try:
        found = record.compare(listing)
    except Damaged:
        return False
    return not found.changed and not found.gone


def _record_db(index: ValidationIndex) -> RecordDB | None:
    """The file keeping the index's record (None: no machine key to sign it with)."""
    secret = machine_key()
    return RecordDB(index.path.with_suffix(".sqlite"), secret, index.salt) if secret else None


def _keep_record(index: ValidationIndex, record: revalidate.Record) -> str | None:
    """Write `record` (what changed of it) beside the index; its new generation."""
    db = record.db or _record_db(index)
    if db is None:
        return None
    generation = record.save(db)
    db.close()
    return generation


@dataclass(slots=True)
class Indexed:
    """A validation and its record: what `replan` plans from. `state()` is the manifests'
    state, each resource decoded from the parse cache only when asked for; `keep` records
    the record again (with the files `replan` marked in sync)."""

    validated: Validated
    record: revalidate.Record
    stats: Mapping[str, FileStat]
    index: ValidationIndex
    result: dict[str, Any]
    caches: dict[Path, ParseCache]
    max_bytes: int
    found_order: revalidate.Declared | None = None

    def order(self) -> revalidate.Declared:
        """Each declared key with the file declaring it, in declaration order."""
        if self.found_order is None:
            self.found_order = revalidate.Declared(self.record.order)
        return self.found_order

    def state(self, order: revalidate.Declared) -> MeshState:
        """The state of the resources in `order` (`order()`), decoded when asked for."""
        roots = _Roots(self.caches)
        decoded: dict[str, list[Resource]] = {}

        def fetch(file: str) -> list[Resource]:
            found = decoded.get(file)
            if found is None:
                kept = self.record.file(file)
                result = _cached_in(self.caches, roots, file, kept.digest) if kept else None
                if result is None:  # pruned meanwhile: read again, as validation did
                    result = read_manifest_file(file, self.max_bytes)
                found = decoded[file] = result.resources
            return found

        return revalidate.lazy_state(order, fetch)

    def resources_of(self, file: str, digest: str) -> list[Resource] | None:
        """A file's resources as validated (the parse cache's result for `digest`; None:
        not there), decoded for this caller alone: nothing is kept, so comparing the whole
        mesh file by file never holds 100,000 files' resources at once."""
        root = _Roots(self.caches).of(file)
        if root is None:
            return None
        result = _cached_result(self.caches[root].peek(file, digest))
        return result.resources if result is not None else None

    def keep(self, record: revalidate.Record) -> None:
        """Record `record` (its marks changed) again, and the index naming it."""
        result = {**self.result, "record": _keep_record(self.index, record)}
        self.index.save(self.stats, result)
        self.record, self.result = record, result


def _declared_again(paths: Sequence[str | os.PathLike[str]], max_bytes: int,
                    jobs: int | None) -> list[tuple[str, str | None]]:
    return _validated_in_full(paths, max_bytes, False, jobs, None, None).validated.declared


def _validated_in_full(paths: Sequence[str | os.PathLike[str]], max_bytes: int,
                       use_cache: bool, jobs: int | None, index: ValidationIndex | None,
                       listed: Mapping[str, FileStat] | None) -> _Outcome:
    """Load and check everything; record the index (and what `revalidate` needs).

    The mesh-wide checks of a large mesh, and who refers to whom for the record, are
    found in a forked copy of this process (`forked.beside`) while this one writes the parse
    cache and builds the rest of the record: each takes seconds of one core at 100,000
    agents."""
    recording = index is not None and layers.layered(paths) is None and listed is not None
    checked: list[Callable[[], bytes]] = []
    recorded: list[_Recorded] = []

    def check(state: MeshState) -> Callable[[DesiredState], None]:
        mesh_graph = graph.build(state)
        work = functools.partial(_checked_mesh, state, mesh_graph, referrers=recording)
        in_copy = _forks(len(state), jobs)
        if in_copy:
            checked.append(forked.beside(work))

        def record(desired: DesiredState) -> None:  # while the parse cache is written
            if not in_copy:
                checked.append(forked.done(work()))
            if recording and list(listed or ()) == desired.files \
                    and all(name in desired.stats for name in desired.files):
                found = _record_of(desired)
                if found is not None:
                    recorded.append(found)
        return record

    with gc_paused():
        try:
            desired, _ = load(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                              mesh_checks=False, listed=listed, meanwhile=check)
        finally:  # (a forked copy is waited for, whatever happened meanwhile)
            answers = [orjson.loads(found()) for found in checked]
        (answer,) = answers
        mesh = [Diagnostic.from_dict(d) for d in answer["mesh"]]
        if layers.layered(paths):
            mesh = layers.note_base(mesh, desired.state)
    diagnostics = sorted(desired.diagnostics + mesh, key=sort_key)
    state = desired.state

    @functools.cache
    def declared() -> list[tuple[str, str | None]]:
        return [(str(r.key), r.source.file if r.source else None) for r in state]

    validated = Validated(diagnostics, len(desired.files), len(state), declared)
    stats = {name: desired.stats[name] for name in desired.files if name in desired.stats}
    if index is None or len(stats) != len(desired.files):
        return _Outcome(validated)
    record = recorded[0]([d.to_dict() for d in mesh], answer["referrers"]) \
        if recorded else None
    if record is not None:
        _still_synced(record, index)
    generation = _keep_record(index, record) if record is not None else None
    if generation is None:
        return _Outcome(validated, None, _save(index, stats, validated, {
            "declared": orjson.dumps(declared())}), stats)
    return _Outcome(validated, record, _save(index, stats, validated, {}, generation), stats)


def _checked_mesh(state: MeshState, mesh_graph: graph.Graph, *, referrers: bool) -> bytes:
    """The mesh-wide findings and (`referrers`) who refers to whom in the record's form,
    as JSON: what `forked.beside` answers."""
    return orjson.dumps({
        "mesh": [d.to_dict() for d in validate.check_mesh(state, mesh_graph)],
        "referrers": revalidate.referrers_of(mesh_graph) if referrers else None})


# A mesh of fewer resources is checked in this process: a fork costs more than it saves.
FORK_MIN_RESOURCES = 5000


def _forks(resources: int, jobs: int | None) -> bool:
    """Whether the mesh-wide checks go to a forked copy (`forked.beside`): on a large
    mesh, when this process may fork (`forked.may_fork`)."""
    return resources >= FORK_MIN_RESOURCES and forked.may_fork(jobs)


def _still_synced(record: revalidate.Record, index: ValidationIndex) -> None:
    """Carry the previous record's marks of files in sync into `record`, for the files
    whose content is what it was: the same content planned against the same live state
    is the same noop."""
    latest = index.latest()
    previous = _record_in(latest[1], index) if latest is not None else None
    if previous is None or previous.synced_at is None:
        return
    try:
        before = previous.files()
    except Damaged:
        return
    record.synced_at = previous.synced_at
    for name, kept in record.files().items():
        was = before.get(name)
        record.mark(name, was is not None and was.synced and bool(kept.digest)
                    and was.digest == kept.digest)


# A full validation's record, but for what the mesh-wide checks find: their findings and
# who refers to whom (`revalidate.referrers_of`), given to make it.
_Recorded = Callable[[list[dict[str, Any]], dict[str, list[str]]], revalidate.Record]


def _record_of(desired: DesiredState) -> _Recorded | None:
    """What `revalidate` needs of a full validation (with what the mesh-wide checks
    find, `_Recorded`); None when a file's result is not known by its content (then the
    next change is validated in full again)."""
    files: dict[str, revalidate.FileRecord] = {}
    problems: dict[str, list[Diagnostic]] = {}
    for diagnostic in desired.diagnostics:
        if diagnostic.file is not None and diagnostic.file not in desired.file_results \
                and diagnostic.code not in revalidate.MERGE_CODES:
            problems.setdefault(diagnostic.file, []).append(diagnostic)
    for name in desired.files:
        stat = desired.stats[name]
        result = desired.file_results.get(name)
        if result is None:
            files[name] = revalidate.FileRecord(
                stat_key(stat) if settled(stat) else None, "", [],
                [d.to_dict() for d in problems.get(name, [])])
            continue
        digest = desired.digests.get(name)
        if not digest:
            return None
        files[name] = revalidate.FileRecord(
            stat_key(stat) if settled(stat) else None, digest,
            [revalidate.key_text(r.key) for r in result.resources],
            [d.to_dict() for d in result.diagnostics])
    merged = [d.to_dict() for d in desired.diagnostics if d.code in revalidate.MERGE_CODES]
    order = revalidate.declaration_order({name: f.keys for name, f in files.items()})
    return functools.partial(revalidate.Record.build, files, order.by_kind, merged,
                             rules=revalidate.rules_of_state(desired.state))


def _save(index: ValidationIndex, stats: Mapping[str, FileStat], validated: Validated,
          extras: dict[str, bytes], record: str | None = None) -> dict[str, Any]:
    """Save the index: the findings, the bulky `extras` beside it (named by digest) and
    the generation of the `record` written (which lists the resources declared)."""
    result = {
        "diagnostics": [d.to_dict() for d in validated.diagnostics],
        "file_count": validated.file_count, "resource_count": validated.resource_count,
        **{part: extra_digest(data) for part, data in extras.items()}, "record": record}
    index.save(stats, result, extras)
    return result


def _revalidated(recorded: Any, index: ValidationIndex, stats: Mapping[str, FileStat],
                 paths: Sequence[str | os.PathLike[str]], max_bytes: int,
                 opened: revalidate.Record | None = None) -> _Outcome | None:
    """`revalidate` from the index's record (`opened`: that record, already open), or None
    when it cannot vouch for the result."""
    record = opened or _record_in(recorded, index)
    if record is None:
        return None
    caches = _caches_for(paths)
    roots = _Roots(caches)
    cached = functools.partial(_cached_in, caches, roots)

    def parse(file: str, stat: FileStat | None) -> tuple[str, loader.FileResult]:
        digest, encoded = _process_file((file, None, max_bytes))
        result = orjson.loads(encoded)
        if "read_problem" in result:
            return "", loader.FileResult([], [Diagnostic.from_dict(result["read_problem"])])
        root = roots.of(file)
        if root is not None:
            caches[root].put(file, digest, encoded, stat)
        return digest, _file_result(result)

    with gc_paused():
        found = revalidate.revalidate(record, stats, cached, parse, settled,
                                      index.listing(stats))
    if found is None:
        return None
    for cache in caches.values():
        cache.save()
    diagnostics = sorted(found.diagnostics, key=sort_key)
    order = found.order

    def declared() -> list[tuple[str, str | None]]:
        return [(str(key), file) for key, file in order.items()]

    validated = Validated(diagnostics, len(stats), len(order), functools.cache(declared))
    generation = _keep_record(index, found.record)
    if generation is None:
        result = _save(index, stats, validated, {"declared": orjson.dumps(validated.declared)})
        return _Outcome(validated, None, result, stats, found.order, caches)
    result = _save(index, stats, validated, {}, generation)
    return _Outcome(validated, found.record, result, stats, found.order, caches)


def _cached_in(caches: dict[Path, ParseCache], roots: _Roots, file: str,
               digest: str) -> loader.FileResult | None:
    """A file's result as its root's parse cache holds it for that content, if it does."""
    root = roots.of(file)
    return caches[root].decoded(file, digest, _cached_result) if root is not None else None


def _validated(recorded: Any, index: ValidationIndex,
               again: Callable[[], list[tuple[str, str | None]]]) -> Validated | None:
    """A recorded result, or None when it is not of the shape written. Its list of
    resources is read when asked for (`again` finds it by loading, should it be gone)."""
    if recorded is None:
        return None
    try:
        digest = recorded.get("declared")
        generation = recorded.get("record")
        if not isinstance(digest, str) and not isinstance(generation, str):
            return None

        @functools.cache
        def declared() -> list[tuple[str, str | None]]:
            if isinstance(digest, str):
                packed = index.extra("declared", digest)
                if packed is not None:
                    return [(str(r), f) for r, f in orjson.loads(packed)]
            else:  # the record lists them
                record = _record_in(recorded, index)
                if record is not None:
                    return [(str(key), file)
                            for key, file in revalidate.Declared(record.order).items()]
            index.forget()  # gone or damaged since: the manifests say it again
            return again()

        return Validated([Diagnostic.from_dict(d) for d in recorded["diagnostics"]],
                         int(recorded["file_count"]), int(recorded["resource_count"]),
                         declared, from_index=True)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


@dataclass(frozen=True, slots=True)
class _Base:
    """A base layer read and checked once, for every environment built on it."""

    desired: DesiredState
    mesh_graph: graph.Graph
    found: list[Diagnostic]  # its mesh-wide findings
    referrers: graph.Referrers
    governance: access.Governance


def load_environments(stacks: Sequence[Sequence[str]], *,
                      max_bytes: int = loader.DEFAULT_MAX_BYTES, use_cache: bool = True,
                      jobs: int | None = None) -> list[DesiredState]:
    """`load_desired` of several environments (each a list of layers, base first) at the
    cost of about one: a base they share is read and checked once, and each environment
    re-checks only what its overlays change (`validate.changes`)."""
    shared: dict[str, _Base] = {}
    loaded: list[DesiredState] = []
    with gc_paused():
        for stack in stacks:
            base_path = str(stack[0])
            if base_path not in shared:
                base, _ = load([base_path], max_bytes=max_bytes, use_cache=use_cache,
                               jobs=jobs, mesh_checks=False)
                started = time.perf_counter()
                base_graph = graph.build(base.state)
                governance = access.Governance.of(base.state)
                found = validate.check_mesh(base.state, base_graph, governance=governance)
                base.timings["validate"] += time.perf_counter() - started
                shared[base_path] = _Base(base, base_graph, found,
                                          graph.Referrers.of(base_graph), governance)
            checked = shared[base_path]
            base = checked.desired
            if len(stack) == 1:
                loaded.append(dataclasses.replace(
                    base, diagnostics=sorted(base.diagnostics + checked.found, key=sort_key)))
                continue
            started = time.perf_counter()
            overlays = layers.read_overlays(stack[1:], max_bytes)
            applied = apply_layers(base.state, base.diagnostics, overlays)
            mesh_found = changes.check_mesh_changed(
                applied.state, base.state, checked.mesh_graph, checked.found, list(applied.changed),
                checked.referrers, checked.governance)
            diagnostics = sorted(layers.note_base(applied.diagnostics + mesh_found,
                                                  applied.state), key=sort_key)
            timings = {**base.timings, "layers": time.perf_counter() - started}
            loaded.append(DesiredState(applied.state, diagnostics,
                                       [*base.files, *overlays.files], timings))
    return loaded


# What merging the base's files finds about names, kept whatever a later layer does.
_MERGE_CODES = frozenset({"M010", "M014"})


def apply_layers(base: MeshState, diagnostics: list[Diagnostic], overlays: layers.Overlays
                 ) -> layers.Applied:
    """The environment's state: `overlays` over the `base` state, whose per-resource
    `diagnostics` are replaced by the merged resources' for what the layers changed
    (the result's diagnostics are all of them)."""
    applied = layers.apply(base, overlays)
    changed = {str(key) for key in applied.changed}
    kept = [d for d in diagnostics if d.resource not in changed or d.code in _MERGE_CODES]
    checked = [d for resource in applied.changed.values() if resource is not None
               for d in validate.check_resource(resource)]
    applied.diagnostics = kept + overlays.diagnostics + applied.diagnostics + checked
    return applied


@dataclass(slots=True)
class _Found:
    """What reading the files has found so far: results, the files still to parse, problems."""

    results: dict[str, loader.FileResult] = field(default_factory=dict)
    stats: dict[str, FileStat] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    misses: list[_Miss] = field(default_factory=list)
    read_problems: list[Diagnostic] = field(default_factory=list)
    hits: int = 0

    def from_cache(self, path: str, stat: FileStat, cache: ParseCache,
                   max_bytes: int) -> None:
        """The file's result from the parse cache (unread when its stat is unchanged, else
        read and looked up by content), or a miss to parse."""
        unchanged = _cached_result(cache.get_unchanged(path, stat))
        if unchanged is not None:
            self.results[path] = unchanged
            self.digests[path] = cache.digest_of(path) or ""
            self.hits += 1
            return
        if not cache.knows(path):
            self.misses.append(_Miss(path, None, stat))  # a worker reads it
            return
        data = loader.read_manifest_bytes(path, max_bytes)
        if isinstance(data, Diagnostic):
            self.read_problems.append(data)
            return
        digest = ParseCache.digest(data)
        cached = _cached_result(cache.get(path, digest))
        if cached is None:
            self.misses.append(_Miss(path, data, stat))
            return
        self.results[path] = cached
        self.digests[path] = digest
        self.hits += 1
        cache.remember_stat(path, stat)

    def take(self, misses: list[_Miss], outcomes: Iterable[tuple[str, bytes]], roots: _Roots,
             caches: dict[Path, ParseCache]) -> None:
        """The workers' results for `misses`, in order, taken as they come (decoding one
        while the workers parse the next); each goes into its root's cache as it is."""
        for miss, (digest, encoded) in zip(misses, outcomes, strict=True):
            result = orjson.loads(encoded)
            if "read_problem" in result:
                self.read_problems.append(Diagnostic.from_dict(result["read_problem"]))
                continue
            self.results[miss.path] = _file_result(result)
            self.digests[miss.path] = digest
            root = roots.of(miss.path)
            if root is not None:
                caches[root].put(miss.path, digest, encoded, miss.stat)


def record_in_sync(desired: DesiredState, fingerprint: str, is_noop: Any) -> None:
    """Write the sync record of each manifests root: the files all of whose resources are
    noops against the live registries at `fingerprint` (after an apply: all of them). Files
    served from the record keep their recorded entries as they are."""
    for root, record in desired.records.items():
        files: dict[str, tuple[FileStat, Any, Any]] = {}
        under = _Roots({root: record})
        kept = {path for path in desired.in_sync if under.of(path) is not None}
        for path in desired.file_results.keys() - desired.in_sync:
            result = desired.file_results[path]
            stat = desired.stats.get(path)
            if stat is None or under.of(path) is None or not all(
                    is_noop(resource.key) for resource in result.resources):
                continue
            files[path] = (stat, [
                [r.kind.value, r.name, r.source.line if r.source else None, dict(r.labels),
                 dict(r.annotations)] for r in result.resources],
                [d.to_dict() for d in result.diagnostics])
        record.save(fingerprint, files, kept)


def read_manifest_file(path: str, max_bytes: int = loader.DEFAULT_MAX_BYTES
                       ) -> loader.FileResult:
    """One manifest file read, parsed and checked by the per-resource rules, in this
    process: what the engine caches per file (an unreadable file: its diagnostic)."""
    data = loader.read_manifest_bytes(path, max_bytes)
    if isinstance(data, Diagnostic):
        return loader.FileResult([], [data])
    return _checked(loader.parse_manifest(data, file=path))


def _checked(result: loader.FileResult) -> loader.FileResult:
    """`result` with the per-resource rules' findings added."""
    result.diagnostics += [d for resource in result.resources
                           for d in validate.check_resource(resource)]
    return result


class _Miss(NamedTuple):
    """A file to parse: its bytes when already read (to compare with the cache), else None."""

    path: str
    data: bytes | None
    stat: FileStat | None


def _process_file(item: tuple[str, bytes | None, int]) -> tuple[str, bytes]:
    """Read (unless given), hash, parse one manifest file and run the per-resource rules.

    Returns the content digest and the result as JSON bytes, which cross a process boundary
    far faster than pickled dicts and go into the cache as they are.
    """
    path, data, max_bytes = item
    if data is None:
        read = loader.read_manifest_bytes(path, max_bytes)
        if isinstance(read, Diagnostic):
            return "", orjson.dumps({"read_problem": read.to_dict()})
        data = read
    result = _checked(loader.parse_manifest(data, file=path))
    return ParseCache.digest(data), orjson.dumps({
        "resources": [_cacheable(r) for r in result.resources],
        "diagnostics": [d.to_dict() for d in result.diagnostics]})


def _cacheable(resource: Resource) -> dict[str, Any]:
    """A resource as the cache keeps it: its field lines as JSON text, which decoding the
    result leaves as one string (`model.resource.LazyLines`) until a finding needs one."""
    data = resource.to_dict()
    source = data.get("source")
    if source and source.get("field_lines"):
        source["field_lines"] = orjson.dumps(source["field_lines"]).decode()
    return data


@contextlib.contextmanager
def _parsing(misses: list[_Miss], max_bytes: int, jobs: int | None, *,
             background: bool) -> Iterator[Callable[[], Iterable[tuple[str, bytes]]]]:
    """Parse `misses`; the block gets a function returning the results in order (as the
    workers finish them: to be taken inside the block).

    Many files are spread over forked workers (`jobs`, default the CPU count); a few are
    parsed in this process, unless `background`: then in one forked worker, so they are
    parsed while the block does something else (the plan reads the live registries)."""
    work = [(miss.path, miss.data, max_bytes) for miss in misses]
    workers = min(jobs or os.cpu_count() or 1, len(work))
    few = len(work) < PARALLEL_MIN_FILES and sum(
        len(data) for _, data, _ in work if data is not None) < PARALLEL_MIN_BYTES
    if workers < 1 or jobs == 1 or (few or workers == 1) and not background:
        yield lambda: [_process_file(item) for item in work]
        return
    # fork: workers inherit the imported modules, so start-up costs milliseconds, not seconds.
    context = multiprocessing.get_context("fork")
    workers = 1 if few else workers
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = pool.map(_process_file, work, chunksize=max(1, len(work) // (workers * 8)))
        yield lambda: pending


def _cached_result(cached: Any) -> loader.FileResult | None:
    """A cached result, or None when absent or not of the shape this code writes (a cache
    is a file anyone can edit or commit: a damaged entry is a miss, never a crash)."""
    if cached is None:
        return None
    try:
        return _file_result(cached)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _file_result(data: dict[str, Any]) -> loader.FileResult:
    return loader.FileResult(
        [Resource.from_dict(r) for r in data["resources"]],
        [Diagnostic.from_dict(d) for d in data["diagnostics"]])


def _caches_for(paths: Sequence[str | os.PathLike[str]]) -> dict[Path, ParseCache]:
    salt = keyed_salt(scanning.code_fingerprint())
    if salt is None:
        return {}
    return {Path(p): ParseCache(Path(p), salt=salt) for p in paths if Path(p).is_dir()}


def _records_for(caches: dict[Path, ParseCache], store_id: str) -> dict[Path, SyncRecord]:
    return {root: SyncRecord(root, salt=cache.salt, store_id=store_id)
            for root, cache in caches.items()}


_KINDS = {kind.value: kind for kind in Kind}


def _synced_result(file: str, recorded: Any, live: MeshState) -> loader.FileResult | None:
    """A file proved in sync: its resources are the live entries (equal in meaning, so the
    plan finds them noops at once), its lines read from the file if a message needs them.
    None when the record is not of the shape written or a resource is not live."""
    if recorded is None:
        return None
    try:
        resources = []
        for kind, name, line, labels, annotations in recorded["resources"]:
            key = ResourceKey(_KINDS[kind], name)
            entry = live.get(key)
            if entry is None:
                return None
            source = Source(file, line, loader.LazyFieldLines(file, key))
            resources.append(Resource(key, entry.entry, source, labels, annotations))
        return loader.FileResult(resources, [Diagnostic.from_dict(d)
                                             for d in recorded["diagnostics"]])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


class _Roots:
    """Which manifests root (a directory given, with a cache) holds a file name. Names are
    normalized as `Path` writes them, so a prefix test is the same as comparing parts."""

    def __init__(self, roots: dict[Path, Any]) -> None:
        self._prefixes = [("" if str(root) == "." else str(root).rstrip(os.sep) + os.sep, root)
                          for root in roots]

    def of(self, name: str) -> Path | None:
        for prefix, root in self._prefixes:
            if name.startswith(prefix):
                return root
        return None
