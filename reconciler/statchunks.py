"""Every manifest file's stat, serialized in chunks: what a warm run compares and keeps.

At 100,000 files the stats are the one thing every run reads whole. Kept as one JSON
document, a 10-file change decoded 10 MB of it, built 122,000 lists and compared each
(about 0.15 s), then encoded and wrote it all again. Here each file's stat key (size,
mtime, inode) is serialized in C (`orjson`, `operator.attrgetter`) in chunks of `CHUNK`
files in listing order. The validation index hashes the chunks; the record keeps one row
per chunk, so a chunk whose bytes are the recorded ones holds no change, and only the
other chunks are decoded and compared file by file.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    Sequence,
    ValuesView,
)
from typing import Any, NamedTuple, Protocol

import orjson

CHUNK = 1024  # files per chunk: a 10-file change touches at most 10 of 120 at 122,000

StatKey = Sequence[int]  # (size, mtime_ns, inode): a list once decoded, a tuple when made
_KEY = operator.attrgetter("st_size", "st_mtime_ns", "st_ino")
_MTIME = operator.attrgetter("st_mtime_ns")


class FileStat(Protocol):
    """What a manifest file's stat is read for: an `os.stat_result`, or a `Stat`."""

    @property
    def st_size(self) -> int: ...

    @property
    def st_mtime_ns(self) -> int: ...

    @property
    def st_ino(self) -> int: ...

    @property
    def st_ctime_ns(self) -> int: ...


class Stat(NamedTuple):
    """A file's stat as a forked copy answers it (`loader.scan_manifest_files`): only
    what is read of it, made in C from the answer's tuples."""

    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_ctime_ns: int  # (the watch loop's key has it too)


def stat_key(stat: FileStat) -> list[int]:
    """What stands for a file's content while it is unchanged (git's stat check)."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


class Scanned(Mapping[str, "FileStat | None"]):
    """Files' stats as a scan took them (`loader.stat_files`), in listing order: this
    process's share as `os.stat_result`s, a forked copy's as the tuples it answered
    `(size, mtime_ns, inode, ctime_ns)`, with the chunks it serialized for them (by chunk
    index). A warm run that finds every chunk as recorded reads only the chunks (and
    `newest_mtime`): none of the copy's `Stat`s is made, nor the mapping by name, which
    a lookup makes when first asked for (122,000 entries: 0.1 s of a warm run)."""

    __slots__ = ("names", "serialized", "_here", "_copied", "_newest_copied", "_where",
                 "_held")

    def __init__(self, names: list[str], here: Sequence[FileStat | None],
                 copied: Sequence[tuple[int, int, int, int] | None] = (),
                 serialized: dict[int, bytes] | None = None, newest_copied: int = 0) -> None:
        assert len(here) + len(copied) == len(names)
        self.names, self.serialized = names, serialized or {}
        self._here, self._copied, self._newest_copied = here, copied, newest_copied
        self._where: dict[str, int] | None = None
        self._held: dict[str, FileStat | None] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._positions()

    def __getitem__(self, name: str) -> FileStat | None:
        if self._held is not None:
            return self._held[name]
        place, split = self._positions()[name], len(self._here)
        if place < split:
            return self._here[place]
        copied = self._copied[place - split]
        return None if copied is None else Stat._make(copied)

    def held(self) -> dict[str, FileStat | None]:
        """Every file's stat by name, made once (for a caller that reads them all)."""
        if self._held is None:
            held: dict[str, FileStat | None] = dict(zip(self.names[:len(self._here)], self._here,
                                                        strict=True))
            copied = self.names[len(self._here):]
            if None in self._copied:
                held.update(zip(copied, [None if key is None else Stat._make(key)
                                         for key in self._copied], strict=True))
            else:  # (the common case: `Stat`s made in C, bypassing their checks)
                made: Any = tuple.__new__
                held.update(zip(copied, map(made, itertools.repeat(Stat), self._copied),
                                strict=True))
            self._held = held
        return self._held

    def keys(self) -> KeysView[str]:
        return self.held().keys()

    def values(self) -> ValuesView[FileStat | None]:
        return self.held().values()

    def items(self) -> ItemsView[str, FileStat | None]:
        return self.held().items()

    @property
    def complete(self) -> bool:
        """Whether every file has a stat (none went away while listed)."""
        return None not in self._here and None not in self._copied

    def newest_mtime(self) -> int:
        """The latest modification time among the stats (0: none)."""
        here = [stat.st_mtime_ns for stat in self._here if stat is not None]
        return max(self._newest_copied, max(here, default=0))

    def keys_between(self, start: int, end: int) -> list[StatKey | None]:
        """The stat keys of `names[start:end]`, made from either share."""
        split = len(self._here)
        keys = _keys_of(self._here[start:min(end, split)]) if start < split else []
        if end > split:
            keys += [None if key is None else key[:3]
                     for key in self._copied[max(start, split) - split:end - split]]
        return keys

    def _positions(self) -> dict[str, int]:
        if self._where is None:
            self._where = dict(zip(self.names, range(len(self.names)), strict=True))
        return self._where


def serialize(names: Sequence[str], keys: Sequence[StatKey | None]) -> list[bytes]:
    """The chunks of `names` with their stat keys, `names` starting at a chunk's start:
    the JSON object `{name: [size, mtime, inode] | null}` of each `CHUNK` files."""
    return [orjson.dumps(dict(zip(names[start:start + CHUNK], keys[start:start + CHUNK],
                                  strict=True)))
            for start in range(0, len(names), CHUNK)]


