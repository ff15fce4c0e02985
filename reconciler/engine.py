"""The engine: the one place that chains load -> validate (and, later, plan -> apply).

Every shell (CLI, API, panel, watch loop, library) calls these functions and nothing below
them, so a rule can never be skipped by one entry point.

Reading manifests is the expensive step at scale (libyaml composes ~6 MB/s). Each file is
parsed and checked on its own (`_process_file`: parse + per-resource rules), so the engine
serves unchanged files from the parse cache and spreads the rest over worker processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from reconciler import graph, validate
from reconciler.errors import Diagnostic, MeshctlError, PlanRefused, sort_key
from reconciler.gcpause import gc_paused
from reconciler.manifests import loader
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.parsecache import ParseCache, keyed_salt
from reconciler.plan import compute
from reconciler.plan.model import Plan
from reconciler.store import filestore, history
from reconciler.store.registry_files import LiveState, read_live_state

# Below these, worker start-up costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024
PARALLEL_MIN_FILES = 500
DEFAULT_MAX_DELETES = 50


@dataclass(slots=True)
class DesiredState:
    """The manifests as read and checked: the state, every diagnostic, and what it cost."""

    state: MeshState
    diagnostics: list[Diagnostic]
    files: list[Path]
    timings: dict[str, float] = field(default_factory=dict)
    cache_hits: int = 0

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
        return _load_desired(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                             mesh_checks=mesh_checks)


def _load_desired(paths: Sequence[str | os.PathLike[str]], *, max_bytes: int, use_cache: bool,
                  jobs: int | None, mesh_checks: bool) -> DesiredState:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    files = loader.find_manifest_files(paths)
    caches = _caches_for(paths) if use_cache else {}
    results: dict[Path, loader.FileResult] = {}
    misses: list[_Miss] = []
    read_problems: list[Diagnostic] = []
    hits = 0
    for path in files:
        cache = _cache_of(path, caches)
        stat = _stat(path) if cache else None
        if cache is not None and stat is not None:
            unchanged = _cached_result(cache.get_unchanged(str(path), stat))
            if unchanged is not None:
                results[path] = unchanged
                hits += 1
                continue
        if cache is None or not cache.knows(str(path)):
            misses.append(_Miss(path, None, stat))  # nothing to compare: a worker reads it
            continue
        data = loader.read_manifest_bytes(path, max_bytes)
        if isinstance(data, Diagnostic):
            read_problems.append(data)
            continue
        cached = _cached_result(cache.get(str(path), ParseCache.digest(data)))
        if cached is not None:
            results[path] = cached
            hits += 1
            if stat is not None:
                cache.remember_stat(str(path), stat)
        else:
            misses.append(_Miss(path, data, stat))
    timings["read"] = time.perf_counter() - started

    started = time.perf_counter()
    work = [(miss.path, miss.data, max_bytes) for miss in misses]
    for miss, (digest, encoded) in zip(misses, _process_all(work, jobs), strict=True):
        result = orjson.loads(encoded)
        if "read_problem" in result:
            read_problems.append(Diagnostic.from_dict(result["read_problem"]))
            continue
        results[miss.path] = _file_result(result)
        cache = _cache_of(miss.path, caches)
        if cache is not None:  # the worker's bytes go into the shard as they are
            cache.put(str(miss.path), digest, orjson.Fragment(encoded), miss.stat)
    timings["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    file_results = [results[path] for path in files if path in results]
    state, diagnostics = loader.merge_results(file_results)
    timings["build"] = time.perf_counter() - started

    started = time.perf_counter()
    diagnostics = read_problems + diagnostics
    if mesh_checks:
        diagnostics += validate.check_mesh(state, graph.build(state))
    diagnostics.sort(key=sort_key)
    timings["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    for root, cache in caches.items():
        cache.forget_missing({str(p) for p in files if _is_under(p, root)})
        cache.save()
    timings["cache"] = time.perf_counter() - started
    return DesiredState(state, diagnostics, files, timings, hits)


@dataclass(slots=True)
class PlanResult:
    """A plan with what it was computed from. `errors` non-empty means there is no plan."""

    desired: DesiredState
    live: LiveState
    plan: Plan | None
    diagnostics: list[Diagnostic]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def make_plan(paths: Sequence[str | os.PathLike[str]], registries: str | os.PathLike[str], *,
              prune: bool = True, max_bytes: int = loader.DEFAULT_MAX_BYTES,
              use_cache: bool = True, jobs: int | None = None,
              lock_timeout: float = filestore.DEFAULT_LOCK_TIMEOUT) -> PlanResult:
    """Manifests + live registries -> a plan, after validating what would remain live.

    The mesh-wide rules run over the state the plan leaves behind: the manifests, plus (with
    `prune=False`) the live resources no manifest declares, so a reference to a resource that
    stays live only because it is not pruned is valid. Unreadable registries or invalid
    manifests give no plan.
    """
    desired = load_desired(paths, max_bytes=max_bytes, use_cache=use_cache, jobs=jobs,
                           mesh_checks=False)
    started = time.perf_counter()
    with gc_paused():
        live = load_live(registries, lock_timeout=lock_timeout)
    timings = {**desired.timings, "live": time.perf_counter() - started}
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
    started = time.perf_counter()
    plan = compute.compute_plan(desired=desired.state, live=live.state,
                                live_fingerprint=live.fingerprint, prune=prune,
                                remaining=remaining, remaining_graph=remaining_graph)
    warnings = tuple(d for d in diagnostics if not d.is_error)
    meta = {"registries": str(registries), "manifests": [str(p) for p in paths],
            "git_commit": git_commit_of(paths)}
    plan = Plan(plan.live_fingerprint, plan.changes, plan.prune, warnings, meta=meta)
    timings["diff"] = time.perf_counter() - started
    return PlanResult(desired, live, plan, diagnostics, timings)


def apply_plan(plan: Plan, registries: str | os.PathLike[str], *, source: str = "cli",
               max_deletes: int = DEFAULT_MAX_DELETES,
               lock_timeout: float = filestore.DEFAULT_LOCK_TIMEOUT,
               note: str | None = None) -> filestore.Revision | None:
    """Commit `plan` as one revision, or refuse before writing a byte: when it holds refusals,
    deletes more than `max_deletes` (-1: no limit), or the registries moved on since it was
    computed (stale: the error says what changed, and in which revision). None when the plan
    changes nothing. Every attempt is recorded in the audit log."""
    store = filestore.FileStore(registries, lock_timeout=lock_timeout)
    summary = plan.summary
    counts = {"create": summary.create, "update": summary.update, "delete": summary.delete}
    info = filestore.default_info(source, git_commit=plan.meta.get("git_commit"),
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
        return store.commit(changes, expected=plan.live_fingerprint, info=info, befores=befores,
                            stale_detail=lambda live, since: _staleness(plan, live, since))
    except MeshctlError as error:
        store.audit({**base, "result": "failed", "reason": str(error)})
        raise


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


def rollback_plan(registries: str | os.PathLike[str], number: int, *,
                  lock_timeout: float = filestore.DEFAULT_LOCK_TIMEOUT) -> PlanResult:
    """The plan that returns the registries to their state right after revision `number`:
    every later revision's changes undone, checked by the same rules as any plan."""
    store = filestore.FileStore(registries, lock_timeout=lock_timeout)
    known = history.numbers(store.meta)
    if number not in known:
        history.load(store.meta, number)  # raises, naming the revisions there are
    live = store.snapshot()
    target = live.state.copy()
    for later in reversed([n for n in known if n > number]):
        for change in history.load(store.meta, later)["changes"]:
            key = ResourceKey(Kind(change["kind"]), change["name"])
            before = change["before"]
            if before is None:
                target.discard(key)
            else:
                previous = live.state.get(key)
                target.add(Resource(key, before, previous.source if previous else None))
    diagnostics = [d for d in validate.validate_state(target) if d.is_error]
    empty = DesiredState(target, diagnostics, [])
    if diagnostics:
        return PlanResult(empty, live, None, diagnostics)
    plan = compute.compute_plan(desired=target, live=live.state,
                                live_fingerprint=live.fingerprint, prune=True)
    plan = Plan(plan.live_fingerprint, plan.changes, plan.prune,
                meta={"registries": str(registries), "rollback_to": number})
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


