"""One consistent, immutable view of the registries, as a `RegistryManager` serves it.

A write or a reload replaces the snapshot whole (`cache.SnapshotCache`), so a reader holds
one for as long as it likes without a lock and never sees half a change. The models the
runtime's read methods return are built from it on first use and remembered.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from reconciler import access, graph, validate
from reconciler.errors import Diagnostic
from reconciler.gcpause import gc_paused
from reconciler.model import specs
from reconciler.model.cowmap import CowMap
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store import LiveState

log = logging.getLogger("reconciler.library")

Entry = dict[str, Any]
UNSET: Any = object()  # "not looked up yet", where None means "looked up: there is none"


class Snapshot:
    """The live state at one revision, with its reverse reference index. Never changed
    once published, except that models are built on first use and remembered (a benign
    race: both builders agree)."""

    __slots__ = ("live", "_referrers", "revision", "loaded_at", "memo", "lists",
                 "governance", "skipped", "compiled_access", "folded", "__weakref__")

    def __init__(self, live: LiveState, referrers: graph.Referrers | None, revision: int,
                 memo: dict[Kind, CowMap[str, BaseModel | None]] | None = None) -> None:
        """`referrers`: the reverse index of `live`, or None to build it on first use (a
        cold load of 10,000 agents need not index who refers to whom before a write).
        `memo`: the models built so far, copy-on-write, so that the next snapshot carries
        them over at the cost of the change, however many there are."""
        self.live, self._referrers, self.revision = live, referrers, revision
        self.loaded_at = datetime.datetime.now(datetime.UTC)
        self.memo = memo or {kind: CowMap() for kind in Kind}
        self.lists: dict[Kind, list[Any]] = {}
        self.governance: Any = UNSET
        self.skipped: list[Diagnostic] | None = None
        self.compiled_access: access.Governance | None = None
        # Per kind, once asked: each case-folded name -> the live names that fold to it.
        self.folded: dict[Kind, CowMap[str, tuple[str, ...]]] = {}

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(LiveState(), graph.Referrers({}), 0)

    @property
    def referrers(self) -> graph.Referrers:
        """Who refers to whom in `live`, built on first use (a benign race: both builders
        agree)."""
        if self._referrers is None:
            with gc_paused():  # every entry a lazy read held decoded now: no cycles to find
                self._referrers = graph.Referrers.build(self.live.state)
        return self._referrers

    def case_twin(self, key: ResourceKey) -> str | None:
        """A live name of `key`'s kind that differs from `key.name` only by case (one file
        on a case-insensitive file system): what a create is refused for. The index of
        folded names is built on the first create of a kind and carried to later
        snapshots at the cost of the change, so a create at 100,000 agents looks at one
        name, not at every one."""
        folded = self.folded.get(key.kind)
        if folded is None:
            folded = self.folded[key.kind] = _folded(self.live.state.of_kind(key.kind))
        return next((name for name in folded.get(key.name.casefold(), ())
                     if name != key.name), None)

    def unloadable(self) -> list[Diagnostic]:
        """The live entries the runtime would skip (L007), found once per snapshot."""
        if self.skipped is None:
            self.skipped = validate.check_live(self.live.state)
        return self.skipped

    def model(self, kind: Kind, name: str) -> Any:
        """The runtime's model of one entry; None when absent or not loadable."""
        memo = self.memo[kind]
        found = memo.get(name, UNSET)
        if found is UNSET:
            resource = self.live.state.of_kind(kind).get(name)
            found = None if resource is None else model_of(kind, name, resource.entry)
            memo[name] = found
        return found

    def all(self, kind: Kind) -> list[Any]:
        """Every loadable entry of a kind as its model, in registry order."""
        found = self.lists.get(kind)
        if found is None:
            models = (self.model(kind, name) for name in self.live.state.of_kind(kind))
            with gc_paused():  # as many entries decoded, and models built: no cycles
                found = self.lists[kind] = [model for model in models if model is not None]
        return found

    def access(self) -> access.Governance:
        """The access model over this snapshot, built once."""
        if self.compiled_access is None:
            self.compiled_access = access.Governance.of_live(self.live)
        return self.compiled_access

    def governance_policies(self) -> specs.GovernancePolicies | None:
        """The whole governance document as the runtime's model; None when there is none
        (or it is not valid)."""
        if self.governance is UNSET:
            header = self.live.headers.get(Kind.GOVERNANCE_POLICY)
            document = None if header is None else {
                **header, "policies": {name: resource.entry for name, resource in
                                       self.live.state.of_kind(Kind.GOVERNANCE_POLICY)
                                       .items()}}
            try:
                self.governance = (None if document is None
                                   else specs.GovernancePolicies.model_validate(document))
            except ValidationError as error:
                log.warning("the governance policies are not valid: %s", error)
                self.governance = None
        found: specs.GovernancePolicies | None = self.governance
        return found

    def kind_version(self, kind: Kind) -> str:
        """The version of all the entries of a kind together."""
        entries = self.live.state.of_kind(kind)
        return version_of({name: r.entry for name, r in entries.items()})

    def successor(self, live: LiveState, changed: list[ResourceKey] | None,
                  revision: int) -> Snapshot:
        """The snapshot of `live` at `revision`; `changed` (when known) lets the reverse
        index and the models built so far carry over."""
        if changed is None:
            return Snapshot(live, None, revision)
        referrers = self._referrers  # carried over when built, else built when needed
        if referrers is not None:
            for key in changed:
                referrers = referrers.changed(self.live.state.get(key), live.state.get(key))
        memo = {kind: models.copy() for kind, models in self.memo.items()}
        for key in changed:
            memo[key.kind].pop(key.name, None)
        successor = Snapshot(live, referrers, revision, memo)
        for kind, folded in list(self.folded.items()):  # (a read may add one meanwhile)
            carried = folded.copy()
            for key in changed:
                if key.kind is kind:
                    _fold_out(carried, key.name)
                    if key in live.state:
                        _fold_in(carried, key.name)
            successor.folded[kind] = carried
        return successor


def _folded(names: Iterable[str]) -> CowMap[str, tuple[str, ...]]:
    """Each case-folded name -> the names that fold to it, laid down as the map's base (so
    that a successor's copy shares it rather than copying 100,000 additions)."""
    found: dict[str, tuple[str, ...]] = {}
    for name in names:
        folded = name.casefold()
        found[folded] = (*found.get(folded, ()), name)
    return CowMap(found)


def _fold_in(folded: CowMap[str, tuple[str, ...]], name: str) -> None:
    key = name.casefold()
    names = folded.get(key, ())
    if name not in names:
        folded[key] = (*names, name)


def _fold_out(folded: CowMap[str, tuple[str, ...]], name: str) -> None:
    key = name.casefold()
    names = tuple(other for other in folded.get(key, ()) if other != name)
    if names:
        folded[key] = names
    else:
        folded.pop(key, None)


def model_of(kind: Kind, name: str, entry: Entry) -> BaseModel | None:
    try:
        return specs.SPEC_MODELS[kind].model_validate(entry)
    except ValidationError as error:  # upstream skips such entries too; meshctl keeps them
        log.warning("%s is not valid and is not served: %s", ResourceKey(kind, name).describe(),
                    error.errors(include_url=False)[0]["msg"])
        return None


def version_of(entry: Any) -> str:
    """A short content hash: a resource's version, as the REST API's ETag."""
    return hashlib.sha256(orjson.dumps(entry)).hexdigest()[:16]
