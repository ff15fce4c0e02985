"""`RegistryManager`: the AgentMesh runtime's registry interface, as a library.

A drop-in for the upstream class of the same name: the same read methods, returning the same
models, and the same write methods. This module is the facade only; the jobs behind it are
the package's other modules:

- `snapshot`: the immutable view every read is served from (models built on first use);
- `cache`: keeping that view current with the store, following it, sharing each read
  among the managers of one store;
- `writing`: a write as a plan through the engine's rules, retried while other writers
  commit first;

Reads never take a lock, never wait for a reload and never see half a change.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeGuard

import orjson
from pydantic import BaseModel

from reconciler import access, engine, graph
from reconciler import store as store_
from reconciler.errors import ChangeRejected
from reconciler.library.cache import Listener, SnapshotCache
from reconciler.library.snapshot import UNSET, Entry, Snapshot, version_of
from reconciler.library.writing import EntryChange, Fence, Writer, as_entry
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

SOURCE = "library"
_ACCEPTED = "a Store, a registries folder (str or os.PathLike) or a postgresql:// URL"


class RegistryManager:
    """The registries of a store, read and written as the AgentMesh runtime does. The
    store is what `--store` takes (a registries folder or a database URL) or a `Store`
    already opened, given first (upstream's `registries_path`) or as `store=`. Call
    `load_all()` first (as upstream); it also starts following the store unless
    `watch=False`. Thread-safe; safe beside other processes writing the same store."""

    def __init__(self, registries_path: store_.Store | store_.Location = "/registries", *,
                 watch: bool = True, poll_interval: float = 1.0,
                 lock_timeout: float = store_.DEFAULT_LOCK_TIMEOUT,
                 source: str = SOURCE, deny_breaking: bool = False,
                 deny_access_widening: bool = False,
                 store: store_.Store | store_.Location | None = None) -> None:
        self._store = _LazyStore(registries_path if store is None else store, lock_timeout)
        # Upstream's attribute; a database store has no folder (it names the URL).
        self.registries_path = Path(self._store.location)
        self._cache = SnapshotCache(self._store, watch=watch, poll_interval=poll_interval)
        self._writer = Writer(self._cache, self._store, source=source,
                              deny_breaking=deny_breaking,
                              deny_access_widening=deny_access_widening)

    # -- loading and reloading ----------------------------------------------------------

    def load_all(self) -> None:
        """Make what this serves match the store, whoever changed it (the upstream
        meaning). Only what changed is read. Raises StoreError, keeping the last good
        snapshot, when what is there cannot be read."""
        self._cache.load()

    def reload(self) -> dict[str, Any]:
        """`load_all()`, returning `stats()` (upstream's `reload_registries`)."""
        self.load_all()
        return self.stats()

    def close(self) -> None:
        """Stop following the store (the snapshot stays readable). Optional, as upstream:
        a manager nobody references stops following by itself."""
        self._cache.stop_following()

    def __enter__(self) -> RegistryManager:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reads ----------------------------------------------------------------------------

    def get_agent(self, agent_id: str) -> AgentMetadata | None:
        """One agent by id, or None (O(1): a dictionary lookup once built)."""
        snapshot = self._cache.current
        found: Any = snapshot.memo[Kind.AGENT].get(agent_id, UNSET)
        return snapshot.model(Kind.AGENT, agent_id) if found is UNSET else found  # type: ignore[no-any-return]

    def list_agents(self, capability: str | None = None) -> list[AgentMetadata]:
        agents = self._cache.current.all(Kind.AGENT)
        if capability:
            return [agent for agent in agents if capability in agent.capabilities]
        return list(agents)

    def get_agents_for_orchestrator(self) -> list[AgentMetadata]:
        """The agents the orchestrator may invoke (its `allowed_agents` that exist)."""
        snapshot = self._cache.current
        orchestrator = snapshot.model(Kind.AGENT, ORCHESTRATOR_ID)
        if orchestrator is None:
            return []
        found = (snapshot.model(Kind.AGENT, name) for name in orchestrator.allowed_agents)
        return [agent for agent in found if agent is not None]

    def get_tool(self, tool_id: str) -> ToolMetadata | None:
        snapshot = self._cache.current
        found: Any = snapshot.memo[Kind.TOOL].get(tool_id, UNSET)
        return snapshot.model(Kind.TOOL, tool_id) if found is UNSET else found  # type: ignore[no-any-return]

    def get_tools_for_agent(self, agent_id: str) -> list[ToolMetadata]:
        """The tools an agent may use (its `allowed_tools` that exist)."""
        snapshot = self._cache.current
        agent = snapshot.model(Kind.AGENT, agent_id)
        if agent is None:
            return []
        found = (snapshot.model(Kind.TOOL, name) for name in agent.allowed_tools)
        return [tool for tool in found if tool is not None]

    def list_tools(self, tag: str | None = None) -> list[ToolMetadata]:
        tools = self._cache.current.all(Kind.TOOL)
        if tag:
            return [tool for tool in tools if tag in tool.lineage_tags]
        return list(tools)

    def get_model_profile(self, profile_id: str) -> ModelProfile | None:
        return self._cache.current.model(Kind.MODEL_PROFILE, profile_id)  # type: ignore[no-any-return]

    def list_model_profiles(self) -> list[ModelProfile]:
        return list(self._cache.current.all(Kind.MODEL_PROFILE))

    def get_workflow(self, workflow_id: str) -> WorkflowDefinition | None:
        return self._cache.current.model(Kind.WORKFLOW, workflow_id)  # type: ignore[no-any-return]

    def list_workflows(self) -> list[WorkflowDefinition]:
        return list(self._cache.current.all(Kind.WORKFLOW))

    def get_governance_policies(self) -> GovernancePolicies | None:
        """The whole governance document; None when there is none (or it is not valid)."""
        return self._cache.current.governance_policies()

    def is_agent_invocation_allowed(self, invoker_agent_id: str, target_agent_id: str) -> bool:
        """As upstream: allowed when no governance is loaded; else the first rule of
        `agent_invocation_access` for the invoker that names the target decides (denied
        wins within a rule); no such rule denies. Ids compare literally ("*" is an id).
        `access_decision` says why."""
        return self.access_decision(invoker_agent_id, access.Verb.INVOKE,
                                    target_agent_id).allowed

    def is_tool_access_allowed(self, agent_id: str, tool_id: str) -> bool:
        """As `is_agent_invocation_allowed`, with `agent_tool_access` and its tool lists."""
        return self.access_decision(agent_id, access.Verb.USE, tool_id).allowed

    def access_view(self) -> tuple[LiveState, access.Governance]:
        """The live state served now and its access model, from one snapshot."""
        snapshot = self._cache.current
        return snapshot.live, snapshot.access()

    def access_decision(self, subject: str, verb: access.Verb, target: str
                        ) -> access.Decision:
        """The runtime's decision with its reason (meshctl's one access model)."""
        return self._cache.current.access().decide(subject, verb, target)

    def stats(self) -> dict[str, Any]:
        """Counts, when the snapshot was loaded, how many loads, the last revision seen,
        and the last problem that kept a reload from being served."""
        snapshot = self._cache.current
        counts = snapshot.live.state.counts()
        return {
            "counts": {"agents": counts[Kind.AGENT], "tools": counts[Kind.TOOL],
                       "models": counts[Kind.MODEL_PROFILE],
                       "workflows": counts[Kind.WORKFLOW],
                       "governance_policies": counts[Kind.GOVERNANCE_POLICY]},
            **self._cache.stats(),
            # Entries upstream's manager would skip (and this one does not serve either).
            "unloadable": [{"resource": d.resource, "file": d.file, "message": d.message}
                           for d in snapshot.unloadable()],
        }

    get_stats = stats  # upstream's name

    @property
    def store(self) -> store_.Store:
        """The store this manager reads and writes (opened once, shared with the server)."""
        return self._store()

    @property
    def deny_breaking(self) -> bool:
        """Whether this manager's writes refuse breaking changes (`plan --deny-breaking`):
        a restore or revert it serves is judged the same."""
        return self._writer.deny_breaking

    @property
    def deny_access_widening(self) -> bool:
        """Whether this manager's writes refuse wider access (`--deny-access-widening`)."""
        return self._writer.deny_access_widening

    def live(self) -> LiveState:
        """The live state served now (immutable: a newer one replaces it whole)."""
        return self._cache.current.live

    def snapshot(self) -> Snapshot:
        """The snapshot served now, whole (immutable: a newer one replaces it): for a
        reader that derives something from its live state, reverse index, access model and
        unloadable entries together, and keeps it for as long as the snapshot is served."""
        return self._cache.current

    def view(self) -> tuple[LiveState, graph.Referrers, int]:
        """The live state served now, its reverse reference index and its revision, as one
        consistent triple (what a plan against this snapshot needs)."""
        snapshot = self._cache.current
        return snapshot.live, snapshot.referrers, snapshot.revision

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` after each new snapshot, whoever caused it (on the thread that
        published it: keep it quick)."""
        self._cache.add_listener(listener)

    def apply(self, plan: Plan, *, source: str | None = None, note: str | None = None,
              max_deletes: int = -1, epoch: int | None = None) -> store_.Revision | None:
        """Commit `plan`, made against `live()` (StalePlan when the registries moved on:
        plan again), as one revision by `source`, and serve what it wrote at once. A
        leader's `epoch` fences the commit: refused once another leader took over."""
        if not self._cache.loaded:
            self.load_all()
        with self._cache.lock:
            snapshot = self._cache.current
            revision = engine.apply_plan(plan, self.store, source=source or self._writer.source,
                                         max_deletes=max_deletes, note=note,
                                         known=snapshot.live, epoch=epoch)
            if revision is not None:
                self._cache.committed(snapshot, {c.key: c.after for c in plan.actionable},
                                      revision)
            return revision

    def entry(self, kind: Kind, name: str) -> Entry | None:
        """The registry entry as stored (every key, in the file's order), or None: a copy,
        the caller's to change (a nested list changed in place must never reach the
        snapshot every reader is served), through orjson as `entries` makes them."""
        resource = self._cache.current.live.state.of_kind(kind).get(name)
        if resource is None:
            return None
        entry: Entry = orjson.loads(orjson.dumps(resource.entry))
        return entry

    def entries(self, kind: Kind) -> list[Entry]:
        """Every entry of a kind as stored, in registry order: copies (through orjson, ten
        times faster than deepcopy over 10,000 entries; entries hold JSON only)."""
        entries: list[Entry] = orjson.loads(orjson.dumps(
            [r.entry for r in self._cache.current.live.state.of_kind(kind).values()]))
        return entries

    def version(self, kind: Kind, name: str) -> str | None:
        """The resource's version (changes whenever its entry does), or None if absent."""
        resource = self._cache.current.live.state.of_kind(kind).get(name)
        return version_of(resource.entry) if resource is not None else None

    def governance_version(self) -> str:
        """The version of the governance document (its policies)."""
        return self.kind_version(Kind.GOVERNANCE_POLICY)

    def kind_version(self, kind: Kind) -> str:
        """The version of all the entries of a kind together (the processor pipeline's):
        it changes whenever one of them does."""
        return self._cache.current.kind_version(kind)

    # -- writes ---------------------------------------------------------------------------

    def create_agent(self, agent: AgentMetadata | Mapping[str, Any]) -> None:
        self._writer.create(Kind.AGENT, agent)

    def update_agent(self, agent_id: str, agent: AgentMetadata | Mapping[str, Any], *,
                     expected_version: str | None = None) -> None:
        self._writer.update(Kind.AGENT, agent_id, agent, expected_version)

    def delete_agent(self, agent_id: str, *, expected_version: str | None = None) -> None:
        self._writer.delete(Kind.AGENT, agent_id, expected_version)

    def create_tool(self, tool: ToolMetadata | Mapping[str, Any]) -> None:
        self._writer.create(Kind.TOOL, tool)

    def update_tool(self, tool_id: str, tool: ToolMetadata | Mapping[str, Any], *,
                  expected_version: str | None = None) -> None:
        self._writer.update(Kind.TOOL, tool_id, tool, expected_version)

    def delete_tool(self, tool_id: str, *, expected_version: str | None = None) -> None:
        self._writer.delete(Kind.TOOL, tool_id, expected_version)

    def create_model_profile(self, profile: ModelProfile | Mapping[str, Any]) -> None:
        self._writer.create(Kind.MODEL_PROFILE, profile)

    def update_model_profile(self, profile_id: str, profile: ModelProfile | Mapping[str, Any], *,
                  expected_version: str | None = None) -> None:
        self._writer.update(Kind.MODEL_PROFILE, profile_id, profile, expected_version)

    def delete_model_profile(self, profile_id: str, *, expected_version: str | None = None) -> None:
        self._writer.delete(Kind.MODEL_PROFILE, profile_id, expected_version)

    def create_workflow(self, workflow: WorkflowDefinition | Mapping[str, Any]) -> None:
        self._writer.create(Kind.WORKFLOW, workflow)

    def update_workflow(self, workflow_id: str, workflow: WorkflowDefinition | Mapping[str, Any], *,
                  expected_version: str | None = None) -> None:
        self._writer.update(Kind.WORKFLOW, workflow_id, workflow, expected_version)

    def delete_workflow(self, workflow_id: str, *, expected_version: str | None = None) -> None:
        self._writer.delete(Kind.WORKFLOW, workflow_id, expected_version)

    def update_governance_policies(self, policies: GovernancePolicies | Mapping[str, Any], *,
                                   expected_version: str | None = None) -> None:
        """Replace the policies with those of `policies` (the whole document): each one
        named is created or updated, each one not named is deleted. The file's `version`
        and other keys stay as they are; `last_updated` is refreshed."""
        document = as_entry(policies)
        named = document.get("policies")
        if not isinstance(named, dict):
            raise ChangeRejected("the governance document needs a 'policies' object")
        self._writer.replace_kind(Kind.GOVERNANCE_POLICY,
                           {name: as_entry(body) for name, body in named.items()},
                           expected_version, "the governance policies")

    # -- any kind, by its table entry: what the REST API and the panel call ---------------

    def create(self, kind: Kind, entry: BaseModel | Mapping[str, Any]) -> None:
        """Create one entry of a kind listed by id (its id field names it)."""
        self._writer.create(kind, entry)

    def update(self, kind: Kind, name: str, entry: BaseModel | Mapping[str, Any], *,
               expected_version: str | None = None) -> None:
        """Replace an existing entry (a one-document kind's `name` is 'default')."""
        self._writer.update(kind, name, entry, expected_version)

    def delete(self, kind: Kind, name: str, *, expected_version: str | None = None) -> None:
        self._writer.delete(kind, name, expected_version)

    def change(self, items: Iterable[EntryChange], *, dry_run: bool = False,
               fence: Fence | None = None) -> Plan:
        """Write several entries (an agent and the access policy that lets it run, say) as
        one plan and one revision, judged by every rule together; `dry_run` returns the
        plan without committing it (what the panel shows before Save), and `fence` (its
        token) commits exactly that plan or nothing. A one-document kind's entry is taken
        as `put_document` takes it."""
        return self._writer.batch([_as_written(item) for item in items], dry_run=dry_run,
                                  fence=fence)

    def document(self, kind: Kind) -> Entry | None:
        """A one-document kind's whole document as the runtime reads it (with the
        `last_updated` stamp a write refreshes), or None when its file does not exist."""
        resource = self._cache.current.live.state.get(ResourceKey(kind, kinds.SINGLETON_NAME))
        if resource is None:
            return None
        header = self._cache.current.live.headers.get(kind) or {}
        return copy.deepcopy({**resource.entry, **header})  # the caller's to change

    def put_document(self, kind: Kind, document: BaseModel | Mapping[str, Any], *,
                     expected_version: str | None = None) -> None:
        """Write a one-document kind (created when its file does not exist yet), through
        the same plan as any write; `last_updated` is the store's to set."""
        assert kinds.is_singleton(kind)
        new = _document_entry(as_entry(document))
        self._writer.update(kind, kinds.SINGLETON_NAME, new, expected_version, Intent.PUT)

    def _replace_all(self, kind: Kind, entries: Iterable[BaseModel | Mapping[str, Any]],
                     expected_version: str | None = None) -> None:
        """The kind's entries become `entries` (upstream's `update_connectors`)."""
        id_field = kinds.info(kind).id_field
        assert id_field is not None
        wanted = [as_entry(item) for item in entries]
        if not all(isinstance(item.get(id_field), str) for item in wanted):
            raise ChangeRejected(f"every {kinds.info(kind).label} needs a string '{id_field}'")
        self._writer.replace_kind(kind, {item[id_field]: item for item in wanted},
                                  expected_version,
                                  f"the {kinds.info(kind).plural.replace('-', ' ')}")

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
        found: list[specs.ContextProcessor] = list(self._cache.current.all(Kind.CONTEXT_PROCESSOR))
        return sorted(found, key=lambda processor: processor.order)

    def get_context_processor(self, processor_id: str) -> specs.ContextProcessor | None:
        return self._cache.current.model(Kind.CONTEXT_PROCESSOR, processor_id)  # type: ignore[no-any-return]

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
        self._writer.update(Kind.CONTEXT_PROCESSOR, processor_id, processor, expected_version)

    # -- the integration fabric (upstream's integration manager; its workflows and system
    # config are named integration_* here, beside the orchestrator's) ----------------------

    def list_connectors(self) -> list[specs.ConnectorMetadata]:
        return list(self._cache.current.all(Kind.CONNECTOR))

    def get_connector(self, connector_id: str) -> specs.ConnectorMetadata | None:
        return self._cache.current.model(Kind.CONNECTOR, connector_id)  # type: ignore[no-any-return]

    def update_connector(self, connector_id: str,
                         connector: specs.ConnectorMetadata | Mapping[str, Any], *,
                         expected_version: str | None = None) -> None:
        self._writer.update(Kind.CONNECTOR, connector_id, connector, expected_version)

    def update_connectors(self, connectors: Iterable[specs.ConnectorMetadata
                                                     | Mapping[str, Any]]) -> None:
        """Upstream's: the connectors become exactly these (one plan; a connector still
        named by an integration workflow is not deleted)."""
        self._replace_all(Kind.CONNECTOR, connectors)

    def list_auth_profiles(self) -> list[specs.AuthProfile]:
        return list(self._cache.current.all(Kind.AUTH_PROFILE))

    def get_auth_profile(self, profile_id: str) -> specs.AuthProfile | None:
        return self._cache.current.model(Kind.AUTH_PROFILE, profile_id)  # type: ignore[no-any-return]

    def update_auth_profile(self, profile_id: str,
                            profile: specs.AuthProfile | Mapping[str, Any], *,
                            expected_version: str | None = None) -> None:
        self._writer.update(Kind.AUTH_PROFILE, profile_id, profile, expected_version)

    def update_auth_profiles(self, profiles: Iterable[specs.AuthProfile
                                                      | Mapping[str, Any]]) -> None:
        """Upstream's: the auth profiles become exactly these (one plan)."""
        self._replace_all(Kind.AUTH_PROFILE, profiles)

    def list_security_policies(self) -> list[specs.SecurityPolicy]:
        return list(self._cache.current.all(Kind.SECURITY_POLICY))

    def get_security_policy(self, policy_id: str) -> specs.SecurityPolicy | None:
        return self._cache.current.model(Kind.SECURITY_POLICY, policy_id)  # type: ignore[no-any-return]

    def update_security_policy(self, policy_id: str,
                               policy: specs.SecurityPolicy | Mapping[str, Any], *,
                               expected_version: str | None = None) -> None:
        self._writer.update(Kind.SECURITY_POLICY, policy_id, policy, expected_version)

    def list_integration_workflows(self) -> list[specs.IntegrationWorkflow]:
        return list(self._cache.current.all(Kind.INTEGRATION_WORKFLOW))

    def get_integration_workflow(self, workflow_id: str) -> specs.IntegrationWorkflow | None:
        return self._cache.current.model(Kind.INTEGRATION_WORKFLOW, workflow_id)  # type: ignore[no-any-return]

    def update_integration_workflow(self, workflow_id: str,
                                    workflow: specs.IntegrationWorkflow | Mapping[str, Any], *,
                                    expected_version: str | None = None) -> None:
        """Upstream's `update_workflow` of the integration manager."""
        self._writer.update(Kind.INTEGRATION_WORKFLOW, workflow_id, workflow, expected_version)

    def get_integration_config(self) -> specs.IntegrationConfig | None:
        """`integration/system_config.json` (upstream's integration `get_system_config`)."""
        return self._cache.current.model(Kind.INTEGRATION_CONFIG, kinds.SINGLETON_NAME)  # type: ignore[no-any-return]

    def update_integration_config(self, config: specs.IntegrationConfig | Mapping[str, Any],
                                  *, expected_version: str | None = None) -> None:
        self.put_document(Kind.INTEGRATION_CONFIG, config, expected_version=expected_version)


class _LazyStore:
    """The manager's store, opened on first use, as upstream touches nothing before
    `load_all()`. Its own object, so that the parts that call it hold no reference back to
    the manager (a cycle would keep a dropped manager following: snapshots are frozen out
    of the cyclic collector's sight)."""

    def __init__(self, given: object, lock_timeout: float) -> None:
        self._opened: store_.Store | None = None
        self._lock_timeout = lock_timeout  # the file store's, when this opens one
        if isinstance(given, str | os.PathLike):
            self.location = os.fspath(given)
        elif _is_store(given):
            self._opened = given
            self.location = given.location
        else:
            raise TypeError(f"RegistryManager takes {_ACCEPTED} as its store, not "
                            f"{type(given).__name__}")

    def __call__(self) -> store_.Store:
        if self._opened is None:
            self._opened = store_.open_store(self.location, lock_timeout=self._lock_timeout)
        return self._opened


def _is_store(value: object) -> TypeGuard[store_.Store]:
    """Does `value` look like a `Store` (the protocol is not runtime-checkable)?"""
    return all(callable(getattr(value, name, None)) for name in
               ("snapshot", "commit", "catch_up", "follow")) and isinstance(
        getattr(value, "location", None), str)


def _document_entry(document: Entry) -> Entry:
    """A one-document kind's entry: the document without what the store stamps
    (`last_updated`) or the API adds (`resource_version`)."""
    return {k: v for k, v in document.items() if k not in ("last_updated", "resource_version")}


def _as_written(item: EntryChange) -> EntryChange:
    if item.entry is None or not kinds.is_singleton(item.kind):
        return item
    return dataclasses.replace(item, entry=_document_entry(item.entry))
