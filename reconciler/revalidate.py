"""Validating again only what changed since the last validation (issue 26).

The validation index keeps, beside its answer, a `Record` of that validation: per file its
stat, the digest of its content, the resources it declares and its own findings; the
merge findings (M010, M014); the mesh-wide findings; and who refers to whom. When a few
files changed, `revalidate` reads just those, builds the new state and the old one lazily
(a resource is decoded from the parse cache only when a rule asks for it), and re-checks
what the change reaches with `validate.changes.check_mesh_changed`. The result equals a
full validation (a property test drives random edit sequences against one); anything it
cannot vouch for (a cached result of another content than recorded, many changed files, a
change to agent cycles) answers None, and the caller validates in full.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson

from reconciler import access, graph
from reconciler.errors import Diagnostic
from reconciler.manifests import loader
from reconciler.model import kinds
from reconciler.model.kinds import Kind
from reconciler.model.resource import MeshState, Resource, ResourceKey
from reconciler.recorddb import Damaged, RecordDB
from reconciler.statchunks import (
    Chunked,
    FileStat,
    Listing,
    StatKey,
    StatView,
    checked,
    chunk_name,
    same_key,
    stat_key,
)
from reconciler.validate import changes

MAX_CHANGED = 500  # more changed files than this: a full validation is as quick
MERGE_CODES = frozenset({"M010", "M014"})
# The files, refs and rules tables keep their keys in buckets, a row per bucket: one row
# per key was 340,000 rows, each with its MAC, at 100,000 agents (4 s of a cold run's
# writing). A change reads and writes its keys' buckets (30 keys each there).
BUCKETS = 4096
V = TypeVar("V")

_KINDS = {kind.value: kind for kind in Kind}


def key_text(key: ResourceKey) -> str:
    return f"{key.kind.value}/{key.name}"


def key_of(text: str) -> ResourceKey:
    kind, _, name = text.partition("/")
    return ResourceKey(_KINDS[kind], name)


@dataclass(slots=True)
class FileRecord:
    stat: list[int] | None  # None: modified within the racy window, so it vouches for nothing
    digest: str             # of its content, as the parse cache keys it ("" unreadable)
    keys: list[str]         # the resources it declares, in order
    diagnostics: list[dict[str, Any]]  # its own findings (parse, per-resource rules)
    synced: bool = False  # every resource it declares is a noop at the record's `synced_at`


ByKind = dict[str, dict[str, str]]  # kind -> name -> the file declaring it (the first)


class Record:
    """What a validation found, kept so the next one reads only what changed.

    Every run reads the parts every run needs: each file's stat (what changed?), the
    declaration order, the files with findings or not marked in sync, the merge and
    mesh-wide findings. A file's digest and keys, and who refers to a target, are rows
    read when asked for (`recorddb`): a change of 10 files among 100,000 reads 10 rows and
    writes them back, not a 46 MB document."""

    def __init__(self, stats: dict[str, StatKey | None] | None, order: ByKind,
                 problems: dict[str, list[dict[str, Any]]], unsynced: set[str],
                 merged: list[dict[str, Any]], mesh: list[dict[str, Any]],
                 synced_at: str | None, rows: dict[str, tuple[str, list[str]]] | None = None,
                 referrers: dict[str, list[str]] | None = None,
                 db: RecordDB | None = None, generation: str | None = None,
                 stat_chunks: tuple[int, dict[str, bytes]] = (0, {}),
                 ruled: dict[str, int] | None = None,
                 rules: dict[str, access.SubjectRows] | None = None,
                 buckets: int = BUCKETS) -> None:
        # Every file's stat key, in listing order; None: still in `db`'s chunks (of which
        # `stat_chunks` has the count and each one's MAC), until `compare` or a read.
        self._stats = stats
        self._stat_chunks = stat_chunks
        # `_stats` serialized, as compared with a listing or saved, and the files set since
        self._chunked: Chunked | None = None
        self._touched: set[str] = set()
        self.order = order
        self.problems = problems    # each file's own findings, of the files with any
        self.unsynced = unsynced    # files not marked in sync (see `FileRecord.synced`)
        self.merged, self.mesh = merged, mesh
        # The live fingerprint (a store's, `#`, its identity) the files marked in sync
        # were planned against with no change; `replan` plans only the others meanwhile.
        self.synced_at = synced_at
        self.db, self.generation = db, generation
        self.buckets = buckets  # how many buckets each bucketed table has (`BUCKETS`)
        # Each file's (digest, keys), and who refers to each target: read when asked for.
        self._files = _BucketedRows(db, "files", rows or {}, _row, complete=db is None,
                                    buckets=buckets)
        self.referrers = _BucketedRows(db, "refs", referrers or {}, _users,
                                       complete=db is None, buckets=buckets)
        self._order_changed = db is None
        # The large access policies kept by subject (`access.SubjectRows`), with their rule
        # counts: their rows in `db` (or held, as built or set since read).
        self.ruled: dict[str, int] = ruled if ruled is not None else {
            policy: rows.count for policy, rows in (rules or {}).items()}
        self._rules: dict[str, access.SubjectRows] = dict(rules or {})
        self._rules_changed: set[str] = set(self._rules) if db is None else set()
        self._rule_buckets: dict[str, dict[str, Any]] = {}  # read from `db`, by row key

    @classmethod
    def build(cls, files: Mapping[str, FileRecord], order: ByKind,
              merged: list[dict[str, Any]], mesh: list[dict[str, Any]],
              referrers: dict[str, list[str]],
              rules: dict[str, access.SubjectRows] | None = None) -> Record:
        """A record of a full validation (written whole by `save`); `rules`: its large
        access policies by subject (`rules_of_state`)."""
        return cls({name: f.stat for name, f in files.items()}, order,
                   {name: f.diagnostics for name, f in files.items() if f.diagnostics},
                   {name for name, f in files.items() if not f.synced}, merged, mesh, None,
                   {name: (f.digest, f.keys) for name, f in files.items()}, referrers,
                   rules=rules or {})

    @classmethod
    def open(cls, db: RecordDB, generation: str) -> Record | None:
        """The record `db` holds at `generation`; None when it holds another, or is
        damaged (then it is not believed: the caller validates in full)."""
        try:
            with db.reading():
                if db.generation() != generation:
                    return None
                blobs = db.blobs(_BLOBS)
                macs = db.macs("stats")
            count, ruled, buckets = blobs["stat_chunks"], blobs["ruled"], blobs["buckets"]
            if not isinstance(count, int) or not isinstance(ruled, dict) or not all(
                    isinstance(n, int) for n in ruled.values()) or not isinstance(
                    buckets, int) or buckets < 1:
                return None
            record = cls(None, dict(blobs["order"]), dict(blobs["problems"]),
                         set(blobs["unsynced"]), list(blobs["merged"]), list(blobs["mesh"]),
                         blobs.get("synced_at"), db=db, generation=generation,
                         stat_chunks=(count, macs), ruled=ruled, buckets=buckets)
        except (Damaged, KeyError, TypeError, ValueError):
            return None
        if not isinstance(record.synced_at, str | None):
            return None
        return record

    @property
    def stats(self) -> StatView:
        """Every file's stat key, in listing order (read whole from `db` if not yet)."""
        return StatView(self._held())

    def _held(self) -> dict[str, StatKey | None]:
        if self._stats is None:
            self._stats = dict(self._recorded_stats())
        return self._stats

    def _recorded_stats(self) -> dict[str, list[int] | None]:
        """Every chunk of stat keys `db` holds, decoded (raises `Damaged`)."""
        count, _ = self._stat_chunks
        if self.db is None:
            raise Damaged("no stats")
        names = [chunk_name(index) for index in range(count)]
        rows = self.db.rows("stats", names)
        found: dict[str, list[int] | None] = {}
        for name in names:
            found.update(_chunk(rows.get(name)))
        return found

    def governance(self, state: MeshState) -> access.Governance:
        """`state`'s governance (the record's state), its large policies' rules found by
        subject in the record rather than read whole."""
        return access.Governance.of(state, by_subject=self.rules_by_subject())

    def rules_by_subject(self) -> dict[str, access.RulesBySubject]:
        """Where the record's large access policies' rules are found, by subject: they are
        the record's state's (after `revalidate`, the manifests' as they are now)."""
        return {policy: _RecordRules(self, policy) for policy in self.ruled}

    def set_rules(self, policy: str, rows: access.SubjectRows | None) -> None:
        """Record a policy's rules by subject as they are now (None: not kept by subject)."""
        if rows is None:
            self.ruled.pop(policy, None)
            self._rules.pop(policy, None)
        else:
            self.ruled[policy], self._rules[policy] = rows.count, rows
        self._rules_changed.add(policy)
        self._rule_buckets = {key: bucket for key, bucket in self._rule_buckets.items()
                              if not key.startswith(_rule_prefix(policy))}

    def rules_of(self, policy: str, subject: str) -> list[tuple[int, Any]]:
        """A kept policy's (index, rule) pairs of `subject` (raises `Damaged`)."""
        held = self._rules.get(policy)
        if held is not None:
            return held.by_subject.get(subject, [])
        if self.db is None:
            raise Damaged(f"no rules of {policy}")
        key = _rule_key(policy, bucket_of(subject, self.buckets))
        bucket = self._rule_buckets.get(key)
        if bucket is None:
            bucket = self._rule_buckets[key] = _entries(
                self.db.rows("rules", [key]).get(key, {}))
        return _rule_pairs(bucket.get(subject, []))

    def compare(self, listing: Listing) -> StatChanges:
        """What changed between the recorded files and `listing`: a chunk whose bytes are
        the recorded ones (its MAC says so, unread) holds no change; the others are
        decoded and compared file by file. Afterwards the record's stats are the
        listing's (the gone files' last, until dropped): the caller records each changed
        file again, or drops the record. Raises `Damaged`."""
        count, macs = self._stat_chunks
        changed: list[str] | None = None
        self._chunked, self._touched = None, set()
        if self._stats is None and self.db is not None and len(listing.chunks()) == count:
            changed = self._changed_chunks(listing, macs)
        if changed is None:  # files came or went (or a built record): file by file
            recorded: Mapping[str, StatKey | None] = self._held()
            changed = [name for name, key in listing.keys.items()
                       if not same_key(recorded.get(name), key)]
            gone = [name for name in recorded if name not in listing.keys]
            same = not gone and list(recorded) == listing.names
            held = dict(listing.keys)
            held.update((name, recorded[name]) for name in gone)
        else:
            gone, same, held = [], True, dict(listing.keys)
        self._stats = held
        return StatChanges(changed, gone, same)

    def _changed_chunks(self, listing: Listing, macs: dict[str, bytes]) -> list[str] | None:
        """The changed files, from the chunks that differ; None when a chunk lists other
        files than recorded (files came or went: then the whole record is compared)."""
        assert self.db is not None
        db = self.db
        now = [db.mac("stats", chunk_name(index), data)
               for index, data in enumerate(listing.chunks())]
        differing = [chunk_name(index) for index, mac in enumerate(now)
                     if macs.get(chunk_name(index)) != mac]
        rows = db.rows("stats", differing)
        changed: list[str] = []
        for name in differing:
            recorded = _chunk(rows.get(name))
            names = listing.names_of(int(name))
            if list(recorded) != names:
                return None
            keys = listing.keys
            changed += [file for file in names if not same_key(recorded[file], keys[file])]
        self._chunked = Chunked(listing.names, listing.chunks(), now)
        return changed

    def file(self, name: str) -> FileRecord | None:
        """What the record knows of one file (None: not a file it lists)."""
        if name not in self.stats:
            return None
        self.load([name])
        digest, keys = self._files.known.get(name, ("", []))
        return FileRecord(self.stats[name], digest, keys, self.problems.get(name, []),
                          name not in self.unsynced)

    def load(self, names: Iterable[str]) -> None:
        """Read the rows of `names` at once (raises `Damaged`)."""
        self._files.load(name for name in names if name in self.stats)

    def files(self) -> dict[str, FileRecord]:
        """Every file's record, in listing order: a whole-mesh read, for whole-mesh work."""
        rows = self._files.whole()
        return {name: FileRecord(stat, *rows.get(name, ("", [])),
                                 self.problems.get(name, []), name not in self.unsynced)
                for name, stat in self.stats.items()}

    def put(self, name: str, kept: FileRecord) -> None:
        """Record a file (read again) as `kept` says (its place in `stats` is the caller's)."""
        self._held()[name] = kept.stat
        self._touched.add(name)
        self._files[name] = (kept.digest, kept.keys)
        if kept.diagnostics:
            self.problems[name] = kept.diagnostics
        else:
            self.problems.pop(name, None)
        self.mark(name, kept.synced)

    def drop(self, name: str) -> None:
        self._held().pop(name, None)
        self._touched.add(name)
        self._files.discard(name)
        self.problems.pop(name, None)
        self.unsynced.discard(name)

    def mark(self, name: str, synced: bool) -> None:
        if synced:
            self.unsynced.discard(name)
        else:
            self.unsynced.add(name)

    def reorder(self, order: ByKind) -> None:
        self.order, self._order_changed = order, True

    def diagnostics(self) -> list[dict[str, Any]]:
        """The files' own findings, in listing order."""
        problems = self.problems
        return [d for name in self.stats if name in problems for d in problems[name]]

    def save(self, db: RecordDB) -> str | None:
        """Write what changed since read (all of it for a built record) as a new
        generation of `db`, and answer it (None: not written; another process wrote
        the record meanwhile, or it cannot be written)."""
        replace = self.db is None or self.generation is None or db.path != self.db.path
        blobs: dict[str, Any] = {"problems": self.problems,
                                 "unsynced": sorted(self.unsynced), "merged": self.merged,
                                 "mesh": self.mesh, "synced_at": self.synced_at,
                                 "buckets": self.buckets}
        if self._order_changed or replace:
            blobs["order"] = self.order
        stat_rows, stat_chunks = self._stat_rows(db, replace)
        blobs["stat_chunks"] = stat_chunks[0]
        if replace:  # (rows not held are not carried over: such a policy is read whole)
            self.ruled = {policy: count for policy, count in self.ruled.items()
                          if policy in self._rules}
        blobs["ruled"] = self.ruled
        rules = set(self._rules) if replace else self._rules_changed
        rows: dict[str, dict[str, Any | None]] = {
            "files": self._files.changes(everything=replace),
            "refs": self.referrers.changes(everything=replace), "stats": stat_rows,
            "rules": {_rule_key(policy, bucket): subjects for policy in rules
                      if policy in self._rules
                      for bucket, subjects in bucketed(
                          self._rules[policy].by_subject.items(), self.buckets).items()}}
        generation = db.write(expected=None if replace else self.generation, blobs=blobs,
                              rows=rows, replace=replace,
                              cleared={"rules": [_rule_prefix(policy) for policy in rules]})
        if generation is not None:
            self.db, self.generation = db, generation
            self._files.saved(db)
            self._order_changed = False
            self.referrers.saved(db)
            self._stat_chunks = stat_chunks[:2]
            self._chunked, self._touched = stat_chunks[2], set()
            self._rules_changed.clear()
        return generation

    def _stat_rows(self, db: RecordDB, replace: bool
                   ) -> tuple[dict[str, Any | None],
                              tuple[int, dict[str, bytes], Chunked | None]]:
        """The chunks of stat keys to write (None: to delete), and the chunks then (their
        count, MACs and, when known, bytes)."""
        count, macs = self._stat_chunks
        if self._stats is None and not replace:  # never read: as recorded
            return {}, (count, macs, None)
        held = self._held()
        chunked = None if replace or self._chunked is None else self._chunked.refreshed(
            held, self._touched, lambda index, data: db.mac("stats", chunk_name(index), data))
        if chunked is None:
            names = list(held)
            chunks = Listing(held).chunks()
            chunked = Chunked(names, chunks, [db.mac("stats", chunk_name(index), data)
                                              for index, data in enumerate(chunks)])
        written: dict[str, Any | None] = {}
        now: dict[str, bytes] = {}
        for index, (data, mac) in enumerate(zip(chunked.chunks, chunked.macs, strict=True)):
            name = chunk_name(index)
            now[name] = mac
            if replace or macs.get(name) != mac:
                written[name] = data
        written.update((name, None) for name in macs if name not in now)
        return written, (len(chunked.chunks), now, chunked)


