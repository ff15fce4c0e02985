"""A registry file's bytes as a short-lived snapshot read them, kept as an open file
rather than in memory (issue 26).

A plan of ten agents needs ten entries of a 280 MB agent registry. Holding the file open
costs nothing, and `os.pread` fetches an entry's span when it is first asked for. Commits
replace registry files by rename, so the descriptor keeps reading the old inode: exactly the
bytes the snapshot promised. An edit of that same inode in place (a foreign editor) moves
its stat, which every read checks afterwards: then the bytes are no longer the snapshot's,
and asking raises `StoreError` (read again). Not mmap: a file cut short under a mapping
kills the process with SIGBUS.
"""

from __future__ import annotations

import errno
import hashlib
import os
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from reconciler.errors import StoreError

CHUNK = 1 << 22  # hashing and whole reads go by 4 MiB, so they never hold the file twice


class HeldFile:
    """An open registry file and the stat (size, mtime_ns, ctime_ns, inode) of a settled
    read of it: one whose mtime is older than that read by more than the clock's tick, so
    that any later write moves the mtime. Made only for such a read (the caller judges it,
    as `FileRead.unchanged` does)."""

    __slots__ = ("path", "stat", "_fd", "__weakref__")

    def __init__(self, path: str, fd: int, stat: tuple[int, int, int, int]) -> None:
        self.path, self._fd, self.stat = path, fd, stat
        weakref.finalize(self, os.close, fd)  # closed with the last snapshot holding it

    @classmethod
    def open(cls, path: str) -> tuple[HeldFile, os.stat_result]:
        """The file at `path` held open, and its stat now (OSError when it cannot be)."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            found = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        return cls(path, fd, _key(found)), found

    def fstat(self) -> os.stat_result:
        return os.fstat(self._fd)

    def digest(self) -> str:
        """The SHA-256 of the file's bytes, read by chunks (check `intact` afterwards)."""
        hashed = hashlib.sha256()
        offset = 0
        while chunk := os.pread(self._fd, CHUNK, offset):
            hashed.update(chunk)
            offset += len(chunk)
        return hashed.hexdigest()

    def span(self, start: int, end: int) -> bytes:
        """The bytes `start:end` as the snapshot saw them; StoreError when the file no
        longer holds them."""
        data = os.pread(self._fd, end - start, start) if end > start else b""
        if len(data) != max(end - start, 0) or not self.intact():
            raise self._changed()
        return data

    def whole(self) -> bytes | None:
        """Every byte as the snapshot saw them (a commit splices them), or None when the
        file no longer holds them. One read as a rule (Linux reads up to 2 GiB at once)."""
        size = self.stat[0]
        data = os.pread(self._fd, size, 0)
        while len(data) < size:  # a short read: the rest, appended
            more = os.pread(self._fd, size - len(data), len(data))
            if not more:
                return None
            data += more
        return data if self.intact() else None

    def __len__(self) -> int:
        return self.stat[0]

    def __getitem__(self, part: slice) -> HeldSpan:
        """Bytes `part` (a plain slice) as a span left unread (see `HeldSpan`)."""
        start, end, step = part.indices(self.stat[0])
        if step != 1:
            raise ValueError("a held file is sliced by plain ranges only")
        return HeldSpan(self, start, max(start, end))

    def intact(self) -> bool:
        """Does the inode still hold the snapshot's bytes? Same size, mtime and inode; and
        the same change time unless the file was unlinked (a commit renamed another file
        over it, which moves the change time of the inode it replaces but not its bytes)."""
        try:
            now = os.fstat(self._fd)
        except OSError:
            return False
        size, mtime, ctime, inode = self.stat
        return (now.st_size, now.st_mtime_ns, now.st_ino) == (size, mtime, inode) and (
            now.st_ctime_ns == ctime or now.st_nlink == 0)

    def _changed(self) -> StoreError:
        return StoreError(f"{self.path} changed in place since this snapshot was taken; "
                          "read the registries again")


@dataclass(frozen=True, slots=True)
class HeldSpan:
    """Bytes `start:end` of a held file, not read into memory. A commit that rewrites a
    280 MB agent registry for ten changed entries copies the rest from the old file to the
    new one inside the kernel (`copy_file_range`) and hashes it by chunks: nothing of it
    is held in this process, and no byte goes through Python objects twice."""

    file: HeldFile
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def read(self) -> bytes:
        return self.file.span(self.start, self.end)

    def hash_into(self, hashed: Any) -> None:
        """Feed the span's bytes to `hashed` (a hashlib object), by chunks."""
        for chunk in self._chunks(self.start):
            hashed.update(chunk)
        if not self.file.intact():
            raise self.file._changed()

    def _chunks(self, offset: int) -> Iterator[bytes]:
        """The span's bytes from `offset` on, `CHUNK` at a time (StoreError: cut short)."""
        while offset < self.end:
            chunk = os.pread(self.file._fd, min(CHUNK, self.end - offset), offset)
            if not chunk:
                raise self.file._changed()
            yield chunk
            offset += len(chunk)

    def copy_to(self, fd: int) -> None:
        """Append the span to the file open at `fd` (at its offset): inside the kernel
        where the file system can (`copy_file_range`), else by reads and writes."""
        offset = self.start
        while offset < self.end:
            try:
                copied = os.copy_file_range(self.file._fd, fd, self.end - offset, offset)
            except OSError as error:
                if error.errno not in _NO_COPY_RANGE:
                    raise
                break
            if not copied:
                raise self.file._changed()  # the file is shorter than the snapshot saw
            offset += copied
        for chunk in self._chunks(offset):  # (a file system or kernel without copy_file_range)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        if not self.file.intact():
            raise self.file._changed()


# copy_file_range cannot copy between these files here: copy them by reads and writes
_NO_COPY_RANGE = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF,
                  errno.ETXTBSY, errno.EPERM}


def joined(pieces: Iterable[bytes | memoryview | HeldSpan]) -> bytes:
    """The pieces' bytes, one after the other (a held span read from its file)."""
    return b"".join(piece.read() if isinstance(piece, HeldSpan) else piece
                    for piece in pieces)


def _key(found: os.stat_result) -> tuple[int, int, int, int]:
    return (found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)


def span_of(data: bytes | HeldFile, start: int, end: int) -> bytes:
    """`data[start:end]`, from memory or from the held file (StoreError: it changed)."""
    return data[start:end] if isinstance(data, bytes) else data.span(start, end)
