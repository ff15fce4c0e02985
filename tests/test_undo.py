"""Restore and revert (issue 27, "history that is safe"), through the engine on a real store:
a restore returns to the state right after a revision (0: before the first), a revert undoes
one revision alone and is refused, naming the resource and the later revision, when a later
revision changed what it changed. Both are plans checked by the same rules as any write, and
the revision each commits records what it undid, on the file store and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import engine
from reconciler.engine import RevertConflict
from reconciler.errors import PlanRefused, StalePlan
from reconciler.model.kinds import Kind
from reconciler.model.resource import Resource, ResourceKey
from reconciler.store import FileStore, Store, default_info
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_REGISTRIES, copy_tree

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
SEVERITY = ResourceKey(Kind.AGENT, "severity_agent")
NEW_TOOL = ResourceKey(Kind.TOOL, "undo_tool")
OPUS = ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3")
NEW_PROFILE = ResourceKey(Kind.MODEL_PROFILE, "undo_profile")


def tool_entry(name: str) -> dict[str, Any]:
    return {"tool_id": name, "name": name, "description": "made to be undone",
            "endpoint": f"/invoke/{name}", "input_schema": {"type": "object"},
            "output_schema": {"type": "object"}, "lineage_tags": []}


OPENED: dict[int, Callable[[], Store]] = {}  # a store's id -> how to open it anew


@pytest.fixture(params=["file", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The example registries, on a file store (no revision yet) or imported into
    PostgreSQL (revision 1, the import)."""
    if request.param == "postgres":
        from reconciler.store import pgstore

        url: str = request.getfixturevalue("pg_url")
        made = pgstore.PostgresStore(url)
        made.import_state(read_live_state(FIXTURE_REGISTRIES), {}, [],
                          default_info("import"))
        OPENED[id(made)] = lambda: pgstore.PostgresStore(url)
        yield made
        made.close()
    else:
        root = copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries")
        found = FileStore(root)
        OPENED[id(found)] = lambda: FileStore(root)
        yield found
    OPENED.pop(id(made if request.param == "postgres" else found), None)


def edit(store: Store, change: Callable[[Any], None]) -> int:
    """One revision, planned and committed by the engine as any write is."""
    live = store.snapshot()
    target = live.state.copy()
    change(target)
    planned = engine.plan_scope(target, live)
    assert planned.plan is not None and not planned.plan.refusals, planned.diagnostics
    done = engine.apply_plan(planned.plan, store, source="test")
    assert done is not None
    return done.number


def updated(key: ResourceKey, **fields: Any) -> Callable[[Any], None]:
    def run(state: Any) -> None:
        found = state.get(key)
        state.add(Resource(key, {**found.entry, **fields}, found.source))
    return run


def created(key: ResourceKey, entry: dict[str, Any]) -> Callable[[Any], None]:
    return lambda state: state.add(Resource(key, entry, None))


def deleted(key: ResourceKey) -> Callable[[Any], None]:
    return lambda state: state.discard(key)


def entry(store: Store, key: ResourceKey) -> dict[str, Any] | None:
    found = store.snapshot().state.get(key)
    return found.entry if found is not None else None


def four(store: Store) -> list[int]:
    """Four revisions: 1 edits fraud_agent, 2 creates a tool, 3 edits severity_agent,
    4 deletes an unused profile. Their numbers (a PostgreSQL store starts after its
    import)."""
    return [edit(store, updated(FRAUD, description="edited in r1")),
            edit(store, created(NEW_TOOL, tool_entry(NEW_TOOL.name))),
            edit(store, updated(SEVERITY, max_iterations=9)),
            edit(store, deleted(OPUS))]


def commit(store: Store, result: engine.PlanResult) -> int:
    assert result.plan is not None, result.diagnostics
    done = engine.apply_plan(result.plan, store, source="test", max_deletes=-1,
                             note=engine.undo_note(result.plan))
    assert done is not None
    return done.number


def test_a_revert_undoes_one_revision_among_four(store: Store) -> None:
    _, r2, r3, r4 = four(store)
    fraud, severity = entry(store, FRAUD), entry(store, SEVERITY)
    result = engine.revert_plan(store, r2)
    assert result.plan is not None
    assert [(c.key, c.action.value) for c in result.plan.actionable] == [(NEW_TOOL, "delete")]
    reverted = commit(store, result)
    assert entry(store, NEW_TOOL) is None  # r2's change undone
    assert entry(store, FRAUD) == fraud and entry(store, SEVERITY) == severity  # r1, r3 kept
    assert entry(store, OPUS) is None  # r4 kept
    # Reverting a delete brings the entry back as it was.
    commit(store, engine.revert_plan(store, r4))
    assert entry(store, OPUS) == original(OPUS)
    # Reverting an update puts the field back, and only it.
    commit(store, engine.revert_plan(store, r3))
    assert entry(store, SEVERITY) == original(SEVERITY)
    assert entry(store, FRAUD) == fraud
    # The revision says what it undid, read back by a store opened anew.
    record = reread(store, reverted)
    assert record["undo"] == {"action": "revert", "revision": r2}
    assert record["note"] == f"revert of revision {r2}"
    assert "undo" not in reread(store, r2)