_BLOBS = ("stat_chunks", "order", "problems", "unsynced", "merged", "mesh", "synced_at",
          "ruled", "buckets")


def bucket_of(key: str, buckets: int) -> str:
    """The bucket (a row of its table) that keeps `key`."""
    return format(zlib.crc32(key.encode()) % buckets, "x")


def bucketed(items: Iterable[tuple[str, Any]], buckets: int,
             only: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """`items` by bucket (of the buckets `only`, when given), each a mapping."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in items:
        bucket = bucket_of(key, buckets)
        if only is None or bucket in only:
            found.setdefault(bucket, {})[key] = value
    return found


def _entries(value: Any) -> dict[str, Any]:
    """A bucket's row as read: a mapping of its keys."""
    if not isinstance(value, dict):
        raise Damaged("bucket row")
    return value


def _rule_key(policy: str, bucket: str) -> str:
    return orjson.dumps([policy, bucket]).decode()


def _rule_prefix(policy: str) -> str:
    """What every `_rule_key` of `policy` starts with."""
    return orjson.dumps([policy]).decode()[:-1] + ","


def _rule_pairs(value: Any) -> list[tuple[int, Any]]:
    """A subject's rules as read: [index, rule] pairs, every rule a mapping."""
    if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int)
            and isinstance(pair[1], dict) for pair in value):
        raise Damaged("rules row")
    return [(index, rule) for index, rule in value]


