"""A dict whose copies share what did not change (issue 26: a write costs its change).

A snapshot of 100,000 agents is copied by every write (the state the write leaves) and by
every revision a follower applies; copying a dict of 100,000 entries each time made a write
grow with the mesh. `CowMap` keeps a shared base, which no copy ever resizes, under a small
overlay of the changes made since it was laid down: a copy copies only the overlay. Once
the overlay grows past a share of the base, a copy lays down a new base (so copying stays
cheap, and the work of laying it is spread over that many changes).

It behaves as a dict: the same order (a changed key keeps its place, a new one goes last,
one removed and added again goes last), the same contents, `len` in constant time. A
subclass may keep raw values in the base (bytes not decoded yet, say) and turn them into
values when first asked for (`_resolve`); laying a new base keeps them raw.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, MutableMapping
from itertools import chain
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_GONE: Any = object()  # in the overlay: removed from the base
_MISSING: Any = object()
# An overlay may hold this many changes, or 1/32 of the base, before a copy lays a new base.
MIN_OVERLAY = 64


class CowMap(MutableMapping[K, V], Generic[K, V]):
    """A mapping with a copy-on-write `copy` (see the module's docstring)."""

    __slots__ = ("_base", "_over", "_added", "_removed")

    def __init__(self, base: dict[K, Any] | None = None) -> None:
        """`base`: the raw values by key, in order; the map owns it from now on."""
        self._base: dict[K, Any] = {} if base is None else base
        self._over: dict[K, Any] = {}  # base keys changed (their value) or removed (_GONE)
        self._added: dict[K, V] = {}  # keys not in the base (or removed, then added again)
        self._removed = 0  # base keys removed (so adding a key is one dict assignment)

    def _resolve(self, key: K, raw: Any) -> V:
        """The value of a base entry; a subclass decodes raw values here (and may write the
        value back into the base: the same value, so sharing copies never see a change).
        A value it gave must resolve to itself: a new base holds values and raw ones."""
        value: V = raw
        return value

    def _empty(self) -> CowMap[K, V]:
        """A new empty map of the same kind, for `copy` (a subclass carries its own fields)."""
        return type(self)()

    def __getitem__(self, key: K) -> V:
        found = self._added.get(key, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[no-any-return]
        found = self._over.get(key, _MISSING)
        if found is _GONE:
            raise KeyError(key)
        if found is not _MISSING:
            return found  # type: ignore[no-any-return]
        return self._resolve(key, self._base[key])

    def get(self, key: K, default: Any = None) -> Any:
        """`self[key]`, or `default` (without raising: the library's reads go through it)."""
        found = self._added.get(key, _MISSING)
        if found is not _MISSING:
            return found
        found = self._over.get(key, _MISSING)
        if found is not _MISSING:
            return default if found is _GONE else found
        raw = self._base.get(key, _MISSING)
        return default if raw is _MISSING else self._resolve(key, raw)

    def __contains__(self, key: object) -> bool:
        if key in self._added:
            return True
        found = self._over.get(key, _MISSING)  # type: ignore[arg-type]
        if found is not _MISSING:
            return found is not _GONE
        return key in self._base

    def __iter__(self) -> Iterator[K]:
        over = self._over
        if not over:
            return chain(self._base, self._added)
        return chain((key for key in self._base if over.get(key, _MISSING) is not _GONE),
                     self._added)

    def __len__(self) -> int:
        return len(self._base) - self._removed + len(self._added)

    def __setitem__(self, key: K, value: V) -> None:
        if key in self._added:
            self._added[key] = value
            return
        found = self._over.get(key, _MISSING)
        if found is not _GONE and (found is not _MISSING or key in self._base):
            self._over[key] = value  # keeps its place
            return
        self._added[key] = value  # new, or removed and added again: last, as a dict puts it

    def __delitem__(self, key: K) -> None:
        if key in self._added:
            del self._added[key]  # a base key added again is already _GONE in the overlay
        elif key in self:
            self._over[key] = _GONE
            self._removed += 1
        else:
            raise KeyError(key)

    def fetch(self, keys: Iterable[K]) -> None:
        """A hint that `keys` are about to be read, for a subclass that reads its raw values
        from elsewhere to read them in one go; nothing to do here."""

    def raw_items(self) -> Iterator[tuple[K, Any]]:
        """Every entry in order, base entries as they are kept (not resolved)."""
        over = self._over
        for key, raw in self._base.items():
            found = over.get(key, _MISSING) if over else _MISSING
            if found is not _GONE:
                yield key, raw if found is _MISSING else found
        yield from self._added.items()

    def copy(self) -> CowMap[K, V]:
        """Another map of the same entries, changed apart: the base shared, the overlay
        copied, or a new base laid when the overlay has grown past its share."""
        other = self._empty()
        if len(self._over) + len(self._added) > max(MIN_OVERLAY, len(self._base) // 32):
            other._base = dict(self.raw_items())
        else:
            other._base = self._base
            other._over = dict(self._over)
            other._added = dict(self._added)
            other._removed = self._removed
        return other

    def reordered(self, keys: Iterable[K]) -> CowMap[K, V]:
        """A copy whose entries come in the order of `keys` (each key held, once)."""
        raw = dict(self.raw_items())
        other = self._empty()
        other._base = {key: raw[key] for key in keys}
        return other
