"""An environment's manifest layers (issue 25): base first, each later folder patching the
mesh the earlier ones declare, resource by resource (kind + metadata.name).

A later layer's document for a resource an earlier layer has is a patch:
- its `spec`, `metadata.labels` and `metadata.annotations` merge as JSON merge patches;
- its optional `patches:` list of JSON Patch operations then applies to the document;
- `$patch: delete` (and nothing else) drops the resource in this environment.
A document for a resource no earlier layer has creates it here; a patch for one is M017.

The merged document keeps the file and line of every value: the base file's, and for each
path a layer set, the layer's file and line (`Source.field_files`). Loading calls `apply`
after the base layer's files are merged and before validation, so everything after it (the
rules, the planner, the stores) sees one desired state, as without environments.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Diagnostic, Severity, did_you_mean
from reconciler.manifests import loader, overlay
from reconciler.manifests.yamlparse import ParsedDocument, parse_documents
from reconciler.model import ids, kinds
from reconciler.model.kinds import API_VERSION
from reconciler.model.resource import MeshState, Resource, ResourceKey

OVERLAY_FIELDS = (*loader.ENVELOPE_FIELDS, *loader.PATCH_FIELDS)
DELETE = "delete"


class Layers(tuple[str, ...]):
    """The manifest folders of an environment, base first: wherever a list of manifest
    paths goes, and loading then patches later layers over earlier ones instead of
    joining them (a name in two layers is a patch, not M010)."""

    @property
    def overlays(self) -> tuple[str, ...]:
        return tuple(self[1:])


def layered(paths: Sequence[Any]) -> Layers | None:
    """`paths` as layers when they are an environment's with more than one layer."""
    return paths if isinstance(paths, Layers) and len(paths) > 1 else None


@dataclass(slots=True)
class Document:
    """A document as the layers have made it so far, with where each value came from:
    `lines` (document paths such as `spec.capabilities[0]`) and, for paths a later layer
    set, `files`; `file`/`line` declared it first."""

    key: ResourceKey
    data: dict[str, Any]
    file: str
    line: int
    lines: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)

    def to_resource(self) -> tuple[Resource | None, list[Diagnostic]]:
        result = loader.FileResult()
        loader.read_document(ParsedDocument(self.data, self.line, self.lines), self.file,
                             result, self.files)
        return (result.resources[0] if result.resources else None), result.diagnostics


@dataclass(slots=True)
class Patch:
    """One document of a later layer: a patch, a delete, or a new resource."""

    key: ResourceKey
    document: ParsedDocument
    file: str
    layer: int

    @property
    def deletes(self) -> bool:
        return bool(self.document.data.get("$patch") == DELETE)

    @property
    def patches(self) -> bool:
        return "patches" in self.document.data

    def at(self, path: str | None) -> int:
        return self.document.lines.get(path, self.document.line) if path else \
            self.document.line


@dataclass(slots=True)
class Overlays:
    """The later layers read: their documents in order, their problems, and a hash of their
    bytes (what a record of files in sync with the store must be keyed by too)."""

    patches: list[Patch] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    digest: str = ""
    stats: dict[str, os.stat_result] = field(default_factory=dict)  # taken before reading


def read_overlays(folders: Sequence[str], max_bytes: int = loader.DEFAULT_MAX_BYTES
                  ) -> Overlays:
    """Every document of the later layers `folders`, checked as patches. They are small, so
    they are read here, each run, without the parse cache."""
    found = Overlays()
    digest = hashlib.sha256()
    for layer, folder in enumerate(folders, start=1):
        for name in loader.manifest_file_names([folder]):
            found.files.append(name)
            with contextlib.suppress(OSError):
                found.stats[name] = os.stat(name)
            data = loader.read_manifest_bytes(name, max_bytes)
            if isinstance(data, Diagnostic):
                found.diagnostics.append(data)
                continue
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
            _read_file(data, name, layer, found)
    found.digest = digest.hexdigest()[:16]
    return found


def _read_file(data: bytes, file: str, layer: int, found: Overlays) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        found.diagnostics.append(_error("M013", f"file is not valid UTF-8 (byte {error.start})",
                                        file, data[: error.start].count(b"\n") + 1, None,
                                        "save the file as UTF-8"))
        return
    documents, problem = parse_documents(text)
    seen: dict[ResourceKey, Patch] = {}
    for document in documents:
        patch = _read_patch(document, file, layer, found.diagnostics)
        if patch is None:
            continue
        first = seen.get(patch.key)
        if first is not None:
            found.diagnostics.append(_error(
                "M010", f"{patch.key.describe()} is patched twice in one file: here and at "
                f"line {first.document.line}", file, patch.document.line, str(patch.key),
                "join the two documents into one"))
            continue
        seen[patch.key] = patch
        found.patches.append(patch)
    if problem is not None:
        found.diagnostics.append(_error(problem.code, problem.message, file, problem.line,
                                        None, problem.hint))