class _RecordRules:
    """One kept policy's rules, found by subject in a record (`access.RulesBySubject`)."""

    def __init__(self, record: Record, policy: str) -> None:
        self.record, self.policy = record, policy
        self._read: dict[str, list[tuple[int, Any]]] = {}

    def rules_of(self, subject: str) -> list[tuple[int, Any]]:
        found = self._read.get(subject)
        if found is None:
            found = self._read[subject] = self.record.rules_of(self.policy, subject)
        return found


def rules_of_state(state: MeshState) -> dict[str, access.SubjectRows]:
    """The large access policies of `state` by subject (what a record keeps of them)."""
    found: dict[str, access.SubjectRows] = {}
    for policy in sorted(access.POLICIES):
        resource = state.get(ResourceKey(Kind.GOVERNANCE_POLICY, policy))
        rows = access.subject_rows(resource.entry) if resource is not None else None
        if rows is not None:
            found[policy] = rows
    return found


def _chunk(value: Any) -> dict[str, list[int] | None]:
    """A chunk of stat keys as read (a chunk the record counts and has not: damaged)."""
    if value is None:
        raise Damaged("stats chunk missing")
    try:
        return checked(value)
    except ValueError as error:
        raise Damaged("stats chunk") from error


@dataclass(frozen=True, slots=True)
class StatChanges:
    """What `Record.compare` found."""

    changed: list[str]  # listed files whose stat key is not the recorded one
    gone: list[str]     # recorded files no longer listed
    same_listing: bool  # the same files, in the same order


