"""PostgreSQL snapshots that decode or fetch an entry only when it is asked for (issue 26).

`snapshot(lazy=True)` holds each entry's JSON text and decodes it when first asked for (a
long-lived reader: the library); `snapshot(lazy=True, unread=True)` reads the names alone
and fetches entries as of its revision when first asked for, in one query for many (a
plan). Either promises exactly what a full read does, fingerprint included; entries
fetched after the store moved on are still the snapshot's revision's, and a commit from it
is refused as stale. Catching up with a revision, and a process's own commit, touch the
change alone: every other entry stays as it was held."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from reconciler import RegistryManager, engine
from reconciler.errors import StalePlan, StoreError
from reconciler.model.kinds import Kind
from reconciler.model.live import LiveState
from reconciler.model.resource import ResourceKey
from reconciler.store import ChangeSet, pgstore
from reconciler.store.history import default_info
from reconciler.store.pgrows import UNREAD, Rows
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_MANIFESTS, FIXTURE_REGISTRIES, FULL_REGISTRIES, copy_tree
from tests.test_replan import same_plan, settle
from tests.test_revalidate import replace_in

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
SEVERITY = ResourceKey(Kind.AGENT, "severity_agent")
RULES = ResourceKey(Kind.TOOL, "fraud_rules")
FIRST_FLOW = ResourceKey(Kind.WORKFLOW, "aaa_first_by_name")
TRIAGE = ResourceKey(Kind.WORKFLOW, "claims_triage")
MODES = {"held": {"lazy": True}, "unread": {"lazy": True, "unread": True}}

Fresh = Callable[[], pgstore.PostgresStore]


@pytest.fixture
def fresh(pg_url: str) -> Iterator[Fresh]:
    """Another handle on the database each call (a new process would hold one), so each
    read is the store's own and no handle's cached snapshot answers it. The database holds
    the full example registries, then a revision that adds a workflow whose file name
    sorts first, deletes an agent and updates another."""
    opened: list[pgstore.PostgresStore] = []

    def handle() -> pgstore.PostgresStore:
        opened.append(pgstore.PostgresStore(pg_url))
        return opened[-1]

    store = handle()
    store.import_state(read_live_state(FULL_REGISTRIES), {}, [], default_info("import"))
    full = store.snapshot()
    flow = next(iter(full.state.of_kind(Kind.WORKFLOW).values())).entry
    fraud = full.state.get(FRAUD)
    assert fraud is not None
    commit(store, {FIRST_FLOW: {**flow, "workflow_id": FIRST_FLOW.name}, SEVERITY: None,
                   FRAUD: {**fraud.entry, "description": "updated"}})
    yield handle
    for each in opened:
        each.close()


def commit(store: pgstore.PostgresStore, changes: ChangeSet) -> None:
    store.commit(changes, expected=store.snapshot(lazy=True, unread=True).fingerprint,
                 info=default_info("test"))


def everything(live: LiveState) -> dict[str, Any]:
    """All a reader is promised, in order."""
    return {
        "state": {kind.value: [(name, r.entry, r.source.file if r.source else None)
                               for name, r in live.state.of_kind(kind).items()]
                  for kind in Kind},
        "headers": {kind.value: header for kind, header in live.headers.items()},
        "unkeyed": live.unkeyed, "diagnostics": [str(d) for d in live.diagnostics],
        "fingerprint": live.fingerprint, "kept": sorted(k.value for k in live.kinds_kept()),
    }


def rows(live: LiveState, kind: Kind) -> Rows:
    found = live.state.of_kind(kind)
    assert isinstance(found, Rows)
    return found


@pytest.mark.parametrize("mode", MODES)
def test_a_lazy_snapshot_promises_what_a_full_read_does(fresh: Fresh, mode: str) -> None:
    lazy = fresh().snapshot(**MODES[mode])
    agents = rows(lazy, Kind.AGENT)
    assert agents.undecoded() == len(agents) > 0
    assert (agents.unread() == len(agents)) is (mode == "unread")
    assert everything(lazy) == everything(fresh().snapshot())
    assert list(lazy.state.of_kind(Kind.WORKFLOW))[0] == FIRST_FLOW.name


def test_a_held_entry_is_decoded_when_first_asked_for(fresh: Fresh) -> None:
    agents = rows(fresh().snapshot(lazy=True), Kind.AGENT)
    assert agents[FRAUD.name].entry["description"] == "updated"
    assert agents.undecoded() == len(agents) - 1
    assert agents[FRAUD.name] is agents[FRAUD.name]


def test_an_unread_snapshot_fetches_what_a_plan_names_in_one_go(fresh: Fresh) -> None:
    live = fresh().snapshot(lazy=True, unread=True)
    agents, tools = rows(live, Kind.AGENT), rows(live, Kind.TOOL)
    live.state.prefetch([FRAUD, RULES, ResourceKey(Kind.AGENT, "no_such_agent")])
    assert agents.unread() == len(agents) - 1 and tools.unread() == len(tools) - 1
    full = fresh().snapshot()
    assert live.state.get(FRAUD) == full.state.get(FRAUD)
    assert agents.unread() == len(agents) - 1  # fetched once, decoded now
    assert SEVERITY not in live.state and live.state.get(SEVERITY) is None


def test_entries_fetched_after_the_store_moved_on_are_the_snapshot_s(fresh: Fresh) -> None:
    store = fresh()
    live = store.snapshot(lazy=True, unread=True)
    before = fresh().snapshot()
    writer = fresh()
    rules = before.state.get(RULES)
    assert rules is not None
    commit(writer, {FRAUD: None, RULES: {**rules.entry, "description": "moved on"}})
    commit(writer, {RULES: {**rules.entry, "description": "and on"},
                    FRAUD: {**rules.entry, "description": "back, as something else"}})
    intake = ResourceKey(Kind.AGENT, "intake_agent")
    live.state.prefetch([FRAUD, RULES, intake])
    for key in (FRAUD, RULES, intake):
        assert live.state.get(key) == before.state.get(key)
    with pytest.raises(StalePlan):
        store.commit({intake: None}, expected=live.fingerprint, info=default_info("test"))


def test_a_snapshot_of_a_history_the_store_lost_is_read_again(fresh: Fresh,
                                                              pg_url: str) -> None:
    """A failover to a replica that lost a revision, which then committed another under
    the same number: the entries of the snapshot's revision cannot be told any more."""
    live = fresh().snapshot(lazy=True, unread=True)
    number = int(live.fingerprint.split(":")[1])
    commit(fresh(), {SEVERITY: {**read_live_state(FIXTURE_REGISTRIES).state.get(SEVERITY)
                                .entry}})  # type: ignore[union-attr]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM meshctl.revisions WHERE revision = %s", (number + 1,))
        conn.execute("UPDATE meshctl.head SET revision = %s, commit_id = 'other'", (number,))
    commit(fresh(), {SEVERITY: None})
    with pytest.raises(StoreError, match="no longer has the revision"):
        live.state.get(FRAUD)