def _read_patch(document: ParsedDocument, file: str, layer: int,
                diagnostics: list[Diagnostic]) -> Patch | None:
    """The document's resource and patch, or None after reporting why it is not one."""
    data, lines = document.data, document.lines

    def fail(code: str, message: str, path: str | None, hint: str,
             resource: str | None = None) -> None:
        line = lines.get(path, document.line) if path else document.line
        diagnostics.append(_error(code, message, file, line, resource, hint, path))

    if not isinstance(data, dict):
        fail("M005", "a manifest document must be a mapping", None,
             "start the document with apiVersion, kind and metadata")
        return None
    if data.get("apiVersion") != API_VERSION:
        fail("M007", "apiVersion missing" if "apiVersion" not in data else
             f"apiVersion '{data['apiVersion']}' is not supported", "apiVersion",
             f"use 'apiVersion: {API_VERSION}'")
        return None
    kind = loader.read_kind(data.get("kind"))
    if kind is None:
        names = [k.value for k in kinds.KIND_ORDER]
        fail("M008", f"unknown kind {data.get('kind')!r}", "kind",
             f"{did_you_mean(str(data.get('kind')), names)}kind must be one of: "
             f"{', '.join(names)}")
        return None
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name is None and kinds.is_singleton(kind):
        name = kinds.SINGLETON_NAME
    if not isinstance(name, str) or ids.id_problem(name) is not None:
        fail("M009", f"{kind.value} has no valid metadata.name", "metadata",
             "add 'metadata: {name: <id>}': it names the resource an earlier layer declares")
        return None
    key = ResourceKey(kind, name)
    for extra in (k for k in data if k not in OVERLAY_FIELDS):
        fail("M019", f"unknown top-level field '{extra}' in an overlay", extra,
             f"{did_you_mean(extra, OVERLAY_FIELDS)}an overlay document holds apiVersion, "
             "kind, metadata, spec, patches and $patch", str(key))
        return None
    marker = data.get("$patch")
    if marker is not None and (marker != DELETE or any(k in data for k in ("spec", "patches"))):
        fail("M019", f"'$patch: {marker}' is not a patch meshctl knows: '$patch: delete' "
             "drops the resource in this environment" if marker != DELETE else
             "'$patch: delete' drops the resource; it cannot also patch it", "$patch",
             "write '$patch: delete' with apiVersion, kind and metadata.name only",
             str(key))
        return None
    if "spec" in data and not isinstance(data["spec"], dict | None):
        fail("M005", f"spec of {key.describe()} must be a mapping", "spec",
             "indent the fields under 'spec:'", str(key))
        return None
    if "patches" in data and not isinstance(data["patches"], list):
        fail("M019", "'patches' must be a list of JSON Patch operations", "patches",
             "write '- {op: add, path: /spec/capabilities/-, value: fraud}' items",
             str(key))
        return None
    return Patch(key, document, file, layer)


@dataclass(slots=True)
class Applied:
    """What `apply` made: the environment's state, the resources the layers changed (None:
    deleted), with the per-resource problems of the merged documents, and the layers'
    own problems."""

    state: MeshState
    changed: dict[ResourceKey, Resource | None] = field(default_factory=dict)
    documents: dict[ResourceKey, Document] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


RawOf = Callable[[Resource], Document | None]


def apply(base: MeshState, overlays: Overlays, raw_of: RawOf | None = None) -> Applied:
    """The overlays' patches over `base` (which is not changed). `raw_of` gives a base
    resource's document as written (default: read again from its file, since a resource's
    entry has its defaults filled in, and a patch applies to what the user wrote)."""
    raw = raw_of or document_of
    state = base.copy()
    applied = Applied(state)
    documents = applied.documents
    for patch in overlays.patches:
        current = documents.get(patch.key)
        exists = current is not None or patch.key in state
        if current is None and exists:
            resource = state.get(patch.key)
            assert resource is not None
            current = raw(resource)
            if current is None:
                applied.diagnostics.append(_error(
                    "M017", f"{patch.key.describe()} could not be read again from "
                    f"{resource.source.file if resource.source else 'its file'}",
                    patch.file, patch.document.line, str(patch.key),
                    "check that the base file is readable and run again"))
                continue
        if not exists:
            if patch.deletes or patch.patches:
                applied.diagnostics.append(_missing(patch, state))
                continue
            current = None
        if patch.deletes:
            state.discard(patch.key)
            documents.pop(patch.key, None)
            applied.changed[patch.key] = None
            continue
        merged = _created(patch) if current is None else _merged(current, patch)
        if isinstance(merged, Diagnostic):
            applied.diagnostics.append(merged)
            continue
        documents[patch.key] = merged
    for key, document in documents.items():
        resource, found = document.to_resource()
        applied.diagnostics += found
        applied.changed[key] = resource
        if resource is None:
            state.discard(key)
        else:
            state.add(resource)
    return applied


