"""Manifest files -> resources, each with its source file and the line of every field.

`parse_manifest` turns one file's bytes into a `FileResult` (pure, so the engine can run it in
worker processes and cache it by content hash); `find_manifest_files` lists what to read and
`merge_results` joins the files into one `MeshState`, reporting names declared twice.
"""

from __future__ import annotations

import functools
import gc
import marshal
import operator
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from reconciler import forked
from reconciler.errors import Diagnostic, ManifestError, Severity, did_you_mean
from reconciler.manifests.yamlparse import ParsedDocument, parse_documents
from reconciler.model import fields, ids, kinds
from reconciler.model.kinds import API_VERSION, Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source
from reconciler.statchunks import CHUNK, Scanned, Stat, serialize

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MANIFEST_SUFFIXES = (".yaml", ".yml")
ENVELOPE_FIELDS = ("apiVersion", "kind", "metadata", "spec")
PATCH_FIELDS = ("patches", "$patch")  # an overlay layer's document only (manifests.layers)
METADATA_FIELDS = ("name", "labels", "annotations")
NAME_LINE = "@metadata.name"  # field_lines key for the line of metadata.name
_METADATA_MAPS = ("metadata.labels", "metadata.annotations")  # their lines: "@" + path


@dataclass(slots=True)
class FileResult:
    """What one manifest file yields: its resources and the problems found while reading it."""

    resources: list[Resource] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class LazyFieldLines(Mapping[str, int]):
    """The field lines of one resource of a manifest file, read from the file on first use.

    For resources the engine takes from the live registries without reading their files
    (the file is unchanged since a plan proved it in sync): their lines are needed only
    when a message points into them, which is rare, so the file is parsed then."""

    __slots__ = ("_file", "_key", "_lines")

    def __init__(self, file: str, key: ResourceKey) -> None:
        self._file, self._key = file, key
        self._lines: dict[str, int] | None = None

    def _load(self) -> dict[str, int]:
        if self._lines is None:
            self._lines = {}
            data = read_manifest_bytes(self._file, DEFAULT_MAX_BYTES)
            if isinstance(data, bytes):
                for resource in parse_manifest(data, file=self._file).resources:
                    if resource.key == self._key and resource.source is not None:
                        self._lines = dict(resource.source.field_lines)
                        break
        return self._lines

    def __getitem__(self, path: str) -> int:
        return self._load()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def find_manifest_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every `*.yaml`/`*.yml` file under `paths`, recursively, sorted, skipping hidden folders
    (`.git`, `.meshctl-cache`). A file named explicitly is read whatever its suffix. A file
    reached twice (`m` and `./m/`, a relative and an absolute path, a symlink) is read once."""
    return [Path(name) for name in manifest_file_names(paths)]


def manifest_file_names(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """`find_manifest_files` as the strings `str(Path(...))` gives, built without a `Path`
    per file: at 10,000 files that is a good part of a warm plan's listing."""
    return list_manifest_files(paths)


def scan_manifest_files(paths: Sequence[str | os.PathLike[str]]) -> Scanned:
    """Every manifest file under `paths` (as `find_manifest_files` lists them, in order)
    with its stat (None: it went away meanwhile). Listing and stat-ing 100,000 files is
    the floor of a warm run: most of a large listing is stat-ed in a forked copy
    (`stat_files`)."""
    return stat_files(list_manifest_files(paths))()


class FolderListing(NamedTuple):
    """What one folder lists: its manifest files and the subfolders walked, sorted, as
    taken while the folder's stat was `key`."""

    key: tuple[int, ...]  # (mtime_ns, ctime_ns, inode, size, links) of the folder
    files: list[str]
    folders: list[str]