class Listing:
    """Files (in listing order) with their stat keys (None: no stat that vouches for the
    content), and the chunks they serialize to. Read-only once made; made of stats, the
    keys are found when first asked for (a warm run that finds every chunk as recorded
    needs only the chunks)."""

    __slots__ = ("_keys", "_stats", "_chunks", "_names")

    def __init__(self, keys: dict[str, StatKey | None] | None = None, *,
                 stats: Mapping[str, FileStat | None] | None = None) -> None:
        assert (keys is None) != (stats is None)
        self._keys, self._stats = keys, stats
        self._chunks: list[bytes] | None = None
        self._names: list[str] | None = None

    @classmethod
    def of_stats(cls, stats: Mapping[str, FileStat | None]) -> Listing:
        return cls(stats=stats)

    @property
    def keys(self) -> dict[str, StatKey | None]:
        if self._keys is None:
            stats = self._stats
            assert stats is not None
            self._keys = dict(zip(self.names, stats.keys_between(0, len(stats))
                                  if isinstance(stats, Scanned) else _keys_of(stats.values()),
                                  strict=True))
        return self._keys

    @property
    def names(self) -> list[str]:
        if self._names is None:
            stats = self._stats
            self._names = list(self._keys if self._keys is not None else
                               stats.names if isinstance(stats, Scanned) else stats or ())
        return self._names

    def chunks(self) -> list[bytes]:
        """The JSON object `{name: [size, mtime, inode] | null}` of each `CHUNK` files
        (`serialize`); those a scan's copy serialized (`Scanned`) taken as they are."""
        if self._chunks is None:
            names, stats = self.names, self._stats
            if self._keys is not None or not isinstance(stats, Scanned):
                self._chunks = serialize(names, list(self.keys.values()))
            else:
                done = stats.serialized
                self._chunks = [
                    done.get(index) or serialize(names[start:start + CHUNK],
                                                 stats.keys_between(start, start + CHUNK))[0]
                    for index, start in enumerate(range(0, len(names), CHUNK))]
        return self._chunks

    def names_of(self, chunk: int) -> list[str]:
        return self.names[chunk * CHUNK:(chunk + 1) * CHUNK]

    def digest(self) -> str:
        """One hash of every file's name and stat key, in order."""
        digest = hashlib.blake2b(digest_size=16)
        for data in self.chunks():
            digest.update(data)
        return digest.hexdigest()


def _keys_of(stats: Iterable[FileStat | None]) -> list[StatKey | None]:
    found = list(stats)
    try:  # every file stat-ed (the common case): keys made in C
        return list(map(_KEY, found))
    except AttributeError:  # one went away while listed
        return [None if stat is None else _KEY(stat) for stat in found]


def newest_mtime(stats: Mapping[str, FileStat]) -> int:
    """The latest modification time among `stats` (0: none)."""
    if isinstance(stats, Scanned):
        return stats.newest_mtime()
    return max(map(_MTIME, stats.values()), default=0)


def chunk_name(index: int) -> str:
    return f"{index:06d}"


def checked(found: object) -> dict[str, list[int] | None]:
    """A decoded chunk's files and stat keys (raises ValueError when it is not one)."""
    if not isinstance(found, dict) or not all(
            value is None or (isinstance(value, list) and len(value) == 3
                              and all(isinstance(v, int) for v in value))
            for value in found.values()):
        raise ValueError("not a chunk of stat keys")
    return found


def same_key(recorded: StatKey | None, now: StatKey | None) -> bool:
    """Whether a file's stat key is the recorded one (None vouches for nothing)."""
    return recorded is not None and now is not None and list(recorded) == list(now)


class StatView(Mapping[str, list[int] | None]):
    """A record's stat keys by file, in listing order, given out as lists (the form every
    other stat key takes) though most are held as the tuples `Listing` made in C."""

    __slots__ = ("held",)

    def __init__(self, held: dict[str, StatKey | None]) -> None:
        self.held = held

    def __getitem__(self, name: str) -> list[int] | None:
        value = self.held[name]
        return None if value is None else list(value)

    def __contains__(self, name: object) -> bool:
        return name in self.held

    def __iter__(self) -> Iterator[str]:
        return iter(self.held)

    def __len__(self) -> int:
        return len(self.held)


class Chunked:
    """Stat keys as chunks already serialized, with each chunk's MAC: what a record's
    stats were when compared with a listing (or saved). Saving again re-serializes only
    the chunks of the files set since (`touched`), not 120 chunks for a 10-file change."""

    __slots__ = ("names", "chunks", "macs")

    def __init__(self, names: list[str], chunks: list[bytes], macs: list[bytes]) -> None:
        self.names, self.chunks, self.macs = names, chunks, macs

    def refreshed(self, held: Mapping[str, StatKey | None], touched: set[str],
                  mac: Callable[[int, bytes], bytes]) -> Chunked | None:
        """The chunks of `held` (the same files in the same order, some keys set anew:
        `touched`), `mac(index, data)` giving a re-serialized chunk's MAC; None when
        `held` lists other files (then serialize it whole)."""
        if len(held) != len(self.names):
            return None
        try:
            if len(touched) <= 32:  # (a few scans of the names cost less than indexing them)
                places = {name: self.names.index(name) for name in touched}
            else:
                where = {name: index for index, name in enumerate(self.names)}
                places = {name: where[name] for name in touched}
        except (ValueError, KeyError):  # a file the chunks do not list
            return None
        chunks, macs = list(self.chunks), list(self.macs)
        for index in sorted({place // CHUNK for place in places.values()}):
            names = self.names[index * CHUNK:(index + 1) * CHUNK]
            if not all(name in held for name in names):
                return None
            chunks[index] = orjson.dumps({name: held[name] for name in names})
            macs[index] = mac(index, chunks[index])
        return Chunked(self.names, chunks, macs)