def test_a_revert_is_refused_when_a_later_revision_changed_the_same_resource(
        store: Store) -> None:
    r1, _, _, _ = four(store)
    r5 = edit(store, updated(FRAUD, description="edited again in r5"))
    head = store.head()
    with pytest.raises(RevertConflict) as refused:
        engine.revert_plan(store, r1)
    message = str(refused.value)
    assert f"revision {r1} cannot be reverted alone" in message
    assert f"Agent fraud_agent was changed again in revision {r5}" in message
    assert refused.value.conflicts == [{"kind": "Agent", "name": "fraud_agent",
                                        "revision": r5}]
    assert store.head() == head  # nothing written
    # Once the later revision is reverted, the earlier one can be.
    commit(store, engine.revert_plan(store, r5))
    commit(store, engine.revert_plan(store, r1))
    assert entry(store, FRAUD) == original(FRAUD)


def test_a_revert_keeps_the_rules_of_any_write(store: Store) -> None:
    """Undoing the create of a profile that a later revision put to use leaves a reference
    to nothing: no plan, and nothing written."""
    profile = {"profile_id": NEW_PROFILE.name, "name": "Undo", "provider": "openai",
               "model_name": "gpt-4o-mini", "description": "d", "intended_usage": "u"}
    made = edit(store, created(NEW_PROFILE, profile))
    edit(store, updated(SEVERITY, model_profile_id=NEW_PROFILE.name))
    head = store.head()
    result = engine.revert_plan(store, made)
    assert result.plan is None
    assert any(NEW_PROFILE.name in d.message for d in result.errors), result.diagnostics
    assert store.head() == head


def test_a_revert_plan_gone_stale_writes_nothing(store: Store) -> None:
    _, r2, _, _ = four(store)
    result = engine.revert_plan(store, r2)
    edit(store, updated(FRAUD, description="meanwhile"))
    head = store.head()
    assert result.plan is not None
    with pytest.raises(StalePlan):
        engine.apply_plan(result.plan, store, source="test", max_deletes=-1)
    assert store.head() == head


def test_restore_to_here_and_to_before_the_first(store: Store) -> None:
    r1, _, _, r4 = four(store)
    restored = commit(store, engine.restore_plan(store, r1))
    assert entry(store, NEW_TOOL) is None and entry(store, OPUS) is not None
    assert entry(store, FRAUD) is not None and \
        entry(store, FRAUD)["description"] == "edited in r1"  # type: ignore[index]
    record = reread(store, restored)
    assert record["undo"] == {"action": "restore", "revision": r1}
    assert record["note"] == f"restore to revision {r1}"
    # A restore is a revision like any other: restoring to r4 brings r2..r4 back.
    commit(store, engine.restore_plan(store, r4))
    assert entry(store, NEW_TOOL) == tool_entry(NEW_TOOL.name) and entry(store, OPUS) is None


def test_restore_to_revision_zero(tmp_path: Path) -> None:
    """Revision 0 is the state before the first revision: each resource's `before`."""
    store = FileStore(copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries"))
    with pytest.raises(Exception, match="no revision 0"):
        engine.restore_plan(store, 0)  # no history yet: nothing to go back to
    original = {r.key: r.entry for r in store.snapshot().state}
    four(store)
    restored = commit(store, engine.restore_plan(store, 0))
    assert {r.key: r.entry for r in store.snapshot().state} == original
    assert store.revision(restored)["undo"] == {"action": "restore", "revision": 0}
    with pytest.raises(Exception, match="no revision 0"):
        engine.revert_plan(store, 0)


def original(key: ResourceKey) -> dict[str, Any] | None:
    """`key`'s entry in the example registries."""
    found = read_live_state(FIXTURE_REGISTRIES).state.get(key)
    return found.entry if found is not None else None


def reread(store: Store, number: int) -> dict[str, Any]:
    """Revision `number`'s record as the same store opened again reads it (what a reload,
    or another process, sees)."""
    again = OPENED[id(store)]()
    try:
        return again.revision(number)
    finally:
        close = getattr(again, "close", None)
        if close is not None:
            close()


FRAUD_RULES = ResourceKey(Kind.TOOL, "fraud_rules")


def looser_input(state: Any) -> None:
    """fraud_rules no longer requires claim_data: its undo makes the input stricter again,
    which breaks its callers (B001)."""
    found = state.get(FRAUD_RULES)
    schema = {**found.entry["input_schema"], "required": []}
    state.add(Resource(FRAUD_RULES, {**found.entry, "input_schema": schema}, found.source))


@pytest.mark.parametrize("action", ["revert", "restore"])
def test_an_undo_is_judged_by_deny_breaking_as_any_write(store: Store, action: str) -> None:
    """With deny_breaking (the server's --deny-breaking, the environment's setting) an undo
    that breaks callers is refused as an apply of the same change would be; without it the
    break is a warning and the undo goes through."""
    loosened = edit(store, looser_input)
    target = loosened if action == "revert" else loosened - 1
    undo = engine.revert_plan if action == "revert" else engine.restore_plan
    denied = undo(store, target, deny_breaking=True)
    assert denied.plan is not None
    assert [c.key for c in denied.plan.refusals] == [FRAUD_RULES]
    assert any(d.code == "B001" for d in denied.diagnostics)
    head = store.head()
    with pytest.raises(PlanRefused):
        engine.apply_plan(denied.plan, store, source="test", max_deletes=-1)
    assert store.head() == head
    allowed = undo(store, target)
    assert allowed.plan is not None and not allowed.plan.refusals
    assert any(d.code == "B001" for d in allowed.diagnostics)
    commit(store, allowed)
    assert entry(store, FRAUD_RULES) == original(FRAUD_RULES)
