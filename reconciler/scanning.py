"""Which manifest files there are, and their stats: the first thing every warm run needs.

At 100,000 files, listing and stat-ing them is the floor of a warm `validate`, `plan` or
`apply`, and it needs nothing of meshctl but this module and the ones below it. So
`meshctl validate` begins the scan before it imports the engine (0.1 s): the stats'
forked copy works on the other core meanwhile, and loading takes the scan up when it
gets there (`Scan.serves`). A plan does not: its process is the longer of the two
already (it opens the record, reads the live state and imports the rules beside the
copy), so importing the engine there too gained nothing when measured.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import orjson

from reconciler.manifests import layers, loader
from reconciler.parsecache import ValidationIndex, keyed_salt
from reconciler.statchunks import FileStat, Scanned

# The share of the stats this process takes itself beside the forked copy, when it has
# nothing else to do meanwhile: a little more than half (the copy also serializes its
# share's chunks of stat keys).
HERE_ALONE = 0.6
# ... when it also opens the validation record and reads the live state (a plan): 35%.
# Those take its second thread to about half the copy's time, and the rules' import its
# main thread to a third; at 15% it then waited 0.3 s for the copy (100,000 agents,
# measured: a plan 0.1 s faster at 30-40% than at 15% or 50%).
HERE_WITH_RECORD = 0.35

LISTINGS_PART = "listings"


class Scan:
    """Manifest files listed and their stats begun (`begin`); `stats()` finishes them."""

    __slots__ = ("_finish", "_stats", "in_copy", "index", "key")

    def __init__(self, key: tuple[tuple[str, ...], int], index: ValidationIndex | None,
                 finish: Callable[[], Scanned], in_copy: bool) -> None:
        self.key, self.index, self.in_copy = key, index, in_copy
        self._finish: Callable[[], Scanned] | None = finish
        self._stats: Mapping[str, FileStat] | None = None

    def serves(self, paths: Sequence[str | os.PathLike[str]], max_bytes: int) -> bool:
        """Whether this is the scan of `paths` read with `max_bytes` (whose index it is)."""
        return self.key == _key_of(paths, max_bytes)

    def stats(self) -> Mapping[str, FileStat] | None:
        """Every file (in the order loading lists them) with its stat; None when one
        could not be stat-ed (it went away: loading reports it). Waits for the copy."""
        if self._finish is not None:
            found, self._finish = self._finish(), None
            if found.complete:
                self._stats = cast("Mapping[str, FileStat]", found)
        return self._stats


def begin(paths: Sequence[str | os.PathLike[str]], max_bytes: int, *,
          index: ValidationIndex | None = None, here: float = HERE_ALONE) -> Scan:
    """List the manifest files of `paths` and begin their stats: of a large listing, all
    but the share `here` in a forked copy (`loader.stat_files`), which this process
    takes when it finishes (`Scan.stats`). `index`: where the folders' listings are kept
    from run to run (`listed`); by default the one of these paths, if any."""
    if index is None:
        index = index_for(paths, max_bytes)
    stack = layers.layered(paths)
    groups = [[stack[0]], *([layer] for layer in stack.overlays)] if stack else [list(paths)]
    names = list(dict.fromkeys(listed(groups, index)))
    in_copy = loader.stats_fork(len(names))
    return Scan(_key_of(paths, max_bytes), index, loader.stat_files(names, here=here), in_copy)


def _key_of(paths: Sequence[str | os.PathLike[str]], max_bytes: int) -> tuple[tuple[str, ...], int]:
    return tuple(os.fspath(path) for path in paths), max_bytes


def index_for(paths: Sequence[str | os.PathLike[str]], max_bytes: int
              ) -> ValidationIndex | None:
    """The index of validating exactly these paths (an environment's layers included)."""
    roots = [Path(p) for p in paths]
    salt = keyed_salt(code_fingerprint())
    if salt is None or not roots or not all(root.is_dir() for root in roots):
        return None
    key = orjson.dumps({"paths": [os.path.abspath(p) for p in roots],
                        "layered": layers.layered(paths) is not None,
                        "max_bytes": max_bytes}).decode()
    return ValidationIndex(roots[0], salt=salt, key=key)


def listed(groups: Sequence[Sequence[str | os.PathLike[str]]],
           index: ValidationIndex | None) -> list[str]:
    """The manifest files of each group of paths, in order. With an `index`, a folder
    whose stat is as when the last run listed it is not listed again: its listing is
    the one kept beside the index (signed, `ValidationIndex.signed`); at 100,000 files,
    listing and sorting the agents' folder is 0.2 s of a warm run. Kept again when a
    folder was listed anew."""
    known = _known_listings(index.signed(LISTINGS_PART)) if index is not None else {}
    taken: dict[str, loader.FolderListing] | None = {} if index is not None else None
    names = [name for group in groups
             for name in loader.list_manifest_files(group, known=known, taken=taken)]
    if index is not None and taken is not None and taken != known:
        index.sign(LISTINGS_PART, {folder: [list(listing.key), listing.files, listing.folders]
                                   for folder, listing in taken.items()})
    return names


def _known_listings(found: Any) -> dict[str, loader.FolderListing]:
    """The listings `listed` kept, if of the shape it keeps them in (else none)."""
    if not isinstance(found, dict):
        return {}
    known: dict[str, loader.FolderListing] = {}
    for folder, value in found.items():
        if not (isinstance(value, list) and len(value) == 3
                and all(isinstance(part, list) for part in value)):
            return {}
        known[folder] = loader.FolderListing(tuple(value[0]), value[1], value[2])
    return known


_fingerprint: str | None = None


def code_fingerprint() -> str:
    """A hash of meshctl's own source: cached results are only reused by the same code."""
    global _fingerprint
    if _fingerprint is None:
        digest = hashlib.sha256()
        package = Path(__file__).parent
        for source in sorted(package.rglob("*.py")):
            digest.update(source.read_bytes())
        _fingerprint = digest.hexdigest()[:16]
    return _fingerprint