def test_catching_up_and_a_commit_of_its_own_touch_the_change_alone(fresh: Fresh) -> None:
    store = fresh()
    live = store.snapshot(lazy=True)
    revision = store.head()
    agents = len(live.state.of_kind(Kind.AGENT))
    intake = ResourceKey(Kind.AGENT, "intake_agent")
    flow = live.state.get(FIRST_FLOW)
    assert flow is not None
    later = ResourceKey(Kind.WORKFLOW, "a_second_by_name")
    changes: ChangeSet = {intake: None, later: {**flow.entry, "workflow_id": later.name}}
    commit(fresh(), changes)
    caught = store.catch_up(live, revision)
    assert caught.changed == list(changes) and caught.revision == revision + 1
    assert rows(caught.live, Kind.AGENT).undecoded() == agents - 1
    assert everything(caught.live) == everything(fresh().snapshot())
    own = store.snapshot(lazy=True)
    fraud = own.state.get(FRAUD)
    assert fraud is not None
    mine: ChangeSet = {FRAUD: {**fraud.entry, "description": "mine"}}
    done = store.commit(mine, expected=own.fingerprint, info=default_info("test"))
    after = store.after_commit(own, mine, done)
    assert after.changed == [FRAUD] and after.revision == done.number
    assert rows(after.live, Kind.AGENT).undecoded() == agents - 2
    assert everything(after.live) == everything(fresh().snapshot())


