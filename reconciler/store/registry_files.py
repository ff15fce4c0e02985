"""Read the AgentMesh live registries (its JSON layout) into a `LiveState`.

Called by the engine and the CLI. Entries keep their keys and order exactly; a file's own keys
(`version`, `last_updated`, `_comment`) are kept in `headers` for the writer. Nothing is ever
skipped silently: an entry that cannot be keyed is reported and kept in `unkeyed` so a later
write can put it back, where the upstream runtime would drop it on its next save.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reconciler.errors import Diagnostic, Severity
from reconciler.gcpause import gc_paused
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source

WORKFLOWS_DIR = "workflows"


@dataclass(slots=True)
class LiveState:
    """The live registries as read: resources, per-file headers, problems, and a fingerprint."""

    root: Path
    state: MeshState = field(default_factory=MeshState)
    headers: dict[Kind, dict[str, Any]] = field(default_factory=dict)
    unkeyed: dict[str, list[Any]] = field(default_factory=dict)
    file_digests: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Content hash of every registry file read (name and bytes), stable across runs."""
        return fingerprint_of(self.file_digests)


def fingerprint_of(file_digests: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(file_digests):
        digest.update(f"{name}\0{file_digests[name]}\n".encode())
    return digest.hexdigest()


def registry_file_names(root: Path) -> list[str]:
    """Every file the reader reads (relative), existing ones only: the fingerprint's scope."""
    names = [kinds.info(kind).registry_file for kind in
             (Kind.MODEL_PROFILE, Kind.TOOL, Kind.AGENT, Kind.GOVERNANCE_POLICY)]
    found = [name for name in names if (root / name).is_file()]
    folder = root / WORKFLOWS_DIR
    if folder.is_dir():
        found += [f"{WORKFLOWS_DIR}/{path.name}" for path in sorted(folder.glob("*.json"))]
    return found


def read_live_state(root: str | os.PathLike[str]) -> LiveState:
    """Every registry under `root`; a missing file reads as empty.

    Each file's SHA-256 (for the fingerprint) is computed on a second thread while this one
    decodes: hashlib lets go of the GIL, so on two cores the hashing is free."""
    live = LiveState(Path(root))
    with gc_paused(), ThreadPoolExecutor(max_workers=1) as hasher:
        digests: dict[str, Future[str]] = {}
        for kind in (Kind.MODEL_PROFILE, Kind.TOOL, Kind.AGENT):
            _read_entry_list(live, kind, hasher, digests)
        _read_workflows(live, hasher, digests)
        _read_governance(live, hasher, digests)
        live.file_digests.update((name, digest.result()) for name, digest in digests.items())
    return live


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load_json(live: LiveState, relative: str, hasher: ThreadPoolExecutor,
               digests: dict[str, Future[str]]) -> tuple[Any, bool]:
    """The parsed file (None, False when absent); a damaged file is a diagnostic. Its
    digest goes to `digests`, computed by `hasher`."""
    path = live.root / relative
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, False
    except OSError as error:
        live.diagnostics.append(_error("L006", f"cannot read registry file: {error.strerror}",
                                       str(path), None, "check its permissions"))
        return None, False
    digests[relative] = hasher.submit(_sha256, data)
    with contextlib.suppress(orjson.JSONDecodeError):  # the fast path; else the stdlib's view
        return orjson.loads(data), True
    try:  # the stdlib accepts what Python's json.dump writes (NaN) and locates errors by line
        lenient = json.loads(data)
        live.diagnostics.append(_error(
            "L001", "not standard JSON (NaN or Infinity, which Python's json module writes): "
            "other readers and meshctl's manifests cannot hold it", str(path), None,
            "replace NaN/Infinity with a number or null"))
        return lenient, True
    except UnicodeDecodeError as error:
        live.diagnostics.append(_error("L001", f"registry file is not UTF-8: {error.reason}",
                                       str(path), None, "save it as UTF-8"))
    except json.JSONDecodeError as error:
        live.diagnostics.append(_error(
            "L001", f"invalid JSON: {error.msg} (column {error.colno})", str(path), error.lineno,
            "fix the file or restore it from history; nothing was read from it"))
    return None, False


def _read_entry_list(live: LiveState, kind: Kind, hasher: ThreadPoolExecutor,
                     digests: dict[str, Future[str]]) -> None:
    info = kinds.info(kind)
    assert info.collection_key is not None and info.id_field is not None
    relative = info.registry_file
    document, found = _load_json(live, relative, hasher, digests)
    if not found:
        return
    file = str(live.root / relative)
    if not isinstance(document, dict) or not isinstance(
        document.get(info.collection_key, []), list
    ):
        live.diagnostics.append(_error(
            "L002", f"expected an object whose '{info.collection_key}' is a list", file, None,
            f"the file must look like {{\"version\": ..., \"{info.collection_key}\": [...]}}"))
        return
    live.headers[kind] = {k: v for k, v in document.items() if k != info.collection_key}
    source = Source(file)  # one for all: a 10,000-entry registry need not build 10,000
    for index, entry in enumerate(document.get(info.collection_key, [])):
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


def _read_workflows(live: LiveState, hasher: ThreadPoolExecutor,
                    digests: dict[str, Future[str]]) -> None:
    folder = live.root / WORKFLOWS_DIR
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        relative = f"{WORKFLOWS_DIR}/{path.name}"
        document, found = _load_json(live, relative, hasher, digests)
        if not found:
            continue
        entry_id = document.get("workflow_id") if isinstance(document, dict) else None
        if not isinstance(entry_id, str):
            _keep_unkeyed(live, relative, document, _error(
                "L003", "workflow file has no string 'workflow_id'", str(path), None,
                f"add \"workflow_id\": \"{path.stem}\""))
            continue
        if entry_id != path.stem:
            live.diagnostics.append(_error(
                "L005", f"file name '{path.name}' differs from its workflow_id '{entry_id}'",
                str(path), None, f"rename the file to {entry_id}.json", f"workflow/{entry_id}"))
        _add(live, Kind.WORKFLOW, entry_id, document, Source(str(path)), "")


def _read_governance(live: LiveState, hasher: ThreadPoolExecutor,
                     digests: dict[str, Future[str]]) -> None:
    info = kinds.info(Kind.GOVERNANCE_POLICY)
    document, found = _load_json(live, info.registry_file, hasher, digests)
    if not found:
        return
    file = str(live.root / info.registry_file)
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


def _add(live: LiveState, kind: Kind, name: str, entry: dict[str, Any], source: Source,
         where: str) -> None:
    key = ResourceKey(kind, name)
    if key in live.state:
        _keep_unkeyed(live, kinds.info(kind).registry_file, entry, _error(
            "L004", f"{key.describe()} appears twice ({where or source.file}); the first is "
            "used", source.file, None, "remove or rename the duplicate", str(key)))
        return
    live.state.add(Resource(key, entry, source))


def _keep_unkeyed(live: LiveState, relative: str, entry: Any, diagnostic: Diagnostic) -> None:
    live.unkeyed.setdefault(relative, []).append(entry)
    live.diagnostics.append(diagnostic)


def _error(code: str, message: str, file: str, line: int | None, hint: str,
           resource: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, line, resource, None, hint)
