"""A content-addressed cache of per-file results under `<manifests>/.meshctl-cache/`.

Used by the engine so a warm `meshctl validate` parses only the files that changed. Entries
are keyed by the file's path and checked against the SHA-256 of its bytes, so an edit, a
checkout or a copy can never serve stale data. Like git's index, an entry also records the
file's size, mtime and inode, so a file that has not been touched is not even read.

The cache is plain JSON, never pickle, and it is trusted only on the machine that wrote it:
its salt is keyed with a random secret kept outside the repository (`machine_key`). A cache
committed by a hostile pull request can therefore neither run code nor pass off invalid
manifests as checked in CI. Sharded so a small change rewrites a few small files; safe to
delete at any time. Beside it: the sync record (files proved in sync with a store) and the
validation index (what validating the whole set of files found).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
from pathlib import Path
from typing import Any

import orjson

from reconciler.fsutil import write_atomically

CACHE_DIR = ".meshctl-cache"
FORMAT = 1
SHARDS = 256
RACY_NS = 2_000_000_000  # files modified this recently are always re-read and hashed


class ParseCache:
    def __init__(self, root: Path, *, salt: str) -> None:
        """`salt` names what produced the results (meshctl's version): another salt, no hits."""
        self.folder = root / CACHE_DIR / f"v{FORMAT}"
        self.salt = salt
        self._shards: dict[int, dict[str, Any]] = {}
        self._dirty: set[int] = set()

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def knows(self, key: str) -> bool:
        """Is there an entry for this file at all (whatever its content was)?"""
        return key in self._shard(key)

    def get(self, key: str, digest: str) -> Any | None:
        entry = self._shard(key).get(key)
        if isinstance(entry, dict) and entry.get("digest") == digest:
            return entry.get("result")
        return None

    def digest_of(self, key: str) -> str | None:
        """The content digest recorded for a file (of the content its result is for)."""
        entry = self._shard(key).get(key)
        digest = entry.get("digest") if isinstance(entry, dict) else None
        return digest if isinstance(digest, str) else None

    def get_unchanged(self, key: str, stat: os.stat_result) -> Any | None:
        """The result for a file whose size, mtime and inode match what was recorded, without
        reading it (git's index does the same). Stats are recorded only for files last
        modified well before the cache was written (see `put`), so an edit within the same
        clock tick as a cache write cannot be mistaken for no edit."""
        entry = self._shard(key).get(key)
        if isinstance(entry, dict) and entry.get("stat") == stat_key(stat):
            return entry.get("result")
        return None

    def put(self, key: str, digest: str, result: Any, stat: os.stat_result | None = None) -> None:
        entry: dict[str, Any] = {"digest": digest, "result": result}
        if stat is not None and _settled(stat):
            entry["stat"] = stat_key(stat)
        self._shard(key)[key] = entry
        self._dirty.add(_shard_number(key))

    def remember_stat(self, key: str, stat: os.stat_result) -> None:
        """Record the stat of a file whose content matched (after a checkout or a touch), so
        the next run can skip reading it."""
        entry = self._shard(key).get(key)
        if (isinstance(entry, dict) and entry.get("stat") != stat_key(stat)
                and _settled(stat)):
            entry["stat"] = stat_key(stat)
            self._dirty.add(_shard_number(key))

    def forget_missing(self, keep: set[str]) -> None:
        """Drop entries for files no longer present (call only after reading a whole root)."""
        for number in range(SHARDS):
            shard = self._load(number)
            stale = [key for key in shard if key not in keep]
            for key in stale:
                del shard[key]
            if stale:
                self._dirty.add(number)

    def save(self) -> None:
        """Write the changed shards; a cache that cannot be written is simply not kept."""
        if not self._dirty:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ignore = self.folder.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n")
            for number in sorted(self._dirty):
                body = {"format": FORMAT, "salt": self.salt, "entries": self._shards[number]}
                write_atomically(self._path(number), orjson.dumps(body))
        except OSError:
            return
        self._dirty.clear()

    def _shard(self, key: str) -> dict[str, Any]:
        return self._load(_shard_number(key))

    def _load(self, number: int) -> dict[str, Any]:
        shard = self._shards.get(number)
        if shard is None:
            shard = {}
            try:
                body = orjson.loads(self._path(number).read_bytes())
                if (body.get("format") == FORMAT and body.get("salt") == self.salt
                        and isinstance(body.get("entries"), dict)):
                    shard = body["entries"]
            except (OSError, orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
                shard = {}
            self._shards[number] = shard
        return shard

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:02x}.json"


class SyncRecord:
    """What the last plan (or apply) of these manifests against one registries directory
    proved: with the live registries at `fingerprint`, each listed file, while its stat is
    unchanged, declares exactly these resources, each a noop against its live entry, and
    yields these per-file diagnostics. Argo CD caches a comparison the same way.

    A plan whose live registries still have that fingerprint takes those files' resources
    from the live entries it has just read, without reading the files, their parse-cache
    entries, or comparing them (`engine`). Anything else (another fingerprint, another salt,
    a touched file) is simply not served from here. Stored beside the parse cache, with the
    same salt and so the same trust: one file per registries directory.
    """

    def __init__(self, root: Path, *, salt: str, store_id: str) -> None:
        self.store_id = store_id  # `store.identity`: one record per store, however named
        name = hashlib.blake2b(self.store_id.encode(), digest_size=8).hexdigest()
        self.path = root / CACHE_DIR / f"v{FORMAT}" / f"sync-{name}.json"
        self.salt = salt
        self.fingerprint: str | None = None
        self._files: dict[str, Any] = {}
        with contextlib.suppress(OSError, orjson.JSONDecodeError, AttributeError):
            body = orjson.loads(self.path.read_bytes())  # absent or damaged: no record
            if (body.get("format") == FORMAT and body.get("salt") == salt
                    and body.get("store") == self.store_id
                    and isinstance(body.get("files"), dict)
                    and isinstance(body.get("fingerprint"), str)):
                self.fingerprint, self._files = body["fingerprint"], body["files"]

    def in_sync(self, key: str, stat: os.stat_result, fingerprint: str | None) -> Any | None:
        """The recorded {"resources", "diagnostics"} of a file proved in sync at
        `fingerprint` whose stat has not changed since, else None."""
        if fingerprint is None or fingerprint != self.fingerprint:
            return None
        entry = self._files.get(key)
        if isinstance(entry, dict) and entry.get("stat") == stat_key(stat):
            return entry
        return None

    def save(self, fingerprint: str, files: dict[str, tuple[os.stat_result, Any, Any]],
             kept: set[str]) -> None:
        """Record `files` (key -> (stat, resources, diagnostics), all noops) and the `kept`
        files served from this record as in sync at `fingerprint`, replacing what was
        recorded. A file modified within the racy window is left out (its stat cannot stand
        for its content). Nothing is written when nothing would change. Best effort."""
        recorded = {key: {"stat": stat_key(stat), "resources": resources,
                          "diagnostics": diagnostics}
                    for key, (stat, resources, diagnostics) in files.items() if _settled(stat)}
        if (fingerprint == self.fingerprint and not recorded
                and kept == set(self._files)):
            return
        recorded.update((key, self._files[key]) for key in kept if key in self._files)
        self.fingerprint, self._files = fingerprint, recorded
        body = {"format": FORMAT, "salt": self.salt, "store": self.store_id,
                "fingerprint": fingerprint, "files": recorded}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.path.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n")
            write_atomically(self.path, orjson.dumps(body))


class ValidationIndex:
    """What the last validation of a set of manifest files found: their diagnostics and
    the resources they declare, valid while the same files have the same stats.

    `meshctl validate` with nothing changed then costs a listing and a stat of every file
    (the floor) instead of decoding every cached result and running every mesh-wide rule
    again. The files' names and stats are kept as one digest; any file added, removed or
    touched, another `key` (the manifest paths and options), another salt (meshctl's code,
    this machine), or a file modified within the racy window, and `lookup` does not answer.
    Bulky parts (the list of resources, the per-file record `revalidate` works from) are
    kept beside it, each named by its digest in the body. The body is authenticated with
    the machine key: a damaged or edited index is ignored and rewritten, never believed."""

    def __init__(self, root: Path, *, salt: str, key: str) -> None:
        name = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        self.path = root / CACHE_DIR / f"v{FORMAT}" / f"validated-{name}.json"
        self.salt, self.key = salt, key

    def _extra_path(self, part: str) -> Path:
        return self.path.with_suffix(f".{part}")

    def forget(self) -> None:
        """Drop the index (found damaged): the next full validation writes it again."""
        for path in self.path.parent.glob(f"{self.path.stem}.*"):
            with contextlib.suppress(OSError):
                path.unlink()

    def extra(self, part: str, digest: str) -> bytes | None:
        """A bulky part saved with the result, if it is the one whose digest the result
        recorded; None when it is gone or not that one."""
        try:
            data = self._extra_path(part).read_bytes()
        except OSError:
            return None
        return data if _digest(data) == digest else None

    def latest(self) -> tuple[str | None, Any] | None:
        """The files digest and the result last saved, whatever the files are now (for
        `revalidate`, which compares file by file); None when there is none, or it is not
        this key's, salt's and machine's, unaltered."""
        secret = machine_key()
        try:
            raw = self.path.read_bytes()
        except OSError:
            return None
        mac, _, body = raw.partition(b"\n")
        if secret is None or not hmac.compare_digest(mac, _mac(body, secret)):
            return None
        try:
            found = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not (isinstance(found, dict) and found.get("format") == FORMAT
                and found.get("salt") == self.salt and found.get("key") == self.key):
            return None
        files = found.get("files")
        return (files if isinstance(files, str) else None), found.get("result")

    def lookup(self, stats: dict[str, os.stat_result]) -> Any | None:
        """The recorded result when `stats` (every file, as listed) match it, else None."""
        latest = self.latest()
        if latest is None or latest[0] is None or latest[0] != files_digest(stats):
            return None
        return latest[1]

    def save(self, stats: dict[str, os.stat_result], result: Any,
             extras: dict[str, bytes] | None = None) -> None:
        """Record `result` for files with these `stats` (taken before they were read), and
        the `extras` parts beside it (the result names each by `extra_digest`). When a file
        was modified within the racy window its stat cannot stand for it: then `lookup`
        will not answer (the result stays, for `revalidate`, which re-reads such files)."""
        secret = machine_key()
        if secret is None:
            return
        settled = all(_settled(stat) for stat in stats.values())
        body = orjson.dumps({"format": FORMAT, "salt": self.salt, "key": self.key,
                             "files": files_digest(stats) if settled else None,
                             "result": result})
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ignore = self.path.parent.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n")
            for part, data in (extras or {}).items():
                write_atomically(self._extra_path(part), data)
            write_atomically(self.path, _mac(body, secret) + b"\n" + body)


def settled(stat: os.stat_result) -> bool:
    """Whether a file's stat may stand for its content (see `_settled`)."""
    return _settled(stat)


def extra_digest(data: bytes) -> str:
    """What a result records to name a bulky part saved with it."""
    return _digest(data)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def files_digest(stats: dict[str, os.stat_result]) -> str:
    """One hash of every file's name and stat (size, mtime, inode), in order."""
    listed = [(name, stat.st_size, stat.st_mtime_ns, stat.st_ino)
              for name, stat in stats.items()]
    return hashlib.blake2b(orjson.dumps(listed), digest_size=16).hexdigest()


def _mac(body: bytes, secret: bytes) -> bytes:
    return hashlib.blake2b(body, key=secret[:64], digest_size=16).hexdigest().encode()


def machine_key() -> bytes | None:
    """A random secret for this user on this machine (created on first use, mode 0600), or
    None when it cannot be kept; then nothing is cached. `MESHCTL_CACHE_KEY_FILE` moves it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(os.environ.get("MESHCTL_CACHE_KEY_FILE") or os.path.join(base, "meshctl", "key"))
    with contextlib.suppress(OSError):  # absent or unreadable: make a new one
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(os.urandom(32))
        return path.read_bytes()
    except OSError:
        return None


def keyed_salt(code_fingerprint: str) -> str | None:
    """The salt for results of this code on this machine; None when no key can be kept."""
    key = machine_key()
    if key is None:
        return None
    return hashlib.blake2b(code_fingerprint.encode(), key=key[:64], digest_size=16).hexdigest()


def _settled(stat: os.stat_result) -> bool:
    """Modified long enough ago that an edit in the same clock tick as this write is ruled
    out (git's "racy clean" rule): only then may the stat stand in for the content."""
    return stat.st_mtime_ns < time.time_ns() - RACY_NS


def stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _shard_number(key: str) -> int:
    return hashlib.blake2b(key.encode(), digest_size=1).digest()[0] % SHARDS