def _users(value: Any) -> list[str]:
    """A target's referrers as read (checked as a whole by its row's MAC)."""
    return cast(list[str], value)


def _row(value: Any) -> tuple[str, list[str]]:
    digest, keys = value
    if not isinstance(digest, str) or not isinstance(keys, list):
        raise Damaged("files row")
    return digest, keys


class _BucketedRows(MutableMapping[str, V]):
    """One of the record's bucketed tables (`table`: each file's row, who refers to each
    target), read a bucket at a time when first asked for, each value checked by
    `convert`; the keys set or dropped since are written back, with their buckets, by
    `Record.save`."""

    def __init__(self, db: RecordDB | None, table: str, known: dict[str, V],
                 convert: Callable[[Any], V], *, complete: bool, buckets: int) -> None:
        self.db, self.table, self.known, self.convert = db, table, known, convert
        self.complete, self.buckets = complete, buckets
        self.read: set[str] = set()  # buckets read
        self.changed: set[str] = set()

    def _fetch(self, buckets: Iterable[str]) -> None:
        unread = [bucket for bucket in buckets if bucket not in self.read]
        if self.complete or not unread or self.db is None:
            return
        self._take(self.db.rows(self.table, unread).values())
        self.read.update(unread)

    def _take(self, rows: Iterable[Any]) -> None:
        for value in rows:
            for key, row in _entries(value).items():
                if key not in self.changed:
                    self.known.setdefault(key, self.convert(row))

    def load(self, keys: Iterable[str]) -> None:
        """Read the buckets of `keys` not held yet, at once (raises `Damaged`)."""
        wanted = {bucket_of(key, self.buckets) for key in keys if key not in self.known}
        if wanted:
            self._fetch(wanted)

    def whole(self) -> dict[str, V]:
        """Every key's value: the table read whole (once)."""
        if not self.complete and self.db is not None:
            self._take(self.db.all_rows(self.table).values())
            self.complete = True
        return self.known

    def discard(self, key: str) -> None:
        """Drop `key` (written back as gone), without reading its bucket first."""
        self.known.pop(key, None)
        self.changed.add(key)

    def __getitem__(self, key: str) -> V:
        self._fetch([bucket_of(key, self.buckets)])
        return self.known[key]

    def __setitem__(self, key: str, value: V) -> None:
        self.known[key] = value
        self.changed.add(key)

    def __delitem__(self, key: str) -> None:
        self._fetch([bucket_of(key, self.buckets)])
        del self.known[key]
        self.changed.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.whole())

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def changes(self, *, everything: bool) -> dict[str, Any | None]:
        """The buckets to write: every one, or those of the keys changed (read whole
        first; None: one left empty, to delete)."""
        if everything:
            return dict(bucketed(((key, self.known[key]) for key in self), self.buckets))
        touched = {bucket_of(key, self.buckets) for key in self.changed}
        self._fetch(touched)
        found = bucketed(self.known.items(), self.buckets, touched)
        return {bucket: found.get(bucket) for bucket in touched}

    def saved(self, db: RecordDB) -> None:
        self.db = db
        self.changed.clear()


