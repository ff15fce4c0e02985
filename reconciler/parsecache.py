"""A content-addressed cache of per-file results under `<manifests>/.meshctl-cache/`.

Used by the engine so a warm `meshctl validate` parses only the files that changed. Entries
are keyed by the file's path and checked against the SHA-256 of its bytes, so an edit, a
checkout or a copy can never serve stale data. The cache is plain JSON (never pickle: a cache
committed by a hostile pull request must not run code in CI), sharded so a small change
rewrites a few small files, and safe to delete at any time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

CACHE_DIR = ".meshctl-cache"
FORMAT = 1
SHARDS = 256


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

    def get(self, key: str, digest: str) -> Any | None:
        entry = self._shard(key).get(key)
        if isinstance(entry, dict) and entry.get("digest") == digest:
            return entry.get("result")
        return None

    def put(self, key: str, digest: str, result: Any) -> None:
        number = _shard_number(key)
        self._shard(key)[key] = {"digest": digest, "result": result}
        self._dirty.add(number)

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
                _write_atomically(self._path(number), orjson.dumps(body))
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


def _shard_number(key: str) -> int:
    return hashlib.blake2b(key.encode(), digest_size=1).digest()[0] % SHARDS


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