def test_a_manager_serves_a_cold_load_without_decoding_it(fresh: Fresh, pg_url: str) -> None:
    manager = RegistryManager(store=fresh(), watch=False)
    manager.load_all()
    agent = manager.get_agent(FRAUD.name)
    assert agent is not None and agent.description == "updated"
    agents = rows(manager._cache.current.live, Kind.AGENT)  # noqa: SLF001
    assert agents.undecoded() == len(agents) - 1


@pytest.fixture
def mesh_on_pg(tmp_path: Path, pg_url: str) -> Iterator[tuple[Path, Fresh]]:
    """The example manifests (settled), and the example registries imported."""
    manifests = copy_tree(FIXTURE_MANIFESTS, tmp_path / "manifests")
    for path in manifests.rglob("*.yaml"):
        settle(path)
    opened: list[pgstore.PostgresStore] = []

    def handle() -> pgstore.PostgresStore:
        opened.append(pgstore.PostgresStore(pg_url))
        return opened[-1]

    handle().import_state(read_live_state(FIXTURE_REGISTRIES), {}, [],
                          default_info("import"))
    yield manifests, handle
    for each in opened:
        each.close()
    shutil.rmtree(manifests)


def test_a_plan_of_an_edit_reads_the_entries_of_its_keys_alone(
        mesh_on_pg: tuple[Path, Fresh]) -> None:
    """The replan path on the database: the plan equals a plan from scratch, and its live
    state has fetched the edited agent's entry and what the rules read for it (the
    workflow that runs it and that workflow's agents, for breaking changes), no other."""
    manifests, fresh = mesh_on_pg
    same_plan(manifests, fresh())  # type: ignore[arg-type]
    first = same_plan(manifests, fresh())  # type: ignore[arg-type]
    assert first.basis is not None and first.basis.keys == frozenset()
    replace_in("agents/fraud_agent.yaml", "max_iterations: 5", "max_iterations: 7")(manifests)
    result = engine.make_plan([manifests], fresh(), jobs=1)
    assert result.basis is not None and result.basis.keys == frozenset({FRAUD})
    fetched = {kind: {name for name, raw in rows(result.live, kind).raw_items()
                      if raw is not UNREAD} for kind in Kind}
    flow = read_live_state(FIXTURE_REGISTRIES).state.get(TRIAGE)
    assert flow is not None
    assert fetched[Kind.WORKFLOW] == {TRIAGE.name}
    assert fetched[Kind.AGENT] == {step["agent_id"] for step in flow.entry["steps"]} \
        | {FRAUD.name}
    assert not any(fetched[kind] for kind in Kind if kind not in (Kind.AGENT, Kind.WORKFLOW))
    assert result.plan is not None
    assert [str(c.key) for c in result.plan.changes] == ["agent/fraud_agent"]
    same_plan(manifests, fresh())  # type: ignore[arg-type]
    revision = engine.apply_plan(result.plan, fresh(), planned=result)
    assert revision is not None
    after = same_plan(manifests, fresh())  # type: ignore[arg-type]
    assert after.plan is not None and after.plan.changes == ()


def test_writes_through_the_database_are_planned_from_their_own_keys(
        mesh_on_pg: tuple[Path, Fresh]) -> None:
    """Another writer's commits (the API, a library, a controller) after the last sync:
    the next plan looks at the keys their revisions changed, and means what a plan from
    scratch means."""
    manifests, fresh = mesh_on_pg
    first = same_plan(manifests, fresh())  # type: ignore[arg-type]
    assert first.plan is not None
    engine.apply_plan(first.plan, fresh(), planned=first, max_deletes=-1)
    same_plan(manifests, fresh())  # type: ignore[arg-type]
    writer = fresh()
    for description in ("one write", "and another"):
        live = writer.snapshot()
        fraud = live.state.get(FRAUD)
        assert fraud is not None
        writer.commit({FRAUD: {**fraud.entry, "description": description}},
                      expected=live.fingerprint, info=default_info("api"))
    result = same_plan(manifests, fresh())  # type: ignore[arg-type]
    assert result.basis is not None and result.basis.keys == frozenset({FRAUD})
    assert result.plan is not None
    assert [str(c.key) for c in result.plan.actionable] == ["agent/fraud_agent"]