@dataclass(slots=True)
class Referrers(graph.UserIndex):
    """`graph.Referrers`' `users` over the record's form, converted only where asked."""

    by_target: MutableMapping[str, list[str]]

    def users(self, key: ResourceKey) -> frozenset[ResourceKey]:
        return frozenset(key_of(text) for text in self.by_target.get(key_text(key), ()))

    def changed(self, before: Resource | None, after: Resource | None) -> None:
        """Update in place for `before` becoming `after` (None: absent)."""
        either = after or before
        if either is None:
            return
        source = key_text(either.key)
        old = {key_text(e.target) for e in graph.references(before)} if before else set()
        new = {key_text(e.target) for e in graph.references(after)} if after else set()
        for target in old - new:
            users = [u for u in self.by_target.get(target, []) if u != source]
            if users:
                self.by_target[target] = users
            else:
                self.by_target.pop(target, None)
        for target in sorted(new - old):  # (assigned, never changed in place: see _BucketedRows)
            users = list(self.by_target.get(target, []))
            if source not in users:
                self.by_target[target] = [*users, source]


Fetch = Callable[[str], list[Resource]]  # a file's resources, in order


class _LazyKind(MutableMapping[str, Resource]):
    """One kind's resources in declaration order, each decoded on first use from the
    result of the file that declares it."""

    def __init__(self, kind: Kind, files: dict[str, str], fetch: Fetch) -> None:
        self.kind, self.files, self.fetch = kind, files, fetch
        self.added: dict[str, Resource] = {}

    def __getitem__(self, name: str) -> Resource:
        if name in self.added:
            return self.added[name]
        key = ResourceKey(self.kind, name)
        return next(r for r in self.fetch(self.files[name]) if r.key == key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __contains__(self, name: object) -> bool:
        return name in self.files

    def __setitem__(self, name: str, resource: Resource) -> None:
        self.added[name] = resource
        self.files.setdefault(name, "")

    def __delitem__(self, name: str) -> None:
        del self.files[name]
        self.added.pop(name, None)

    def copy(self) -> _LazyKind:
        """Another such mapping (decoding through the same fetch), changed apart."""
        other = _LazyKind(self.kind, dict(self.files), self.fetch)
        other.added = dict(self.added)
        return other


class Declared(Mapping[ResourceKey, str]):
    """Each declared key with the file declaring it (the first), kind by kind in
    `KIND_ORDER`, each kind in declaration order: as a state iterates them. Kept by kind
    and name, so 100,000 keys are not 100,000 `ResourceKey`s until iterated."""

    def __init__(self, by_kind: ByKind) -> None:
        self.by_kind = by_kind

    def __getitem__(self, key: ResourceKey) -> str:
        return self.by_kind[key.kind.value][key.name]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, ResourceKey) and key.name in self.by_kind.get(
            key.kind.value, {})

    def __iter__(self) -> Iterator[ResourceKey]:
        for kind in kinds.KIND_ORDER:
            for name in self.by_kind.get(kind.value, {}):
                yield ResourceKey(kind, name)

    def __len__(self) -> int:
        return sum(len(names) for names in self.by_kind.values())

    def kinds(self) -> set[Kind]:
        return {_KINDS[kind] for kind, names in self.by_kind.items() if names}