def list_manifest_files(paths: Sequence[str | os.PathLike[str]], *,
                        known: Mapping[str, FolderListing] | None = None,
                        taken: dict[str, FolderListing] | None = None) -> list[str]:
    """The names `scan_manifest_files` gives, listed without a stat (one `os.scandir`
    per folder: its entries' types come with the listing).

    Folders are walked as `os.walk` does: a folder's files (sorted) before its subfolders
    (sorted), hidden ones skipped, symlinked folders not entered.

    `known`: folders' listings taken before (by folder, as walked), each used again while
    the folder's stat is its `key`: creating, removing or renaming an entry in a folder
    sets its modification time. `taken`: where each folder's listing is put that may be
    used so next time (`reusable`)."""
    found: list[str] = []
    # Where each file really is, so a file reached twice (`m` and `./m/`, a symlink) is
    # read once. One folder's walk cannot reach a file twice: kept only for several paths.
    seen: set[str] | None = set() if len(paths) > 1 else None
    walk = _Walk(found, seen, known or {}, taken)
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            real = str(path.resolve())
            if seen is None or real not in seen:
                if seen is not None:
                    seen.add(real)
                found.append(str(path))
        elif path.is_dir():
            base = str(path)
            walk.folder(base, "" if base == "." else base.rstrip(os.sep) + os.sep,
                        str(path.resolve()))
        else:
            raise ManifestError(f"{path}: no such file or directory")
    return found


# A folder modified this recently is listed again next time: an entry made later in the
# same tick of the file system's clock would leave its modification time as it was.
RACY_NS = 2_000_000_000


@dataclass(slots=True)
class _Walk:
    found: list[str]
    seen: set[str] | None
    known: Mapping[str, FolderListing]
    taken: dict[str, FolderListing] | None

    def folder(self, folder: str, prefix: str, real: str) -> None:
        listing = self._listing(folder)
        if listing is None:
            return  # unreadable, as os.walk skips it
        chosen = listing.files
        if self.seen is not None:
            real_prefix = real.rstrip(os.sep) + os.sep
            chosen = [name for name in chosen if real_prefix + name not in self.seen]
            self.seen.update(real_prefix + name for name in chosen)
        self.found.extend([prefix + name for name in chosen])
        for name in listing.folders:
            self.folder(prefix + name if prefix else name, prefix + name + os.sep,
                        os.path.join(real, name))

    def _listing(self, folder: str) -> FolderListing | None:
        key = _folder_key(folder) if self.taken is not None or self.known else None
        known = self.known.get(folder)
        if known is not None and key is not None and tuple(known.key) == key:
            listing: FolderListing | None = known
        else:
            listing = _listed(folder, key)
        if self.taken is not None and listing is not None and listing.key:
            self.taken[folder] = listing
        return listing


def _folder_key(folder: str) -> tuple[int, ...] | None:
    try:
        found = os.stat(folder)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_ctime_ns, found.st_ino, found.st_size,
            found.st_nlink)


def _listed(folder: str, key: tuple[int, ...] | None) -> FolderListing | None:
    """The folder listed now; with a `key` (its stat, taken before) only when it may be
    used again: not modified within `RACY_NS`, and no symlink among its entries (what
    one points to may change with no change to the folder)."""
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return None
    try:
        folders = [entry for entry in entries if entry.is_dir()]
    except OSError:  # (only where the file system gives no type and the entry went away)
        folders = [entry for entry in entries if _is_dir(entry)]
    files = [entry for entry in entries if entry not in folders] if folders else entries
    chosen = sorted(e.name for e in files if e.name.endswith(MANIFEST_SUFFIXES)
                    and not e.name.startswith("."))
    walked = sorted(entry.name for entry in folders
                    if not entry.name.startswith(".") and not entry.is_symlink())
    reusable = key is not None and key[0] < time.time_ns() - RACY_NS and not any(
        entry.is_symlink() for entry in entries)
    return FolderListing(key if reusable and key is not None else (), chosen, walked)


# Below this many files the stats are all taken here: a fork costs more than it saves.
FORK_MIN_FILES = 16384


def stats_fork(count: int) -> bool:
    """Whether `stat_files` of `count` names forks a copy to stat most of them."""
    return count >= FORK_MIN_FILES and forked.may_fork()


