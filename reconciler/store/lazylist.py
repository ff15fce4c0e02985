"""A list registry's entries decoded one by one, when first asked for (issue 26).

A plan of ten agents against a 280 MB agent registry needs ten entries, the ids of the
others (which are deleted, which are new) and the header. When the store holds the
layout of exactly these bytes (`jsonspans.ListLayout`, saved by the last commit and
keyed by the bytes' digest), the ids and every entry's byte span are known without
decoding: `LazyEntries` maps each id to its `Resource`, decoding the span on first
access. It behaves as the dict the reader would have built (same order, same entries);
changes made to it (a commit's `with_commit`) go to an overlay, and `copy` shares the
decoded part.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson

from reconciler.errors import StoreError
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey, Source
from reconciler.store.jsonspans import ListLayout

_GONE = object()


class LazyEntries(MutableMapping[str, Resource]):
    """`id -> Resource` of a list registry's bytes, decoded per entry on first use."""

    __slots__ = ("_kind", "_data", "_spans", "_source", "_decoded", "_changed", "_order")

    def __init__(self, kind: Kind, data: bytes, spans: dict[str, tuple[int, int]],
                 source: Source) -> None:
        self._kind, self._data, self._spans, self._source = kind, data, spans, source
        self._decoded: dict[str, Resource] = {}
        self._changed: dict[str, Any] = {}  # an overlay: a Resource, or _GONE
        self._order: list[str] | None = None  # names added by the overlay, in order

    @classmethod
    def of(cls, kind: Kind, data: bytes, layout: ListLayout, source: Source
           ) -> LazyEntries | None:
        """The entries of `data` as `layout` (of exactly these bytes) places them; None
        when an item has no string id or an id repeats (the reader reports those)."""
        spans: dict[str, tuple[int, int]] = {}
        for name, start, end in zip(layout.ids, layout.starts, layout.ends, strict=True):
            if name is None or name in spans:
                return None
            spans[name] = (start, end)
        return cls(kind, data, spans, source)

    def _decode(self, name: str) -> Resource:
        found = self._decoded.get(name)
        if found is None:
            start, end = self._spans[name]
            try:
                entry = orjson.loads(self._data[start:end])
            except orjson.JSONDecodeError as error:  # the layout was proved on these bytes
                raise StoreError(f"{self._source.file}: entry '{name}' cannot be decoded "
                                 f"where its layout says ({error}); read it again") from error
            found = self._decoded[name] = Resource(ResourceKey(self._kind, name), entry,
                                                   self._source)
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

    def copy(self) -> LazyEntries:
        """Another mapping of the same entries (the decoded ones shared), changed apart."""
        other = LazyEntries(self._kind, self._data, self._spans, self._source)
        other._decoded = self._decoded
        other._changed = dict(self._changed)
        other._order = list(self._order) if self._order is not None else None
        return other
