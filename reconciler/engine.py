"""The engine: the one place that chains load -> validate -> plan -> apply (and rollback).

Every shell (CLI, API, panel, watch loop, library) calls these functions and nothing below
them, so a rule can never be skipped by one entry point; the library's and the API's writes
are planned by `writes` and committed here, by `apply_plan`.

Reading manifests is the expensive step at scale (libyaml composes ~6 MB/s). Each file is
parsed and checked on its own (`_process_file`: parse + per-resource rules), so the engine
serves unchanged files from the parse cache and spreads the rest over worker processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from reconciler import graph, validate
from reconciler import store as store_
from reconciler.errors import (
    Diagnostic,
    MeshctlError,
    PlanRefused,
    sort_key,
)
from reconciler.gcpause import gc_paused
from reconciler.manifests import loader
from reconciler.model import fields, kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.parsecache import ParseCache, SyncRecord, keyed_salt
from reconciler.plan import breaking, compute
from reconciler.plan.model import Action, Plan
from reconciler.store import LiveState, StoreLike

# Below these, worker start-up costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024
PARALLEL_MIN_FILES = 500
DEFAULT_MAX_DELETES = 50


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
    stats: dict[str, os.stat_result] = field(default_factory=dict)
    records: dict[Path, SyncRecord] = field(default_factory=dict)  # per manifests root

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
        desired, _ = _load(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                           mesh_checks=mesh_checks)
    return desired


def _load(paths: Sequence[str | os.PathLike[str]], *, max_bytes: int, use_cache: bool,
          jobs: int | None, mesh_checks: bool, registries: str | None = None,
          read_live: Callable[[], LiveState] | None = None
          ) -> tuple[DesiredState, LiveState | None]:
    """`load_desired`; with `read_live` (the plan's), also the live registries of
    `registries`, read while the files the parse cache cannot answer are parsed in a worker.
    Files the sync record proves in sync with what was read are not read at all: their
    resources are its entries."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    files = loader.manifest_file_names(paths)
    caches = _caches_for(paths) if use_cache else {}
    roots = _Roots(caches)
    records = _records_for(caches, registries) if read_live and registries is not None else {}
    found = _Found()
    candidates: list[tuple[str, SyncRecord]] = []
    for path in files:
        root = roots.of(path)
        stat = _stat(path) if root is not None else None
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
            late_misses = len(found.misses)
            for path in late:
                root = roots.of(path)
                assert root is not None
                found.from_cache(path, found.stats[path], caches[root], max_bytes)
            timings["read"] += time.perf_counter() - started
        started = time.perf_counter()
        outcomes = parsed()
    if read_live is not None and len(found.misses) > late_misses:
        with _parsing(found.misses[late_misses:], max_bytes, jobs, background=False) as more:
            outcomes += more()
    for miss, (digest, encoded) in zip(found.misses, outcomes, strict=True):
        result = orjson.loads(encoded)
        if "read_problem" in result:
            found.read_problems.append(Diagnostic.from_dict(result["read_problem"]))
            continue
        found.results[miss.path] = _file_result(result)
        root = roots.of(miss.path)
        if root is not None:  # the worker's bytes go into the shard as they are
            caches[root].put(miss.path, digest, orjson.Fragment(encoded), miss.stat)
    timings["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    file_results = [found.results[path] for path in files if path in found.results]
    state, diagnostics = loader.merge_results(file_results)
    timings["build"] = time.perf_counter() - started

    started = time.perf_counter()
    diagnostics = found.read_problems + diagnostics
    if mesh_checks:
        diagnostics += validate.check_mesh(state, graph.build(state))
    diagnostics.sort(key=sort_key)
    timings["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    for root, cache in caches.items():
        if not in_sync:  # else most shards were never loaded: the next full run prunes
            cache.forget_missing({p for p in files if roots.of(p) == root})
        cache.save()
    timings["cache"] = time.perf_counter() - started
    desired = DesiredState(state, diagnostics, files, timings, found.hits, in_sync,
                           found.results, found.stats, records)
    return desired, live


@dataclass(slots=True)
class _Found:
    """What reading the files has found so far: results, the files still to parse, problems."""

    results: dict[str, loader.FileResult] = field(default_factory=dict)
    stats: dict[str, os.stat_result] = field(default_factory=dict)
    misses: list[_Miss] = field(default_factory=list)
    read_problems: list[Diagnostic] = field(default_factory=list)
    hits: int = 0

    def from_cache(self, path: str, stat: os.stat_result, cache: ParseCache,
                   max_bytes: int) -> None:
        """The file's result from the parse cache (unread when its stat is unchanged, else
        read and looked up by content), or a miss to parse."""
        unchanged = _cached_result(cache.get_unchanged(path, stat))
        if unchanged is not None:
            self.results[path] = unchanged
            self.hits += 1
            return
        if not cache.knows(path):
            self.misses.append(_Miss(path, None, stat))  # a worker reads it
            return
        data = loader.read_manifest_bytes(path, max_bytes)
        if isinstance(data, Diagnostic):
            self.read_problems.append(data)
            return
        cached = _cached_result(cache.get(path, ParseCache.digest(data)))
        if cached is None:
            self.misses.append(_Miss(path, data, stat))
            return
        self.results[path] = cached
        self.hits += 1
        cache.remember_stat(path, stat)


@dataclass(slots=True)
class PlanResult:
    """A plan with what it was computed from. `errors` non-empty means there is no plan."""

    desired: DesiredState
    live: LiveState
    plan: Plan | None
    diagnostics: list[Diagnostic]
    timings: dict[str, float] = field(default_factory=dict)
    paths: tuple[str, ...] = ()  # the manifests it was planned from (none for a rollback)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def make_plan(paths: Sequence[str | os.PathLike[str]], registries: StoreLike, *,
              prune: bool = True, max_bytes: int = loader.DEFAULT_MAX_BYTES,
              use_cache: bool = True, jobs: int | None = None,
              lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT,
              deny_breaking: bool = False) -> PlanResult:
    """Manifests + live registries -> a plan, after validating what would remain live.

    The mesh-wide rules run over the state the plan leaves behind: the manifests, plus (with
    `prune=False`) the live resources no manifest declares, so a reference to a resource that
    stays live only because it is not pruned is valid. Unreadable registries or invalid
    manifests give no plan.
    """
    store = store_.open_store(registries, lock_timeout=lock_timeout)
    with gc_paused():
        desired, read = _load(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                              mesh_checks=False, registries=store.location,
                              read_live=store.snapshot)
    assert read is not None
    return plan_from(desired, read, registries=store.location, paths=paths, prune=prune,
                     deny_breaking=deny_breaking)


def plan_from(desired: DesiredState, live: LiveState, *, registries: str,
              paths: Sequence[str | os.PathLike[str]], prune: bool = True,
              deny_breaking: bool = False) -> PlanResult:
    """`make_plan` for manifests already read (`load_desired(..., mesh_checks=False)`, or a
    watch loop's state kept in memory) and live registries already read. Breaking schema
    changes are warnings, or refusals with `deny_breaking`."""
    timings = dict(desired.timings)
    timings.setdefault("validate", 0.0)
    started = time.perf_counter()
    remaining = compute.remaining_state(desired.state, live.state, prune=prune)
    remaining_graph = graph.build(remaining)
    # Findings about live-only resources (kept by --no-prune) are not the manifests' to fix.
    declared = {str(resource.key) for resource in desired.state}
    mesh = [d for d in validate.check_mesh(remaining, remaining_graph, live.state)
            if d.resource is None or d.file is None or d.resource in declared]
    diagnostics = sorted(live.diagnostics + desired.diagnostics + mesh, key=sort_key)
    timings["validate"] += time.perf_counter() - started
    if any(d.is_error for d in diagnostics):
        return PlanResult(desired, live, None, diagnostics, timings)
    given = tuple(str(p) for p in paths)
    started = time.perf_counter()
    plan = compute.compute_plan(desired=desired.state, live=live.state,
                                live_fingerprint=live.fingerprint, prune=prune,
                                remaining=remaining, remaining_graph=remaining_graph)
    plan, found = breaking.assess(plan, remaining, live.state, deny=deny_breaking)
    diagnostics = sorted(diagnostics + found + _unloadable_live(plan, live), key=sort_key)
    warnings = tuple(d for d in diagnostics if not d.is_error)
    meta = {"registries": str(registries), "manifests": [str(p) for p in paths],
            "git_commit": git_commit_of(paths)}
    plan = Plan(plan.live_fingerprint, plan.changes, plan.prune, warnings, meta=meta)
    timings["diff"] = time.perf_counter() - started
    if desired.records and not live.diagnostics:
        noops = {change.key for change in plan.changes if change.action is Action.NOOP}
        record_in_sync(desired, live.fingerprint, lambda key: key in noops)
    return PlanResult(desired, live, plan, diagnostics, timings, given)


def _unloadable_live(plan: Plan, live: LiveState) -> list[Diagnostic]:
    """The live entries the runtime skips (L007). A noop's live entry means what its
    manifest does, which the rules passed complete, so only the others are looked at: the
    check costs what the changes do, not what the mesh does."""
    in_sync = {change.key for change in plan.changes if change.action is Action.NOOP}
    return validate.check_live(live.state, skip=in_sync)


def record_in_sync(desired: DesiredState, fingerprint: str, is_noop: Any) -> None:
    """Write the sync record of each manifests root: the files all of whose resources are
    noops against the live registries at `fingerprint` (after an apply: all of them). Files
    served from the record keep their recorded entries as they are."""
    for root, record in desired.records.items():
        files: dict[str, tuple[os.stat_result, Any, Any]] = {}
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


def apply_plan(plan: Plan, registries: StoreLike, *, source: str = "cli",
               max_deletes: int = DEFAULT_MAX_DELETES,
               lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT,
               note: str | None = None, planned: PlanResult | None = None,
               known: LiveState | None = None) -> store_.Revision | None:
    """Commit `plan` as one revision, or refuse before writing a byte: when it holds refusals,
    deletes more than `max_deletes` (-1: no limit), or the registries moved on since it was
    computed (stale: the error says what changed, and in which revision). None when the plan
    changes nothing. Every attempt is recorded in the audit log. `planned`, the result the
    plan came from, lets a successful commit record its manifests as in sync; its live state
    (or `known`, the state a plan was made from) spares the commit re-hashing files whose
    stat shows them unchanged since."""
    store = store_.open_store(registries, lock_timeout=lock_timeout)
    summary = plan.summary
    counts = {"create": summary.create, "update": summary.update, "delete": summary.delete}
    info = store_.default_info(source, git_commit=plan.meta.get("git_commit"),
                               summary=counts, note=note)
    base = {"source": source, "user": info.user, "host": info.host, "action": "apply",
            "summary": counts}
    if plan.refusals:
        reasons = "; ".join(change.refused or "" for change in plan.refusals)
        store.audit({**base, "result": "refused", "reason": reasons})
        raise PlanRefused(f"the plan holds {len(plan.refusals)} refusal(s); nothing was "
                          f"written: {reasons}")
    if 0 <= max_deletes < summary.delete:
        store.audit({**base, "result": "refused", "reason": "max-deletes"})
        raise PlanRefused(
            f"the plan deletes {summary.delete} resources, more than --max-deletes "
            f"{max_deletes} allows; nothing was written. If that is intended, pass "
            f"--max-deletes {summary.delete} (or -1); if not, check that PATH holds all "
            "the manifests")
    changes = {change.key: change.after for change in plan.actionable}
    if not changes:
        return None
    try:
        befores = {change.key: change.before for change in plan.actionable}
        revision = store.commit(
            changes, expected=plan.live_fingerprint, info=info, befores=befores,
            stale_detail=lambda live, since: _staleness(plan, live, since),
            known=known or (planned.live if planned is not None else None))
    except MeshctlError as error:
        store.audit({**base, "result": "failed", "reason": str(error)})
        raise
    if planned is not None and planned.plan is plan and planned.desired.records:
        # The registries now hold every declared resource as the manifests say.
        record_in_sync(planned.desired, revision.fingerprint_after, lambda key: True)
    return revision


def _staleness(plan: Plan, live: LiveState, since: list[dict[str, Any]]) -> str:
    """Which of the plan's resources changed since it was made, and by which revision."""
    touched = {(change.key.kind.value, change.key.name) for change in plan.actionable}
    if since:
        parts = []
        for record in since:
            names = [f"{kinds.info(Kind(c['kind'])).label} {c['name']}"
                     for c in record["changes"] if (c["kind"], c["name"]) in touched]
            names = names or [f"{len(record['changes'])} other resource(s)"]
            parts.append(f"{', '.join(names[:10])} changed in revision {record['revision']} "
                         f"by {record['source']}")
        return "; ".join(parts)
    moved = [change.key for change in plan.actionable
             if _entry_of(live.state, change.key) != change.before]
    if moved:
        return ", ".join(f"{kinds.info(k.kind).label} {k.name}" for k in moved[:10]) + \
            " changed outside meshctl"
    return "the registry files changed outside meshctl"


def _entry_of(state: MeshState, key: ResourceKey) -> dict[str, Any] | None:
    resource = state.get(key)
    return resource.entry if resource else None


def rollback_plan(registries: StoreLike, number: int, *,
                  lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT) -> PlanResult:
    """The plan that returns the registries to their state right after revision `number`:
    every later revision's changes undone, checked by the same rules as any plan."""
    store = store_.open_store(registries, lock_timeout=lock_timeout)
    known = store.revisions()
    if number not in known:
        store.revision(number)  # raises, naming the revisions there are
    live = store.snapshot()
    target = live.state.copy()
    for later in reversed([n for n in known if n > number]):
        for change in store.revision(later)["changes"]:
            key = ResourceKey(Kind(change["kind"]), change["name"])
            before = change["before"]
            if before is None:
                target.discard(key)
            else:
                previous = live.state.get(key)
                target.add(Resource(key, fields.complete(key.kind, before),
                                    previous.source if previous else None))
    diagnostics = [d for d in validate.validate_state(target) if d.is_error]
    empty = DesiredState(target, diagnostics, [])
    if diagnostics:
        return PlanResult(empty, live, None, diagnostics)
    plan = compute.compute_plan(desired=target, live=live.state,
                                live_fingerprint=live.fingerprint, prune=True)
    plan = Plan(plan.live_fingerprint, plan.changes, plan.prune,
                meta={"registries": store.location, "rollback_to": number})
    return PlanResult(empty, live, plan, [])


def git_commit_of(paths: Sequence[str | os.PathLike[str]]) -> str | None:
    """The commit checked out where the manifests live, when they are in a git work tree."""
    for raw in paths:
        folder = Path(raw) if Path(raw).is_dir() else Path(raw).parent
        try:
            done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                                  capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode == 0:
            return done.stdout.strip() or None
    return None


def load_live(registries: StoreLike, *,
              lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT) -> LiveState:
    """The live registries, with the problems found while reading them.

    Read through the store: an interrupted commit is finished first, and the read waits for
    a commit in progress, so no reader ever sees half of one. A directory that does not
    exist reads as empty (the CLI refuses that before asking)."""
    if isinstance(registries, str | os.PathLike) and not Path(registries).is_dir():
        return LiveState(Path(registries))
    return store_.open_store(registries, lock_timeout=lock_timeout).snapshot()


def validate_live(live: LiveState) -> list[Diagnostic]:
    """Read problems plus every rule over the live state."""
    found = live.diagnostics + validate.check_live(live.state) + validate.validate_state(
        live.state)
    found.sort(key=sort_key)
    return found


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
    stat: os.stat_result | None


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
        "resources": [r.to_dict() for r in result.resources],
        "diagnostics": [d.to_dict() for d in result.diagnostics]})


@contextlib.contextmanager
def _parsing(misses: list[_Miss], max_bytes: int, jobs: int | None, *,
             background: bool) -> Iterator[Callable[[], list[tuple[str, bytes]]]]:
    """Parse `misses`; the block gets a function returning the results in order.

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
        yield lambda: list(pending)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


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
    salt = keyed_salt(_code_fingerprint())
    if salt is None:
        return {}
    return {Path(p): ParseCache(Path(p), salt=salt) for p in paths if Path(p).is_dir()}


def _records_for(caches: dict[Path, ParseCache], registries: str) -> dict[Path, SyncRecord]:
    return {root: SyncRecord(root, salt=cache.salt, registries=registries)
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


_fingerprint: str | None = None


def _code_fingerprint() -> str:
    """A hash of meshctl's own source: cached results are only reused by the same code."""
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.sha256()
        package = Path(__file__).parent
        for source in sorted(package.rglob("*.py")):
            digest.update(source.read_bytes())
        _fingerprint = digest.hexdigest()[:16]
    return _fingerprint