def lazy_state(order: Declared, fetch: Fetch) -> MeshState:
    """A state of the keys in `order` whose resources are decoded when asked for."""
    return MeshState(cast(dict[Kind, dict[str, Resource]], {
        kind: _LazyKind(kind, dict(order.by_kind.get(kind.value, {})), fetch)
        for kind in kinds.KIND_ORDER}))


def referrers_of(mesh_graph: graph.Graph) -> dict[str, list[str]]:
    """Who refers to each target (as `graph.Referrers.of` finds them), in the record's
    form: each key's text made once, not once per edge (a 100,000-agent mesh has
    700,000 edges)."""
    texts = {key: key_text(key) for key in mesh_graph.nodes}
    found: dict[str, dict[str, None]] = {}
    for source, target, *_ in mesh_graph.edges:
        users = found.setdefault(texts.get(target) or texts.setdefault(target, key_text(target)),
                                 {})
        users[texts.get(source) or texts.setdefault(source, key_text(source))] = None
    return {target: list(users) for target, users in found.items()}


def declaration_order(files: Mapping[str, list[str]]) -> Declared:
    """Each key with the first file declaring it, as a full load meets them."""
    found: ByKind = {}
    for file, keys in files.items():
        for text in keys:
            kind, _, name = text.partition("/")
            found.setdefault(kind, {}).setdefault(name, file)
    return Declared(found)


