"""The engine, the planner, the library and the API over the memory store: the core runs
with no registry files at all, which is what makes the fast tier (`-m "not slow"`) fast, and
proves that nothing above `store/` needs files. Seeded with the real AgentMesh registries."""

from __future__ import annotations

import asyncio
import copy
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import (
    BreakingChange,
    ChangeRejected,
    RegistryManager,
    ResourceInUse,
    ResourceNotFound,
    engine,
)
from reconciler.api.app import create_app
from reconciler.errors import PlanRefused, StalePlan
from reconciler.manifests import export
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.plan.model import Action
from reconciler.store import MemoryStore, read_live_state
from tests.conftest import FIXTURE_REGISTRIES, agent, write

FRAUD_RULES = ResourceKey(Kind.TOOL, "fraud_rules")


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(read_live_state(FIXTURE_REGISTRIES))


def entry(store: MemoryStore, key: ResourceKey) -> dict[str, Any]:
    resource = store.snapshot().state.get(key)
    assert resource is not None
    return copy.deepcopy(resource.entry)


def exported(store: MemoryStore, tmp_path: Path) -> Path:
    """The store's live state as manifests, through `meshctl export`'s own writer."""
    folder = tmp_path / "manifests"
    export.export_resources(store.snapshot().state, folder)
    return folder


# --- engine: plan, apply, stale, rollback ---------------------------------------------------


def test_plan_and_apply_run_on_a_store_with_no_files(store: MemoryStore,
                                                     tmp_path: Path) -> None:
    manifests = exported(store, tmp_path)
    in_sync = engine.make_plan([manifests], store)
    assert in_sync.errors == [] and in_sync.plan is not None
    assert not in_sync.plan.actionable
    write(manifests / "extra.yaml", agent("memory_agent"))
    planned = engine.make_plan([manifests], store)
    assert planned.plan is not None
    assert [(str(c.key), c.action) for c in planned.plan.actionable] == [
        ("agent/memory_agent", Action.CREATE)]
    revision = engine.apply_plan(planned.plan, store, planned=planned)
    assert revision is not None and store.head() == revision.number
    assert ResourceKey(Kind.AGENT, "memory_agent") in store.snapshot().state
    with pytest.raises(StalePlan):  # the store moved on since that plan was made
        engine.apply_plan(planned.plan, store)
    write(manifests / "extra.yaml", agent("memory_agent", "max_iterations: 3\n"))
    again = engine.make_plan([manifests], store)
    assert again.plan is not None
    second = engine.apply_plan(again.plan, store, planned=again)
    assert second is not None
    back = engine.rollback_plan(store, revision.number)
    assert back.plan is not None
    assert [(str(c.key), c.action) for c in back.plan.actionable] == [
        ("agent/memory_agent", Action.UPDATE)]


def test_a_plan_deleting_what_is_used_is_refused_and_writes_nothing(store: MemoryStore,
                                                                    tmp_path: Path) -> None:
    manifests = exported(store, tmp_path)
    used = next(p for p in manifests.rglob("*.yaml") if "fraud_rules" in p.name)
    used.unlink()
    planned = engine.make_plan([manifests], store)
    assert planned.plan is not None and planned.plan.refusals
    with pytest.raises(PlanRefused, match="fraud_rules"):
        engine.apply_plan(planned.plan, store)
    assert store.head() == 0 and store.audit_log()[-1]["result"] == "refused"


# --- library: the upstream facade over a store ----------------------------------------------


def test_the_library_reads_and_writes_through_the_store(store: MemoryStore) -> None:
    manager = RegistryManager(store=store, watch=False)
    manager.load_all()
    assert manager.get_agent("fraud_agent") is not None
    stricter = entry(store, FRAUD_RULES)
    stricter["description"] = "changed through the library"
    manager.update_tool("fraud_rules", stricter)
    assert entry(store, FRAUD_RULES)["description"] == "changed through the library"
    with pytest.raises(ResourceInUse, match="used by"):
        manager.delete_tool("fraud_rules")
    assert FRAUD_RULES in store.snapshot().state
    assert store.audit_log()[-1]["result"] == "refused"


def test_each_reason_for_a_rejection_is_its_own_class(store: MemoryStore) -> None:
    """A caller tells why a write was refused by the class, as the REST API does."""
    manager = RegistryManager(store=store, watch=False)
    with pytest.raises(ResourceNotFound, match="not found"):
        manager.delete_tool("no_such_tool")
    with pytest.raises(ResourceInUse, match="used by"):
        manager.delete_tool("fraud_rules")
    with pytest.raises(ChangeRejected, match="orchestrator") as caught:
        manager.delete_agent("orchestrator_agent")
    assert not isinstance(caught.value, ResourceInUse | ResourceNotFound)
    strict = RegistryManager(store=store, watch=False, deny_breaking=True)
    narrowed = entry(store, FRAUD_RULES)
    narrowed["input_schema"] = {"type": "object", "required": ["brand_new_field"],
                                "properties": {"brand_new_field": {"type": "string"}}}
    with pytest.raises(BreakingChange) as breaking:
        strict.update_tool("fraud_rules", narrowed)
    assert {d.code for d in breaking.value.diagnostics} <= {"B001", "B002"}
    assert all(isinstance(error, ChangeRejected) for error in (
        ResourceNotFound("x"), ResourceInUse("x"), BreakingChange("x")))


def test_a_second_manager_of_the_store_follows_its_changes(store: MemoryStore) -> None:
    reader = RegistryManager(store=store, watch=True, poll_interval=0.05)
    reader.load_all()
    changed = threading.Event()
    reader.add_listener(lambda *_: changed.set())
    writer = RegistryManager(store=store, watch=False)
    writer.load_all()
    updated = {**entry(store, FRAUD_RULES), "description": "seen by the other manager"}
    writer.update_tool("fraud_rules", updated)
    assert changed.wait(5)
    tool = reader.get_tool("fraud_rules")
    assert tool is not None and tool.description == "seen by the other manager"


# --- API: the same rules over the same store --------------------------------------------------


@pytest.mark.parametrize("deny", [True, False])
def test_the_api_judges_a_breaking_write_as_a_plan(store: MemoryStore, deny: bool) -> None:
    manager = RegistryManager(store=store, watch=False, deny_breaking=deny)
    app = create_app(store.location, manager=manager, watch=False, deny_breaking=deny)
    stricter = entry(store, FRAUD_RULES)
    stricter["input_schema"] = {**stricter["input_schema"], "required": [
        *stricter["input_schema"].get("required", []), "rule_version"]}
    async def calls() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
            answer = await api.put("/registries/tools/fraud_rules", json=stricter)
            history = await api.get("/registries/history")
            return answer, history, await api.delete("/registries/tools/fraud_rules")

    answer, history, delete = asyncio.run(calls())
    if deny:
        assert answer.status_code == 409, answer.text
        assert answer.json()["codes"] == ["B001"]
        assert "fraud_agent" in answer.json()["detail"]
        assert store.head() == 0
    else:
        assert answer.status_code == 200, answer.text
        assert store.head() == 1 and history.json()["total_count"] == 1
    assert delete.status_code == 400 and "used by" in delete.json()["detail"]
