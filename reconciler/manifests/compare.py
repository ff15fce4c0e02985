"""How two environments' desired states differ: `meshctl compare dev prod` (issue 25), the
promotion review. The CLI (`cli/compare_cmd.py`) calls `compare` with each environment's
state as loading made it (its layers patched over the base) and its layer folders.

Resources pair by key, as the planner pairs desired and live: only in A, only in B, or in
both. A pair differs when its entries do, by the one field diff the plan uses
(`model.entrydiff`: the same essence, so an omitted optional field and what its absence
means are no difference, and the same paths, `capabilities[4]`, `steps[0].agent_id`), or
when its labels or annotations do (`metadata.labels.tier`). Each side of a difference says
where its value was set: the file and line of the layer that wrote it
(`Source.field_files`), and which of the environment's layer folders holds that file.
Pure: no files, clocks or environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.model import entrydiff, kinds
from reconciler.model.entrydiff import FieldChange, FieldOp
from reconciler.model.resource import MeshState, Resource, ResourceKey, Source, parent_path

# The parts of a manifest's metadata compared besides the entry, as paths name them.
METADATA_PARTS = ("labels", "annotations")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value or a resource is set: a manifest file and line, and the environment's
    layer folder that holds the file (None when no layer does). No file: no manifest
    writes the value; it is a default (what its absence means to the runtime)."""

    file: str | None
    line: int | None = None
    layer: str | None = None

    @property
    def written(self) -> bool:
        return self.file is not None

    def __str__(self) -> str:
        if self.file is None:
            return "(default)"
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True, slots=True)
class Setting:
    """A value one environment gives a field, and where."""

    value: Any
    origin: Origin


@dataclass(frozen=True, slots=True)
class FieldDifference:
    """One field that differs: `path` as the plan writes it (`max_iterations`,
    `capabilities[4]`, `metadata.labels.tier`); each side's setting, None where that
    environment does not have the field."""

    path: str
    a: Setting | None
    b: Setting | None


@dataclass(frozen=True, slots=True)
class Declared:
    """A resource one environment has and the other does not, and where it is declared."""

    key: ResourceKey
    origin: Origin


@dataclass(frozen=True, slots=True)
class ResourceDifference:
    """A resource both environments have, differently: where each declares it (its base
    file, or the layer that created it), and every field that differs, spec first, then
    labels and annotations."""

    key: ResourceKey
    a: Origin
    b: Origin
    fields: tuple[FieldDifference, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every difference, each list in kind order, then by name; `same` counts the
    resources both environments have alike."""

    only_a: tuple[Declared, ...] = ()
    only_b: tuple[Declared, ...] = ()
    differing: tuple[ResourceDifference, ...] = ()
    same: int = 0

    @property
    def differs(self) -> bool:
        return bool(self.only_a or self.only_b or self.differing)


def compare(a: MeshState, b: MeshState, *, layers_a: Sequence[str] = (),
            layers_b: Sequence[str] = ()) -> Comparison:
    """How `b` differs from `a`; `layers_a` and `layers_b` are the environments' layer
    folders (base first), as their files are named, to say which layer set a value."""
    only_a: list[Declared] = []
    only_b: list[Declared] = []
    differing: list[ResourceDifference] = []
    same = 0
    for kind in kinds.KIND_ORDER:
        ours, theirs = a.of_kind(kind), b.of_kind(kind)
        for name in sorted(ours.keys() | theirs.keys()):
            left, right = ours.get(name), theirs.get(name)
            if right is None:
                assert left is not None
                only_a.append(Declared(left.key, _declared(left, layers_a)))
            elif left is None:
                only_b.append(Declared(right.key, _declared(right, layers_b)))
            else:
                found = _fields(left, right, layers_a, layers_b)
                if found:
                    differing.append(ResourceDifference(
                        left.key, _declared(left, layers_a), _declared(right, layers_b),
                        tuple(found)))
                else:
                    same += 1
    return Comparison(tuple(only_a), tuple(only_b), tuple(differing), same)


def _fields(left: Resource, right: Resource, layers_a: Sequence[str],
            layers_b: Sequence[str]) -> list[FieldDifference]:
    changes = [(change, change.path)
               for change in entrydiff.field_changes(left.kind, left.entry, right.entry)]
    for part in METADATA_PARTS:
        ours: Mapping[str, str] = getattr(left, part)
        theirs: Mapping[str, str] = getattr(right, part)
        if ours != theirs:
            # Not entry fields: the loader keeps their lines as `@metadata.labels.tier`.
            changes += [(change, f"metadata.{part}.{change.path}")
                        for change in entrydiff.differences(dict(ours), dict(theirs))]
    return [_difference(change, path, left, right, layers_a, layers_b)
            for change, path in changes]


def _difference(change: FieldChange, path: str, left: Resource, right: Resource,
                layers_a: Sequence[str], layers_b: Sequence[str]) -> FieldDifference:
    prefix = "@" if path.startswith("metadata.") else ""
    new_path = path if prefix else change.path_in_new
    a = None if change.op is FieldOp.ADD else \
        Setting(change.old, _origin(left.source, prefix + path, layers_a))
    b = None if change.op is FieldOp.REMOVE else \
        Setting(change.new, _origin(right.source, prefix + new_path, layers_b))
    return FieldDifference(path, a, b)


def _origin(source: Source | None, path: str, layers: Sequence[str]) -> Origin:
    """Where `path` (or the nearest value around it a manifest writes) is set; a default
    when no manifest writes it or anything around it."""
    if source is None:
        return Origin(None)
    lines = source.field_lines
    while path and path not in lines:
        path = parent_path(path)
    if not path:
        return Origin(None)
    file = source.field_files.get(path, source.file)
    return Origin(file, lines[path], layer_of(file, layers))


def _declared(resource: Resource, layers: Sequence[str]) -> Origin:
    source = resource.source
    if source is None:
        return Origin(None)
    return Origin(source.file, source.line, layer_of(source.file, layers))


def layer_of(file: str, layers: Sequence[str]) -> str | None:
    """The layer folder that holds `file` (the innermost, should layers nest), as the
    environment names it; None when none does."""
    name = os.path.normpath(file)
    holding = [layer for layer in layers
               if os.path.normpath(layer) in (".", name)
               or name.startswith(os.path.join(os.path.normpath(layer), ""))]
    return max(holding, key=lambda layer: len(os.path.normpath(layer)), default=None)
