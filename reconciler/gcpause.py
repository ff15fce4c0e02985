"""Pausing Python's cyclic garbage collector while a large state is built.

Used by the engine and the registry reader. A load allocates millions of objects and frees
no cycles; with the collector running, a third of the time went to rescanning them. After
the load, `gc.freeze()` moves what was built out of the collector's sight, so the first
collection afterwards does not rescan it all either (reference counting still frees it).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