def document_of(resource: Resource) -> Document | None:
    """The document that declares `resource`, read again from its file."""
    if resource.source is None:
        return None
    data = loader.read_manifest_bytes(resource.source.file, loader.DEFAULT_MAX_BYTES)
    if isinstance(data, Diagnostic):
        return None
    try:
        documents, _ = parse_documents(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    for document in documents:
        if isinstance(document.data, dict) and _key_of(document.data) == resource.key:
            return Document(resource.key, document.data, resource.source.file, document.line,
                            document.lines)
    return None


def _key_of(data: dict[str, Any]) -> ResourceKey | None:
    kind = loader.read_kind(data.get("kind"))
    if kind is None:
        return None
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name is None and kinds.is_singleton(kind):
        name = kinds.SINGLETON_NAME
    return ResourceKey(kind, name) if isinstance(name, str) else None


def _created(patch: Patch) -> Document:
    """A resource no earlier layer has: this layer's document declares it."""
    return Document(patch.key, patch.document.data, patch.file, patch.document.line,
                    dict(patch.document.lines))


def _merged(current: Document, patch: Patch) -> Document | Diagnostic:
    """`current` with `patch`'s spec and metadata merged, then its operations applied."""
    data, lines, files = dict(current.data), dict(current.lines), dict(current.files)
    given = patch.document.data
    tracker = _Provenance(lines, files, patch)
    if given.get("spec") is not None:
        data["spec"] = overlay.merge_patch(data.get("spec") or {}, given["spec"])
        tracker.merged("spec", current.data.get("spec") or {}, given["spec"])
    metadata = given.get("metadata") or {}
    for part in ("labels", "annotations"):
        if isinstance(metadata, dict) and part in metadata:
            before = (current.data.get("metadata") or {}).get(part) or {}
            data["metadata"] = dict(data.get("metadata") or {})
            data["metadata"][part] = overlay.merge_patch(before, metadata[part])
            tracker.merged(f"metadata.{part}", before, metadata[part])
    for index, operation in enumerate(given.get("patches") or ()):
        try:
            patched = overlay.apply_operations(data, [operation])
        except overlay.PatchFailed as failed:
            reason = str(failed).split(": ", 1)[-1]
            what = f"patches[{index}]" if not isinstance(operation, dict) else \
                f"patches[{index}] ({operation.get('op')} {operation.get('path')})"
            return _error("M018", f"{what} does not apply to {patch.key.describe()}: {reason}",
                          patch.file, patch.at(f"patches[{index}]"), str(patch.key),
                          "check the path against the resource as the earlier layers "
                          "leave it (paths start at the document's root, /spec/...; list "
                          "indices count from 0)", f"patches[{index}]")
        if _key_of(patched) != patch.key or patched.get("apiVersion") != API_VERSION:
            return _error("M018", f"patches[{index}] changes the apiVersion, kind or name of "
                          f"{patch.key.describe()}", patch.file, patch.at(f"patches[{index}]"),
                          str(patch.key), "patch only spec and metadata labels/annotations; "
                          "to rename, '$patch: delete' it and declare the new one",
                          f"patches[{index}]")
        tracker.operation(index, operation, data)
        data = patched
    return Document(current.key, data, current.file, current.line, lines, files)


class _Provenance:
    """Keeps a document's `lines` and `files` true while a patch changes its data: the
    paths a patch sets take the layer's file and lines, the paths it removes go, and list
    items an operation inserts or removes shift the lines of the ones after them."""

    def __init__(self, lines: dict[str, int], files: dict[str, str], patch: Patch) -> None:
        self.lines, self.files, self.patch = lines, files, patch

    def merged(self, path: str, target: Any, given: Any) -> None:
        for key, value in given.items() if isinstance(given, dict) else ():
            child = _join(path, key)
            if value is None:
                self._drop(child)
            elif isinstance(value, dict) and isinstance(target, dict) and \
                    isinstance(target.get(key), dict):
                self.merged(child, target[key], value)
            else:
                self._drop(child)
                self._take(child, child)

    def operation(self, index: int, operation: dict[str, Any], before: dict[str, Any]) -> None:
        op = operation.get("op")
        if op == "test":
            return
        if op == "move":
            self._remove(str(operation.get("from", "")), before)
        if op == "remove":
            self._remove(str(operation["path"]), before)
            return
        path, container, token = _dotted(str(operation["path"]), before)
        if path is None:
            return
        if op != "replace" and isinstance(container, list):
            self._shift(path.rsplit("[", 1)[0], int(token), +1)
        else:
            self._drop(path)
        source = f"patches[{index}]"
        self._set(path, self.patch.at(source))
        self._take(path, f"{source}.value")

    def _remove(self, pointer: str, before: dict[str, Any]) -> None:
        path, container, token = _dotted(pointer, before)
        if path is None:
            return
        self._drop(path)
        if isinstance(container, list):
            self._shift(path.rsplit("[", 1)[0], int(token) + 1, -1)

    def _take(self, path: str, source: str) -> None:
        """The layer's lines under `source` (a path of the patch document) as `path`'s."""
        found = self.patch.document.lines
        self._set(path, found.get(source, self.patch.document.line))
        for name, line in found.items():
            if name.startswith(source) and name[len(source):len(source) + 1] in (".", "["):
                self._set(path + name[len(source):], line)

    def _set(self, path: str, line: int) -> None:
        self.lines[path] = line
        self.files[path] = self.patch.file

    def _drop(self, path: str) -> None:
        for name in [n for n in self.lines if _under(n, path)]:
            del self.lines[name]
            self.files.pop(name, None)

    def _shift(self, list_path: str, start: int, by: int) -> None:
        """Renumber the items of `list_path` from index `start` by `by`."""
        pattern = re.compile(re.escape(list_path) + r"\[(\d+)\]")
        moved: dict[str, tuple[int, str | None]] = {}
        for name in list(self.lines):
            match = pattern.match(name)
            if match is None or int(match.group(1)) < start:
                continue
            renamed = f"{list_path}[{int(match.group(1)) + by}]{name[match.end():]}"
            moved[renamed] = (self.lines.pop(name), self.files.pop(name, None))
        for name, (line, file) in moved.items():
            self.lines[name] = line
            if file is not None:
                self.files[name] = file


def _dotted(pointer: str, document: Any) -> tuple[str | None, Any, str]:
    """A JSON Pointer as the dotted path of the line maps (`/spec/steps/0/agent_id` ->
    `spec.steps[0].agent_id`), with the container it ends in and its last token ('-' read
    as the list's length). None when it does not resolve (the operation then fails)."""
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    path, current = "", document
    container: Any = None
    token = ""
    for token in tokens:
        container = current
        if isinstance(current, list):
            token = str(len(current)) if token == "-" else token
            if not token.isdigit():
                return None, None, token
            path += f"[{token}]"
            index = int(token)
            current = current[index] if index < len(current) else None
        elif isinstance(current, dict):
            path = _join(path, token)
            current = current.get(token)
        else:
            return None, None, token
    return (path or None), container, token


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _under(name: str, path: str) -> bool:
    return name == path or (name.startswith(path) and name[len(path)] in ".[")


def _missing(patch: Patch, state: MeshState) -> Diagnostic:
    what = "deletes" if patch.deletes else "patches"
    named = state.of_kind(patch.key.kind)
    names = list(named) if len(named) < 20_000 else []  # difflib is linear: keep errors quick
    return _error("M017", f"{patch.key.describe()} is not declared by an earlier layer, so "
                  f"this document {what} nothing", patch.file, patch.at("metadata.name"),
                  str(patch.key), f"{did_you_mean(patch.key.name, names)}check the name, or "
                  "declare the resource in this layer without 'patches'/'$patch'")


def _error(code: str, message: str, file: str, line: int | None, resource: str | None,
           hint: str | None, path: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, line, resource, path, hint)


def note_base(diagnostics: Iterable[Diagnostic], state: MeshState) -> list[Diagnostic]:
    """`diagnostics`, each about a value a later layer set also naming the resource's base
    file: the reader sees which layer to fix, and where the resource comes from."""
    noted: list[Diagnostic] = []
    for diagnostic in diagnostics:
        key = ResourceKey.parse(diagnostic.resource)
        resource = state.get(key) if key is not None else None
        source = resource.source if resource is not None else None
        if source is not None and source.field_files and diagnostic.file != source.file \
                and "declared at" not in diagnostic.message:
            where = f"{source.file}:{source.line}" if source.line else source.file
            diagnostic = Diagnostic(
                diagnostic.code, diagnostic.severity,
                f"{diagnostic.message} ({resource.key.describe() if resource else ''} is "
                f"declared at {where})", diagnostic.file, diagnostic.line,
                diagnostic.resource, diagnostic.path, diagnostic.hint)
        noted.append(diagnostic)
    return noted