@dataclass(slots=True)
class Revalidated:
    diagnostics: list[Diagnostic]
    record: Record
    order: Declared


def revalidate(record: Record, stats: Mapping[str, FileStat | None],
               cached: Callable[[str, str], loader.FileResult | None],
               parse: Callable[[str, FileStat | None], tuple[str, loader.FileResult]],
               settled: Callable[[FileStat], bool],
               listing: Listing | None = None) -> Revalidated | None:
    """The findings of the files `stats` lists (in listing order, with their stats), from
    `record` and the files that changed since; None when it cannot vouch for them. The
    record is brought up to date in place (and so is to be dropped after a None).
    `cached(file, digest)`: a file's result as the parse cache holds it for that content;
    `parse(file, stat)`: read, parse and check a file, giving its digest and result;
    `listing`: `stats`' listing, when the caller has made it."""
    try:
        found = record.compare(listing or Listing.of_stats(stats))
    except Damaged:
        return None
    changed, gone = found.changed, found.gone
    if len(changed) + len(gone) > MAX_CHANGED:
        return None
    try:
        record.load([*changed, *gone])
        before = {name: kept for name in [*changed, *gone]
                  if (kept := record.file(name)) is not None}
    except Damaged:
        return None
    old_results: dict[str, list[Resource]] = {}
    for name, kept in before.items():  # what they held, before parsing replaces it
        if kept.keys:
            result = cached(name, kept.digest)
            if result is None:
                return None
            old_results[name] = result.resources
    fresh: dict[str, tuple[str, loader.FileResult]] = {
        name: parse(name, stats[name]) for name in changed}
    new_keys = {name: [key_text(r.key) for r in result.resources]
                for name, (_, result) in fresh.items()}

    def results_of(file: str, store: dict[str, list[Resource]]) -> list[Resource]:
        found = store.get(file)
        if found is None:
            kept = record.file(file)
            result = cached(file, kept.digest) if kept is not None else None
            if result is None:
                raise _Unvouched(file)
            found = store[file] = result.resources
        return found

    new_results: dict[str, list[Resource]] = {}

    def old_fetch(file: str) -> list[Resource]:
        return results_of(file, old_results)

    def new_fetch(file: str) -> list[Resource]:
        if file in fresh:
            return fresh[file][1].resources
        return results_of(file, new_results)

    @functools.cache
    def new_files() -> dict[str, list[str]]:
        """Every file's keys now, in listing order (a whole-mesh read)."""
        files = record.files()
        return {name: new_keys[name] if name in fresh else files[name].keys
                for name in stats}

    # The same files declaring the same keys (edits in place, the common case): the same
    # declaration order, and the same name clashes unless one involves a changed file.
    same_keys = found.same_listing and all(name in before for name in changed) and all(
        new_keys[name] == before[name].keys for name in changed)
    try:
        old_order = Declared(record.order)
        new_order = old_order if same_keys else declaration_order(new_files())
        base = lazy_state(old_order, old_fetch)
        state = lazy_state(new_order, new_fetch)
        changed_keys = {key_of(text) for kept in before.values() for text in kept.keys}
        changed_keys |= {r.key for name in changed for r in fresh[name][1].resources}
        if changes.agent_edges_change(changed_keys, state, base) or (
                any(key.kind is Kind.AGENT for key in changed_keys)
                and any(d["code"] == changes.CYCLE_CODE for d in record.mesh)):
            return None  # cycles: a whole-graph rule, their message in the graph's order
        referrers = Referrers(record.referrers)
        mesh = changes.check_mesh_changed(
            state, base, None, [Diagnostic.from_dict(d) for d in record.mesh],
            changed_keys, referrers, record.governance(base))
        for key in changed_keys:
            if key.kind is Kind.GOVERNANCE_POLICY and key.name in access.POLICIES:
                policy = state.get(key)
                record.set_rules(key.name, access.subject_rows(policy.entry)
                                 if policy is not None else None)
        touched_names = set(changed)
        merged = [Diagnostic.from_dict(d) for d in record.merged] if same_keys and not any(
            _names_file(d, touched_names) for d in record.merged) else merge_findings(
            new_files(), new_fetch)
        for key in sorted(changed_keys, key=graph.node_order):
            referrers.changed(base.get(key), state.get(key))
    except (_Unvouched, Damaged):
        return None
    for name in gone:
        record.drop(name)
    for name, (digest, result) in fresh.items():
        stat = stats[name]
        record.put(name, FileRecord(
            stat_key(stat) if stat is not None and settled(stat) else None, digest,
            new_keys[name], [d.to_dict() for d in result.diagnostics],
            _same_content(before.get(name), digest)))
    if not same_keys:
        record.reorder(new_order.by_kind)
    record.merged = [d.to_dict() for d in merged]
    record.mesh = [d.to_dict() for d in mesh]
    diagnostics = [Diagnostic.from_dict(d) for d in record.diagnostics()]
    return Revalidated(diagnostics + merged + mesh, record, new_order)