def load_live(root: str | os.PathLike[str], *,
              lock_timeout: float = filestore.DEFAULT_LOCK_TIMEOUT) -> LiveState:
    """The live registries under `root`, with the problems found while reading them.

    Read through the store: an interrupted commit is finished first, and the read waits for
    a commit in progress, so no reader ever sees half of one. A missing directory reads as
    empty (the CLI refuses that before asking)."""
    if not Path(root).is_dir():
        return read_live_state(root)
    return filestore.FileStore(root, lock_timeout=lock_timeout).snapshot()


def validate_live(live: LiveState) -> list[Diagnostic]:
    """Read problems plus every rule over the live state."""
    found = live.diagnostics + validate.validate_state(live.state)
    found.sort(key=sort_key)
    return found


class _Miss(NamedTuple):
    """A file to parse: its bytes when already read (to compare with the cache), else None."""

    path: Path
    data: bytes | None
    stat: os.stat_result | None


def _process_file(item: tuple[Path, bytes | None, int]) -> tuple[str, bytes]:
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
    result = loader.parse_manifest(data, file=str(path))
    diagnostics = result.diagnostics + [
        d for resource in result.resources for d in validate.check_resource(resource)]
    return ParseCache.digest(data), orjson.dumps({
        "resources": [r.to_dict() for r in result.resources],
        "diagnostics": [d.to_dict() for d in diagnostics]})


def _process_all(misses: list[tuple[Path, bytes | None, int]],
                 jobs: int | None) -> list[tuple[str, bytes]]:
    workers = min(jobs or os.cpu_count() or 1, len(misses))
    if workers <= 1 or len(misses) < PARALLEL_MIN_FILES and sum(
            len(data) for _, data, _ in misses if data is not None) < PARALLEL_MIN_BYTES:
        return [_process_file(item) for item in misses]
    # fork: workers inherit the imported modules, so start-up costs milliseconds, not seconds.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        chunk = max(1, len(misses) // (workers * 8))
        return list(pool.map(_process_file, misses, chunksize=chunk))


def _stat(path: Path) -> os.stat_result | None:
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


def _cache_of(path: Path, caches: dict[Path, ParseCache]) -> ParseCache | None:
    for root, cache in caches.items():
        if _is_under(path, root):
            return cache
    return None


def _is_under(path: Path, root: Path) -> bool:
    return path.parts[: len(root.parts)] == root.parts


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
