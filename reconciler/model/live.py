"""The live state as a store hands it out: what every layer above `store/` sees.

It knows nothing of how a store keeps the registries. A store may keep its own bookkeeping
(a file store: each file's digest and stat) in `private`, which nothing else reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import Diagnostic
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, ResourceKey


def _nowhere(key: ResourceKey) -> str:
    return str(key)


@dataclass(slots=True)
class LiveState:
    """The live registries: entries by kind and name, each registry's header (`version`,
    `_comment`, ...), entries the store could not key (kept so a later write puts them back),
    what the store found wrong, and an opaque revision token.

    Treated as immutable once built: a newer state shares what did not change."""

    state: MeshState = field(default_factory=MeshState)
    headers: dict[Kind, dict[str, Any]] = field(default_factory=dict)
    unkeyed: dict[str, list[Any]] = field(default_factory=dict)  # by where they were found
    diagnostics: list[Diagnostic] = field(default_factory=list)
    fingerprint: str = ""  # the revision token: equal tokens, equal contents
    place: Callable[[ResourceKey], str] = _nowhere  # where a new entry of a key would go
    private: Any = None  # the store's own bookkeeping; nothing outside `store/` reads it

    def kinds_kept(self) -> frozenset[Kind]:
        """The kinds whose registry is there (its file read, or entries held), even empty."""
        return frozenset(self.headers) | frozenset(
            kind for kind, by_name in self.state.resources.items() if by_name)

    def source_of(self, key: ResourceKey) -> str:
        """Where `key` is or would be kept, for messages (a file path, a row, ...)."""
        resource = self.state.get(key)
        if resource is not None and resource.source is not None:
            return resource.source.file
        return self.place(key)