def _names_file(finding: dict[str, Any], files: set[str]) -> bool:
    """Whether a merge finding (M010, M014) names one of `files` (its own or, in its
    message, the other declaration's)."""
    return finding.get("file") in files or any(
        f"{file}:" in str(finding.get("message", "")) for file in files)


def _same_content(before: FileRecord | None, digest: str) -> bool:
    """Whether a file read again (touched, saved unchanged) still holds what was synced."""
    return before is not None and before.synced and bool(digest) and before.digest == digest


class _Unvouched(Exception):
    """A file's cached result is not the content the record knew."""


def merge_findings(files: Mapping[str, list[str]], fetch: Fetch) -> list[Diagnostic]:
    """M010 and M014 as `loader.merge_results` finds them, from the keys alone (a resource
    is decoded only for a finding)."""
    found: list[Diagnostic] = []
    first: dict[ResourceKey, tuple[str, int]] = {}
    folded: dict[tuple[Kind, str], ResourceKey] = {}
    for file, keys in files.items():
        for index, text in enumerate(keys):
            key = key_of(text)
            if key in first:
                where, at = first[key]
                found.append(loader.defined_twice(fetch(where)[at], fetch(file)[index]))
                continue
            first[key] = (file, index)
            same = folded.setdefault(loader.case_key(key), key)
            if same != key:
                where, at = first[same]
                found.append(loader.differs_by_case(fetch(where)[at], fetch(file)[index]))
    return found
