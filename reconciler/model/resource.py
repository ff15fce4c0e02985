"""Resources and snapshots of a whole mesh, as plain data with no I/O.

A resource's `entry` is exactly the registry entry the AgentMesh runtime reads (for agents,
tools, model profiles and workflows the id field comes first; for a governance policy it is
the body stored under its name). Entries stay plain dicts so unknown keys and key order
survive untouched; the pydantic models in `specs` only check them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from reconciler.model import kinds
from reconciler.model.cowmap import CowMap
from reconciler.model.kinds import Kind


class ResourceKey(NamedTuple):
    """(kind, name): a NamedTuple, so hashing and comparing run in C. Graphs of a large mesh
    hash keys millions of times."""

    kind: Kind
    name: str

    def __str__(self) -> str:
        return f"{kinds.info(self.kind).label.replace(' ', '-')}/{self.name}"

    def describe(self) -> str:
        """`agent 'fraud_agent'`: how messages name a resource."""
        return f"{kinds.info(self.kind).label} '{self.name}'"

    @classmethod
    def parse(cls, text: str | None) -> ResourceKey | None:
        """The key whose `str()` is `text` (how findings name their resource), if any."""
        if not text or "/" not in text:
            return None
        name = text.partition("/")[2]
        for kind in Kind:
            key = cls(kind, name)
            if str(key) == text:
                return key
        return None


@dataclass(frozen=True, slots=True)
class Source:
    """Where a resource was declared: a manifest file and line, or a registry file.

    `field_lines` maps a field path relative to the entry (`allowed_tools[1]`,
    `steps[0].agent_id`) to its line in the manifest. In an environment whose later layers
    patch the resource, `field_files` names the layer's file of each path they set (the
    lines are then that file's); `file` stays the file that declared the resource first.
    """

    file: str
    line: int | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict)
    field_files: Mapping[str, str] = field(default_factory=dict)

    def line_of(self, path: str | None) -> int | None:
        """The line of `path`, or of its nearest recorded parent, or of the resource."""
        recorded = self._recorded(path)
        return self.line if recorded is None else self.field_lines[recorded]

    def file_of(self, path: str | None) -> str:
        """The file that set `path` (or its nearest recorded parent): a layer's, or `file`."""
        recorded = self._recorded(path) if self.field_files else None
        return self.file if recorded is None else self.field_files.get(recorded, self.file)

    def _recorded(self, path: str | None) -> str | None:
        """`path`, or its nearest parent, whose line is recorded; None when none is."""
        while path:
            if self.field_lines.get(path) is not None:
                return path
            path = parent_path(path)
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"file": self.file, "line": self.line,
                                "field_lines": dict(self.field_lines)}
        if self.field_files:
            data["field_files"] = dict(self.field_files)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        """`field_lines` may be JSON text (as the parse cache keeps it): decoded only when
        a line is asked for, which only a finding does."""
        lines = data.get("field_lines") or {}
        return cls(data["file"], data.get("line"),
                   LazyLines(lines) if isinstance(lines, str) else lines,
                   data.get("field_files") or {})


class LazyLines(Mapping[str, int]):
    """A resource's field lines kept as the JSON text they came in, decoded on first use.
    A 100,000-rule policy has 300,000 of them: 60% of its cached result, and needed only
    to place a finding."""

    __slots__ = ("_text", "_lines")

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines: dict[str, int] | None = None

    def _decoded(self) -> dict[str, int]:
        lines = self._lines
        if lines is None:
            found = orjson.loads(self._text)
            lines = self._lines = found if isinstance(found, dict) else {}
        return lines

    def __getitem__(self, path: str) -> int:
        return self._decoded()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def parent_path(path: str) -> str:
    """`steps[0].agent_id` -> `steps[0]` -> `steps` -> ``."""
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


@dataclass(frozen=True, slots=True)
class Resource:
    key: ResourceKey
    entry: dict[str, Any]
    source: Source | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        return self.key.kind

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def spec(self) -> dict[str, Any]:
        """The entry without its id field: what a manifest's `spec` holds."""
        id_field = kinds.info(self.kind).id_field
        return {k: v for k, v in self.entry.items() if k != id_field}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "entry": self.entry,
            "source": self.source.to_dict() if self.source else None,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resource:
        source = data.get("source")
        return cls(
            ResourceKey(Kind(data["kind"]), data["name"]),
            data["entry"],
            Source.from_dict(source) if source else None,
            data.get("labels") or {},
            data.get("annotations") or {},
        )

    def where(self, path: str | None = None) -> tuple[str | None, int | None]:
        if self.source is None:
            return None, None
        return self.source.file_of(path), self.source.line_of(path)


@dataclass(slots=True)
class MeshState:
    """A whole mesh: every resource by kind, in declaration (or registry) order."""

    resources: dict[Kind, dict[str, Resource]] = field(
        default_factory=lambda: {kind: {} for kind in kinds.KIND_ORDER}
    )

    def add(self, resource: Resource) -> None:
        self.resources[resource.kind][resource.name] = resource

    def discard(self, key: ResourceKey) -> None:
        self.resources[key.kind].pop(key.name, None)

    def copy(self) -> MeshState:
        """Another state of the same resources, changed apart (a lazily decoded kind stays
        lazy: its own `copy`)."""
        return MeshState({kind: by_name.copy() for kind, by_name in self.resources.items()})

    def prefetch(self, keys: Iterable[ResourceKey]) -> None:
        """A hint that the entries of `keys` are about to be read: a store's lazy mapping
        (`CowMap.fetch`) then reads them in one go rather than one by one."""
        by_kind: dict[Kind, list[str]] = {}
        for key in keys:
            by_kind.setdefault(key.kind, []).append(key.name)
        for kind, names in by_kind.items():
            by_name = self.resources.get(kind)
            if isinstance(by_name, CowMap):
                by_name.fetch(names)

    def get(self, key: ResourceKey) -> Resource | None:
        return self.resources[key.kind].get(key.name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, ResourceKey) and key.name in self.resources[key.kind]

    def of_kind(self, kind: Kind) -> dict[str, Resource]:
        return self.resources[kind]

    def __iter__(self) -> Iterator[Resource]:
        for kind in kinds.KIND_ORDER:
            yield from self.resources[kind].values()

    def __len__(self) -> int:
        return sum(len(by_name) for by_name in self.resources.values())

    def counts(self) -> dict[Kind, int]:
        """Resources per kind: every one of the first five kinds, the later (opt-in) kinds
        only when present, so a mesh without them reports as it always did."""
        return {kind: len(self.resources[kind]) for kind in kinds.KIND_ORDER
                if self.resources[kind] or not kinds.info(kind).opt_in}
