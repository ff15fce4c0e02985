"""`RegistryManager`: the AgentMesh runtime's registry interface, as a library.

A drop-in for the upstream class of the same name: the same read methods, returning the same
models, and the same write methods, each of which is a plan of one object through the engine
(`writes.commit_changes`): the rules, the atomic commit, the lock and the history every other
write goes through (source `library`). The REST API and the web panel call it too.

Reads are served from an immutable snapshot that a write or a reload swaps whole, so readers
never take a lock, never wait for a reload and never see half a change. The snapshot follows
the files: a watchdog watch (and a stat check every `poll_interval` seconds, for file systems
that send no events) wakes a thread that applies another meshctl writer's revisions from its
history record (checked against the files' digests) or re-reads just the files that changed.
What is on disk but unreadable keeps the last good snapshot, reported in `stats()` and the log.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from reconciler import engine, graph, validate, writes
from reconciler import store as store_
from reconciler.errors import (
    ChangeRejected,
    Diagnostic,
    PreconditionFailed,
    StalePlan,
    StoreError,
)
from reconciler.gcpause import gc_paused
from reconciler.model import kinds, specs
from reconciler.model.kinds import ORCHESTRATOR_ID, Kind
from reconciler.model.resource import ResourceKey
from reconciler.model.specs import (
    AgentMetadata,
    GovernancePolicies,
    ModelProfile,
    ToolMetadata,
    WorkflowDefinition,
)
from reconciler.plan.model import Plan
from reconciler.store import LiveState
from reconciler.writes import Intent

__all__ = ["RegistryManager"]

log = logging.getLogger("reconciler.library")

SOURCE = "library"
# A write that finds the registries moved on (another writer committed first) re-reads and
# tries again, after a short random pause that grows with each attempt, so that writers in
# many processes on one database take turns instead of colliding again.
WRITE_ATTEMPTS = 50
WRITE_BACKOFF = 0.002  # seconds per attempt, at most; capped at 50 ms
_FILE_PROBLEMS = ("L001", "L002", "L006")  # a file that cannot be read as a whole
_UNSET: Any = object()
Entry = dict[str, Any]
# Told of each new snapshot: the live state before, after, the keys that changed (None:
# not known, compare all) and the revision it is at.
Listener = Callable[[LiveState, LiveState, "list[ResourceKey] | None", int], None]


class _Snapshot:
    """One consistent view of the registries. Never changed once published, except that
    models are built on first use and remembered (a benign race: both builders agree)."""

    __slots__ = ("live", "referrers", "revision", "loaded_at", "memo", "lists", "governance",
                 "skipped", "__weakref__")

    def __init__(self, live: LiveState, referrers: graph.Referrers, revision: int,
                 memo: dict[Kind, dict[str, BaseModel | None]] | None = None) -> None:
        self.live, self.referrers, self.revision = live, referrers, revision
        self.loaded_at = datetime.datetime.now(datetime.UTC)
        self.memo = memo or {kind: {} for kind in Kind}
        self.lists: dict[Kind, list[Any]] = {}
        self.governance: GovernancePolicies | None | Any = _UNSET
        self.skipped: list[Diagnostic] | None = None

    def unloadable(self) -> list[Diagnostic]:
        """The live entries the runtime would skip (L007), found once per snapshot."""
        if self.skipped is None:
            self.skipped = validate.check_live(self.live.state)
        return self.skipped

    def model(self, kind: Kind, name: str) -> Any:
        memo = self.memo[kind]
        found = memo.get(name, _UNSET)
        if found is _UNSET:
            resource = self.live.state.of_kind(kind).get(name)
            found = None if resource is None else _model_of(kind, name, resource.entry)
            memo[name] = found
        return found

    def all(self, kind: Kind) -> list[Any]:
        found = self.lists.get(kind)
        if found is None:
            models = (self.model(kind, name) for name in self.live.state.of_kind(kind))
            found = self.lists[kind] = [model for model in models if model is not None]
        return found

    def policy_rules(self, policy: str) -> list[Any] | None:
        """The `rules` of a governance policy; None when there is no governance at all."""
        if Kind.GOVERNANCE_POLICY not in self.live.headers:
            return None
        resource = self.live.state.of_kind(Kind.GOVERNANCE_POLICY).get(policy)
        rules = resource.entry.get("rules") if resource is not None else None
        return rules if isinstance(rules, list) else []


def _model_of(kind: Kind, name: str, entry: Entry) -> BaseModel | None:
    try:
        return specs.SPEC_MODELS[kind].model_validate(entry)
    except ValidationError as error:  # upstream skips such entries too; meshctl keeps them
        log.warning("%s is not valid and is not served: %s", ResourceKey(kind, name).describe(),
                    error.errors(include_url=False)[0]["msg"])
        return None


# The newest snapshot any manager in this process published, per registries folder: another
# manager of the folder that finds it current adopts it instead of reading the files again
# (one read per change, however many managers a runtime creates).
_LATEST: weakref.WeakValueDictionary[str, _Snapshot] = weakref.WeakValueDictionary()


class RegistryManager:
    """The registries under `registries_path`, read and written as the AgentMesh runtime
    does. Call `load_all()` first (as upstream); it also starts watching the files unless
    `watch=False`. Thread-safe; safe beside other processes writing the same registries."""

    def __init__(self, registries_path: str | os.PathLike[str] = "/registries", *,
                 watch: bool = True, poll_interval: float = 1.0,
                 lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT,
                 source: str = SOURCE, deny_breaking: bool = False,
                 store: store_.Store | None = None) -> None:
        # Opened on first use, as upstream touches nothing before load_all().
        self._store: store_.Store | None = store
        location = store.location if store is not None else os.fspath(registries_path)
        self._location = location
        self.registries_path = Path(location)
        # the key of `_LATEST`: one per store (a database URL, or the folder resolved)
        self._folder = location if store_.is_database(location) else \
            str(self.registries_path.resolve())
        self._deny_breaking = deny_breaking  # refuse writes that break callers (B001/B002)
        self._source = source  # who the revisions are recorded as made by
        self._watch = watch
        self._poll_interval = poll_interval
        self._lock_timeout = lock_timeout
        self._snapshot = _Snapshot(LiveState(), graph.Referrers({}), 0)
        self._loaded = False
        self._writing = threading.RLock()  # one writer or reloader at a time in this process
        self._load_count = 0
        self._last_error: str | None = None
        self._rejected: LiveState | None = None  # what was on disk when a reload was refused
        self._following: store_.Following | None = None
        self._listeners: list[Listener] = []

    # -- loading and reloading ----------------------------------------------------------

    def load_all(self) -> None:
        """Make what this serves match the registries on disk, whoever changed them (the
        upstream meaning). Only files that changed are read. Raises StoreError, keeping the
        last good snapshot, when what is on disk cannot be read."""
        self._sync(strict=True)
        if self._watch and self._following is None:
            self._following = self.store.follow(self._store_may_have_changed, self,
                                                 self._poll_interval)

    def reload(self) -> dict[str, Any]:
        """`load_all()`, returning `stats()` (upstream's `reload_registries`)."""
        self.load_all()
        return self.stats()

    def close(self) -> None:
        """Stop following the files (the snapshot stays readable). Optional, as upstream:
        a manager nobody references stops following by itself."""
        if self._following is not None:
            self._following.cancel()
            self._following = None

    def __enter__(self) -> RegistryManager:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _sync(self, *, strict: bool) -> bool:
        """Bring the snapshot up to date with the store; True when it changed."""
        with self._writing, gc_paused():
            current = self._snapshot
            store = self.store
            if self._loaded and store.is_current(current.live):
                return False
            if not strict and self._rejected is not None and store.is_current(self._rejected):
                return False  # still the files a reload refused: no need to read them again
            shared = _LATEST.get(self._folder)
            if shared is not None and shared is not current and (
                    not self._loaded or shared.revision >= current.revision) and \
                    store.is_current(shared.live):
                # Serve the snapshot another manager of this store read (it is immutable).
                self._snapshot = shared
                self._notify(current.live, shared.live, None, shared.revision)
                self._served()
                return True
            changed: list[ResourceKey] | None = None
            if not self._loaded:
                revision = store.head()
                live = store.snapshot()
            else:
                caught = store.catch_up(current.live, current.revision)
                live, changed, revision = caught.live, caught.changed, caught.revision
            problems = [d for d in live.diagnostics if d.code in _FILE_PROBLEMS
                        and d not in current.live.diagnostics]
            if problems and (self._loaded or strict):
                first = problems[0]
                self._last_error = f"{first.file}: {first.message}"
                self._rejected = live
                log.warning("registries not reloaded, still serving the last good ones: %s",
                            self._last_error)
                if strict:
                    raise StoreError(f"the registries could not be read ({self._last_error});"
                                     " the last good state is still served")
                return False
            self._publish(current, live, changed, revision)
            self._served()
            return True

    def _served(self) -> None:
        """A load changed what is served: the store is read, and no error stands."""
        self._loaded = True
        self._last_error = None
        self._rejected = None
        self._load_count += 1

    def _publish(self, previous: _Snapshot, live: LiveState,
                 changed: Iterable[ResourceKey] | None, revision: int) -> None:
        """Swap in the snapshot of `live` at `revision`; `changed` (when known) lets the
        reverse index and the models built so far carry over."""
        if changed is None:
            referrers = graph.Referrers.build(live.state)
            memo = None
        else:
            keys = list(changed)
            referrers = previous.referrers
            for key in keys:
                referrers = referrers.changed(previous.live.state.get(key), live.state.get(key))
            memo = {kind: dict(models) for kind, models in previous.memo.items()}
            for key in keys:
                memo[key.kind].pop(key.name, None)
        self._snapshot = _Snapshot(live, referrers, revision, memo)
        _LATEST[self._folder] = self._snapshot
        self._notify(previous.live, live, None if changed is None else keys, revision)

    def _notify(self, before: LiveState, after: LiveState, keys: list[ResourceKey] | None,
                revision: int) -> None:
        for listener in self._listeners:
            try:
                listener(before, after, keys, revision)
            except Exception:  # a listener's bug must not stop the snapshot being served
                log.exception("a registry listener failed")

    def _store_may_have_changed(self) -> None:
        """Called by the store's follower after a change, and every poll interval."""
        self._sync(strict=False)

    # -- reads ----------------------------------------------------------------------------

    def get_agent(self, agent_id: str) -> AgentMetadata | None:
        """One agent by id, or None (O(1): a dictionary lookup once built)."""
        snapshot = self._snapshot
        found: Any = snapshot.memo[Kind.AGENT].get(agent_id, _UNSET)
        return snapshot.model(Kind.AGENT, agent_id) if found is _UNSET else found  # type: ignore[no-any-return]

    def list_agents(self, capability: str | None = None) -> list[AgentMetadata]:
        agents = self._snapshot.all(Kind.AGENT)
        if capability:
            return [agent for agent in agents if capability in agent.capabilities]
        return list(agents)

    def get_agents_for_orchestrator(self) -> list[AgentMetadata]:
        """The agents the orchestrator may invoke (its `allowed_agents` that exist)."""
        snapshot = self._snapshot
        orchestrator = snapshot.model(Kind.AGENT, ORCHESTRATOR_ID)
        if orchestrator is None:
            return []
        found = (snapshot.model(Kind.AGENT, name) for name in orchestrator.allowed_agents)
        return [agent for agent in found if agent is not None]

    def get_tool(self, tool_id: str) -> ToolMetadata | None:
        snapshot = self._snapshot
        found: Any = snapshot.memo[Kind.TOOL].get(tool_id, _UNSET)
        return snapshot.model(Kind.TOOL, tool_id) if found is _UNSET else found  # type: ignore[no-any-return]

    def get_tools_for_agent(self, agent_id: str) -> list[ToolMetadata]:
        """The tools an agent may use (its `allowed_tools` that exist)."""
        snapshot = self._snapshot
        agent = snapshot.model(Kind.AGENT, agent_id)
        if agent is None:
            return []
        found = (snapshot.model(Kind.TOOL, name) for name in agent.allowed_tools)
        return [tool for tool in found if tool is not None]

    def list_tools(self, tag: str | None = None) -> list[ToolMetadata]:
        tools = self._snapshot.all(Kind.TOOL)
        if tag:
            return [tool for tool in tools if tag in tool.lineage_tags]
        return list(tools)

    def get_model_profile(self, profile_id: str) -> ModelProfile | None:
        return self._snapshot.model(Kind.MODEL_PROFILE, profile_id)  # type: ignore[no-any-return]

    def list_model_profiles(self) -> list[ModelProfile]:
        return list(self._snapshot.all(Kind.MODEL_PROFILE))

    def get_workflow(self, workflow_id: str) -> WorkflowDefinition | None:
        return self._snapshot.model(Kind.WORKFLOW, workflow_id)  # type: ignore[no-any-return]

    def list_workflows(self) -> list[WorkflowDefinition]:
        return list(self._snapshot.all(Kind.WORKFLOW))

    def get_governance_policies(self) -> GovernancePolicies | None:
        """The whole governance document; None when there is none (or it is not valid)."""
        snapshot = self._snapshot
        if snapshot.governance is _UNSET:
            header = snapshot.live.headers.get(Kind.GOVERNANCE_POLICY)
            document = None if header is None else {
                **header, "policies": {name: resource.entry for name, resource in
                                       snapshot.live.state.of_kind(Kind.GOVERNANCE_POLICY)
                                       .items()}}
            try:
                snapshot.governance = (None if document is None
                                       else GovernancePolicies.model_validate(document))
            except ValidationError as error:
                log.warning("the governance policies are not valid: %s", error)
                snapshot.governance = None
        return snapshot.governance

    def is_agent_invocation_allowed(self, invoker_agent_id: str, target_agent_id: str) -> bool:
        """As upstream: allowed when there are no governance policies; else the first rule
        of `agent_invocation_access` for the invoker that names the target decides (denied
        wins within a rule); no such rule denies. Ids compare literally ("*" is an id)."""
        return _decide(self._snapshot.policy_rules("agent_invocation_access"),
                       invoker_agent_id, target_agent_id, "allowed_agents", "denied_agents")

    def is_tool_access_allowed(self, agent_id: str, tool_id: str) -> bool:
        """As `is_agent_invocation_allowed`, with `agent_tool_access` and its tool lists."""
        return _decide(self._snapshot.policy_rules("agent_tool_access"), agent_id, tool_id,
                       "allowed_tools", "denied_tools")

    def stats(self) -> dict[str, Any]:
        """Counts, when the snapshot was loaded, how many loads, the last revision seen,
        and the last problem that kept a reload from being served."""
        snapshot = self._snapshot
        counts = snapshot.live.state.counts()
        return {
            "counts": {"agents": counts[Kind.AGENT], "tools": counts[Kind.TOOL],
                       "models": counts[Kind.MODEL_PROFILE],
                       "workflows": counts[Kind.WORKFLOW],
                       "governance_policies": counts[Kind.GOVERNANCE_POLICY]},
            "loaded_at": snapshot.loaded_at.isoformat() if self._loaded else None,
            "load_count": self._load_count,
            "revision": snapshot.revision,
            "fingerprint": snapshot.live.fingerprint if self._loaded else None,
            "last_error": self._last_error,
            # Entries upstream's manager would skip (and this one does not serve either).
            "unloadable": [{"resource": d.resource, "file": d.file, "message": d.message}
                           for d in snapshot.unloadable()],
        }

    get_stats = stats  # upstream's name

    @property
    def store(self) -> store_.Store:
        """The store this manager reads and writes (opened once, shared with the server)."""
        if self._store is None:
            self._store = store_.open_store(self._location,
                                            lock_timeout=self._lock_timeout)
        return self._store

    def live(self) -> LiveState:
        """The live state served now (immutable: a newer one replaces it whole)."""
        return self._snapshot.live

    def view(self) -> tuple[LiveState, graph.Referrers, int]:
        """The live state served now, its reverse reference index and its revision, as one
        consistent triple (what a plan against this snapshot needs)."""
        snapshot = self._snapshot
        return snapshot.live, snapshot.referrers, snapshot.revision

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` after each new snapshot, whoever caused it (on the thread that
        published it: keep it quick)."""
        self._listeners.append(listener)

    def apply(self, plan: Plan, *, source: str | None = None, note: str | None = None,
              max_deletes: int = -1, epoch: int | None = None) -> store_.Revision | None:
        """Commit `plan`, made against `live()` (StalePlan when the registries moved on:
        plan again), as one revision by `source`, and serve what it wrote at once. A
        leader's `epoch` fences the commit: refused once another leader took over."""
        if not self._loaded:
            self.load_all()
        with self._writing:
            snapshot = self._snapshot
            revision = engine.apply_plan(plan, self.store,
                                         source=source or self._source,
                                         max_deletes=max_deletes,
                                         lock_timeout=self._lock_timeout, note=note,
                                         known=snapshot.live, epoch=epoch)
            if revision is not None:
                self._committed(snapshot, {c.key: c.after for c in plan.actionable}, revision)
            return revision

    def entry(self, kind: Kind, name: str) -> Entry | None:
        """The registry entry as stored (every key, in the file's order), or None."""
        resource = self._snapshot.live.state.of_kind(kind).get(name)
        return dict(resource.entry) if resource is not None else None

    def entries(self, kind: Kind) -> list[Entry]:
        """Every entry of a kind as stored, in registry order."""
        return [dict(r.entry) for r in self._snapshot.live.state.of_kind(kind).values()]

    def version(self, kind: Kind, name: str) -> str | None:
        """The resource's version (changes whenever its entry does), or None if absent."""
        resource = self._snapshot.live.state.of_kind(kind).get(name)
        return version_of(resource.entry) if resource is not None else None

    def governance_version(self) -> str:
        """The version of the governance document (its policies)."""
        return self.kind_version(Kind.GOVERNANCE_POLICY)

    def kind_version(self, kind: Kind) -> str:
        """The version of all the entries of a kind together (the processor pipeline's):
        it changes whenever one of them does."""
        entries = self._snapshot.live.state.of_kind(kind)
        return version_of({name: r.entry for name, r in entries.items()})

    # -- writes ---------------------------------------------------------------------------

    def create_agent(self, agent: AgentMetadata | Mapping[str, Any]) -> None:
        self._create(Kind.AGENT, agent)

    def update_agent(self, agent_id: str, agent: AgentMetadata | Mapping[str, Any], *,
                     expected_version: str | None = None) -> None:
        self._update(Kind.AGENT, agent_id, agent, expected_version)

    def delete_agent(self, agent_id: str, *, expected_version: str | None = None) -> None:
        self._delete(Kind.AGENT, agent_id, expected_version)

    def create_tool(self, tool: ToolMetadata | Mapping[str, Any]) -> None:
        self._create(Kind.TOOL, tool)

    def update_tool(self, tool_id: str, tool: ToolMetadata | Mapping[str, Any], *,
                  expected_version: str | None = None) -> None:
        self._update(Kind.TOOL, tool_id, tool, expected_version)

    def delete_tool(self, tool_id: str, *, expected_version: str | None = None) -> None:
        self._delete(Kind.TOOL, tool_id, expected_version)

    def create_model_profile(self, profile: ModelProfile | Mapping[str, Any]) -> None:
        self._create(Kind.MODEL_PROFILE, profile)

    def update_model_profile(self, profile_id: str, profile: ModelProfile | Mapping[str, Any], *,
                  expected_version: str | None = None) -> None:
        self._update(Kind.MODEL_PROFILE, profile_id, profile, expected_version)

    def delete_model_profile(self, profile_id: str, *, expected_version: str | None = None) -> None:
        self._delete(Kind.MODEL_PROFILE, profile_id, expected_version)

    def create_workflow(self, workflow: WorkflowDefinition | Mapping[str, Any]) -> None:
        self._create(Kind.WORKFLOW, workflow)

    def update_workflow(self, workflow_id: str, workflow: WorkflowDefinition | Mapping[str, Any], *,
                  expected_version: str | None = None) -> None:
        self._update(Kind.WORKFLOW, workflow_id, workflow, expected_version)

    def delete_workflow(self, workflow_id: str, *, expected_version: str | None = None) -> None:
        self._delete(Kind.WORKFLOW, workflow_id, expected_version)

    def update_governance_policies(self, policies: GovernancePolicies | Mapping[str, Any], *,
                                   expected_version: str | None = None) -> None:
        """Replace the policies with those of `policies` (the whole document): each one
        named is created or updated, each one not named is deleted. The file's `version`
        and other keys stay as they are; `last_updated` is refreshed."""
        document = _entry(policies)
        named = document.get("policies")
        if not isinstance(named, dict):
            raise ChangeRejected("the governance document needs a 'policies' object")
        self._replace_kind(Kind.GOVERNANCE_POLICY,
                           {name: _entry(body) for name, body in named.items()},
                           expected_version, "the governance policies")

    # -- any kind, by its table entry: what the REST API and the panel call ---------------

    def create(self, kind: Kind, entry: BaseModel | Mapping[str, Any]) -> None:
        """Create one entry of a kind listed by id (its id field names it)."""
        self._create(kind, entry)

    def update(self, kind: Kind, name: str, entry: BaseModel | Mapping[str, Any], *,
               expected_version: str | None = None) -> None:
        """Replace an existing entry (a one-document kind's `name` is 'default')."""
        self._update(kind, name, entry, expected_version)

    def delete(self, kind: Kind, name: str, *, expected_version: str | None = None) -> None:
        self._delete(kind, name, expected_version)

    def document(self, kind: Kind) -> Entry | None:
        """A one-document kind's whole document as the runtime reads it (with the
        `last_updated` stamp a write refreshes), or None when its file does not exist."""
        resource = self._snapshot.live.state.get(ResourceKey(kind, kinds.SINGLETON_NAME))
        if resource is None:
            return None
        header = self._snapshot.live.headers.get(kind) or {}
        return copy.deepcopy({**resource.entry, **header})  # the caller's to change

    def put_document(self, kind: Kind, document: BaseModel | Mapping[str, Any], *,
                     expected_version: str | None = None) -> None:
        """Write a one-document kind (created when its file does not exist yet), through
        the same plan as any write; `last_updated` is the store's to set."""
        assert kinds.is_singleton(kind)
        new = {k: v for k, v in _entry(document).items()
               if k not in ("last_updated", "resource_version")}
        self._update(kind, kinds.SINGLETON_NAME, new, expected_version, Intent.PUT)

    def _replace_all(self, kind: Kind, entries: Iterable[BaseModel | Mapping[str, Any]],
                     expected_version: str | None = None) -> None:
        """The kind's entries become `entries` (upstream's `update_connectors`)."""
        id_field = kinds.info(kind).id_field
        assert id_field is not None
        wanted = [_entry(item) for item in entries]
        if not all(isinstance(item.get(id_field), str) for item in wanted):
            raise ChangeRejected(f"every {kinds.info(kind).label} needs a string '{id_field}'")
        self._replace_kind(kind, {item[id_field]: item for item in wanted}, expected_version,
                           f"the {kinds.info(kind).plural.replace('-', ' ')}")

    def _replace_kind(self, kind: Kind, named: Mapping[str, Entry],
                      expected_version: str | None, what: str) -> None:
        """As one plan: each entry `named` is created or updated, each live one not named
        deleted; `expected_version` is the kind's (`kind_version`) when given."""

        def changes(snapshot: _Snapshot) -> dict[ResourceKey, tuple[Entry | None, Intent]]:
            live = snapshot.live.state.of_kind(kind)
            current = version_of({name: r.entry for name, r in live.items()})
            if expected_version is not None and expected_version != current:
                raise PreconditionFailed(f"{what} changed since version {expected_version}; "
                                         "read them again", current)
            found: dict[ResourceKey, tuple[Entry | None, Intent]] = {}
            for name, entry in named.items():
                before = live.get(name)
                found[ResourceKey(kind, name)] = (
                    _in_order_of(before.entry if before else None, entry), Intent.PUT)
            for name in live:
                if name not in named:
                    found[ResourceKey(kind, name)] = (None, Intent.DELETE)
            return found

        self._write(changes)

    # -- system settings and context engineering (upstream's orchestrator manager) --------

    def get_system_config(self) -> Entry | None:
        """`system_config.json` as upstream returns it (a dict), or None without one."""
        return self.document(Kind.SYSTEM_CONFIG)

    def update_system_config(self, config: specs.SystemConfig | Mapping[str, Any], *,
                             expected_version: str | None = None) -> None:
        self.put_document(Kind.SYSTEM_CONFIG, config, expected_version=expected_version)

    def get_context_strategies(self) -> Entry | None:
        return self.document(Kind.CONTEXT_STRATEGIES)

    def update_context_strategies(self, strategies: specs.ContextStrategies | Mapping[str, Any],
                                  *, expected_version: str | None = None) -> None:
        self.put_document(Kind.CONTEXT_STRATEGIES, strategies,
                          expected_version=expected_version)

    def list_context_processors(self) -> list[specs.ContextProcessor]:
        """The pipeline's processors in the order the runtime runs them (by `order`)."""
        found: list[specs.ContextProcessor] = list(self._snapshot.all(Kind.CONTEXT_PROCESSOR))
        return sorted(found, key=lambda processor: processor.order)

    def get_context_processor(self, processor_id: str) -> specs.ContextProcessor | None:
        return self._snapshot.model(Kind.CONTEXT_PROCESSOR, processor_id)  # type: ignore[no-any-return]

    def update_context_processors(self, processors: Iterable[specs.ContextProcessor
                                                              | Mapping[str, Any]], *,
                                  expected_version: str | None = None) -> None:
        """The pipeline becomes exactly these processors, as one plan and one revision (a
        reorder moves several `order`s at once, which one-by-one writes cannot: no two
        processors may share an order at any moment). `expected_version`: `kind_version`."""
        self._replace_all(Kind.CONTEXT_PROCESSOR, processors, expected_version)

    def update_context_processor(self, processor_id: str,
                                 processor: specs.ContextProcessor | Mapping[str, Any], *,
                                 expected_version: str | None = None) -> None:
        self._update(Kind.CONTEXT_PROCESSOR, processor_id, processor, expected_version)

    # -- the integration fabric (upstream's integration manager; its workflows and system
    # config are named integration_* here, beside the orchestrator's) ----------------------

    def list_connectors(self) -> list[specs.ConnectorMetadata]:
        return list(self._snapshot.all(Kind.CONNECTOR))

    def get_connector(self, connector_id: str) -> specs.ConnectorMetadata | None:
        return self._snapshot.model(Kind.CONNECTOR, connector_id)  # type: ignore[no-any-return]

    def update_connector(self, connector_id: str,
                         connector: specs.ConnectorMetadata | Mapping[str, Any], *,
                         expected_version: str | None = None) -> None:
        self._update(Kind.CONNECTOR, connector_id, connector, expected_version)

    def update_connectors(self, connectors: Iterable[specs.ConnectorMetadata
                                                     | Mapping[str, Any]]) -> None:
        """Upstream's: the connectors become exactly these (one plan; a connector still
        named by an integration workflow is not deleted)."""
        self._replace_all(Kind.CONNECTOR, connectors)

    def list_auth_profiles(self) -> list[specs.AuthProfile]:
        return list(self._snapshot.all(Kind.AUTH_PROFILE))

    def get_auth_profile(self, profile_id: str) -> specs.AuthProfile | None:
        return self._snapshot.model(Kind.AUTH_PROFILE, profile_id)  # type: ignore[no-any-return]

    def update_auth_profile(self, profile_id: str,
                            profile: specs.AuthProfile | Mapping[str, Any], *,
                            expected_version: str | None = None) -> None:
        self._update(Kind.AUTH_PROFILE, profile_id, profile, expected_version)

    def update_auth_profiles(self, profiles: Iterable[specs.AuthProfile
                                                      | Mapping[str, Any]]) -> None:
        """Upstream's: the auth profiles become exactly these (one plan)."""
        self._replace_all(Kind.AUTH_PROFILE, profiles)

    def list_security_policies(self) -> list[specs.SecurityPolicy]:
        return list(self._snapshot.all(Kind.SECURITY_POLICY))

    def get_security_policy(self, policy_id: str) -> specs.SecurityPolicy | None:
        return self._snapshot.model(Kind.SECURITY_POLICY, policy_id)  # type: ignore[no-any-return]

    def update_security_policy(self, policy_id: str,
                               policy: specs.SecurityPolicy | Mapping[str, Any], *,
                               expected_version: str | None = None) -> None:
        self._update(Kind.SECURITY_POLICY, policy_id, policy, expected_version)

    def list_integration_workflows(self) -> list[specs.IntegrationWorkflow]:
        return list(self._snapshot.all(Kind.INTEGRATION_WORKFLOW))

    def get_integration_workflow(self, workflow_id: str) -> specs.IntegrationWorkflow | None:
        return self._snapshot.model(Kind.INTEGRATION_WORKFLOW, workflow_id)  # type: ignore[no-any-return]

    def update_integration_workflow(self, workflow_id: str,
                                    workflow: specs.IntegrationWorkflow | Mapping[str, Any], *,
                                    expected_version: str | None = None) -> None:
        """Upstream's `update_workflow` of the integration manager."""
        self._update(Kind.INTEGRATION_WORKFLOW, workflow_id, workflow, expected_version)

    def get_integration_config(self) -> specs.IntegrationConfig | None:
        """`integration/system_config.json` (upstream's integration `get_system_config`)."""
        return self._snapshot.model(Kind.INTEGRATION_CONFIG, kinds.SINGLETON_NAME)  # type: ignore[no-any-return]

    def update_integration_config(self, config: specs.IntegrationConfig | Mapping[str, Any],
                                  *, expected_version: str | None = None) -> None:
        self.put_document(Kind.INTEGRATION_CONFIG, config, expected_version=expected_version)

    def _create(self, kind: Kind, model: BaseModel | Mapping[str, Any]) -> None:
        entry = _entry(model)
        id_field = kinds.info(kind).id_field
        assert id_field is not None
        name = entry.get(id_field)
        if not isinstance(name, str):
            raise ChangeRejected(f"a new {kinds.info(kind).label} needs a string '{id_field}'")
        key = ResourceKey(kind, name)
        self._write(lambda _: {key: (entry, Intent.CREATE)})

    def _update(self, kind: Kind, name: str, model: BaseModel | Mapping[str, Any],
                expected_version: str | None = None, intent: Intent = Intent.UPDATE) -> None:
        """Replace one entry (`intent` PUT: or create it), keeping its key order."""
        key = ResourceKey(kind, name)
        new = _entry(model)

        def changes(snapshot: _Snapshot) -> dict[ResourceKey, tuple[Entry | None, Intent]]:
            before = snapshot.live.state.get(key)
            _check_version(key, before.entry if before else None, expected_version)
            return {key: (_in_order_of(before.entry if before else None, new), intent)}

        self._write(changes)

    def _delete(self, kind: Kind, name: str, expected_version: str | None = None) -> None:
        key = ResourceKey(kind, name)

        def changes(snapshot: _Snapshot) -> dict[ResourceKey, tuple[Entry | None, Intent]]:
            before = snapshot.live.state.get(key)
            _check_version(key, before.entry if before else None, expected_version)
            return {key: (None, Intent.DELETE)}

        self._write(changes)

    def _write(self, changes_for: Callable[[_Snapshot],
                                           dict[ResourceKey, tuple[Entry | None, Intent]]]
               ) -> None:
        """Plan and commit `changes_for(snapshot)` against the freshest snapshot; when the
        registries moved on meanwhile (another process), read what changed and try again.
        A rejection is final only once the snapshot it was judged on is known current."""
        if not self._loaded:
            self.load_all()
        with self._writing, self.store.write_turn():
            self._sync(strict=True)  # in our turn: what the writers before us committed
            for attempt in range(WRITE_ATTEMPTS):
                snapshot = self._snapshot
                changes = changes_for(snapshot)
                try:
                    _, revision = writes.commit_changes(
                        self.store, snapshot.live, snapshot.referrers, changes,
                        source=self._source, deny_breaking=self._deny_breaking)
                except StalePlan:
                    time.sleep(random.uniform(0, min(0.05, WRITE_BACKOFF * (attempt + 1))))
                    self._sync(strict=True)
                    continue
                except ChangeRejected:  # judged on the files as they are now, or try again
                    self._sync(strict=True)
                    if self._snapshot.live.fingerprint == snapshot.live.fingerprint:
                        raise
                    continue
                if revision is not None:
                    self._committed(snapshot, {key: entry for key, (entry, _) in
                                               changes.items()}, revision)
                return
        raise StoreError(f"the registries changed under every one of {WRITE_ATTEMPTS} "
                         "attempts to write; nothing was written")

    def _committed(self, snapshot: _Snapshot, entries: Mapping[ResourceKey, Entry | None],
                   revision: store_.Revision) -> None:
        caught = self.store.after_commit(snapshot.live, entries, revision)
        self._publish(snapshot, caught.live, caught.changed, caught.revision)


def version_of(entry: Any) -> str:
    """A short content hash: a resource's version, as the REST API's ETag."""
    return hashlib.sha256(orjson.dumps(entry)).hexdigest()[:16]


def _check_version(key: ResourceKey, entry: Entry | None, expected: str | None) -> None:
    if expected is None or entry is None:
        return  # unconditional (absent: the write's own precondition says so)
    current = version_of(entry)
    if current != expected:
        raise PreconditionFailed(f"{key.describe()} changed since version {expected} (now "
                                 f"{current}); read it again and reapply the change", current)


def _decide(rules: list[Any] | None, subject: str, target: str, allowed: str,
            denied: str) -> bool:
    if rules is None:
        return True
    for rule in rules:
        if isinstance(rule, dict) and rule.get("agent_id") == subject:
            if target in (rule.get(denied) or []):
                return False
            if target in (rule.get(allowed) or []):
                return True
    return False


def _entry(value: BaseModel | Mapping[str, Any]) -> Entry:
    """An entry as the registry stores it: a model's fields (those set, with unknown ones
    kept), or a mapping as it is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
    if isinstance(value, Mapping):
        return dict(value)
    raise ChangeRejected(f"expected a model or a mapping, not {type(value).__name__}")


def _in_order_of(before: Entry | None, after: Entry) -> Entry:
    """`after` with the keys `before` had in `before`'s order, so an update rewrites only
    what changed (a model lists its fields in its own order)."""
    if before is None:
        return after
    ordered = {key: after[key] for key in before if key in after}
    ordered.update((key, value) for key, value in after.items() if key not in ordered)
    return ordered
