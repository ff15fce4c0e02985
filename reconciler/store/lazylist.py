"""A registry's entries decoded one by one, when first asked for (issue 26).

A plan of ten agents against a 280 MB agent registry needs ten entries, the ids of the
others (which are deleted, which are new) and the header. When the store holds the
layout of exactly these bytes (`jsonspans.ListLayout`, saved by the last commit and
keyed by the bytes' digest), the ids and every entry's byte span are known without
decoding: `LazyEntries` maps each id to its `Resource`, decoding the span on first
access. It behaves as the dict the reader would have built (same order, same entries);
changes made to it (a commit's `with_commit`) go to an overlay, and `copy` shares the
decoded part. A plan's snapshot reads the spans from the file held open (`HeldFile`)
rather than from its bytes in memory, and lays out the governance file's policies alike.

A per-file registry (the `workflows/` folder: 2,000 files at 100,000 agents) is the same
at the scale of files: `LazyDocuments` maps each id to its file, read and decoded on first
access (`Deferred`), when a settled read kept beside the registries proves by its stat
alone that the file still holds the bytes it read. The snapshot then lists and stats the
folder, and reads none of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, cast

import orjson

from reconciler.errors import StoreError
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey, Source
from reconciler.store.heldfile import HeldFile, span_of
from reconciler.store.jsonspans import ListLayout

_GONE = object()


class _Overlaid(MutableMapping[str, Resource]):
    """`id -> Resource` of a registry's entries, each made into its `Resource` when first
    asked for (`_make`), in the order of `_spans` (ids to where each entry is); changes go
    to an overlay, and a copy shares what was made."""

    __slots__ = ("_kind", "_spans", "_source", "_decoded", "_changed", "_order")

    def __init__(self, kind: Kind, spans: Mapping[str, Any], source: Source) -> None:
        self._kind, self._spans, self._source = kind, spans, source
        self._decoded: dict[str, Resource] = {}
        self._changed: dict[str, Any] = {}  # an overlay: a Resource, or _GONE
        self._order: list[str] | None = None  # names added by the overlay, in order

    def _make(self, name: str) -> Resource:
        raise NotImplementedError

    def _decode(self, name: str) -> Resource:
        found = self._decoded.get(name)
        if found is None:
            found = self._decoded[name] = self._make(name)
        return found

    def __getitem__(self, name: str) -> Resource:
        changed = self._changed.get(name)
        if changed is _GONE:
            raise KeyError(name)
        if changed is not None:
            assert isinstance(changed, Resource)
            return changed
        if name not in self._spans:
            raise KeyError(name)
        return self._decode(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        changed = self._changed.get(name)
        if changed is not None:
            return changed is not _GONE
        return name in self._spans

    def __iter__(self) -> Iterator[str]:
        if not self._changed:
            return iter(self._spans)
        names = [name for name in self._spans if self._changed.get(name) is not _GONE]
        return iter(names + (self._order or []))

    def __len__(self) -> int:
        if not self._changed:
            return len(self._spans)
        return sum(1 for _ in self)

    def __setitem__(self, name: str, resource: Resource) -> None:
        if name not in self:
            self._order = [n for n in self._order or [] if n != name] + [name]
            if name in self._spans:  # deleted then added again: at the end, as a dict puts it
                self._spans = {n: span for n, span in self._spans.items() if n != name}
        self._changed[name] = resource

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._changed[name] = _GONE
        if self._order and name in self._order:
            self._order.remove(name)

    def _share_into(self, other: _Overlaid) -> None:
        """Make `other` (of the same entries) share what was made, its overlay a copy."""
        other._decoded = self._decoded
        other._changed = dict(self._changed)
        other._order = list(self._order) if self._order is not None else None


class DecodedEntries(_Overlaid):
    """`id -> Resource` of a list registry decoded whole: each entry made into its
    `Resource` when first asked for (10,000 of them took a tenth of a cold read)."""

    __slots__ = ("_values",)

    def __init__(self, kind: Kind, values: list[Any], at: Mapping[str, int],
                 source: Source) -> None:
        super().__init__(kind, at, source)
        self._values = values

    @classmethod
    def of(cls, kind: Kind, values: list[Any], id_field: str, source: Source
           ) -> DecodedEntries | None:
        """The entries of `values`, keyed by `id_field`; None when an item is not an
        object with a string id or an id repeats (the reader reports those)."""
        try:
            at = {value[id_field]: index for index, value in enumerate(values)
                  if type(value) is dict}
        except (KeyError, TypeError):  # (TypeError: an id that cannot be a key)
            return None
        if len(at) != len(values) or not all(type(name) is str for name in at):
            return None
        return cls(kind, values, at, source)

    def _make(self, name: str) -> Resource:
        return Resource(ResourceKey(self._kind, name), self._values[self._spans[name]],
                        self._source)

    def copy(self) -> DecodedEntries:
        """Another mapping of the same entries (the made ones shared), changed apart."""
        other = DecodedEntries(self._kind, self._values, self._spans, self._source)
        self._share_into(other)
        return other


class LazyEntries(_Overlaid):
    """`id -> Resource` of a list registry's bytes (or a policy map's: names), decoded per
    entry on first use. The bytes are in memory, or in a file held open (`HeldFile`: a
    plan's snapshot), read a span at a time."""

    __slots__ = ("_data",)

    def __init__(self, kind: Kind, data: bytes | HeldFile,
                 spans: Mapping[str, tuple[int, int]], source: Source) -> None:
        super().__init__(kind, spans, source)
        self._data = data

    @classmethod
    def of(cls, kind: Kind, data: bytes | HeldFile, layout: ListLayout, source: Source
           ) -> LazyEntries | None:
        """The entries of `data` as `layout` (of exactly these bytes) places them; None
        when an item has no string id or an id repeats (the reader reports those)."""
        at = dict(zip(layout.ids, range(len(layout.ids)), strict=True))
        if len(at) != len(layout.ids) or None in at:
            return None
        return cls(kind, data, _Spans(cast(dict[str, int], at), layout.starts, layout.ends),
                   source)

    def _make(self, name: str) -> Resource:
        start, end = self._spans[name]
        try:
            entry = orjson.loads(span_of(self._data, start, end))
        except orjson.JSONDecodeError as error:  # the layout was proved on these bytes
            raise self._undecodable(name, str(error)) from error
        if not isinstance(entry, dict):
            raise self._undecodable(name, "not an object")
        return Resource(ResourceKey(self._kind, name), entry, self._source)

    def _undecodable(self, name: str, problem: str) -> StoreError:
        return StoreError(f"{self._source.file}: entry '{name}' cannot be decoded where its "
                          f"layout says ({problem}); read it again")

    def copy(self) -> LazyEntries:
        """Another mapping of the same entries (the decoded ones shared), changed apart."""
        other = LazyEntries(self._kind, self._data, self._spans, self._source)
        self._share_into(other)
        return other


class _Spans(Mapping[str, tuple[int, int]]):
    """Each id's span, looked up by its position in the layout: a dict of 120,000 span
    tuples, most of which a plan never asks for, took a third of a lazy read."""

    __slots__ = ("_at", "_starts", "_ends")

    def __init__(self, at: dict[str, int], starts: tuple[int, ...],
                 ends: tuple[int, ...]) -> None:
        self._at, self._starts, self._ends = at, starts, ends

    def __getitem__(self, name: str) -> tuple[int, int]:
        at = self._at[name]
        return self._starts[at], self._ends[at]

    def __contains__(self, name: object) -> bool:
        return name in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


class Deferred:
    """A per-file registry's file not read yet: its entry's key, where it is, and the digest
    of the bytes the snapshot promised, which the file must still hold when it is read."""

    __slots__ = ("key", "source", "digest", "_resource")

    def __init__(self, key: ResourceKey, source: Source, digest: str) -> None:
        self.key, self.source, self.digest = key, source, digest
        self._resource: Resource | None = None

    def resource(self) -> Resource:
        """The entry, read the first time (then shared by every snapshot that holds it)."""
        found = self._resource
        if found is None:
            found = self._resource = Resource(self.key, self._entry(), self.source)
        return found

    def _entry(self) -> dict[str, Any]:
        try:
            data = Path(self.source.file).read_bytes()
        except OSError as error:
            raise self._changed(f"cannot be read ({error.strerror})") from error
        if hashlib.sha256(data).hexdigest() != self.digest:
            raise self._changed("holds other bytes")
        try:
            entry = orjson.loads(data)
        except orjson.JSONDecodeError as error:  # the digest's bytes decoded when saved
            raise self._changed(f"cannot be decoded ({error})") from error
        id_field = kinds.info(self.key.kind).id_field
        if not isinstance(entry, dict) or id_field is None or entry.get(id_field) != self.key.name:
            raise self._changed(f"does not hold {self.key.describe()}")
        return entry

    def _changed(self, problem: str) -> StoreError:
        return StoreError(f"{self.source.file} {problem}: it changed since this snapshot "
                          "was taken; read the registries again")


class LazyDocuments(MutableMapping[str, Resource]):
    """`id -> Resource` of a per-file registry, in file-name order, a `Deferred` file read
    when its entry is first asked for. It behaves as the dict the reader would build;
    changes replace items as a dict's would, and `copy` shares what was read."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, Resource | Deferred] | None = None) -> None:
        self._items: dict[str, Resource | Deferred] = {} if items is None else items

    def defer(self, deferred: Deferred) -> None:
        """Hold `deferred` under its name, last, unread."""
        self._items[deferred.key.name] = deferred

    def held(self) -> Mapping[str, Resource | Deferred]:
        """What is held, without reading any file (for comparing snapshots by identity)."""
        return self._items

    def has_deferred(self) -> bool:
        return any(isinstance(item, Deferred) for item in self._items.values())

    def ordered(self, names: list[str]) -> LazyDocuments:
        """The same items in the order of `names` (every name held), unread."""
        return LazyDocuments({name: self._items[name] for name in names})

    def __getitem__(self, name: str) -> Resource:
        item = self._items[name]
        return item.resource() if isinstance(item, Deferred) else item

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setitem__(self, name: str, resource: Resource) -> None:
        self._items[name] = resource

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def copy(self) -> LazyDocuments:
        """Another mapping of the same items, changed apart (a file read once for both)."""
        return LazyDocuments(dict(self._items))


def held(by_name: Mapping[str, Resource]) -> Mapping[str, Resource | Deferred]:
    """What a kind's mapping holds, its deferred files unread."""
    return by_name.held() if isinstance(by_name, LazyDocuments) else by_name
