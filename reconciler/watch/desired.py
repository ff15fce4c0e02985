"""The desired state a watch loop keeps in memory: every manifest file's result, re-read one
file at a time as files change.

Reading 10,000 manifests takes seconds; re-reading the one that changed takes milliseconds.
The first load goes through the engine (parse cache, worker processes); afterwards a file
event re-reads just that file, and a periodic rescan re-reads what its stat says changed
(with the parse cache's rule: a stat seen within the racy window is never trusted).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from reconciler import engine, loading
from reconciler.errors import Diagnostic, ManifestError, Severity, sort_key
from reconciler.manifests import layers, loader
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.statchunks import FileStat

RACY_NS = 2_000_000_000  # a stat this close to when it was taken cannot vouch for the file


class DesiredWorkspace:
    """The manifests under `paths`, as the engine reads them, kept up to date by `update`."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]], *,
                 max_bytes: int = loader.DEFAULT_MAX_BYTES) -> None:
        stack = layers.layered(paths)
        # An environment's later layers are re-read whole when one of their files changes
        # (they are small); the base is kept file by file, as without layers.
        self._overlay_folders = [os.path.abspath(p) for p in stack.overlays] if stack else []
        self._layers: tuple[str, ...] = stack.overlays if stack else ()
        self._overlays: layers.Overlays | None = None
        self._layered: set[ResourceKey] = set()  # keys the later layers changed
        self._base = MeshState()  # with later layers: the state the base alone declares
        self._base_diagnostics: list[Diagnostic] = []
        self.paths = [str(p) for p in (stack[:1] if stack else paths)]
        self.max_bytes = max_bytes
        self._roots = [Path(p) for p in self.paths]
        self._results: dict[str, loader.FileResult] = {}
        self._stats: dict[str, tuple[int, int, int, int]] = {}
        self._seen_at: dict[str, int] = {}
        self._digests: dict[ResourceKey, bytes] = {}
        self._sum = 0
        self._declared: dict[ResourceKey, list[tuple[Any, int, Resource]]] = {}
        self._declaring: dict[ResourceKey, list[str]] = {}  # the files defining each key
        self._twice: dict[ResourceKey, list[Diagnostic]] = {}
        self._folded: dict[tuple[Kind, str], set[ResourceKey]] = {}  # names by case-folding
        self._cased: dict[tuple[Kind, str], list[Diagnostic]] = {}
        self._order: list[str] | None = None
        self._order_keys: dict[str, tuple[int, tuple[tuple[int, str], ...]]] = {}
        self.state = MeshState()
        self.diagnostics: list[Diagnostic] = []
        self._fingerprint: str | None = None

    # -- reading ------------------------------------------------------------------------

    def load(self) -> None:
        """Read every manifest (through the engine's cache and workers)."""
        desired = engine.load_desired(self.paths, max_bytes=self.max_bytes, mesh_checks=False)
        now = time.time_ns()
        self._results = dict(desired.file_results)
        for name in desired.files:
            stat = desired.stats.get(name)
            if stat is not None:
                self._stats[name], self._seen_at[name] = _stat_key(stat), now
        problems = [d for d in desired.diagnostics if d.file is not None
                    and d.file not in self._results]
        for problem in problems:  # unreadable files: their problem is their result
            assert problem.file is not None
            self._results.setdefault(problem.file, loader.FileResult([], []))
            self._results[problem.file].diagnostics.append(problem)
        if self._layers:
            self._overlays = self._read_overlays()
        self._merge(None)
        if self._layers:
            self._base, self._base_diagnostics = self.state, self.diagnostics
            self._apply_layers()

    def update(self, files: Iterable[str] | None) -> tuple[list[str], set[ResourceKey]]:
        """Re-read `files` (names as events give them; None: every file whose stat changed,
        and the files that appeared or went away). Returns the manifest files read again
        and the keys declared, before or after, in them."""
        layered_before = set(self._layered)
        relayer = False
        if files is None:
            candidates = self._rescan()
            relayer = bool(self._layers)
        else:
            files = list(files)
            relayer = any(self._in_overlay(f) for f in files)
            candidates = {self._name_of(f) for f in files}
            candidates.discard(None)
        overlay_files: list[str] = []  # read, or gone since the last read
        if relayer:
            overlays = self._read_overlays()
            previous = self._overlays
            relayer = previous is None or overlays.digest != previous.digest \
                or overlays.files != previous.files
            overlay_files = list(dict.fromkeys([*(previous.files if previous else ()),
                                                *overlays.files]))
            self._overlays = overlays
        names = [c for c in candidates if c is not None
                 and (c in self._results or self._wanted(c))]
        touched: set[ResourceKey] = set()
        for name in names:
            before = self._results.pop(name, None)
            if before is not None:
                touched.update(r.key for r in before.resources)
            self._stats.pop(name, None)
            try:
                stat = os.stat(name)
            except OSError:
                continue  # gone
            if not self._wanted(name):
                continue
            seen_at = time.time_ns()
            result = engine.read_manifest_file(name, self.max_bytes)
            self._results[name] = result
            self._stats[name], self._seen_at[name] = _stat_key(stat), seen_at
            touched.update(r.key for r in result.resources)
        if names:
            self.state = self._base if self._layers else self.state
            self._merge(touched, names)
            self._base, self._base_diagnostics = self.state, self.diagnostics
        if self._layers and (names or relayer):
            self._apply_layers()
            touched |= layered_before | self._layered
            if relayer:  # (a layer that is gone has no files: the caller must still act)
                names = [*names, *(overlay_files or self._layers)]
        return names, touched

    def _read_overlays(self) -> layers.Overlays:
        """The later layers, read again. A layer folder that is gone (removed, replaced
        whole, a branch switch under way) is an error of the desired state, as a broken
        file is: nothing syncs until it is back, and the loop goes on to see it come back."""
        try:
            return layers.read_overlays(self._layers, self.max_bytes)
        except ManifestError as error:
            gone: list[str | None] = [f for f in self._layers if not os.path.isdir(f)]
            found = layers.Overlays(digest=f"gone:{error}")
            found.diagnostics += [Diagnostic(
                "M013", Severity.ERROR, "this layer of the environment is not a folder (any "
                "more): nothing is synced until it is back" if folder else str(error),
                folder, hint="restore the folder (git keeps no empty folder: a .gitkeep "
                "in it does), or change the environment's layers in meshctl.yaml and "
                "restart") for folder in gone or [None]]
            return found

    def _in_overlay(self, name: str) -> bool:
        path = os.path.abspath(name)
        return any(path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
                   for folder in self._overlay_folders)

    def _apply_layers(self) -> None:
        """The later layers over the base state `_merge` built: the state, its digests and
        its diagnostics become the environment's."""
        if self._overlays is None:
            return
        applied = loading.apply_layers(self._base, list(self._base_diagnostics),
                                       self._overlays)
        before, self._layered = self._layered, set(applied.changed)
        for key in before | self._layered:
            old = self._digests.pop(key, None)
            if old is not None:
                self._sum -= _term(key, old)
            resource = applied.state.get(key)
            if resource is not None:
                digest = hashlib.sha256(orjson.dumps(resource.entry)).digest()
                self._digests[key] = digest
                self._sum += _term(key, digest)
        self.state = applied.state
        self.diagnostics = sorted(layers.note_base(applied.diagnostics, applied.state),
                                  key=sort_key)
        self._fingerprint = None

    def _rescan(self) -> set[str | None]:
        """Files that appeared, went away, or whose stat changed (or cannot vouch yet)."""
        listed = set(loader.manifest_file_names(self.paths)) if self._roots_exist() else set()
        known = set(self._results)
        changed: set[str | None] = set(known ^ listed)
        for name in listed & self._results.keys():
            try:
                stat = os.stat(name)
            except OSError:
                changed.add(name)
                continue
            key = _stat_key(stat)
            if key != self._stats.get(name) or self._seen_at.get(name, 0) - stat.st_mtime_ns \
                    < RACY_NS:
                changed.add(name)
        return changed

    def _roots_exist(self) -> bool:
        return all(root.exists() for root in self._roots)

    def _name_of(self, event_path: str) -> str | None:
        """The file's name as `manifest_file_names` gives it (relative to the root given),
        or None when it is not under any root."""
        path = os.path.abspath(event_path)
        for root in self._roots:
            base = os.path.abspath(root)
            if path == base and not root.is_dir():
                return str(root)
            if path.startswith(base.rstrip(os.sep) + os.sep):
                relative = os.path.relpath(path, base)
                return str(root / relative) if str(root) != "." else relative
        return None

    def _wanted(self, name: str) -> bool:
        """A manifest the engine would read: a YAML file, no hidden file or folder on the
        way from its root (the parse cache lives in `.meshctl-cache/`)."""
        for root in self._roots:
            if name == str(root):
                return True
            text = str(root)
            prefix = "" if text == "." else text.rstrip(os.sep) + os.sep
            if name.startswith(prefix):
                parts = name[len(prefix):].split(os.sep)
                return name.endswith(loader.MANIFEST_SUFFIXES) and not any(
                    part.startswith(".") for part in parts)
        return False

    # -- the state ------------------------------------------------------------------------
    #
    # Kept as `loader.merge_results` would build it from every file in the engine's order
    # (a test holds the two together), but updated key by key: each key knows the files
    # that declare it, the first of which wins; the others are M010 errors.

    def _merge(self, touched: set[ResourceKey] | None, changed: Iterable[str] = ()) -> None:
        if touched is None:
            self._order = None
            self.state = MeshState()
            self._declared, self._declaring, self._twice = {}, {}, {}
            self._folded, self._cased = {}, {}
            for name in self.files:
                for position, resource in enumerate(self._results[name].resources):
                    self._declared.setdefault(resource.key, []).append(
                        (self._order_of(name), position, resource))
            touched = set(self._declared)
            self._digests, self._sum = {}, 0
        else:
            self.state = self.state.copy()  # a reader may hold the previous one
            for key in touched:
                self._declared.pop(key, None)
            names = set(changed) | {name for key in touched
                                    for name in self._declaring.get(key, ())}
            for name in names:
                result = self._results.get(name)
                for position, resource in enumerate(result.resources if result else ()):
                    if resource.key in touched:
                        self._declared.setdefault(resource.key, []).append(
                            (self._order_of(name), position, resource))
        for key in touched:
            self._resolve(key)
        self._recase(touched)
        self.diagnostics = [d for name in self.files for d in self._results[name].diagnostics]
        self.diagnostics += [d for found in self._twice.values() for d in found]
        self.diagnostics += [d for found in self._cased.values() for d in found]
        self.diagnostics.sort(key=sort_key)
        self._fingerprint = None

    def _recase(self, touched: set[ResourceKey]) -> None:
        """M014 for the names of `touched`'s case groups: the first definition (in the
        engine's order) of a name that folds like another's is clean, the later ones not."""
        by_group: dict[tuple[Kind, str], list[ResourceKey]] = {}
        for key in touched:
            by_group.setdefault(loader.case_key(key), []).append(key)
        for group, keys in by_group.items():
            members = {k for k in (*self._folded.get(group, ()), *keys) if k in self._declared}
            self._folded[group] = members  # (a group is small: this costs what it holds)
            if not members:
                self._folded.pop(group, None)
            ordered = sorted(members, key=lambda k: min(i[:2] for i in self._declared[k]))
            first = self.state.get(ordered[0]) if ordered else None
            found = [loader.differs_by_case(first, resource) for k in ordered[1:]
                     if first is not None and (resource := self.state.get(k)) is not None]
            if found:
                self._cased[group] = found
            else:
                self._cased.pop(group, None)

    def _resolve(self, key: ResourceKey) -> None:
        """Make `key` in the state the first of its definitions (or absent)."""
        found = sorted(self._declared.get(key, ()), key=lambda item: item[:2])
        self._twice.pop(key, None)
        old = self._digests.pop(key, None)
        if old is not None:
            self._sum -= _term(key, old)
        if not found:
            self.state.discard(key)
            self._declaring.pop(key, None)
            return
        first = found[0][2]
        self.state.add(first)
        self._declaring[key] = list(dict.fromkeys(
            item[2].source.file for item in found if item[2].source is not None))
        if len(found) > 1:
            self._twice[key] = [loader.defined_twice(first, item[2]) for item in found[1:]]
        digest = hashlib.sha256(orjson.dumps(first.entry)).digest()
        self._digests[key] = digest
        self._sum += _term(key, digest)

    def digest(self, key: ResourceKey) -> bytes | None:
        """A hash of the resource's desired entry (None: not declared)."""
        return self._digests.get(key)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def files(self) -> list[str]:
        """Every file read, in the engine's order (`loader.manifest_file_names`), which
        decides which of two definitions of a name is the first."""
        if self._order is None or len(self._order) != len(self._results):
            self._order = sorted(self._results, key=self._order_of)
        return self._order

    def _order_of(self, name: str) -> tuple[int, tuple[tuple[int, str], ...]]:
        """Sorted as a sorted walk lists them: per root, a folder's files before its
        subfolders, each in name order."""
        found = self._order_keys.get(name)
        if found is None:
            found = self._order_keys[name] = self._walk_order(name)
        return found

    def _walk_order(self, name: str) -> tuple[int, tuple[tuple[int, str], ...]]:
        for index, root in enumerate(self._roots):
            text = str(root)
            prefix = "" if text == "." else text.rstrip(os.sep) + os.sep
            if name == text or name.startswith(prefix):
                parts = name[len(prefix):].split(os.sep) if name != text else [name]
                return index, (*((1, part) for part in parts[:-1]), (0, parts[-1]))
        return len(self._roots), ((0, name),)

    @property
    def fingerprint(self) -> str:
        """What the manifests declare, as one hash: the same resources with the same entries
        give the same fingerprint, however the files are laid out or commented. (A sum of
        per-resource hashes, so a change costs what the changed resources cost.)"""
        if self._fingerprint is None:
            self._fingerprint = f"{self._sum % (1 << 128):032x}"
        return self._fingerprint

    def as_desired(self) -> engine.DesiredState:
        """The engine's view of it, for a full plan (`engine.plan_from`)."""
        return engine.DesiredState(self.state, list(self.diagnostics), self.files,
                                   file_results=dict(self._results))


def _term(key: ResourceKey, digest: bytes) -> int:
    return int.from_bytes(hashlib.sha256(
        f"{key.kind.value}/{key.name}\0".encode() + digest).digest()[:16])


def _stat_key(stat: FileStat) -> tuple[int, int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns)
