"""Validating again only what changed since the last validation (issue 26).

The validation index keeps, beside its answer, a `Record` of that validation: per file its
stat, the digest of its content, the resources it declares and its own findings; the
merge findings (M010, M014); the mesh-wide findings; and who refers to whom. When a few
files changed, `revalidate` reads just those, builds the new state and the old one lazily
(a resource is decoded from the parse cache only when a rule asks for it), and re-checks
what the change reaches with `validate.changes.check_mesh_changed`. The result equals a
full validation (a property test drives random edit sequences against one); anything it
cannot vouch for (a cached result of another content than recorded, many changed files, a
change to agent cycles) answers None, and the caller validates in full.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from reconciler import graph
from reconciler.errors import Diagnostic
from reconciler.manifests import loader
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.parsecache import stat_key
from reconciler.validate import changes

MAX_CHANGED = 500  # more changed files than this: a full validation is as quick
MERGE_CODES = frozenset({"M010", "M014"})

_KINDS = {kind.value: kind for kind in Kind}


def key_text(key: ResourceKey) -> str:
    return f"{key.kind.value}/{key.name}"


def key_of(text: str) -> ResourceKey:
    kind, _, name = text.partition("/")
    return ResourceKey(_KINDS[kind], name)


@dataclass(slots=True)
class FileRecord:
    stat: list[int] | None  # None: modified within the racy window, so it vouches for nothing
    digest: str             # of its content, as the parse cache keys it ("" unreadable)
    keys: list[str]         # the resources it declares, in order
    diagnostics: list[dict[str, Any]]  # its own findings (parse, per-resource rules)
    synced: bool = False  # every resource it declares is a noop at the record's `synced_at`


@dataclass(slots=True)
class Record:
    files: dict[str, FileRecord]  # in listing order
    merged: list[dict[str, Any]]
    mesh: list[dict[str, Any]]
    referrers: dict[str, list[str]]  # target -> the resources referring to it
    # The live fingerprint (a store's, `#`, its identity) the files marked `synced` were
    # planned against with no change; `replan` plans only the others while it is current.
    synced_at: str | None = None

    def dumps(self) -> bytes:
        return orjson.dumps({
            "files": {name: [f.stat, f.digest, f.keys, f.diagnostics, f.synced]
                      for name, f in self.files.items()},
            "merged": self.merged, "mesh": self.mesh, "referrers": self.referrers,
            "synced_at": self.synced_at})

    @classmethod
    def loads(cls, data: bytes) -> Record | None:
        try:
            body = orjson.loads(data)
            files = {name: FileRecord(stat, digest, keys, found, synced is True)
                     for name, (stat, digest, keys, found, synced) in body["files"].items()}
            synced_at = body["synced_at"]
            return cls(files, body["merged"], body["mesh"], body["referrers"],
                       synced_at if isinstance(synced_at, str) else None)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(slots=True)
class Referrers(graph.UserIndex):
    """`graph.Referrers`' `users` over the record's form, converted only where asked."""

    by_target: dict[str, list[str]]

    def users(self, key: ResourceKey) -> frozenset[ResourceKey]:
        return frozenset(key_of(text) for text in self.by_target.get(key_text(key), ()))

    def changed(self, before: Resource | None, after: Resource | None) -> None:
        """Update in place for `before` becoming `after` (None: absent)."""
        either = after or before
        if either is None:
            return
        source = key_text(either.key)
        old = {key_text(e.target) for e in graph.references(before)} if before else set()
        new = {key_text(e.target) for e in graph.references(after)} if after else set()
        for target in old - new:
            users = [u for u in self.by_target.get(target, []) if u != source]
            if users:
                self.by_target[target] = users
            else:
                self.by_target.pop(target, None)
        for target in sorted(new - old):
            users = self.by_target.setdefault(target, [])
            if source not in users:
                users.append(source)


Fetch = Callable[[str], list[Resource]]  # a file's resources, in order


class _LazyKind(MutableMapping[str, Resource]):
    """One kind's resources in declaration order, each decoded on first use from the
    result of the file that declares it."""

    def __init__(self, kind: Kind, files: dict[str, str], fetch: Fetch) -> None:
        self.kind, self.files, self.fetch = kind, files, fetch
        self.added: dict[str, Resource] = {}

    def __getitem__(self, name: str) -> Resource:
        if name in self.added:
            return self.added[name]
        key = ResourceKey(self.kind, name)
        return next(r for r in self.fetch(self.files[name]) if r.key == key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, name: object) -> bool:
        return name in self.files

    def __setitem__(self, name: str, resource: Resource) -> None:
        self.added[name] = resource
        self.files.setdefault(name, "")

    def __delitem__(self, name: str) -> None:
        del self.files[name]
        self.added.pop(name, None)

    def copy(self) -> _LazyKind:
        """Another such mapping (decoding through the same fetch), changed apart."""
        other = _LazyKind(self.kind, dict(self.files), self.fetch)
        other.added = dict(self.added)
        return other


def lazy_state(order: Mapping[ResourceKey, str], fetch: Fetch) -> MeshState:
    """A state of the keys in `order` (key -> the file declaring it, in declaration order)
    whose resources are decoded when asked for."""
    by_kind: dict[Kind, dict[str, str]] = {kind: {} for kind in kinds.KIND_ORDER}
    for key, file in order.items():
        by_kind[key.kind][key.name] = file
    return MeshState(cast(dict[Kind, dict[str, Resource]], {
        kind: _LazyKind(kind, names, fetch) for kind, names in by_kind.items()}))


def declaration_order(files: Mapping[str, list[str]]) -> dict[ResourceKey, str]:
    """Each key with the first file declaring it, in the order a full load meets them."""
    found: dict[ResourceKey, str] = {}
    for file, keys in files.items():
        for text in keys:
            found.setdefault(key_of(text), file)
    return found


@dataclass(slots=True)
class Revalidated:
    diagnostics: list[Diagnostic]
    record: Record
    order: dict[ResourceKey, str] = field(default_factory=dict)


def revalidate(record: Record, stats: Mapping[str, os.stat_result | None],
               cached: Callable[[str, str], loader.FileResult | None],
               parse: Callable[[str, os.stat_result | None], tuple[str, loader.FileResult]],
               settled: Callable[[os.stat_result], bool]) -> Revalidated | None:
    """The findings of the files `stats` lists (in listing order, with their stats), from
    `record` and the files that changed since; None when it cannot vouch for them.
    `cached(file, digest)`: a file's result as the parse cache holds it for that content;
    `parse(file, stat)`: read, parse and check a file, giving its digest and result."""
    recorded = record.files
    changed = [name for name, stat in stats.items() if name not in recorded
               or stat is None or recorded[name].stat is None
               or recorded[name].stat != stat_key(stat)]
    gone = [name for name in recorded if name not in stats]
    if len(changed) + len(gone) > MAX_CHANGED:
        return None
    old_results: dict[str, list[Resource]] = {}
    new_results: dict[str, list[Resource]] = {}
    for name in [*changed, *gone]:  # what they held, before parsing replaces it in the cache
        if name in recorded and recorded[name].keys:
            result = cached(name, recorded[name].digest)
            if result is None:
                return None
            old_results[name] = result.resources
    fresh: dict[str, tuple[str, loader.FileResult]] = {
        name: parse(name, stats[name]) for name in changed}

    def results_of(file: str, store: dict[str, list[Resource]],
                   digest: str) -> list[Resource]:
        found = store.get(file)
        if found is None:
            result = cached(file, digest)
            if result is None:
                raise _Unvouched(file)
            found = store[file] = result.resources
        return found

    def old_fetch(file: str) -> list[Resource]:
        return results_of(file, old_results, recorded[file].digest)

    def new_fetch(file: str) -> list[Resource]:
        if file in fresh:
            return fresh[file][1].resources
        return results_of(file, new_results, recorded[file].digest)

    new_files = {name: (list(map(key_text, (r.key for r in fresh[name][1].resources)))
                        if name in fresh else recorded[name].keys) for name in stats}
    old_order = declaration_order({name: f.keys for name, f in recorded.items()})
    # The same files declaring the same keys (edits in place, the common case): the same
    # declaration order, and the same name clashes unless one involves a changed file.
    same_keys = not gone and list(stats) == list(recorded) and all(
        new_files[name] == recorded[name].keys for name in changed)
    new_order = old_order if same_keys else declaration_order(new_files)
    base = lazy_state(old_order, old_fetch)
    state = lazy_state(new_order, new_fetch)
    touched_files = set(changed) | set(gone)
    changed_keys = {key for file in touched_files if file in recorded
                    for key in map(key_of, recorded[file].keys)}
    changed_keys |= {r.key for name in changed for r in fresh[name][1].resources}
    try:
        if changes.agent_edges_change(changed_keys, state, base) or (
                any(key.kind is Kind.AGENT for key in changed_keys)
                and any(d["code"] == changes.CYCLE_CODE for d in record.mesh)):
            return None  # cycles: a whole-graph rule, their message in the graph's order
        referrers = Referrers({t: list(u) for t, u in record.referrers.items()})
        mesh = changes.check_mesh_changed(
            state, base, None, [Diagnostic.from_dict(d) for d in record.mesh],
            changed_keys, referrers)
        touched_names = set(changed)
        merged = [Diagnostic.from_dict(d) for d in record.merged] if same_keys and not any(
            _names_file(d, touched_names) for d in record.merged) else merge_findings(
            new_files, new_fetch)
        for key in sorted(changed_keys, key=graph.node_order):
            referrers.changed(base.get(key), state.get(key))
    except _Unvouched:
        return None
    files = {name: (FileRecord(stat_key(stat) if stat is not None and settled(stat) else None,
                               fresh[name][0], new_files[name],
                               [d.to_dict() for d in fresh[name][1].diagnostics],
                               _same_content(recorded.get(name), fresh[name][0]))
                    if name in fresh else recorded[name])
             for name, stat in stats.items()}
    diagnostics = [Diagnostic.from_dict(d) for f in files.values() for d in f.diagnostics]
    diagnostics += merged + mesh
    return Revalidated(diagnostics, Record(files, [d.to_dict() for d in merged],
                                           [d.to_dict() for d in mesh], referrers.by_target,
                                           record.synced_at),
                       new_order)


def _names_file(finding: dict[str, Any], files: set[str]) -> bool:
    """Whether a merge finding (M010, M014) names one of `files` (its own or, in its
    message, the other declaration's)."""
    return finding.get("file") in files or any(
        f"{file}:" in str(finding.get("message", "")) for file in files)


def _same_content(before: FileRecord | None, digest: str) -> bool:
    """Whether a file read again (touched, saved unchanged) still holds what was synced."""
    return before is not None and before.synced and bool(digest) and before.digest == digest


class _Unvouched(Exception):
    """A file's cached result is not the content the record knew."""


def merge_findings(files: Mapping[str, list[str]], fetch: Fetch) -> list[Diagnostic]:
    """M010 and M014 as `loader.merge_results` finds them, from the keys alone (a resource
    is decoded only for a finding)."""
    found: list[Diagnostic] = []
    first: dict[ResourceKey, tuple[str, int]] = {}
    folded: dict[tuple[Kind, str], ResourceKey] = {}
    for file, keys in files.items():
        for index, text in enumerate(keys):
            key = key_of(text)
            if key in first:
                where, at = first[key]
                found.append(loader.defined_twice(fetch(where)[at], fetch(file)[index]))
                continue
            first[key] = (file, index)
            same = folded.setdefault(loader.case_key(key), key)
            if same != key:
                where, at = first[same]
                found.append(loader.differs_by_case(fetch(where)[at], fetch(file)[index]))
    return found
