"""The layouts of a snapshot's list registries, found when first needed (issue 26).

A read of registries no meshctl process has laid out decodes each file whole with orjson
(the fastest way to its entries) and leaves finding where each entry is to the first user
of the layout: a write splicing the file, a reload comparing an edit with the kept bytes,
or the store saving the layouts for the next process. Finding a layout proves every span by
decoding it, as much work as the read itself: a first `load_all()` no longer pays it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Iterator, MutableMapping

from reconciler.store.jsonspans import ListLayout, lay_out_list_registry, lay_out_policy_map

WAIT_FOR_FINDER = 10.0  # seconds: longer than finding any layout takes


class PendingLayout:
    """The layout of some bytes, found when first asked for (then kept); None when they
    are not laid out one entry per block. A thread asking while another finds it waits
    for that (a write right after a cold load, while the saver thread works), except in
    a process forked meanwhile: there nobody will ever release the lock, so it finds the
    layout itself."""

    __slots__ = ("_find", "_found", "_done", "_lock", "_finder")

    def __init__(self, find: Callable[[], ListLayout | None]) -> None:
        self._find: Callable[[], ListLayout | None] | None = find
        self._found: ListLayout | None = None
        self._done = False
        self._lock = threading.Lock()
        self._finder: int | None = None  # the pid of the process finding it, meanwhile

    @classmethod
    def of_list(cls, data: bytes, list_key: str, id_field: str) -> PendingLayout:
        """A list registry's layout (`jsonspans.lay_out_list_registry`), to be found."""
        return cls(lambda: lay_out_list_registry(data, list_key, id_field))

    @classmethod
    def of_map(cls, data: bytes, map_key: str) -> PendingLayout:
        """A policy map's layout (`jsonspans.lay_out_policy_map`), to be found."""
        return cls(lambda: lay_out_policy_map(data, map_key))

    @property
    def done(self) -> bool:
        return self._done

    def resolve(self) -> ListLayout | None:
        if self._done:
            return self._found
        if self._finder not in (None, os.getpid()) or \
                not self._lock.acquire(timeout=WAIT_FOR_FINDER):
            return self._find_now()  # (a lock a forked process inherited, held)
        try:
            self._finder = os.getpid()
            return self._find_now()
        finally:
            self._finder = None
            self._lock.release()

    def _find_now(self) -> ListLayout | None:
        find = self._find
        if not self._done and find is not None:
            # in this order: whoever then sees `_find` gone sees `_found` set
            self._found, self._done, self._find = find(), True, None  # the bytes let go
        return self._found


class Layouts(MutableMapping[str, ListLayout]):
    """`relative -> ListLayout` of a snapshot's files, some still to be found: reading a
    pending one (or iterating) finds it; `peek`, `carry` and `without` never do."""

    __slots__ = ("_found", "_pending")

    def __init__(self, found: dict[str, ListLayout] | None = None,
                 pending: dict[str, PendingLayout] | None = None) -> None:
        self._found: dict[str, ListLayout] = {} if found is None else found
        self._pending: dict[str, PendingLayout] = {} if pending is None else pending

    def defer(self, relative: str, pending: PendingLayout) -> None:
        """Hold `relative`'s layout as one to be found when first asked for."""
        self._found.pop(relative, None)
        self._pending[relative] = pending

    def peek(self, relative: str) -> ListLayout | None:
        """The layout when known already (found, or pending and found since)."""
        found = self._found.get(relative)
        if found is not None:
            return found
        pending = self._pending.get(relative)
        return pending.resolve() if pending is not None and pending.done else None

    def pending(self) -> list[str]:
        """The files whose layout is still to be found."""
        return [relative for relative, item in self._pending.items() if not item.done]

    def carry(self, other: Layouts, relative: str) -> None:
        """Take `other`'s layout of `relative`, found or not (the same bytes)."""
        if relative in other._found:
            self[relative] = other._found[relative]
        elif relative in other._pending:
            self.defer(relative, other._pending[relative])

    def without(self, names: Collection[str]) -> Layouts:
        """A copy without the layouts of `names` (files rewritten since), none found."""
        return Layouts({k: v for k, v in self._found.items() if k not in names},
                       {k: v for k, v in self._pending.items() if k not in names})

    def __getitem__(self, relative: str) -> ListLayout:
        found = self._found.get(relative)
        if found is None:
            pending = self._pending.get(relative)
            found = pending.resolve() if pending is not None else None
        if found is None:
            raise KeyError(relative)
        return found

    def __contains__(self, relative: object) -> bool:
        return isinstance(relative, str) and self.get(relative) is not None

    def __setitem__(self, relative: str, layout: ListLayout) -> None:
        self._pending.pop(relative, None)
        self._found[relative] = layout

    def __delitem__(self, relative: str) -> None:
        if relative not in self._found and relative not in self._pending:
            raise KeyError(relative)
        self._found.pop(relative, None)
        self._pending.pop(relative, None)

    def __iter__(self) -> Iterator[str]:
        return iter([relative for relative in [*self._found, *self._pending]
                     if relative in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)
