"""Drift back to git: manifests for the resources whose live state differs from the desired
state, written where their manifests live, so a change made in the panel can become a pull
request instead of being reverted or lost (`meshctl export --drifted`).

- A drifted resource: its document is replaced by the live entry (labels and annotations,
  which only manifests have, are kept). In a file of several documents only that document
  changes; the others, and their comments, stay as they are.
- A live resource no manifest declares: a new file, laid out as `meshctl export` does.
- A resource deleted live: its document is removed (in place only; with `out`, listed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import ManifestError
from reconciler.fsutil import write_atomically
from reconciler.manifests import export
from reconciler.model import entrydiff, ids
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.plan import compute

_SEPARATOR = re.compile(r"^(---|\.\.\.)(\s.*)?$")


@dataclass(slots=True)
class DriftExport:
    """What `write_drifted` did: files written, files removed, deletions it could not write
    (with `out`: a folder cannot say "delete this"), and why each resource was touched."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    not_written: list[ResourceKey] = field(default_factory=list)
    reasons: dict[ResourceKey, str] = field(default_factory=dict)


# How a resource is out of sync (the API's plan uses the same names).
DRIFTED, NOT_IN_GIT, MISSING_LIVE = "drifted", "not_in_git", "missing_live"


def out_of_sync(key: ResourceKey, desired: MeshState, live: MeshState) -> str | None:
    """How `key`'s live state differs from its desired one; None when they agree."""
    want, have = desired.get(key), live.get(key)
    if want is None:
        return None if have is None else NOT_IN_GIT
    if have is None:
        return MISSING_LIVE
    return None if entrydiff.equivalent(key.kind, have.entry, want.entry) else DRIFTED


def drifted(desired: MeshState, live: MeshState, *, prune: bool = True
            ) -> dict[ResourceKey, str]:
    """Every resource whose live state differs from the desired one, and how."""
    unmanaged = compute.unmanaged_kinds(desired)
    keys = [r.key for r in desired] + [r.key for r in live if prune and r.key not in desired
                                       and r.kind not in unmanaged]
    return {key: why for key in keys if (why := out_of_sync(key, desired, live)) is not None}


def write_drifted(desired: MeshState, live: MeshState, *, roots: list[Path],
                  out: Path | None = None) -> DriftExport:
    """Write the live state of every drifted resource over its manifest (under `out`
    instead, at the same relative path, when given). Nothing is written when a target is
    outside the roots or an id is not a safe file name."""
    result = DriftExport()
    changes = drifted(desired, live)
    unsafe = [k for k in changes if ids.id_problem(k.name) is not None]
    if unsafe:
        raise ManifestError("cannot export resources whose id is not a safe file name "
                            f"(nothing was written): {', '.join(map(str, unsafe))}")
    by_file: dict[Path, dict[ResourceKey, Resource | None]] = {}
    new_files: dict[Path, Resource] = {}
    for key, why in sorted(changes.items()):
        result.reasons[key] = why
        wanted = desired.get(key)
        have = live.get(key)
        if wanted is None:  # not in git: a new file where export would put it
            assert have is not None
            new_files[export.manifest_path(out or roots[0], have)] = have
            continue
        source = Path(wanted.source.file) if wanted.source else None
        if source is None:
            result.not_written.append(key)
            continue
        if have is None and out is not None:
            result.not_written.append(key)
            continue
        replacement = None if have is None else Resource(
            key, have.entry, None, wanted.labels, wanted.annotations)
        by_file.setdefault(source, {})[key] = replacement
    plans: list[tuple[Path, str | None]] = []
    for source, replaced in sorted(by_file.items()):
        old_text = source.read_text(encoding="utf-8")
        plans.append((_target(source, roots, out),
                      _replace_documents(old_text, source, desired, replaced)))
    for path, resource in sorted(new_files.items()):
        plans.append((path, export.render_manifest(resource)))
    for path, text in plans:  # everything worked out before any file is touched
        if text is None:
            path.unlink(missing_ok=True)
            result.removed.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text.encode("utf-8"), mode=0o644)
        result.written.append(path)
    return result


def _target(source: Path, roots: list[Path], out: Path | None) -> Path:
    if out is None:
        return source
    for root in roots:
        try:
            return out / source.resolve().relative_to(root.resolve())
        except ValueError:
            continue
    return out / source.name


def _replace_documents(text: str, source: Path, desired: MeshState,
                       replaced: dict[ResourceKey, Resource | None]) -> str | None:
    """`text` with the documents declaring `replaced`'s keys replaced (None: removed);
    None when no document is left."""
    lines = text.splitlines(keepends=True)
    chunks: list[tuple[int, int]] = []  # [start, end) line indexes of each document
    start = 0
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line.rstrip("\n")):
            chunks.append((start, index))
            start = index + 1
    chunks.append((start, len(lines)))
    located: dict[int, ResourceKey] = {}
    for key in replaced:
        declared = desired.get(key)
        at = declared.source.line if declared and declared.source else None
        chunk = next((i for i, (a, b) in enumerate(chunks)
                      if at is not None and a < at <= b), None)
        if chunk is None:
            raise ManifestError(f"{source}: cannot find the document of {key.describe()}; "
                                "nothing was written")
        located[chunk] = key
    parts: list[str] = []
    kept_any = False
    for index, (a, b) in enumerate(chunks):
        separator = lines[b] if b < len(lines) else ""
        found = located.get(index)
        if found is None:
            body = "".join(lines[a:b])
            kept_any = kept_any or bool(body.strip())
            parts.append(body + separator)
            continue
        resource = replaced[found]
        if resource is None:  # removed: its separator goes with it
            continue
        kept_any = True
        parts.append(export.render_manifest(resource) + separator)
    kept = "".join(parts).splitlines(keepends=True)
    while kept and (_SEPARATOR.match(kept[-1].rstrip("\n")) or not kept[-1].strip()):
        kept.pop()  # no separator (or blank line) left dangling at the end
    new_text = "".join(kept)
    if not kept_any or not new_text.strip(" \n-."):
        return None
    return new_text if new_text.endswith("\n") else new_text + os.linesep
