"""The store contract (`reconciler.store.base.Store`): the same tests for every store, seeded
with the real AgentMesh registries. Atomic commits, a stale commit that writes nothing and
names the revision that moved the store on, history and audit, a change feed in order with
no revision missed or repeated, unknown keys, `_comment`s, headers and unkeyed entries kept,
and the metadata area."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StalePlan
from reconciler.model.kinds import Kind
from reconciler.model.resource import ResourceKey
from reconciler.store.filestore import FileStore, default_info
from reconciler.store.memorystore import MemoryStore
from reconciler.store.registry_files import read_live_state
from tests.conftest import FIXTURE_REGISTRIES, copy_tree

FRAUD = ResourceKey(Kind.AGENT, "fraud_agent")
NEW_TOOL = ResourceKey(Kind.TOOL, "contract_tool")
OPUS = ResourceKey(Kind.MODEL_PROFILE, "claude_opus_3")


def file_store(tmp_path: Path) -> Any:
    return FileStore(copy_tree(FIXTURE_REGISTRIES, tmp_path / "registries"))


def memory_store(tmp_path: Path) -> Any:
    return MemoryStore(read_live_state(FIXTURE_REGISTRIES))


def postgres_store(tmp_path: Path) -> Any:
    return None  # made by the fixture below, which needs the session's server


@pytest.fixture(params=[file_store, memory_store, postgres_store],
                ids=["file", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    make: Callable[[Path], Any] = request.param
    if make is postgres_store:
        return request.getfixturevalue("pg_store")
    return make(tmp_path)


def tool_entry(name: str, note: str = "") -> dict[str, Any]:
    return {"tool_id": name, "name": name, "description": f"contract {note}",
            "endpoint": f"/invoke/{name}", "input_schema": {"type": "object"},
            "output_schema": {"type": "object"}, "lineage_tags": [], "x_future": {"k": 1}}


def commit(store: Any, changes: dict[ResourceKey, Any], expected: str | None = None,
           source: str = "test") -> Any:
    return store.commit(changes, expected=expected or store.snapshot().fingerprint,
                        info=default_info(source))


def test_a_commit_is_one_revision_holding_every_change(store: Any) -> None:
    base = store.head()  # a database store's import is a revision of its own
    before = store.snapshot()
    fraud = dict(before.state.get(FRAUD).entry, description="changed", _note="kept")
    revision = commit(store, {FRAUD: fraud, NEW_TOOL: tool_entry("contract_tool"), OPUS: None})
    after = store.snapshot()
    assert after.fingerprint != before.fingerprint
    assert revision.number == base + 1 and revision.fingerprint_after == after.fingerprint
    assert after.state.get(FRAUD).entry == fraud  # unknown and `_` keys kept, in order
    assert list(after.state.get(FRAUD).entry) == list(fraud)
    assert after.state.get(NEW_TOOL).entry == tool_entry("contract_tool")
    assert OPUS not in after.state
    agents = list(after.state.of_kind(Kind.AGENT))
    assert agents == list(before.state.of_kind(Kind.AGENT))  # an update keeps its place
    assert list(after.state.of_kind(Kind.TOOL))[-1] == "contract_tool"  # a create is last
    def without_time(headers: dict[Kind, dict[str, Any]]) -> dict[Kind, dict[str, Any]]:
        return {kind: {k: v for k, v in header.items() if k != "last_updated"}
                for kind, header in headers.items()}

    assert without_time(after.headers) == without_time(before.headers)  # version, _comment
    assert list(after.headers[Kind.AGENT]) == list(before.headers[Kind.AGENT])
    assert after.headers[Kind.AGENT]["last_updated"] != before.headers[Kind.AGENT][
        "last_updated"]  # refreshed, as the runtime's own save does
    assert after.headers[Kind.GOVERNANCE_POLICY] == before.headers[Kind.GOVERNANCE_POLICY]
    assert after.unkeyed == before.unkeyed
    record = store.revision(base + 1)
    assert {(c["kind"], c["name"], c["action"]) for c in record["changes"]} == {
        ("Agent", "fraud_agent", "update"), ("Tool", "contract_tool", "create"),
        ("ModelProfile", "claude_opus_3", "delete")}
    assert record["fingerprint_before"] == before.fingerprint
    assert store.revisions()[-1] == base + 1 and store.head() == base + 1


def test_the_caller_keeps_its_objects(store: Any) -> None:
    entry = tool_entry("contract_tool")
    commit(store, {NEW_TOOL: entry})
    entry["description"] = "edited after the commit"
    assert store.snapshot().state.get(NEW_TOOL).entry["description"] == "contract "


def test_a_stale_commit_writes_nothing_and_names_the_revision(store: Any) -> None:
    base = store.head()
    start = store.snapshot().fingerprint
    commit(store, {NEW_TOOL: tool_entry("contract_tool")}, source="first-writer")
    moved = store.snapshot()

    def detail(live: Any, since: list[dict[str, Any]]) -> str:
        return "; ".join(f"revision {r['revision']} by {r['source']}" for r in since)

    with pytest.raises(StalePlan, match=f"revision {base + 1} by first-writer"):
        store.commit({NEW_TOOL: tool_entry("contract_tool", "second")}, expected=start,
                     info=default_info("second-writer"), stale_detail=detail)
    assert store.snapshot().fingerprint == moved.fingerprint
    assert store.snapshot().state.get(NEW_TOOL).entry == tool_entry("contract_tool")
    assert store.head() == base + 1


def test_history_and_audit(store: Any) -> None:
    base, audited = store.head(), len(store.audit_log())
    commit(store, {NEW_TOOL: tool_entry("contract_tool")}, source="cli")
    commit(store, {NEW_TOOL: None}, source="api")
    store.audit({"source": "library", "action": "change", "result": "refused",
                 "reason": "in use"})
    assert store.revisions()[-2:] == [base + 1, base + 2]
    assert [store.revision(base + n)["source"] for n in (1, 2)] == ["cli", "api"]
    assert store.revision(base + 2)["changes"][0]["before"] == tool_entry("contract_tool")
    log = store.audit_log()[audited:]
    assert [(line["action"], line["result"]) for line in log] == [
        ("commit", "ok"), ("commit", "ok"), ("change", "refused")]
    assert [line.get("revision") for line in log[:2]] == [base + 1, base + 2]
    assert all(line["time"] for line in log)


def test_the_feed_gives_every_revision_once_in_order(store: Any) -> None:
    base = store.head()
    assert store.revisions_after(base) == []
    started = time.monotonic()
    assert store.revisions_after(base, wait=0.2) == []  # waited, then nothing
    assert time.monotonic() - started >= 0.15
    seen: list[int] = []

    def follow() -> None:
        last = base
        while last < base + 6:
            for record in store.revisions_after(last, wait=2.0):
                seen.append(record["revision"])
                last = record["revision"]

    reader = threading.Thread(target=follow)
    reader.start()
    for number in range(6):
        commit(store, {NEW_TOOL: tool_entry("contract_tool", str(number))})
    reader.join(timeout=30)
    assert seen == [base + n for n in range(1, 7)]
    assert [r["revision"] for r in store.revisions_after(base + 4)] == [base + 5, base + 6]


def test_the_metadata_area(store: Any) -> None:
    assert store.get_meta("watch-status") is None
    store.put_meta("watch-status", {"result": "ok", "count": 3})
    store.put_meta("watch-status", {"result": "failed", "count": 4})
    assert store.get_meta("watch-status") == {"result": "failed", "count": 4}
    assert store.snapshot().state.get(NEW_TOOL) is None  # not part of the registries
