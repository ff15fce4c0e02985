"""The entries of one kind in a PostgreSQL snapshot, decoded or fetched when first asked for.

A snapshot of 100,000 agents is 156 MB of JSON in the database and over a gigabyte once
decoded; a plan of ten agents needs ten of them, a runtime the few it serves. `Rows` maps
each name to its `Resource` as the dict a full read builds would (same order, same
entries), holding per name one of:

* the `Resource`, once decoded;
* the entry's JSON text as bytes (`snapshot(lazy=True)`: a long-lived reader holds every
  entry, decoding each when first asked for, so it never needs the database to serve one);
* `UNREAD` (`snapshot(lazy=True, unread=True)`: a short-lived reader such as a plan holds
  the names alone; the entries are fetched when first asked for, by `fetch` for many at
  once, as they were at the snapshot's revision, however far the store has moved on).

It is a `CowMap`: the state a write or a revision leaves is a copy that shares everything
unchanged, so neither costs the size of the mesh.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from reconciler.errors import StoreError
from reconciler.model.cowmap import CowMap
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey, Source

UNREAD: Any = object()  # a base value: the entry is in the database, not fetched yet


class Fetcher(Protocol):
    def fetch(self, kind: Kind, names: list[str]) -> dict[str, bytes]:
        """The JSON text of each entry `names` as of the snapshot's revision."""


class Rows(CowMap[str, Resource]):
    """`name -> Resource` of one kind of a PostgreSQL snapshot (see the module's docstring).
    `location`: the store's, for each entry's `Source`; `fetcher`: where `UNREAD` entries
    come from (None: the snapshot holds them all)."""

    __slots__ = ("kind", "location", "fetcher")

    def __init__(self, kind: Kind, location: str, fetcher: Fetcher | None = None,
                 base: dict[str, Any] | None = None) -> None:
        super().__init__(base)
        self.kind, self.location, self.fetcher = kind, location, fetcher

    def _empty(self) -> Rows:
        return Rows(self.kind, self.location, self.fetcher)

    def source(self, name: str) -> Source:
        return Source(f"{self.location}#{self.kind.value}/{name}")

    def _resolve(self, name: str, raw: Any) -> Resource:
        if isinstance(raw, Resource):
            return raw
        if raw is UNREAD:
            self.fetch([name])
            raw = self._base[name]
            if isinstance(raw, Resource):
                return raw
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError as error:  # the database holds what orjson wrote
            raise StoreError(f"{self.location}: {self.kind.value} '{name}' cannot be "
                             f"decoded ({error})") from error
        found = self._base[name] = Resource(ResourceKey(self.kind, name), entry,
                                            self.source(name))
        return found

    def fetch(self, names: Iterable[str]) -> None:
        """Fetch the entries of `names` still unread, in one query (a plan about to read
        them); names the map does not hold are left alone."""
        base, changed, added = self._base, self._over, self._added
        wanted = [name for name in dict.fromkeys(names) if base.get(name) is UNREAD
                  and name not in changed and name not in added]
        if not wanted:
            return
        assert self.fetcher is not None, "an unread entry needs a fetcher"
        found = self.fetcher.fetch(self.kind, wanted)
        missing = [name for name in wanted if name not in found]
        if missing:
            raise StoreError(f"{self.location}: {self.kind.value} '{missing[0]}' was in the "
                             "snapshot but cannot be found at its revision; read it again")
        for name in wanted:
            if base[name] is UNREAD:
                base[name] = found[name]

    def unread(self) -> int:
        """How many entries are still in the database only (for tests and measurements)."""
        return sum(1 for _, raw in self.raw_items() if raw is UNREAD)

    def undecoded(self) -> int:
        """How many entries are not decoded yet, held or unread (likewise)."""
        return sum(1 for _, raw in self.raw_items() if not isinstance(raw, Resource))
