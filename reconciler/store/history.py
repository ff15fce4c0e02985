"""Revisions: what each commit changed, who made it, and what undoes it.

One JSON file per revision under `.meshctl/history/<n>.json`, written inside the commit's own
journal, so a revision exists exactly when its changes do. Each records, per resource, the
entry before and after: restore, revert and `history show` need nothing else. A restore or a
revert records what it undid (`undo`), so listings can say "restore to r3", "revert of r5".
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import StoreError
from reconciler.model.resource import ResourceKey

FORMAT = 1
HISTORY = "history"
_NAME = re.compile(r"(\d+)\.json")


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """Who and why: recorded with the revision and in the audit log."""

    source: str  # cli, api, library, watch
    user: str
    host: str
    git_commit: str | None = None
    summary: dict[str, int] | None = None
    note: str | None = None
    # What the revision undoes, when it is a restore or a revert:
    # {"action": "restore" | "revert", "revision": n} (kept in the record as `undo`).
    undo: dict[str, Any] | None = None


def folder(meta: Path) -> Path:
    return meta / HISTORY


def numbers(meta: Path) -> list[int]:
    found = folder(meta)
    if not found.is_dir():
        return []
    return sorted(int(m.group(1)) for p in found.iterdir() if (m := _NAME.fullmatch(p.name)))


def next_number(meta: Path) -> int:
    existing = numbers(meta)
    return existing[-1] + 1 if existing else 1


def relative_path(number: int) -> str:
    return f".meshctl/{HISTORY}/{number}.json"


def load(meta: Path, number: int) -> dict[str, Any]:
    path = folder(meta) / f"{number}.json"
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        known = numbers(meta)
        raise StoreError(f"no revision {number}; revisions: "
                         f"{_ranges(known) if known else 'none yet'}") from None
    except (OSError, ValueError) as error:
        raise StoreError(f"revision {number} cannot be read: {error}") from error
    if record.get("format") != FORMAT:
        raise StoreError(f"revision {number} has format {record.get('format')!r}; this "
                         f"meshctl reads format {FORMAT}")
    return record


def record(number: int, now: str, info: CommitInfo, before_print: str, after_print: str,
           changes: Mapping[ResourceKey, dict[str, Any] | None],
           befores: Mapping[ResourceKey, dict[str, Any] | None], *,
           files: Sequence[str] = (), digests: dict[str, str | None] | None = None
           ) -> dict[str, Any]:
    """A revision's record, as every store keeps it: who, when, from which state to which,
    and each resource before and after (`digests`: a file store's written files)."""
    body: dict[str, Any] = {
        "format": FORMAT, "revision": number, "time": now, "user": info.user,
        "host": info.host, "source": info.source, "git_commit": info.git_commit,
        "note": info.note, "summary": info.summary or {},
        "fingerprint_before": before_print, "fingerprint_after": after_print,
        "files": list(files)}
    if info.undo is not None:
        body["undo"] = dict(info.undo)  # a restore's or a revert's target revision
    if digests is not None:
        body["digests"] = digests  # each written file's SHA-256 (None: removed)
    body["changes"] = [
        {"kind": key.kind.value, "name": key.name,
         "action": _action(befores.get(key), entry), "before": befores.get(key),
         "after": entry} for key, entry in changes.items()]
    return body


def commit_audit(number: int, now: str, info: CommitInfo, resources: int) -> dict[str, Any]:
    """The audit line of a revision committed."""
    return {"time": now, "user": info.user, "host": info.host, "source": info.source,
            "action": "commit", "result": "ok", "revision": number,
            "summary": info.summary or {}, "resources": resources}


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """A revision without its entries (for listings)."""
    return ({key: value for key, value in record.items() if key != "changes"}
            | {"resources": [f"{c['kind']}/{c['name']}" for c in record["changes"]]})


def _action(before: dict[str, Any] | None, entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "delete"
    return "update" if before is not None else "create"


def revisions_since(meta: Path, fingerprint: str) -> list[dict[str, Any]]:
    """The revisions committed after the live state had `fingerprint` (oldest first); empty
    when no revision started from it (the change came from outside meshctl)."""
    chain: list[dict[str, Any]] = []
    found = False
    for number in numbers(meta):
        record = load(meta, number)
        if record.get("fingerprint_before") == fingerprint:
            found = True
            chain = []
        if found:
            chain.append(record)
    return chain


def _ranges(values: list[int]) -> str:
    return f"{values[0]}..{values[-1]}" if len(values) > 1 else str(values[0])


def default_info(source: str, **extra: Any) -> CommitInfo:
    """Who is committing: `source`, this user and this host (every store records them)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return CommitInfo(source=source, user=user, host=socket.gethostname(), **extra)


def now_text() -> str:
    """The registries' own timestamp format (`2025-12-22T10:00:00Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