def stat_files(names: list[str], *, here: float = 0.5) -> Callable[[], Scanned]:
    """Start stat-ing `names`; the function returned finishes and gives each name's stat
    (None: gone). Of a large listing, all but the share `here` goes now to a forked copy
    of this process (`forked.beside`), which answers each file's stat key as marshalled
    tuples with its chunks serialized (`Scanned`); the first `here` of the names are
    stat-ed by the function returned, while the copy works. A caller with work of its
    own to do first (on a thread, or before finishing) leaves the copy more than half."""
    if not stats_fork(len(names)):
        return lambda: Scanned(names, _stats(names))
    # (the copy's share starts at a chunk: it serializes its chunks of stat keys too)
    split = min(len(names), -(-int(len(names) * here) // CHUNK) * CHUNK)
    rest = forked.beside(functools.partial(_marshalled_stats, names[split:]))

    def finish() -> Scanned:
        here_stats = _stats(names[:split])  # (while the copy works)
        keys, chunks, newest = marshal.loads(rest())
        return Scanned(names, here_stats, keys, {
            split // CHUNK + index: data for index, data in enumerate(chunks)}, newest)
    return finish


def _stats(names: list[str]) -> list[os.stat_result | None]:
    try:  # (the common case, in one pass: 100,000 stats are the floor of a warm run)
        return list(map(os.stat, names))
    except OSError:  # one went away meanwhile
        return [_stat_or_none(name) for name in names]


def _marshalled_stats(names: list[str]) -> bytes:
    """What the forked copy answers: `(size, mtime_ns, inode, ctime_ns)` or None of each
    file, the chunks of their stat keys serialized (`statchunks.serialize`), and the
    newest modification time among them."""
    gc.disable()  # (a copy about to exit: collecting would only touch shared pages)
    keys = [None if stat is None else _STAT_KEY(stat) for stat in _stats(names)]
    newest = max((key[1] for key in keys if key is not None), default=0)
    return marshal.dumps((keys, serialize(names, [None if key is None else key[:3]
                                                  for key in keys]), newest))


_STAT_KEY = operator.attrgetter(*Stat._fields)




def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def read_manifest_bytes(path: str | Path, max_bytes: int) -> bytes | Diagnostic:
    """The file's bytes, or a diagnostic when it is too large or unreadable.

    Reads exactly the size the file reports (a read sized at the limit allocates a 10 MiB
    buffer per file), then at most up to the limit more, for files that grow meanwhile or
    report no size (pipes, devices). Through the descriptor itself: a Python file object
    (a buffered reader over a raw one) cost more to make than a 2 KB manifest's read, and a
    cold run reads 122,000 of them.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(descriptor).st_size
            if size > max_bytes:
                return _too_large(path, max_bytes, size)
            data = _read_up_to(descriptor, size + 1)
            if len(data) > size:
                data += _read_up_to(descriptor, max_bytes + 1 - len(data))
        finally:
            os.close(descriptor)
    except OSError as error:
        return _problem("M013", f"cannot read file: {error.strerror or error}", str(path), None,
                        "check that the file exists and is readable")
    if len(data) > max_bytes:
        return _too_large(path, max_bytes, None)
    return data


def _read_up_to(descriptor: int, count: int) -> bytes:
    """`count` bytes, or fewer at the end of the file (a pipe may give less per read)."""
    data = os.read(descriptor, count)
    if len(data) in (0, count):  # (a regular file: in one read)
        return data
    parts = [data]
    left = count - len(data)
    while left > 0 and (more := os.read(descriptor, left)):
        parts.append(more)
        left -= len(more)
    return b"".join(parts)


def _too_large(path: str | Path, max_bytes: int, size: int | None) -> Diagnostic:
    what = f"file is {size:,} bytes, over" if size is not None else "file is over"
    return _problem("M002", f"{what} the {max_bytes:,}-byte limit", str(path), None,
                    "split it into smaller files, or raise --max-bytes")


def parse_manifest(data: bytes, *, file: str) -> FileResult:
    """All resources of one manifest file, with every problem as a diagnostic."""
    result = FileResult()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        result.diagnostics.append(_problem(
            "M013", f"file is not valid UTF-8 (byte {error.start})", file, line,
            "save the file as UTF-8"))
        return result
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        result.diagnostics.append(_problem(
            "M001", "file contains a NUL byte", file, line, "remove the NUL byte"))
        return result
    documents, problem = parse_documents(text)
    for document in documents:
        if isinstance(document.data, dict) and any(k in document.data for k in PATCH_FIELDS):
            at = next(k for k in PATCH_FIELDS if k in document.data)
            result.diagnostics.append(Diagnostic(
                "M016", Severity.ERROR, f"'{at}' belongs in an overlay layer (it edits a "
                "resource an earlier layer declares), but this file is not in one", file,
                document.lines.get(at, document.line), None, at,
                "list this file's folder after the base folder in an environment's "
                "'manifests' in meshctl.yaml, and use --env (docs/environments.md)"))
            continue
        read_document(document, file, result)
    if problem is not None:
        result.diagnostics.append(_problem(problem.code, problem.message, file, problem.line,
                                           problem.hint))
    return result


def read_document(document: ParsedDocument, file: str, result: FileResult,
                  files: Mapping[str, str] | None = None) -> None:
    """One document -> a resource in `result`, or the diagnostics saying why not.

    `files`: for a document merged from an environment's layers (manifests.layers), the
    layer file of each path a later layer set; `file` declared the resource first."""
    data, lines = document.data, document.lines
    files = files or {}

    def report(code: str, message: str, path: str | None, hint: str | None,
               severity: Severity = Severity.ERROR, resource: str | None = None) -> None:
        line = lines.get(path, document.line) if path else document.line
        where = files.get(path, file) if path else file
        result.diagnostics.append(
            Diagnostic(code, severity, message, where, line, resource, path, hint))

    if not isinstance(data, dict):
        report("M005", f"a manifest document must be a mapping, not {_type_name(data)}", None,
               "start the document with apiVersion, kind, metadata and spec")
        return
    api_version = data.get("apiVersion")
    if api_version != API_VERSION:
        found = "missing" if api_version is None else f"'{api_version}' is not supported"
        report("M007", f"apiVersion {found}", "apiVersion" if api_version else None,
               f"use 'apiVersion: {API_VERSION}'")
        return
    kind = read_kind(data.get("kind"))
    if kind is None:
        raw = data.get("kind")
        names = [k.value for k in kinds.KIND_ORDER]
        suggestion = did_you_mean(str(raw), names)
        report("M008", f"unknown kind {raw!r}" if raw is not None else "kind is missing",
               "kind" if raw is not None else None,
               f"{suggestion}kind must be one of: {', '.join(names)}")
        return
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if kinds.is_singleton(kind):  # one document: its name may be left out
        metadata = metadata if isinstance(metadata, dict) else {}
        name = kinds.SINGLETON_NAME if name is None else name
        if name != kinds.SINGLETON_NAME:
            report("M015", f"{kind.value} is one document, named '{kinds.SINGLETON_NAME}', "
                   f"not {name!r}", "metadata.name",
                   f"use 'metadata: {{name: {kinds.SINGLETON_NAME}}}' (or leave the name out)")
            return
    if not isinstance(metadata, dict) or name is None:
        report("M009", f"{kind.value} has no metadata.name", "metadata",
               "add 'metadata: {name: <id>}'; the name is the registry id")
        return
    label = kinds.info(kind).label
    problem = ids.id_problem(name)
    if problem is not None:
        report("M009", f"{label} name {name!r} {problem}", "metadata.name",
               "use letters, digits, '_', '-' and '.' (at most 128, no leading dot)")
        return
    key = ResourceKey(kind, name)
    resource_name = str(key)
    spec = data.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        report("M005", f"spec of {key.describe()} must be a mapping, not {_type_name(spec)}",
               "spec", "indent the registry fields under 'spec:'", resource=resource_name)
        return
    for extra in (k for k in data if k not in ENVELOPE_FIELDS):
        report("M011", f"unknown top-level field '{extra}' is ignored", extra,
               f"{did_you_mean(extra, ENVELOPE_FIELDS)}a manifest holds "
               "apiVersion, kind, metadata and spec", Severity.WARNING, resource_name)
    for extra in (k for k in metadata if k not in METADATA_FIELDS):
        report("M011", f"unknown metadata field '{extra}' is ignored", f"metadata.{extra}",
               f"{did_you_mean(extra, METADATA_FIELDS)}metadata holds name, labels and "
               "annotations", Severity.WARNING, resource_name)
    labels = _string_map(metadata.get("labels"), "labels", report, resource_name)
    annotations = _string_map(metadata.get("annotations"), "annotations", report, resource_name)

    id_field = kinds.info(kind).id_field
    entry: dict[str, Any]
    if id_field is None:
        entry = dict(spec)
    else:
        declared = spec.get(id_field, name)
        if declared != name:
            report("M012", f"spec.{id_field} {declared!r} differs from metadata.name {name!r}",
                   f"spec.{id_field}", f"remove spec.{id_field}; metadata.name is the id",
                   resource=resource_name)
            return
        entry = {id_field: name, **{k: v for k, v in spec.items() if k != id_field}}

    # What the manifest leaves out that has a default is written out: the entry applied is
    # then complete by the runtime's rules (a missing field the runtime requires would make
    # it skip the entry), and an omitted default still plans as no change.
    entry = fields.complete(kind, entry)
    field_lines = {path[5:]: line for path, line in lines.items() if path.startswith("spec.")}
    field_files = {path[5:]: name for path, name in files.items()
                   if path.startswith("spec.") and name != file}
    # Labels and annotations are not entry fields: their lines are kept as
    # `@metadata.labels.tier` (as the name's is), so `meshctl compare` can say who set each.
    if labels or annotations:
        for path, line in lines.items():
            if path.startswith(_METADATA_MAPS):
                field_lines["@" + path] = line
                if files.get(path, file) != file:
                    field_files["@" + path] = files[path]
    name_line = lines.get("metadata.name", document.line)
    field_lines[NAME_LINE] = name_line
    if id_field is not None:
        field_lines.setdefault(id_field, name_line)
    result.resources.append(Resource(key, entry, Source(file, document.line, field_lines,
                                                        field_files), labels, annotations))


def read_kind(raw: object) -> Kind | None:
    if isinstance(raw, str):
        for kind in Kind:
            if raw == kind.value:
                return kind
    return None


def _string_map(value: object, what: str, report: Any, resource: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        report("M009", f"metadata.{what} must map names to strings", f"metadata.{what}",
               "quote values such as numbers and booleans", resource=resource)
        return {}
    return dict(value)


def merge_results(results: Iterable[FileResult]) -> tuple[MeshState, list[Diagnostic]]:
    """One state from many files; a name declared twice for a kind is an error naming both."""
    state = MeshState()
    diagnostics: list[Diagnostic] = []
    folded: dict[tuple[Kind, str], Resource] = {}
    for result in results:
        diagnostics.extend(result.diagnostics)
        for resource in result.resources:
            first = state.get(resource.key)
            if first is None:
                state.add(resource)
                same = folded.setdefault(case_key(resource.key), resource)
                if same is not resource:
                    diagnostics.append(differs_by_case(same, resource))
                continue
            diagnostics.append(defined_twice(first, resource))
    return state, diagnostics


def case_key(key: ResourceKey) -> tuple[Kind, str]:
    """Names equal here are one file on a case-insensitive file system (macOS, Windows)."""
    return key.kind, key.name.casefold()


def differs_by_case(first: Resource, again: Resource) -> Diagnostic:
    """M014 at `again`, whose name is `first`'s but for case."""
    first_file, first_line = first.where(NAME_LINE)
    file, line = again.where(NAME_LINE)
    return Diagnostic(
        "M014", Severity.ERROR,
        f"{again.key.describe()} differs only by case from '{first.name}' at "
        f"{first_file}:{first_line}: on case-insensitive file systems (macOS, Windows) their "
        "manifest and workflow files would be the same file",
        file, line, str(again.key), "metadata.name", "rename one of them")


def defined_twice(first: Resource, again: Resource) -> Diagnostic:
    """M010 at `again`, a second definition of the name `first` already declares."""
    first_file, first_line = first.where(NAME_LINE)
    file, line = again.where(NAME_LINE)
    return Diagnostic(
        "M010", Severity.ERROR,
        f"{again.key.describe()} is defined twice: here and at {first_file}:{first_line}",
        file, line, str(again.key), "metadata.name",
        "rename or remove one of the two definitions")


def _problem(code: str, message: str, file: str, line: int | None,
             hint: str | None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, line, None, None, hint)


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "empty"}.get(
        type(value), type(value).__name__)
